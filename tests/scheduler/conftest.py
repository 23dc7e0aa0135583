"""Fixtures of the scheduler tests: an app context on a temp data dir, stores, a gated runner."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from klaviyo_analytics.context import AppContext
from klaviyo_analytics.metadata import SecretBox
from klaviyo_analytics.scheduler import Job, JobControl
from klaviyo_analytics.scheduler.cadence import sync_data_types
from klaviyo_analytics.settings import Settings
from klaviyo_analytics.warehouse import Warehouse


@pytest.fixture(scope="session")
def secret_key() -> str:
    return SecretBox.generate_key()


@pytest.fixture
def ctx(tmp_path: Path, secret_key: str) -> Iterator[AppContext]:
    """An app context whose metadata store is the embedded one in a temp dir (no warehouse)."""
    context = AppContext(Settings(data_dir=tmp_path, secret_key=secret_key))
    yield context
    context.close()


@pytest.fixture
def wh_ctx(
    tmp_path: Path, secret_key: str, chdb_url: str, warehouse: Warehouse
) -> Iterator[AppContext]:
    """An app context on the session's chDB engine, with a fresh migrated database."""
    settings = Settings(data_dir=tmp_path, secret_key=secret_key, clickhouse_url=chdb_url)
    context = AppContext(settings, database=warehouse.database)
    yield context
    context.close()


def add_stores(context: AppContext, *ids: str) -> None:
    for n, public_id in enumerate(ids):
        context.metadata.add_store(
            public_id, f"Kid{n:03d}", api_key=f"pk_test{n:04d}", public_id=public_id
        )


class Gate:
    """A job runner that blocks until released, counting calls and the peak concurrency.

    With ``record_sync``, sync jobs record success of every data type in the real metadata
    store when released, as the sync does, so the next tick sees fresh timestamps.
    """

    def __init__(self, cooperative: bool = True, record_sync: bool = False) -> None:
        self.release = threading.Event()
        self.cooperative = cooperative
        self.record_sync = record_sync
        self.calls: list[Job] = []
        self.running = 0
        self.peak = 0
        self._lock = threading.Lock()
        self._started = threading.Condition(self._lock)

    def __call__(self, context: AppContext, job: Job, control: JobControl) -> str:
        with self._lock:
            self.calls.append(job)
            self.running += 1
            self.peak = max(self.peak, self.running)
            self._started.notify_all()
        try:
            while not self.release.wait(0.01):
                if self.cooperative:
                    control.checkpoint()
            if job.kind == "sync" and self.record_sync:
                kid = context.metadata.get_store(job.store_public_id).klaviyo_integration.public_id
                for data_type in sync_data_types():
                    context.metadata.record_data_type_success(
                        kid,
                        data_type,
                        watermark=None,
                        rows_written=0,
                        finished_at=datetime.now(UTC),
                    )
            return f"{job.kind} {job.store_public_id}"
        finally:
            with self._lock:
                self.running -= 1

    def wait_started(self, n: int, timeout: float = 5.0) -> None:
        with self._lock:
            assert self._started.wait_for(lambda: len(self.calls) >= n, timeout), self.calls
