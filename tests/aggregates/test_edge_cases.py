"""The edge cases of docs/metrics.md: no orders, one order, all refunded, zero recipients,
orders and cancellations after the as-of day, account-local days."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from klaviyo_analytics.aggregates import run_aggregates
from klaviyo_analytics.warehouse import Warehouse
from tests.aggregates.builder import (
    CAMPAIGN_COLUMNS,
    LINE_COLUMNS,
    ORDER_COLUMNS,
    REFUND_COLUMNS,
    campaign_row,
    insert,
    line_row,
    order_row,
    refund_row,
)
from tests.aggregates.conftest import read_table

STORE = "Edge"
AS_OF = date(2024, 5, 31)
TZ = "America/New_York"


def test_store_without_any_data_writes_nothing(warehouse: Warehouse) -> None:
    results = run_aggregates(warehouse, "Nobody", None, AS_OF, TZ)
    assert [r.rows for r in results] == [0, 0, 0, 0, 0]
    customers = next(r for r in results if r.job == "customers")
    assert customers.details["bgnbd_fitted"] is False


def _load(warehouse: Warehouse) -> None:
    insert(
        warehouse,
        "klaviyo_orders",
        [
            # one order, placed 03:30 UTC on June 1 = 23:30 on May 31 in New York (counts)
            order_row(STORE, "O1", "one@x.com", datetime(2024, 6, 1, 3, 30), "25.00", first=1),
            # all refunded: two orders, one refunded in two events that add up to more than it
            order_row(STORE, "O2", "ref@x.com", datetime(2024, 5, 1, 15, 0), "40.00", first=1),
            order_row(
                STORE, "O3", "ref@x.com", datetime(2024, 5, 11, 15, 0), "60.00", discount="6.00"
            ),
            # after the as-of day (local June 1): does not count
            order_row(STORE, "O4", "late@x.com", datetime(2024, 6, 1, 14, 0), "99.00", first=1),
            # cancelled after the as-of day: still counts on the as-of day
            order_row(STORE, "O5", "kept@x.com", datetime(2024, 5, 30, 14, 0), "10.00", first=1),
        ],
        ORDER_COLUMNS,
    )
    insert(
        warehouse,
        "klaviyo_order_line_items",
        [
            line_row(STORE, "O1", "L1", "PX", "25.00"),
            line_row(STORE, "O2", "L2", "PX", "40.00"),
            line_row(STORE, "O3", "L3", "PY", "66.00", category="Hats", brand="Bolt"),
            line_row(STORE, "O4", "L4", "PZ", "99.00"),
            line_row(STORE, "O5", "L5", "PX", "10.00"),
        ],
        LINE_COLUMNS,
    )
    insert(
        warehouse,
        "refund_cancelled_orders",
        [
            refund_row(STORE, "E1", "refund", "O2", "ref@x.com", datetime(2024, 5, 2), "40.00"),
            refund_row(STORE, "E2", "refund", "O3", "ref@x.com", datetime(2024, 5, 12), "50.00"),
            refund_row(STORE, "E3", "refund", "O3", "ref@x.com", datetime(2024, 5, 13), "20.00"),
            refund_row(STORE, "E4", "cancelled", "O5", "kept@x.com", datetime(2024, 6, 5), "10.00"),
        ],
        REFUND_COLUMNS,
    )
    insert(
        warehouse,
        "campaign_statistics",
        [
            campaign_row(STORE, "C0", "email", date(2024, 5, 20), 0.0, 0.0),  # zero recipients
            campaign_row(STORE, "C1", "sms", date(2024, 5, 21), 100.0, 50.0),
            campaign_row(STORE, "C2", "sms", date(2024, 5, 21), 300.0, 150.0),
        ],
        CAMPAIGN_COLUMNS,
    )


def test_customer_edge_cases(warehouse: Warehouse) -> None:
    _load(warehouse)
    run_aggregates(warehouse, STORE, ["customers"], AS_OF, TZ)
    rows = read_table(warehouse, "customer_profiles", STORE).set_index("customer_email")
    assert set(rows.index) == {"one@x.com", "ref@x.com", "kept@x.com"}

    one = rows.loc["one@x.com"]
    assert one["total_orders"] == 1
    assert one["first_order_date"] == one["last_order_date"] == AS_OF  # local day, not UTC
    assert one["days_since_last_order"] == 0 and one["customer_age_days"] == 0
    assert one["avg_days_between_orders"] == 0.0
    assert one["avg_order_value"] == Decimal("25.00")
    assert one["churn_risk_score"] == 0.0  # no repeat purchase: P(alive) = 1 under BG/NBD
    assert one["preferred_order_hour"] == 23

    ref = rows.loc["ref@x.com"]
    assert ref["total_revenue"] == Decimal("100.00")
    assert ref["total_refunds"] == Decimal("100.00")  # the over-refund is capped per order
    assert ref["net_revenue"] == Decimal("0.00")
    assert ref["avg_days_between_orders"] == 10.0
    assert ref["discount_usage_rate"] == 0.5 and ref["avg_discount_amount"] == Decimal("6.00")
    assert ref["monetary_score"] == 1  # lowest net revenue of the store
    assert list(ref["categories_purchased"]) == ["Hats", "Shirts"]
    assert ref["favorite_category"] == "Hats"  # 66.00 spent on Hats vs 40.00 on Shirts
    assert 0.0 <= ref["churn_risk_score"] <= 1.0


def test_daily_edge_cases(warehouse: Warehouse) -> None:
    _load(warehouse)
    run_aggregates(warehouse, STORE, ["campaign-daily", "account-daily"], AS_OF, TZ)
    frame = read_table(warehouse, "campaign_daily_aggregates", STORE)
    campaigns = {(r["date"], r["send_channel"]): r for r in frame.to_dict("records")}
    zero = campaigns[(date(2024, 5, 20), "email")]
    assert zero["total_recipients"] == 0
    assert zero["avg_revenue_per_recipient"] == Decimal("0.00")
    assert zero["avg_open_rate"] == 0.0 and zero["best_campaign_id"] == "C0"
    sms = campaigns[(date(2024, 5, 21), "sms")]
    assert sms["best_campaign_id"] == "C2" and sms["worst_campaign_id"] == "C1"
    assert sms["avg_revenue_per_recipient"] == Decimal("0.50")
    assert sms["top_tags"] == [] and dict(sms["tag_performance"]) == {}  # no tags known

    days = {
        r["date"]: r
        for r in read_table(warehouse, "account_metrics_daily", STORE).to_dict("records")
    }
    assert max(days) == AS_OF
    last = days[AS_OF]
    assert last["total_orders"] == 1 and last["total_revenue"] == Decimal("25.00")
    assert last["new_customers"] == 1 and last["repeat_customers"] == 0
    may30 = days[date(2024, 5, 30)]
    assert may30["total_orders"] == 1  # cancelled only after the as-of day
    assert last["revenue_growth_pct"] == 150.0  # 10.00 on May 30 -> 25.00 on May 31
    assert days[date(2024, 5, 20)]["revenue_per_email"] == Decimal("0.00")
    assert days[date(2024, 5, 20)]["total_orders"] == 0
    assert days[date(2024, 5, 21)]["revenue_per_sms"] == Decimal("0.50")
    assert days[date(2024, 5, 21)]["revenue_growth_pct"] == 0.0  # no orders the day before


def test_products_edge_cases(warehouse: Warehouse) -> None:
    _load(warehouse)
    run_aggregates(warehouse, STORE, ["products"], AS_OF, TZ)
    rows = read_table(warehouse, "products_master", STORE).set_index("product_id")
    assert set(rows.index) == {"PX", "PY"}  # PZ is only sold after the as-of day
    px = rows.loc["PX"]
    assert px["quantity_sold_30d"] == 2 and px["revenue_30d"] == Decimal("35.00")
    assert px["revenue_90d"] == Decimal("75.00") and px["unique_customers_90d"] == 3
    assert px["conversion_rate"] == 0.75  # in 3 of the 4 orders since it was first sold
    assert px["repurchase_rate"] == 0.0 and px["revenue_rank"] == 1
    assert "bestseller" in list(px["tags"])
