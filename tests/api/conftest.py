"""Fixtures of the API tests: one migrated database with two stores' data, an embedded metadata
store with those stores and their tokens, and a ``TestClient`` over ``create_app``."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from klaviyo_analytics.api import create_app
from klaviyo_analytics.context import AppContext
from klaviyo_analytics.settings import Settings
from klaviyo_analytics.warehouse import Warehouse, migrate
from tests.api.builder import Dataset, build

ALPHA, BETA = "store_alpha", "store_beta"
ALPHA_KID, BETA_KID = "AlphaA", "BetaBB"


@dataclass
class ApiWorld:
    """Everything a test needs to call the API and know the right answers."""

    client: TestClient
    ctx: AppContext
    alpha: Dataset
    beta: Dataset
    admin_token: str
    alpha_token: str
    beta_token: str

    def headers(self, token: str) -> dict[str, str]:
        """The bearer header for ``token``."""
        return {"Authorization": f"Bearer {token}"}

    @property
    def admin(self) -> dict[str, str]:
        """Admin headers."""
        return self.headers(self.admin_token)


def make_context(chdb_url: str, data_dir: Path, database: str, **settings: object) -> AppContext:
    """An app context on the session's ClickHouse engine and an embedded metadata store."""
    return AppContext(
        Settings(data_dir=data_dir, clickhouse_url=chdb_url, **settings),  # type: ignore[arg-type]
        database=database,
    )


@pytest.fixture(scope="session")
def world(chdb_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiWorld]:
    """Two stores with data, tokens for each and an admin token (shared: tests only read it)."""
    database = f"api_{uuid.uuid4().hex[:10]}"
    wh = Warehouse(chdb_url, database=database)
    migrate(wh)
    alpha = build(wh, ALPHA_KID, seed=1)
    beta = build(wh, BETA_KID, seed=2, orders_per_day=3, customers=25)
    ctx = make_context(chdb_url, tmp_path_factory.mktemp("meta"), database)
    meta = ctx.metadata
    meta.add_store("Alpha Coffee", ALPHA_KID, api_key="pk_alpha_test_key_0001", public_id=ALPHA)
    meta.add_store("Beta Teas", BETA_KID, api_key="pk_beta_test_key_0002", public_id=BETA)
    _, admin = meta.create_api_token("admin")
    _, alpha_token = meta.create_api_token("store", ALPHA)
    _, beta_token = meta.create_api_token("store", BETA)
    with TestClient(create_app(ctx)) as client:
        yield ApiWorld(client, ctx, alpha, beta, admin, alpha_token, beta_token)
    ctx.close()
    wh.command(f"DROP DATABASE IF EXISTS {database}")
    wh.close()


@dataclass
class AdminWorld:
    """An empty warehouse, an empty metadata store and an admin token, for tests that write."""

    client: TestClient
    ctx: AppContext
    admin: dict[str, str]


@pytest.fixture
def admin_world(
    chdb_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[AdminWorld]:
    """A fresh app per test; settings may be given with ``@pytest.mark.parametrize`` indirect."""
    database = f"adm_{uuid.uuid4().hex[:10]}"
    wh = Warehouse(chdb_url, database=database)
    migrate(wh)
    extra = getattr(request, "param", {})
    ctx = make_context(chdb_url, tmp_path, database, **extra)
    _, token = ctx.metadata.create_api_token("admin")
    with TestClient(create_app(ctx)) as client:
        yield AdminWorld(client, ctx, {"Authorization": f"Bearer {token}"})
    ctx.close()
    wh.command(f"DROP DATABASE IF EXISTS {database}")
    wh.close()
