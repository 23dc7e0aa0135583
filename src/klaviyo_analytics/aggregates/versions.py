"""Run versions and stale-row cleanup for the aggregate tables.

Every row one run writes carries the run's version (the table's ReplacingMergeTree version
column, a ``DateTime``). Versions strictly increase per store and table even for runs within the
same second. After a run's rows are in, every row of that store with an older version is
deleted, so a row that no longer qualifies disappears; if a run dies between the two steps, the
next run's cleanup removes both older generations (docs/metrics.md, "Versions and stale rows").
For the small tables the delete only runs when FINAL still shows an older row
(:func:`count_current_and_older`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from klaviyo_analytics.warehouse import Warehouse
from klaviyo_analytics.warehouse.tables import AGGREGATES, VERSION_COLUMN, Table

_EPOCH = datetime(1970, 1, 1)


def _check(table: Table) -> str:
    # Identifiers are spliced into SQL, so only the five aggregate tables are accepted.
    if table not in AGGREGATES:
        raise ValueError(f"{table} is not an aggregate table")
    return VERSION_COLUMN[table]


def latest_version(warehouse: Warehouse, table: Table, store: str) -> datetime | None:
    """The newest version of ``store``'s rows in ``table`` (naive UTC), or None if it has none."""
    column = _check(table)
    value = warehouse.scalar(
        f"SELECT max(t.{column}) FROM {table} AS t FINAL "
        "WHERE t.klaviyo_public_id = {store:String}",
        {"store": store},
    )
    if not isinstance(value, datetime) or value.replace(tzinfo=None) <= _EPOCH:
        return None
    return value.replace(tzinfo=None)


def next_version(
    warehouse: Warehouse, table: Table, store: str, now: datetime | None = None
) -> datetime:
    """A version newer than every existing one: now (whole seconds, UTC) or the last one + 1 s.

    Args:
        warehouse: the warehouse.
        table: an aggregate table.
        store: the Klaviyo public id.
        now: the current time (aware or naive UTC); defaults to the clock.

    Returns:
        A naive UTC ``datetime`` with whole seconds.
    """
    current = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None, microsecond=0)
    last = latest_version(warehouse, table, store)
    if last is not None and last >= current:
        return last + timedelta(seconds=1)
    return current


def delete_older(warehouse: Warehouse, table: Table, store: str, version: datetime) -> None:
    """Delete ``store``'s rows of ``table`` older than ``version``.

    A lightweight ``DELETE FROM`` (it masks the rows in place instead of rewriting the parts of
    a classic ``ALTER TABLE ... DELETE``, so its cost is that of marking the stale rows). The
    query layer leaves its target without FINAL (a write); masked rows are invisible to every
    read, FINAL included. It returns once the rows are masked (``lightweight_deletes_sync``);
    if the process dies before that, the next run's delete covers both older generations.
    """
    column = _check(table)
    warehouse.command(
        f"DELETE FROM {table} "
        f"WHERE klaviyo_public_id = {{store:String}} AND {column} < {{version:DateTime}}",
        {"store": store, "version": version},
        settings={"lightweight_deletes_sync": 2},
    )


def count_version(warehouse: Warehouse, table: Table, store: str, version: datetime) -> int:
    """How many rows of ``store`` carry ``version`` in ``table``."""
    column = _check(table)
    return int(
        warehouse.scalar(
            f"SELECT count() FROM {table} AS t FINAL "
            f"WHERE t.klaviyo_public_id = {{store:String}} AND t.{column} = {{version:DateTime}}",
            {"store": store, "version": version},
        )
    )


def count_current_and_older(
    warehouse: Warehouse, table: Table, store: str, version: datetime
) -> tuple[int, int]:
    """``store``'s rows of ``table`` visible under FINAL: (with ``version``, with an older one).

    One FINAL read instead of a ``DELETE`` plus a count, for the small tables: when no older row
    is visible, the lightweight delete would only mask rows that FINAL already hides (older
    versions of keys the run rewrote), so the runner skips it (docs/metrics.md, "Versions and
    stale rows").
    """
    column = _check(table)
    row = warehouse.rows(
        f"SELECT countIf(t.{column} = {{version:DateTime}}), "
        f"countIf(t.{column} < {{version:DateTime}}) FROM {table} AS t FINAL "
        "WHERE t.klaviyo_public_id = {store:String}",
        {"store": store, "version": version},
    )[0]
    return int(row[0]), int(row[1])
