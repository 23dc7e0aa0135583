"""Raw event pages → ClickHouse: the JSON is parsed by ClickHouse, never by Python.

A page of 1,000 Placed Order events is ~3.5 MB of JSON; turning it into Python objects cost more
CPU than everything else the sync did. Instead the client only validates a page and reads its
cursor (simdjson, no Python objects), the page's bytes go into a per-store staging table as they
are, and ``INSERT ... SELECT`` statements (``sync/sql/*_from_pages.sql``) turn them into typed
rows with ``JSONExtract``. Placed Order pages are parsed once, into a typed staging table
(``order_pages.sql``, ``parse_order_pages.sql``) that both the line-items and the orders
statement read: building the typed values, not scanning the JSON, is what costs, and parsing
each page for each target table doubled it. A staging table holds one batch at a time and is
emptied after the batch's rows are written; orders rotate through two so one batch can load
while the next is staged.
"""

from __future__ import annotations

import hashlib
import struct
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from klaviyo_analytics.klaviyo.errors import InvalidEventDataError
from klaviyo_analytics.klaviyo.models import RawEventPage
from klaviyo_analytics.warehouse import Warehouse
from klaviyo_analytics.warehouse.errors import WarehouseError
from klaviyo_analytics.warehouse.sqlfiles import read_sql

_BLOCK_PER_PAGE = {
    "max_insert_block_size": 1,
    "min_insert_block_size_rows": 0,
    "min_insert_block_size_bytes": 0,
}

#: Errors the page loaders raise on purpose (``throwIf``) for data that is present but unusable.
_DATA_ERRORS = ("unparseable money value", "unparseable count")


def load_sql(name: str) -> str:
    """A statement of ``sync/sql`` with its ``-- include: file.sql`` lines expanded."""
    return read_sql("klaviyo_analytics.sync", name)


def store_digest(kid: str) -> str:
    """A short digest of a store's public id, for the names of its per-sync scratch tables."""
    return hashlib.sha256(kid.encode()).hexdigest()[:16]


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


@dataclass(frozen=True)
class StagedBatch:
    """A batch of pages written to one staging table.

    Attributes:
        table: the staging table holding it.
        rows: the warehouse rows its pages make (:attr:`RawEventPage.rows`).
    """

    table: str
    rows: int


@dataclass(frozen=True)
class PageParse:
    """How a data type's raw pages are parsed once into a typed staging table.

    Attributes:
        table_sql: the ``sync/sql`` file creating the typed table (parameter ``table``).
        parse_sql: the ``sync/sql`` file filling it from the raw table (parameters ``pages``,
            the raw table, and ``parsed``, the typed one) with ``JSONExtract`` into
            ``row_type``: ``Tuple(...)`` of the typed table's columns other than ``page``.
    """

    table_sql: str
    parse_sql: str


#: Placed Order pages: parsed once for the line-items and the orders statement.
ORDER_PAGES = PageParse("order_pages.sql", "parse_order_pages.sql")


class PageStage:
    """The staging tables of one store's pages of one data type
    (``sync_pages_<hash of the account>_<data type>_<n>``, ``ENGINE = Memory``).

    One sync of a store runs at a time (the dashboard lock), so the tables are per store and data
    type; they are created empty when a sync starts (a crashed run's leftovers are dropped) and
    dropped at the end. With two tables one batch can be loaded while the next one is staged.
    With ``parse``, the rotating tables hold parsed pages and the raw bytes pass through one more
    table (``..._raw``), emptied as soon as its batch is parsed.

    Args:
        warehouse: the warehouse.
        kid: the Klaviyo public id of the store being synced.
        data_type: ``orders`` or ``refunds``.
        tables: how many staging tables to rotate through.
        parse: parse the pages once into typed tables (else statements read the raw bytes).
    """

    def __init__(
        self,
        warehouse: Warehouse,
        kid: str,
        data_type: str,
        tables: int = 1,
        parse: PageParse | None = None,
    ) -> None:
        self.warehouse = warehouse
        self.kid = kid
        digest = store_digest(kid)
        self.tables = [f"sync_pages_{digest}_{data_type}_{i}" for i in range(tables)]
        self.parse = parse
        self.raw = f"sync_pages_{digest}_{data_type}_raw"
        self._row_type = ""
        self._next = 0
        self._busy: set[str] = set()  # tables holding a batch not released yet
        self._buffer: list[bytes] = []
        self.pages = 0
        self.buffered_events = 0
        self._buffered_rows = 0

    @property
    def all_tables(self) -> list[str]:
        """Every staging table this stage creates (the raw one too, when pages are parsed)."""
        return [*self.tables, self.raw] if self.parse is not None else list(self.tables)

    def __enter__(self) -> PageStage:
        for table in self.all_tables:
            self.warehouse.command(f"DROP TABLE IF EXISTS {table}")
        if self.parse is None:
            for table in self.tables:
                self.warehouse.command(
                    f"CREATE TABLE {table} (page UInt32, body String) ENGINE = Memory"
                )
            return self
        self.warehouse.command(
            f"CREATE TABLE {self.raw} (page UInt32, body String) ENGINE = Memory"
        )
        for table in self.tables:
            self.warehouse.command(load_sql(self.parse.table_sql), {"table": table})
        columns = self.warehouse.rows(
            "SELECT name, type FROM system.columns WHERE database = currentDatabase()"
            " AND table = {t:String} AND name != 'page' ORDER BY position",
            {"t": self.tables[0]},
        )
        self._row_type = "Tuple(" + ", ".join(f"{name} {type_}" for name, type_ in columns) + ")"
        return self

    def __exit__(self, *exc: object) -> None:
        self._buffer.clear()
        for table in self.all_tables:
            self.warehouse.command(f"DROP TABLE IF EXISTS {table}")

    def add(self, page: RawEventPage) -> None:
        """Buffer one validated page (its bytes as received)."""
        # RowBinary: page UInt32, then body as a varint length and the bytes (no copy of them)
        self._buffer += (struct.pack("<I", self.pages) + _varint(len(page.body)), page.body)
        self.pages += 1
        self.buffered_events += page.events
        self._buffered_rows += page.rows

    def stage(self) -> StagedBatch | None:
        """Write the buffered pages to the next staging table (None when nothing is buffered).

        The caller must have released the batch that used that table before (:meth:`release`).
        """
        if not self._buffer:
            return None
        pieces, self._buffer = self._buffer, []
        rows, self._buffered_rows, self.buffered_events = self._buffered_rows, 0, 0
        table = self.tables[self._next]
        if table in self._busy:  # a caller bug: it would mix two batches in one table
            raise RuntimeError(f"staging table {table} still holds an unreleased batch")
        self._busy.add(table)
        self._next = (self._next + 1) % len(self.tables)
        batch = StagedBatch(table, rows)
        try:
            # One block per page (no squashing): ClickHouse holds one page's parsed columns at a
            # time per thread, not the whole batch's.
            self.warehouse.insert_raw(
                table if self.parse is None else self.raw,
                ["page", "body"],
                pieces,
                "RowBinary",
                settings=_BLOCK_PER_PAGE,
            )
            if self.parse is not None:
                try:
                    self.warehouse.command(
                        load_sql(self.parse.parse_sql),
                        {"pages": self.raw, "parsed": table, "row_type": self._row_type},
                    )
                finally:
                    self.warehouse.command(f"TRUNCATE TABLE {self.raw}")
        except BaseException:
            with suppress(WarehouseError):  # the original error matters, not the cleanup's
                self.release(batch)
            raise
        return batch

    def run(self, batch: StagedBatch, statements: list[str], params: dict[str, Any]) -> None:
        """Run ``statements`` (``sync/sql`` file names, in order) over a staged batch.

        Raises:
            InvalidEventDataError: an event carries a money value or count that is not a number.
        """
        params = {**params, "pages": batch.table}
        try:
            for name in statements:
                self.warehouse.command(load_sql(name), params)
        except WarehouseError as exc:
            reason = next((e for e in _DATA_ERRORS if e in str(exc)), None)
            if reason is None:
                raise
            raise InvalidEventDataError(f"{reason} in a Klaviyo event; {exc}") from None

    def release(self, batch: StagedBatch) -> None:
        """Empty the batch's staging table."""
        self.warehouse.command(f"TRUNCATE TABLE {batch.table}")
        self._busy.discard(batch.table)

    def load(self, statements: list[str], params: dict[str, Any]) -> int:
        """Stage the buffered pages, run ``statements`` over them and release them.

        Returns:
            Rows written: the pages' row counts (:attr:`RawEventPage.rows`). An event repeated
            across pages is written twice and collapses in ReplacingMergeTree.
        """
        batch = self.stage()
        if batch is None:
            return 0
        try:
            self.run(batch, statements, params)
        finally:
            self.release(batch)
        return batch.rows
