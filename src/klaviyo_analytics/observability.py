"""Prometheus metrics and structured logging shared by the sync, aggregates, scheduler and API.

The metric objects live here, once per process, so every layer records into the same registry
and ``/metrics`` exposes them all. Labels never carry secrets: only store and account ids, data
types, job names and status codes.
"""

from __future__ import annotations

import logging
import sys

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

SYNC_RUNS = Counter(
    "klaviyo_analytics_sync_runs_total",
    "Sync runs per store, data type and outcome.",
    ["store", "data_type", "outcome"],
    registry=REGISTRY,
)
SYNC_DURATION = Histogram(
    "klaviyo_analytics_sync_duration_seconds",
    "Duration of one data type's sync for one store.",
    ["data_type"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
ROWS_WRITTEN = Counter(
    "klaviyo_analytics_rows_written_total",
    "Rows written to the warehouse per table.",
    ["table"],
    registry=REGISTRY,
)
KLAVIYO_CALLS = Counter(
    "klaviyo_analytics_klaviyo_requests_total",
    "Requests sent to the Klaviyo API per endpoint and HTTP status.",
    ["endpoint", "status"],
    registry=REGISTRY,
)
KLAVIYO_RATE_LIMITED = Counter(
    "klaviyo_analytics_klaviyo_429_total",
    "429 responses from the Klaviyo API per endpoint.",
    ["endpoint"],
    registry=REGISTRY,
)
LAST_SUCCESS = Gauge(
    "klaviyo_analytics_last_success_timestamp_seconds",
    "Unix time of the last successful sync per store and data type.",
    ["store", "data_type"],
    registry=REGISTRY,
)
AGGREGATE_DURATION = Histogram(
    "klaviyo_analytics_aggregate_duration_seconds",
    "Duration of one aggregate job for one store.",
    ["job"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
    registry=REGISTRY,
)
AGGREGATE_RUNS = Counter(
    "klaviyo_analytics_aggregate_runs_total",
    "Aggregate job runs per job and outcome.",
    ["job", "outcome"],
    registry=REGISTRY,
)


class JsonFormatter(logging.Formatter):
    """One JSON object per log line, with any ``extra=`` fields included."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self._STANDARD and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(payload, default=str).decode()


def configure_logging(level: str = "INFO", json_logs: bool | None = None) -> None:
    """Log to stderr: JSON lines when not on a terminal (or when asked), plain text otherwise."""
    use_json = (not sys.stderr.isatty()) if json_logs is None else json_logs
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter() if use_json else logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    )
    root = logging.getLogger("klaviyo_analytics")
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    root.propagate = False


API_REQUESTS = Counter(
    "klaviyo_analytics_api_requests_total",
    "HTTP API requests per method, route template and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
API_REQUEST_DURATION = Histogram(
    "klaviyo_analytics_api_request_duration_seconds",
    "HTTP API request duration per route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
