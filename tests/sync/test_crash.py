"""Crash safety: ``klaviyo-analytics sync`` is SIGKILLed at several points, then re-run.

The sync runs as a real CLI subprocess on its own data dir (embedded chDB and metadata), against
the simulator served from this test process. ``KLAVIYO_ANALYTICS_TEST_KILL_AFTER_BATCHES=K``
makes it SIGKILL itself right after the K-th ClickHouse insert, i.e. after the rows are written
but before the customer context is recomputed and before the watermark is written: the worst
moment. Page size 20 and batches of 40 orders give ~7 order batches on the tiny store, then one
batch per refund metric. Every scenario is re-run to completion (the dead process's dashboard
lock must not block it) and the warehouse, read with FINAL through ``klaviyo-analytics query``,
must equal the ground truth exactly.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from truthcheck import DUMP_SQL, assert_events_match, orders_frame

from klaviyo_analytics.context import AppContext
from klaviyo_analytics.metadata import DataTypeState
from klaviyo_analytics.settings import Settings
from klaviyo_analytics.simulator import SimulatorConfig, SimulatorServer

CLI = [sys.executable, "-m", "klaviyo_analytics.cli.main"]
STORE = "crashshop"
PAGE, BATCH = 20, 40


def _cli_cmd() -> list[str]:
    exe = Path(sys.executable).with_name("klaviyo-analytics")
    return [str(exe)] if exe.exists() else CLI


def run_cli(
    data_dir: Path, base_url: str, *args: str, kill_after: int | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the CLI on ``data_dir`` against the simulator at ``base_url``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLAVIYO_ANALYTICS_")}
    env |= {
        "KLAVIYO_ANALYTICS_KLAVIYO_BASE_URL": base_url,
        "KLAVIYO_ANALYTICS_KLAVIYO_PACING": "false",
        "KLAVIYO_ANALYTICS_KLAVIYO_RETRY_BASE_SECONDS": "0.01",
        "KLAVIYO_ANALYTICS_SYNC_EVENTS_PAGE_SIZE": str(PAGE),
        "KLAVIYO_ANALYTICS_SYNC_BATCH_ROWS": str(BATCH),
    }
    if kill_after is not None:
        env["KLAVIYO_ANALYTICS_TEST_KILL_AFTER_BATCHES"] = str(kill_after)
    return subprocess.run(
        [*_cli_cmd(), "--data-dir", str(data_dir), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def sync_state(data_dir: Path, kid: str) -> tuple[dict[str, DataTypeState], bool]:
    """The per data type sync state and whether the dashboard lock is held, read from the data
    dir's metadata (no chDB)."""
    with AppContext(Settings(data_dir=data_dir)) as ctx:
        locked = ctx.metadata.get_store(STORE).klaviyo_integration.is_updating_dashboard
        return dict(ctx.metadata.get_sync(kid).data_types), locked


def dump(data_dir: Path, base_url: str) -> list[dict[str, Any]]:
    """Every order row and the line-item/refund aggregates, read with FINAL via the CLI."""
    res = run_cli(data_dir, base_url, "query", DUMP_SQL, "--format", "json")
    assert res.returncode == 0, res.stderr
    rows: list[dict[str, Any]] = orjson.loads(res.stdout)
    return rows


@pytest.fixture(scope="module")
def crash_sim() -> Iterator[SimulatorServer]:
    """A tiny simulator (one account, rate limits off) at today 00:00 UTC."""
    with SimulatorServer(SimulatorConfig(seed=11, scale="tiny")) as sim:
        yield sim


def prepare(d: Path, sim: SimulatorServer) -> None:
    """A migrated data dir with the store added through the CLI (a chDB data dir cannot be
    copied: its Atomic databases are linked by absolute paths)."""
    acct = sim.accounts[0]
    res = run_cli(d, sim.base_url, "db", "migrate")
    assert res.returncode == 0, res.stderr
    res = run_cli(
        d, sim.base_url, "stores", "add", "--name", "Crash Shop",
        "--klaviyo-public-id", acct.public_id, "--api-key", acct.api_key, "--public-id", STORE,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr


def _aware(value: object) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def test_sigkill_at_several_points_then_rerun_reaches_truth(
    crash_sim: SimulatorServer, tmp_path: Path
) -> None:
    kid = crash_sim.accounts[0].public_id
    truth = crash_sim.ground_truth()
    order_batches = math.ceil(truth.orders / BATCH)
    assert order_batches >= 4 and truth.refunds > 0
    sync = ("sync", "--store", STORE, "--only", "orders,refunds")

    def killed(d: Path, kill_after: int) -> tuple[dict[str, DataTypeState], bool]:
        res = run_cli(d, crash_sim.base_url, *sync, kill_after=kill_after)
        assert res.returncode == -9, (kill_after, res.returncode, res.stderr[-2000:])
        return sync_state(d, kid)

    def finish(d: Path) -> list[dict[str, Any]]:
        res = run_cli(d, crash_sim.base_url, *sync)
        assert res.returncode == 0, (res.stdout, res.stderr[-2000:])
        return dump(d, crash_sim.base_url)

    def chain_a() -> tuple[list[Any], list[dict[str, Any]]]:
        # Killed after the first insert (no watermark yet), then again mid-way through the
        # orders of the re-run (earlier batches checkpointed), then run to completion.
        d = tmp_path / "a"
        prepare(d, crash_sim)
        states = [killed(d, 1), killed(d, order_batches // 2)]
        return states, finish(d)

    def chain_b() -> tuple[list[Any], list[dict[str, Any]]]:
        # Killed after every order batch and the first refund batch were written: orders are
        # complete and checkpointed, refunds are half written with no watermark.
        d = tmp_path / "b"
        prepare(d, crash_sim)
        states = [killed(d, order_batches + 1)]
        return states, finish(d)

    with ThreadPoolExecutor(max_workers=2) as pool:
        fa, fb = pool.submit(chain_a), pool.submit(chain_b)
        (states_a, rows_a), (states_b, rows_b) = fa.result(), fb.result()

    for rows in (rows_a, rows_b):
        # Exactly the truth, every order once, and the customer context right, including the
        # customers of the batch killed before its context was recomputed.
        assert_events_match(rows, truth)
    newest = orders_frame(rows_a)["ts"].max().to_pydatetime()

    def mark(state: dict[str, DataTypeState], dt: str) -> datetime | None:
        return _aware(state[dt].watermark) if dt in state else None

    # The dead process's lock was left behind each time, and the re-runs went through anyway.
    assert all(locked for _, locked in [*states_a, *states_b])
    # A watermark never covers rows a crash may have lost.
    (after_first, _), (mid_way, _) = states_a
    assert mark(after_first, "orders") is None
    mid_mark = mark(mid_way, "orders")
    assert mid_mark is not None and mid_mark < newest
    ((orders_done, _),) = states_b
    assert mark(orders_done, "orders") == newest
    assert mark(orders_done, "refunds") is None
