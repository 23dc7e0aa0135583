"""Service endpoints (health, readiness, metrics), the OpenAPI document, the dashboard's
assets, and the ``api-tokens`` / ``serve`` commands."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from klaviyo_analytics.api import create_app
from klaviyo_analytics.api.routes import analytics, health, jobs, oauth, stores
from tests.api.conftest import ALPHA, ApiWorld, make_context

V1 = "/api/v1"


def test_health_ready_metrics(world: ApiWorld) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok"}
    ready = world.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "clickhouse": True, "mongodb": True}
    world.client.get(f"{V1}/stores/{ALPHA}/overview", headers=world.admin)
    metrics = world.client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    assert "klaviyo_analytics_sync_runs_total" in metrics.text
    assert (
        'klaviyo_analytics_api_requests_total{method="GET",'
        'route="/stores/{store_id}/overview",status="200"}' in metrics.text
    )


def test_readyz_is_503_when_a_service_is_down(chdb_url: str, tmp_path: Path) -> None:
    ctx = make_context(
        chdb_url,
        tmp_path,
        "ready_down",
        mongodb_url="mongodb://127.0.0.1:9/x?serverSelectionTimeoutMS=200",
        secret_key="k" * 43 + "=",
    )
    with TestClient(create_app(ctx)) as client:
        resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json() == {"status": "unavailable", "clickhouse": True, "mongodb": False}
    ctx.close()


def test_openapi_lists_every_route_with_its_parameters(world: ApiWorld) -> None:
    spec = world.client.get(f"{V1}/openapi.json").json()
    documented = {
        (path, method.upper()): {p["name"] for p in op.get("parameters", [])}
        for path, ops in spec["paths"].items()
        for method, op in ops.items()
    }
    api_routes = [r for m in (stores, jobs, oauth, analytics) for r in m.router.routes]
    routes = [(V1 + r.path, r) for r in api_routes if isinstance(r, APIRoute)]
    routes += [(r.path, r) for r in health.router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 30
    for path, route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            assert (path, method) in documented, path
            op = spec["paths"][path][method.lower()]
            assert op.get("summary") and op.get("description"), path  # from docstrings
            expected = {p.alias or p.name for p in route.dependant.query_params} | {
                p.name for p in route.dependant.path_params
            }
            for dep in route.dependant.dependencies:
                expected |= {p.alias or p.name for p in dep.query_params}
                expected |= {p.name for p in dep.path_params}
            assert expected <= documented[(path, method)], path
    campaigns = spec["paths"][f"{V1}/stores/{{store_id}}/campaigns"]["get"]
    params = {p["name"]: p for p in campaigns["parameters"]}
    assert {"from", "to", "limit", "offset", "sort", "order", "format", "channel"} <= set(params)
    assert params["limit"]["schema"]["maximum"] == 500
    assert "revenue" in params["sort"]["schema"]["enum"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "CampaignsPublic" in spec["components"]["schemas"]


def test_dashboard_is_served_offline(world: ApiWorld) -> None:
    page = world.client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in ("/dashboard/app.js", "/dashboard/style.css"):
        resp = world.client.get(asset)
        assert resp.status_code == 200 and len(resp.text) > 1000
    everything = page.text + world.client.get("/dashboard/app.js").text
    assert "http://" not in everything.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in everything


def _cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KLAVIYO_ANALYTICS_DATA_DIR": str(data_dir)}
    code = "from klaviyo_analytics.cli.main import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_api_tokens_cli(tmp_path: Path) -> None:
    created = _cli("api-tokens", "create", "--admin", data_dir=tmp_path)
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert token.startswith("ka_") and token not in created.stderr
    listed = _cli("api-tokens", "list", "--format", "csv", data_dir=tmp_path)
    assert listed.returncode == 0 and token not in listed.stdout
    token_id = listed.stdout.splitlines()[1].split(",")[0]
    for bad in (
        ("api-tokens", "create"),
        ("api-tokens", "create", "--admin", "--store", "s"),
        ("api-tokens", "create", "--store", "store_nope"),
        ("serve", "--port", "70000"),
    ):
        result = _cli(*bad, data_dir=tmp_path)
        assert result.returncode == 2, bad
        assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:")
    revoked = _cli("api-tokens", "revoke", token_id, data_dir=tmp_path)
    assert revoked.returncode == 0
    again = _cli("api-tokens", "list", "--format", "csv", data_dir=tmp_path)
    assert again.stdout.splitlines()[1].split(",")[-1] != ""
