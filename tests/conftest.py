"""Shared fixtures: one embedded ClickHouse engine per test session, a fresh database per test.

chDB can open one data path per process, so the engine lives for the whole session in a temp
dir and each test gets its own database with all migrations applied (clickhouse-connect's
random-database idea). Tests that need the warehouse ask for the ``warehouse`` fixture.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from klaviyo_analytics.warehouse import Warehouse, migrate

# The shared truth checks assert in a helper module: let pytest show their diffs on failure.
pytest.register_assert_rewrite("truthcheck", "tests.sync.truthcheck")

SHARED = Path(
    os.environ.get("KLAVIYO_ANALYTICS_SHARED", Path(__file__).resolve().parents[2] / "shared")
)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The read-only reference folder (spec, Klaviyo docs, datasets)."""
    if not SHARED.is_dir():
        pytest.fail(f"reference folder {SHARED} not found; set KLAVIYO_ANALYTICS_SHARED")
    return SHARED


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of the session's embedded ClickHouse engine, kept open for the whole session."""
    url = f"chdb://{tmp_path_factory.mktemp('clickhouse')}"
    keepalive = Warehouse(url)
    assert keepalive.ping()
    yield url
    keepalive.close()


@pytest.fixture
def warehouse(chdb_url: str) -> Iterator[Warehouse]:
    """A fresh, migrated database on the session engine."""
    wh = Warehouse(chdb_url, database=f"t_{uuid.uuid4().hex[:12]}")
    migrate(wh)
    try:
        yield wh
    finally:
        wh.command(f"DROP DATABASE IF EXISTS {wh.database}")
        wh.close()


@pytest.fixture
def empty_warehouse(chdb_url: str) -> Iterator[Warehouse]:
    """A fresh database on the session engine with no migrations applied."""
    wh = Warehouse(chdb_url, database=f"t_{uuid.uuid4().hex[:12]}")
    wh.ensure_database()
    try:
        yield wh
    finally:
        wh.command(f"DROP DATABASE IF EXISTS {wh.database}")
        wh.close()
