"""Run versions and stale-row cleanup for the aggregate tables.

Every row one run writes carries the run's version (the table's ReplacingMergeTree version
column, a ``DateTime``). Versions strictly increase per store and table even for runs within the
same second. After a run's rows are in, every row of that store with an older version is
deleted, so a row that no longer qualifies disappears; if a run dies between the two steps, the
next run's cleanup removes both older generations (docs/metrics.md, "Versions and stale rows").
For the big tables the older parts that hold only the store's rows are dropped whole first
(:func:`store_only_parts`, :func:`drop_parts`); the delete runs, for them and for the small
tables, only when FINAL still shows an older row (:func:`count_current_and_older`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from klaviyo_analytics.warehouse import Warehouse
from klaviyo_analytics.warehouse.errors import WarehouseError
from klaviyo_analytics.warehouse.tables import AGGREGATES, VERSION_COLUMN, Table

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1)
_NO_SUCH_DATA_PART = 232


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


def store_only_parts(warehouse: Warehouse, table: Table, store: str) -> list[str]:
    """The active parts of ``table`` whose rows all belong to ``store``.

    Read from the table's primary index (``mergeTreeIndex``: its marks, not its rows). A part is
    sorted by the table's key, which starts with ``klaviyo_public_id``; when the key of its first
    mark and of its final mark (the key of its last row, written with adaptive granularity,
    ``rows_in_granule = 0``) both name ``store``, so does every row between them. A part without
    a final mark is not listed (the cleanup ``DELETE`` covers its rows instead).

    Best effort: where the index cannot be read (a server without ``mergeTreeIndex``), it logs
    a warning and lists nothing, and the cleanup ``DELETE`` does all the work as before.
    """
    _check(table)
    try:
        rows = warehouse.rows(
            f"SELECT part_name FROM mergeTreeIndex(currentDatabase(), {table}) "
            "GROUP BY part_name "
            "HAVING argMin(klaviyo_public_id, mark_number) = {store:String} "
            "AND argMax(klaviyo_public_id, mark_number) = {store:String} "
            "AND argMax(rows_in_granule, mark_number) = 0 "
            "ORDER BY part_name",
            {"store": store},
        )
    except WarehouseError as exc:
        log.warning("cannot list the parts of %s from its primary index: %s", table, exc)
        return []
    return [str(name) for (name,) in rows]


def drop_parts(warehouse: Warehouse, table: Table, parts: list[str]) -> int:
    """Drop ``parts`` of ``table`` (a metadata operation: no row is read or rewritten).

    Only for parts listed by :func:`store_only_parts` before the run's version was chosen: all
    their rows are the store's and older than the run's version, which is what
    :func:`delete_older` would mask. A part merged away meanwhile is no longer active and is
    skipped: its rows live on in the merged part, where FINAL and the ``DELETE`` still see them.
    Any other refusal (a server that does not allow ``DROP PART``) stops the drops with a
    warning: the caller's cleanup ``DELETE`` then masks those rows instead, as before.

    Returns:
        How many parts were dropped.
    """
    _check(table)
    dropped = 0
    for part in parts:
        try:
            warehouse.command(f"ALTER TABLE {table} DROP PART {{part:String}}", {"part": part})
        except WarehouseError as exc:
            if exc.code == _NO_SUCH_DATA_PART:
                continue
            log.warning("cannot drop part %s of %s, deleting its rows: %s", part, table, exc)
            break
        dropped += 1
    return dropped
