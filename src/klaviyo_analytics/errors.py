"""The root of the project's error hierarchy.

Every layer defines its own errors under :class:`KlaviyoAnalyticsError`; the markers
:class:`TransientError` (worth retrying) and :class:`TerminalError` (retrying cannot help) tell the
sync loop and the scheduler what to do. The CLI turns any :class:`KlaviyoAnalyticsError` into one
line on stderr and a non-zero exit code; the API maps them to 4xx/5xx JSON bodies.
"""

from __future__ import annotations


class KlaviyoAnalyticsError(Exception):
    """Base class of every error this package raises on purpose.

    Attributes:
        exit_code: the process exit code the CLI uses for this error.
    """

    exit_code: int = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TransientError(KlaviyoAnalyticsError):
    """An error that may go away on retry (rate limit, timeout, 5xx, lock held)."""


class TerminalError(KlaviyoAnalyticsError):
    """An error that retrying cannot fix (bad credentials, invalid input, missing data)."""


class ConfigError(TerminalError):
    """A configuration value is invalid; the message names the variable and the fix."""

    exit_code = 2

    def __init__(self, variable: str, problem: str) -> None:
        super().__init__(f"{variable}: {problem}")
        self.variable = variable
        self.problem = problem


class UsageError(TerminalError):
    """The user asked for something invalid (bad argument, unknown id); CLI exit code 2."""

    exit_code = 2


class NotFoundError(TerminalError):
    """A requested object (store, token, migration) does not exist."""

    exit_code = 2
