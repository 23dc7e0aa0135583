"""The warehouse schema equals the spec: the CREATE TABLE statements are parsed out of
``spec/data-model.md`` at test time and compared with what ClickHouse reports. No hand copy."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import clickhouse_connect
import pytest

from klaviyo_analytics.warehouse import Table, Warehouse


@dataclass(frozen=True)
class SpecTable:
    name: str
    columns: list[tuple[str, str, str]]  # name, type, default expression
    engine: str
    order_by: str


def _strip_comments(sql: str) -> str:
    return re.sub(r"--[^\n]*", "", sql)


def _split_top_level(body: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in body:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def parse_spec(path: Path) -> dict[str, SpecTable]:
    text = path.read_text()
    blocks = re.findall(r"```sql\s*\n(CREATE TABLE.*?)```", text, re.S)
    tables: dict[str, SpecTable] = {}
    for block in blocks:
        sql = _strip_comments(block)
        head = re.match(r"\s*CREATE TABLE\s+(\w+)\s*\(", sql)
        assert head, block[:80]
        start = head.end()
        depth, i = 1, start
        while depth:
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        body, tail = sql[start : i - 1], sql[i:]
        columns = []
        for item in _split_top_level(body):
            m = re.match(r"(\w+)\s+(.+?)(?:\s+DEFAULT\s+(.+))?$", " ".join(item.split()))
            assert m, item
            columns.append((m.group(1), m.group(2).strip(), (m.group(3) or "").strip()))
        engine = re.search(r"ENGINE\s*=\s*(\w+\([^)]*\))", tail)
        order = re.search(r"ORDER BY\s*\((.*?)\)", tail, re.S)
        assert engine and order
        tables[head.group(1)] = SpecTable(
            head.group(1),
            columns,
            engine.group(1),
            ", ".join(x.strip() for x in order.group(1).split(",")),
        )
    return tables


@pytest.fixture(scope="module")
def spec_tables(shared_dir: Path) -> dict[str, SpecTable]:
    return parse_spec(shared_dir / "spec" / "data-model.md")


def _normalise_type(t: str) -> str:
    return re.sub(r"\s+", "", t)


def test_spec_has_the_twelve_tables(spec_tables: dict[str, SpecTable]) -> None:
    assert set(spec_tables) == {t.value for t in Table}


@pytest.mark.parametrize("table", [t.value for t in Table])
def test_table_matches_spec(
    warehouse: Warehouse, spec_tables: dict[str, SpecTable], table: str
) -> None:
    spec = spec_tables[table]
    reported = warehouse.rows(
        "SELECT name, type, default_kind, default_expression FROM system.columns "
        "WHERE database = {db:String} AND table = {t:String} ORDER BY position",
        {"db": warehouse.database, "t": table},
    )
    assert [r[0] for r in reported] == [c[0] for c in spec.columns], "column names and order"
    for (name, ch_type, kind, expr), (_, spec_type, spec_default) in zip(
        reported, spec.columns, strict=True
    ):
        assert _normalise_type(ch_type) == _normalise_type(spec_type), name
        if spec_default:
            assert kind == "DEFAULT" and expr.replace(" ", "") == spec_default.replace(" ", ""), (
                name
            )
        else:
            assert kind == "", name
    engine_full, sorting_key, engine = warehouse.rows(
        "SELECT engine_full, sorting_key, engine FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        {"db": warehouse.database, "t": table},
    )[0]
    assert engine == "ReplacingMergeTree"
    assert engine_full.startswith(spec.engine + " "), engine_full
    assert sorting_key == spec.order_by


@pytest.mark.parametrize("table", [t.value for t in Table])
def test_final_view_deduplicates(warehouse: Warehouse, table: str) -> None:
    view = Table(table).final_view
    engine, query = warehouse.rows(
        "SELECT engine, as_select FROM system.tables WHERE database = {db:String} AND name = {v:String}",
        {"db": warehouse.database, "v": view},
    )[0]
    assert engine == "View"
    assert re.search(rf"FROM\s+\S*{table}\s+FINAL", query), query


def test_final_view_returns_latest_version(warehouse: Warehouse, chdb_url: str) -> None:
    """A BI tool's plain query on the view (no FINAL, no settings) sees only the latest row."""
    cols = [
        "klaviyo_public_id",
        "segment_id",
        "segment_name",
        "date",
        "total_members",
        "updated_at",
    ]
    for members, version in ((10, "2026-01-01 00:00:00"), (12, "2026-01-02 00:00:00")):
        warehouse.insert_rows(
            "segment_statistics",
            [["A", "s1", "VIP", date(2026, 1, 1), members, datetime.fromisoformat(version)]],
            cols,
        )
    bi_tool = clickhouse_connect.get_client(dsn=chdb_url, database=warehouse.database)
    try:
        raw = bi_tool.query("SELECT total_members FROM segment_statistics").result_rows
        view = bi_tool.query("SELECT total_members FROM segment_statistics_final").result_rows
    finally:
        bi_tool.close()
    assert sorted(raw) == [(10,), (12,)]  # the raw table still holds both versions
    assert view == [(12,)]
