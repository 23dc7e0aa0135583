"""Errors of the aggregates layer, under the project's root error."""

from __future__ import annotations

from collections.abc import Iterable

from klaviyo_analytics.errors import TerminalError, UsageError


class AggregateError(TerminalError):
    """An aggregate job could not run (bad input or a failed statement)."""


class UnknownJobError(UsageError):
    """A job name that is not one of the five jobs."""

    def __init__(self, name: str, known: Iterable[str]) -> None:
        super().__init__(f"unknown aggregate job {name!r}; choose from {', '.join(known)}")
        self.name = name


class InvalidTimezoneError(UsageError):
    """An account timezone that is not an IANA name."""

    def __init__(self, timezone: str) -> None:
        super().__init__(f"unknown timezone {timezone!r}; use an IANA name like America/New_York")
        self.timezone = timezone
