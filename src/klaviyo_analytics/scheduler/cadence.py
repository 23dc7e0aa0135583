"""How often each scheduled job is due, and which ``klaviyo_syncs`` fields record its last run.

The sync runs every 15 minutes per data type (``klaviyo_syncs.data_types.<type>`` and the spec's
``<type>_last_sync``); the aggregate jobs take
their cadence and field from the aggregates registry (15 min / hourly / 4-hourly). Settings can
override any cadence; nothing here reads the clock or the metadata store.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from klaviyo_analytics.errors import ConfigError
from klaviyo_analytics.metadata.models import DATA_TYPE_LAST_SYNC_FIELDS, KlaviyoSync
from klaviyo_analytics.settings import env_name

SYNC = "sync"
"""The cadence key of cron_sync; the other keys are the aggregate job names."""

SYNC_EVERY = timedelta(minutes=15)
"""cron_sync cadence of the spec."""

FAILURE_RETRY = timedelta(minutes=15)
"""A failed job is tried again after ``min(cadence, FAILURE_RETRY)``, not on every tick."""


@dataclass(frozen=True)
class Cadence:
    """When one scheduled job is due.

    Attributes:
        every: the interval between runs.
        field: the ``klaviyo_syncs`` field holding an aggregate job's last successful run
            (``customer_profiles_last_run`` ...); None for the sync, whose last run is read per
            data type (see :func:`sync_last_success`).
    """

    every: timedelta
    field: str | None = None


def sync_data_types() -> tuple[str, ...]:
    """The data types one store sync writes, in the sync's order."""
    from klaviyo_analytics.sync.runner import DataType

    return tuple(dt.value for dt in DataType)


def sync_last_success(sync: KlaviyoSync | None, data_type: str) -> datetime | None:
    """When ``data_type`` of an account last synced successfully.

    ``data_types.<type>.last_success_at`` when the sync has recorded it, else the spec's
    ``<type>_last_sync`` field (``campaigns``, ``flows``, ``forms``, ``segments``), so documents
    written by other tools count too.
    """
    if sync is None:
        return None
    state = sync.data_types.get(data_type)
    if state is not None and state.last_success_at is not None:
        return state.last_success_at
    spec_field = DATA_TYPE_LAST_SYNC_FIELDS.get(data_type)
    value = getattr(sync, spec_field) if spec_field else None
    return value if isinstance(value, datetime) else None


def sync_last_failure(sync: KlaviyoSync | None, data_type: str) -> datetime | None:
    """When ``data_type`` of an account last failed with a recorded error, if it did."""
    if sync is None:
        return None
    state = sync.data_types.get(data_type)
    if state is None or state.last_error is None:
        return None
    return state.last_error_at or state.last_attempt_at


def sync_interrupted(sync: KlaviyoSync | None, data_type: str) -> bool:
    """True if ``data_type`` is flagged running: its last run was cut short (or another
    worker is running it now, which the store's dashboard lock sorts out)."""
    if sync is None:
        return False
    state = sync.data_types.get(data_type)
    return state is not None and state.running


def default_cadences(overrides: Mapping[str, float] | None = None) -> dict[str, Cadence]:
    """The spec's cadences, with overrides in seconds applied.

    Args:
        overrides: ``{"sync": 900, "customers": 3600, ...}`` (settings'
            ``scheduler_cadences``).

    Returns:
        ``{"sync": ..., "campaign-daily": ..., ...}`` in the order jobs should run.

    Raises:
        ConfigError: an unknown job name or a non-positive interval.
    """
    from klaviyo_analytics.aggregates.registry import JOBS

    cadences: dict[str, Cadence] = {SYNC: Cadence(SYNC_EVERY)}
    for job_name, job in JOBS.items():
        cadences[job_name.value] = Cadence(job.cadence, job.sync_field)
    variable = env_name("scheduler_cadences")
    for name, seconds in (overrides or {}).items():
        if name not in cadences:
            raise ConfigError(
                variable, f"unknown job {name!r}; expected some of {', '.join(cadences)}"
            )
        if not seconds > 0:
            raise ConfigError(
                variable, f"the cadence of {name!r} must be a positive number of seconds"
            )
        cadences[name] = replace(cadences[name], every=timedelta(seconds=seconds))
    return cadences
