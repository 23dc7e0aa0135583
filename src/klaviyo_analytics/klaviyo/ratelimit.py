"""Client-side pacing per endpoint, from the rate limits Klaviyo publishes in its OpenAPI spec.

``ENDPOINT_LIMITS`` is derived from ``x-klaviyo-ratelimit`` of revision 2026-07-15 (a test checks
it against the spec file). Klaviyo counts fixed per-account windows: a burst window of one second
and a steady window of one minute (klaviyo-api.md §2). :class:`Pacer` keeps a sliding log of our
own requests per endpoint and waits before a request would exceed either window, and obeys the
``RateLimit-Remaining``/``RateLimit-Reset`` headers when Klaviyo says the window is used up (other
clients of the same account share the quota, so our own log is not the whole truth).
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointLimit:
    """Published limits of one operation.

    Attributes:
        burst: requests per second.
        steady: requests per minute.
        daily: requests per day, for the few operations that have a daily cap.
    """

    burst: int
    steady: int
    daily: int | None = None


XS = EndpointLimit(1, 15)
S = EndpointLimit(3, 60)
M = EndpointLimit(10, 150)
L = EndpointLimit(75, 750)
XL = EndpointLimit(350, 3500)
REPORTING = EndpointLimit(1, 2, 225)

#: (method, path template) → limits, for every operation the sync calls.
ENDPOINT_LIMITS: dict[tuple[str, str], EndpointLimit] = {
    ("GET", "/api/accounts"): XS,
    ("GET", "/api/metrics"): M,
    ("GET", "/api/events"): XL,
    ("GET", "/api/campaigns"): M,
    ("GET", "/api/campaigns/{id}/campaign-messages"): M,
    ("GET", "/api/flows"): S,
    ("GET", "/api/flows/{id}/flow-actions"): S,
    ("GET", "/api/flow-actions/{id}/flow-messages"): S,
    ("GET", "/api/forms"): S,
    ("GET", "/api/segments"): L,
    ("POST", "/api/campaign-values-reports"): REPORTING,
    ("POST", "/api/flow-values-reports"): REPORTING,
    ("POST", "/api/flow-series-reports"): REPORTING,
    ("POST", "/api/form-values-reports"): REPORTING,
    ("POST", "/api/form-series-reports"): REPORTING,
    ("POST", "/api/segment-values-reports"): REPORTING,
    ("POST", "/api/segment-series-reports"): REPORTING,
}

#: Used for an operation missing from the table: the strictest ordinary tier.
DEFAULT_LIMIT = XS

_ID_SEGMENT = re.compile(r"^(/api/[a-z-]+/)[^/]+(/[a-z-]+)?/?$")


def endpoint_key(method: str, path: str) -> tuple[str, str]:
    """The (method, template) key of a concrete request path.

    Args:
        method: HTTP method.
        path: URL path, e.g. ``/api/flows/XyZ/flow-actions``.

    Returns:
        The key of :data:`ENDPOINT_LIMITS`, e.g. ``("GET", "/api/flows/{id}/flow-actions")``.
    """
    path = path.rstrip("/") or "/"
    if (method, path) in ENDPOINT_LIMITS:
        return method, path
    match = _ID_SEGMENT.match(path)
    if match:
        return method, f"{match.group(1)}{{id}}{match.group(2) or ''}"
    return method, path


def limit_for(method: str, path: str) -> EndpointLimit:
    """The published limit of the operation a request path belongs to."""
    return ENDPOINT_LIMITS.get(endpoint_key(method, path), DEFAULT_LIMIT)


def parse_leading_int(value: str | None) -> int | None:
    """The leading integer of a header value (Klaviyo documents integers; parse defensively)."""
    if value is None:
        return None
    match = re.match(r"\s*(\d+)", value)
    return int(match.group(1)) if match else None


class _Window:
    """A sliding log of request times for one limit and window length."""

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.times: deque[float] = deque()

    def wait_needed(self, now: float) -> float:
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        if len(self.times) < self.limit:
            return 0.0
        return self.times[0] + self.seconds - now


class Pacer:
    """Waits before requests so that each endpoint stays under its burst and steady limits.

    Args:
        window_scale: factor applied to the window lengths (1.0 in production; the simulator's
            ``time_scale`` in tests, where a minute lasts ``60 × time_scale`` seconds).
        enabled: False turns pacing off (a simulator with rate limits off, benchmarks).
        clock: monotonic time source.
        sleep: sleep function.
    """

    def __init__(
        self,
        window_scale: float = 1.0,
        *,
        enabled: bool = True,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.window_scale = window_scale
        self.enabled = enabled
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str], tuple[_Window, _Window]] = {}
        self._blocked_until: dict[tuple[str, str], float] = {}
        self.waited_seconds = 0.0

    def _windows_for(self, key: tuple[str, str]) -> tuple[_Window, _Window]:
        windows = self._windows.get(key)
        if windows is None:
            lim = ENDPOINT_LIMITS.get(key, DEFAULT_LIMIT)
            windows = (
                _Window(lim.burst, 1.0 * self.window_scale),
                _Window(lim.steady, 60.0 * self.window_scale),
            )
            self._windows[key] = windows
        return windows

    def acquire(self, method: str, path: str) -> float:
        """Block until a request to ``path`` fits the limits, then record it.

        Returns:
            Seconds waited.
        """
        if not self.enabled:
            return 0.0
        key = endpoint_key(method, path)
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                burst, steady = self._windows_for(key)
                wait = max(
                    burst.wait_needed(now),
                    steady.wait_needed(now),
                    self._blocked_until.get(key, 0.0) - now,
                )
                if wait <= 0:
                    burst.times.append(now)
                    steady.times.append(now)
                    self.waited_seconds += waited
                    return waited
            self._sleep(wait)
            waited += wait

    def observe(self, method: str, path: str, headers: Mapping[str, str]) -> None:
        """Take Klaviyo's view of the steady window into account.

        When ``RateLimit-Remaining`` is 0, hold the endpoint until ``RateLimit-Reset`` seconds
        have passed (capped at one scaled steady window).
        """
        if not self.enabled:
            return
        remaining = parse_leading_int(headers.get("ratelimit-remaining"))
        reset = parse_leading_int(headers.get("ratelimit-reset"))
        if remaining is None or remaining > 0 or reset is None:
            return
        hold = min(float(reset), 60.0 * self.window_scale)
        key = endpoint_key(method, path)
        with self._lock:
            self._blocked_until[key] = max(self._blocked_until.get(key, 0.0), self._clock() + hold)

    def hold(self, method: str, path: str, seconds: float) -> None:
        """Hold an endpoint for ``seconds`` (after a 429's ``Retry-After``)."""
        if not self.enabled:
            return
        key = endpoint_key(method, path)
        with self._lock:
            self._blocked_until[key] = max(
                self._blocked_until.get(key, 0.0), self._clock() + seconds
            )
