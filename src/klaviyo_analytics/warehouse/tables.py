"""The 12 warehouse tables of the spec, as code constants.

Identifiers in SQL come only from here (never from user input). ``SYNCED`` tables are written by
cron_sync, ``AGGREGATES`` by cron_aggregates.
"""

from __future__ import annotations

from enum import StrEnum


class Table(StrEnum):
    """A ClickHouse table of ``spec/data-model.md``; all are ReplacingMergeTree."""

    CAMPAIGN_STATISTICS = "campaign_statistics"
    FLOW_STATISTICS = "flow_statistics"
    FORM_STATISTICS = "form_statistics"
    SEGMENT_STATISTICS = "segment_statistics"
    KLAVIYO_ORDERS = "klaviyo_orders"
    KLAVIYO_ORDER_LINE_ITEMS = "klaviyo_order_line_items"
    REFUND_CANCELLED_ORDERS = "refund_cancelled_orders"
    CUSTOMER_PROFILES = "customer_profiles"
    PRODUCTS_MASTER = "products_master"
    PRODUCT_RELATIONSHIPS_OPTIMIZED = "product_relationships_optimized"
    CAMPAIGN_DAILY_AGGREGATES = "campaign_daily_aggregates"
    ACCOUNT_METRICS_DAILY = "account_metrics_daily"

    @property
    def final_view(self) -> str:
        """The name of the ``SELECT * FROM <table> FINAL`` view for BI tools."""
        return f"{self.value}_final"


SYNCED: tuple[Table, ...] = tuple(list(Table)[:7])
AGGREGATES: tuple[Table, ...] = tuple(list(Table)[7:])
TABLE_NAMES: frozenset[str] = frozenset(t.value for t in Table)

VERSION_COLUMN: dict[Table, str] = {
    Table.CAMPAIGN_STATISTICS: "updated_at",
    Table.FLOW_STATISTICS: "updated_at",
    Table.FORM_STATISTICS: "updated_at",
    Table.SEGMENT_STATISTICS: "updated_at",
    Table.KLAVIYO_ORDERS: "inserted_at",
    Table.KLAVIYO_ORDER_LINE_ITEMS: "inserted_at",
    Table.REFUND_CANCELLED_ORDERS: "inserted_at",
    Table.CUSTOMER_PROFILES: "last_updated",
    Table.PRODUCTS_MASTER: "last_updated",
    Table.PRODUCT_RELATIONSHIPS_OPTIMIZED: "calculated_at",
    Table.CAMPAIGN_DAILY_AGGREGATES: "processed_at",
    Table.ACCOUNT_METRICS_DAILY: "timestamp",
}
