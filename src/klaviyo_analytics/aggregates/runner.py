"""Run the aggregate jobs for one store: one ``INSERT ... SELECT`` per table, then cleanup.

Everything is computed inside ClickHouse from the synced tables read with FINAL. A run first
materialises its counted orders (with integer customer and order numbers), their line items
(with integer product, category and brand numbers) and the names behind those numbers once into
temporary tables (:func:`prepare_inputs`: ``agg_run_orders``, ``agg_run_lines``,
``agg_run_names``; per client, Memory engine, gone when the client closes) that every
order-based job of the run reads. The one Python step is the BG/NBD fit of the customers job:
a grouped ``(x, t_x, T, n)`` summary comes out in one query, scipy fits four parameters, and
they go back into the ``INSERT ... SELECT`` as query parameters. Recording the run in
``klaviyo_syncs`` happens only after a job's table is complete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from klaviyo_analytics.aggregates import bgnbd
from klaviyo_analytics.aggregates.errors import InvalidTimezoneError
from klaviyo_analytics.aggregates.registry import (
    AGGREGATES_SYNC_FIELD,
    Job,
    JobName,
    load_sql,
    parse_jobs,
)
from klaviyo_analytics.aggregates.versions import (
    count_current_and_older,
    delete_older,
    drop_parts,
    next_version,
    store_only_parts,
)
from klaviyo_analytics.observability import AGGREGATE_DURATION, AGGREGATE_RUNS, ROWS_WRITTEN
from klaviyo_analytics.warehouse import Warehouse

log = logging.getLogger(__name__)

DEFAULT_MIN_CO_PURCHASES = 3

#: Settings of each job's ``INSERT ... SELECT``. optimize_on_insert = 0: the run's keys are
#: unique, so the insert-time ReplacingMergeTree collapse (a second sort and merge of each block)
#: buys nothing; FINAL reads are unchanged. min_insert_block_size_rows: the parts are written
#: from blocks of ~256k rows instead of the default ~1M; sorting and writing the 1.3M-row
#: relationships table in 1M-row blocks measured 2-3x slower than in 128k-256k-row blocks at 1M
#: orders (bench/README.md, "Aggregates"); at most a handful more parts, merged in background.
_INSERT_SETTINGS: dict[str, Any] = {
    "optimize_on_insert": 0,
    "max_insert_threads": 2,
    "min_insert_block_size_rows": 262_144,
}

#: Settings of the ``INSERT ... SELECT`` of a job whose SELECT emits its rows already in the
#: table's key order (``Job.sorted_rows``): one insert stream keeps that order, and blocks are
#: only cut by size (``min_insert_block_size_bytes``, 256 MiB by default), so the rows go into
#: one part (at 1M orders) that MergeTree finds already sorted and writes without sorting. One
#: part also means no background merge that the run's cleanup ``DELETE`` would have to wait for.
_SORTED_INSERT_SETTINGS: dict[str, Any] = {
    "optimize_on_insert": 0,
    "max_insert_threads": 1,
    "min_insert_block_size_rows": 0,
}

#: The per-run temporary tables written by :func:`prepare_inputs` (``agg_run_counted`` and
#: ``agg_run_joined`` only live while the others are built).
RUN_INPUT_TABLES = (
    "agg_run_lines",
    "agg_run_names",
    "agg_run_joined",
    "agg_run_orders",
    "agg_run_counted",
)

#: The statements of :func:`prepare_inputs`, in order.
_PREPARE_STEPS = (
    "run_counted.sql",
    "run_orders.sql",
    "run_lines_joined.sql",
    "run_names.sql",
    "run_lines.sql",
)
#: Steps that only the line items need, and the scratch table each step leaves behind.
_LINE_STEPS = frozenset({"run_lines_joined.sql", "run_names.sql", "run_lines.sql"})
_SCRATCH_AFTER = {"run_orders.sql": "agg_run_counted", "run_lines.sql": "agg_run_joined"}


class AggregateRecorder(Protocol):
    """Where job completions are recorded (``MetadataStore`` satisfies it)."""

    def set_aggregate_last_run(self, klaviyo_public_id: str, field: str, ts: datetime) -> object:
        """Set ``field`` of the store's ``klaviyo_syncs`` document to ``ts``."""
        ...


@dataclass(frozen=True)
class JobResult:
    """What one job did.

    Attributes:
        job: the job name.
        table: the table it rewrote.
        rows: rows of this run now in the table for the store.
        duration_s: wall time of the job (insert, fit and cleanup).
        version: the run's version timestamp (naive UTC) carried by every row written.
        details: job-specific facts (the customers job reports its BG/NBD parameters).
    """

    job: str
    table: str
    rows: int
    duration_s: float
    version: datetime
    details: Mapping[str, Any] = field(default_factory=dict)


def resolve_timezone(timezone: str) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA name.

    Raises:
        InvalidTimezoneError: if the name is unknown.
    """
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidTimezoneError(timezone) from None


def today_in(timezone: str, now: datetime | None = None) -> date:
    """The account-local date of ``now`` (default: the clock)."""
    return (now or datetime.now(UTC)).astimezone(resolve_timezone(timezone)).date()


@dataclass(frozen=True)
class RunInputs:
    """The counted orders and line items of one store, as-of day and timezone, materialised.

    They live in the temporary tables ``agg_run_orders``, ``agg_run_lines`` and
    ``agg_run_names`` of the calling thread's client, so jobs given these inputs must run on the
    thread that prepared them.
    """

    store: str
    as_of: date
    timezone: str
    lines: bool = True

    def serves(self, job: Job, store: str, as_of: date, timezone: str) -> bool:
        """Whether ``job`` for this store, day and timezone can run on these inputs."""
        same = (self.store, self.as_of, self.timezone) == (store, as_of, timezone)
        return same and (self.lines or not job.reads_run_lines)


def prepare_inputs(
    warehouse: Warehouse, store: str, as_of: date, timezone: str, lines: bool = True
) -> RunInputs:
    """Materialise the run's counted orders and, if ``lines``, line items (replacing earlier ones).

    Counted orders: the store's orders up to ``as_of`` (account-local) that no cancellation dated
    up to ``as_of`` names, read with FINAL (docs/metrics.md, "Counted orders"). The line items
    (``agg_run_lines``) are most of the cost; a run whose jobs only read orders (account-daily)
    skips them.
    """
    resolve_timezone(timezone)
    drop_inputs(warehouse)
    params = {"store": store, "as_of": as_of, "tz": timezone}
    for step in _PREPARE_STEPS:
        if step in _LINE_STEPS and not lines:
            continue
        warehouse.command(load_sql(step), params)
        if step in _SCRATCH_AFTER:
            warehouse.command(f"DROP TEMPORARY TABLE IF EXISTS {_SCRATCH_AFTER[step]}")
    return RunInputs(store, as_of, timezone, lines)


def drop_inputs(warehouse: Warehouse) -> None:
    """Drop the calling thread's per-run temporary tables, if any."""
    for table in RUN_INPUT_TABLES:
        warehouse.command(f"DROP TEMPORARY TABLE IF EXISTS {table}")


def fit_churn_model(
    warehouse: Warehouse, params: Mapping[str, Any]
) -> tuple[bgnbd.BgNbdParams, int]:
    """Pull the store's grouped BG/NBD summary and fit it (or fall back).

    Args:
        warehouse: the warehouse.
        params: the job's query parameters (``store``, ``as_of``, ``tz``).

    Returns:
        The parameters (in days) and the number of customers summarised.
    """
    table = warehouse.arrow(load_sql("customer_profiles_summary.sql"), params)
    if table.num_rows == 0:
        return bgnbd.fallback(), 0
    x = np.asarray(table.column("x").to_numpy(), dtype=np.float64)
    t_x = np.asarray(table.column("t_x").to_numpy(), dtype=np.float64)
    big_t = np.asarray(table.column("big_t").to_numpy(), dtype=np.float64)
    n = np.asarray(table.column("n").to_numpy(), dtype=np.float64)
    return bgnbd.fit_or_fallback(x, t_x, big_t, n), int(n.sum())


def run_job(
    warehouse: Warehouse,
    job: Job,
    klaviyo_public_id: str,
    as_of: date,
    timezone: str,
    min_co_purchases: int = DEFAULT_MIN_CO_PURCHASES,
    now: datetime | None = None,
    inputs: RunInputs | None = None,
) -> JobResult:
    """Rewrite one aggregate table for one store.

    Args:
        warehouse: the warehouse.
        job: the job to run.
        klaviyo_public_id: the store's Klaviyo account id.
        as_of: the last account-local day whose orders count.
        timezone: the account's IANA timezone (days and hours are local to it).
        min_co_purchases: the relationships job's threshold.
        now: the clock (tests pin it); versions derive from it.
        inputs: the run's prepared inputs (:func:`prepare_inputs`, same store, day and
            timezone); without them a job that needs them prepares and drops its own.

    Returns:
        The job's result.

    Every run is recorded in the Prometheus metrics of :mod:`klaviyo_analytics.observability`:
    ``AGGREGATE_RUNS`` (outcome ``ok`` or ``error``), ``AGGREGATE_DURATION`` and, on success,
    ``ROWS_WRITTEN`` for the job's table (the rows of this run's version).

    Raises:
        ValueError: if ``inputs`` were prepared for another store, day or timezone.
    """
    started = time.perf_counter()
    try:
        result = _run_job_with_inputs(
            warehouse,
            job,
            klaviyo_public_id,
            as_of,
            timezone,
            min_co_purchases,
            now,
            inputs,
            started,
        )
    except Exception:
        AGGREGATE_RUNS.labels(job=job.name.value, outcome="error").inc()
        AGGREGATE_DURATION.labels(job=job.name.value).observe(time.perf_counter() - started)
        raise
    AGGREGATE_RUNS.labels(job=job.name.value, outcome="ok").inc()
    AGGREGATE_DURATION.labels(job=job.name.value).observe(result.duration_s)
    ROWS_WRITTEN.labels(table=job.table.value).inc(result.rows)
    return result


def _run_job_with_inputs(
    warehouse: Warehouse,
    job: Job,
    klaviyo_public_id: str,
    as_of: date,
    timezone: str,
    min_co_purchases: int,
    now: datetime | None,
    inputs: RunInputs | None,
    started: float,
) -> JobResult:
    if not job.reads_run_inputs:
        return _run_job(
            warehouse, job, klaviyo_public_id, as_of, timezone, min_co_purchases, now, started
        )
    if inputs is not None:
        if not inputs.serves(job, klaviyo_public_id, as_of, timezone):
            raise ValueError(f"run inputs {inputs} do not match this job")
        return _run_job(
            warehouse, job, klaviyo_public_id, as_of, timezone, min_co_purchases, now, started
        )
    prepare_inputs(warehouse, klaviyo_public_id, as_of, timezone, lines=job.reads_run_lines)
    try:
        return _run_job(
            warehouse, job, klaviyo_public_id, as_of, timezone, min_co_purchases, now, started
        )
    finally:
        drop_inputs(warehouse)


def _run_job(
    warehouse: Warehouse,
    job: Job,
    klaviyo_public_id: str,
    as_of: date,
    timezone: str,
    min_co_purchases: int,
    now: datetime | None,
    started: float,
) -> JobResult:
    # Listed before the version is chosen, so every row of these parts is older than it.
    older_parts = (
        [] if job.small_table else store_only_parts(warehouse, job.table, klaviyo_public_id)
    )
    version = next_version(warehouse, job.table, klaviyo_public_id, now)
    params: dict[str, Any] = {
        "store": klaviyo_public_id,
        "as_of": as_of,
        "tz": timezone,
        "version": version,
    }
    details: dict[str, Any] = {}
    if job.name is JobName.CUSTOMERS:
        fitted, customers = fit_churn_model(warehouse, params)
        params.update(r=fitted.r, alpha=fitted.alpha, a=fitted.a, b=fitted.b)
        details = {
            "bgnbd_fitted": fitted.fitted,
            "r": fitted.r,
            "alpha_days": fitted.alpha,
            "a": fitted.a,
            "b": fitted.b,
            "customers": customers,
        }
    if job.name is JobName.RELATIONSHIPS:
        params["min_co"] = min_co_purchases
        details = {"min_co_purchases": min_co_purchases}
    settings = _SORTED_INSERT_SETTINGS if job.sorted_rows else _INSERT_SETTINGS
    # written into the statement: per-call settings cost ~10 ms a statement on embedded chDB,
    # a sizeable part of the 15-minute jobs (Warehouse.command)
    warehouse.command(job.sql(), params, inline_settings=settings)
    # The big tables' earlier runs wrote parts of this store's rows only: dropping them whole
    # replaces masking their rows, which left every generation's part for FINAL reads (and
    # merges) to wade through until a merge folded them (bench/README.md, "Aggregates").
    drop_parts(warehouse, job.table, older_parts)
    # One FINAL read counts this run's rows and the older ones still visible; the delete (a
    # mutation, ~50 ms even when it masks nothing visible) only runs when a key of an earlier
    # run no longer qualifies and its row was not in a dropped part (small tables; big tables'
    # parts shared with other stores after a merge).
    rows, older = count_current_and_older(warehouse, job.table, klaviyo_public_id, version)
    if older:
        delete_older(warehouse, job.table, klaviyo_public_id, version)
    duration = time.perf_counter() - started
    log.info(
        "aggregate %s for %s: %d rows in %.2fs (version %s)",
        job.name,
        klaviyo_public_id,
        rows,
        duration,
        version,
    )
    return JobResult(job.name.value, job.table.value, rows, duration, version, details)


def run_aggregates(
    warehouse: Warehouse,
    klaviyo_public_id: str,
    jobs: Sequence[str | JobName] | None = None,
    as_of: date | None = None,
    timezone: str = "UTC",
    recorder: AggregateRecorder | None = None,
    min_co_purchases: int = DEFAULT_MIN_CO_PURCHASES,
) -> list[JobResult]:
    """Run aggregate jobs for one store, in registry order, recording each success.

    Args:
        warehouse: the warehouse.
        klaviyo_public_id: the store's Klaviyo account id.
        jobs: job names (``campaign-daily``, ``account-daily``, ``customers``, ``products``,
            ``relationships``); all five if ``None``.
        as_of: the last account-local day that counts; default today in ``timezone``.
        timezone: the account's IANA timezone.
        recorder: receives ``set_aggregate_last_run`` after each job's field is complete, and
            ``aggregates_last_sync`` once every requested job succeeded.
        min_co_purchases: baskets a pair needs to be kept by the relationships job.

    Returns:
        One result per job run.

    Raises:
        UnknownJobError: for a name that is not a job.
        InvalidTimezoneError: for an unknown timezone.
        ValueError: for ``min_co_purchases`` below 1.
        WarehouseError: if a statement fails (jobs before it stay recorded).
    """
    resolve_timezone(timezone)
    if min_co_purchases < 1:
        raise ValueError("min_co_purchases must be at least 1")
    selected = parse_jobs(None if jobs is None else ",".join(str(j) for j in jobs))
    day = as_of or today_in(timezone)
    results: list[JobResult] = []
    pending_fields = {job.sync_field for job in selected}
    inputs: RunInputs | None = None
    need_lines = any(job.reads_run_lines for job in selected)
    try:
        for index, job in enumerate(selected):
            job_started = datetime.now(UTC)
            if inputs is None and job.reads_run_inputs:
                inputs = prepare_inputs(warehouse, klaviyo_public_id, day, timezone, need_lines)
            results.append(
                run_job(
                    warehouse,
                    job,
                    klaviyo_public_id,
                    day,
                    timezone,
                    min_co_purchases,
                    inputs=inputs,
                )
            )
            # Two jobs share campaign_aggregates_last_run: record it when the last is done.
            later = {j.sync_field for j in selected[index + 1 :]}
            if recorder is not None and job.sync_field not in later:
                recorder.set_aggregate_last_run(klaviyo_public_id, job.sync_field, job_started)
                pending_fields.discard(job.sync_field)
    finally:
        if inputs is not None:
            drop_inputs(warehouse)
    if recorder is not None and not pending_fields:
        recorder.set_aggregate_last_run(klaviyo_public_id, AGGREGATES_SYNC_FIELD, datetime.now(UTC))
    return results
