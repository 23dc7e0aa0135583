"""Every read of the 12 tables in the package's SQL carries FINAL, and the query layer adds it
to SQL that lacks it (both sides of a join, sub-queries, aliases)."""

from __future__ import annotations

import ast
import re
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from klaviyo_analytics.warehouse import Table, Warehouse, apply_final

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "klaviyo_analytics"
NAMES = "|".join(sorted((t.value for t in Table), key=len, reverse=True))
# FROM/JOIN <table> [AS alias | alias] FINAL  (any case; DELETE FROM is a write), and
# FROM/JOIN <{f-string expr} | {name:Identifier}> in upper-case SQL, whose table is only known
# at run time and so must carry FINAL too.
_ALIAS = (
    r"(?P<rest>(?:\s+AS\s+\w+|\s+(?!FINAL\b|WHERE\b|GROUP\b|ORDER\b|LIMIT\b|ON\b|USING\b|"
    r"INNER\b|LEFT\b|RIGHT\b|FULL\b|CROSS\b|JOIN\b|ANY\b|ALL\b|ARRAY\b|SETTINGS\b|UNION\b|"
    r"PREWHERE\b|HAVING\b|SAMPLE\b)\w+)?)(?P<final>\s+FINAL\b)?"
)
REFERENCE = re.compile(
    rf"(?<!DELETE )(?<!delete )\b(?:FROM|JOIN|from|join)\s+(?:[\w.]+\.)?(?P<table>(?:{NAMES})\b)"
    + _ALIAS,
    re.IGNORECASE,
)
PLACEHOLDER = re.compile(
    r"(?<!DELETE )\b(?:FROM|JOIN)\s+(?P<table>\{expr\}|\{(?!pages:|changes:)\w+:Identifier\})"
    + _ALIAS
)
# `{pages:Identifier}` and `{changes:Identifier}` are the two exceptions: the sync's scratch
# tables (ENGINE = Memory, which has no FINAL), never one of the 12 tables: the page-staging
# tables (sync/pages.py, `sync_pages_<hash>_<type>`) and the customer-context changes
# (sync/events.py, `sync_context_<hash>`); test_scratch_placeholders_are_only_scratch_tables
# keeps it that way.


def _strip_sql_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _python_strings(path: Path) -> list[tuple[int, str]]:
    """String constants and f-strings (placeholders kept as {…}) of one module."""
    tree = ast.parse(path.read_text())
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.append((node.lineno, node.value))
        elif isinstance(node, ast.JoinedStr):
            parts = [v.value if isinstance(v, ast.Constant) else "{expr}" for v in node.values]
            found.append((node.lineno, "".join(str(p) for p in parts)))
    return found


def _sql_sources() -> list[tuple[str, str]]:
    sources: list[tuple[str, str]] = []
    for path in PACKAGE.rglob("*.sql"):
        sources.append((str(path.relative_to(PACKAGE)), _strip_sql_comments(path.read_text())))
    for path in PACKAGE.rglob("*.py"):
        for line, text in _python_strings(path):
            if "klaviyo-analytics query" in text:
                continue  # CLI help showing that users need not write FINAL themselves
            sources.append((f"{path.relative_to(PACKAGE)}:{line}", text))
    return sources


def reads_without_final(sql: str) -> list[str]:
    missing = []
    for pattern in (REFERENCE, PLACEHOLDER):
        for match in pattern.finditer(sql):
            if not match.group("final"):
                missing.append(match.group(0).strip())
    return missing


def test_scanner_catches_missing_final() -> None:
    assert reads_without_final("SELECT * FROM klaviyo_orders WHERE 1") == ["FROM klaviyo_orders"]
    assert reads_without_final("SELECT * FROM klaviyo_orders AS o FINAL") == []
    assert reads_without_final(
        "SELECT 1 FROM klaviyo_orders o FINAL JOIN klaviyo_order_line_items li ON 1"
    ) == ["JOIN klaviyo_order_line_items li"]
    assert reads_without_final("DELETE FROM customer_profiles WHERE x") == []
    assert reads_without_final("SELECT 1 FROM {expr} WHERE x") == ["FROM {expr}"]
    assert reads_without_final("SELECT 1 FROM {t:Identifier} FINAL") == []
    assert reads_without_final("ORDER BY d WITH FILL FROM {date_from:Date} TO {d:Date}") == []
    assert reads_without_final("select * from klaviyo_orders") == ["from klaviyo_orders"]


def test_scratch_placeholders_are_only_scratch_tables() -> None:
    from klaviyo_analytics.sync.events import context_changes_table
    from klaviyo_analytics.sync.pages import ORDER_PAGES, PageStage

    for placeholder, allowed in (
        ("{pages:Identifier}", ("sync/sql/",)),
        ("{changes:Identifier}", ("sync/sql/", "sync/events.py")),
    ):
        users = [where for where, sql in _sql_sources() if placeholder in sql]
        assert users and all(where.startswith(allowed) for where in users), users
    spec = {t.value for t in Table}
    for parse in (None, ORDER_PAGES):  # names only, no I/O
        stage = PageStage(None, "K", "orders", tables=2, parse=parse)  # type: ignore[arg-type]
        assert all(t.startswith("sync_pages_") and t not in spec for t in stage.all_tables)
    changes = context_changes_table("K")
    assert changes.startswith("sync_context_") and changes not in spec


def test_package_sql_reads_all_use_final() -> None:
    offenders = [
        f"{where}: {ref}" for where, sql in _sql_sources() for ref in reads_without_final(sql)
    ]
    assert not offenders, "reads of the 12 tables without FINAL:\n" + "\n".join(offenders)


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT * FROM klaviyo_orders", "SELECT * FROM klaviyo_orders FINAL"),
        (
            "SELECT * FROM klaviyo_orders AS o JOIN klaviyo_order_line_items li ON o.order_id = li.order_id",
            "SELECT * FROM klaviyo_orders AS o FINAL JOIN klaviyo_order_line_items li FINAL ON o.order_id = li.order_id",
        ),
        (
            "SELECT x FROM (SELECT 1 AS x FROM customer_profiles WHERE a = 'FROM klaviyo_orders')",
            "SELECT x FROM (SELECT 1 AS x FROM customer_profiles FINAL WHERE a = 'FROM klaviyo_orders')",
        ),
        ("SELECT 1 FROM db.products_master FINAL", "SELECT 1 FROM db.products_master FINAL"),
        ("SELECT 1 FROM system.tables", "SELECT 1 FROM system.tables"),
        (
            "SELECT 1 FROM klaviyo_orders -- FROM customer_profiles\nWHERE 1",
            "SELECT 1 FROM klaviyo_orders FINAL -- FROM customer_profiles\nWHERE 1",
        ),
    ],
)
def test_apply_final_rewrites(sql: str, expected: str) -> None:
    assert apply_final(sql) == expected
    assert reads_without_final(_strip_sql_comments(expected).split("'")[0]) == []


def _two_versions_of_one_order(warehouse: Warehouse) -> None:
    """Order o1 written twice, unmerged: 10.00 at version 1, then 12.50 at version 2."""
    cols = ["klaviyo_public_id", "order_id", "order_value", "order_date", "inserted_at"]
    for value, version in ((Decimal("10.00"), 1), (Decimal("12.50"), 2)):
        warehouse.insert_rows(
            "klaviyo_orders",
            [["A", "o1", value, date(2026, 1, 1), datetime(2026, 1, 1, 0, 0, version)]],
            cols,
        )


def test_query_layer_deduplicates_unmerged_versions(warehouse: Warehouse) -> None:
    """A read written without FINAL still sees one row per key through the query layer."""
    _two_versions_of_one_order(warehouse)
    total = warehouse.scalar("SELECT sum(order_value) FROM klaviyo_orders")
    joined = warehouse.rows(
        "SELECT count() FROM klaviyo_orders AS a JOIN klaviyo_orders AS b ON a.order_id = b.order_id"
    )
    assert total == Decimal("12.50")
    assert joined == [(1,)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        # the target of a lightweight DELETE is a write: no FINAL (DELETE FROM t FINAL is invalid)
        (
            "DELETE FROM customer_profiles WHERE klaviyo_public_id = 'A'",
            "DELETE FROM customer_profiles WHERE klaviyo_public_id = 'A'",
        ),
        (
            "delete\n  -- stale rows\n  from db.products_master AS p WHERE 1",
            "delete\n  -- stale rows\n  from db.products_master AS p WHERE 1",
        ),
        # reads inside the DELETE's condition still get FINAL
        (
            "DELETE FROM customer_profiles WHERE customer_email IN "
            "(SELECT customer_email FROM klaviyo_orders)",
            "DELETE FROM customer_profiles WHERE customer_email IN "
            "(SELECT customer_email FROM klaviyo_orders FINAL)",
        ),
        # only FROM directly after DELETE is skipped
        (
            "SELECT 1 AS deleted FROM klaviyo_orders",
            "SELECT 1 AS deleted FROM klaviyo_orders FINAL",
        ),
    ],
)
def test_apply_final_skips_delete_target(sql: str, expected: str) -> None:
    assert apply_final(sql) == expected


def test_lightweight_delete_rows_stay_gone_through_final(warehouse: Warehouse) -> None:
    """Rows removed by a lightweight DELETE do not come back through FINAL reads, even when an
    older version of the same key sits in another unmerged part."""
    cols = ["klaviyo_public_id", "order_id", "order_value", "order_date", "inserted_at"]
    rows = [
        (Decimal("10.00"), "o1", 1),
        (Decimal("12.50"), "o1", 2),
        (Decimal("7.00"), "o2", 1),
    ]
    for value, order_id, version in rows:
        warehouse.insert_rows(
            "klaviyo_orders",
            [["A", order_id, value, date(2026, 1, 1), datetime(2026, 1, 1, 0, 0, version)]],
            cols,
        )
    warehouse.command(
        "DELETE FROM klaviyo_orders WHERE klaviyo_public_id = 'A' AND order_id = 'o1'",
        settings={"mutations_sync": 2},
    )
    assert warehouse.rows("SELECT order_id, order_value FROM klaviyo_orders") == [
        ("o2", Decimal("7.00"))
    ]
    warehouse.command("OPTIMIZE TABLE klaviyo_orders FINAL")
    assert warehouse.rows("SELECT order_id FROM klaviyo_orders") == [("o2",)]


def test_command_applies_final_to_insert_select_and_leaves_values_alone(
    warehouse: Warehouse,
) -> None:
    """An INSERT ... SELECT through `command` reads the 12 tables with FINAL (FINAL in the text and
    `final = 1` written into the statement): unmerged versions copy as one row per key. An
    INSERT ... VALUES, which cannot take a trailing SETTINGS clause, still runs."""
    warehouse.command("CREATE TABLE copy_target (order_id String, v Decimal(10, 2)) ENGINE = Log")
    _two_versions_of_one_order(warehouse)
    warehouse.command(
        "-- a leading comment\nINSERT INTO copy_target SELECT order_id, order_value FROM klaviyo_orders"
    )
    warehouse.command("INSERT INTO copy_target VALUES ('o2', 1.00)")
    assert sorted(warehouse.rows("SELECT order_id, v FROM copy_target")) == [
        ("o1", Decimal("12.50")),
        ("o2", Decimal("1.00")),
    ]


def test_reads_with_union_or_their_own_settings_still_deduplicate(warehouse: Warehouse) -> None:
    """Reads through the query layer deduplicate in every branch of a UNION and when they carry
    a SETTINGS clause of their own."""
    _two_versions_of_one_order(warehouse)
    union = (
        "SELECT count() FROM klaviyo_orders WHERE order_id = 'o1' "
        "UNION ALL SELECT count() FROM klaviyo_orders WHERE order_id = 'o1'"
    )
    assert warehouse.rows(union) == [(1,), (1,)]
    own = "SELECT count() FROM klaviyo_orders WHERE order_id = 'o1' SETTINGS max_threads = 1"
    assert warehouse.scalar(own) == 1


def test_command_writes_inline_settings_into_a_reading_statement(warehouse: Warehouse) -> None:
    """`inline_settings` join `final = 1` in the statement's own trailing SETTINGS clause (one is
    added when the statement has none); a statement that cannot take them is refused."""
    warehouse.command("CREATE TABLE copy_target (order_id String, v Decimal(10, 2)) ENGINE = Log")
    _two_versions_of_one_order(warehouse)
    copy = "INSERT INTO copy_target SELECT order_id, order_value FROM klaviyo_orders"
    warehouse.command(copy, inline_settings={"max_insert_threads": 1})
    warehouse.command(
        f"{copy}\nSETTINGS max_threads = 1", inline_settings={"max_insert_threads": 1}
    )
    # "values" in a comment or a string literal does not make it an INSERT ... VALUES
    warehouse.command(f"-- copy the values\n{copy}", inline_settings={"max_insert_threads": 1})
    warehouse.command(f"{copy} WHERE order_id != 'VALUES'", inline_settings={"max_threads": 1})
    assert warehouse.rows("SELECT order_id, v FROM copy_target") == [("o1", Decimal("12.50"))] * 4
    # string values are quoted
    warehouse.command(copy, inline_settings={"join_algorithm": "hash", "max_threads": 1})
    assert warehouse.scalar("SELECT count() FROM copy_target") == 5
    with pytest.raises(ValueError, match="inline settings"):
        warehouse.command("TRUNCATE TABLE copy_target", inline_settings={"max_threads": 1})
