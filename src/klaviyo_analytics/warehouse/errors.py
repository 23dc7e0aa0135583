"""Warehouse errors: ClickHouse failures translated at the edge, with code and name kept."""

from __future__ import annotations

from klaviyo_analytics.errors import ConfigError, TerminalError, TransientError


class WarehouseError(TerminalError):
    """A ClickHouse statement failed.

    Attributes:
        code: the ClickHouse error code when known (e.g. 60 UNKNOWN_TABLE), else None.
    """

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class WarehouseUnavailableError(TransientError):
    """The ClickHouse server could not be reached (exit code 2: a configuration problem)."""

    exit_code = 2


class EmbeddedEngineLockedError(ConfigError):
    """Another process holds the embedded ClickHouse data dir."""

    def __init__(self, path: str) -> None:
        super().__init__(
            "KLAVIYO_ANALYTICS_CLICKHOUSE_URL",
            f"the embedded ClickHouse in {path} is in use by another process; stop that process "
            "(e.g. a running `klaviyo-analytics run` or `serve`) or point "
            "KLAVIYO_ANALYTICS_CLICKHOUSE_URL at a ClickHouse server",
        )
        self.path = path


class ReadOnlyViolationError(TerminalError):
    """A statement given to the read-only query path is not a single SELECT/WITH."""

    exit_code = 2


class MigrationError(TerminalError):
    """A migration could not be applied, or an applied one was changed after the fact."""
