"""The simulator's clock: a settable "now" that tests advance to make new events appear.

It never moves by itself, so a store and its ground truth stay fixed until a test (or the demo)
calls :meth:`SimClock.advance`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class SimClock:
    """A thread-safe simulated clock.

    Args:
        start: the initial time (timezone-aware).
    """

    def __init__(self, start: datetime) -> None:
        self._lock = threading.Lock()
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        """The current simulated time (UTC)."""
        with self._lock:
            return self._now

    def timestamp(self) -> float:
        """The current simulated time as epoch seconds."""
        return self.now().timestamp()

    def advance(self, delta: timedelta) -> datetime:
        """Move the clock forward.

        Args:
            delta: how far; must not be negative.

        Returns:
            The new time.

        Raises:
            ValueError: ``delta`` is negative (the clock never goes back).
        """
        if delta < timedelta(0):
            raise ValueError("the simulator clock cannot go back")
        with self._lock:
            self._now += delta
            return self._now

    def set(self, when: datetime) -> datetime:
        """Move the clock forward to ``when``.

        Raises:
            ValueError: ``when`` is earlier than the current time.
        """
        return self.advance(when.astimezone(UTC) - self.now())
