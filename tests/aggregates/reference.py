"""Independent plain-pandas implementations of the five aggregate jobs, for the tests.

Written from docs/metrics.md, not from the SQL: deduplicate each synced table by its key keeping
the newest version (what FINAL does), then compute every column with pandas.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from klaviyo_analytics.aggregates import bgnbd
from tests.aggregates.builder import StoreData

SEGMENTS = {
    5: ["New Customers", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"],
    4: ["Promising", "Potential Loyalist", "Loyal Customers", "Champions", "Champions"],
    3: ["About To Sleep", "About To Sleep", "Need Attention", "Loyal Customers", "Loyal Customers"],
    2: ["Hibernating", "Hibernating", "Need Attention", "At Risk", "At Risk"],
    1: ["Lost", "Lost", "At Risk", "Can't Lose Them", "Can't Lose Them"],
}


def latest(frame: pd.DataFrame, key: list[str], version: str) -> pd.DataFrame:
    """Keep the newest version of each key (what ReplacingMergeTree FINAL returns)."""
    return frame.sort_values(version, kind="stable").drop_duplicates(key, keep="last")


def local_day(ts: pd.Series, tz: str) -> pd.Series:
    return pd.to_datetime(ts).dt.tz_localize("UTC").dt.tz_convert(tz).dt.date


def money(value: float | Decimal) -> float:
    return round(float(value) + 0.0, 2)


def counted_orders(data: StoreData) -> pd.DataFrame:
    """Non-cancelled orders up to the as-of day, with local day/hour/weekday columns."""
    orders = latest(data.orders, ["klaviyo_public_id", "order_id"], "inserted_at")
    orders = orders[orders["klaviyo_public_id"] == data.store].copy()
    refunds = data.refunds[data.refunds["klaviyo_public_id"] == data.store].copy()
    refunds["day"] = local_day(refunds["event_timestamp"], data.tz)
    cancelled = set(
        refunds.loc[
            (refunds["event_type"] == "cancelled") & (refunds["day"] <= data.as_of),
            "original_order_id",
        ]
    )
    local = pd.to_datetime(orders["order_timestamp"]).dt.tz_localize("UTC").dt.tz_convert(data.tz)
    orders["day"] = local.dt.date
    orders["hour"] = local.dt.hour
    orders["weekday"] = local.dt.day_of_week  # Monday = 0
    orders["value"] = orders["order_value"].map(float)
    orders["customer"] = np.where(
        orders["customer_email"] != "", orders["customer_email"], orders["customer_id"]
    )
    keep = (orders["day"] <= data.as_of) & ~orders["order_id"].isin(cancelled)
    return orders[keep]


def refund_totals(data: StoreData) -> pd.Series:
    refunds = data.refunds[data.refunds["klaviyo_public_id"] == data.store].copy()
    refunds["day"] = local_day(refunds["event_timestamp"], data.tz)
    refunds = refunds[(refunds["event_type"] == "refund") & (refunds["day"] <= data.as_of)]
    return refunds.groupby("original_order_id")["refund_amount"].sum().map(float)


def counted_lines(data: StoreData, orders: pd.DataFrame) -> pd.DataFrame:
    lines = latest(data.lines, ["klaviyo_public_id", "order_id", "line_item_id"], "inserted_at")
    lines = lines[lines["klaviyo_public_id"] == data.store]
    cols = ["order_id", "customer", "customer_email", "day", "order_timestamp"]
    merged = lines.merge(orders[cols], on="order_id", how="inner")
    merged["gross"] = merged["line_total"].map(float)
    merged["disc"] = merged["discount_amount"].map(float)
    merged["net"] = merged["gross"] - merged["disc"]
    return merged


# -- account_metrics_daily ------------------------------------------------------------------
def account_daily(data: StoreData) -> pd.DataFrame:
    orders = counted_orders(data)
    per_cust = orders.groupby(["day", "customer"]).agg(
        revenue=("value", "sum"), orders=("order_id", "count"), new=("is_first_order", "max")
    )
    per_cust = per_cust.reset_index()
    # pandas-stubs do not know include_groups yet
    od = per_cust.groupby("day").apply(  # type: ignore[call-overload]
        lambda g: pd.Series(
            {
                "total_revenue": g["revenue"].sum(),
                "total_orders": g["orders"].sum(),
                "unique_customers": len(g),
                "new_customers": int((g["new"] == 1).sum()),
                "new_customer_revenue": g.loc[g["new"] == 1, "revenue"].sum(),
            }
        ),
        include_groups=False,
    )
    stats = []
    for frame, source in ((data.campaigns, "campaign"), (data.flows, "flow")):
        key = (
            ["klaviyo_public_id", "campaign_id", "date"]
            if source == "campaign"
            else ["klaviyo_public_id", "flow_id", "flow_message_id", "date"]
        )
        f = latest(frame, key, "updated_at")
        f = f[(f["klaviyo_public_id"] == data.store) & (f["date"] <= data.as_of)].copy()
        f["source"] = source
        stats.append(
            f[
                [
                    "date",
                    "source",
                    "send_channel",
                    "recipients",
                    "opens",
                    "clicks",
                    "conversions",
                    "conversion_value",
                ]
            ]
        )
    msg = pd.concat(stats)
    msg["ch"] = msg["send_channel"].str.lower()

    def msg_day(g: pd.DataFrame) -> pd.Series:
        email, sms = g["ch"] == "email", g["ch"] == "sms"
        return pd.Series(
            {
                "email_revenue": g.loc[email, "conversion_value"].sum(),
                "sms_revenue": g.loc[sms, "conversion_value"].sum(),
                "flow_revenue": g.loc[g["source"] == "flow", "conversion_value"].sum(),
                "campaign_revenue": g.loc[g["source"] == "campaign", "conversion_value"].sum(),
                "email_orders": g.loc[email, "conversions"].sum(),
                "sms_orders": g.loc[sms, "conversions"].sum(),
                "emails_sent": g.loc[email, "recipients"].sum(),
                "sms_sent": g.loc[sms, "recipients"].sum(),
                "recipients": g["recipients"].sum(),
                "opens": g["opens"].sum(),
                "clicks": g["clicks"].sum(),
            }
        )

    md = msg.groupby("date").apply(msg_day, include_groups=False)  # type: ignore[call-overload]
    days = sorted(set(od.index) | set(md.index))
    full = pd.DataFrame(index=pd.Index(days, name="date")).join(od).join(md).fillna(0.0)
    out = pd.DataFrame(index=full.index)
    out["total_revenue"] = full["total_revenue"].round(2)
    for col in ("email_revenue", "sms_revenue", "flow_revenue", "campaign_revenue"):
        out[col] = full[col].round(2)
    out["total_orders"] = full["total_orders"].astype(int)
    out["email_orders"] = full["email_orders"].round().astype(int)
    out["sms_orders"] = full["sms_orders"].round().astype(int)
    out["avg_order_value"] = np.where(
        full["total_orders"] > 0, full["total_revenue"] / full["total_orders"].replace(0, 1), 0
    )
    out["unique_customers"] = full["unique_customers"].astype(int)
    out["new_customers"] = full["new_customers"].astype(int)
    out["repeat_customers"] = (full["unique_customers"] - full["new_customers"]).astype(int)
    out["new_customer_revenue"] = full["new_customer_revenue"].round(2)
    out["repeat_customer_revenue"] = (full["total_revenue"] - full["new_customer_revenue"]).round(2)
    out["total_emails_sent"] = full["emails_sent"].round().astype(int)
    out["total_sms_sent"] = full["sms_sent"].round().astype(int)
    out["total_opens"] = full["opens"].round().astype(int)
    out["total_clicks"] = full["clicks"].round().astype(int)

    def ratio(a: pd.Series, b: pd.Series) -> np.ndarray:
        return np.where(b > 0, a / b.replace(0, 1), 0.0)

    out["revenue_per_email"] = ratio(full["email_revenue"], full["emails_sent"])
    out["revenue_per_sms"] = ratio(full["sms_revenue"], full["sms_sent"])
    out["revenue_per_recipient"] = ratio(
        full["flow_revenue"] + full["campaign_revenue"], full["recipients"]
    )
    prev = full.copy()
    prev.index = [d + timedelta(days=1) for d in prev.index]
    prev = prev.reindex(full.index).fillna(0.0)
    for col, src in (
        ("revenue_growth_pct", "total_revenue"),
        ("order_growth_pct", "total_orders"),
        ("customer_growth_pct", "unique_customers"),
    ):
        out[col] = ratio((full[src] - prev[src]) * 100, prev[src])
    return out


# -- campaign_daily_aggregates --------------------------------------------------------------
def campaign_daily(data: StoreData) -> pd.DataFrame:
    c = latest(data.campaigns, ["klaviyo_public_id", "campaign_id", "date"], "updated_at")
    c = c[(c["klaviyo_public_id"] == data.store) & (c["date"] <= data.as_of)].copy()
    c["ch"] = c["send_channel"].str.lower()
    rows = {}
    for (day, ch), g in c.groupby(["date", "ch"]):
        delivered = g["delivered"].sum()
        rev = g["conversion_value"].sum()
        rec = g["recipients"].sum()

        def rate(col: str, g: pd.DataFrame = g, delivered: float = delivered) -> float:
            if delivered > 0:
                return float((g[col] * g["delivered"]).sum() / delivered)
            return float(g[col].mean())

        ordered = g.sort_values(["conversion_value", "campaign_id"], ascending=[False, True])
        worst = g.sort_values(["conversion_value", "campaign_id"], ascending=[True, True])
        tag_rev: dict[str, float] = {}
        for _, row in g.iterrows():
            for tag in set(data.tags.get(row["campaign_id"], [])):
                tag_rev[tag] = tag_rev.get(tag, 0.0) + row["conversion_value"]
        top = [t for t, _ in sorted(tag_rev.items(), key=lambda kv: (-kv[1], kv[0]))][:5]
        rows[(day, ch)] = {
            "total_campaigns": g["campaign_id"].nunique(),
            "campaigns_sent": sorted(g["campaign_id"]),
            "total_recipients": round(rec),
            "total_delivered": round(delivered),
            "total_opens": round(g["opens"].sum()),
            "total_clicks": round(g["clicks"].sum()),
            "total_conversions": round(g["conversions"].sum()),
            "total_revenue": round(rev, 2),
            "avg_revenue_per_campaign": rev / g["campaign_id"].nunique(),
            "avg_revenue_per_recipient": rev / rec if rec > 0 else 0.0,
            "avg_open_rate": rate("open_rate_pct"),
            "avg_click_rate": rate("click_rate_pct"),
            "avg_conversion_rate": rate("conversion_rate_pct"),
            "best_campaign_id": ordered.iloc[0]["campaign_id"],
            "best_campaign_name": ordered.iloc[0]["campaign_name"],
            "best_campaign_revenue": ordered.iloc[0]["conversion_value"],
            "worst_campaign_id": worst.iloc[0]["campaign_id"],
            "worst_campaign_name": worst.iloc[0]["campaign_name"],
            "worst_campaign_revenue": worst.iloc[0]["conversion_value"],
            "top_tags": top,
            "tag_performance": tag_rev,
        }
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index = frame.index.set_names(["date", "send_channel"])
    return frame


# -- customer_profiles ----------------------------------------------------------------------
def quintile(values: pd.Series, ascending_is_better: bool) -> pd.Series:
    """1 + floor(5 * (customers strictly worse) / customers)."""
    worse = values.rank(method="min", ascending=ascending_is_better) - 1
    return (1 + (5 * worse // len(values))).astype(int)


def bgnbd_summary(data: StoreData) -> pd.DataFrame:
    orders = counted_orders(data)
    orders = orders[orders["customer_email"] != ""]
    g = orders.groupby("customer_email")["day"]
    first, last, n_days = g.min(), g.max(), g.nunique()
    return pd.DataFrame(
        {
            "x": (n_days - 1).astype(float),
            "t_x": [(b - a).days for a, b in zip(first, last, strict=True)],
            "big_t": [(data.as_of - a).days for a in first],
        },
        index=first.index,
    )


def customer_profiles(data: StoreData) -> pd.DataFrame:
    orders = counted_orders(data)
    orders = orders[orders["customer_email"] != ""].copy()
    refunds = refund_totals(data)
    orders["refund"] = np.minimum(orders["order_id"].map(refunds).fillna(0.0), orders["value"])
    lines = counted_lines(data, orders)
    out = {}
    for email, g in orders.groupby("customer_email"):
        g = g.sort_values("order_timestamp")
        n = len(g)
        revenue = g["value"].sum()
        refund = g["refund"].sum()
        first, last = g["day"].min(), g["day"].max()
        disc = g[g["discount_amount"].map(float) > 0]
        hours = g["hour"].value_counts()
        out[email] = {
            "customer_id": g.iloc[-1]["customer_id"],
            "total_orders": n,
            "total_revenue": round(revenue, 2),
            "total_refunds": round(refund, 2),
            "net_revenue": round(revenue - refund, 2),
            "avg_order_value": revenue / n,
            "first_order_date": first,
            "last_order_date": last,
            "days_since_last_order": (data.as_of - last).days,
            "avg_days_between_orders": (last - first).days / (n - 1) if n > 1 else 0.0,
            "discount_usage_rate": len(disc) / n,
            "avg_discount_amount": disc["discount_amount"].map(float).mean() if len(disc) else 0.0,
            "weekend_buyer": int((g["weekday"] >= 5).sum() * 2 > n),
            "preferred_order_hour": min(
                int(h)
                for h, c in zip(hours.index.tolist(), hours.tolist(), strict=True)
                if c == hours.max()
            ),
            "customer_age_days": (data.as_of - first).days,
        }
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "customer_email"
    for col, key in (("favorite_category", "product_type"), ("favorite_brand", "product_brand")):
        spend = lines[lines[key] != ""].groupby(["customer_email", key])["net"].sum().reset_index()
        spend = spend.sort_values(["customer_email", "net", key], ascending=[True, False, True])
        frame[col] = spend.drop_duplicates("customer_email").set_index("customer_email")[key]
        frame[col] = frame[col].fillna("")
    frame["categories_purchased"] = lines.groupby("customer_email")["product_type"].agg(
        lambda s: sorted({v for v in s if v})
    )
    frame["brands_purchased"] = lines.groupby("customer_email")["product_brand"].agg(
        lambda s: sorted({v for v in s if v})
    )
    frame["unique_products_purchased"] = lines.groupby("customer_email")["product_id"].nunique()
    frame["recency_score"] = quintile(-frame["days_since_last_order"], True)
    frame["frequency_score"] = quintile(frame["total_orders"], True)
    frame["monetary_score"] = quintile(frame["net_revenue"], True)
    frame["rfm_score"] = (
        frame["recency_score"].astype(str)
        + frame["frequency_score"].astype(str)
        + frame["monetary_score"].astype(str)
    )
    fm = np.ceil((frame["frequency_score"] + frame["monetary_score"]) / 2).astype(int)
    frame["rfm_segment"] = [
        SEGMENTS[r][f - 1] for r, f in zip(frame["recency_score"], fm, strict=True)
    ]
    summary = bgnbd_summary(data).reindex(frame.index)
    params = bgnbd.fit_or_fallback(
        summary["x"].to_numpy(float),
        summary["t_x"].to_numpy(float),
        summary["big_t"].to_numpy(float),
    )
    frame["churn_risk_score"] = 1 - bgnbd.p_alive(
        params,
        summary["x"].to_numpy(float),
        summary["t_x"].to_numpy(float),
        summary["big_t"].to_numpy(float),
    )
    return frame


# -- products_master ------------------------------------------------------------------------
def products_master(data: StoreData) -> pd.DataFrame:
    orders = counted_orders(data)
    lines = counted_lines(data, orders)
    lines["age"] = [(data.as_of - d).days for d in lines["day"]]
    orders_per_day = orders.groupby("day").size()
    out = {}
    for pid, g in lines.groupby("product_id"):
        newest = g.sort_values("order_timestamp", kind="stable").iloc[-1]
        first, last = g["day"].min(), g["day"].max()
        market = (data.as_of - first).days
        row: dict[str, object] = {
            "product_name": newest["product_name"],
            "sku": newest["sku"],
            "brand": newest["product_brand"],
            "category": newest["product_type"],
            "avg_price": g["gross"].sum() / g["quantity"].sum(),
            "min_price": float(g["unit_price"].map(float).min()),
            "max_price": float(g["unit_price"].map(float).max()),
        }
        for n in (30, 60, 90):
            w = g[g["age"] < n]
            row[f"revenue_{n}d"] = round(w["net"].sum(), 2)
            row[f"quantity_sold_{n}d"] = int(w["quantity"].sum())
            row[f"unique_customers_{n}d"] = w["customer"].nunique()
        w30 = g[g["age"] < 30]
        n_orders = g["order_id"].nunique()
        per_customer = g.groupby("customer")["order_id"].nunique()
        row.update(
            {
                "conversion_rate": n_orders / orders_per_day[orders_per_day.index >= first].sum(),
                "repurchase_rate": float((per_customer >= 2).mean()),
                "avg_units_per_order": g["quantity"].sum() / n_orders,
                "revenue_per_customer": g["net"].sum() / g["customer"].nunique(),
                "first_sold_date": first,
                "last_sold_date": last,
                "days_on_market": market,
                "velocity_score": int(w30["quantity"].sum()) / min(30, market + 1),
                "discount_rate": g["disc"].sum() / g["gross"].sum()
                if g["gross"].sum() > 0
                else 0.0,
                "avg_discount_amount": g.loc[g["disc"] > 0, "disc"].mean()
                if (g["disc"] > 0).any()
                else 0.0,
                "_revenue": round(g["net"].sum(), 2),
                "_quantity": int(g["quantity"].sum()),
            }
        )
        out[pid] = row
    frame = pd.DataFrame.from_dict(out, orient="index")
    frame.index.name = "product_id"
    frame = frame.sort_index()
    frame["revenue_rank"] = (
        frame.reset_index()
        .sort_values(["_revenue", "product_id"], ascending=[False, True])
        .assign(rank=range(1, len(frame) + 1))
        .set_index("product_id")["rank"]
    )
    frame["quantity_rank"] = (
        frame.reset_index()
        .sort_values(["_quantity", "product_id"], ascending=[False, True])
        .assign(rank=range(1, len(frame) + 1))
        .set_index("product_id")["rank"]
    )
    return frame


# -- product_relationships_optimized --------------------------------------------------------
def baskets(data: StoreData) -> pd.Series:
    """Order id → frozenset of product ids, for counted orders with line items."""
    orders = counted_orders(data)
    lines = counted_lines(data, orders)
    return lines.groupby("order_id")["product_id"].agg(frozenset)


def relationships(data: StoreData, min_co: int) -> pd.DataFrame:
    orders = counted_orders(data)
    lines = counted_lines(data, orders)
    by_order = lines.groupby("order_id").agg(items=("product_id", frozenset), day=("day", "first"))
    n = len(by_order)
    item_count: dict[str, int] = {}
    pair: dict[tuple[str, str], list[object]] = {}
    for items, day in zip(by_order["items"], by_order["day"], strict=True):
        for a in items:
            item_count[a] = item_count.get(a, 0) + 1
        for a in items:
            for b in items:
                if a < b:
                    entry = pair.setdefault((a, b), [0, day, day])
                    entry[0] = int(entry[0]) + 1  # type: ignore[call-overload]
                    entry[1] = min(entry[1], day)
                    entry[2] = max(entry[2], day)
    newest_rows = lines.sort_values("order_timestamp", kind="stable").drop_duplicates(
        "product_id", keep="last"
    )
    name = dict(zip(newest_rows["product_id"], newest_rows["product_name"], strict=True))
    category = dict(zip(newest_rows["product_id"], newest_rows["product_type"], strict=True))
    rows = []
    for (a, b), (count, first, last) in pair.items():
        if int(count) < min_co:  # type: ignore[call-overload]
            continue
        c = int(count)  # type: ignore[call-overload]
        lift = c * n / (item_count[a] * item_count[b])
        best = max(c / item_count[a], c / item_count[b])
        same = category[a] != "" and category[a] == category[b]
        if lift >= 2 and best >= 0.2:
            kind = "frequently_bought"
        elif lift < 1 and same:
            kind = "substitute"
        else:
            kind = "complement"
        for x, y in ((a, b), (b, a)):
            rows.append(
                {
                    "product_a": x,
                    "product_b": y,
                    "product_a_name": name[x],
                    "product_b_name": name[y],
                    "co_purchase_count": c,
                    "confidence": c / item_count[x],
                    "lift": lift,
                    "support": c / n,
                    "first_co_purchase": first,
                    "last_co_purchase": last,
                    "relationship_type": kind,
                }
            )
    return pd.DataFrame(rows).set_index(["product_a", "product_b"]).sort_index()


def as_date(value: object) -> date:
    return value if isinstance(value, date) else pd.Timestamp(value).date()  # type: ignore[arg-type]
