"""Pull one store's synced rows out of chDB as Arrow (through the warehouse's FINAL layer).

Shared by the DuckDB peers (exported once per store size, then loaded into DuckDB) and the
pandas peers (each job pulls the tables it needs, as a user would, then ``to_pandas``).
"""

from __future__ import annotations

import pyarrow as pa

from klaviyo_analytics.warehouse import Warehouse

#: table → the columns the jobs read (docs/metrics.md).
COLUMNS: dict[str, str] = {
    "orders": (
        "order_id, customer_id, customer_email, order_value, order_timestamp, is_first_order, "
        "discount_amount FROM klaviyo_orders"
    ),
    "lines": (
        "order_id, product_id, product_name, product_brand, sku, collections, product_type, "
        "quantity, unit_price, line_total, discount_amount FROM klaviyo_order_line_items"
    ),
    "refunds": (
        "event_timestamp, event_type, original_order_id, refund_amount FROM refund_cancelled_orders"
    ),
    "campaigns": (
        "campaign_id, campaign_name, send_channel, date, recipients, delivered, opens, clicks, "
        "conversions, conversion_value, open_rate_pct, click_rate_pct, conversion_rate_pct "
        "FROM campaign_statistics"
    ),
    "flows": (
        "flow_id, flow_message_id, send_channel, date, recipients, opens, clicks, conversions, "
        "conversion_value FROM flow_statistics"
    ),
    "tags": "campaign_id, tags FROM campaign_tags",
}


def pull(wh: Warehouse, store: str, name: str) -> pa.Table:
    """One synced table's rows of ``store`` (FINAL is added by the warehouse layer)."""
    return wh.arrow(f"SELECT {COLUMNS[name]} WHERE klaviyo_public_id = {{s:String}}", {"s": store})


def pull_all(wh: Warehouse, store: str) -> dict[str, pa.Table]:
    """All six tables the jobs read."""
    return {name: pull(wh, store, name) for name in COLUMNS}
