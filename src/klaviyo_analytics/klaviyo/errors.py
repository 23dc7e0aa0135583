"""Typed errors of the Klaviyo client.

httpx exceptions are caught in :mod:`klaviyo_analytics.klaviyo.client` and re-raised as these;
nothing above the client sees a driver exception. Transient errors are worth a later retry (the
client already retried them within its bounds); terminal ones are not.
"""

from __future__ import annotations

from klaviyo_analytics.errors import KlaviyoAnalyticsError, TerminalError, TransientError


class KlaviyoError(KlaviyoAnalyticsError):
    """Base class of every error the Klaviyo client raises."""


class KlaviyoTransientError(KlaviyoError, TransientError):
    """A 5xx, a timeout or a dropped connection that outlived the client's retry budget.

    Attributes:
        method: HTTP method of the failed request.
        path: URL path of the failed request.
        status: the last HTTP status, or None for transport failures.
        attempts: how many attempts were made.
    """

    def __init__(
        self, method: str, path: str, status: int | None, attempts: int, detail: str
    ) -> None:
        what = f"HTTP {status}" if status is not None else "transport error"
        super().__init__(
            f"Klaviyo {method} {path} failed after {attempts} attempt(s): {what}: {detail}"
        )
        self.method = method
        self.path = path
        self.status = status
        self.attempts = attempts
        self.detail = detail


class RateLimitedError(KlaviyoTransientError):
    """Klaviyo kept answering 429 (or asked to wait longer than the retry budget allows).

    Attributes:
        retry_after: seconds Klaviyo asked us to wait, when it said.
    """

    def __init__(self, method: str, path: str, attempts: int, retry_after: float | None) -> None:
        super().__init__(method, path, 429, attempts, f"rate limited (Retry-After {retry_after} s)")
        self.retry_after = retry_after


class BadResponseError(KlaviyoTransientError):
    """A 2xx response whose body is not the JSON:API document we expect (kept after retries)."""


class ReauthRequiredError(KlaviyoError, TerminalError):
    """The store's credentials were refused for good (``invalid_grant``, revoked key).

    Attributes:
        klaviyo_public_id: the Klaviyo account concerned.
        reason: Klaviyo's error code or a short explanation.
    """

    def __init__(self, klaviyo_public_id: str, reason: str) -> None:
        super().__init__(
            f"Klaviyo account {klaviyo_public_id} needs re-authorisation: {reason}; "
            "reconnect the store"
        )
        self.klaviyo_public_id = klaviyo_public_id
        self.reason = reason


class KlaviyoApiError(KlaviyoError, TerminalError):
    """A 4xx answer other than 401/429 (bad filter, missing scope, unknown revision...).

    Attributes:
        method: HTTP method.
        path: URL path.
        status: the HTTP status.
        errors: the JSON:API ``errors`` array, when the body had one.
    """

    def __init__(
        self, method: str, path: str, status: int, errors: list[dict[str, object]]
    ) -> None:
        detail = "; ".join(
            f"{e.get('code', '')}: {e.get('detail') or e.get('title') or ''}" for e in errors
        )
        super().__init__(f"Klaviyo {method} {path} answered HTTP {status}: {detail or 'no detail'}")
        self.method = method
        self.path = path
        self.status = status
        self.errors = errors


class InvalidEventDataError(KlaviyoError, TerminalError):
    """An event's payload holds a value we cannot store faithfully (e.g. money that is not a
    number). The sync stops that data type with this error rather than storing a guess."""
