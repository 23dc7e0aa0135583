"""Where the orders sync's CPU goes: each stage of one batch measured alone, per order.

Usage::

    python bench/sync_cost.py [--scale large] [--pages 10] [--reps 7]

The simulator runs as its own process (rate limits off). One batch of Placed Order pages
(``--pages`` of 1,000 events, the sync's own query) is read through the sync's client; then, on
those pages: the simulator's CPU per page (its process's user + system time while it served
them), the client's CPU per page (this thread: httpx and the validating scan), the scan alone,
and, in an in-process chDB on a fresh data dir, the batch's statements one at a time (the raw
insert, the JSON parse, line items, orders), each ``--reps`` times (min and median of the
process's CPU, ClickHouse's threads included). Prints one JSON line with each stage's cost per
order and the ceiling on two cores that their sum implies. Background merges and the
customer-context derivation are not in it: the sum is a lower bound of what a sync costs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psutil
import simdjson
from sync_bench import start_simulator

from klaviyo_analytics.klaviyo.auth import ApiKeyAuth
from klaviyo_analytics.klaviyo.client import KlaviyoClient
from klaviyo_analytics.klaviyo.models import RawEventPage
from klaviyo_analytics.klaviyo.ratelimit import Pacer
from klaviyo_analytics.sync.events import _order_rows
from klaviyo_analytics.sync.pages import ORDER_PAGES, PageStage, StagedBatch, load_sql
from klaviyo_analytics.sync.runner import choose_metric
from klaviyo_analytics.warehouse import Warehouse, migrate

#: The machine's cores: the ceiling assumes every one of them busy with the sync and simulator.
CORES = os.cpu_count() or 1


def _cpu_ms(fn: Callable[[], object], reps: int) -> dict[str, float]:
    """Min and median of the process's CPU milliseconds for ``fn`` over ``reps`` runs."""
    runs = []
    for _ in range(reps):
        start = time.process_time()
        fn()
        runs.append((time.process_time() - start) * 1000)
    return {"min": round(min(runs), 1), "median": round(statistics.median(runs), 1)}


def read_pages(
    hello: dict[str, Any], sim_pid: int, pages: int
) -> tuple[list[RawEventPage], dict[str, float]]:
    """One batch of Placed Order pages through the sync's client, with the CPU each side spent."""
    acct = hello["accounts"][0]
    sim = psutil.Process(sim_pid)
    auth = ApiKeyAuth(acct["api_key"], acct["public_id"])
    with KlaviyoClient(hello["base_url"], auth, pacer=Pacer(enabled=False)) as client:
        metric = choose_metric(list(client.iter_metrics()), "Placed Order")
        if metric is None:
            raise SystemExit("the simulator has no Placed Order metric")
        until = client.server_now() + timedelta(days=1)
        since = datetime(2000, 1, 1, tzinfo=UTC)
        out: list[RawEventPage] = []
        sim0, me0 = sum(sim.cpu_times()[:2]), time.thread_time()
        for page in client.iter_raw_event_pages(metric.id, since, until, rows=_order_rows):
            out.append(page)
            if len(out) == pages:
                break
        sim_ms = (sum(sim.cpu_times()[:2]) - sim0) * 1000 / len(out)
        client_ms = (time.thread_time() - me0) * 1000 / len(out)
    return out, {"simulator": round(sim_ms, 1), "client": round(client_ms, 1)}


def statement_costs(pages: list[RawEventPage], reps: int) -> dict[str, dict[str, float]]:
    """CPU ms of each statement of one batch, in an in-process chDB."""
    now = datetime.now(UTC).replace(microsecond=0)
    params = {"kid": "bench", "tz": "UTC", "synced_at": now, "version": now}
    with tempfile.TemporaryDirectory(prefix="sync-cost-") as tmp:
        wh = Warehouse(f"chdb://{Path(tmp)}")
        try:
            migrate(wh)
            with PageStage(wh, "bench", "orders", parse=ORDER_PAGES) as stage:

                def stage_batch() -> StagedBatch:
                    for page in pages:
                        stage.add(page)
                    batch = stage.stage()
                    assert batch is not None
                    return batch

                costs = {"stage_and_parse": _cpu_ms(lambda: stage.release(stage_batch()), reps)}
                batch = stage_batch()
                for key, name in (
                    ("line_items", "line_items_from_pages.sql"),
                    ("orders", "orders_from_pages.sql"),
                ):
                    sql = load_sql(name)
                    costs[key] = _cpu_ms(
                        lambda sql=sql: wh.command(sql, {**params, "pages": batch.table}), reps
                    )
        finally:
            wh.close()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="large")
    parser.add_argument("--pages", type=int, default=10)
    parser.add_argument("--reps", type=int, default=7)
    args = parser.parse_args()
    sim, hello, _ = start_simulator(args.scale)
    try:
        pages, per_page = read_pages(hello, sim.pid, args.pages)
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    orders = sum(p.events for p in pages)
    scanner = simdjson.Parser()
    scan = _cpu_ms(
        lambda: [RawEventPage.scan(p.body, scanner, _order_rows) for p in pages], args.reps
    )
    statements = statement_costs(pages, args.reps)
    # µs per order: per-page costs × pages ÷ orders; the batch's statements ÷ its orders.
    us = {
        "simulator": per_page["simulator"] * len(pages) * 1000 / orders,
        "client_fetch_and_scan": per_page["client"] * len(pages) * 1000 / orders,
        **{k: v["min"] * 1000 / orders for k, v in statements.items()},
    }
    total = sum(us.values())
    print(
        orjson.dumps(
            {
                "scale": args.scale,
                "pages": len(pages),
                "orders": orders,
                "cpu_ms_per_page": {
                    **per_page,
                    "scan_alone_min": round(scan["min"] / len(pages), 2),
                },
                "statement_cpu_ms_per_batch": statements,
                "cpu_us_per_order": {k: round(v, 1) for k, v in us.items()},
                "total_us_per_order_lower_bound": round(total, 1),
                f"ceiling_orders_per_second_on_{CORES}_cores": round(CORES * 1e6 / total),
            }
        ).decode()
    )


if __name__ == "__main__":
    main()
