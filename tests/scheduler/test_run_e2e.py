"""``klaviyo-analytics run`` end to end: a real process against the simulator, stopped by SIGTERM
in the middle of a sync, then ``run --once`` reaches the simulator's ground truth."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from klaviyo_analytics.simulator import SimulatorConfig, SimulatorServer
from tests.cli.helpers import EXECUTABLE, run_cli
from tests.sync.truthcheck import DUMP_SQL, assert_events_match

AGGREGATE_COUNTS = (
    "SELECT (SELECT count() FROM campaign_daily_aggregates) AS campaign_daily, "
    "(SELECT count() FROM account_metrics_daily) AS account_daily, "
    "(SELECT count() FROM customer_profiles) AS customers, "
    "(SELECT count() FROM products_master) AS products, "
    "(SELECT count() FROM product_relationships_optimized) AS relationships, "
    # customer_profiles holds customers with at least one order that was not cancelled
    # (docs/metrics.md); derived here from the synced tables, independently of the job.
    "(SELECT uniqExact(customer_email) FROM klaviyo_orders WHERE order_id NOT IN "
    "(SELECT original_order_id FROM refund_cancelled_orders WHERE event_type = 'cancelled')) "
    "AS counted_customers"
)


@pytest.fixture
def simulator() -> Iterator[SimulatorServer]:
    # A small delay per response keeps the sync running long enough to be interrupted.
    with SimulatorServer(SimulatorConfig(seed=11, scale="tiny", page_delay=0.02)) as sim:
        yield sim


def _env(sim: SimulatorServer, data_dir: Path) -> dict[str, str]:
    return {
        "KLAVIYO_ANALYTICS_DATA_DIR": str(data_dir),
        "KLAVIYO_ANALYTICS_KLAVIYO_BASE_URL": sim.base_url,
        "KLAVIYO_ANALYTICS_KLAVIYO_PACING": "false",  # the simulator runs without rate limits
        "KLAVIYO_ANALYTICS_SYNC_EVENTS_PAGE_SIZE": "25",  # many pages: many cancel checkpoints
        "KLAVIYO_ANALYTICS_LOG_LEVEL": "INFO",
    }


def _events_requests(sim: SimulatorServer) -> int:
    return sum(1 for _, path, _, _ in sim.request_log if path.startswith("/api/events"))


def test_sigterm_mid_sync_exits_zero_and_the_next_run_reaches_ground_truth(
    simulator: SimulatorServer, tmp_path: Path
) -> None:
    account = simulator.accounts[0]
    env = _env(simulator, tmp_path / "var")
    added = run_cli(
        ["stores", "add", "--name", "Shop", "--klaviyo-public-id", account.public_id,
         "--api-key", account.api_key, "--public-id", "shop"],
        env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KLAVIYO_ANALYTICS_")}
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [str(EXECUTABLE), "run", "--no-api", "--tick", "0.5", "--grace", "0"],
            env=full_env | env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            deadline = time.monotonic() + 40
            while _events_requests(simulator) < 3:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the sync never started"
                time.sleep(0.05)
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    records = [orjson.loads(line) for line in log_path.read_text().splitlines() if line[:1] == "{"]
    messages = [str(r["msg"]) for r in records]
    assert any(m.startswith("cancelled sync shop") for m in messages), messages
    assert any(m == "scheduler stopped" for m in messages), messages
    requests_at_stop = len(simulator.request_log)
    time.sleep(0.3)
    assert len(simulator.request_log) == requests_at_stop  # nothing left running

    once = run_cli(["run", "--once"], env=env)
    assert once.returncode == 0, once.stderr
    table = once.stdout
    assert "sync" in table and "aggregate" in table and "failed" not in table, table

    dump = run_cli(["query", DUMP_SQL, "--format", "json"], env=env)
    assert dump.returncode == 0, dump.stderr
    assert_events_match(orjson.loads(dump.stdout), simulator.ground_truth())

    counts = run_cli(["query", AGGREGATE_COUNTS, "--format", "json"], env=env)
    assert counts.returncode == 0, counts.stderr
    (row,) = orjson.loads(counts.stdout)
    assert row["customers"] == row["counted_customers"]
    assert row["customers"] <= simulator.ground_truth().customers
    assert all(row[name] > 0 for name in row), row


def test_run_serves_the_api_in_the_same_process_and_stops_on_sigint(tmp_path: Path) -> None:
    import httpx

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("KLAVIYO_ANALYTICS_")}
    full_env["KLAVIYO_ANALYTICS_DATA_DIR"] = str(tmp_path / "var")
    log_path = tmp_path / "run.log"
    with log_path.open("w") as log_file:
        process = subprocess.Popen(
            [str(EXECUTABLE), "run", "--port", "0", "--tick", "60"],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=log_file,
        )
        try:
            url = None
            deadline = time.monotonic() + 40
            while url is None:
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, log_path.read_text()
                for line in log_path.read_text().splitlines():
                    if line.startswith("{") and "url" in (record := orjson.loads(line)):
                        url = str(record["url"])
                time.sleep(0.05)
            for _ in range(100):
                try:
                    response = httpx.get(f"{url}/healthz", timeout=5)
                    break
                except httpx.ConnectError:
                    time.sleep(0.05)
            assert response.status_code == 200
            process.send_signal(signal.SIGINT)
            assert process.wait(timeout=30) == 0, log_path.read_text()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
