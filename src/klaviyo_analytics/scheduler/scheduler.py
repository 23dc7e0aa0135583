"""The scheduler of ``klaviyo-analytics run``: what is due, submitted through the dispatcher.

:func:`due_jobs` is pure: from the clock, the stores and their ``klaviyo_syncs`` documents it
says which sync and aggregate jobs are due. :class:`Scheduler` calls it every tick and submits
at most one job per store and at most ``max_parallel`` jobs at once through a
:class:`~klaviyo_analytics.scheduler.dispatch.Dispatcher`; it never runs a job itself, and it
writes nothing to the metadata store or the warehouse.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from klaviyo_analytics.errors import KlaviyoAnalyticsError, UsageError
from klaviyo_analytics.metadata.models import KlaviyoSync, Store
from klaviyo_analytics.metadata.owners import owner_process, pid_alive
from klaviyo_analytics.scheduler.cadence import (
    FAILURE_RETRY,
    SYNC,
    Cadence,
    default_cadences,
    sync_data_types,
    sync_interrupted,
    sync_last_failure,
    sync_last_success,
)
from klaviyo_analytics.scheduler.dispatch import (
    Dispatcher,
    DispatcherClosedError,
    Job,
    JobHandle,
    utcnow,
    wait_all,
)

if TYPE_CHECKING:
    from klaviyo_analytics.context import AppContext

log = logging.getLogger(__name__)

NEVER = timedelta.max
"""How overdue a job is that never ran."""

CANCEL_WAIT_SECONDS = 10.0
"""After the grace period, how long cancelled jobs get to unwind to their next checkpoint."""

AttemptKey = tuple[str, str]
"""``(store_public_id, job name)``: ``"sync"`` or an aggregate job name."""


def _overdue(
    now: datetime, success: datetime | None, failure: datetime | None, cadence: Cadence
) -> timedelta | None:
    """How far past due a job is, or None if it is not due.

    Due when it never succeeded or its last success is ``cadence.every`` old, unless a later
    failure is younger than ``min(every, FAILURE_RETRY)``.
    """
    if success is not None and now - success < cadence.every:
        return None
    failed_after = failure is not None and (success is None or failure > success)
    if failed_after and failure is not None and now - failure < min(cadence.every, FAILURE_RETRY):
        return None
    return NEVER if success is None else now - success - cadence.every


def _latest(*values: datetime | None) -> datetime | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def due_jobs(
    now: datetime,
    stores: Iterable[Store],
    syncs: Mapping[str, KlaviyoSync | None],
    cadences: Mapping[str, Cadence],
    *,
    attempts: Mapping[AttemptKey, datetime] | None = None,
) -> list[Job]:
    """The jobs due at ``now``, most overdue first.

    Rules (see docs/scheduler.md):

    - Stores that are inactive or need re-authorisation get nothing.
    - Sync: a data type is due when it never succeeded or its last success
      (``data_types.<type>.last_success_at``, else ``<type>_last_sync``) is at least the sync
      cadence old, or when it is still flagged ``running`` (a run cut short by a shutdown or a
      crash resumes at once). One sync job per store covers its due data types (``only`` is
      set when not all of them are due).
    - Aggregates: only for a store that has synced at least one data type; an aggregate job is
      due when its ``*_last_run`` field is None or at least its cadence old. One aggregate job per
      store covers all its due aggregate jobs.
    - A failure (``data_types.<type>.last_error_at``, or ``attempts`` for whole jobs) newer
      than the last success holds the job back for ``min(cadence, FAILURE_RETRY)``; a cancelled
      or interrupted run is not a failure.
    - Order: by how overdue the job is (never run = most); on a tie the sync comes first.

    Args:
        now: the current time (tz-aware UTC).
        stores: the candidate stores.
        syncs: ``klaviyo_syncs`` documents by Klaviyo public id (missing: never synced).
        cadences: ``"sync"`` and aggregate job names to their cadence; a job missing here is
            never due.
        attempts: the scheduler's memory of failed jobs, ``(store, job name) -> time``.

    Returns:
        Due jobs, at most one sync and one aggregate job per store.
    """
    attempts = attempts or {}
    ranked: list[tuple[timedelta, int, int, Job]] = []
    for index, store in enumerate(stores):
        integ = store.klaviyo_integration
        if integ.status != "active" or integ.needs_reauth:
            continue
        sync = syncs.get(integ.public_id)
        sync_cadence = cadences.get(SYNC)
        types = sync_data_types()
        if sync_cadence is not None:
            due_types: list[str] = []
            worst: timedelta | None = None
            remembered = attempts.get((store.public_id, SYNC))
            for data_type in types:
                if sync_interrupted(sync, data_type):
                    # Cut short by a shutdown or a crash: resume now. Its last success may be
                    # a mid-run checkpoint, so it does not say the data type is up to date.
                    overdue: timedelta | None = NEVER
                else:
                    overdue = _overdue(
                        now,
                        sync_last_success(sync, data_type),
                        _latest(sync_last_failure(sync, data_type), remembered),
                        sync_cadence,
                    )
                if overdue is not None:
                    due_types.append(data_type)
                    worst = overdue if worst is None else max(worst, overdue)
            if worst is not None:
                only = None if len(due_types) == len(types) else due_types
                ranked.append((worst, 0, index, Job.sync(store.public_id, only=only)))
        if not any(sync_last_success(sync, t) for t in types):
            continue  # aggregates over a store never synced would only record empty runs
        due_aggregates: list[str] = []
        worst = None
        for name, cadence in cadences.items():
            if name == SYNC or cadence.field is None or sync is None:
                continue
            value = getattr(sync, cadence.field, None)
            success = value if isinstance(value, datetime) else None
            overdue = _overdue(now, success, attempts.get((store.public_id, name)), cadence)
            if overdue is not None:
                due_aggregates.append(name)
                worst = overdue if worst is None else max(worst, overdue)
        if worst is not None:
            ranked.append((worst, 1, index, Job.aggregate(store.public_id, jobs=due_aggregates)))
    # Most overdue first; ties keep sync-before-aggregate and the stores' order (stable sorts).
    ranked.sort(key=lambda item: (item[1], item[2]))
    ranked.sort(key=lambda item: item[0], reverse=True)
    return [job for *_, job in ranked]


def job_names(job: Job) -> list[str]:
    """The cadence keys a job covers: ``["sync"]`` or its aggregate job names."""
    if job.kind == "sync":
        return [SYNC]
    jobs = job.options.get("jobs")
    if jobs is None:
        from klaviyo_analytics.aggregates.registry import JOBS

        return [name.value for name in JOBS]
    return list(jobs)


class Scheduler:
    """Every tick, submit the due jobs of every active store through a dispatcher.

    Args:
        ctx: the app context (reads stores and ``klaviyo_syncs`` from its metadata store).
        dispatcher: where jobs run.
        tick_seconds: seconds between ticks (default ``settings.scheduler_tick_seconds``).
        max_parallel: jobs in flight at once (default ``settings.sync_parallel_stores``).
        cadences: job cadences (default the spec's, with ``settings.scheduler_cadences``).
        grace_seconds: on stop, how long running jobs may finish before they are cancelled
            (default ``settings.scheduler_grace_seconds``).
        cancel_wait_seconds: after the grace period, how long cancelled jobs get to stop.
        clock: returns the current tz-aware UTC time.

    Raises:
        UsageError: a non-positive tick or parallelism.
    """

    def __init__(
        self,
        ctx: AppContext,
        dispatcher: Dispatcher,
        *,
        tick_seconds: float | None = None,
        max_parallel: int | None = None,
        cadences: Mapping[str, Cadence] | None = None,
        grace_seconds: float | None = None,
        cancel_wait_seconds: float = CANCEL_WAIT_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        settings = ctx.settings
        self.ctx = ctx
        self.dispatcher = dispatcher
        self.tick_seconds = (
            settings.scheduler_tick_seconds if tick_seconds is None else tick_seconds
        )
        self.max_parallel = settings.sync_parallel_stores if max_parallel is None else max_parallel
        self.grace_seconds = (
            settings.scheduler_grace_seconds if grace_seconds is None else grace_seconds
        )
        if not self.tick_seconds > 0:
            raise UsageError(f"the tick must be a positive number of seconds, got {tick_seconds}")
        if self.max_parallel < 1:
            raise UsageError(f"max parallel jobs must be at least 1, got {max_parallel}")
        if self.grace_seconds < 0:
            raise UsageError(f"the grace period must not be negative, got {grace_seconds}")
        self.cadences = dict(
            cadences if cadences is not None else default_cadences(settings.scheduler_cadences)
        )
        self.cancel_wait_seconds = cancel_wait_seconds
        self.clock = clock
        self.attempts: dict[AttemptKey, datetime] = {}
        self._attempts_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._reauth_logged: set[str] = set()

    # -- ticks -------------------------------------------------------------------------------

    def _eligible_stores(self) -> list[Store]:
        stores = self.ctx.metadata.list_stores(active_only=True)
        eligible: list[Store] = []
        for store in stores:
            if store.klaviyo_integration.needs_reauth:
                if store.public_id not in self._reauth_logged:
                    self._reauth_logged.add(store.public_id)
                    log.warning(
                        "skipping store %s: it needs re-authorisation (reconnect it); %s",
                        store.public_id,
                        store.klaviyo_integration.last_error or "no detail recorded",
                        extra={"store": store.public_id},
                    )
                continue
            self._reauth_logged.discard(store.public_id)
            eligible.append(store)
        return eligible

    def _syncs(self, stores: Iterable[Store]) -> tuple[list[Store], dict[str, KlaviyoSync | None]]:
        readable: list[Store] = []
        syncs: dict[str, KlaviyoSync | None] = {}
        for store in stores:
            kid = store.klaviyo_integration.public_id
            try:
                syncs[kid] = self.ctx.metadata.get_sync(kid)
            except KlaviyoAnalyticsError as exc:
                log.warning(
                    "skipping store %s this tick: cannot read its sync state: %s",
                    store.public_id,
                    exc,
                    extra={"store": store.public_id},
                )
                continue
            readable.append(store)
        return readable, syncs

    def run_once(
        self, now: datetime | None = None, *, exclude: set[tuple[str, str]] | None = None
    ) -> list[JobHandle]:
        """One tick: submit the due jobs of free stores, up to the parallelism limit.

        Args:
            now: the time to judge due-ness at (default the clock).
            exclude: ``(store, kind)`` pairs not to submit (``run_pass`` uses it so each job
                runs at most once per pass).

        Returns:
            The handles of the jobs submitted this tick.
        """
        now = now or self.clock()
        stores, syncs = self._syncs(self._eligible_stores())
        with self._attempts_lock:
            attempts = dict(self.attempts)
        due = due_jobs(now, stores, syncs, self.cadences, attempts=attempts)
        in_flight = self.dispatcher.in_flight()
        busy = {h.job.store_public_id for h in in_flight}
        free = self.max_parallel - len(in_flight)
        submitted: list[JobHandle] = []
        for job in due:
            if free <= 0:
                break
            store = job.store_public_id
            if store in busy or (exclude is not None and (store, job.kind) in exclude):
                continue
            busy.add(store)
            handle = self.dispatcher.submit(job)
            handle.add_done_callback(self._on_done)
            submitted.append(handle)
            if handle.status != "skipped":
                free -= 1
        if len(due) > len(submitted):
            log.debug(
                "%d due job(s) wait for a free slot or their store", len(due) - len(submitted)
            )
        return submitted

    def _on_done(self, handle: JobHandle) -> None:
        if handle.status == "failed" and handle.finished_at is not None:
            with self._attempts_lock:
                for name in job_names(handle.job):
                    self.attempts[(handle.job.store_public_id, name)] = handle.finished_at
        if handle.status in ("succeeded", "failed"):
            self._wake.set()  # a slot is free, and a finished sync may make aggregates due

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._wake.wait(min(remaining, 0.5)):
                self._wake.clear()
                return

    # -- loops -------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Stop submitting; :meth:`run_forever` then shuts down gracefully. Safe from any thread."""
        self._stop.set()
        self._wake.set()

    def request_abandon(self) -> None:
        """Cut the grace period short: cancel running jobs now (a second SIGTERM/SIGINT)."""
        self._abandon.set()
        self.request_stop()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop.is_set()

    def run_forever(self, stop_event: threading.Event | None = None) -> bool:
        """Tick until ``stop_event`` is set (or :meth:`request_stop`), then :meth:`shutdown`.

        A tick that fails (metadata store unreachable, ...) is logged and retried on the next
        one; the loop only ends on a stop request.

        Returns:
            True if every running job finished within the grace period (see :meth:`shutdown`).
        """
        log.info(
            "scheduler started: tick %.0fs, up to %d job(s) at once",
            self.tick_seconds,
            self.max_parallel,
            extra={"tick_seconds": self.tick_seconds, "max_parallel": self.max_parallel},
        )
        watcher: threading.Thread | None = None
        if stop_event is not None:
            watcher = threading.Thread(
                target=self._watch, args=(stop_event,), name="scheduler-stop", daemon=True
            )
            watcher.start()
        while not self._stop.is_set():
            try:
                self.run_once()
            except DispatcherClosedError:
                break
            except KlaviyoAnalyticsError as exc:
                log.warning("scheduler tick failed: %s; trying again next tick", exc)
            except Exception:
                log.exception("scheduler tick failed; trying again next tick")
            self._sleep(self.tick_seconds)
        return self.shutdown()

    def _watch(self, stop_event: threading.Event) -> None:
        while not self._stop.is_set():
            if stop_event.wait(0.5):
                self.request_stop()
                return

    def run_pass(self, timeout: float | None = None) -> list[JobHandle]:
        """Run every job due now, each at most once, then return (``run --once``).

        Ticks until nothing is due and nothing is in flight: a store's sync runs first and its
        aggregates on a later tick, once the sync's timestamps show fresh data.

        Args:
            timeout: give up waiting after this many seconds (then cancel what is running).

        Returns:
            Every handle submitted, in order.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        ran: set[tuple[str, str]] = set()
        handles: list[JobHandle] = []
        while not self._stop.is_set():
            submitted = self.run_once(exclude=ran)
            for handle in submitted:
                ran.add((handle.job.store_public_id, handle.job.kind))
            handles.extend(submitted)
            if not submitted and not self.dispatcher.in_flight():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            self._wake.wait(0.2)
            self._wake.clear()
        if self.dispatcher.in_flight():
            self.shutdown(grace_seconds=0.0 if deadline is not None else self.grace_seconds)
        return handles

    def shutdown(self, grace_seconds: float | None = None) -> bool:
        """Stop gracefully: refuse new jobs, let running ones finish, cancel the stragglers.

        Queued jobs never start. Running jobs get ``grace_seconds``; after that (or at once on
        :meth:`request_abandon`) they are asked to cancel at their next checkpoint and get
        ``cancel_wait_seconds`` more. Nothing is lost either way: the sync moves a watermark
        only after the rows it covers are written, and aggregates set ``*_last_run`` only after
        success, so the next run redoes exactly what was cut short.

        Returns:
            True if no job is left running.
        """
        grace = self.grace_seconds if grace_seconds is None else grace_seconds
        self._stop.set()
        running = self.dispatcher.in_flight()
        self.dispatcher.shutdown(wait=False)
        if running:
            log.info(
                "stopping: waiting up to %.0fs for %d running job(s)",
                grace,
                len(running),
                extra={"jobs": [h.job.describe() for h in running]},
            )
        deadline = time.monotonic() + grace
        while running and not self._abandon.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            wait_all(running, min(remaining, 0.5))
            running = [h for h in running if not h.done]
        if running:
            log.warning(
                "cancelling %d job(s) still running: %s; what they wrote is kept and the "
                "next run resumes from their watermarks",
                len(running),
                ", ".join(h.job.describe() for h in running),
            )
            for handle in running:
                handle.cancel()
            wait_all(running, self.cancel_wait_seconds)
            running = [h for h in running if not h.done]
        if running:
            log.error(
                "abandoning %d job(s) that did not stop: %s",
                len(running),
                ", ".join(h.job.describe() for h in running),
            )
            return False
        log.info("scheduler stopped")
        return True


# -- locks left behind -----------------------------------------------------------------------

#: The ``(host, pid)`` of a lock owner id (see :mod:`klaviyo_analytics.metadata.owners`).
lock_owner_process = owner_process


def _release_where(ctx: AppContext, stale: Callable[[str, int], bool]) -> list[str]:
    released: list[str] = []
    metadata = ctx.metadata
    for store in metadata.list_stores():
        integ = store.klaviyo_integration
        owner = integ.dashboard_lock_owner
        process = owner_process(owner)
        if not integ.is_updating_dashboard or owner is None or process is None:
            continue
        if stale(*process) and metadata.release_dashboard_lock(store.public_id, owner):
            released.append(store.public_id)
    return released


def release_stale_locks(ctx: AppContext) -> list[str]:
    """Release dashboard locks held by processes of this host that no longer exist.

    Call at startup, before any job runs: a lock naming this host and a dead pid (or this very
    pid, reused in a restarted container) was left by a crash or a hard exit; without this the
    store would be skipped until the lock's lease ran out.

    Returns:
        The stores whose lock was released.
    """
    host, me = socket.gethostname(), os.getpid()
    return _release_where(ctx, lambda h, pid: h == host and (pid == me or not pid_alive(pid)))


def release_own_locks(ctx: AppContext) -> list[str]:
    """Release every dashboard lock held by this process (just before a hard exit).

    Returns:
        The stores whose lock was released.
    """
    host, me = socket.gethostname(), os.getpid()
    return _release_where(ctx, lambda h, pid: h == host and pid == me)
