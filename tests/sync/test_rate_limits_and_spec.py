"""429 storms, timeouts, and the requests our client sends checked against Klaviyo's OpenAPI spec.

A recording ASGI wrapper around the simulator app notes, for every request, when it arrived, its
full URL, headers and body, and its response status and ``Retry-After`` (the simulator's own
request log keeps neither times nor queries nor bodies).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import orjson
from openapi_core import Config, OpenAPI
from openapi_core.testing import MockRequest
from truthcheck import assert_events_match, assert_reports_match, dump_in_process, dump_sql_for

from klaviyo_analytics.context import AppContext
from klaviyo_analytics.klaviyo.ratelimit import endpoint_key
from klaviyo_analytics.settings import Settings
from klaviyo_analytics.simulator import FaultSpec, SimulatorConfig, SimulatorServer
from klaviyo_analytics.sync import sync_store
from klaviyo_analytics.warehouse import Warehouse

SPEC = Path(__file__).resolve().parents[3] / "shared" / "klaviyo-openapi" / "stable.json"


@dataclass
class Seen:
    """One request as the server saw it."""

    arrived: float
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes = b""
    status: int = 0
    answered: float = 0.0
    retry_after: float | None = None


@dataclass
class Recorder:
    """An ASGI wrapper recording every request of the wrapped simulator app."""

    inner: Any
    seen: list[Seen] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        entry = Seen(
            time.monotonic(),
            scope["method"],
            scope["path"],
            scope.get("query_string", b"").decode("latin-1"),
            {k.decode().lower(): v.decode() for k, v in scope["headers"]},
        )
        self.seen.append(entry)

        async def recv() -> Any:
            message = await receive()
            entry.body += message.get("body", b"")
            return message

        async def snd(message: Any) -> None:
            if message["type"] == "http.response.start":
                entry.status = message["status"]
                entry.answered = time.monotonic()
                for k, v in message.get("headers", []):
                    if k.decode().lower() == "retry-after":
                        entry.retry_after = float(v.decode())
            await send(message)

        await self.inner(scope, recv, snd)


def recording(config: SimulatorConfig) -> tuple[SimulatorServer, Recorder]:
    """A simulator server whose app records requests (not started yet)."""
    server = SimulatorServer(config)
    rec = Recorder(server.app)
    server.app = rec  # type: ignore[assignment]  # same ASGI interface, delegates the rest
    return server, rec


def _ctx(tmp_path: Path, warehouse: Warehouse, base_url: str, **extra: Any) -> AppContext:
    settings = Settings(
        data_dir=tmp_path / f"d{uuid.uuid4().hex[:6]}",
        clickhouse_url=f"chdb://{warehouse._connect_kwargs['path']}",  # noqa: SLF001
        mongodb_url="mongomock://",
        klaviyo_base_url=base_url,
        sync_backfill_days=90,
        sync_events_page_size=100,
        sync_batch_rows=150,
        **extra,
    )
    return AppContext(settings, database=warehouse.database)


def _check_truth(ctx: AppContext, sim: SimulatorServer, reports: bool = True) -> None:
    kid = sim.accounts[0].public_id
    truth = sim.ground_truth()
    assert_events_match(dump_in_process(ctx.warehouse.rows(dump_sql_for(kid), {})), truth)
    if reports:
        # The sync's "today" is the simulator's (Klaviyo's Date header), not this machine's:
        # between 00:00 UTC and local midnight in the account's zone the two dates differ.
        today = sim.clock.now().astimezone(ZoneInfo(truth.timezone)).date()
        first = today - timedelta(days=ctx.settings.sync_backfill_days - 1)
        assert_reports_match(ctx.warehouse, kid, truth, first)


def test_429_storm_honours_retry_after_and_requests_match_the_spec(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = SimulatorConfig(
        seed=21,
        scale="tiny",
        rate_limits="realistic",
        time_scale=0.01,  # a one-minute window lasts 0.6 s
        faults=FaultSpec(rate_429=0.15, seed=4),
    )
    sim, rec = recording(config)
    with sim:
        ctx = _ctx(
            tmp_path,
            warehouse,
            sim.base_url,
            klaviyo_pacing=True,
            klaviyo_rate_window_scale=0.01,
            klaviyo_retry_base_seconds=0.05,
            klaviyo_max_attempts=12,
        )
        acct = sim.accounts[0]
        store = ctx.metadata.add_store("Shop", acct.public_id, api_key=acct.api_key).public_id
        result = sync_store(ctx, store)
        assert result.ok, result
        _check_truth(ctx, sim)

    api = [s for s in rec.seen if s.path.startswith("/api/")]
    throttled = [s for s in api if s.status == 429]
    assert len(throttled) >= 3, "no storm: the test checked nothing"
    # After a 429, the next request to that endpoint waits at least Retry-After.
    for i, s in enumerate(api):
        if s.status != 429:
            continue
        assert s.retry_after is not None
        key = endpoint_key(s.method, s.path)
        nxt = next((t for t in api[i + 1 :] if endpoint_key(t.method, t.path) == key), None)
        assert nxt is not None, f"{key} was never retried"
        waited = nxt.arrived - s.answered
        assert waited >= s.retry_after - 0.01, (key, waited, s.retry_after)

    # Every request our client sent is valid against the published spec.
    spec = orjson.loads(SPEC.read_bytes())
    openapi = OpenAPI.from_dict(spec, config=Config(spec_validator_cls=None))
    covered: set[tuple[str, str]] = set()
    for s in api:
        args = dict(parse_qsl(s.query, keep_blank_values=True))
        req = MockRequest(
            "https://a.klaviyo.com",
            s.method.lower(),
            s.path.rstrip("/"),
            args=args,
            headers={k: v for k, v in s.headers.items() if k in ("revision", "authorization")},
            data=s.body or None,
            content_type=s.headers.get("content-type", "application/json"),
        )
        openapi.validate_request(req)
        covered.add(endpoint_key(s.method, s.path))
    assert set(result.api_calls) == {f"{m} {p}" for m, p in covered}
    assert {
        ("GET", "/api/accounts"),
        ("GET", "/api/metrics"),
        ("GET", "/api/events"),
        ("GET", "/api/campaigns"),
        ("GET", "/api/flows"),
        ("GET", "/api/flows/{id}/flow-actions"),
        ("GET", "/api/flow-actions/{id}/flow-messages"),
        ("GET", "/api/forms"),
        ("GET", "/api/segments"),
        ("POST", "/api/campaign-values-reports"),
        ("POST", "/api/flow-series-reports"),
        ("POST", "/api/form-series-reports"),
        ("POST", "/api/segment-series-reports"),
    } <= covered


def test_timeouts_complete_or_stop_clearly_and_a_rerun_reaches_truth(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    config = SimulatorConfig(
        seed=22, scale="tiny", faults=FaultSpec(timeout=0.2, timeout_seconds=2.0, seed=6)
    )
    sim, rec = recording(config)
    with sim:
        ctx = _ctx(
            tmp_path,
            warehouse,
            sim.base_url,
            klaviyo_pacing=False,
            klaviyo_timeout_seconds=0.3,
            klaviyo_retry_base_seconds=0.01,
            klaviyo_max_attempts=4,
        )
        acct = sim.accounts[0]
        store = ctx.metadata.add_store("Shop", acct.public_id, api_key=acct.api_key).public_id
        first = sync_store(ctx, store, only=["orders", "refunds", "segments"])
        slow = [s for s in rec.seen if s.answered - s.arrived >= 1.9]
        assert slow, "no timeout was injected: the test checked nothing"
        if not first.ok:  # stopped clearly: a timeout error on the data type, nothing silent
            failed = [d for d in first.data_types if not d.ok]
            assert failed and all("timeout" in (d.error or "") for d in failed), first
        sim.set_faults(FaultSpec())
        again = sync_store(ctx, store, only=["orders", "refunds", "segments"])
        assert again.ok, again
        _check_truth(ctx, sim, reports=False)
