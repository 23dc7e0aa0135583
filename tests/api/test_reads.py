"""Per-store read endpoints return what the warehouse holds, computed independently here from
the builder's rows (through FINAL: a stale duplicate version never shows)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, timedelta
from typing import Any

import pytest

from tests.api.builder import PRODUCTS
from tests.api.conftest import ALPHA, BETA, ApiWorld

V1 = "/api/v1"


def _get(world: ApiWorld, path: str, **params: Any) -> Any:
    resp = world.client.get(f"{V1}{path}", params=params, headers=world.admin)
    assert resp.status_code == 200, resp.text
    return resp.json()


def _range(world: ApiWorld, days: int = 30) -> tuple[date, date]:
    end = world.alpha.today
    return end - timedelta(days=days - 1), end


def test_overview_matches_orders_and_previous_period(world: ApiWorld) -> None:
    start, end = _range(world)
    body = _get(world, f"/stores/{ALPHA}/overview", **{"from": start, "to": end})
    kpis = {k["key"]: k for k in body["kpis"]}
    ds = world.alpha
    now, before = (
        ds.counted_orders(start, end),
        ds.counted_orders(start - timedelta(30), start - timedelta(1)),
    )
    revenue = sum(float(o["order_value"]) for o in now)
    prev_revenue = sum(float(o["order_value"]) for o in before)
    assert body["previous_from"] == str(start - timedelta(30))
    assert body["previous_to"] == str(start - timedelta(1))
    assert kpis["revenue"]["value"] == pytest.approx(revenue)
    assert kpis["revenue"]["previous"] == pytest.approx(prev_revenue)
    assert kpis["revenue"]["change_pct"] == pytest.approx(
        round((revenue - prev_revenue) / prev_revenue * 100, 2)
    )
    assert kpis["orders"]["value"] == len(now)
    assert kpis["aov"]["value"] == pytest.approx(round(revenue / len(now), 2))
    assert kpis["customers"]["value"] == len({o["customer_email"] for o in now})
    refunds = sum(
        float(r["refund_amount"])
        for r in ds.refunds
        if r["event_type"] == "refund" and start <= r["event_timestamp"].date() <= end
    )
    assert kpis["refunds"]["value"] == pytest.approx(refunds)
    email = sum(float(d["email_revenue"]) for d in ds.account_daily if start <= d["date"] <= end)
    assert kpis["email_revenue"]["value"] == pytest.approx(email)


def test_overview_without_previous_data_has_null_change(world: ApiWorld) -> None:
    first = world.alpha.today - timedelta(days=world.alpha.days - 1)
    body = _get(world, f"/stores/{ALPHA}/overview", **{"from": first, "to": first + timedelta(6)})
    revenue = next(k for k in body["kpis"] if k["key"] == "revenue")
    assert revenue["previous"] == 0 and revenue["change_pct"] is None
    assert revenue["value"] > 0


def test_daily_series_has_every_day_and_matches_the_rollup(world: ApiWorld) -> None:
    end = world.alpha.today + timedelta(days=3)  # days past the data come back as zeros
    start = end - timedelta(days=13)
    body = _get(world, f"/stores/{ALPHA}/daily", **{"from": start, "to": end})
    assert body["count"] == 14
    assert [p["date"] for p in body["data"]] == [str(start + timedelta(i)) for i in range(14)]
    rollup = {d["date"]: d for d in world.alpha.account_daily}
    for point in body["data"]:
        day = date.fromisoformat(point["date"])
        if day in rollup:
            assert point["total_revenue"] == pytest.approx(float(rollup[day]["total_revenue"]))
            assert point["flow_revenue"] == pytest.approx(float(rollup[day]["flow_revenue"]))
            assert point["total_orders"] == rollup[day]["total_orders"]
        else:
            assert point["total_revenue"] == 0 and point["total_orders"] == 0


def _campaign_totals(world: ApiWorld, start: date, end: date) -> dict[str, dict[str, float]]:
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in world.alpha.campaigns:
        if start <= row["date"] <= end:
            t = totals[row["campaign_id"]]
            for key in ("recipients", "delivered", "opens_unique", "conversion_value"):
                t[key] += row[key]
    return totals


def test_campaigns_sum_over_range_with_rates_sorted_and_paged(world: ApiWorld) -> None:
    start, end = _range(world, 90)
    expected = _campaign_totals(world, start, end)
    body = _get(world, f"/stores/{ALPHA}/campaigns", **{"from": start, "to": end, "limit": 500})
    assert body["count"] == len(expected) == len(body["data"])
    for c in body["data"]:
        t = expected[c["campaign_id"]]
        assert c["revenue"] == pytest.approx(t["conversion_value"])  # the stale version is hidden
        assert c["recipients"] == t["recipients"]
        assert c["open_rate_pct"] == pytest.approx(t["opens_unique"] / t["delivered"] * 100)
    revenues = [c["revenue"] for c in body["data"]]
    assert revenues == sorted(revenues, reverse=True)
    page = _get(
        world, f"/stores/{ALPHA}/campaigns", **{"from": start, "to": end, "limit": 3, "offset": 2}
    )
    assert page["count"] == len(expected)
    assert [c["campaign_id"] for c in page["data"]] == [c["campaign_id"] for c in body["data"][2:5]]
    by_name = _get(
        world,
        f"/stores/{ALPHA}/campaigns",
        **{"from": start, "to": end, "sort": "name", "order": "asc"},
    )
    names = [c["campaign_name"] for c in by_name["data"]]
    assert names == sorted(names)
    sms = _get(world, f"/stores/{ALPHA}/campaigns", **{"from": start, "to": end, "channel": "sms"})
    assert sms["count"] > 0 and {c["send_channel"] for c in sms["data"]} == {"sms"}


def test_flows_forms_segments(world: ApiWorld) -> None:
    start, end = _range(world)
    rng = {"from": start, "to": end}
    flows = _get(world, f"/stores/{ALPHA}/flows", **rng)
    expected_rev: dict[str, float] = defaultdict(float)
    for row in world.alpha.flows:
        if start <= row["date"] <= end:
            expected_rev[row["flow_id"]] += row["conversion_value"]
    assert {f["flow_id"]: f["revenue"] for f in flows["data"]} == pytest.approx(expected_rev)
    assert all(f["messages"] == 2 for f in flows["data"])
    forms = _get(world, f"/stores/{ALPHA}/forms", **rng)
    assert forms["count"] == 3
    for form in forms["data"]:
        rows = [
            r
            for r in world.alpha.forms
            if r["form_id"] == form["form_id"] and start <= r["date"] <= end
        ]
        assert form["unique_submits"] == sum(r["submits_unique"] for r in rows)
        assert form["submit_rate_pct"] == pytest.approx(
            sum(r["submits_unique"] for r in rows)
            / sum(r["viewed_form_uniques"] for r in rows)
            * 100
        )
    segments = _get(world, f"/stores/{ALPHA}/segments", **rng)
    for seg in segments["data"]:
        rows = sorted(
            (
                r
                for r in world.alpha.segments
                if r["segment_id"] == seg["segment_id"] and start <= r["date"] <= end
            ),
            key=lambda r: r["date"],
        )
        assert seg["total_members"] == rows[-1]["total_members"]
        assert seg["net_change"] == sum(r["daily_change"] for r in rows)
        assert seg["as_of"] == str(end)
    members = [s["total_members"] for s in segments["data"]]
    assert members == sorted(members, reverse=True)


def test_customers_filter_sort_paginate_count(world: ApiWorld) -> None:
    profiles = world.alpha.customers
    body = _get(world, f"/stores/{ALPHA}/customers", limit=5)
    assert body["count"] == len(profiles)
    top = sorted(profiles, key=lambda c: (-float(c["total_revenue"]), c["customer_email"]))[:5]
    assert [c["customer_email"] for c in body["data"]] == [c["customer_email"] for c in top]
    risky = _get(
        world,
        f"/stores/{ALPHA}/customers",
        rfm_segment="At Risk",
        churn_min=0.5,
        churn_max=1,
        sort="churn_risk",
        order="asc",
        limit=500,
    )
    expected = [
        c for c in profiles if c["rfm_segment"] == "At Risk" and c["churn_risk_score"] >= 0.5
    ]
    assert risky["count"] == len(expected) == len(risky["data"])
    scores = [c["churn_risk_score"] for c in risky["data"]]
    assert scores == sorted(scores) and all(s >= 0.5 for s in scores)
    second = _get(world, f"/stores/{ALPHA}/customers", limit=5, offset=5)
    assert not {c["customer_email"] for c in second["data"]} & {
        c["customer_email"] for c in body["data"]
    }


def test_rfm_and_churn_distribution(world: ApiWorld) -> None:
    profiles = world.alpha.customers
    rfm = _get(world, f"/stores/{ALPHA}/rfm")
    assert rfm["customers"] == len(profiles)
    counts: dict[str, int] = defaultdict(int)
    revenue: dict[str, float] = defaultdict(float)
    for c in profiles:
        counts[c["rfm_segment"]] += 1
        revenue[c["rfm_segment"]] += float(c["total_revenue"])
    assert {s["segment"]: s["customers"] for s in rfm["segments"]} == counts
    assert {s["segment"]: s["revenue"] for s in rfm["segments"]} == pytest.approx(revenue)
    assert sum(cell["customers"] for cell in rfm["grid"]) == len(profiles)
    churn = _get(world, f"/stores/{ALPHA}/churn-risk")
    assert len(churn["buckets"]) == 10 and churn["customers"] == len(profiles)
    for b in churn["buckets"]:
        inside = [
            c
            for c in profiles
            if b["low"] <= c["churn_risk_score"] < b["high"]
            or (b["high"] == 1.0 and c["churn_risk_score"] == 1.0)
        ]
        assert b["customers"] == len(inside)


@pytest.mark.parametrize("window", [30, 60, 90])
def test_products_by_window_and_sort(world: ApiWorld, window: int) -> None:
    body = _get(world, f"/stores/{ALPHA}/products", window=window)
    assert body["window"] == window and body["count"] == len(PRODUCTS)
    expected = {p["product_id"]: float(p[f"revenue_{window}d"]) for p in world.alpha.products}
    assert {p["product_id"]: p["revenue"] for p in body["data"]} == pytest.approx(expected)
    assert [p["revenue"] for p in body["data"]] == sorted(expected.values(), reverse=True)
    fast = _get(world, f"/stores/{ALPHA}/products", window=window, sort="velocity")
    velocities = [p["velocity_score"] for p in fast["data"]]
    assert velocities == sorted(velocities, reverse=True)


def test_bought_together_highest_lift_first(world: ApiWorld) -> None:
    body = _get(world, f"/stores/{ALPHA}/products/p-beans/bought-together")
    assert body["product_name"] == "Espresso Beans 1kg"
    expected = sorted(
        (r for r in world.alpha.relationships if r["product_a"] == "p-beans"),
        key=lambda r: -r["lift"],
    )
    assert [r["product_id"] for r in body["data"]] == [r["product_b"] for r in expected]
    assert body["data"][0]["lift"] == pytest.approx(expected[0]["lift"], rel=1e-5)
    one = _get(world, f"/stores/{ALPHA}/products/p-beans/bought-together", limit=1)
    assert one["count"] == 1


@pytest.mark.parametrize(
    ("path", "params", "key"),
    [
        ("campaigns", {}, "campaign_id"),
        ("flows", {}, "flow_id"),
        ("forms", {}, "form_id"),
        ("segments", {}, "segment_id"),
        ("customers", {"rfm_segment": "Champions"}, "customer_email"),
        ("products", {"window": 60}, "product_id"),
        ("products/p-mug/bought-together", {}, "product_id"),
        ("daily", {}, "date"),
    ],
)
def test_csv_export_equals_json(
    world: ApiWorld, path: str, params: dict[str, Any], key: str
) -> None:
    start, end = _range(world, 60)
    rng = {} if path.startswith(("customers", "products")) else {"from": start, "to": end}
    json_body = _get(world, f"/stores/{BETA}/{path}", **rng, **params, limit=100)
    for url, extra in ((f"{path}/export.csv", {}), (path, {"format": "csv", "limit": 100})):
        if path == "daily" and url.endswith("export.csv"):
            continue
        resp = world.client.get(
            f"{V1}/stores/{BETA}/{url}", params={**rng, **params, **extra}, headers=world.admin
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"].startswith("text/csv")
        assert "attachment" in resp.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(resp.text)))
        assert [r[key] for r in rows] == [str(d[key]) for d in json_body["data"]]
        assert set(rows[0]) == set(json_body["data"][0])
