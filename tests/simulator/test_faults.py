"""Faults and rate limits behave as specified: status, headers, body; deterministic by seed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from klaviyo_analytics.errors import UsageError
from klaviyo_analytics.simulator import FaultSpec, SimulatorConfig, SimulatorServer
from tests.simulator.conftest import NOW, key_headers, metric_id


@pytest.fixture(scope="module")
def limited() -> Iterator[SimulatorServer]:
    """A tiny simulator with realistic limits; a minute lasts 0.6 s."""
    cfg = SimulatorConfig(seed=7, scale="tiny", rate_limits="realistic", time_scale=0.01, now=NOW)
    with SimulatorServer(cfg) as server:
        yield server


def test_fault_spec_parse() -> None:
    spec = FaultSpec.parse(
        "429=0.1,5xx=0.05,timeout=0.01,malformed=0.01,duplicates=0.02,late=0.05,seed=7"
    )
    assert (spec.rate_429, spec.error_5xx, spec.timeout, spec.seed) == (0.1, 0.05, 0.01, 7)
    assert (spec.malformed, spec.duplicates, spec.late) == (0.01, 0.02, 0.05)
    assert FaultSpec.parse("") == FaultSpec()
    for bad in ("429", "nope=0.1", "429=x", "429=2"):
        with pytest.raises(UsageError):
            FaultSpec.parse(bad)


def test_rate_limits_from_spec(limited: SimulatorServer) -> None:
    h = key_headers(limited.accounts[0].api_key)
    with httpx.Client(base_url=limited.base_url, headers=h) as c:
        r = c.get("/api/accounts")
        assert r.status_code == 200
        assert r.headers["RateLimit-Limit"] == "15"
        assert r.headers["RateLimit-Remaining"] == "14"
        assert "RateLimit-Reset" in r.headers
        r = c.get("/api/accounts")  # XS tier: 1/s burst
        assert r.status_code == 429
        assert r.headers["Retry-After"] == "1"
        assert not any(k.lower().startswith("ratelimit") for k in r.headers)
        assert r.json()["errors"][0]["code"] == "throttled"
        # Reporting: 1/s, 2/m (scaled to 0.6 s), 225/d per operation.
        placed = metric_id(c, "Placed Order")
        body = {"data": {"type": "segment-values-report", "attributes": {
            "statistics": ["total_members"], "timeframe": {"key": "last_7_days"}}}}  # fmt: skip
        statuses = []
        for _ in range(3):
            statuses.append(c.post("/api/segment-values-reports", json=body).status_code)
            time.sleep(0.012)
        assert statuses[0] == 200 and 429 in statuses
        time.sleep(0.7)
        assert c.post("/api/segment-values-reports", json=body).status_code == 200
        assert placed


def test_injected_status_faults_are_deterministic() -> None:
    faults = FaultSpec(rate_429=0.3, error_5xx=0.3, seed=3)
    cfg = SimulatorConfig(seed=1, scale="tiny", now=NOW, faults=faults)
    runs = []
    for _ in range(2):
        with (
            SimulatorServer(cfg) as sim,
            httpx.Client(base_url=sim.base_url, headers=key_headers(sim.accounts[0].api_key)) as c,
        ):
            runs.append([c.get("/api/metrics").status_code for _ in range(30)])
            log = sim.request_log
            assert {s for _, _, s, _ in log} >= {200, 429}
            assert all(acct == sim.accounts[0].public_id for *_, acct in log)
    assert runs[0] == runs[1]
    assert {500, 502, 503} & set(runs[0]) and 429 in runs[0] and 200 in runs[0]


def test_malformed_slow_and_timeout() -> None:
    cfg = SimulatorConfig(seed=1, scale="tiny", now=NOW, faults=FaultSpec(malformed=1.0))
    with SimulatorServer(cfg) as sim:
        h = key_headers(sim.accounts[0].api_key)
        r = httpx.get(f"{sim.base_url}/api/metrics", headers=h)
        assert r.status_code == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(r.content)
        sim.set_faults(FaultSpec(timeout=1.0, timeout_seconds=1.5))
        with pytest.raises(httpx.TimeoutException):
            httpx.get(f"{sim.base_url}/api/metrics", headers=h, timeout=0.3)
        sim.set_faults(FaultSpec(slow=1.0, slow_seconds=0.3))
        t0 = time.monotonic()
        assert httpx.get(f"{sim.base_url}/api/metrics", headers=h).status_code == 200
        assert time.monotonic() - t0 >= 0.3


def _walk_ids(c: httpx.Client, url: str) -> list[str]:
    ids: list[str] = []
    while url:
        doc = c.get(url).json()
        ids += [e["id"] for e in doc["data"]]
        url = doc["links"].get("next")
    return ids


def test_duplicates_and_late_events() -> None:
    cfg = SimulatorConfig(seed=5, scale="tiny", now=NOW)
    with (
        SimulatorServer(cfg) as sim,
        httpx.Client(base_url=sim.base_url, headers=key_headers(sim.accounts[0].api_key)) as c,
    ):
        placed = metric_id(c, "Placed Order")
        url = f'/api/events?filter=equals(metric_id,"{placed}")&page[size]=20'
        clean = _walk_ids(c, url)
        sim.set_faults(FaultSpec(duplicates=1.0, seed=2))
        dup = _walk_ids(c, url)
        assert len(dup) > len(clean) and set(dup) == set(clean)
        # Late events: recent events stay hidden until their delay has passed on the clock.
        sim.set_faults(FaultSpec(late=1.0, late_delay_hours=24 * 30))
        since = (NOW - timedelta(days=20)).strftime("%Y-%m-%dT%H:%M:%SZ")
        recent = f"/api/events?filter=greater-or-equal(datetime,{since})&page[size]=100"
        sim.set_faults(FaultSpec())
        visible_all = _walk_ids(c, recent)
        sim.set_faults(FaultSpec(late=1.0, late_delay_hours=24 * 30))
        assert _walk_ids(c, recent) == [] and visible_all
        sim.clock.advance(timedelta(days=31))
        until = NOW.strftime("%Y-%m-%dT%H:%M:%SZ")
        later = _walk_ids(c, recent.replace("&page", f",less-or-equal(datetime,{until})&page"))
        assert later == visible_all


def test_access_token_expiry_and_revoke_faults() -> None:
    cfg = SimulatorConfig(
        seed=1, scale="tiny", now=NOW, faults=FaultSpec(token_expiry=1.0, revoke=1.0)
    )
    with SimulatorServer(cfg) as sim:
        a = sim.accounts[0]
        auth = httpx.BasicAuth(a.oauth_client_id, a.oauth_client_secret)
        r = httpx.post(
            f"{sim.base_url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": a.refresh_token},
            auth=auth,
        )
        assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
        sim.set_faults(FaultSpec(token_expiry=1.0))
        assert sim.accounts[0].refresh_token
    cfg = SimulatorConfig(seed=1, scale="tiny", now=NOW, faults=FaultSpec(token_expiry=1.0))
    with SimulatorServer(cfg) as sim:
        a = sim.accounts[0]
        auth = httpx.BasicAuth(a.oauth_client_id, a.oauth_client_secret)
        tok = httpx.post(
            f"{sim.base_url}/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": a.refresh_token},
            auth=auth,
        ).json()
        h = {"Authorization": f"Bearer {tok['access_token']}", "revision": "2026-07-15"}
        assert httpx.get(f"{sim.base_url}/api/metrics", headers=h).status_code == 401
        sim.set_faults(FaultSpec())
        assert httpx.get(f"{sim.base_url}/api/metrics", headers=h).status_code == 401
        assert datetime.now(UTC)
