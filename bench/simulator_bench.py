"""Benchmark of the Klaviyo simulator: store build time, events pages/s, page latency, peak RSS.

Usage: ``python bench/simulator_bench.py --scale large --pages 200``. Starts the simulator as its
own process (``klaviyo-analytics simulator serve --json``, rate limits off, seed 42, clock
2026-07-01), as the sync sees it, pages through Shopify "Placed Order" events (``--metric``: or
refunds, cancellations) with ``page[size]=1000&include=profile`` (``--query sync``: the sync's
query, with its datetime range and sparse fieldsets) via ``links.next`` and prints one JSON line.
``--parse links`` reads only ``links.next`` of each page instead of parsing all of it (the
client's ``orjson.loads`` of 4 MB costs more CPU than serving the page, on the same 2 cores). The
load average is printed too. The simulator
process's RSS is sampled every 50 ms from another thread (build and serving peaks separately), and
the CPU time (user + system) the simulator process and the bench client spent per page is reported
as well: on a shared machine it is a steadier measure than pages/s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import orjson
import psutil


class RssSampler:
    """Samples a process's RSS in a background thread."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.05)

    def take(self) -> int:
        """The peak since the last call (and reset it)."""
        peak, self.peak = self.peak, 0
        return peak

    def stop(self) -> None:
        """Stop sampling."""
        self._stop.set()
        self._thread.join()


def _links_next(body: bytes) -> tuple[str | None, int]:
    """``links.next`` of an events page and its number of events, without parsing the page (the
    top-level ``links`` object follows the ``data`` array; events are counted by their type)."""
    at = body.rfind(b'],"links":{')
    end = body.index(b"}", at)
    links = orjson.loads(body[at + 10 : end + 1])
    return links.get("next"), body.count(b'{"type":"event",')


def main() -> None:
    """Run the benchmark and print its result as JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="large")
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--metric",
        default="Placed Order",
        help="Shopify metric to page through: Placed Order, Refunded Order, Cancelled Order",
    )
    parser.add_argument(
        "--query",
        choices=("plain", "sync"),
        default="plain",
        help="plain: page[size]=1000&include=profile; sync: the sync's query (datetime range, "
        "sort, sparse fieldsets fields[event]=datetime,timestamp,event_properties and "
        "fields[profile]=email)",
    )
    parser.add_argument(
        "--parse",
        choices=("full", "links"),
        default="full",
        help="full: orjson.loads every page, as the sync does (the client then costs as much CPU "
        "as the simulator); links: read only links.next, to measure what the simulator serves",
    )
    args = parser.parse_args()
    exe = Path(sys.executable).with_name("klaviyo-analytics")
    cmd = [str(exe), "simulator", "serve", "--port", "0", "--json", "--seed", str(args.seed)]
    cmd += ["--scale", args.scale, "--now", "2026-07-01T00:00:00+00:00"]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=os.environ.copy())
    sampler = RssSampler(proc.pid)
    try:
        assert proc.stdout is not None
        info = orjson.loads(proc.stdout.readline())
        build = time.perf_counter() - t0
        build_peak = sampler.take()
        headers = {
            "Authorization": f"Klaviyo-API-Key {info['accounts'][0]['api_key']}",
            "revision": "2026-07-15",
        }
        with httpx.Client(base_url=info["base_url"], headers=headers, timeout=60) as client:
            metrics = client.get("/api/metrics").json()["data"]
            metric = next(
                m["id"] for m in metrics
                if m["attributes"]["name"] == args.metric
                and m["attributes"]["integration"]["name"] == "Shopify"
            )  # fmt: skip
            url: str | None = (
                f'/api/events?filter=equals(metric_id,"{metric}")&page[size]=1000&include=profile'
            )
            if args.query == "sync":
                url = (
                    f'/api/events?filter=and(equals(metric_id,"{metric}"),'
                    "greater-or-equal(datetime,2024-01-01T00:00:00Z),"
                    "less-than(datetime,2026-07-01T00:00:00Z))&sort=datetime&page[size]=1000"
                    "&include=profile&fields[event]=datetime,timestamp,event_properties"
                    "&fields[profile]=email"
                )
            pages = events = nbytes = 0
            latencies: list[float] = []
            rss_early = 0
            sim_proc = psutil.Process(proc.pid)
            cpu0 = sim_proc.cpu_times()
            own0 = time.process_time()
            t1 = time.perf_counter()
            while url and pages < args.pages:
                t = time.perf_counter()
                r = client.get(url)
                latencies.append(time.perf_counter() - t)
                nbytes += len(r.content)
                pages += 1
                if args.parse == "full":
                    doc = orjson.loads(r.content)
                    events += len(doc["data"])
                    url = doc["links"].get("next")
                else:
                    url, n = _links_next(r.content)
                    events += n
                if pages == 20:
                    rss_early = psutil.Process(proc.pid).memory_info().rss
            elapsed = time.perf_counter() - t1
            cpu1 = sim_proc.cpu_times()
            own_cpu = time.process_time() - own0
            sim_cpu = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        serve_peak = sampler.take()
        rss_end = psutil.Process(proc.pid).memory_info().rss
    finally:
        sampler.stop()
        proc.terminate()
        proc.wait(timeout=30)
    latencies.sort()
    result = {
        "scale": args.scale,
        "metric": args.metric,
        "query": args.query,
        "parse": args.parse,
        "build_seconds": round(build, 2),
        "pages": pages,
        "events": events,
        "pages_per_second": round(pages / elapsed, 1),
        "events_per_second": round(events / elapsed),
        "page_p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "page_p90_ms": round(latencies[int(len(latencies) * 0.9)] * 1000, 1),
        "sim_cpu_ms_per_page": round(sim_cpu / max(pages, 1) * 1000, 1),
        "client_cpu_ms_per_page": round(own_cpu / max(pages, 1) * 1000, 1),
        "mb_per_page": round(nbytes / max(pages, 1) / 1e6, 2),
        "sim_peak_rss_build_mb": round(build_peak / 1e6),
        "sim_peak_rss_serving_mb": round(serve_peak / 1e6),
        "sim_rss_after_20_pages_mb": round(rss_early / 1e6),
        "sim_rss_end_mb": round(rss_end / 1e6),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
    print(orjson.dumps(result).decode())


if __name__ == "__main__":
    main()
