"""Each job against the independent pandas reference on the generated store: exact for counts
and sums, a cent or 1e-4 relative for derived floats."""

from __future__ import annotations

import math
from decimal import Decimal

import pandas as pd
import pytest

from klaviyo_analytics.aggregates import run_aggregates
from klaviyo_analytics.warehouse import Warehouse
from tests.aggregates import reference
from tests.aggregates.builder import StoreData
from tests.aggregates.conftest import read_table


def _f(value: object) -> float:
    return float(value) if isinstance(value, Decimal) else float(value)  # type: ignore[arg-type]


def _close(a: object, b: object, tol: float) -> bool:
    return math.isclose(_f(a), _f(b), rel_tol=1e-4, abs_tol=tol)


def compare(got: pd.DataFrame, want: pd.DataFrame, exact: list[str], approx: dict[str, float]):
    """Same keys; exact columns equal; approx columns within the given absolute tolerance."""
    assert sorted(got.index) == sorted(want.index)
    assert len(got) > 0
    got = got.loc[want.index]
    keys = list(want.index)
    for col in exact:
        pairs = zip(keys, got[col].tolist(), want[col].tolist(), strict=True)
        mismatched = [(k, a, b) for k, a, b in pairs if a != b]
        assert not mismatched, (col, mismatched[:5])
    for col, tol in approx.items():
        pairs = zip(keys, got[col].tolist(), want[col].tolist(), strict=True)
        mismatched = [(k, a, b) for k, a, b in pairs if not _close(a, b, tol)]
        assert not mismatched, (col, mismatched[:5])


def test_account_metrics_daily_matches_reference(loaded: Warehouse, store_data: StoreData) -> None:
    run_aggregates(loaded, store_data.store, ["account-daily"], store_data.as_of, store_data.tz)
    got = read_table(loaded, "account_metrics_daily", store_data.store).set_index("date")
    want = reference.account_daily(store_data)
    for col in ("total_revenue", "new_customer_revenue", "repeat_customer_revenue"):
        got[col] = got[col].map(float)
    compare(
        got,
        want,
        exact=[
            "total_revenue",
            "total_orders",
            "unique_customers",
            "new_customers",
            "repeat_customers",
            "new_customer_revenue",
            "repeat_customer_revenue",
            "email_orders",
            "sms_orders",
            "total_emails_sent",
            "total_sms_sent",
            "total_opens",
            "total_clicks",
        ],
        approx={
            "email_revenue": 0.011,
            "sms_revenue": 0.011,
            "flow_revenue": 0.011,
            "campaign_revenue": 0.011,
            "avg_order_value": 0.011,
            "revenue_per_email": 0.011,
            "revenue_per_sms": 0.011,
            "revenue_per_recipient": 0.011,
            "revenue_growth_pct": 1e-3,
            "order_growth_pct": 1e-3,
            "customer_growth_pct": 1e-3,
        },
    )
    assert max(got.index) <= store_data.as_of
    # attribution splits add up: per day, channel revenue never exceeds flow + campaign revenue
    attributed = got["flow_revenue"].map(float) + got["campaign_revenue"].map(float)
    channels = got["email_revenue"].map(float) + got["sms_revenue"].map(float)
    assert (channels <= attributed + 0.02).all()


def test_campaign_daily_matches_reference(loaded: Warehouse, store_data: StoreData) -> None:
    run_aggregates(loaded, store_data.store, ["campaign-daily"], store_data.as_of, store_data.tz)
    got = read_table(loaded, "campaign_daily_aggregates", store_data.store)
    got = got.set_index(["date", "send_channel"])
    want = reference.campaign_daily(store_data)
    got["total_revenue"] = got["total_revenue"].map(float)
    got["campaigns_sent"] = got["campaigns_sent"].map(list)
    compare(
        got,
        want,
        exact=[
            "total_campaigns",
            "campaigns_sent",
            "total_recipients",
            "total_delivered",
            "total_opens",
            "total_clicks",
            "total_conversions",
            "best_campaign_id",
            "best_campaign_name",
            "worst_campaign_id",
            "worst_campaign_name",
            "top_tags",
        ],
        # conversion_value is Float64 in the spec: its sums are compared to the cent
        approx={
            "total_revenue": 0.011,
            "avg_revenue_per_campaign": 0.011,
            "avg_revenue_per_recipient": 0.011,
            "avg_open_rate": 1e-3,
            "avg_click_rate": 1e-3,
            "avg_conversion_rate": 1e-3,
            "best_campaign_revenue": 0.011,
            "worst_campaign_revenue": 0.011,
        },
    )
    got_tags = got["tag_performance"].to_dict()
    for key, expected in want["tag_performance"].to_dict().items():
        perf = dict(got_tags[key])
        assert perf.keys() == expected.keys()
        assert all(math.isclose(perf[t], expected[t], abs_tol=1e-6) for t in perf)
    assert {"email", "sms", "push"} <= set(got.index.get_level_values("send_channel"))


def test_customer_profiles_match_reference(loaded: Warehouse, store_data: StoreData) -> None:
    [result] = run_aggregates(
        loaded, store_data.store, ["customers"], store_data.as_of, store_data.tz
    )
    assert result.details["bgnbd_fitted"] is True
    got = read_table(loaded, "customer_profiles", store_data.store).set_index("customer_email")
    want = reference.customer_profiles(store_data)
    for col in ("total_revenue", "total_refunds", "net_revenue"):
        got[col] = got[col].map(float)
    for col in ("categories_purchased", "brands_purchased"):
        got[col] = got[col].map(list)
    compare(
        got,
        want,
        exact=[
            "customer_id",
            "total_orders",
            "total_revenue",
            "total_refunds",
            "net_revenue",
            "first_order_date",
            "last_order_date",
            "days_since_last_order",
            "recency_score",
            "frequency_score",
            "monetary_score",
            "rfm_score",
            "rfm_segment",
            "favorite_category",
            "favorite_brand",
            "categories_purchased",
            "brands_purchased",
            "unique_products_purchased",
            "weekend_buyer",
            "preferred_order_hour",
            "customer_age_days",
        ],
        approx={
            "avg_order_value": 0.011,
            "avg_days_between_orders": 1e-4,
            "discount_usage_rate": 1e-6,
            "avg_discount_amount": 0.011,
            "churn_risk_score": 2e-3,
        },
    )
    assert got["recency_score"].between(1, 5).all()
    assert set(got["recency_score"]) == {1, 2, 3, 4, 5}
    assert got["churn_risk_score"].between(0, 1).all()


def test_products_master_matches_reference(loaded: Warehouse, store_data: StoreData) -> None:
    run_aggregates(loaded, store_data.store, ["products"], store_data.as_of, store_data.tz)
    got = read_table(loaded, "products_master", store_data.store).set_index("product_id")
    want = reference.products_master(store_data)
    for n in (30, 60, 90):
        got[f"revenue_{n}d"] = got[f"revenue_{n}d"].map(float)
    compare(
        got,
        want,
        exact=[
            "product_name",
            "sku",
            "brand",
            "category",
            "revenue_30d",
            "revenue_60d",
            "revenue_90d",
            "quantity_sold_30d",
            "quantity_sold_60d",
            "quantity_sold_90d",
            "unique_customers_30d",
            "unique_customers_60d",
            "unique_customers_90d",
            "first_sold_date",
            "last_sold_date",
            "days_on_market",
            "revenue_rank",
            "quantity_rank",
        ],
        approx={
            "avg_price": 0.011,
            "min_price": 0.0,
            "max_price": 0.0,
            "conversion_rate": 1e-6,
            "repurchase_rate": 1e-6,
            "avg_units_per_order": 1e-5,
            "revenue_per_customer": 0.011,
            "velocity_score": 1e-5,
            "discount_rate": 1e-6,
            "avg_discount_amount": 0.011,
        },
    )
    top = got.sort_values("revenue_rank").iloc[0]
    assert "bestseller" in list(top["tags"])


@pytest.mark.parametrize("min_co", [3, 8])
def test_relationships_match_reference(
    loaded: Warehouse, store_data: StoreData, min_co: int
) -> None:
    run_aggregates(
        loaded,
        store_data.store,
        ["relationships"],
        store_data.as_of,
        store_data.tz,
        min_co_purchases=min_co,
    )
    got = read_table(loaded, "product_relationships_optimized", store_data.store)
    got = got.set_index(["product_a", "product_b"]).sort_index()
    want = reference.relationships(store_data, min_co)
    compare(
        got,
        want,
        exact=[
            "product_a_name",
            "product_b_name",
            "co_purchase_count",
            "first_co_purchase",
            "last_co_purchase",
            "relationship_type",
        ],
        approx={"confidence": 1e-6, "lift": 1e-5, "support": 1e-7},
    )
    assert (got["co_purchase_count"] >= min_co).all()


def test_jobs_never_touch_another_store(
    loaded: Warehouse, store_data: StoreData, other_store_data: StoreData
) -> None:
    run_aggregates(loaded, store_data.store, None, store_data.as_of, store_data.tz)
    for table in (
        "customer_profiles",
        "products_master",
        "account_metrics_daily",
        "campaign_daily_aggregates",
        "product_relationships_optimized",
    ):
        assert read_table(loaded, table, other_store_data.store).empty
    run_aggregates(
        loaded, other_store_data.store, ["customers"], other_store_data.as_of, other_store_data.tz
    )
    got = read_table(loaded, "customer_profiles", other_store_data.store)
    want = reference.customer_profiles(other_store_data)
    assert sorted(got["customer_email"]) == sorted(want.index)
    assert len(read_table(loaded, "customer_profiles", store_data.store)) == len(
        reference.customer_profiles(store_data)
    )
