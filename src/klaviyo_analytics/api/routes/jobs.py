"""Triggering sync and aggregate runs (admin) through the job-dispatch seam
(:mod:`klaviyo_analytics.scheduler.dispatch`), and reading a submitted run's status."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Annotated

from fastapi import APIRouter, Path, Request, status

from klaviyo_analytics.api.deps import Admin, AdminStore
from klaviyo_analytics.api.schemas import AggregateRequest, JobPublic, SyncRequest
from klaviyo_analytics.context import AppContext
from klaviyo_analytics.errors import NotFoundError
from klaviyo_analytics.scheduler.dispatch import Dispatcher, Job, JobHandle, LocalDispatcher

router = APIRouter(tags=["jobs"])

JobDispatcher = Dispatcher
MAX_REMEMBERED = 500


class JobRegistry:
    """The most recent handles submitted through the API, by id (bounded, thread-safe)."""

    def __init__(self, limit: int = MAX_REMEMBERED) -> None:
        self._limit = limit
        self._handles: OrderedDict[str, JobHandle] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, handle: JobHandle) -> None:
        """Remember ``handle``, forgetting the oldest beyond the limit."""
        with self._lock:
            self._handles[handle.id] = handle
            while len(self._handles) > self._limit:
                self._handles.popitem(last=False)

    def get(self, job_id: str) -> JobHandle:
        """The handle ``job_id``.

        Raises:
            NotFoundError: unknown or forgotten id.
        """
        with self._lock:
            handle = self._handles.get(job_id)
        if handle is None:
            raise NotFoundError(f"job {job_id!r} does not exist")
        return handle


def default_dispatcher(ctx: AppContext) -> Dispatcher:
    """An in-process dispatcher for jobs triggered through the API."""
    return LocalDispatcher(ctx)


def job_public(handle: JobHandle) -> JobPublic:
    """The API view of a job handle."""
    return JobPublic(
        id=handle.id,
        kind=handle.job.kind,
        store_public_id=handle.job.store_public_id,
        status=handle.status,
        options=dict(handle.job.options),
        submitted_at=handle.submitted_at,
        finished_at=handle.finished_at,
        error=handle.error,
    )


def _submit(request: Request, job: Job) -> JobPublic:
    dispatcher: Dispatcher = request.app.state.dispatcher
    registry: JobRegistry = request.app.state.jobs
    handle = dispatcher.submit(job)
    registry.add(handle)
    return job_public(handle)


@router.post(
    "/stores/{store_id}/sync", response_model=JobPublic, status_code=status.HTTP_202_ACCEPTED
)
def trigger_sync(request: Request, store: AdminStore, body: SyncRequest) -> JobPublic:
    """Start a sync of one store (admin); `skipped` if the store already has a job running."""
    job = Job.sync(store.public_id, only=body.only, full=body.full, since=body.since)
    return _submit(request, job)


@router.post(
    "/stores/{store_id}/aggregates",
    response_model=JobPublic,
    status_code=status.HTTP_202_ACCEPTED,
)
def trigger_aggregates(request: Request, store: AdminStore, body: AggregateRequest) -> JobPublic:
    """Start an aggregate run of one store (admin); `skipped` if it already has a job running."""
    job = Job.aggregate(store.public_id, jobs=body.jobs, as_of=body.as_of)
    return _submit(request, job)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(
    request: Request,
    admin: Admin,
    job_id: Annotated[str, Path(min_length=1, max_length=64, description="The job id.")],
) -> JobPublic:
    """Status of a sync or aggregate run submitted through the API (admin)."""
    registry: JobRegistry = request.app.state.jobs
    return job_public(registry.get(job_id))
