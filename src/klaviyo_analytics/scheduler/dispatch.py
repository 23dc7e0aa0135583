"""The one seam through which every sync and aggregate job is dispatched.

A :class:`Job` says *what* to run (a sync or an aggregate run of one store, with JSON-friendly
options); a :class:`Dispatcher` decides *where* it runs and hands back a :class:`JobHandle`;
:func:`execute` is the pure unit of work a worker calls. :class:`LocalDispatcher` runs jobs on a
thread pool in this process. A distributed task queue (Celery, RQ, Arq) plugs in by implementing
:class:`Dispatcher`: ``submit`` enqueues ``job.to_dict()`` and the remote worker calls
``execute(AppContext(settings), Job.from_dict(payload))``.

The scheduler and the HTTP API's admin endpoints submit through this module only; nothing here
schedules (that is ``scheduler.scheduler``) or knows how a sync or an aggregate works inside.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client import Counter, Gauge, Histogram

from klaviyo_analytics.errors import KlaviyoAnalyticsError, UsageError
from klaviyo_analytics.metadata.errors import LockHeldError
from klaviyo_analytics.observability import REGISTRY

if TYPE_CHECKING:
    from klaviyo_analytics.context import AppContext

log = logging.getLogger(__name__)

JobKind = Literal["sync", "aggregate"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "skipped", "cancelled"]
FINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "skipped", "cancelled"})
"""Statuses after which a handle never changes again."""

SYNC_OPTIONS = frozenset({"only", "full", "since"})
AGGREGATE_OPTIONS = frozenset({"jobs", "as_of", "timezone"})

JOBS_TOTAL = Counter(
    "klaviyo_analytics_scheduler_jobs_total",
    "Jobs that went through the dispatcher, per kind and final status.",
    ["kind", "status"],
    registry=REGISTRY,
)
JOBS_IN_FLIGHT = Gauge(
    "klaviyo_analytics_scheduler_jobs_in_flight",
    "Jobs queued or running in this process's dispatcher.",
    registry=REGISTRY,
)
JOB_DURATION = Histogram(
    "klaviyo_analytics_scheduler_job_duration_seconds",
    "Wall time of one dispatched job, per kind.",
    ["kind"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=REGISTRY,
)


def utcnow() -> datetime:
    """The current time, tz-aware UTC."""
    return datetime.now(UTC)


# -- jobs ------------------------------------------------------------------------------------


def _string_list(kind: str, name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if not isinstance(value, list | tuple) or not value:
        raise UsageError(f"{kind} job option {name!r} must be a non-empty list of names")
    items: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item:
            raise UsageError(f"{kind} job option {name!r} must contain only names, got {item!r}")
        if item not in items:
            items.append(item)
    return items


def _iso_date(kind: str, name: str, value: Any) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise UsageError(f"{kind} job option {name!r}: {value!r} is not a date; use YYYY-MM-DD")


def _known_data_types() -> tuple[str, ...]:
    from klaviyo_analytics.scheduler.cadence import sync_data_types

    return sync_data_types()


def _known_aggregate_jobs() -> tuple[str, ...]:
    from klaviyo_analytics.aggregates.registry import JOBS

    return tuple(name.value for name in JOBS)


def _normalise_sync(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if options.get("only") is not None:
        only = _string_list("sync", "only", options["only"])
        known = _known_data_types()
        unknown = [t for t in only if t not in known]
        if unknown:
            raise UsageError(
                f"unknown data type(s) {', '.join(unknown)}; expected some of {', '.join(known)}"
            )
        out["only"] = only
    full = options.get("full", False)
    if not isinstance(full, bool):
        raise UsageError(f"sync job option 'full' must be true or false, got {full!r}")
    if full:
        out["full"] = True
    if options.get("since") is not None:
        if full:
            raise UsageError("sync job options 'full' and 'since' exclude each other")
        out["since"] = _iso_date("sync", "since", options["since"])
    return out


def _normalise_aggregate(options: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if options.get("jobs") is not None:
        jobs = _string_list("aggregate", "jobs", options["jobs"])
        known = _known_aggregate_jobs()
        unknown = [j for j in jobs if j not in known]
        if unknown:
            raise UsageError(
                f"unknown aggregate job(s) {', '.join(unknown)}; expected some of "
                f"{', '.join(known)}"
            )
        # Registry order: cheap daily rollups before the heavier per-customer/product jobs.
        out["jobs"] = [j for j in known if j in jobs]
    if options.get("as_of") is not None:
        out["as_of"] = _iso_date("aggregate", "as_of", options["as_of"])
    tz = options.get("timezone")
    if tz is not None:
        if not isinstance(tz, str):
            raise UsageError(f"aggregate job option 'timezone' must be a string, got {tz!r}")
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"unknown time zone {tz!r}; use an IANA name such as UTC") from None
        out["timezone"] = tz
    return out


@dataclass(frozen=True)
class Job:
    """One unit of work: a sync or an aggregate run of one store.

    Options are validated and normalised on construction to JSON-friendly values, so a job can
    be sent through a task queue as :meth:`to_dict` and rebuilt with :meth:`from_dict`.

    Attributes:
        kind: ``"sync"`` or ``"aggregate"``.
        store_public_id: our id of the store.
        options: for a sync ``only`` (data types), ``full`` (bool) and ``since`` (ISO date); for
            an aggregate run ``jobs`` (job names), ``as_of`` (ISO date) and ``timezone`` (IANA).
            Treat as read-only.

    Raises:
        UsageError: unknown kind, empty store id, unknown option or invalid option value.
    """

    kind: JobKind
    store_public_id: str
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in get_args(JobKind):
            raise UsageError(f"unknown job kind {self.kind!r}; use sync or aggregate")
        if not isinstance(self.store_public_id, str) or not self.store_public_id.strip():
            raise UsageError("a job needs a store public id")
        allowed = SYNC_OPTIONS if self.kind == "sync" else AGGREGATE_OPTIONS
        unknown = sorted(set(self.options) - allowed)
        if unknown:
            raise UsageError(
                f"unknown {self.kind} job option(s) {', '.join(unknown)}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
        normalise = _normalise_sync if self.kind == "sync" else _normalise_aggregate
        object.__setattr__(self, "options", normalise(self.options))

    @classmethod
    def sync(
        cls,
        store_public_id: str,
        *,
        only: Sequence[str] | None = None,
        full: bool = False,
        since: date | str | None = None,
    ) -> Job:
        """A sync job (all data types unless ``only`` is given)."""
        options: dict[str, Any] = {"full": full}
        if only is not None:
            options["only"] = list(only)
        if since is not None:
            options["since"] = since
        return cls("sync", store_public_id, options)

    @classmethod
    def aggregate(
        cls,
        store_public_id: str,
        *,
        jobs: Sequence[str] | None = None,
        as_of: date | str | None = None,
        timezone: str | None = None,
    ) -> Job:
        """An aggregate job (all five aggregate jobs unless ``jobs`` is given)."""
        options: dict[str, Any] = {}
        if jobs is not None:
            options["jobs"] = list(jobs)
        if as_of is not None:
            options["as_of"] = as_of
        if timezone is not None:
            options["timezone"] = timezone
        return cls("aggregate", store_public_id, options)

    def describe(self) -> str:
        """A short human label, e.g. ``sync store_abc (only=events)``."""
        opts = ", ".join(
            f"{k}={','.join(v) if isinstance(v, list) else v}" for k, v in self.options.items()
        )
        return f"{self.kind} {self.store_public_id}" + (f" ({opts})" if opts else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable payload (what a task queue would carry)."""
        return {
            "kind": self.kind,
            "store_public_id": self.store_public_id,
            "options": {k: list(v) if isinstance(v, list) else v for k, v in self.options.items()},
        }

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Job:
        """Rebuild a job from :meth:`to_dict` output, validating it again.

        Raises:
            UsageError: the payload is not a job.
        """
        try:
            return cls(
                payload["kind"], payload["store_public_id"], dict(payload.get("options", {}))
            )
        except (KeyError, TypeError) as exc:
            raise UsageError(f"not a job payload: {exc}") from None


# -- handles ---------------------------------------------------------------------------------


class JobCancelled(BaseException):  # noqa: N818 - named like asyncio.CancelledError on purpose
    """Raised inside a running job when its cancellation was requested.

    A ``BaseException`` (like ``asyncio.CancelledError``) so that a sync's per-data-type
    ``except Exception`` does not record it as a data-type failure and carry on: it unwinds the
    whole job through its ``finally`` blocks, releasing locks, before any watermark moves.
    """


class JobControl:
    """What a running job can ask its dispatcher: am I cancelled, and who am I for locks.

    Args:
        owner: the lock owner id of this job (unique per job).
    """

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        """True once cancellation was requested."""
        return self._cancelled.is_set()

    def request_cancel(self) -> None:
        """Ask the job to stop at its next checkpoint."""
        self._cancelled.set()

    def checkpoint(self) -> None:
        """Raise :class:`JobCancelled` if cancellation was requested; call between steps.

        Raises:
            JobCancelled: cancellation was requested.
        """
        if self._cancelled.is_set():
            raise JobCancelled("job cancelled")


def _owner_id(job_id: str) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{job_id}"


class JobHandle:
    """The caller's view of a submitted job: id, status, result or error, and ``wait``.

    Thread-safe. Dispatchers drive it with :meth:`mark_running` and :meth:`finish`; everybody
    else reads it.

    Args:
        job: the job.
        job_id: the handle's id (default: a new random hex id).
    """

    def __init__(self, job: Job, job_id: str | None = None) -> None:
        self.id = job_id or uuid.uuid4().hex
        self.job = job
        self.control = JobControl(_owner_id(self.id))
        self.submitted_at = utcnow()
        self.started_at: datetime | None = None
        self.finished_at: datetime | None = None
        self.result: object | None = None
        self.error: str | None = None
        self._status: JobStatus = "queued"
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._callbacks: list[Callable[[JobHandle], None]] = []

    @property
    def status(self) -> JobStatus:
        """``queued``, ``running``, ``succeeded``, ``failed``, ``skipped`` or ``cancelled``."""
        return self._status

    @property
    def done(self) -> bool:
        """True once the status is final."""
        return self._done.is_set()

    @property
    def duration(self) -> float | None:
        """Seconds between start and finish, when both happened."""
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job is finished or ``timeout`` seconds passed.

        Returns:
            True if the job is finished.
        """
        return self._done.wait(timeout)

    def add_done_callback(self, callback: Callable[[JobHandle], None]) -> None:
        """Call ``callback(handle)`` when the job finishes (at once if it already has).

        Callbacks run in the finishing thread, before :meth:`wait` returns to waiters.
        """
        with self._lock:
            if not self._done.is_set():
                self._callbacks.append(callback)
                return
        callback(self)

    def cancel(self) -> None:
        """Cancel a queued job now, or ask a running one to stop at its next checkpoint."""
        with self._lock:
            queued = self._status == "queued"
        self.control.request_cancel()
        if queued:
            self.finish("cancelled", error="cancelled before it started")

    def mark_running(self) -> bool:
        """Move a queued job to ``running``.

        Returns:
            False if the job already finished (e.g. cancelled while queued): do not run it.
        """
        with self._lock:
            if self._status != "queued":
                return False
            self._status = "running"
            self.started_at = utcnow()
            return True

    def finish(self, status: JobStatus, *, result: object = None, error: str | None = None) -> bool:
        """Set the final status, run the callbacks, then release waiters.

        Returns:
            False if the job had already finished (the first final status wins).
        """
        if status not in FINAL_STATUSES:
            raise ValueError(f"{status!r} is not a final status")
        with self._lock:
            if self._status in FINAL_STATUSES:
                return False
            self._status = status
            self.result = result
            self.error = error
            self.finished_at = utcnow()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("a job done-callback failed", extra={"job_id": self.id})
        self._done.set()
        return True

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly summary (for the API and logs); ``result`` is left out."""
        return {
            "id": self.id,
            **self.job.to_dict(),
            "status": self._status,
            "error": self.error,
            "submitted_at": self.submitted_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }

    def __repr__(self) -> str:
        return f"JobHandle({self.id[:8]}, {self.job.describe()}, {self._status})"


# -- the seam --------------------------------------------------------------------------------


class Dispatcher(Protocol):
    """Where jobs run. :class:`LocalDispatcher` is the in-process one; a task queue is another.

    Contract: at most one job per store is in flight at a time (a second ``submit`` for that
    store returns a handle already ``skipped``); ``submit`` never blocks on the job itself.
    """

    def submit(self, job: Job) -> JobHandle:
        """Start ``job`` (or skip it if its store is busy) and return its handle."""
        ...

    def in_flight(self) -> list[JobHandle]:
        """Handles of the jobs queued or running now."""
        ...

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new jobs; with ``wait``, block until the running ones finish."""
        ...


JobRunner = Callable[["AppContext", Job, JobControl], object]
"""What a dispatcher calls to do the work; :func:`execute` in production."""


class DispatcherClosedError(UsageError):
    """A job was submitted after the dispatcher was shut down."""

    def __init__(self) -> None:
        super().__init__("the dispatcher is shutting down; no new jobs are accepted")


class LocalDispatcher:
    """Run jobs on a thread pool in this process, one job per store at a time.

    De-duplication is two-layered: an in-process map of busy stores (a second job for a busy
    store is ``skipped`` at once, never queued behind the first), and inside :func:`execute` the
    store's cross-process dashboard lock in the metadata store (a store another process is
    working on ends ``skipped`` too).

    Args:
        ctx: the process's app context; its warehouse gives every thread its own client.
        max_workers: jobs running at once (default ``settings.sync_parallel_stores``); more
            submissions wait in the pool's queue with status ``queued``.
        runner: the function doing the work (default :func:`execute`).
    """

    def __init__(
        self, ctx: AppContext, max_workers: int | None = None, *, runner: JobRunner | None = None
    ) -> None:
        workers = ctx.settings.sync_parallel_stores if max_workers is None else max_workers
        if workers < 1:
            raise UsageError(f"max_workers must be at least 1, got {workers}")
        self.ctx = ctx
        self.max_workers = workers
        self._runner: JobRunner = runner or execute
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="klaviyo-job")
        self._lock = threading.Lock()
        self._busy: dict[str, JobHandle] = {}
        self._closed = False

    def submit(self, job: Job) -> JobHandle:
        """Queue ``job`` unless its store already has a job in flight.

        Returns:
            The handle; ``skipped`` at once when the store is busy.

        Raises:
            DispatcherClosedError: after :meth:`shutdown`.
        """
        handle = JobHandle(job)
        store = job.store_public_id
        with self._lock:
            if self._closed:
                raise DispatcherClosedError()
            current = self._busy.get(store)
            if current is None:
                self._busy[store] = handle
                JOBS_IN_FLIGHT.inc()
        if current is not None:
            reason = (
                f"store {store} already has a {current.job.kind} job in progress ({current.id})"
            )
            log.info(
                "skipped %s: %s",
                job.describe(),
                reason,
                extra={"store": store, "job_id": handle.id},
            )
            handle.finish("skipped", error=reason)
            JOBS_TOTAL.labels(job.kind, "skipped").inc()
            return handle
        handle.add_done_callback(self._release)
        try:
            self._executor.submit(self._run, handle)
        except RuntimeError:  # the pool was shut down between our check and this call
            handle.finish("cancelled", error="the dispatcher is shutting down")
            raise DispatcherClosedError() from None
        return handle

    def _release(self, handle: JobHandle) -> None:
        with self._lock:
            if self._busy.get(handle.job.store_public_id) is handle:
                del self._busy[handle.job.store_public_id]
                JOBS_IN_FLIGHT.dec()
        if handle.status != "skipped" or handle.started_at is not None:
            JOBS_TOTAL.labels(handle.job.kind, handle.status).inc()
        if handle.duration is not None:
            JOB_DURATION.labels(handle.job.kind).observe(handle.duration)

    def _run(self, handle: JobHandle) -> None:
        if not handle.mark_running():
            return
        job = handle.job
        extra = {"store": job.store_public_id, "job_id": handle.id, "kind": job.kind}
        log.info("started %s", job.describe(), extra=extra)
        started = time.monotonic()
        try:
            handle.control.checkpoint()
            result = self._runner(self.ctx, job, handle.control)
        except JobCancelled:
            log.warning("cancelled %s; its progress so far is kept", job.describe(), extra=extra)
            handle.finish("cancelled", error="cancelled during shutdown")
        except LockHeldError as exc:
            log.info("skipped %s: %s", job.describe(), exc, extra=extra)
            handle.finish("skipped", error=str(exc))
        except JobFailedError as exc:
            log.warning("failed %s: %s", job.describe(), exc, extra=extra)
            handle.finish("failed", result=exc.result, error=str(exc))
        except Exception as exc:
            log.exception("failed %s: %s", job.describe(), exc, extra=extra)
            handle.finish("failed", error=f"{type(exc).__name__}: {exc}")
        except BaseException as exc:
            handle.finish("failed", error=f"{type(exc).__name__}: {exc}")
            raise
        else:
            log.info(
                "finished %s in %.1fs",
                job.describe(),
                time.monotonic() - started,
                extra=extra,
            )
            handle.finish("succeeded", result=result)

    def in_flight(self) -> list[JobHandle]:
        """Handles of the jobs queued or running now."""
        with self._lock:
            return list(self._busy.values())

    def busy_stores(self) -> set[str]:
        """Stores with a job in flight."""
        with self._lock:
            return set(self._busy)

    def cancel_all(self) -> list[JobHandle]:
        """Cancel queued jobs and ask running ones to stop; return the handles touched."""
        handles = self.in_flight()
        for handle in handles:
            handle.cancel()
        return handles

    def shutdown(self, wait: bool = True) -> None:
        """Refuse new jobs; cancel the queued ones; with ``wait``, join the running ones.

        Without ``wait`` the worker threads are left to finish (or be abandoned) on their own.
        """
        with self._lock:
            self._closed = True
            queued = [h for h in self._busy.values() if h.status == "queued"]
        for handle in queued:
            handle.cancel()
        self._executor.shutdown(wait=wait, cancel_futures=True)


def wait_all(handles: Iterable[JobHandle], timeout: float | None) -> bool:
    """Wait until every handle is finished or ``timeout`` seconds passed in total.

    Returns:
        True if all finished.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    for handle in handles:
        remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
        if not handle.wait(remaining):
            return False
    return True


# -- the unit of work ------------------------------------------------------------------------


class JobFailedError(KlaviyoAnalyticsError):
    """A job ran but did not fully succeed; ``result`` says what it did.

    Attributes:
        result: the sync's ``StoreSyncResult`` (a data type failed, or re-authorisation is
            needed).
    """

    def __init__(self, message: str, result: object) -> None:
        super().__init__(message)
        self.result = result


class _CancellableProgress:
    """The sync's progress reporter that also stops the job when cancellation is requested.

    Checkpoints sit at the start of a data type and after each page: rows of a page that raised
    are not yet written, and the data type's watermark still points before them.
    """

    def __init__(self, control: JobControl, inner: Any) -> None:
        self._control = control
        self._inner = inner

    def start(self, store: str, data_type: str) -> None:
        self._control.checkpoint()
        self._inner.start(store, data_type)

    def advance(self, data_type: str, n: int) -> None:
        self._inner.advance(data_type, n)
        self._control.checkpoint()

    def finish(self, store: str, data_type: str, ok: bool, detail: str) -> None:
        self._inner.finish(store, data_type, ok, detail)


def execute(ctx: AppContext, job: Job, control: JobControl | None = None) -> object:
    """Run one job to completion in the calling thread; what any worker calls.

    The store's cross-process dashboard lock is held for the whole job (the sync takes it
    itself; aggregate runs take it here), so two workers never work on one store at once.
    Watermarks and ``*_last_run`` fields are advanced by the sync and the aggregates only after
    their writes are durable, so an interrupted job loses no data: the next run resumes from them.

    Args:
        ctx: an app context (a remote worker builds its own from its settings).
        job: the job.
        control: cancellation and lock owner; a fresh one when None.

    Returns:
        The sync's ``StoreSyncResult`` or the aggregates' list of ``JobResult``.

    Raises:
        LockHeldError: another worker holds the store's dashboard lock (nothing was done).
        JobFailedError: the sync ran but a data type failed or the store needs
            re-authorisation.
        JobCancelled: cancellation was requested and the job stopped at a checkpoint.
        NotFoundError: the store does not exist.
    """
    control = control or JobControl(_owner_id(uuid.uuid4().hex))
    store = ctx.metadata.get_store(job.store_public_id)
    if job.kind == "sync":
        return _run_sync(ctx, job, control)
    lease = timedelta(seconds=ctx.settings.scheduler_lock_lease_seconds)
    with ctx.metadata.dashboard_lock(store.public_id, control.owner, lease):
        control.checkpoint()
        return _run_aggregates(
            ctx, job, store.klaviyo_integration.public_id, store.klaviyo_integration.timezone
        )


def _run_sync(ctx: AppContext, job: Job, control: JobControl) -> object:
    from klaviyo_analytics.sync import LogProgress, sync_store

    store = job.store_public_id
    options = job.options
    # The sync takes the dashboard lock as our owner and raises LockHeldError (nothing done)
    # when another worker holds it, so a busy store ends "skipped", not "failed".
    result = sync_store(
        ctx,
        store,
        full=bool(options.get("full", False)),
        since=date.fromisoformat(options["since"]) if "since" in options else None,
        only=options.get("only"),
        progress=_CancellableProgress(control, LogProgress()),
        lock_owner=control.owner,
    )
    if result.ok:
        return result
    failed = [f"{d.data_type}: {d.error}" for d in result.data_types if not d.ok]
    detail = result.error or "; ".join(failed) or "the sync did not complete"
    raise JobFailedError(f"sync of store {store} failed: {detail}", result)


def _run_aggregates(
    ctx: AppContext, job: Job, klaviyo_public_id: str, account_timezone: str | None = None
) -> object:
    from klaviyo_analytics.aggregates import run_aggregates

    options = job.options
    return run_aggregates(
        ctx.warehouse,
        klaviyo_public_id,
        jobs=options.get("jobs"),
        as_of=date.fromisoformat(options["as_of"]) if "as_of" in options else None,
        # An explicit option wins; else the account's timezone (saved by the sync); else UTC.
        timezone=options.get("timezone") or account_timezone or "UTC",
        recorder=ctx.metadata,
    )
