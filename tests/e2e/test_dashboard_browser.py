"""The dashboard end to end in headless Chromium: log in with a token, pick stores and dates,
and check that every number shown equals the API's JSON. Also writes docs/dashboard.png."""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from klaviyo_analytics.api import create_app
from tests.api.conftest import ALPHA, BETA, ApiWorld, world  # noqa: F401 - the fixture

CHROMIUM = Path(os.environ.get("KLAVIYO_ANALYTICS_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "dashboard.png"
ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.browser


@pytest.fixture
def server(world: ApiWorld) -> Iterator[str]:  # noqa: F811
    """The app under uvicorn on a free loopback port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(world.ctx), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)
    sock.close()


def _number(text: str) -> float:
    cleaned = re.sub(r"[^0-9.\-]", "", text)
    return float(cleaned)


def _api(world: ApiWorld, path: str, token: str, **params: Any) -> Any:  # noqa: F811
    resp = world.client.get(f"/api/v1{path}", params=params, headers=world.headers(token))
    assert resp.status_code == 200, resp.text
    return resp.json()


def _check_store(page: Any, world: ApiWorld, store: str, token: str, start: str, end: str) -> None:  # noqa: F811
    page.wait_for_selector(f'body[data-loaded="{store}|{start}|{end}"]', timeout=20000)
    rng = {"from": start, "to": end}
    overview = _api(world, f"/stores/{store}/overview", token, **rng)
    for kpi in overview["kpis"]:
        card = page.locator(f'[data-kpi="{kpi["key"]}"]')
        assert _number(card.locator(".kpi-value").inner_text()) == pytest.approx(
            kpi["value"], abs=0.006
        ), kpi["key"]
        change = card.locator(".kpi-change").inner_text()
        if kpi["change_pct"] is None:
            assert change == "no previous data"
        else:
            assert _number(change.split("%")[0]) == pytest.approx(kpi["change_pct"], abs=0.051)
    daily = _api(world, f"/stores/{store}/daily", token, **rng)
    points = page.locator('#revenue-chart polyline[data-series="total_revenue"]').get_attribute(
        "points"
    )
    assert len(points.split()) == daily["count"]
    legend = page.locator('[data-series-total="email_revenue"]').inner_text()
    assert _number(legend) == pytest.approx(
        sum(p["email_revenue"] for p in daily["data"]), abs=0.006
    )
    for name, key in (("campaigns", "campaign_id"), ("flows", "flow_id")):
        api_rows = _api(world, f"/stores/{store}/{name}", token, **rng, sort="revenue", limit=10)[
            "data"
        ]
        shown = page.locator(f"#{name}-table tbody tr")
        assert shown.count() == len(api_rows)
        for i, row in enumerate(api_rows):
            tr = shown.nth(i)
            assert tr.get_attribute("data-row") == row[key]
            assert _number(tr.locator('[data-col="revenue"]').inner_text()) == pytest.approx(
                row["revenue"], abs=0.006
            )
            assert _number(tr.locator('[data-col="open_rate_pct"]').inner_text()) == pytest.approx(
                row["open_rate_pct"], abs=0.051
            )
    rfm = _api(world, f"/stores/{store}/rfm", token)
    for seg in rfm["segments"]:
        tile = page.locator(f'[data-segment="{seg["segment"]}"]')
        assert _number(tile.locator(".tile-count").inner_text()) == seg["customers"]
        assert _number(tile.locator(".tile-revenue").inner_text().split("·")[0]) == pytest.approx(
            seg["revenue"], abs=0.006
        )
    for cell in rfm["grid"]:
        shown_cell = page.locator(
            f'[data-cell="{cell["recency_score"]}:{cell["frequency_score"]}"]'
        )
        assert _number(shown_cell.inner_text()) == cell["customers"]
    churn = _api(world, f"/stores/{store}/churn-risk", token)
    for i, bucket in enumerate(churn["buckets"]):
        assert (
            _number(page.locator(f'[data-bucket-count="{i}"]').text_content())
            == bucket["customers"]
        )
    products = _api(world, f"/stores/{store}/products", token, sort="revenue", window=30, limit=10)
    rows = page.locator("#products-table tbody tr")
    assert rows.count() == len(products["data"])
    for i, p in enumerate(products["data"]):
        assert rows.nth(i).get_attribute("data-row") == p["product_id"]
        assert _number(rows.nth(i).locator('[data-col="revenue"]').inner_text()) == pytest.approx(
            p["revenue"], abs=0.006
        )
    anchor = page.locator("#fbt-product").input_value()
    fbt = _api(world, f"/stores/{store}/products/{anchor}/bought-together", token, limit=8)
    fbt_rows = page.locator("#fbt-table tbody tr")
    assert fbt_rows.count() == fbt["count"] > 0
    for i, r in enumerate(fbt["data"]):
        assert fbt_rows.nth(i).get_attribute("data-row") == r["product_id"]
        assert _number(fbt_rows.nth(i).locator('[data-col="lift"]').inner_text()) == pytest.approx(
            r["lift"], abs=0.006
        )


def test_dashboard_shows_the_api_numbers(server: str, world: ApiWorld) -> None:  # noqa: F811
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (`make browser`) to run "
            "the dashboard test"
        )
    from playwright.sync_api import sync_playwright

    today = datetime.now(UTC).date()
    start, end = str(today - timedelta(days=29)), str(today)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(server + "/")
            page.fill("#token-input", "ka_wrong_token")
            page.click("#login-button")
            page.wait_for_selector("#login-error:has-text('sign in again')")
            page.fill("#token-input", world.admin_token)
            page.click("#login-button")
            _check_store(page, world, ALPHA, world.admin_token, start, end)
            assert page.locator("#store-select option").count() >= 2
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            page.select_option("#store-select", BETA)
            _check_store(page, world, BETA, world.admin_token, start, end)

            older_start, older_end = (
                str(today - timedelta(days=75)),
                str(today - timedelta(days=40)),
            )
            page.fill("#date-from", older_start)
            page.fill("#date-to", older_end)
            page.click("#apply-range")
            _check_store(page, world, BETA, world.admin_token, older_start, older_end)

            page.reload()  # the token survives a reload (sessionStorage)
            page.wait_for_selector(f'body[data-loaded^="{BETA}|"]', timeout=20000)
            page.click("#logout")
            assert page.locator("#login").is_visible()
            page.fill("#token-input", world.alpha_token)
            page.click("#login-button")
            _check_store(page, world, ALPHA, world.alpha_token, start, end)
            assert page.locator("#store-select option").count() == 1
            assert page.locator("#store-select").is_disabled()
            assert errors == []
        finally:
            browser.close()
    assert SCREENSHOT.stat().st_size > 20000
