"""Admin endpoints: stores CRUD, API-key connection, sync status, triggering runs through the
dispatch seam, and the OAuth connect flow against the Klaviyo simulator."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import cast
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from klaviyo_analytics.api import create_app
from klaviyo_analytics.scheduler.dispatch import Job, LocalDispatcher
from klaviyo_analytics.simulator.config import SimulatorConfig
from klaviyo_analytics.simulator.server import SimulatorServer
from tests.api.conftest import AdminWorld, make_context

V1 = "/api/v1"


def _create(world: AdminWorld, **body: object) -> httpx.Response:
    payload: dict[str, object] = {
        "name": "Shop",
        "klaviyo_public_id": "Shop01",
        "api_key": "pk_shop_key_0001",
    }
    payload.update(body)
    resp: httpx.Response = world.client.post(f"{V1}/stores", json=payload, headers=world.admin)
    return resp


def test_store_crud(admin_world: AdminWorld) -> None:
    w = admin_world
    created = _create(w, public_id="store_shop")
    assert created.status_code == 201, created.text
    store = created.json()
    assert store["public_id"] == "store_shop" and store["auth_method"] == "api_key"
    assert "pk_" not in created.text
    assert _create(w, public_id="store_other").status_code == 409  # same Klaviyo account
    assert _create(w, public_id="store_shop", klaviyo_public_id="Other1").status_code == 409
    listed = w.client.get(f"{V1}/stores", headers=w.admin).json()
    assert listed["count"] == 1
    patched = w.client.patch(
        f"{V1}/stores/store_shop", json={"name": "Renamed", "status": "inactive"}, headers=w.admin
    )
    assert patched.status_code == 200
    assert patched.json()["name"] == "Renamed" and patched.json()["status"] == "inactive"
    key = w.client.put(
        f"{V1}/stores/store_shop/api-key", json={"api_key": "pk_rotated_0002"}, headers=w.admin
    )
    assert key.status_code == 200 and key.json()["auth_method"] == "api_key"
    creds = w.ctx.metadata.get_credentials("store_shop")
    assert creds.api_key is not None and creds.api_key.get_secret_value() == "pk_rotated_0002"
    assert w.client.delete(f"{V1}/stores/store_shop", headers=w.admin).status_code == 204
    assert w.client.get(f"{V1}/stores/store_shop", headers=w.admin).status_code == 404
    assert w.client.delete(f"{V1}/stores/store_shop", headers=w.admin).status_code == 404


def test_sync_status_per_data_type(admin_world: AdminWorld) -> None:
    w = admin_world
    _create(w, public_id="store_shop")
    meta = w.ctx.metadata
    when = datetime(2026, 5, 1, 12, tzinfo=UTC)
    meta.record_data_type_success(
        "Shop01", "campaigns", watermark=when, rows_written=42, finished_at=when
    )
    meta.record_data_type_error("Shop01", "events", "HTTP 429 after 8 attempts", when)
    meta.set_aggregate_last_run("Shop01", "customer_profiles_last_run", when)
    body = w.client.get(f"{V1}/stores/store_shop/sync-status", headers=w.admin).json()
    types = {t["data_type"]: t for t in body["data_types"]}
    assert types["campaigns"]["rows_written"] == 42
    assert types["campaigns"]["watermark"].startswith("2026-05-01T12:00:00")
    assert types["campaigns"]["last_success_at"] is not None
    assert types["events"]["last_error"] == "HTTP 429 after 8 attempts"
    runs = {a["job"]: a["last_run_at"] for a in body["aggregates"]}
    assert runs["customer_profiles"].startswith("2026-05-01T12:00:00")
    assert runs["product_relationships"] is None


def test_trigger_aggregate_and_sync_runs(admin_world: AdminWorld) -> None:
    w = admin_world
    _create(w, public_id="store_shop")
    resp = w.client.post(
        f"{V1}/stores/store_shop/aggregates",
        json={"jobs": ["account-daily"], "as_of": "2026-05-01"},
        headers=w.admin,
    )
    assert resp.status_code == 202, resp.text
    job = resp.json()
    assert job["kind"] == "aggregate" and job["options"]["jobs"] == ["account-daily"]
    handle = cast(FastAPI, w.client.app).state.jobs.get(job["id"])
    assert handle.wait(40)
    done = w.client.get(f"{V1}/jobs/{job['id']}", headers=w.admin).json()
    assert done["status"] == "succeeded", done
    assert done["finished_at"] is not None
    assert w.client.get(f"{V1}/jobs/unknown", headers=w.admin).status_code == 404
    assert (
        w.client.post(f"{V1}/stores/store_nope/sync", json={}, headers=w.admin).status_code == 404
    )


def test_trigger_sync_goes_through_the_dispatch_seam(chdb_url: str, tmp_path: Path) -> None:
    """The API hands the job to the dispatcher it was given (the seam a task queue plugs into);
    the worker function here stands in for a remote worker and only records what it got."""
    database = f"adm_{uuid.uuid4().hex[:10]}"
    ctx = make_context(chdb_url, tmp_path, database)
    ctx.metadata.add_store("Shop", "Shop01", api_key="pk_shop_key_0001", public_id="store_shop")
    _, token = ctx.metadata.create_api_token("admin")
    admin = {"Authorization": f"Bearer {token}"}
    release = threading.Event()
    received: list[Job] = []

    def worker(_ctx: object, job: Job, _control: object) -> str:
        received.append(job)
        release.wait(10)
        return "done"

    dispatcher = LocalDispatcher(ctx, max_workers=2, runner=worker)
    with TestClient(create_app(ctx, dispatcher=dispatcher)) as client:
        first = client.post(
            f"{V1}/stores/store_shop/sync",
            json={"only": ["campaigns", "flows"], "since": "2026-01-05"},
            headers=admin,
        )
        assert first.status_code == 202, first.text
        assert first.json()["options"] == {"only": ["campaigns", "flows"], "since": "2026-01-05"}
        busy = client.post(f"{V1}/stores/store_shop/aggregates", json={}, headers=admin)
        assert busy.status_code == 202 and busy.json()["status"] == "skipped"
        release.set()
        assert cast(FastAPI, client.app).state.jobs.get(first.json()["id"]).wait(10)
        done = client.get(f"{V1}/jobs/{first.json()['id']}", headers=admin).json()
        assert done["status"] == "succeeded"
        assert received == [Job.sync("store_shop", only=["campaigns", "flows"], since="2026-01-05")]
    dispatcher.shutdown()
    ctx.close()


def test_oauth_not_configured(admin_world: AdminWorld) -> None:
    resp = admin_world.client.post(
        f"{V1}/oauth/authorize", json={"name": "x"}, headers=admin_world.admin
    )
    assert resp.status_code == 503
    assert resp.json()["error"]["code"] == "oauth_not_configured"
    assert "KLAVIYO_ANALYTICS_KLAVIYO_CLIENT_ID" in resp.json()["error"]["message"]


@pytest.fixture(scope="module")
def simulator() -> Iterator[SimulatorServer]:
    with SimulatorServer(SimulatorConfig(scale="tiny", accounts=1)) as sim:
        yield sim


def test_oauth_connect_flow_against_the_simulator(
    simulator: SimulatorServer, chdb_url: str, tmp_path: Path, admin_world: AdminWorld
) -> None:
    creds = simulator.accounts[0]
    ctx = make_context(
        chdb_url,
        tmp_path,
        admin_world.ctx.warehouse.database,
        klaviyo_base_url=simulator.base_url,
        klaviyo_client_id=creds.oauth_client_id,
        klaviyo_client_secret=creds.oauth_client_secret,
    )
    _, token = ctx.metadata.create_api_token("admin")
    admin = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(ctx)) as client:
        started = client.post(f"{V1}/oauth/authorize", json={"name": "Sim Shop"}, headers=admin)
        assert started.status_code == 200, started.text
        url = started.json()["authorize_url"]
        query = parse_qs(urlsplit(url).query)
        assert url.startswith(f"{simulator.base_url}/oauth/authorize?")
        assert query["code_challenge_method"] == ["S256"] and query["state"] == [
            started.json()["state"]
        ]
        assert query["redirect_uri"] == ["http://testserver/api/v1/oauth/callback"]
        # The user's browser follows the consent page, which redirects back with a code.
        consent = httpx.get(url, follow_redirects=False)
        assert consent.status_code == 302
        callback = urlsplit(consent.headers["location"])
        done = client.get(f"{callback.path}?{callback.query}")
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["created"] is True
        store = body["store"]
        assert store["klaviyo_public_id"] == creds.public_id and store["auth_method"] == "oauth"
        assert store["name"] == "Sim Shop"
        stored = ctx.metadata.get_credentials(store["public_id"])
        assert stored.access_token is not None and stored.refresh_token is not None
        raw = str(ctx.metadata.raw_collection("stores").find({}))
        assert stored.access_token.get_secret_value() not in raw  # encrypted at rest
        replay = client.get(f"{callback.path}?{callback.query}")
        assert replay.status_code == 400 and replay.json()["error"]["code"] == "invalid_state"
        # Re-authorising the same store through the redirect variant updates it in place.
        redirect = client.get(
            f"{V1}/oauth/authorize",
            params={"store_public_id": store["public_id"]},
            headers=admin,
            follow_redirects=False,
        )
        assert redirect.status_code == 307
        again = urlsplit(httpx.get(redirect.headers["location"]).headers["location"])
        second = client.get(f"{again.path}?{again.query}").json()
        assert second["created"] is False and second["store"]["public_id"] == store["public_id"]
        assert ctx.metadata.get_credentials(store["public_id"]).access_token != stored.access_token
        denied = client.post(f"{V1}/oauth/authorize", json={}, headers=admin).json()
        refused = client.get(
            f"{V1}/oauth/callback", params={"state": denied["state"], "error": "access_denied"}
        )
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "oauth_denied"
    ctx.close()
