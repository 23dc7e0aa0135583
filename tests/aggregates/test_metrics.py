"""Prometheus metrics recorded by every aggregate job run (ok and error outcomes)."""

from __future__ import annotations

from datetime import date

import pytest

from klaviyo_analytics.aggregates import JOBS, run_aggregates
from klaviyo_analytics.aggregates.registry import JobName
from klaviyo_analytics.aggregates.runner import RunInputs, run_job
from klaviyo_analytics.observability import REGISTRY
from klaviyo_analytics.warehouse import Warehouse
from tests.aggregates.builder import StoreData

AS_OF = date(2024, 12, 31)


def _sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_successful_runs_record_outcome_duration_and_rows(
    loaded: Warehouse, store_data: StoreData
) -> None:
    jobs = [JobName.PRODUCTS, JobName.RELATIONSHIPS]
    before = {
        job: (
            _sample("klaviyo_analytics_aggregate_runs_total", {"job": job, "outcome": "ok"}),
            _sample("klaviyo_analytics_aggregate_runs_total", {"job": job, "outcome": "error"}),
            _sample("klaviyo_analytics_aggregate_duration_seconds_count", {"job": job}),
            _sample("klaviyo_analytics_aggregate_duration_seconds_sum", {"job": job}),
            _sample("klaviyo_analytics_rows_written_total", {"table": JOBS[job].table.value}),
        )
        for job in jobs
    }
    results = run_aggregates(loaded, store_data.store, jobs, AS_OF, "UTC")
    assert [r.job for r in results] == [j.value for j in jobs]
    for job, result in zip(jobs, results, strict=True):
        ok, error, count, total, rows = before[job]
        assert result.rows > 0
        assert (
            _sample("klaviyo_analytics_aggregate_runs_total", {"job": job, "outcome": "ok"})
            == ok + 1
        )
        assert (
            _sample("klaviyo_analytics_aggregate_runs_total", {"job": job, "outcome": "error"})
            == error
        )
        assert (
            _sample("klaviyo_analytics_aggregate_duration_seconds_count", {"job": job}) == count + 1
        )
        assert _sample(
            "klaviyo_analytics_aggregate_duration_seconds_sum", {"job": job}
        ) == pytest.approx(total + result.duration_s)
        assert (
            _sample("klaviyo_analytics_rows_written_total", {"table": JOBS[job].table.value})
            == rows + result.rows
        )


def test_failed_run_records_error_outcome(loaded: Warehouse, store_data: StoreData) -> None:
    job = JOBS[JobName.CUSTOMERS]
    labels = {"job": job.name.value}
    ok = _sample("klaviyo_analytics_aggregate_runs_total", {**labels, "outcome": "ok"})
    error = _sample("klaviyo_analytics_aggregate_runs_total", {**labels, "outcome": "error"})
    count = _sample("klaviyo_analytics_aggregate_duration_seconds_count", labels)
    rows = _sample("klaviyo_analytics_rows_written_total", {"table": job.table.value})
    wrong = RunInputs("another-store", AS_OF, "UTC")
    with pytest.raises(ValueError):
        run_job(loaded, job, store_data.store, AS_OF, "UTC", inputs=wrong)
    assert _sample("klaviyo_analytics_aggregate_runs_total", {**labels, "outcome": "error"}) == (
        error + 1
    )
    assert _sample("klaviyo_analytics_aggregate_runs_total", {**labels, "outcome": "ok"}) == ok
    assert _sample("klaviyo_analytics_aggregate_duration_seconds_count", labels) == count + 1
    assert _sample("klaviyo_analytics_rows_written_total", {"table": job.table.value}) == rows
