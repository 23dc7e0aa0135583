"""Event-based data types: orders (+ line items) from Placed Order, refunds and cancellations.

Events are read oldest first in one cursor stream; each page is transformed and buffered, and full
buffers are inserted into ClickHouse as Arrow blocks, so memory stays flat however large the store.
After each insert the customer-context fields of every customer the batch touched are recomputed
from the warehouse's whole history (not just this run's rows), changed rows are re-inserted with a
newer RMT version, and only then does the caller move the watermark.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from klaviyo_analytics.klaviyo.models import EventPage, Metric
from klaviyo_analytics.sync.load import insert, line_items_table, orders_table, refunds_table
from klaviyo_analytics.sync.pipeline import prefetch, relaxed_gc, release_memory
from klaviyo_analytics.sync.scope import ScopedSync, StoreScope
from klaviyo_analytics.sync.transform import (
    LineItemRow,
    OrderRow,
    RefundRow,
    order_from_event,
    refund_from_event,
)
from klaviyo_analytics.warehouse import Table

#: Test hook: SIGKILL this process after this many inserted batches (crash-safety tests only).
KILL_AFTER_BATCHES_ENV = "KLAVIYO_ANALYTICS_TEST_KILL_AFTER_BATCHES"

_ORDER_COLUMNS = (
    "klaviyo_public_id, order_id, customer_id, customer_email, order_value, order_date, "
    "order_timestamp, item_count, product_count, is_first_order, order_count_for_customer, "
    "days_since_last_order, channel, device_type, shipping_city, shipping_state, "
    "shipping_country, shipping_zip, discount_amount, discount_code, discount_type, "
    "customer_tags, customer_total_spent, customer_order_count, utm_source, utm_medium, "
    "utm_campaign, synced_at, inserted_at"
)

# Recompute is_first_order / order_count_for_customer / days_since_last_order for the given
# customers over their whole history, and write back only the rows whose values changed.
_RECOMPUTE_CONTEXT = f"""
INSERT INTO klaviyo_orders ({_ORDER_COLUMNS})
SELECT klaviyo_public_id, order_id, customer_id, customer_email, order_value, order_date,
       order_timestamp, item_count, product_count, new_first, new_count, new_days, channel,
       device_type, shipping_city, shipping_state, shipping_country, shipping_zip,
       discount_amount, discount_code, discount_type, customer_tags, customer_total_spent,
       customer_order_count, utm_source, utm_medium, utm_campaign, synced_at,
       {{version:DateTime}}
FROM (
    SELECT *,
           toUInt8(seq = 1) AS new_first,
           toUInt32(seq) AS new_count,
           toInt32(if(seq = 1, 0, dateDiff('day', prev_date, order_date))) AS new_days
    FROM (
        SELECT *,
               row_number() OVER w AS seq,
               lagInFrame(order_date) OVER w AS prev_date
        FROM klaviyo_orders AS o FINAL
        WHERE o.klaviyo_public_id = {{kid:String}}
          AND o.customer_id IN (SELECT arrayJoin({{customers:Array(String)}}))
        WINDOW w AS (PARTITION BY customer_id ORDER BY order_timestamp, order_id
                     ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
    )
)
WHERE new_first != is_first_order OR new_count != order_count_for_customer
   OR new_days != days_since_last_order
"""


def _version(last: datetime | None) -> datetime:
    """The RMT version of a write: now in whole seconds, never before the previous one.

    Equal versions are resolved by insertion order, which is what we want for re-writes.
    """
    now = datetime.now(UTC).replace(microsecond=0)
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

    # -- orders --------------------------------------------------------------------------
    def sync_orders(
        self,
        metric: Metric,
        since: datetime,
        until: datetime,
        checkpoint: Callable[[datetime, int], None],
    ) -> EventSyncOutcome:
        """Orders and line items from Placed Order events in ``[since, until)``.

        Events stream oldest first; every ``batch_rows`` orders are inserted, the customer
        context of the customers they touch is recomputed, and only then is ``checkpoint``
        called with the newest event time written.

        Args:
            metric: the chosen Placed Order metric.
            since: start (inclusive).
            until: end (exclusive).
            checkpoint: called with (watermark, rows so far) after each durable batch.

        Returns:
            What was written.
        """
        out = EventSyncOutcome()
        synced_at = datetime.now(UTC)
        orders: dict[str, tuple[OrderRow, list[LineItemRow]]] = {}
        customers: set[str] = set()

        def commit() -> None:
            out.rows_written += self._flush_orders(orders, customers, synced_at)
            self.recompute_context(customers)
            release_memory(self.warehouse)
            if out.watermark is not None:
                checkpoint(min(out.watermark, self.client.server_now()), out.rows_written)

        pages = prefetch(
            self.client.iter_event_pages(metric.id, since, until, page_size=self.page_size)
        )
        with relaxed_gc(), closing(pages):
            self._read_orders(pages, orders, out, commit)
            commit()
        return out

    def _read_orders(
        self,
        pages: Iterator[EventPage],
        orders: dict[str, tuple[OrderRow, list[LineItemRow]]],
        out: EventSyncOutcome,
        commit: Callable[[], None],
    ) -> None:
        for page in pages:
            for event in page.events:
                mapped = order_from_event(event, page.profiles.get(event.profile_id or ""), self.tz)
                if mapped is not None:
                    # Duplicates across pages collapse here (and in RMT if they straddle).
                    orders[mapped[0].order_id] = mapped
            if page.events:
                newest = max(e.datetime for e in page.events)
                if out.watermark is None or newest > out.watermark:
                    out.watermark = newest
            out.events_read += len(page.events)
            self.progress.advance("orders", len(page.events))
            if len(orders) >= self.batch_rows:
                commit()

    def _flush_orders(
        self,
        orders: dict[str, tuple[OrderRow, list[LineItemRow]]],
        customers: set[str],
        synced_at: datetime,
    ) -> int:
        if not orders:
            return 0
        rows = [o for o, _ in orders.values()]
        items = [li for _, lis in orders.values() for li in lis]
        version = self._next_version()
        items_data = line_items_table(self.kid, items, synced_at, version)
        orders_data = orders_table(self.kid, rows, [(1, 1, 0)] * len(rows), synced_at, version)
        customers.update(r.customer_id for r in rows)
        # The Python row objects are not needed once the Arrow tables exist: free them before
        # the inserts allocate (lowers the in-batch peak). A failed insert fails the data type,
        # so the buffer is never re-used.
        orders.clear()
        del rows, items
        # Line items first: an order row is the marker that its items are complete.
        written = insert(self.warehouse, Table.KLAVIYO_ORDER_LINE_ITEMS, items_data)
        del items_data
        written += insert(self.warehouse, Table.KLAVIYO_ORDERS, orders_data)
        del orders_data
        self._after_batch()
        return written

    def recompute_context(self, customers: set[str]) -> int:
        """Re-derive the customer-context fields of ``customers`` from their whole history.

        Only rows whose values change are re-written (with a newer version), so a re-run that
        changes nothing writes nothing here.

        Args:
            customers: customer ids whose orders were written; cleared afterwards.

        Returns:
            How many customers were recomputed.
        """
        ids = sorted(customers)
        step = 50_000
        for i in range(0, len(ids), step):
            self.warehouse.command(
                _RECOMPUTE_CONTEXT,
                {"kid": self.kid, "customers": ids[i : i + step], "version": self._next_version()},
            )
        customers.clear()
        return len(ids)

    # -- refunds -------------------------------------------------------------------------
    def sync_refunds(
        self,
        metrics: list[tuple[Metric, str]],
        since: datetime,
        until: datetime,
        checkpoint: Callable[[datetime, int], None],
    ) -> EventSyncOutcome:
        """Refunded Order and Cancelled Order events in ``[since, until)``.

        Args:
            metrics: (metric, event_type) pairs, event_type ``refund`` or ``cancelled``.
            since: start (inclusive).
            until: end (exclusive).
            checkpoint: called with (watermark, rows) once every metric is durably written.

        Returns:
            What was written.
        """
        out = EventSyncOutcome()
        synced_at = datetime.now(UTC)
        for metric, event_type in metrics:
            buffer: dict[str, RefundRow] = {}
            pages = prefetch(
                self.client.iter_event_pages(metric.id, since, until, page_size=self.page_size)
            )
            with relaxed_gc(), closing(pages):
                self._read_refunds(pages, metric, event_type, buffer, out, synced_at)
            out.rows_written += self._flush_refunds(buffer, synced_at)
        if out.watermark is not None:
            checkpoint(min(out.watermark, self.client.server_now()), out.rows_written)
        return out

    def _read_refunds(
        self,
        pages: Iterator[EventPage],
        metric: Metric,
        event_type: str,
        buffer: dict[str, RefundRow],
        out: EventSyncOutcome,
        synced_at: datetime,
    ) -> None:
        for page in pages:
            for event in page.events:
                if out.watermark is None or event.datetime > out.watermark:
                    out.watermark = event.datetime
                profile = page.profiles.get(event.profile_id or "")
                buffer[event.id] = refund_from_event(
                    event,
                    profile,
                    event_type=event_type,
                    metric_name=metric.name,
                    properties_json=orjson.dumps(dict(event.properties)).decode(),
                    profile_json=orjson.dumps(dict(profile.properties) if profile else {}).decode(),
                )
            out.events_read += len(page.events)
            self.progress.advance("refunds", len(page.events))
            if len(buffer) >= self.batch_rows:
                out.rows_written += self._flush_refunds(buffer, synced_at)

    def _flush_refunds(self, buffer: dict[str, RefundRow], synced_at: datetime) -> int:
        if not buffer:
            return 0
        written = insert(
            self.warehouse,
            Table.REFUND_CANCELLED_ORDERS,
            refunds_table(
                self.kid,
                self.store_public_id,
                list(buffer.values()),
                synced_at,
                self._next_version(),
            ),
        )
        buffer.clear()
        self._after_batch()
        release_memory(self.warehouse)
        return written
