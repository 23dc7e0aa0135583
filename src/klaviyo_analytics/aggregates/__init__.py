"""cron_aggregates: the five aggregate tables, rebuilt per store inside ClickHouse.

Reads the seven synced tables (always with FINAL) and writes ``campaign_daily_aggregates``,
``account_metrics_daily``, ``customer_profiles``, ``products_master`` and
``product_relationships_optimized``; it never writes the synced tables.
"""

from klaviyo_analytics.aggregates.errors import (
    AggregateError,
    InvalidTimezoneError,
    UnknownJobError,
)
from klaviyo_analytics.aggregates.registry import JOBS, Job, JobName, parse_jobs
from klaviyo_analytics.aggregates.runner import (
    AggregateRecorder,
    JobResult,
    run_aggregates,
    run_job,
    today_in,
)
from klaviyo_analytics.aggregates.tags import save_campaign_tags

__all__ = [
    "JOBS",
    "AggregateError",
    "AggregateRecorder",
    "InvalidTimezoneError",
    "Job",
    "JobName",
    "JobResult",
    "UnknownJobError",
    "parse_jobs",
    "run_aggregates",
    "run_job",
    "save_campaign_tags",
    "today_in",
]
