"""Fixtures of the simulator tests: one tiny simulator per module, an authenticated client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest

from klaviyo_analytics.simulator import SimulatorConfig, SimulatorServer

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
REVISION = "2026-07-15"


@pytest.fixture(scope="module")
def sim() -> Iterator[SimulatorServer]:
    """A running tiny simulator with two accounts and no rate limits."""
    with SimulatorServer(SimulatorConfig(seed=42, scale="tiny", accounts=2, now=NOW)) as server:
        yield server


def key_headers(api_key: str) -> dict[str, str]:
    """Headers of a private-key request."""
    return {"Authorization": f"Klaviyo-API-Key {api_key}", "revision": REVISION}


@pytest.fixture
def client(sim: SimulatorServer) -> Iterator[httpx.Client]:
    """An httpx client on account 0 with its private key."""
    with httpx.Client(
        base_url=sim.base_url, headers=key_headers(sim.accounts[0].api_key), timeout=30
    ) as c:
        yield c


def metric_id(client: httpx.Client, name: str, integration: str = "Shopify") -> str:
    """Id of a metric by name and integration."""
    data = client.get("/api/metrics").json()["data"]
    for m in data:
        attrs = m["attributes"]
        if attrs["name"] == name and attrs["integration"]["name"] == integration:
            return str(m["id"])
    raise AssertionError(f"metric {name} ({integration}) not found")


def walk(client: httpx.Client, url: str) -> list[dict]:
    """All data items of a paginated list, following links.next."""
    items: list[dict] = []
    next_url: str | None = url
    while next_url:
        r = client.get(next_url)
        assert r.status_code == 200, r.text
        doc = r.json()
        items.extend(doc["data"])
        next_url = doc["links"].get("next")
    return items
