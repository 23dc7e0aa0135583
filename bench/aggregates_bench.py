"""Time the five aggregate jobs against what a user would pick instead (not part of the tests).

Usage::

    python bench/aggregates_bench.py --orders 100000 --orders 1000000 --json out.json
    python bench/aggregates_bench.py --orders 100000 --orders 1000000 --engines chdb \\
        --merge out.json --json out2.json     # re-time chDB only, keep the other columns

One process, one embedded chDB store per size, generated straight inside chDB
(``bench/aggregates_data.py``: ``INSERT ... SELECT FROM numbers()``, ~3.5 line items per order,
planted bundles, refunds, cancellations, campaign and flow statistics, campaign tags). Per size:

(a) chDB: each job alone via ``run_aggregates(..., jobs=[name])`` (so each prepares the shared
    per-run inputs itself), and the full five-job ``run_aggregates`` (inputs prepared once);
    wall time includes the version lookup, the insert, the row count and the cleanup mutation.
(b) pandas (``bench/pandas_jobs.py``): each job pulls its rows out of ClickHouse with
    ``query_arrow`` (FINAL) + ``to_pandas`` itself — included in its time — then group-bys.
(c) DuckDB (``bench/duckdb_jobs.py``): the rows are exported once per size (FINAL, Arrow) and
    loaded into native DuckDB tables; that export + load is timed separately and is **not**
    included in the DuckDB job times. Each DuckDB job recomputes its counted orders itself.
    chDB and DuckDB alternate job by job within each run (``bench_chdb_duckdb``).
(d) mlxtend (``bench/mlxtend_basket.py``, a child process with a timeout) on exactly the counted
    baskets the chDB relationships job of the same store uses, compared with that job only.

Each step starts once the store has no background merge or mutation running (``settle``: the
merges an earlier step's inserts left behind are not charged to the next step; the seconds
waited are kept in the results JSON under ``settle_s``). Each step is repeated ``--runs``
times (median reported); peak memory is the largest RSS of this
process (chDB is embedded, so its memory is ours) sampled every 20 ms during the step, minus the
RSS when the step started. mlxtend reports its child's own peak RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

import duckdb_jobs  # noqa: E402
import pandas_jobs  # noqa: E402
from aggregates_data import AS_OF, STORE, generate  # noqa: E402
from aggregates_export import pull_all  # noqa: E402

from klaviyo_analytics.aggregates import run_aggregates  # noqa: E402
from klaviyo_analytics.warehouse import Warehouse, migrate  # noqa: E402

JOB_NAMES = ["campaign-daily", "account-daily", "customers", "products", "relationships"]
MIN_CO = 3
HERE = Path(__file__).resolve().parent


class PeakRss:
    """Samples this process's RSS every 20 ms while active."""

    def __enter__(self) -> PeakRss:
        self.proc = psutil.Process()
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.base) / 2**20


class Results:
    """Every measured step: (size, engine, job) → list of (seconds, peak extra MB)."""

    def __init__(self) -> None:
        self.steps: dict[str, list[list[float]]] = {}
        self.facts: dict[str, Any] = {}

    @staticmethod
    def key(size: int, engine: str, job: str) -> str:
        return f"{size}|{engine}|{job}"

    def add(self, size: int, engine: str, job: str, seconds: float, mb: float) -> None:
        self.steps.setdefault(self.key(size, engine, job), []).append([seconds, mb])

    def runs(self, size: int, engine: str, job: str) -> list[list[float]]:
        return self.steps.get(self.key(size, engine, job), [])

    def median(self, size: int, engine: str, job: str) -> float | None:
        runs = self.runs(size, engine, job)
        return statistics.median(r[0] for r in runs) if runs else None

    def peak(self, size: int, engine: str, job: str) -> float | None:
        runs = self.runs(size, engine, job)
        return max(r[1] for r in runs) if runs else None

    def drop_engine(self, engine: str) -> None:
        self.steps = {k: v for k, v in self.steps.items() if k.split("|")[1] != engine}

    def dump(self, path: str) -> None:
        Path(path).write_text(json.dumps({"steps": self.steps, "facts": self.facts}, indent=1))

    @classmethod
    def load(cls, path: str) -> Results:
        data = json.loads(Path(path).read_text())
        res = cls()
        res.steps, res.facts = data["steps"], data["facts"]
        return res


def settle(wh: Warehouse) -> float:
    """Wait until the store has no background merge or mutation running; the seconds waited.

    An ``INSERT`` leaves merges behind that run for seconds after it returns; without this, a
    step's wall time would include the merges of the step before it (which a cron, running the
    jobs minutes or hours apart, never sees), and DuckDB's steps would compete with them.
    """
    start = time.perf_counter()
    while wh.scalar("SELECT count() FROM system.merges") or wh.scalar(
        "SELECT count() FROM system.mutations WHERE NOT is_done"
    ):
        time.sleep(0.05)
    return time.perf_counter() - start


def measure(
    res: Results,
    size: int,
    engine: str,
    job: str,
    fn: Callable[[], Any],
    wh: Warehouse | None = None,
) -> tuple[float | None, Any]:
    if wh is not None:
        waited = settle(wh)
        res.facts.setdefault("settle_s", {}).setdefault(Results.key(size, engine, job), []).append(
            round(waited, 3)
        )
    with PeakRss() as mem:
        start = time.perf_counter()
        try:
            out = fn()
        except Exception as exc:  # a job being edited concurrently may fail: record, go on
            message = str(exc).splitlines()[0][:300]
            res.facts.setdefault("errors", {})[Results.key(size, engine, job)] = message
            print(f"  {engine:7s} {job:15s} FAILED: {message}")
            return None, None
        elapsed = time.perf_counter() - start
    res.add(size, engine, job, elapsed, mem.extra_mb)
    shown = str(out)[:120] if isinstance(out, str | int) else type(out).__name__
    print(f"  {engine:7s} {job:15s} {elapsed:7.2f}s  peak +{mem.extra_mb:6.0f} MB  -> {shown}")
    return elapsed, out


def chdb_rows(results: list[Any]) -> str:
    return ", ".join(f"{r.job}={r.rows}" for r in results)


def bench_chdb_duckdb(
    wh: Warehouse, res: Results, size: int, runs: int, chdb: bool, duckdb: bool
) -> None:
    """chDB and DuckDB job by job, alternating within each run (each chDB job, then the same
    DuckDB job), so a slow spell of the shared machine hits both engines' runs alike; each run
    ends with chDB's full five-job run."""
    con = None
    duck_jobs: dict[str, Callable[[], Any]] = {}
    if duckdb:
        con = duckdb_jobs.connect()
        _, tables = measure(res, size, "duckdb", "export", lambda: pull_all(wh, STORE))
        measure(res, size, "duckdb", "load", lambda: duckdb_jobs.load(con, tables))
        tables = None
        duck_jobs = duckdb_jobs.DuckJobs(con, AS_OF, "UTC", MIN_CO).jobs()
    for run in range(runs):
        print(f" run {run + 1}/{runs}")
        for job in JOB_NAMES:
            if chdb:
                measure(
                    res,
                    size,
                    "chdb",
                    job,
                    lambda job=job: chdb_rows(run_aggregates(wh, STORE, jobs=[job], as_of=AS_OF)),
                    wh,
                )
            if duckdb:
                measure(res, size, "duckdb", job, duck_jobs[job], wh)
        if chdb:
            _, out = measure(
                res, size, "chdb", "all five", lambda: run_aggregates(wh, STORE, as_of=AS_OF), wh
            )
            if out and len(out) > 2:
                res.facts[f"{size}|chdb|bgnbd"] = dict(out[2].details)
    if con is not None:
        con.close()


def bench_pandas(wh: Warehouse, res: Results, size: int, runs: int, max_s: float) -> None:
    jobs = pandas_jobs.PandasJobs(wh, STORE, AS_OF, "UTC", MIN_CO).jobs()
    for job in JOB_NAMES:
        for run in range(runs):
            t, _ = measure(res, size, "pandas", job, jobs[job], wh)
            if t is not None and t > max_s and run + 1 < runs:
                print(f"  pandas {job} took {t:.0f}s > {max_s:.0f}s: fewer runs")
                break


def export_baskets(wh: Warehouse, path: str) -> int:
    """The counted baskets (order, product) of the store, as the relationships job sees them."""
    con = duckdb_jobs.connect()
    duckdb_jobs.load(con, pull_all(wh, STORE))
    jobs = duckdb_jobs.DuckJobs(con, AS_OF, "UTC", MIN_CO)
    con.execute(
        f"""COPY (WITH counted AS ({jobs._counted_orders()})
            SELECT DISTINCT l.order_id, l.product_id FROM src_lines AS l
            JOIN counted AS o ON o.order_id = l.order_id ORDER BY 1, 2)
        TO '{path}' (FORMAT parquet)"""
    )
    row = con.execute(f"SELECT count(DISTINCT order_id) FROM '{path}'").fetchone()
    con.close()
    return int(row[0]) if row else 0


def bench_mlxtend(wh: Warehouse, res: Results, size: int, timeout: float) -> None:
    path = os.path.join(tempfile.mkdtemp(), "baskets.parquet")
    baskets = export_baskets(wh, path)
    print(f" mlxtend on {baskets} baskets (timeout {timeout:.0f}s)")
    cmd = [sys.executable, str(HERE / "mlxtend_basket.py"), path, str(MIN_CO)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
        info = json.loads(out.stdout.strip().splitlines()[-1])
    except subprocess.TimeoutExpired:
        info = {"baskets": baskets, "timeout_s": timeout}
    except subprocess.CalledProcessError as exc:
        info = {"baskets": baskets, "error": exc.stderr.strip().splitlines()[-1:]}
    print(f"  mlxtend {info}")
    res.facts[f"{size}|mlxtend"] = info


def versions() -> dict[str, str]:
    import chdb
    import duckdb
    import mlxtend
    import pandas

    return {
        "chdb": chdb.__version__,
        "duckdb": duckdb.__version__,
        "pandas": pandas.__version__,
        "mlxtend": mlxtend.__version__,
        "python": platform.python_version(),
        "cpus": str(os.cpu_count()),
        "loadavg_start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def fmt_s(v: float | None) -> str:
    if v is None:
        return "–"
    return f"{v:.2f} s" if v < 10 else f"{v:.1f} s"


def fmt_mb(v: float | None) -> str:
    return "–" if v is None else f"{v:,.0f}"


def render(res: Results, sizes: list[int]) -> str:
    lines: list[str] = []
    head = ["job"]
    for s in sizes:
        k = f"{s // 1000}k" if s < 1_000_000 else f"{s // 1_000_000}M"
        head += [f"chDB {k}", f"DuckDB {k}", f"pandas {k}", f"chDB÷DuckDB {k}"]
    head.append("≤ 1.5× DuckDB at 1M?")
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    big = max(sizes)
    for job in [*JOB_NAMES, "all five"]:
        row = [f"**{job}**" if job == "all five" else job]
        for s in sizes:
            c, d = res.median(s, "chdb", job), res.median(s, "duckdb", job)
            p = res.median(s, "pandas", job)
            if job == "all five":
                d = sum(res.median(s, "duckdb", j) or 0 for j in JOB_NAMES) or None
                p = sum(res.median(s, "pandas", j) or 0 for j in JOB_NAMES) or None
            ratio = f"{c / d:.1f}×" if c and d else "–"
            row += [fmt_s(c), fmt_s(d), fmt_s(p), ratio]
        c, d = res.median(big, "chdb", job), res.median(big, "duckdb", job)
        if job == "all five":
            row.append(f"< 10 s: {'**yes**' if c is not None and c < 10 else '**no**'}")
        else:
            row.append("–" if not (c and d) else ("yes" if c <= 1.5 * d else "**no**"))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    lines.append("Peak memory (MB above the step's starting RSS, max over runs):")
    lines.append("")
    head = ["job"] + [f"{e} {s:,}" for s in sizes for e in ("chDB", "DuckDB", "pandas")]
    lines += ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for job in [*JOB_NAMES, "all five"]:
        row = [job]
        for s in sizes:
            for e in ("chdb", "duckdb", "pandas"):
                row.append(fmt_mb(res.peak(s, e, job)))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for s in sizes:
        ex, ld = res.median(s, "duckdb", "export"), res.median(s, "duckdb", "load")
        if ex is not None:
            lines.append(
                f"- {s:,} orders: DuckDB export out of chDB (FINAL, Arrow) {fmt_s(ex)} + load "
                f"into DuckDB {fmt_s(ld)}, once, **not** in the DuckDB job times."
            )
    for s in sizes:
        info = res.facts.get(f"{s}|mlxtend")
        if not info:
            continue
        chdb_rel = res.median(s, "chdb", "relationships")
        if "total_s" in info and chdb_rel:
            speed = info["total_s"] / chdb_rel
            lines.append(
                f"- basket at {info['baskets']:,} baskets ({s:,} orders): mlxtend "
                f"{fmt_s(info['total_s'])} (one-hot {fmt_s(info['encode_s'])}, apriori "
                f"{fmt_s(info['apriori_s'])}, rules {fmt_s(info['rules_s'])}; {info['rules']:,} "
                f"rules, peak RSS {info['peak_rss_mb']:,.0f} MB) vs chDB relationships job "
                f"{fmt_s(chdb_rel)}: **{speed:.1f}×** "
                f"({'meets' if speed >= 15 else 'misses'} the ≥ 15× target)."
            )
        else:
            lines.append(f"- mlxtend at {s:,} orders: not finished ({info}).")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, action="append", default=None)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--pandas-max-s",
        type=float,
        default=120.0,
        help="after a pandas run slower than this, do no more runs of that job",
    )
    parser.add_argument("--mlxtend-timeout", type=float, default=180.0)
    parser.add_argument(
        "--engines",
        default="chdb,duckdb,pandas,mlxtend",
        help="comma-separated subset of chdb,duckdb,pandas,mlxtend to time",
    )
    parser.add_argument("--merge", help="results JSON of an earlier run: keep its other engines")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    sizes = sorted(args.orders or [100_000])
    engines = set(args.engines.split(","))
    res = Results.load(args.merge) if args.merge else Results()
    for engine in engines:
        res.drop_engine(engine)
    res.facts[f"versions {args.engines}"] = versions()
    print(res.facts)
    wh = Warehouse(f"chdb://{tempfile.mkdtemp()}", database="bench")
    migrate(wh)
    for size in sizes:
        start = time.perf_counter()
        counts = generate(wh, size)
        print(f"{size:,} orders: {counts} generated in {time.perf_counter() - start:.1f}s")
        res.facts[f"{size}|rows"] = counts
        if engines & {"chdb", "duckdb"}:
            bench_chdb_duckdb(
                wh, res, size, args.runs, chdb="chdb" in engines, duckdb="duckdb" in engines
            )
        if "pandas" in engines:
            bench_pandas(wh, res, size, args.runs, args.pandas_max_s)
        if "mlxtend" in engines:
            bench_mlxtend(wh, res, size, args.mlxtend_timeout)
        if args.json:
            res.dump(args.json)
    res.facts["loadavg_end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    if args.json:
        res.dump(args.json)
    print()
    print(render(res, sizes))


if __name__ == "__main__":
    main()
