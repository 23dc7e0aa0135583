"""Connecting a Klaviyo account by OAuth (klaviyo-api.md §3): the authorization-code grant with
PKCE (S256) and a ``state`` kept server-side, then the code exchange with HTTP Basic client
authentication and a form body, and a look-up of the account the token belongs to.

Pending authorizations live in this process's memory for :data:`STATE_TTL` and can be used once;
a callback that reaches another process (or comes after a restart) must start over.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import httpx
import orjson

from klaviyo_analytics.api.errors import ApiError, UpstreamError
from klaviyo_analytics.klaviyo.client import KlaviyoClient, RetryPolicy
from klaviyo_analytics.klaviyo.errors import KlaviyoError, ReauthRequiredError
from klaviyo_analytics.klaviyo.models import Account
from klaviyo_analytics.settings import KLAVIYO_PRODUCTION_URL, Settings, env_name

STATE_TTL = timedelta(minutes=10)
MAX_PENDING = 1000
#: Read scopes the sync needs (klaviyo-api.md §4).
SCOPES = (
    "accounts:read",
    "campaigns:read",
    "events:read",
    "flows:read",
    "forms:read",
    "metrics:read",
    "segments:read",
    "tags:read",
)
#: Klaviyo serves the consent page on www.klaviyo.com and the token endpoint on a.klaviyo.com.
PRODUCTION_AUTHORIZE_URL = "https://www.klaviyo.com/oauth/authorize"


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs to finish an authorization it started.

    Attributes:
        state: the opaque value sent to Klaviyo and checked on the way back.
        verifier: the PKCE code verifier (never leaves the server before the code exchange).
        redirect_uri: the callback URL given to the authorize endpoint (must match on exchange).
        name: the name of the store to create.
        store_public_id: the store to re-authorise, if any.
        expires_at: when the state stops being accepted (monotonic seconds).
    """

    state: str
    verifier: str
    redirect_uri: str
    name: str | None
    store_public_id: str | None
    expires_at: float


@dataclass(frozen=True)
class GrantedTokens:
    """Tokens returned by the code exchange."""

    access_token: str
    refresh_token: str
    expires_at: datetime
    scope: str


class PendingAuthorizations:
    """Single-use, expiring ``state`` values of authorizations in progress (thread-safe)."""

    def __init__(self, ttl: timedelta = STATE_TTL) -> None:
        self._ttl = ttl.total_seconds()
        self._pending: dict[str, PendingAuthorization] = {}
        self._lock = threading.Lock()

    def start(
        self, redirect_uri: str, name: str | None, store_public_id: str | None
    ) -> PendingAuthorization:
        """Create and remember a new pending authorization."""
        now = time.monotonic()
        entry = PendingAuthorization(
            state=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(64)[:96],
            redirect_uri=redirect_uri,
            name=name,
            store_public_id=store_public_id,
            expires_at=now + self._ttl,
        )
        with self._lock:
            for key in [k for k, v in self._pending.items() if v.expires_at <= now]:
                del self._pending[key]
            if len(self._pending) >= MAX_PENDING:
                raise ApiError(429, "too_many_pending", "too many OAuth connections in progress")
            self._pending[entry.state] = entry
        return entry

    def take(self, state: str) -> PendingAuthorization:
        """Remove and return the pending authorization of ``state``.

        Raises:
            ApiError: unknown, already used or expired state (400 ``invalid_state``).
        """
        with self._lock:
            entry = self._pending.pop(state, None)
        if entry is None or entry.expires_at <= time.monotonic():
            raise ApiError(
                400, "invalid_state", "unknown, used or expired OAuth state; start again", "state"
            )
        return entry

    def ttl_deadline(self) -> datetime:
        """Wall-clock expiry of a state created now."""
        return datetime.now(UTC) + timedelta(seconds=self._ttl)


def code_challenge(verifier: str) -> str:
    """The S256 PKCE challenge of ``verifier``."""
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _client_credentials(settings: Settings) -> tuple[str, str]:
    secret = settings.klaviyo_client_secret
    if not settings.klaviyo_client_id or secret is None:
        raise ApiError(
            503,
            "oauth_not_configured",
            f"OAuth is not configured: set {env_name('klaviyo_client_id')} and "
            f"{env_name('klaviyo_client_secret')}",
        )
    return settings.klaviyo_client_id, secret.get_secret_value()


def authorize_url(settings: Settings, pending: PendingAuthorization) -> str:
    """The URL of Klaviyo's consent page for ``pending``."""
    client_id, _ = _client_credentials(settings)
    base = settings.klaviyo_base_url.rstrip("/")
    endpoint = (
        PRODUCTION_AUTHORIZE_URL if base == KLAVIYO_PRODUCTION_URL else f"{base}/oauth/authorize"
    )
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": pending.redirect_uri,
            "scope": " ".join(SCOPES),
            "state": pending.state,
            "code_challenge_method": "S256",
            "code_challenge": code_challenge(pending.verifier),
        }
    )
    return f"{endpoint}?{query}"


def exchange_code(
    settings: Settings, pending: PendingAuthorization, code: str, http: httpx.Client
) -> GrantedTokens:
    """Exchange an authorization code for tokens at ``<base>/oauth/token``.

    Raises:
        UpstreamError: Klaviyo refused the code or could not be reached.
    """
    client_id, client_secret = _client_credentials(settings)
    url = f"{settings.klaviyo_base_url.rstrip('/')}/oauth/token"
    try:
        resp = http.post(
            url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": pending.verifier,
                "redirect_uri": pending.redirect_uri,
            },
            auth=httpx.BasicAuth(client_id, client_secret),
            headers={"accept": "application/json"},
        )
    except httpx.HTTPError as exc:
        raise UpstreamError(
            f"cannot reach the Klaviyo token endpoint: {type(exc).__name__}"
        ) from exc
    try:
        body = orjson.loads(resp.content)
    except orjson.JSONDecodeError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        detail = body.get("error") if isinstance(body, dict) else None
        raise UpstreamError(
            f"Klaviyo refused the authorization code (HTTP {resp.status_code}"
            f"{', ' + str(detail) if detail else ''})"
        )
    lifetime = float(body.get("expires_in") or 3600)
    return GrantedTokens(
        access_token=str(body["access_token"]),
        refresh_token=str(body.get("refresh_token") or ""),
        expires_at=datetime.now(UTC) + timedelta(seconds=lifetime),
        scope=str(body.get("scope") or ""),
    )


class _BearerAuth:
    """A fixed OAuth access token (used once, right after the exchange)."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def header(self) -> str:
        """The bearer header."""
        return self._header

    def unauthorized(self, sent: str) -> None:
        """A token minted a moment ago that gets 401 cannot be fixed by retrying."""
        raise ReauthRequiredError("new-connection", "the new access token was rejected (401)")


def account_of(settings: Settings, tokens: GrantedTokens, http: httpx.Client) -> Account:
    """The Klaviyo account the new access token belongs to.

    Raises:
        UpstreamError: the account could not be read.
    """
    client = KlaviyoClient(
        settings.klaviyo_base_url,
        _BearerAuth(tokens.access_token),
        retry=RetryPolicy(max_attempts=3, max_total=30.0, timeout=15.0),
        http=http,
    )
    try:
        return client.get_account()
    except KlaviyoError as exc:
        raise UpstreamError(f"cannot read the connected Klaviyo account: {exc}") from exc
