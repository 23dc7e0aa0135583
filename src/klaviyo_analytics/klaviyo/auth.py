"""Authentication: a private API key, or OAuth access tokens refreshed before they expire.

OAuth refresh follows klaviyo-api.md §3: ``POST /oauth/token`` with HTTP Basic client auth and a
form body; every answer carries a new refresh token, which is persisted through a compare-and-set
callback *before* the new access token is used, so a crash never loses the rotated token. When the
CAS fails another worker rotated first: we adopt the stored pair instead of ours. ``invalid_grant``
means the grant is gone (uninstalled, unused 90 days, revoked): :class:`ReauthRequiredError`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
import orjson

from klaviyo_analytics.klaviyo.errors import (
    KlaviyoApiError,
    KlaviyoTransientError,
    ReauthRequiredError,
)

#: Refresh when fewer than this many seconds of the access token remain.
REFRESH_MARGIN = timedelta(seconds=60)


class Auth(Protocol):
    """What the client needs from an authentication scheme."""

    def header(self) -> str:
        """The ``Authorization`` header value to send now (refreshing first if due)."""

    def unauthorized(self, sent: str) -> None:
        """React to a 401 for a request sent with header ``sent``.

        Raises:
            ReauthRequiredError: retrying cannot help.
        """


class ApiKeyAuth:
    """``Authorization: Klaviyo-API-Key pk_...``.

    Args:
        api_key: the private key.
        klaviyo_public_id: the account, for error messages.
    """

    def __init__(self, api_key: str, klaviyo_public_id: str) -> None:
        self._value = f"Klaviyo-API-Key {api_key}"
        self.klaviyo_public_id = klaviyo_public_id

    def header(self) -> str:
        """The key header."""
        return self._value

    def unauthorized(self, sent: str) -> None:
        """A private key that gets 401 was revoked or is wrong: nothing to retry."""
        raise ReauthRequiredError(self.klaviyo_public_id, "the private API key was rejected (401)")


@dataclass(frozen=True)
class TokenSet:
    """An OAuth access/refresh token pair.

    Attributes:
        access_token: the bearer token.
        refresh_token: the refresh token that belongs to it.
        expires_at: when the access token expires (aware UTC).
    """

    access_token: str
    refresh_token: str
    expires_at: datetime


#: ``persist(expected_refresh_token, new_tokens) -> bool``: atomic CAS in the metadata store.
PersistTokens = Callable[[str, TokenSet], bool]
#: ``reload() -> TokenSet``: the pair currently stored (after another worker rotated it).
ReloadTokens = Callable[[], TokenSet]


class OAuthAuth:
    """Bearer tokens with refresh before expiry and once per 401.

    Args:
        tokens: the stored token pair.
        klaviyo_public_id: the account, for error messages.
        token_url: absolute URL of the token endpoint (``<base>/oauth/token``).
        client_id: the OAuth app's client id.
        client_secret: the OAuth app's client secret.
        persist: compare-and-set of the rotated pair (must be durable before we use it).
        reload: re-read the stored pair.
        http: the httpx client to post with.
        now: current time (aware UTC).
        attempts: attempts for a refresh that fails transiently.
    """

    def __init__(
        self,
        tokens: TokenSet,
        *,
        klaviyo_public_id: str,
        token_url: str,
        client_id: str,
        client_secret: str,
        persist: PersistTokens,
        reload: ReloadTokens,
        http: httpx.Client,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        attempts: int = 3,
    ) -> None:
        self._tokens = tokens
        self.klaviyo_public_id = klaviyo_public_id
        self._token_url = token_url
        self._basic = httpx.BasicAuth(client_id, client_secret)
        self._persist = persist
        self._reload = reload
        self._http = http
        self._now = now
        self._attempts = attempts
        self._lock = threading.Lock()
        self.refreshes = 0

    @property
    def tokens(self) -> TokenSet:
        """The pair in use."""
        return self._tokens

    def header(self) -> str:
        """The bearer header, refreshing first when the token is about to expire."""
        with self._lock:
            if self._tokens.expires_at - self._now() <= REFRESH_MARGIN:
                self._refresh_locked()
            return f"Bearer {self._tokens.access_token}"

    def unauthorized(self, sent: str) -> None:
        """Refresh once for a 401, unless another thread already replaced the token."""
        with self._lock:
            if sent != f"Bearer {self._tokens.access_token}":
                return
            self._refresh_locked()

    def _refresh_locked(self) -> None:
        expected = self._tokens.refresh_token
        fresh = self._request_tokens(expected)
        if fresh is None:
            # invalid_grant: maybe another worker rotated the refresh token under us.
            stored = self._reload()
            if stored.refresh_token != expected:
                self._tokens = stored
                return
            raise ReauthRequiredError(
                self.klaviyo_public_id, "refresh token refused (invalid_grant)"
            )
        # Durable first, then use: a crash after this line leaves the new pair stored.
        if self._persist(expected, fresh):
            self._tokens = fresh
        else:
            self._tokens = self._reload()
        self.refreshes += 1

    def _request_tokens(self, refresh_token: str) -> TokenSet | None:
        last: Exception | None = None
        for _ in range(self._attempts):
            try:
                resp = self._http.post(
                    self._token_url,
                    data={"grant_type": "refresh_token", "refresh_token": refresh_token},
                    auth=self._basic,
                    headers={"accept": "application/json"},
                )
            except httpx.TransportError as exc:
                last = exc
                continue
            if resp.status_code >= 500 or resp.status_code == 429:
                last = RuntimeError(f"HTTP {resp.status_code}")
                continue
            try:
                body = orjson.loads(resp.content)
            except orjson.JSONDecodeError:
                body = {}
            if resp.status_code == 200 and isinstance(body, dict) and "access_token" in body:
                lifetime = float(body.get("expires_in") or 3600)
                return TokenSet(
                    str(body["access_token"]),
                    str(body.get("refresh_token") or refresh_token),
                    self._now() + timedelta(seconds=lifetime),
                )
            code = str(body.get("error", "")) if isinstance(body, dict) else ""
            if code in ("invalid_grant", "invalid_grant_type"):
                return None
            raise KlaviyoApiError(
                "POST",
                "/oauth/token",
                resp.status_code,
                [{"code": code or "error", "detail": str(body)[:200]}],
            )
        raise KlaviyoTransientError(
            "POST", "/oauth/token", None, self._attempts, f"token refresh failed: {last}"
        )
