"""The five cron_aggregates jobs: name, target table, SQL files, cadence and sync-status field.

A job's SQL lives in ``sql/<table>.sql`` (plus helper reads named after the same table); the
scheduler decides what is due from the ``klaviyo_syncs`` field and the cadence listed here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from klaviyo_analytics.aggregates.errors import UnknownJobError
from klaviyo_analytics.warehouse.sqlfiles import read_sql
from klaviyo_analytics.warehouse.tables import VERSION_COLUMN, Table


class JobName(StrEnum):
    """Names accepted by ``klaviyo-analytics aggregate --only``."""

    CAMPAIGN_DAILY = "campaign-daily"
    ACCOUNT_DAILY = "account-daily"
    CUSTOMERS = "customers"
    PRODUCTS = "products"
    RELATIONSHIPS = "relationships"


@dataclass(frozen=True)
class Job:
    """One aggregate job.

    Attributes:
        name: the CLI name.
        table: the aggregate table it rewrites for one store.
        sql_file: the ``INSERT ... SELECT`` that fills ``table``.
        cadence: how often the scheduler runs it.
        sync_field: the ``klaviyo_syncs`` field set after it succeeds.
        summary_file: an extra read the job runs first (the BG/NBD summary), if any.
        reads_run_inputs: whether its SQL reads the run's counted orders
            (the temporary table ``agg_run_orders``).
        reads_run_lines: whether it also reads the run's counted line items
            (``agg_run_lines``, the costly part of the run's inputs).
        sorted_rows: whether its SELECT emits the rows in the table's key order (the runner
            then inserts them in one stream, so they are written without a sort).
        small_table: whether its table holds few rows per store (days, products): the runner
            counts this run's and older visible rows in one FINAL read and deletes only when
            an older row is visible, instead of always deleting and then counting.
    """

    name: JobName
    table: Table
    sql_file: str
    cadence: timedelta
    sync_field: str
    summary_file: str | None = None
    reads_run_inputs: bool = True
    reads_run_lines: bool = True
    sorted_rows: bool = False
    small_table: bool = False

    @property
    def version_column(self) -> str:
        """The table's ReplacingMergeTree version column."""
        return VERSION_COLUMN[self.table]

    def sql(self) -> str:
        """The job's ``INSERT ... SELECT`` text."""
        return load_sql(self.sql_file)


JOBS: dict[JobName, Job] = {
    JobName.CAMPAIGN_DAILY: Job(
        JobName.CAMPAIGN_DAILY,
        Table.CAMPAIGN_DAILY_AGGREGATES,
        "campaign_daily_aggregates.sql",
        timedelta(minutes=15),
        "campaign_aggregates_last_run",
        reads_run_inputs=False,
        reads_run_lines=False,
        small_table=True,
    ),
    JobName.ACCOUNT_DAILY: Job(
        JobName.ACCOUNT_DAILY,
        Table.ACCOUNT_METRICS_DAILY,
        "account_metrics_daily.sql",
        timedelta(minutes=15),
        "campaign_aggregates_last_run",
        reads_run_lines=False,
        small_table=True,
    ),
    JobName.CUSTOMERS: Job(
        JobName.CUSTOMERS,
        Table.CUSTOMER_PROFILES,
        "customer_profiles.sql",
        timedelta(hours=1),
        "customer_profiles_last_run",
        summary_file="customer_profiles_summary.sql",
    ),
    JobName.PRODUCTS: Job(
        JobName.PRODUCTS,
        Table.PRODUCTS_MASTER,
        "products_master.sql",
        timedelta(hours=1),
        "product_analytics_last_run",
        small_table=True,
    ),
    JobName.RELATIONSHIPS: Job(
        JobName.RELATIONSHIPS,
        Table.PRODUCT_RELATIONSHIPS_OPTIMIZED,
        "product_relationships_optimized.sql",
        timedelta(hours=4),
        "product_relationships_last_run",
        sorted_rows=True,
    ),
}

#: Set once every requested job of a run has succeeded.
AGGREGATES_SYNC_FIELD = "aggregates_last_sync"


def load_sql(filename: str) -> str:
    """Read one file of ``aggregates/sql``."""
    return read_sql("klaviyo_analytics.aggregates", filename)


def parse_jobs(names: str | None) -> list[Job]:
    """Jobs from a comma-separated ``--only`` value, in registry order; all if ``None``.

    Raises:
        UnknownJobError: for a name that is not a job.
    """
    if names is None:
        return list(JOBS.values())
    wanted: set[JobName] = set()
    for raw in names.split(","):
        name = raw.strip()
        if not name:
            continue
        try:
            wanted.add(JobName(name))
        except ValueError:
            raise UnknownJobError(name, [j.value for j in JobName]) from None
    if not wanted:
        raise UnknownJobError(names, [j.value for j in JobName])
    return [job for key, job in JOBS.items() if key in wanted]
