"""Bearer-token authentication and cross-store isolation: a store token sees only its store,
and another store's id answers 404 exactly like an unknown id."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ALPHA, BETA, ApiWorld

V1 = "/api/v1"
STORE_READS = [
    "",
    "/overview",
    "/daily",
    "/campaigns",
    "/campaigns/export.csv",
    "/flows",
    "/flows/export.csv",
    "/forms",
    "/forms/export.csv",
    "/segments",
    "/segments/export.csv",
    "/customers",
    "/customers/export.csv",
    "/rfm",
    "/churn-risk",
    "/products",
    "/products/export.csv",
    "/products/p-mug/bought-together",
    "/products/p-mug/bought-together/export.csv",
    "/sync-status",
]


@pytest.mark.parametrize("suffix", STORE_READS)
def test_store_token_reads_own_store_and_gets_404_for_others(world: ApiWorld, suffix: str) -> None:
    own = world.client.get(f"{V1}/stores/{ALPHA}{suffix}", headers=world.headers(world.alpha_token))
    assert own.status_code == 200, own.text
    other = world.client.get(
        f"{V1}/stores/{BETA}{suffix}", headers=world.headers(world.alpha_token)
    )
    unknown = world.client.get(f"{V1}/stores/store_nope{suffix}", headers=world.admin)
    assert other.status_code == unknown.status_code == 404
    assert other.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
    assert other.json()["error"]["message"] == other.json()["error"]["message"].replace(
        "alpha", ""
    )  # the message names only the requested id, nothing about the caller's own store
    assert world.client.get(f"{V1}/stores/{BETA}{suffix}", headers=world.admin).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer ka_not_a_real_token"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ],
)
def test_missing_or_bad_token_is_401(world: ApiWorld, headers: dict[str, str]) -> None:
    resp = world.client.get(f"{V1}/stores/{ALPHA}/overview", headers=headers)
    assert resp.status_code == 401
    assert resp.json()["error"]["code"] == "unauthorized"
    assert resp.headers["www-authenticate"] == "Bearer"


def test_store_list_is_scoped_and_me_describes_the_token(world: ApiWorld) -> None:
    mine = world.client.get(f"{V1}/stores", headers=world.headers(world.beta_token)).json()
    assert [s["public_id"] for s in mine["data"]] == [BETA] and mine["count"] == 1
    everything = world.client.get(f"{V1}/stores", headers=world.admin).json()
    assert {s["public_id"] for s in everything["data"]} >= {ALPHA, BETA}
    me = world.client.get(f"{V1}/me", headers=world.headers(world.beta_token)).json()
    assert me["kind"] == "store" and me["store_public_id"] == BETA
    assert "pk_" not in str(everything)  # secrets (even masked) never leave the server


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/stores", {"name": "x", "klaviyo_public_id": "Zz9", "api_key": "pk_abcd"}),
        ("patch", f"/stores/{ALPHA}", {"name": "renamed"}),
        ("delete", f"/stores/{ALPHA}", None),
        ("put", f"/stores/{ALPHA}/api-key", {"api_key": "pk_new_key"}),
        ("post", f"/stores/{ALPHA}/sync", {}),
        ("post", f"/stores/{ALPHA}/aggregates", {}),
        ("post", "/oauth/authorize", {"name": "x"}),
        ("get", "/jobs/abc", None),
    ],
)
def test_admin_endpoints_refuse_store_tokens(
    world: ApiWorld, method: str, path: str, body: dict[str, Any] | None
) -> None:
    kwargs = {"json": body} if body is not None else {}
    resp = world.client.request(
        method.upper(), f"{V1}{path}", headers=world.headers(world.alpha_token), **kwargs
    )
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "forbidden"
    assert (
        world.client.get(f"{V1}/stores/{ALPHA}", headers=world.admin).json()["name"]
        == "Alpha Coffee"
    )


def test_revoked_token_stops_working(world: ApiWorld) -> None:
    record, token = world.ctx.metadata.create_api_token("store", BETA)
    assert world.client.get(f"{V1}/me", headers=world.headers(token)).status_code == 200
    world.ctx.metadata.revoke_api_token(record.id)
    assert world.client.get(f"{V1}/me", headers=world.headers(token)).status_code == 401
