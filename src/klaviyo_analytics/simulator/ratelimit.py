"""Per-account, per-operation fixed-window rate limiting, as Klaviyo applies it.

Each operation has a burst (1 s), a steady (1 min) and sometimes a daily window (from the spec).
Windows run on real monotonic time multiplied by the configured time scale, so tests can exercise
a one-minute window in well under a second.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from klaviyo_analytics.simulator.spec import Limit, Operation


@dataclass
class _Window:
    start: float
    used: int


@dataclass(frozen=True)
class Decision:
    """Outcome of one rate-limit check.

    Attributes:
        allowed: whether the request may proceed.
        retry_after: whole seconds to wait (for a 429).
        limit: the steady window's limit (``RateLimit-Limit``).
        remaining: requests left in the steady window (``RateLimit-Remaining``).
        reset: seconds until the steady window resets (``RateLimit-Reset``).
    """

    allowed: bool
    retry_after: int = 0
    limit: int = 0
    remaining: int = 0
    reset: int = 0


class RateLimiter:
    """Fixed-window counters keyed by (quota owner, operation, window).

    Args:
        time_scale: factor applied to every window length.
        enabled: ``False`` lets everything through (the ``off`` profile).
    """

    def __init__(self, time_scale: float = 1.0, enabled: bool = True) -> None:
        self.time_scale = time_scale
        self.enabled = enabled
        self._windows: dict[tuple[str, str, int], _Window] = {}
        self._lock = threading.Lock()

    def check(self, owner: str, op: Operation) -> Decision:
        """Count a request against every window of the operation, or refuse it.

        Args:
            owner: quota owner (an account's private-key quota or an OAuth app install).
            op: the operation called.

        Returns:
            The decision; a refused request is not counted.
        """
        if not self.enabled:
            return Decision(allowed=True)
        now = time.monotonic()
        limits = [lim for lim in (op.burst, op.steady, op.daily) if lim is not None]
        with self._lock:
            windows = []
            wait = 0.0
            for lim in limits:
                length = lim.seconds * self.time_scale
                key = (owner, op.operation_id, lim.seconds)
                win = self._windows.get(key)
                if win is None or now - win.start >= length:
                    win = _Window(start=now, used=0)
                    self._windows[key] = win
                windows.append((lim, win, length))
                if win.used >= lim.count:
                    wait = max(wait, win.start + length - now)
            if wait > 0:
                return Decision(allowed=False, retry_after=max(1, math.ceil(wait)))
            for _, win, _ in windows:
                win.used += 1
            steady = next(
                ((lim, win, length) for lim, win, length in windows if lim.seconds == 60),
                windows[-1] if windows else None,
            )
        if steady is None:
            return Decision(allowed=True)
        lim, win, length = steady
        return Decision(
            allowed=True,
            limit=lim.count,
            remaining=max(0, lim.count - win.used),
            reset=max(0, math.ceil(win.start + length - now)),
        )


def describe(limit: Limit | None) -> str:
    """A limit as the spec writes it (``10/s``), or ``-``."""
    if limit is None:
        return "-"
    unit = {1: "s", 60: "m", 86_400: "d"}[limit.seconds]
    return f"{limit.count}/{unit}"
