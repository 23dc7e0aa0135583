"""Raw event pages → ClickHouse: the JSON is parsed by ClickHouse, never by Python.

A page of 1,000 Placed Order events is ~3.5 MB of JSON; turning it into Python objects cost more
CPU than everything else the sync did. Instead the client only validates a page and reads its
cursor (simdjson, no Python objects), the page's bytes go into a per-store staging table as they
are, and one ``INSERT ... SELECT`` per target table (``sync/sql/*_from_pages.sql``) parses them
with ``JSONExtract`` into typed rows. The staging table holds one batch at a time and is emptied
after the batch's rows are written.
"""

from __future__ import annotations

import hashlib
import re
import struct
from functools import cache
from importlib import resources
from typing import Any

from klaviyo_analytics.klaviyo.errors import InvalidEventDataError
from klaviyo_analytics.klaviyo.models import RawEventPage
from klaviyo_analytics.warehouse import Warehouse
from klaviyo_analytics.warehouse.errors import WarehouseError

_BLOCK_PER_PAGE = {
    "max_insert_block_size": 1,
    "min_insert_block_size_rows": 0,
    "min_insert_block_size_bytes": 0,
}
_INCLUDE = re.compile(r"^-- include: (\S+)$", re.M)

#: Errors the page loaders raise on purpose (``throwIf``) for data that is present but unusable.
_DATA_ERRORS = ("unparseable money value", "unparseable count")


@cache
def load_sql(name: str) -> str:
    """A statement of ``sync/sql`` with its ``-- include: file.sql`` lines expanded."""
    root = resources.files("klaviyo_analytics.sync").joinpath("sql")
    text = root.joinpath(name).read_text()
    return _INCLUDE.sub(lambda m: _strip_comments(root.joinpath(m.group(1)).read_text()), text)


def _strip_comments(sql: str) -> str:
    return "\n".join(line for line in sql.splitlines() if not line.startswith("--"))


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


class PageStage:
    """The staging table of one store's raw pages of one data type
    (``sync_pages_<hash of the account>_<data type>``).

    One sync of a store runs at a time (the dashboard lock), so the table is per store and data
    type; it is created empty when a sync starts (a crashed run's leftovers are dropped) and
    dropped at the end.

    Args:
        warehouse: the warehouse.
        kid: the Klaviyo public id of the store being synced.
        data_type: ``orders`` or ``refunds``.
    """

    def __init__(self, warehouse: Warehouse, kid: str, data_type: str) -> None:
        self.warehouse = warehouse
        self.kid = kid
        digest = hashlib.sha256(kid.encode()).hexdigest()[:16]
        self.table = f"sync_pages_{digest}_{data_type}"
        self._buffer: list[bytes] = []
        self.pages = 0
        self.buffered_events = 0
        self._buffered_rows = 0

    def __enter__(self) -> PageStage:
        self.warehouse.command(f"DROP TABLE IF EXISTS {self.table}")
        self.warehouse.command(
            f"CREATE TABLE {self.table} (page UInt32, body String) ENGINE = Memory"
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self._buffer.clear()
        self.warehouse.command(f"DROP TABLE IF EXISTS {self.table}")

    def add(self, page: RawEventPage) -> None:
        """Buffer one validated page (its bytes as received)."""
        # RowBinary: page UInt32, then body as a varint length and the bytes (no copy of them)
        self._buffer += (struct.pack("<I", self.pages) + _varint(len(page.body)), page.body)
        self.pages += 1
        self.buffered_events += page.events
        self._buffered_rows += page.rows

    def load(self, statements: list[str], params: dict[str, Any]) -> int:
        """Write the buffered pages to the staging table, run ``statements`` over them, empty it.

        Args:
            statements: ``sync/sql`` file names, run in order (each an ``INSERT ... SELECT``).
            params: their parameters (``pages`` is set here).

        Returns:
            Rows written: the pages' row counts (:attr:`RawEventPage.rows`). An event repeated
            across pages is written twice and collapses in ReplacingMergeTree.

        Raises:
            InvalidEventDataError: an event carries a money value or count that is not a number.
        """
        if not self._buffer:
            return 0
        pieces, self._buffer = self._buffer, []
        rows, self._buffered_rows, self.buffered_events = self._buffered_rows, 0, 0
        # One block per page (no squashing): ClickHouse parses the pages on all its threads and
        # holds one page's parsed columns per thread at a time, not the whole batch's.
        self.warehouse.insert_raw(
            self.table, ["page", "body"], pieces, "RowBinary", settings=_BLOCK_PER_PAGE
        )
        del pieces
        params = {**params, "pages": self.table}
        try:
            for name in statements:
                self.warehouse.command(load_sql(name), params)
        except WarehouseError as exc:
            reason = next((e for e in _DATA_ERRORS if e in str(exc)), None)
            if reason is None:
                raise
            raise InvalidEventDataError(f"{reason} in a Klaviyo event; {exc}") from None
        finally:
            self.warehouse.command(f"TRUNCATE TABLE {self.table}")
        return rows
