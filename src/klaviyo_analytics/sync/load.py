"""Loading: transformed rows → Arrow tables → ClickHouse (the fast insert path).

Money columns are built straight from integer cents into ``decimal128(10, 2)`` buffers (no Python
``Decimal`` objects), timestamps from integer milliseconds. One insert is one ClickHouse block, so
a reader never sees half a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa

from klaviyo_analytics.sync.transform import RefundRow
from klaviyo_analytics.warehouse import Table, Warehouse

MONEY = pa.decimal128(10, 2)
_STR = pa.string()
_STRS = pa.list_(pa.string())


def money(values: Sequence[int]) -> pa.Array:
    """A ``decimal128(10, 2)`` array from integer cents."""
    arr = np.asarray(values, dtype=np.int64)
    words = np.empty((len(arr), 2), dtype=np.int64)
    words[:, 0] = arr
    words[:, 1] = arr >> 63  # sign extension into the high 64 bits
    return pa.Array.from_buffers(MONEY, len(arr), [None, pa.py_buffer(words.tobytes())])


def millis(values: Sequence[int]) -> pa.Array:
    """A ``timestamp[ms, UTC]`` array from epoch milliseconds."""
    return pa.array(np.asarray(values, dtype=np.int64), pa.timestamp("ms", tz="UTC"))


def seconds_const(when: datetime, n: int) -> pa.Array:
    """``n`` copies of ``when`` as ``timestamp[s, UTC]``."""
    return pa.array(np.full(n, int(when.timestamp()), dtype=np.int64), pa.timestamp("s", tz="UTC"))


def _const(value: str, n: int) -> pa.Array:
    return pa.array([value] * n, _STR)


def refunds_table(
    kid: str,
    store_public_id: str,
    rows: Sequence[RefundRow],
    synced_at: datetime,
    version: datetime,
) -> pa.Table:
    """Arrow table of ``refund_cancelled_orders`` rows."""
    n = len(rows)
    return pa.table(
        {
            "klaviyo_public_id": _const(kid, n),
            "event_id": pa.array([r.event_id for r in rows], _STR),
            "event_timestamp": millis([r.event_ms for r in rows]),
            "event_type": pa.array([r.event_type for r in rows], _STR),
            "original_order_id": pa.array([r.original_order_id for r in rows], _STR),
            "original_order_timestamp": millis([r.original_order_ms for r in rows]),
            "customer_id": pa.array([r.customer_id for r in rows], _STR),
            "customer_email": pa.array([r.customer_email for r in rows], _STR),
            "refund_amount": money([r.refund_cents for r in rows]),
            "refund_reason": pa.array([r.refund_reason for r in rows], _STR),
            "refund_currency": pa.array([r.refund_currency for r in rows], _STR),
            "line_items_affected": pa.array([r.line_items_affected for r in rows], _STRS),
            "products_affected": pa.array([r.products_affected for r in rows], _STRS),
            "quantities_refunded": pa.array(
                [r.quantities_refunded for r in rows], pa.list_(pa.uint32())
            ),
            "metric_id": pa.array([r.metric_id for r in rows], _STR),
            "metric_name": pa.array([r.metric_name for r in rows], _STR),
            "profile_id": pa.array([r.profile_id for r in rows], _STR),
            "event_properties": pa.array([r.event_properties for r in rows], _STR),
            "profile_properties": pa.array([r.profile_properties for r in rows], _STR),
            "store_public_ids": pa.array([[store_public_id]] * n, _STRS),
            "synced_at": seconds_const(synced_at, n),
            "inserted_at": seconds_const(version, n),
        }
    )


def insert(warehouse: Warehouse, table: Table, data: pa.Table) -> int:
    """Insert an Arrow table into one of the 12 tables; returns the rows written."""
    return warehouse.insert_arrow(table.value, data)
