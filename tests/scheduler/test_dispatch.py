"""The dispatch seam: per-store de-duplication (in-process and cross-process), parallelism,
cancellation and graceful shutdown, with real threads and the real metadata store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from klaviyo_analytics.context import AppContext
from klaviyo_analytics.scheduler import (
    DispatcherClosedError,
    Job,
    JobHandle,
    LocalDispatcher,
    Scheduler,
    wait_all,
)
from klaviyo_analytics.scheduler.scheduler import lock_owner_process, release_stale_locks
from tests.scheduler.conftest import Gate, add_stores


def test_a_store_with_a_job_in_progress_is_skipped_not_doubled(ctx: AppContext) -> None:
    gate = Gate()
    dispatcher = LocalDispatcher(ctx, 4, runner=gate)
    try:
        first = dispatcher.submit(Job.sync("s1"))
        gate.wait_started(1)
        again = dispatcher.submit(Job.sync("s1"))
        other_kind = dispatcher.submit(Job.aggregate("s1"))
        for handle in (again, other_kind):
            assert handle.done and handle.status == "skipped"
            assert handle.error is not None and first.id in handle.error
        elsewhere = dispatcher.submit(Job.sync("s2"))
        gate.wait_started(2)
        assert [h.job.store_public_id for h in dispatcher.in_flight()] == ["s1", "s2"]
        gate.release.set()
        assert wait_all([first, elsewhere], 5)
        assert first.status == "succeeded" and first.result == "sync s1"
        assert [(j.kind, j.store_public_id) for j in gate.calls] == [("sync", "s1"), ("sync", "s2")]
        # Once finished, the store is free again.
        after = dispatcher.submit(Job.sync("s1"))
        assert after.wait(5) and after.status == "succeeded"
    finally:
        gate.release.set()
        dispatcher.shutdown(wait=True)


def test_concurrent_submissions_for_one_store_run_it_once(ctx: AppContext) -> None:
    gate = Gate()
    dispatcher = LocalDispatcher(ctx, 4, runner=gate)
    barrier = threading.Barrier(8)
    handles: list[JobHandle] = []
    lock = threading.Lock()

    def submit() -> None:
        barrier.wait()
        handle = dispatcher.submit(Job.sync("s1"))
        with lock:
            handles.append(handle)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(5)
        gate.wait_started(1)
        assert sorted(h.status for h in handles).count("skipped") == 7
        gate.release.set()
        assert wait_all(handles, 5)
        assert len(gate.calls) == 1
        assert [h.status for h in handles].count("succeeded") == 1
    finally:
        gate.release.set()
        dispatcher.shutdown(wait=True)


def test_the_pool_never_runs_more_than_max_workers(ctx: AppContext) -> None:
    gate = Gate()
    dispatcher = LocalDispatcher(ctx, 2, runner=gate)
    try:
        handles = [dispatcher.submit(Job.sync(f"s{i}")) for i in range(5)]
        gate.wait_started(2)
        time.sleep(0.2)
        assert gate.running == 2
        assert sorted(h.status for h in handles) == ["queued"] * 3 + ["running"] * 2
        gate.release.set()
        assert wait_all(handles, 5)
        assert {h.status for h in handles} == {"succeeded"}
        assert gate.peak == 2
    finally:
        gate.release.set()
        dispatcher.shutdown(wait=True)


def test_the_scheduler_submits_up_to_max_parallel_stores_per_tick(ctx: AppContext) -> None:
    add_stores(ctx, "s1", "s2", "s3", "s4")
    gate = Gate(record_sync=True)
    dispatcher = LocalDispatcher(ctx, 4, runner=gate)
    scheduler = Scheduler(ctx, dispatcher, max_parallel=2, tick_seconds=0.1)
    try:
        first = scheduler.run_once()
        assert [(h.job.kind, h.job.store_public_id) for h in first] == [
            ("sync", "s1"),
            ("sync", "s2"),
        ]
        gate.wait_started(2)
        assert scheduler.run_once() == []  # both slots taken; s1/s2 are not doubled
        gate.release.set()
        assert wait_all(first, 5)
        gate.release.clear()
        second = scheduler.run_once()
        # Never-synced stores first; s1/s2's aggregates wait for the next free slots.
        assert [(h.job.kind, h.job.store_public_id) for h in second] == [
            ("sync", "s3"),
            ("sync", "s4"),
        ]
        gate.release.set()
        assert wait_all(second, 5)
        third = scheduler.run_once()
        assert [(h.job.kind, h.job.store_public_id) for h in third] == [
            ("aggregate", "s1"),
            ("aggregate", "s2"),
        ]
        assert wait_all(third, 5)
        assert gate.peak == 2
    finally:
        gate.release.set()
        scheduler.shutdown(grace_seconds=5)


def test_stores_needing_reauth_are_skipped_with_a_log_line(
    ctx: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    add_stores(ctx, "ok", "revoked")
    ctx.metadata.mark_needs_reauth("revoked", "invalid_grant")
    gate = Gate(record_sync=True)
    gate.release.set()
    scheduler = Scheduler(ctx, LocalDispatcher(ctx, 2, runner=gate), max_parallel=2)
    logger = "klaviyo_analytics.scheduler.scheduler"
    with caplog.at_level("WARNING", logger=logger):
        handles = scheduler.run_once()
        scheduler.run_once()
    assert [h.job.store_public_id for h in handles] == ["ok"]
    lines = [r.getMessage() for r in caplog.records if "revoked" in r.getMessage()]
    assert len(lines) == 1 and "re-authorisation" in lines[0]  # once, not every tick
    scheduler.shutdown(grace_seconds=5)


def test_another_process_holding_the_dashboard_lock_makes_jobs_skip(
    wh_ctx: AppContext, secret_key: str, tmp_path: Path
) -> None:
    add_stores(wh_ctx, "shop")
    kid = wh_ctx.metadata.get_store("shop").klaviyo_integration.public_id
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(tmp_path), secret_key, "shop"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    dispatcher = LocalDispatcher(wh_ctx, 2)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        sync = dispatcher.submit(Job.sync("shop"))
        assert sync.wait(10)
        assert sync.status == "skipped" and sync.error is not None
        assert "otherhost:1:worker" in sync.error
        aggregate = dispatcher.submit(Job.aggregate("shop"))
        assert aggregate.wait(10)
        assert aggregate.status == "skipped"
        state = wh_ctx.metadata.get_sync(kid)
        assert state.data_types == {} and state.customer_profiles_last_run is None
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        aggregate = dispatcher.submit(Job.aggregate("shop"))
        assert aggregate.wait(30)
        assert aggregate.status == "succeeded", aggregate.error
        state = wh_ctx.metadata.get_sync(kid)
        assert state.customer_profiles_last_run is not None
        assert state.product_relationships_last_run is not None
        assert not wh_ctx.metadata.get_store("shop").klaviyo_integration.is_updating_dashboard
    finally:
        holder.kill()
        holder.wait()
        dispatcher.shutdown(wait=True)


HOLD_LOCK = """
import sys
from datetime import timedelta
from pathlib import Path
from klaviyo_analytics.metadata import open_metadata_store

store = open_metadata_store(None, Path(sys.argv[1]), sys.argv[2])
with store.dashboard_lock(sys.argv[3], "otherhost:1:worker", timedelta(hours=1)):
    print("locked", flush=True)
    sys.stdin.readline()
print("released", flush=True)
store.close()
"""


def test_shutdown_lets_running_jobs_finish_and_cancels_queued_ones(ctx: AppContext) -> None:
    gate = Gate()
    dispatcher = LocalDispatcher(ctx, 1, runner=gate)
    scheduler = Scheduler(ctx, dispatcher, grace_seconds=5)
    running = dispatcher.submit(Job.sync("s1"))
    queued = dispatcher.submit(Job.sync("s2"))
    gate.wait_started(1)
    threading.Timer(0.3, gate.release.set).start()
    assert scheduler.shutdown() is True
    assert running.status == "succeeded"
    assert queued.status == "cancelled"
    assert [j.store_public_id for j in gate.calls] == ["s1"]
    with pytest.raises(DispatcherClosedError):
        dispatcher.submit(Job.sync("s3"))


def test_after_the_grace_period_running_jobs_are_cancelled(ctx: AppContext) -> None:
    gate = Gate()
    dispatcher = LocalDispatcher(ctx, 2, runner=gate)
    scheduler = Scheduler(ctx, dispatcher, grace_seconds=0.2)
    handle = dispatcher.submit(Job.sync("s1"))
    gate.wait_started(1)
    started = time.monotonic()
    assert scheduler.shutdown() is True
    assert time.monotonic() - started < 3
    assert handle.status == "cancelled"
    assert dispatcher.in_flight() == []


def test_a_job_ignoring_cancellation_is_abandoned(ctx: AppContext) -> None:
    gate = Gate(cooperative=False)
    dispatcher = LocalDispatcher(ctx, 1, runner=gate)
    scheduler = Scheduler(ctx, dispatcher, grace_seconds=0.1, cancel_wait_seconds=0.2)
    handle = dispatcher.submit(Job.sync("s1"))
    gate.wait_started(1)
    try:
        assert scheduler.shutdown() is False
        assert handle.status == "running"
    finally:
        gate.release.set()
    assert handle.wait(5)
    assert handle.to_dict()["status"] == "succeeded"  # it ran to the end on its own


def test_locks_of_dead_processes_on_this_host_are_released_at_startup(ctx: AppContext) -> None:
    add_stores(ctx, "dead", "alive", "remote", "mine")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    host = socket.gethostname()
    owners = {
        "dead": f"sync:{host}:{gone.pid}:abcd1234",
        "alive": f"{host}:{os.getppid()}:job",
        "remote": "elsewhere:1:job",
        "mine": f"{host}:{os.getpid()}:job",  # this pid reused by a restarted container
    }
    for store, owner in owners.items():
        assert ctx.metadata.acquire_dashboard_lock(store, owner, timedelta(hours=2))
    assert sorted(release_stale_locks(ctx)) == ["dead", "mine"]
    locked = {
        s.public_id
        for s in ctx.metadata.list_stores()
        if s.klaviyo_integration.is_updating_dashboard
    }
    assert locked == {"alive", "remote"}
    assert lock_owner_process("sync:h:42:x") == ("h", 42)
    assert lock_owner_process("h:42:job") == ("h", 42)
    assert lock_owner_process("garbage") is None
