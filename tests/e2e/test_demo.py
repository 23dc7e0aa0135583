"""``klaviyo-analytics demo`` as a user runs it on a fresh data dir: it ends with the report,
its numbers match the simulator's ground truth, and running it twice changes nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from klaviyo_analytics.simulator import ground_truth
from tests.cli.helpers import run_cli

COUNTS_SQL = (
    "SELECT (SELECT count() FROM klaviyo_orders) AS orders, "
    "(SELECT toString(sum(order_value)) FROM klaviyo_orders) AS order_value, "
    "(SELECT count() FROM klaviyo_order_line_items) AS line_items, "
    "(SELECT count() FROM customer_profiles) AS customers, "
    "(SELECT count() FROM products_master) AS products, "
    "(SELECT count() FROM product_relationships_optimized) AS pairs, "
    "(SELECT count() FROM account_metrics_daily) AS days, "
    "(SELECT count() FROM campaign_statistics) AS campaigns"
)


def _counts(data_dir: Path) -> dict[str, object]:
    result = run_cli(["query", COUNTS_SQL, "--format", "json"], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 1
    return dict(rows[0])


@pytest.mark.slow
def test_demo_twice_matches_ground_truth(tmp_path: Path) -> None:
    first = run_cli(["demo", "--scale", "tiny"], data_dir=tmp_path, timeout=300)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    out = first.stdout
    for section in (
        "Rows per table",
        "Last 30 days",
        "RFM segments",
        "frequently bought together",
        "Top campaigns by revenue",
        "Top flows by revenue",
        "klaviyo-analytics serve",
    ):
        assert section in out, section
    counts = _counts(tmp_path)
    truth = ground_truth(seed=42, scale="tiny", account_index=0)
    assert counts["orders"] == truth.orders
    assert Decimal(str(counts["order_value"])) == truth.order_value
    assert counts["line_items"] == truth.line_items
    for table in ("customers", "products", "pairs", "days", "campaigns"):
        assert int(str(counts[table])) > 0, table

    second = run_cli(["demo", "--scale", "tiny"], data_dir=tmp_path, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    assert _counts(tmp_path) == counts
    stores = run_cli(["stores", "list", "--format", "json"], data_dir=tmp_path)
    assert len(json.loads(stores.stdout)) == 1
