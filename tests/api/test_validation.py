"""Bad input gets a 4xx with ``{"error": {"code", "message", "field"}}``, never a 500: every
GET endpoint is hit with each kind of bad parameter it takes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ALPHA, ApiWorld

V1 = "/api/v1"
BAD_VALUES: dict[str, list[tuple[object, str]]] = {
    "from": [
        ("2024-13-01", "invalid_parameter"),
        ("yesterday", "invalid_parameter"),
        ("1990-01-01", "invalid_date"),
    ],
    "to": [("2024-02-30", "invalid_parameter"), ("2999-01-01", "invalid_date")],
    "limit": [(0, "invalid_parameter"), (501, "invalid_parameter"), ("ten", "invalid_parameter")],
    "offset": [(-1, "invalid_parameter"), (10**7, "invalid_parameter")],
    "sort": [("drop table", "invalid_sort"), ("revenue; --", "invalid_sort")],
    "order": [("sideways", "invalid_parameter")],
    "format": [("xml", "invalid_parameter")],
    "channel": [("fax", "invalid_parameter")],
    "window": [(45, "invalid_parameter"), ("month", "invalid_parameter")],
    "churn_min": [(-0.1, "invalid_parameter"), (1.5, "invalid_parameter")],
    "churn_max": [(2, "invalid_parameter")],
}


def _get_routes(world: ApiWorld) -> list[tuple[str, set[str]]]:
    spec = world.client.get(f"{V1}/openapi.json").json()
    routes = []
    for path, ops in spec["paths"].items():
        if "get" in ops and "{store_id}" in path:
            params = {p["name"] for p in ops["get"].get("parameters", []) if p["in"] == "query"}
            routes.append((path, params))
    return routes


def _url(path: str) -> str:
    return path.replace("{store_id}", ALPHA).replace("{product_id}", "p-mug")


def test_every_endpoint_rejects_every_bad_parameter_it_takes(world: ApiWorld) -> None:
    checked = 0
    for path, params in _get_routes(world):
        for name in params & set(BAD_VALUES):
            for value, code in BAD_VALUES[name]:
                resp = world.client.get(_url(path), params={name: value}, headers=world.admin)
                assert 400 <= resp.status_code < 500, (path, name, value, resp.text)
                error = resp.json()["error"]
                assert error["code"] == code, (path, name, value, error)
                assert error["field"] == name, (path, name, value, error)
                assert error["message"]
                checked += 1
    assert checked >= 140  # every list, export and chart endpoint with each bad value


@pytest.mark.parametrize(
    ("params", "field", "code"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "from", "invalid_range"),
        ({"from": "2020-01-01", "to": "2022-06-01"}, "to", "invalid_range"),
        ({"from": "2024-01-01"}, "to", "invalid_range"),
    ],
)
def test_bad_ranges(world: ApiWorld, params: dict[str, str], field: str, code: str) -> None:
    for suffix in ("overview", "daily", "campaigns", "flows", "forms", "segments"):
        resp = world.client.get(f"{V1}/stores/{ALPHA}/{suffix}", params=params, headers=world.admin)
        if "to" not in params and resp.status_code == 200:
            continue  # from 2024-01-01 to today is within two years only near the start of 2024
        assert resp.status_code == 422, (suffix, resp.text)
        assert resp.json()["error"] == resp.json()["error"] | {"field": field, "code": code}


def test_two_full_years_are_accepted(world: ApiWorld) -> None:
    resp = world.client.get(
        f"{V1}/stores/{ALPHA}/overview",
        params={"from": "2024-01-01", "to": "2025-12-31"},
        headers=world.admin,
    )
    assert resp.status_code == 200


def test_churn_min_above_max(world: ApiWorld) -> None:
    resp = world.client.get(
        f"{V1}/stores/{ALPHA}/customers",
        params={"churn_min": 0.8, "churn_max": 0.2},
        headers=world.admin,
    )
    assert resp.status_code == 422
    assert resp.json()["error"]["field"] == "churn_min"


def test_unknown_product_and_route(world: ApiWorld) -> None:
    resp = world.client.get(
        f"{V1}/stores/{ALPHA}/products/nope/bought-together", headers=world.admin
    )
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = world.client.get(f"{V1}/nothing-here", headers=world.admin)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "not_found"
    resp = world.client.put(f"{V1}/stores/{ALPHA}/overview", headers=world.admin)
    assert resp.status_code == 405 and "error" in resp.json()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "post",
            "/stores",
            {"name": "", "klaviyo_public_id": "Ab1", "api_key": "pk_x1234"},
            "name",
        ),
        (
            "post",
            "/stores",
            {"name": "a", "klaviyo_public_id": "A b", "api_key": "pk_x1234"},
            "klaviyo_public_id",
        ),
        (
            "post",
            "/stores",
            {"name": "a", "klaviyo_public_id": "Ab1", "api_key": "sk_1234"},
            "api_key",
        ),
        ("post", "/stores", {"name": "a", "klaviyo_public_id": "Ab1"}, "api_key"),
        (
            "post",
            "/stores",
            {"name": "a", "klaviyo_public_id": "Ab1", "api_key": "pk_1234", "extra": 1},
            "extra",
        ),
        ("patch", f"/stores/{ALPHA}", {"status": "paused"}, "status"),
        ("put", f"/stores/{ALPHA}/api-key", {"api_key": "nope"}, "api_key"),
        ("post", f"/stores/{ALPHA}/sync", {"since": "last week"}, "since"),
        ("post", f"/stores/{ALPHA}/sync", {"only": ["campaigns", "tweets"]}, None),
        ("post", f"/stores/{ALPHA}/sync", {"full": True, "since": "2026-01-01"}, None),
        ("post", f"/stores/{ALPHA}/aggregates", {"jobs": ["nope"]}, None),
    ],
)
def test_bad_bodies(
    world: ApiWorld, method: str, path: str, body: dict[str, Any], field: str | None
) -> None:
    resp = world.client.request(method.upper(), f"{V1}{path}", json=body, headers=world.admin)
    assert 400 <= resp.status_code < 500, resp.text
    error = resp.json()["error"]
    assert error["message"]
    if field is not None:
        assert error["field"] == field
    malformed = world.client.request(
        method.upper(),
        f"{V1}{path}",
        content=b"{not json",
        headers={**world.admin, "content-type": "application/json"},
    )
    assert malformed.status_code == 422
