"""OAuth: refresh rotation, expiry on the simulator clock, invalid_grant, code grant with PKCE."""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from klaviyo_analytics.simulator import SimulatorServer
from tests.simulator.conftest import REVISION


def _basic(client_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _refresh(sim: SimulatorServer, refresh_token: str, index: int = 0) -> httpx.Response:
    a = sim.accounts[index]
    return httpx.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        headers=_basic(a.oauth_client_id, a.oauth_client_secret),
    )


def _bearer(sim: SimulatorServer, token: str, path: str = "/api/accounts") -> httpx.Response:
    return httpx.get(
        f"{sim.base_url}{path}", headers={"Authorization": f"Bearer {token}", "revision": REVISION}
    )


def test_refresh_rotates_and_tokens_expire(sim: SimulatorServer) -> None:
    first = _refresh(sim, sim.accounts[1].refresh_token, index=1)
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600
    assert "events:read" in body["scope"].split()
    ok = _bearer(sim, body["access_token"])
    assert ok.json()["data"][0]["id"] == sim.accounts[1].public_id
    # The used refresh token is gone; the rotated one works once.
    reused = _refresh(sim, sim.accounts[1].refresh_token, index=1)
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant"
    second = _refresh(sim, body["refresh_token"], index=1).json()
    assert second["refresh_token"] != body["refresh_token"]
    # Access tokens expire on the simulator clock.
    sim.clock.advance(timedelta(seconds=3601))
    expired = _bearer(sim, second["access_token"])
    assert expired.status_code == 401
    assert expired.json()["errors"][0]["code"] == "not_authenticated"
    # Revoked refresh tokens get invalid_grant.
    assert sim.revoke_refresh_tokens(sim.accounts[1].public_id) == 1
    revoked = _refresh(sim, second["refresh_token"], index=1)
    assert revoked.status_code == 400 and revoked.json()["error"] == "invalid_grant"


def test_bad_client_and_grant_type(sim: SimulatorServer) -> None:
    a = sim.accounts[0]
    r = httpx.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": a.refresh_token},
        headers=_basic(a.oauth_client_id, "wrong"),
    )
    assert r.status_code == 400 and r.json()["error"] == "invalid_client"
    r = httpx.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "password"},
        headers=_basic(a.oauth_client_id, a.oauth_client_secret),
    )
    assert r.json()["error"] == "unsupported_grant_type"


def test_authorization_code_with_pkce_and_scopes(sim: SimulatorServer) -> None:
    a = sim.accounts[0]
    verifier = "v" * 20 + "-._~" + "x" * 30
    challenge = (
        base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    )
    params = {
        "response_type": "code",
        "client_id": a.oauth_client_id,
        "redirect_uri": "http://127.0.0.1:9/callback",
        "scope": "accounts:read metrics:read",
        "state": "xyz",
        "code_challenge_method": "S256",
        "code_challenge": challenge,
    }
    r = httpx.get(f"{sim.base_url}/oauth/authorize", params=params)
    assert r.status_code == 302
    loc = urlsplit(r.headers["location"])
    assert loc.path == "/callback"
    q = parse_qs(loc.query)
    assert q["state"] == ["xyz"]
    code = q["code"][0]
    headers = _basic(a.oauth_client_id, a.oauth_client_secret)
    bad = httpx.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": "y" * 50,
              "redirect_uri": params["redirect_uri"]},
        headers=headers,
    )  # fmt: skip
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"
    r = httpx.get(f"{sim.base_url}/oauth/authorize", params=params)
    code = parse_qs(urlsplit(r.headers["location"]).query)["code"][0]
    good = httpx.post(
        f"{sim.base_url}/oauth/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier,
              "redirect_uri": params["redirect_uri"]},
        headers=headers,
    )  # fmt: skip
    assert good.status_code == 200, good.text
    token = good.json()["access_token"]
    assert good.json()["scope"] == "accounts:read metrics:read"
    assert _bearer(sim, token).status_code == 200
    assert _bearer(sim, token, "/api/metrics").status_code == 200
    forbidden = _bearer(sim, token, "/api/events")
    assert forbidden.status_code == 403
    assert "events:read" in forbidden.json()["errors"][0]["detail"]
