"""Time the five aggregate jobs on generated stores (not part of the test suite).

Usage: ``python bench/aggregates_bench.py --orders 100000 [--orders 1000000]``. Data is generated
straight into chDB with ``INSERT ... SELECT FROM numbers()`` (about 3.5 line items per order).
Compared side by side: the chDB job, DuckDB running the basket pair count on the same rows
(pulled out as Arrow), and mlxtend apriori + association_rules on a subsample.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from typing import Any

import psutil

from klaviyo_analytics.aggregates import JOBS, run_job
from klaviyo_analytics.warehouse import Warehouse, migrate

STORE = "Bench"
AS_OF = date(2024, 12, 31)


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

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.base) / 2**20


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    with PeakRss() as mem:
        start = time.perf_counter()
        out = fn()
        elapsed = time.perf_counter() - start
    return elapsed, mem.extra_mb, out


def generate(wh: Warehouse, orders: int) -> None:
    customers = max(orders // 4, 10)
    wh.command(
        f"""INSERT INTO klaviyo_orders (klaviyo_public_id, order_id, customer_id, customer_email,
            order_value, order_date, order_timestamp, is_first_order, discount_amount, inserted_at)
        SELECT 'Bench', toString(number), toString(c), concat('c', toString(c), '@x.com'),
            toDecimal64(10 + number % 190, 2), toDate(ts), ts, 0,
            toDecimal64(if(number % 5 = 0, 3, 0), 2), now()
        FROM (SELECT number, intHash32(number) % {customers} AS c,
              toDateTime64('2023-01-01 00:00:00', 3) + (intHash32(number * 7) % (730 * 86400)) AS ts
              FROM numbers({orders}))"""
    )
    wh.command(
        f"""INSERT INTO klaviyo_order_line_items (klaviyo_public_id, order_id, line_item_id,
            product_id, product_name, product_brand, product_type, quantity, unit_price,
            line_total, discount_amount, inserted_at)
        SELECT 'Bench', toString(o), concat(toString(o), '-', toString(k)),
            concat('P', toString(p)),
            concat('Product ', toString(p)), concat('B', toString(p % 20)),
            concat('T', toString(p % 12)), 1 + k % 3, toDecimal64(5 + p % 50, 2),
            toDecimal64((5 + p % 50) * (1 + k % 3), 2), toDecimal64(0, 2), now()
        FROM (SELECT intDiv(number, 7) * 2 + (number % 7 >= 4) AS o, number % 7 AS k,
              if(k = 1 AND intHash32(o) % 3 = 0, 1,
                 intHash32(number * 13) % 2000) AS p
              FROM numbers({orders * 7 // 2}))
        WHERE o < {orders}"""
    )


def duckdb_basket(wh: Warehouse, min_co: int) -> int:
    import duckdb

    lines = wh.arrow(
        "SELECT li.order_id AS order_id, li.product_id AS product_id "
        "FROM klaviyo_order_line_items AS li FINAL WHERE li.klaviyo_public_id = 'Bench'"
    )
    con = duckdb.connect()
    con.register("lines", lines)
    start = time.perf_counter()
    n = con.execute(
        f"""WITH b AS (SELECT DISTINCT order_id, product_id FROM lines)
        SELECT count(*) FROM (SELECT x.product_id, y.product_id, count(*) AS c FROM b x
        JOIN b y ON x.order_id = y.order_id AND x.product_id < y.product_id
        GROUP BY 1, 2 HAVING count(*) >= {min_co})"""
    ).fetchone()
    print(f"  duckdb basket pair count (query only): {time.perf_counter() - start:.2f}s")
    return int(n[0]) if n else 0


def mlxtend_basket(wh: Warehouse, limit: int) -> float:
    import pandas as pd
    from mlxtend.frequent_patterns import apriori, association_rules
    from mlxtend.preprocessing import TransactionEncoder

    rows = wh.rows(
        "SELECT groupUniqArray(li.product_id) FROM klaviyo_order_line_items AS li FINAL "
        f"WHERE li.klaviyo_public_id = 'Bench' GROUP BY li.order_id LIMIT {limit}"
    )
    baskets = [r[0] for r in rows]
    start = time.perf_counter()
    enc = TransactionEncoder()
    onehot = pd.DataFrame(enc.fit(baskets).transform(baskets, sparse=False), columns=enc.columns_)
    freq = apriori(
        onehot, min_support=3 / len(baskets), use_colnames=True, max_len=2, low_memory=True
    )
    association_rules(freq, metric="support", min_threshold=0.0)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, action="append", default=None)
    parser.add_argument("--mlxtend-baskets", type=int, default=20000)
    args = parser.parse_args()
    sizes = args.orders or [100_000]
    wh = Warehouse(f"chdb://{tempfile.mkdtemp()}", database="bench")
    migrate(wh)
    for size in sizes:
        for table in ("klaviyo_orders", "klaviyo_order_line_items"):
            wh.command(f"TRUNCATE TABLE {table}")
        t, _, _ = timed(lambda size=size: generate(wh, size))
        lines = wh.scalar("SELECT count() FROM klaviyo_order_line_items FINAL")
        print(f"{size} orders, {lines} line items generated in {t:.1f}s")
        total = 0.0
        for job in JOBS.values():
            t, mb, res = timed(lambda job=job: run_job(wh, job, STORE, AS_OF, "UTC"))
            total += t
            print(f"  chdb {job.name.value:14s} {t:6.2f}s  peak +{mb:6.0f} MB  rows {res.rows}")
        print(f"  chdb all five: {total:.2f}s")
        t, mb, n = timed(lambda: duckdb_basket(wh, 3))
        print(
            f"  duckdb basket incl. pulling rows as Arrow: {t:.2f}s peak +{mb:.0f} MB ({n} pairs)"
        )
        k = min(args.mlxtend_baskets, size)
        t = mlxtend_basket(wh, k)
        print(f"  mlxtend apriori+rules on {k} baskets: {t:.2f}s")


if __name__ == "__main__":
    main()
