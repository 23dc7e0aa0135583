"""End-to-end cron_sync benchmark: simulator → client → transform → chDB.

Usage::

    python bench/sync_bench.py --scale medium [--scale large] [--page-size 1000]

The simulator runs as a separate process (``klaviyo-analytics simulator serve --json``, rate limits
off) so the sync's own RSS and CPU are measured apart from it. The sync runs in this process on a
fresh embedded data dir, one data type at a time, and prints one JSON line per scale: wall time,
orders/s and events/s end to end, the sync process's CPU seconds (what the sync itself costs, as
opposed to waiting for the simulator), peak RSS of the sync process and of the simulator
(/proc/<pid>/status, sampled every 20 ms in a thread), API calls per data type against the
minimum the data needs, and per data type the seconds the engine's background merges ran and the
rows they merged (chDB's counters; its merges are part of the sync's CPU).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import psutil

from klaviyo_analytics.context import AppContext
from klaviyo_analytics.settings import Settings
from klaviyo_analytics.sync import sync_store
from klaviyo_analytics.warehouse import migrate

EVENT_TYPES = ("orders", "refunds")
REPORT_TYPES = ("campaigns", "flows", "forms", "segments")


def _rss(pid: int) -> tuple[int, int]:
    """Resident memory and its anonymous part (heap, not the mapped pages of shared libraries)
    in bytes, from one read of /proc/<pid>/status (cheaper than psutil plus a second read: the
    sampler runs in the measured process and its CPU counts as the sync's)."""
    rss = anon = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("RssAnon:"):
                anon = int(line.split()[1]) * 1024
                break
    return rss, anon


class PeakRss:
    """Samples the RSS of some processes in a thread and keeps each one's peak."""

    def __init__(self, procs: dict[str, psutil.Process], every: float = 0.02) -> None:
        self.procs = procs
        self.every = every
        self.peak = dict.fromkeys(procs, 0)
        self.peak_anon = dict.fromkeys(procs, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                with contextlib.suppress(OSError, ValueError):
                    rss, anon = _rss(proc.pid)
                    self.peak[name] = max(self.peak[name], rss)
                    self.peak_anon[name] = max(self.peak_anon[name], anon)
            time.sleep(self.every)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def start_simulator(scale: str) -> tuple[subprocess.Popen[str], dict[str, Any], float]:
    """The simulator in its own process; returns it, its JSON greeting and its start time."""
    exe = Path(sys.executable).with_name("klaviyo-analytics")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [str(exe), "simulator", "serve", "--json", "--port", "0", "--scale", scale],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the simulator did not start")
    return proc, orjson.loads(line), time.monotonic() - t0


def merge_counters(ctx: AppContext) -> tuple[float, int]:
    """Seconds the engine's background merges have run and rows they merged (the embedded
    engine's process-wide counters: on chDB, every merge is the sync's)."""
    counters = dict(
        ctx.warehouse.rows(
            "SELECT event, value FROM system.events"
            " WHERE event IN ('MergeTotalMilliseconds', 'MergedRows')"
        )
    )
    return counters.get("MergeTotalMilliseconds", 0) / 1000, counters.get("MergedRows", 0)


def bench(scale: str, page_size: int, batch_rows: int) -> dict[str, Any]:
    """Benchmark one scale; returns the result row."""
    sim, hello, sim_start = start_simulator(scale)
    try:
        acct = hello["accounts"][0]
        with tempfile.TemporaryDirectory(prefix="sync-bench-") as tmp:
            settings = Settings(
                data_dir=Path(tmp),
                mongodb_url="mongomock://",
                klaviyo_base_url=hello["base_url"],
                klaviyo_pacing=False,
                sync_events_page_size=page_size,
                sync_batch_rows=batch_rows,
            )
            with AppContext(settings) as ctx:
                migrate(ctx.warehouse)
                store = ctx.metadata.add_store("Bench", acct["public_id"], api_key=acct["api_key"])
                me = psutil.Process()
                types: dict[str, Any] = {}
                with PeakRss({"sync": me, "simulator": psutil.Process(sim.pid)}) as rss:
                    for dt in (*EVENT_TYPES, *REPORT_TYPES):
                        cpu0, t0 = sum(me.cpu_times()[:2]), time.monotonic()
                        merge0 = merge_counters(ctx)
                        res = sync_store(ctx, store.public_id, only=[dt])
                        if not res.ok:
                            raise SystemExit(f"{dt} failed: {res}")
                        merge1 = merge_counters(ctx)
                        types[dt] = {
                            "seconds": round(time.monotonic() - t0, 2),
                            "sync_cpu_seconds": round(sum(me.cpu_times()[:2]) - cpu0, 2),
                            "merge_seconds": round(merge1[0] - merge0[0], 2),
                            "merged_rows": merge1[1] - merge0[1],
                            "rows_written": res.rows_written,
                            "api_calls": res.api_calls,
                        }
                wh = ctx.warehouse
                kid = acct["public_id"]
                orders = int(
                    wh.scalar(
                        "SELECT count() FROM klaviyo_orders AS o FINAL "
                        "WHERE klaviyo_public_id = {k:String}",
                        {"k": kid},
                    )
                )
                by_type = dict(
                    wh.rows(
                        "SELECT event_type, count() FROM refund_cancelled_orders AS r FINAL "
                        "WHERE klaviyo_public_id = {k:String} GROUP BY event_type",
                        {"k": kid},
                    )
                )
    finally:
        sim.terminate()
        sim.wait(timeout=30)
    refunds, cancels = int(by_type.get("refund", 0)), int(by_type.get("cancelled", 0))
    events = orders + refunds + cancels
    ev_seconds = sum(types[t]["seconds"] for t in EVENT_TYPES)
    ev_cpu = sum(types[t]["sync_cpu_seconds"] for t in EVENT_TYPES)
    minimum = {
        "orders": math.ceil(orders / page_size),
        "refunds": math.ceil(refunds / page_size) + math.ceil(cancels / page_size),
    }
    calls = {
        t: {
            "events_calls": types[t]["api_calls"].get("GET /api/events", 0),
            "min_events_calls": minimum[t],
            "other_calls": sum(
                n for k, n in types[t]["api_calls"].items() if k != "GET /api/events"
            ),
        }
        for t in EVENT_TYPES
    }
    calls |= {t: types[t]["api_calls"] for t in REPORT_TYPES}
    return {
        "scale": scale,
        "orders": orders,
        "events": events,
        "simulator_start_seconds": round(sim_start, 1),
        "event_sync_seconds": round(ev_seconds, 2),
        "orders_per_second": round(orders / ev_types_seconds(types, "orders")),
        "events_per_second": round(events / ev_seconds),
        "sync_cpu_seconds_events": round(ev_cpu, 2),
        "orders_per_sync_cpu_second": round(
            orders / max(types["orders"]["sync_cpu_seconds"], 1e-9)
        ),
        "report_types_seconds": round(sum(types[t]["seconds"] for t in REPORT_TYPES), 2),
        "peak_rss_sync_mb": round(rss.peak["sync"] / 2**20),
        "peak_rss_anon_sync_mb": round(rss.peak_anon["sync"] / 2**20),
        "peak_rss_simulator_mb": round(rss.peak["simulator"] / 2**20),
        "api_calls": calls,
        "per_type": {t: {k: v for k, v in d.items() if k != "api_calls"} for t, d in types.items()},
    }


def ev_types_seconds(types: dict[str, Any], dt: str) -> float:
    """Wall seconds of one data type (never zero)."""
    return max(float(types[dt]["seconds"]), 1e-9)


def main() -> None:
    """Parse arguments, run each scale, print one JSON line per scale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", action="append", help="tiny|small|medium|large|<orders>")
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--batch-rows", type=int, default=10_000)
    args = parser.parse_args()
    for scale in args.scale or ["medium"]:
        row = bench(scale, args.page_size, args.batch_rows)
        sys.stdout.write(orjson.dumps(row).decode() + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
