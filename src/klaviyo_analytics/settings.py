"""One settings object for the whole process, read from ``KLAVIYO_ANALYTICS_*`` variables.

Built once at the edge (the CLI or ``create_app``) and passed into constructors; library code
never reads the environment itself. :meth:`Settings.validated` turns every bad value into a
:class:`~klaviyo_analytics.errors.ConfigError` naming the variable and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from klaviyo_analytics.errors import ConfigError

ENV_PREFIX = "KLAVIYO_ANALYTICS_"
KLAVIYO_PRODUCTION_URL = "https://a.klaviyo.com"
CLICKHOUSE_SCHEMES = ("chdb", "http", "https")
MONGODB_SCHEMES = ("mongodb", "mongodb+srv", "mongomock")


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    return ENV_PREFIX + field.upper()


class Settings(BaseSettings):
    """How to reach the services, and the knobs of the pipelines.

    Anything a user edits while the system runs (stores, credentials, schedules) lives in the
    metadata store, not here.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    data_dir: Path = Field(default=Path("./var"), description="Where embedded engines keep files.")
    clickhouse_url: str | None = Field(
        default=None,
        description="chdb:///abs/path[?database=db] (embedded, default <data_dir>/clickhouse) or "
        "http(s)://user:password@host:port/database for a ClickHouse server or Cloud.",
    )
    mongodb_url: str | None = Field(
        default=None,
        description="mongodb:// or mongodb+srv:// for a MongoDB server; unset for the embedded "
        "file-backed store under <data_dir>/metadata.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key encrypting credentials at rest; generated into "
        "<data_dir>/secret.key (mode 0600) when unset.",
    )
    klaviyo_base_url: str = Field(default=KLAVIYO_PRODUCTION_URL)
    klaviyo_client_id: str | None = None
    klaviyo_client_secret: SecretStr | None = None
    sync_overlap_days: int = Field(default=7, ge=0, le=365)
    sync_backfill_days: int = Field(default=365, ge=1, le=3650)
    sync_parallel_stores: int = Field(default=4, ge=1, le=64)
    sync_events_backfill_days: int = Field(
        default=3650, ge=1, le=36500, description="History of events read by a first sync."
    )
    sync_events_page_size: int = Field(default=1000, ge=1, le=1000)
    sync_batch_rows: int = Field(
        default=10_000,
        ge=1,
        le=1_000_000,
        description="Events per loaded batch (refunds: a quarter of it; bench/README.md).",
    )
    sync_campaign_attribution_days: int = Field(default=30, ge=1, le=365)
    klaviyo_pacing: bool = Field(default=True, description="Client-side rate-limit pacing.")
    klaviyo_rate_window_scale: float = Field(
        default=1.0, gt=0, description="Scale of rate-limit windows (the simulator's time_scale)."
    )
    klaviyo_timeout_seconds: float = Field(default=30.0, gt=0)
    klaviyo_max_attempts: int = Field(default=8, ge=1, le=50)
    klaviyo_retry_base_seconds: float = Field(default=0.5, ge=0)
    klaviyo_retry_max_total_seconds: float = Field(default=300.0, gt=0)
    log_level: str = Field(default="INFO")
    scheduler_tick_seconds: float = Field(
        default=30.0,
        gt=0,
        le=3600,
        description="How often `klaviyo-analytics run` looks for due jobs.",
    )
    scheduler_grace_seconds: float = Field(
        default=20.0,
        ge=0,
        le=86400,
        description="On SIGTERM/SIGINT, how long running jobs may finish before being abandoned.",
    )
    scheduler_lock_lease_seconds: float = Field(
        default=2 * 3600,
        gt=0,
        description="Lease of the dashboard lock an aggregate run holds; a holder older than "
        "this is presumed dead.",
    )
    scheduler_cadences: dict[str, float] = Field(
        default_factory=dict,
        description='Cadence overrides in seconds, as JSON: {"sync": 900, "customers": 3600}; '
        "keys are `sync` and the aggregate job names.",
    )

    @property
    def resolved_data_dir(self) -> Path:
        """The data dir as an absolute path."""
        return self.data_dir.expanduser().resolve()

    @property
    def effective_clickhouse_url(self) -> str:
        """The ClickHouse URL in use: the configured one or the embedded default."""
        if self.clickhouse_url:
            return self.clickhouse_url
        return f"chdb://{self.resolved_data_dir / 'clickhouse'}"

    @property
    def uses_embedded_clickhouse(self) -> bool:
        """True when ClickHouse is the in-process chDB engine."""
        return urlsplit(self.effective_clickhouse_url).scheme == "chdb"

    def validated(self) -> Settings:
        """Check every value that can be checked without network I/O.

        Returns:
            self, for chaining.

        Raises:
            ConfigError: naming the variable and what is wrong.
        """
        self._check_data_dir()
        self._check_url("clickhouse_url", self.clickhouse_url, CLICKHOUSE_SCHEMES)
        self._check_url("mongodb_url", self.mongodb_url, MONGODB_SCHEMES)
        self._check_url("klaviyo_base_url", self.klaviyo_base_url, ("http", "https"))
        return self

    def _check_data_dir(self) -> None:
        path = self.resolved_data_dir
        name = env_name("data_dir")
        if path.exists() and not path.is_dir():
            raise ConfigError(name, f"{path} exists and is not a directory; point it at a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                name, f"cannot create {path} ({exc.strerror}); choose a writable folder"
            ) from exc
        if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
            raise ConfigError(
                name, f"{path} is not readable and writable by this user; fix its permissions"
            )

    @staticmethod
    def _check_url(field: str, value: str | None, schemes: tuple[str, ...]) -> None:
        if not value:
            return
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            allowed = ", ".join(f"{s}://" for s in schemes)
            shown = parts.scheme + "://" if parts.scheme else repr(value.split("@")[-1][:40])
            raise ConfigError(
                env_name(field), f"unsupported URL scheme {shown}; use one of {allowed}"
            )
        if parts.scheme in ("http", "https") and not parts.hostname:
            raise ConfigError(env_name(field), "the URL has no host name")
        if parts.scheme == "chdb" and not (parts.path or parts.netloc):
            raise ConfigError(env_name(field), "chdb:// needs a path, e.g. chdb:///var/ch")
