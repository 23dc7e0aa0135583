"""Event-based data types: orders (+ line items) from Placed Order, refunds and cancellations.

Orders: pages stream oldest first as raw bytes into a per-store staging table and ClickHouse
parses them in batches (``sync/pages.py``, ``sync/sql/*_from_pages.sql``), so memory stays flat
however large the store and no event becomes a Python object. Each batch's rows are durable
before the caller moves the watermark. New orders are written with their customer-context
fields pending; at the end of the run those are derived from the warehouse's whole history for
every customer with a pending order (a crashed run's pending rows included).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import simdjson

from klaviyo_analytics.klaviyo.models import Metric, RawEventPage
from klaviyo_analytics.sync.pages import (
    ORDER_PAGES,
    PageStage,
    StagedBatch,
    load_sql,
    store_digest,
)
from klaviyo_analytics.sync.pipeline import prefetch, release_memory
from klaviyo_analytics.sync.scope import ScopedSync, StoreScope
from klaviyo_analytics.warehouse import Warehouse

#: Test hook: SIGKILL this process after this many inserted batches (crash-safety tests only).
KILL_AFTER_BATCHES_ENV = "KLAVIYO_ANALYTICS_TEST_KILL_AFTER_BATCHES"

_RowCounter = Callable[[simdjson.Object], int]

#: Refund and cancellation events carry the whole order and parse into ~4x the working memory of
#: an order (measured: +150-190 MB for 10 pages vs +43 MB for 2), so they load in smaller batches.
REFUND_BATCH_DIVISOR = 4

#: Pending orders per bucket of the customer-context derivation (bounds the window's working set).
CONTEXT_BUCKET_ORDERS = 250_000

#: Changed orders per write-back of the customer-context derivation: its join holds them in a
#: hash table (~70 MB per million), so more changes than this are written in several reads.
CONTEXT_WRITE_ORDERS = 1_000_000

#: The write-back reads every column of the store's orders once, and is the derivation's memory
#: peak: one thread and 64k-row insert blocks (1M pending orders in 20 parts: peak 1,045-1,078 MB
#: and 4.9 s; with two threads 1,274 MB and 3.0 s; bench/README.md, "Sync", round 5).
_CONTEXT_WRITE_SETTINGS: dict[str, Any] = {
    "max_threads": 1,
    "min_insert_block_size_rows": 65_536,
}


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _version(last: datetime | None) -> datetime:
    """The RMT version of a write: now in whole seconds, never before the previous one.

    Equal versions are resolved by insertion order, which is what we want for re-writes.
    """
    now = _now()
    return max(now, last) if last else now


@dataclass
class EventSyncOutcome:
    """What one event data type wrote.

    Attributes:
        rows_written: rows inserted (all tables, context rewrites included).
        events_read: events read from Klaviyo.
        watermark: the newest event time durably written (capped at Klaviyo's now); the
            Klaviyo clock is not observable reliably, so event times are the safe watermark.
    """

    rows_written: int = 0
    events_read: int = 0
    watermark: datetime | None = None


def _order_rows(event: simdjson.Object) -> int:
    """Rows a Placed Order event makes: its order and its line items (0 without an order id,
    as ``orders_from_pages.sql`` skips it)."""
    attrs = event.get("attributes")
    props = attrs.get("event_properties") if isinstance(attrs, simdjson.Object) else None
    if not isinstance(props, simdjson.Object):
        return 0
    extra = props.get("$extra")
    if not isinstance(extra, simdjson.Object):
        extra = None
    order_id = props.get("$event_id")
    if order_id is None or order_id == "":
        order_id = extra.get("id") if extra is not None else None
    if order_id is None or order_id == "":
        return 0
    items = extra.get("line_items") if extra is not None else None
    return 1 + (len(items) if isinstance(items, simdjson.Array) else 0)


def context_changes_table(kid: str) -> str:
    """The per-store Memory table of :func:`recompute_context`'s changed orders (one sync of a
    store runs at a time, so one name per store; never one of the spec's tables)."""
    return f"sync_context_{store_digest(kid)}"


def recompute_context(warehouse: Warehouse, kid: str, version: Callable[[], datetime]) -> int:
    """Derive the customer-context fields of every customer of ``kid`` with a pending order.

    Runs over the whole history of those customers (not just one run's rows), in hash buckets of
    about :data:`CONTEXT_BUCKET_ORDERS` pending orders so the window's memory stays bounded
    (``context_changes.sql``). Each bucket keeps only the orders whose values change, as narrow
    rows in a per-store Memory table; those are written back with one read of the store's rows
    per :data:`CONTEXT_WRITE_ORDERS` changes (``context_write.sql``) instead of one per bucket.
    A re-run that changes nothing writes nothing; a crash leaves the unwritten orders pending,
    for the next run.

    Args:
        warehouse: the warehouse.
        kid: the Klaviyo public id of the store.
        version: gives the RMT version of each write (newer than the rows it replaces).

    Returns:
        How many orders were pending.
    """
    pending = int(
        warehouse.scalar(
            "SELECT count() FROM klaviyo_orders FINAL "
            "WHERE klaviyo_public_id = {kid:String} AND order_count_for_customer = 0",
            {"kid": kid},
        )
        or 0
    )
    if not pending:
        return 0
    buckets = -(-pending // CONTEXT_BUCKET_ORDERS)
    changes = context_changes_table(kid)
    warehouse.command(f"DROP TABLE IF EXISTS {changes}")
    warehouse.command(
        f"CREATE TABLE {changes} (order_id String, new_first UInt8, new_count UInt32,"
        " new_days Int32) ENGINE = Memory"
    )
    params: dict[str, Any] = {"kid": kid, "buckets": buckets, "changes": changes}
    try:
        for bucket in range(buckets):
            warehouse.command(load_sql("context_changes.sql"), {**params, "bucket": bucket})
            held = int(warehouse.scalar("SELECT count() FROM {changes:Identifier}", params))
            if held and (held >= CONTEXT_WRITE_ORDERS or bucket == buckets - 1):
                warehouse.command(
                    load_sql("context_write.sql"),
                    {**params, "version": version()},
                    inline_settings=_CONTEXT_WRITE_SETTINGS,
                )
                warehouse.command(f"TRUNCATE TABLE {changes}")
    finally:
        warehouse.command(f"DROP TABLE IF EXISTS {changes}")
    return pending


class EventSync(ScopedSync):
    """Reads one metric's events in chunks and writes them to the warehouse.

    Args:
        scope: the store being synced.
        page_size: events per page.
        batch_rows: events per ClickHouse insert.
    """

    def __init__(
        self,
        scope: StoreScope,
        *,
        page_size: int,
        batch_rows: int,
    ) -> None:
        super().__init__(scope)
        self.page_size = page_size
        self.batch_rows = batch_rows
        self._last_version: datetime | None = None
        self._batches = 0
        kill = os.environ.get(KILL_AFTER_BATCHES_ENV, "")
        self._kill_after = int(kill) if kill.isdigit() else None

    def _next_version(self) -> datetime:
        self._last_version = _version(self._last_version)
        return self._last_version

    def _after_batch(self) -> None:
        self._batches += 1
        if self._kill_after is not None and self._batches >= self._kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

    # -- pages -------------------------------------------------------------------------
    def _load_pages(
        self,
        stage: PageStage,
        pages: Iterator[RawEventPage],
        statements: list[str],
        params: dict[str, Any],
        out: EventSyncOutcome,
        progress: str,
        commit: Callable[[datetime, int], None],
        batch_events: int,
        *,
        overlap: bool,
    ) -> None:
        """Stage ``pages`` every ``batch_events`` events and load each batch: ``statements`` in
        order, then ``commit(newest event time of the batch, rows so far)``.

        The statements run in a worker thread; with ``overlap`` the next batch's pages are staged
        meanwhile (ClickHouse runs each statement on one core, so this puts the second core to
        work; ``stage`` then needs two tables), else each batch is finished before the next is
        staged. Batches commit in order, each after all of its statements.
        """
        pending: tuple[Future[None], StagedBatch, datetime | None] | None = None

        def finish() -> None:
            nonlocal pending
            if pending is None:
                return
            future, batch, watermark = pending
            pending = None
            try:
                future.result()
            finally:
                stage.release(batch)
            out.rows_written += batch.rows
            self._after_batch()
            release_memory(self.warehouse)
            if watermark is not None:
                commit(watermark, out.rows_written)

        def load(worker: ThreadPoolExecutor) -> None:
            nonlocal pending
            watermark = out.watermark  # every page staged now is in this batch or an earlier one
            batch = stage.stage()  # with overlap, while the previous batch's statements run
            if batch is None:
                return
            batch_params = {**params, "version": self._next_version()}
            finish()
            pending = (worker.submit(stage.run, batch, statements, batch_params), batch, watermark)
            if not overlap:
                finish()

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="klaviyo-load") as worker:
            for page in pages:
                stage.add(page)
                if page.newest and (out.watermark is None or page.newest > out.watermark):
                    out.watermark = page.newest
                out.events_read += page.events
                self.progress.advance(progress, page.events)
                if stage.buffered_events >= batch_events:
                    load(worker)
            load(worker)
            finish()

    def _pages(
        self,
        metric: Metric,
        since: datetime,
        until: datetime,
        batch_events: int,
        rows: _RowCounter | None = None,
    ) -> Generator[RawEventPage, None, None]:
        # A whole batch is fetched ahead: Klaviyo keeps serving while ClickHouse loads a batch.
        return prefetch(
            self.client.iter_raw_event_pages(
                metric.id, since, until, page_size=self.page_size, rows=rows
            ),
            depth=max(1, -(-batch_events // self.page_size)),
        )

    # -- orders --------------------------------------------------------------------------
    def sync_orders(
        self,
        metric: Metric,
        since: datetime,
        until: datetime,
        checkpoint: Callable[[datetime, int], None],
    ) -> EventSyncOutcome:
        """Orders and line items from Placed Order events in ``[since, until)``.

        Pages stream oldest first as raw bytes into the store's staging table; every
        ``batch_rows`` events ClickHouse parses them into line items and then orders (an order
        row is the marker that its items are complete), and only then is ``checkpoint`` called
        with the newest event time written. At the end the customer-context fields of every
        customer with a pending order are derived from the whole history.

        Args:
            metric: the chosen Placed Order metric.
            since: start (inclusive).
            until: end (exclusive).
            checkpoint: called with (watermark, rows so far) after each durable batch.

        Returns:
            What was written.
        """
        out = EventSyncOutcome()
        params = {"kid": self.kid, "tz": self.tz.key, "synced_at": _now()}

        def commit(watermark: datetime, rows: int) -> None:
            checkpoint(min(watermark, self.client.server_now()), rows)

        # A crashed run's pending rows are derived first, so they do not wait on this run's reads.
        recompute_context(self.warehouse, self.kid, self._next_version)
        pages = self._pages(metric, since, until, self.batch_rows, _order_rows)
        with (
            PageStage(self.warehouse, self.kid, "orders", tables=2, parse=ORDER_PAGES) as stage,
            closing(pages),
        ):
            # Line items first: an order row is the marker that its items are complete.
            self._load_pages(
                stage,
                pages,
                ["line_items_from_pages.sql", "orders_from_pages.sql"],
                params,
                out,
                "orders",
                commit,
                self.batch_rows,
                overlap=True,
            )
        recompute_context(self.warehouse, self.kid, self._next_version)
        release_memory(self.warehouse)
        return out

    # -- refunds -------------------------------------------------------------------------
    def sync_refunds(
        self,
        metrics: list[tuple[Metric, str]],
        since: datetime,
        until: datetime,
        checkpoint: Callable[[datetime, int], None],
    ) -> EventSyncOutcome:
        """Refunded Order and Cancelled Order events in ``[since, until)``.

        Each metric's pages are staged and parsed by ClickHouse like orders
        (``refunds_from_pages.sql``); the watermark moves once every metric is written, since
        the metrics are read one after the other over the same window.

        Args:
            metrics: (metric, event_type) pairs, event_type ``refund`` or ``cancelled``.
            since: start (inclusive).
            until: end (exclusive).
            checkpoint: called with (watermark, rows) once every metric is durably written.

        Returns:
            What was written.
        """
        out = EventSyncOutcome()
        synced_at = _now()
        refund_batch = max(1, self.batch_rows // REFUND_BATCH_DIVISOR)
        with PageStage(self.warehouse, self.kid, "refunds", tables=2) as stage:
            for metric, event_type in metrics:
                params = {
                    "kid": self.kid,
                    "store": self.store_public_id,
                    "event_type": event_type,
                    "metric_name": metric.name,
                    "synced_at": synced_at,
                }
                pages = self._pages(metric, since, until, refund_batch)
                with closing(pages):
                    self._load_pages(
                        stage,
                        pages,
                        ["refunds_from_pages.sql"],
                        params,
                        out,
                        "refunds",
                        lambda watermark, rows: None,  # committed once every metric is read
                        refund_batch,
                        overlap=True,
                    )
        if out.watermark is not None:
            checkpoint(min(out.watermark, self.client.server_now()), out.rows_written)
        return out
