"""The scheduler behind ``klaviyo-analytics run``: cadences, due-ness and the dispatch seam.

:mod:`~klaviyo_analytics.scheduler.dispatch` is the one way jobs are run (the scheduler and the
API's admin triggers both submit there); :mod:`~klaviyo_analytics.scheduler.scheduler` decides
what is due; :mod:`~klaviyo_analytics.scheduler.cadence` says how often.
"""

from klaviyo_analytics.scheduler.cadence import SYNC, Cadence, default_cadences
from klaviyo_analytics.scheduler.dispatch import (
    Dispatcher,
    DispatcherClosedError,
    Job,
    JobCancelled,
    JobControl,
    JobFailedError,
    JobHandle,
    JobKind,
    JobStatus,
    LocalDispatcher,
    execute,
    wait_all,
)
from klaviyo_analytics.scheduler.scheduler import Scheduler, due_jobs

__all__ = [
    "SYNC",
    "Cadence",
    "Dispatcher",
    "DispatcherClosedError",
    "Job",
    "JobCancelled",
    "JobControl",
    "JobFailedError",
    "JobHandle",
    "JobKind",
    "JobStatus",
    "LocalDispatcher",
    "Scheduler",
    "default_cadences",
    "due_jobs",
    "execute",
    "wait_all",
]
