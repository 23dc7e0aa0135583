"""Credentials of the simulated accounts: private API keys and the OAuth server.

OAuth follows Klaviyo: an authorization-code grant with PKCE (S256), a refresh-token grant with
HTTP Basic client authentication, access tokens that expire on the simulator clock, refresh tokens
that rotate on every use, and ``invalid_grant`` for a used, revoked or unknown refresh token.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import timedelta

from klaviyo_analytics.simulator.clock import SimClock
from klaviyo_analytics.simulator.ids import mix

_VERIFIER = re.compile(r"^[A-Za-z0-9\-._~]{43,128}$")


@dataclass(frozen=True)
class AccountCredentials:
    """How a client connects to one simulated account.

    Attributes:
        public_id: the account's public id.
        api_key: a private API key with every read scope.
        oauth_client_id: OAuth client id of the app installed on the account.
        oauth_client_secret: its client secret.
        refresh_token: a refresh token granted with every read scope.
        timezone: the account's IANA timezone.
    """

    public_id: str
    api_key: str
    oauth_client_id: str
    oauth_client_secret: str
    refresh_token: str
    timezone: str


@dataclass
class _Token:
    account: str
    client_id: str
    scopes: frozenset[str]
    expires_at: float = 0.0
    used: bool = False
    revoked: bool = False


@dataclass
class _Code:
    account: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    challenge: str
    expires_at: float
    used: bool = False


class OAuthError(Exception):
    """An OAuth error answered as HTTP 400 (or 401) ``{"error": code}``."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


@dataclass(frozen=True)
class Principal:
    """Who made an API request.

    Attributes:
        account: public id of the account.
        scopes: scopes the credential carries.
        quota: rate-limit quota owner (private keys share one per account, each OAuth app
            install has its own).
        token: the access token, for OAuth requests.
    """

    account: str
    scopes: frozenset[str]
    quota: str
    token: str | None = None


@dataclass
class AuthState:
    """All keys, clients and tokens of a simulator run (thread-safe).

    Args:
        clock: the simulator clock (token expiry).
        scopes: the scopes a private key and a default grant carry.
        access_token_lifetime: access token lifetime in seconds.
    """

    clock: SimClock
    scopes: frozenset[str]
    access_token_lifetime: int = 3600
    keys: dict[str, str] = field(default_factory=dict)
    clients: dict[str, tuple[str, str]] = field(default_factory=dict)
    access: dict[str, _Token] = field(default_factory=dict)
    refresh: dict[str, _Token] = field(default_factory=dict)
    codes: dict[str, _Code] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_account(
        self, seed: int, index: int, public_id: str, timezone: str
    ) -> AccountCredentials:
        """Create the deterministic credentials of one account."""
        key = f"pk_{mix(seed, index, 'api-key'):016x}{mix(seed, index, 'api-key2'):016x}"[:37]
        client_id = f"sim-client-{mix(seed, index, 'client') % 10**10:010d}"
        secret = f"sim-secret-{mix(seed, index, 'secret'):016x}"
        refresh = f"rt_{mix(seed, index, 'refresh'):016x}"
        with self._lock:
            self.keys[key] = public_id
            self.clients[client_id] = (secret, public_id)
            self.refresh[refresh] = _Token(public_id, client_id, self.scopes)
        return AccountCredentials(public_id, key, client_id, secret, refresh, timezone)

    # -- API request authentication -------------------------------------------------------------

    def principal_for_key(self, key: str) -> Principal | None:
        """The principal of a private API key, or ``None`` if unknown."""
        account = self.keys.get(key)
        if account is None:
            return None
        return Principal(account=account, scopes=self.scopes, quota=f"{account}:key")

    def principal_for_bearer(self, token: str) -> Principal | None:
        """The principal of a valid, unexpired access token, or ``None``."""
        with self._lock:
            tok = self.access.get(token)
            if tok is None or tok.revoked or self.clock.timestamp() >= tok.expires_at:
                return None
            return Principal(
                account=tok.account,
                scopes=tok.scopes,
                quota=f"{tok.account}:{tok.client_id}",
                token=token,
            )

    def expire_access_token(self, token: str) -> None:
        """Make an access token expire now (fault injection)."""
        with self._lock:
            if token in self.access:
                self.access[token].expires_at = 0.0

    def revoke_refresh_tokens(self, public_id: str) -> int:
        """Revoke every refresh token of an account; returns how many were live."""
        n = 0
        with self._lock:
            for tok in self.refresh.values():
                if tok.account == public_id and not tok.revoked and not tok.used:
                    tok.revoked = True
                    n += 1
        return n

    # -- OAuth endpoints ------------------------------------------------------------------------

    def client_from_basic(self, header: str | None) -> str:
        """The client id authenticated by an ``Authorization: Basic`` header.

        Raises:
            OAuthError: ``invalid_client`` when missing or wrong.
        """
        if not header or not header.startswith("Basic "):
            raise OAuthError("invalid_client", "client authentication (HTTP Basic) is required")
        try:
            raw = base64.b64decode(header[6:].strip(), validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            raise OAuthError("invalid_client", "malformed Basic credentials") from None
        client_id, _, secret = raw.partition(":")
        known = self.clients.get(client_id)
        if known is None or not secrets.compare_digest(known[0], secret):
            raise OAuthError("invalid_client", "unknown client or wrong secret")
        return client_id

    def authorize(
        self, client_id: str, redirect_uri: str, scope: str, challenge: str, method: str
    ) -> str:
        """Issue an authorization code (the simulated user clicks "Allow").

        Raises:
            OAuthError: unknown client, missing redirect URI or PKCE parameters.
        """
        if client_id not in self.clients:
            raise OAuthError("invalid_client", "unknown client_id")
        if not redirect_uri:
            raise OAuthError("invalid_request", "redirect_uri is required")
        if method != "S256" or not challenge:
            raise OAuthError("invalid_request", "PKCE with code_challenge_method=S256 is required")
        scopes = frozenset(scope.split()) if scope.strip() else self.scopes
        unknown = scopes - self.scopes
        if unknown:
            raise OAuthError("invalid_scope", f"unknown scopes: {' '.join(sorted(unknown))}")
        code = secrets.token_urlsafe(24)
        with self._lock:
            self.codes[code] = _Code(
                account=self.clients[client_id][1],
                client_id=client_id,
                redirect_uri=redirect_uri,
                scopes=scopes,
                challenge=challenge,
                expires_at=self.clock.timestamp() + 600,
            )
        return code

    def exchange_code(
        self, client_id: str, code: str, verifier: str, redirect_uri: str
    ) -> dict[str, object]:
        """The authorization-code grant.

        Raises:
            OAuthError: unknown/used/expired code, redirect mismatch or a failed PKCE check.
        """
        with self._lock:
            entry = self.codes.get(code)
            if entry is None or entry.used or entry.client_id != client_id:
                raise OAuthError("invalid_grant", "unknown or already used authorization code")
            if self.clock.timestamp() >= entry.expires_at:
                raise OAuthError("invalid_grant", "authorization code expired")
            if entry.redirect_uri != redirect_uri:
                raise OAuthError("invalid_grant", "redirect_uri does not match the authorization")
            if not _VERIFIER.match(verifier or ""):
                raise OAuthError("invalid_request", 'Invalid "code_verifier"')
            digest = hashlib.sha256(verifier.encode()).digest()
            expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
            if not secrets.compare_digest(expected, entry.challenge):
                raise OAuthError("invalid_grant", "Code challenge failed.")
            entry.used = True
            return self._issue(entry.account, client_id, entry.scopes)

    def refresh_grant(self, client_id: str, refresh_token: str, revoke: bool) -> dict[str, object]:
        """The refresh-token grant: a new access token and a rotated refresh token.

        Args:
            client_id: the authenticated client.
            refresh_token: the refresh token presented.
            revoke: fault injection: treat the token as revoked.

        Raises:
            OAuthError: ``invalid_grant`` for an unknown, used or revoked token.
        """
        with self._lock:
            tok = self.refresh.get(refresh_token)
            if tok is not None and revoke:
                tok.revoked = True
            if tok is None or tok.client_id != client_id or tok.used or tok.revoked:
                raise OAuthError("invalid_grant", "refresh token is invalid, used or revoked")
            tok.used = True
            return self._issue(tok.account, client_id, tok.scopes)

    def revoke(self, token: str) -> None:
        """Revoke an access or refresh token (``/oauth/revoke``)."""
        with self._lock:
            for table in (self.access, self.refresh):
                if token in table:
                    table[token].revoked = True

    def _issue(self, account: str, client_id: str, scopes: frozenset[str]) -> dict[str, object]:
        access = secrets.token_urlsafe(32)
        refresh = secrets.token_urlsafe(32)
        expires = self.clock.now() + timedelta(seconds=self.access_token_lifetime)
        self.access[access] = _Token(account, client_id, scopes, expires_at=expires.timestamp())
        self.refresh[refresh] = _Token(account, client_id, scopes)
        return {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": self.access_token_lifetime,
            "refresh_token": refresh,
            "scope": " ".join(sorted(scopes)),
        }
