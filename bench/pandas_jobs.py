"""The five aggregate jobs in vectorised pandas, from docs/metrics.md (bench peers).

What a user without the ClickHouse jobs would write: pull the synced rows out of ClickHouse
(``query_arrow`` through the warehouse's FINAL layer, Decimal columns cast to float64 in Arrow,
then ``to_pandas``), then group-bys. Each job pulls the tables it needs itself and that time is
part of the job. ``tests/aggregates/reference.py`` is *not* used: it is the test oracle, written
for clarity with per-customer / per-product Python loops (minutes at 1M orders), so timing it
would measure the loops, not pandas. The BG/NBD fit is the project's scipy fitter.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from aggregates_export import pull

from klaviyo_analytics.aggregates import bgnbd
from klaviyo_analytics.warehouse import Warehouse

SEGMENTS = np.array(
    [
        ["Lost", "Lost", "At Risk", "Can't Lose Them", "Can't Lose Them"],
        ["Hibernating", "Hibernating", "Need Attention", "At Risk", "At Risk"],
        [
            "About To Sleep",
            "About To Sleep",
            "Need Attention",
            "Loyal Customers",
            "Loyal Customers",
        ],
        ["Promising", "Potential Loyalist", "Loyal Customers", "Champions", "Champions"],
        ["New Customers", "Potential Loyalist", "Potential Loyalist", "Champions", "Champions"],
    ],
    dtype=object,
)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    """Arrow → pandas with Decimal columns as float64 (not Python Decimal objects)."""
    for i, f in enumerate(table.schema):
        if pa.types.is_decimal(f.type):
            table = table.set_column(i, f.name, pc.cast(table.column(i), pa.float64()))
    return table.to_pandas()


def _local(ts: pd.Series, tz: str) -> pd.Series:
    if ts.dt.tz is None:
        ts = ts.dt.tz_localize("UTC")
    return ts.dt.tz_convert(tz).dt.tz_localize(None)


class PandasJobs:
    """The five jobs for one store, as-of day and timezone, pulling from ``wh``."""

    def __init__(
        self, wh: Warehouse, store: str, as_of: date, tz: str = "UTC", min_co: int = 3
    ) -> None:
        self.wh, self.store, self.tz, self.min_co = wh, store, tz, min_co
        self.as_of = pd.Timestamp(as_of)

    def jobs(self) -> dict[str, Callable[[], int]]:
        return {
            "campaign-daily": self.campaign_daily,
            "account-daily": self.account_daily,
            "customers": self.customers,
            "products": self.products,
            "relationships": self.relationships,
        }

    def _pull(self, name: str) -> pd.DataFrame:
        return to_pandas(pull(self.wh, self.store, name))

    def _counted_orders(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(counted orders with local day/hour/weekday and customer, refunds frame)."""
        orders, refunds = self._pull("orders"), self._pull("refunds")
        refunds["day"] = _local(refunds["event_timestamp"], self.tz).dt.normalize()
        refunds = refunds[refunds["day"] <= self.as_of]
        cancelled = refunds.loc[
            refunds["event_type"].str.lower().isin(["cancelled", "canceled"]), "original_order_id"
        ]
        local = _local(orders["order_timestamp"], self.tz)
        orders["day"] = local.dt.normalize()
        orders["hour"] = local.dt.hour
        orders["weekday"] = local.dt.dayofweek
        orders["customer"] = orders["customer_email"].where(
            orders["customer_email"] != "", orders["customer_id"]
        )
        keep = (orders["day"] <= self.as_of) & ~orders["order_id"].isin(cancelled)
        return orders[keep], refunds

    def _counted_lines(self, orders: pd.DataFrame) -> pd.DataFrame:
        lines = self._pull("lines")
        cols = ["order_id", "customer", "customer_email", "day", "order_timestamp"]
        lines = lines.merge(orders[cols], on="order_id", how="inner")
        lines["net"] = lines["line_total"] - lines["discount_amount"]
        return lines

    # -- campaign_daily_aggregates ------------------------------------------------------------
    def campaign_daily(self) -> int:
        c = self._pull("campaigns")
        tags = self._pull("tags")
        c = c[c["date"] <= self.as_of.date()].copy()
        c["ch"] = c["send_channel"].str.lower()
        for col in ("open_rate_pct", "click_rate_pct", "conversion_rate_pct"):
            c[f"w_{col}"] = c[col] * c["delivered"]
        key = ["date", "ch"]
        g = c.groupby(key)
        out = g.agg(
            total_campaigns=("campaign_id", "nunique"),
            campaigns_sent=("campaign_id", lambda s: sorted(s)),
            total_recipients=("recipients", "sum"),
            total_delivered=("delivered", "sum"),
            total_opens=("opens", "sum"),
            total_clicks=("clicks", "sum"),
            total_conversions=("conversions", "sum"),
            total_revenue=("conversion_value", "sum"),
            w_open=("w_open_rate_pct", "sum"),
            w_click=("w_click_rate_pct", "sum"),
            w_conv=("w_conversion_rate_pct", "sum"),
            m_open=("open_rate_pct", "mean"),
            m_click=("click_rate_pct", "mean"),
            m_conv=("conversion_rate_pct", "mean"),
        )
        out["avg_revenue_per_campaign"] = out["total_revenue"] / out["total_campaigns"]
        rec = out["total_recipients"]
        out["avg_revenue_per_recipient"] = np.where(
            rec > 0, out["total_revenue"] / rec.where(rec > 0, 1), 0.0
        )
        dl = out["total_delivered"]
        for name, w, m in (
            ("avg_open_rate", "w_open", "m_open"),
            ("avg_click_rate", "w_click", "m_click"),
            ("avg_conversion_rate", "w_conv", "m_conv"),
        ):
            out[name] = np.where(dl > 0, out[w] / dl.where(dl > 0, 1), out[m])
        cols = ["campaign_id", "campaign_name", "conversion_value"]
        best = c.sort_values(["conversion_value", "campaign_id"], ascending=[False, True])
        best = best.drop_duplicates(key).set_index(key)[cols]
        worst = c.sort_values(["conversion_value", "campaign_id"]).drop_duplicates(key)
        worst = worst.set_index(key)[cols]
        out = out.join(best.add_prefix("best_")).join(worst.add_prefix("worst_"))
        t = tags.explode("tags").dropna(subset=["tags"]).drop_duplicates()
        t = t[t["tags"] != ""].merge(c[[*key, "campaign_id", "conversion_value"]], on="campaign_id")
        tr = t.groupby([*key, "tags"])["conversion_value"].sum().reset_index()
        tr = tr.sort_values([*key, "conversion_value", "tags"], ascending=[True, True, False, True])
        perf = tr.groupby(key)[["tags", "conversion_value"]].apply(
            lambda d: dict(zip(d["tags"], d["conversion_value"], strict=True))
        )
        top = tr.groupby(key)["tags"].agg(lambda s: list(s[:5]))
        out["tag_performance"] = perf
        out["top_tags"] = top
        for col in ("total_recipients", "total_delivered", "total_opens", "total_clicks"):
            out[col] = out[col].round()
        out["total_conversions"] = out["total_conversions"].round()
        out["total_revenue"] = out["total_revenue"].round(2)
        return len(out)

    # -- account_metrics_daily ----------------------------------------------------------------
    def account_daily(self) -> int:
        orders, _ = self._counted_orders()
        per = orders.groupby(["day", "customer"]).agg(
            rev=("order_value", "sum"), n=("order_id", "size"), new=("is_first_order", "max")
        )
        per["new_rev"] = per["rev"].where(per["new"] == 1, 0.0)
        od = per.groupby(level="day").agg(
            total_revenue=("rev", "sum"),
            total_orders=("n", "sum"),
            unique_customers=("rev", "size"),
            new_customers=("new", "sum"),
            new_customer_revenue=("new_rev", "sum"),
        )
        frames = []
        for name, src in (("campaigns", "campaign"), ("flows", "flow")):
            f = self._pull(name)
            f = f[f["date"] <= self.as_of.date()]
            ch = f["send_channel"].str.lower()
            email, sms = (ch == "email").to_numpy(), (ch == "sms").to_numpy()
            v = f["conversion_value"].to_numpy()
            frames.append(
                pd.DataFrame(
                    {
                        "day": pd.to_datetime(f["date"]).to_numpy(),
                        "email_revenue": v * email,
                        "sms_revenue": v * sms,
                        "flow_revenue": v * (src == "flow"),
                        "campaign_revenue": v * (src == "campaign"),
                        "email_orders": f["conversions"].to_numpy() * email,
                        "sms_orders": f["conversions"].to_numpy() * sms,
                        "emails_sent": f["recipients"].to_numpy() * email,
                        "sms_sent": f["recipients"].to_numpy() * sms,
                        "recipients": f["recipients"].to_numpy(),
                        "opens": f["opens"].to_numpy(),
                        "clicks": f["clicks"].to_numpy(),
                    }
                )
            )
        md = pd.concat(frames).groupby("day").sum()
        full = od.join(md, how="outer").fillna(0.0)
        out = pd.DataFrame(index=full.index)
        for col in ("total_revenue", "email_revenue", "sms_revenue"):
            out[col] = full[col].round(2)
        out["flow_revenue"] = full["flow_revenue"].round(2)
        out["campaign_revenue"] = full["campaign_revenue"].round(2)
        out["total_orders"] = full["total_orders"].astype(int)
        out["email_orders"] = full["email_orders"].round().astype(int)
        out["sms_orders"] = full["sms_orders"].round().astype(int)

        def ratio(a: pd.Series, b: pd.Series) -> np.ndarray:
            return np.where(b > 0, a / b.where(b > 0, 1), 0.0)

        out["avg_order_value"] = ratio(full["total_revenue"], full["total_orders"])
        out["unique_customers"] = full["unique_customers"].astype(int)
        out["new_customers"] = full["new_customers"].astype(int)
        out["repeat_customers"] = out["unique_customers"] - out["new_customers"]
        out["new_customer_revenue"] = full["new_customer_revenue"].round(2)
        repeat = full["total_revenue"] - full["new_customer_revenue"]
        out["repeat_customer_revenue"] = repeat.round(2)
        out["total_emails_sent"] = full["emails_sent"].round()
        out["total_sms_sent"] = full["sms_sent"].round()
        out["total_opens"] = full["opens"].round()
        out["total_clicks"] = full["clicks"].round()
        out["revenue_per_email"] = ratio(full["email_revenue"], full["emails_sent"])
        out["revenue_per_sms"] = ratio(full["sms_revenue"], full["sms_sent"])
        out["revenue_per_recipient"] = ratio(
            full["flow_revenue"] + full["campaign_revenue"], full["recipients"]
        )
        prev = full.set_axis(full.index + pd.Timedelta(days=1)).reindex(full.index).fillna(0.0)
        for col, src in (
            ("revenue_growth_pct", "total_revenue"),
            ("order_growth_pct", "total_orders"),
            ("customer_growth_pct", "unique_customers"),
        ):
            out[col] = ratio((full[src] - prev[src]) * 100, prev[src])
        return len(out)

    # -- customer_profiles ----------------------------------------------------------------------
    def customers(self) -> int:
        orders, refunds = self._counted_orders()
        orders = orders[orders["customer_email"] != ""].copy()
        ref = refunds[refunds["event_type"] == "refund"]
        ref = ref.groupby("original_order_id")["refund_amount"].sum()
        orders["refund"] = np.minimum(
            orders["order_id"].map(ref).fillna(0.0), orders["order_value"]
        )
        orders["disc"] = orders["discount_amount"] > 0
        orders["disc_amt"] = orders["discount_amount"].where(orders["disc"])
        orders["weekend"] = orders["weekday"] >= 5
        g = orders.sort_values("order_timestamp").groupby("customer_email")
        f = g.agg(
            customer_id=("customer_id", "last"),
            total_orders=("order_id", "size"),
            total_revenue=("order_value", "sum"),
            total_refunds=("refund", "sum"),
            first_day=("day", "min"),
            last_day=("day", "max"),
            n_days=("day", "nunique"),
            n_disc=("disc", "sum"),
            avg_discount_amount=("disc_amt", "mean"),
            weekend=("weekend", "sum"),
        )
        f["net_revenue"] = (f["total_revenue"] - f["total_refunds"]).round(2)
        f["avg_order_value"] = f["total_revenue"] / f["total_orders"]
        f["days_since_last_order"] = (self.as_of - f["last_day"]).dt.days
        span = (f["last_day"] - f["first_day"]).dt.days
        f["avg_days_between_orders"] = np.where(
            f["total_orders"] > 1, span / (f["total_orders"] - 1).clip(lower=1), 0.0
        )
        f["discount_usage_rate"] = f["n_disc"] / f["total_orders"]
        f["avg_discount_amount"] = f["avg_discount_amount"].fillna(0.0)
        f["weekend_buyer"] = (f["weekend"] * 2 > f["total_orders"]).astype(int)
        f["customer_age_days"] = (self.as_of - f["first_day"]).dt.days
        hours = orders.groupby(["customer_email", "hour"]).size().reset_index(name="c")
        hours = hours.sort_values(["customer_email", "c", "hour"], ascending=[True, False, True])
        f["preferred_order_hour"] = hours.drop_duplicates("customer_email").set_index(
            "customer_email"
        )["hour"]
        lines = self._counted_lines(orders)
        for col, key in (
            ("favorite_category", "product_type"),
            ("favorite_brand", "product_brand"),
        ):
            spend = lines[lines[key] != ""].groupby(["customer_email", key])["net"].sum()
            spend = spend.reset_index().sort_values(
                ["customer_email", "net", key], ascending=[True, False, True]
            )
            fav = spend.drop_duplicates("customer_email").set_index("customer_email")[key]
            f[col] = fav.reindex(f.index).fillna("")
        for col, key in (
            ("categories_purchased", "product_type"),
            ("brands_purchased", "product_brand"),
        ):
            d = lines.loc[lines[key] != "", ["customer_email", key]].drop_duplicates()
            f[col] = d.sort_values(["customer_email", key]).groupby("customer_email")[key].agg(list)
        f["unique_products_purchased"] = lines.groupby("customer_email")["product_id"].nunique()
        n = len(f)
        f["recency_score"] = 1 + (
            5 * (f["days_since_last_order"].rank(method="min", ascending=False) - 1) // n
        ).astype(int)  # noqa: E501
        f["frequency_score"] = 1 + (5 * (f["total_orders"].rank(method="min") - 1) // n).astype(int)
        f["monetary_score"] = 1 + (5 * (f["net_revenue"].rank(method="min") - 1) // n).astype(int)
        f["rfm_score"] = (
            f["recency_score"].astype(str)
            + f["frequency_score"].astype(str)
            + f["monetary_score"].astype(str)
        )
        fm = np.ceil((f["frequency_score"] + f["monetary_score"]) / 2).astype(int)
        f["rfm_segment"] = SEGMENTS[f["recency_score"].to_numpy() - 1, fm.to_numpy() - 1]
        x = (f["n_days"] - 1).to_numpy(float)
        t_x = span.to_numpy(float)
        big_t = f["customer_age_days"].to_numpy(float)
        grouped = pd.DataFrame({"x": x, "t_x": t_x, "big_t": big_t}).value_counts().reset_index()
        params = bgnbd.fit_or_fallback(
            grouped["x"].to_numpy(float),
            grouped["t_x"].to_numpy(float),
            grouped["big_t"].to_numpy(float),
            grouped["count"].to_numpy(float),
        )
        f["churn_risk_score"] = 1 - bgnbd.p_alive(params, x, t_x, big_t)
        return len(f)

    # -- products_master ------------------------------------------------------------------------
    def products(self) -> int:
        orders, _ = self._counted_orders()
        lines = self._counted_lines(orders)
        age = (self.as_of - lines["day"]).dt.days
        for n in (30, 60, 90):
            inside = age < n
            lines[f"rev{n}"] = lines["net"].where(inside, 0.0)
            lines[f"q{n}"] = lines["quantity"].where(inside, 0)
        lines["disc_amt"] = lines["discount_amount"].where(lines["discount_amount"] > 0)
        g = lines.groupby("product_id")
        p = g.agg(
            gross=("line_total", "sum"),
            quantity=("quantity", "sum"),
            min_price=("unit_price", "min"),
            max_price=("unit_price", "max"),
            revenue=("net", "sum"),
            discount=("discount_amount", "sum"),
            avg_discount_amount=("disc_amt", "mean"),
            n_orders=("order_id", "nunique"),
            n_customers=("customer", "nunique"),
            first_sold_date=("day", "min"),
            last_sold_date=("day", "max"),
            revenue_30d=("rev30", "sum"),
            revenue_60d=("rev60", "sum"),
            revenue_90d=("rev90", "sum"),
            quantity_sold_30d=("q30", "sum"),
            quantity_sold_60d=("q60", "sum"),
            quantity_sold_90d=("q90", "sum"),
        )
        for n in (30, 60, 90):
            w = lines.loc[age < n, ["product_id", "customer"]]
            p[f"unique_customers_{n}d"] = (
                w.drop_duplicates().groupby("product_id").size().reindex(p.index).fillna(0)
            )
        newest = lines.sort_values("order_timestamp", kind="stable").drop_duplicates(
            "product_id", keep="last"
        )
        cat = ["product_name", "sku", "product_brand", "product_type", "collections"]
        p = p.join(newest.set_index("product_id")[cat])
        p["avg_price"] = p["gross"] / p["quantity"]
        per_day = orders.groupby("day").size().sort_index(ascending=False).cumsum()
        p["conversion_rate"] = p["n_orders"] / p["first_sold_date"].map(per_day)
        per_cust = lines.groupby(["product_id", "customer"])["order_id"].nunique()
        p["repurchase_rate"] = (per_cust >= 2).groupby(level="product_id").mean()
        p["avg_units_per_order"] = p["quantity"] / p["n_orders"]
        p["revenue_per_customer"] = p["revenue"] / p["n_customers"]
        p["days_on_market"] = (self.as_of - p["first_sold_date"]).dt.days
        p["velocity_score"] = p["quantity_sold_30d"] / np.minimum(30, p["days_on_market"] + 1)
        p["discount_rate"] = np.where(p["gross"] > 0, p["discount"] / p["gross"], 0.0)
        p["avg_discount_amount"] = p["avg_discount_amount"].fillna(0.0)
        p = p.reset_index()
        for col, key in (("revenue_rank", "revenue"), ("quantity_rank", "quantity")):
            order = p.sort_values([key, "product_id"], ascending=[False, True]).index.to_numpy()
            rank = np.empty(len(p), dtype=np.int64)
            rank[order] = np.arange(1, len(p) + 1)
            p[col] = rank
        market = p["days_on_market"]
        flags = {
            "bestseller": p["revenue_rank"] <= max(1, int(len(p) * 0.1)),
            "new": market < 30,
            "trending": (market >= 60) & (p["quantity_sold_30d"] * 2 >= p["quantity_sold_90d"]),
            "slow_mover": (market >= 60) & (p["quantity_sold_60d"] == 0),
            "discounted": p["discount_rate"] >= 0.2,
        }
        tag_cols = pd.DataFrame(flags)
        p["tags"] = [
            [t for t, on in zip(flags, row, strict=True) if on]
            for row in tag_cols.itertuples(index=False)
        ]
        return len(p)

    # -- product_relationships_optimized --------------------------------------------------------
    def relationships(self) -> int:
        orders, _ = self._counted_orders()
        lines = self._counted_lines(orders)
        codes, products = pd.factorize(lines["product_id"], sort=True)
        lines["p"] = codes
        b = lines[["order_id", "p", "day"]].drop_duplicates(["order_id", "p"])
        n = b["order_id"].nunique()
        item = b.groupby("p").size()
        pairs = b.merge(b[["order_id", "p"]], on="order_id", suffixes=("_a", "_b"))
        pairs = pairs[pairs["p_a"] < pairs["p_b"]]
        agg = pairs.groupby(["p_a", "p_b"]).agg(
            c=("day", "size"), first=("day", "min"), last=("day", "max")
        )
        agg = agg[agg["c"] >= self.min_co].reset_index()
        newest = lines.sort_values("order_timestamp", kind="stable").drop_duplicates(
            "p", keep="last"
        )
        name = newest.set_index("p")["product_name"]
        cat = newest.set_index("p")["product_type"]
        ca = agg["p_a"].map(item).to_numpy(float)
        cb = agg["p_b"].map(item).to_numpy(float)
        c = agg["c"].to_numpy(float)
        lift = c * n / (ca * cb)
        best = np.maximum(c / ca, c / cb)
        same = (agg["p_a"].map(cat) != "").to_numpy() & (
            agg["p_a"].map(cat).to_numpy() == agg["p_b"].map(cat).to_numpy()
        )
        kind = np.where(
            (lift >= 2) & (best >= 0.2),
            "frequently_bought",
            np.where((lift < 1) & same, "substitute", "complement"),
        )
        halves = []
        for a, bcol, conf in (("p_a", "p_b", c / ca), ("p_b", "p_a", c / cb)):
            halves.append(
                pd.DataFrame(
                    {
                        "product_a": products[agg[a].to_numpy()],
                        "product_b": products[agg[bcol].to_numpy()],
                        "product_a_name": agg[a].map(name).to_numpy(),
                        "product_b_name": agg[bcol].map(name).to_numpy(),
                        "co_purchase_count": agg["c"].to_numpy(),
                        "support": c / n,
                        "confidence": conf,
                        "lift": lift,
                        "first_co_purchase": agg["first"].to_numpy(),
                        "last_co_purchase": agg["last"].to_numpy(),
                        "relationship_type": kind,
                    }
                )
            )
        return len(pd.concat(halves, ignore_index=True))
