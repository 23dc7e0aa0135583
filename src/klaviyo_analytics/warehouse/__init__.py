"""The ClickHouse warehouse: client wrapper, FINAL query layer, tables and migrations."""

from klaviyo_analytics.warehouse.client import Warehouse
from klaviyo_analytics.warehouse.migrator import available_migrations, migrate, row_counts, status
from klaviyo_analytics.warehouse.query import apply_final
from klaviyo_analytics.warehouse.tables import AGGREGATES, SYNCED, Table

__all__ = [
    "AGGREGATES",
    "SYNCED",
    "Table",
    "Warehouse",
    "apply_final",
    "available_migrations",
    "migrate",
    "row_counts",
    "status",
]
