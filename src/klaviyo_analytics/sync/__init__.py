"""cron_sync: every connected Klaviyo account into the warehouse, incrementally.

Stages: :mod:`~klaviyo_analytics.sync.runner` (orchestration and state),
:mod:`~klaviyo_analytics.sync.events` and :mod:`~klaviyo_analytics.sync.reports` (fetch and
load per data type), :mod:`~klaviyo_analytics.sync.pages` (raw event pages parsed by ClickHouse
with the statements in ``sync/sql``), :mod:`~klaviyo_analytics.sync.pipeline` (fetch-ahead and
memory release) and :mod:`~klaviyo_analytics.sync.transform` (account-local days).
"""

from klaviyo_analytics.sync.progress import LogProgress, NullProgress, Progress, RichProgress
from klaviyo_analytics.sync.runner import (
    DataType,
    DataTypeResult,
    StoreSyncResult,
    choose_metric,
    parse_data_types,
    sync_all,
    sync_store,
)

__all__ = [
    "DataType",
    "DataTypeResult",
    "LogProgress",
    "NullProgress",
    "Progress",
    "RichProgress",
    "StoreSyncResult",
    "choose_metric",
    "parse_data_types",
    "sync_all",
    "sync_store",
]
