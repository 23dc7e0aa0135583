"""Pure tests of the client's building blocks: the rate-limit table, pacing, model parsing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klaviyo_analytics.klaviyo.client import REVISION
from klaviyo_analytics.klaviyo.errors import BadResponseError
from klaviyo_analytics.klaviyo.models import Page, parse_series_report
from klaviyo_analytics.klaviyo.ratelimit import ENDPOINT_LIMITS, Pacer, endpoint_key, limit_for


def _per(value: str) -> int:
    return int(value.split("/")[0])


def test_limit_table_matches_the_openapi_spec(shared_dir: Path) -> None:
    spec = json.loads((shared_dir / "klaviyo-openapi" / "stable.json").read_text())
    for (method, path), limit in ENDPOINT_LIMITS.items():
        op = spec["paths"][path][method.lower()]
        published = op["x-klaviyo-ratelimit"]
        assert limit.burst == _per(published["burst"]), path
        assert limit.steady == _per(published["steady"]), path
        assert limit.daily == (_per(published["daily"]) if "daily" in published else None), path
    assert spec["info"]["version"] == REVISION


def test_endpoint_key_maps_ids_to_templates() -> None:
    assert endpoint_key("GET", "/api/flows/AbC/flow-actions") == (
        "GET",
        "/api/flows/{id}/flow-actions",
    )
    assert endpoint_key("GET", "/api/events/") == ("GET", "/api/events")
    assert limit_for("POST", "/api/flow-series-reports").steady == 2


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.t += s


def test_pacer_keeps_reporting_calls_under_two_per_minute() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    times = []
    for _ in range(5):
        pacer.acquire("POST", "/api/flow-series-reports")
        times.append(clock.t)
    # 2 per 60 s and 1 per second: calls at 0, 1, 60, 61, 120
    assert times == [0.0, 1.0, 60.0, 61.0, 120.0]


def test_pacer_honours_ratelimit_remaining_zero() -> None:
    clock = FakeClock()
    pacer = Pacer(1.0, clock=clock, sleep=clock.sleep)
    pacer.acquire("GET", "/api/events")
    pacer.observe("GET", "/api/events", {"ratelimit-remaining": "0", "ratelimit-reset": "7"})
    pacer.acquire("GET", "/api/events")
    assert clock.t == pytest.approx(7.0)


def test_page_parsing_and_malformed_documents() -> None:
    doc = {
        "data": [{"type": "event", "id": "e1", "attributes": {}, "relationships": {}}],
        "included": [{"type": "profile", "id": "p1", "attributes": {"email": "a@b"}}],
        "links": {"self": "x", "next": None},
    }
    page = Page.parse(doc)
    assert page.next_url is None and page.data[0].id == "e1"
    assert ("profile", "p1") in page.included
    with pytest.raises(BadResponseError):
        Page.parse({"errors": []})
    with pytest.raises(BadResponseError):
        parse_series_report(
            {
                "data": {
                    "attributes": {
                        "date_times": ["2026-01-01T00:00:00-05:00"],
                        "results": [{"groupings": {}, "statistics": {"x": [1, 2]}}],
                    }
                }
            },
            "/api/x",
        )
