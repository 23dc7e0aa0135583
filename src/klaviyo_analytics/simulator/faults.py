"""Deterministic fault injection.

A decision is a hash of (fault seed, request identity, how many times that identity was seen), so
the n-th attempt of a given request always gets the same fault: failures replay exactly, and a
client that retries eventually gets through.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from klaviyo_analytics.simulator.config import FaultSpec
from klaviyo_analytics.simulator.events import EventSource
from klaviyo_analytics.simulator.ids import mix, splitmix_array, unit_array

KeepFn = Callable[[str, npt.NDArray[np.int64], npt.NDArray[np.int64]], npt.NDArray[np.bool_]]


@dataclass(frozen=True)
class FaultDecision:
    """Faults drawn for one request.

    Attributes:
        status: an error status to answer with instead (429, 500, 502, 503), or 0.
        delay: seconds to sleep before answering.
        malformed: truncate the JSON body.
        expire_token: expire the request's OAuth access token now (answer 401).
    """

    status: int = 0
    delay: float = 0.0
    malformed: bool = False
    expire_token: bool = False


class FaultInjector:
    """Draws faults for requests according to a :class:`FaultSpec`.

    Args:
        spec: the fault knobs.
    """

    def __init__(self, spec: FaultSpec) -> None:
        self.spec = spec
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()

    def _u(self, *parts: int | str) -> float:
        with self._lock:
            key = "|".join(str(p) for p in parts)
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
        return mix(self.spec.seed, key, n) / float(1 << 64)

    def draw(self, method: str, path: str, query: str, oauth: bool) -> FaultDecision:
        """The faults of one ``/api`` request."""
        spec = self.spec
        if not spec.any_http_fault and not (oauth and spec.token_expiry > 0):
            return FaultDecision()
        u = self._u("http", method, path.rstrip("/"), query)
        edges = [
            (spec.rate_429, 429),
            (spec.error_500, 500),
            (spec.error_502, 502),
            (spec.error_503, 503),
        ]
        acc = 0.0
        status = 0
        for share, code in edges:
            if acc <= u < acc + share:
                status = code
            acc += share
        if not status and acc <= u < acc + spec.error_5xx:
            status = (500, 502, 503)[int((u - acc) / spec.error_5xx * 3) % 3]
        u2 = self._u("delay", method, path.rstrip("/"), query)
        delay = 0.0
        if u2 < spec.timeout:
            delay = spec.timeout_seconds
        elif u2 < spec.timeout + spec.slow:
            delay = spec.slow_seconds
        malformed = self._u("body", method, path.rstrip("/"), query) < spec.malformed
        expire = oauth and self._u("expire", method, path.rstrip("/"), query) < spec.token_expiry
        return FaultDecision(status, delay, malformed and not status, expire)

    def duplicate_page(self, query: str) -> bool:
        """Whether this events page repeats the tail of the previous one."""
        if self.spec.duplicates <= 0:
            return False
        return self._u("dup", query) < self.spec.duplicates

    def revoke_refresh(self, token: str) -> bool:
        """Whether this refresh grant finds its refresh token revoked."""
        if self.spec.revoke <= 0:
            return False
        return self._u("revoke", token) < self.spec.revoke

    def late_filter(self, events: EventSource, now_ts: int) -> KeepFn | None:
        """A mask function hiding late events that have not arrived yet, or ``None``.

        An event is late when a hash of its identity falls under the ``late`` share; it becomes
        visible ``late_delay_hours`` after its datetime.
        """
        share = self.spec.late
        if share <= 0:
            return None
        delay = int(self.spec.late_delay_hours * 3600)
        salt = np.uint64(mix(self.spec.seed, "late"))
        stream_salt = {k: np.uint64(mix(self.spec.seed, "late", k)) for k in events.by_key}

        def keep(
            key: str, pos: npt.NDArray[np.int64], ts: npt.NDArray[np.int64]
        ) -> npt.NDArray[np.bool_]:
            recent = ts + delay > now_ts
            if not recent.any():
                return np.ones(len(pos), dtype=bool)
            h = splitmix_array((pos.astype(np.uint64) ^ salt) + stream_salt[key])
            late = unit_array(h) < share
            return np.asarray(~(late & recent), dtype=bool)

        return keep
