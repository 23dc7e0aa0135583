"""A small deterministic data set written straight into the 12 warehouse tables, with the
rows kept in memory so tests can compute expected answers independently of the API's SQL."""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from klaviyo_analytics.warehouse import Warehouse

RFM_SEGMENTS = (
    "Champions",
    "Loyal Customers",
    "Potential Loyalist",
    "New Customers",
    "At Risk",
    "Hibernating",
    "Lost",
)
PRODUCTS = (
    ("p-mug", "Ceramic Mug", "Kitchen", "Northwind", 18.0),
    ("p-beans", "Espresso Beans 1kg", "Coffee", "Roastery", 32.0),
    ("p-grinder", "Burr Grinder", "Kitchen", "Northwind", 89.0),
    ("p-filter", "Paper Filters", "Coffee", "Roastery", 6.5),
    ("p-kettle", "Gooseneck Kettle", "Kitchen", "Northwind", 64.0),
    ("p-tea", "Green Tea Tin", "Tea", "Leafy", 14.0),
    ("p-scale", "Brew Scale", "Kitchen", "Acme", 42.0),
    ("p-dripper", "Pour-over Dripper", "Kitchen", "Acme", 27.0),
)
PAIRS = (
    ("p-beans", "p-filter"),
    ("p-grinder", "p-beans"),
    ("p-kettle", "p-dripper"),
    ("p-mug", "p-tea"),
    ("p-scale", "p-dripper"),
)
NOW = datetime.now(UTC).replace(microsecond=0, tzinfo=None)


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2)))


@dataclass
class Dataset:
    """What was written for one Klaviyo account."""

    kid: str
    today: date
    days: int
    orders: list[dict[str, Any]] = field(default_factory=list)
    line_items: list[dict[str, Any]] = field(default_factory=list)
    refunds: list[dict[str, Any]] = field(default_factory=list)
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    forms: list[dict[str, Any]] = field(default_factory=list)
    segments: list[dict[str, Any]] = field(default_factory=list)
    account_daily: list[dict[str, Any]] = field(default_factory=list)
    customers: list[dict[str, Any]] = field(default_factory=list)
    products: list[dict[str, Any]] = field(default_factory=list)
    relationships: list[dict[str, Any]] = field(default_factory=list)

    @property
    def cancelled(self) -> set[str]:
        """Order ids with a cancellation event."""
        return {r["original_order_id"] for r in self.refunds if r["event_type"] == "cancelled"}

    def counted_orders(self, start: date, end: date) -> list[dict[str, Any]]:
        """Orders of the range that count (not cancelled)."""
        cancelled = self.cancelled
        return [
            o
            for o in self.orders
            if start <= o["order_date"] <= end and o["order_id"] not in cancelled
        ]


def _insert(wh: Warehouse, table: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        columns = list(rows[0])
        wh.insert_rows(table, [[r[c] for c in columns] for r in rows], columns)


def build(
    wh: Warehouse,
    kid: str,
    *,
    seed: int,
    days: int = 90,
    orders_per_day: int = 6,
    customers: int = 60,
) -> Dataset:
    """Write a deterministic data set for account ``kid`` ending today and return it."""
    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    ds = Dataset(kid=kid, today=today, days=days)
    first = today - timedelta(days=days - 1)
    emails = [f"customer{i:03d}.{kid.lower()}@example.com" for i in range(customers)]
    seen: dict[str, int] = defaultdict(int)
    n = 0
    for d in range(days):
        day = first + timedelta(days=d)
        for _ in range(rng.randint(orders_per_day - 2, orders_per_day + 2)):
            n += 1
            email = rng.choice(emails)
            seen[email] += 1
            picked = rng.sample(PRODUCTS, rng.randint(1, 3))
            if rng.random() < 0.5:  # make the defined pairs co-occur often
                a, b = rng.choice(PAIRS)
                picked = [p for p in PRODUCTS if p[0] in (a, b)]
            order_id = f"{kid}-o{n:05d}"
            total = 0.0
            for li, (pid, pname, cat, brand, price) in enumerate(picked):
                qty = rng.randint(1, 3)
                total += qty * price
                ds.line_items.append(
                    {
                        "klaviyo_public_id": kid,
                        "order_id": order_id,
                        "line_item_id": f"{li}",
                        "product_id": pid,
                        "variant_id": f"{pid}-v",
                        "product_name": pname,
                        "product_brand": brand,
                        "sku": pid.upper(),
                        "collections": [cat],
                        "product_type": cat,
                        "quantity": qty,
                        "unit_price": _money(price),
                        "line_total": _money(qty * price),
                        "discount_amount": Decimal("0"),
                        "discount_per_item": Decimal("0"),
                        "synced_at": NOW,
                        "inserted_at": NOW,
                    }
                )
            ts = datetime.combine(day, datetime.min.time()) + timedelta(
                minutes=rng.randint(0, 1439)
            )
            ds.orders.append(
                {
                    "klaviyo_public_id": kid,
                    "order_id": order_id,
                    "customer_id": f"cid-{email.split('@')[0]}",
                    "customer_email": email,
                    "order_value": _money(total),
                    "order_date": day,
                    "order_timestamp": ts,
                    "item_count": len(picked),
                    "product_count": len(picked),
                    "is_first_order": 1 if seen[email] == 1 else 0,
                    "order_count_for_customer": seen[email],
                    "days_since_last_order": 0,
                    "channel": "web",
                    "device_type": "desktop",
                    "shipping_city": "Lisbon",
                    "shipping_state": "",
                    "shipping_country": "PT",
                    "shipping_zip": "1000",
                    "discount_amount": Decimal("0"),
                    "discount_code": "",
                    "discount_type": "",
                    "customer_tags": [],
                    "customer_total_spent": _money(total),
                    "customer_order_count": seen[email],
                    "utm_source": "klaviyo",
                    "utm_medium": "email",
                    "utm_campaign": "",
                    "synced_at": NOW,
                    "inserted_at": NOW,
                }
            )
    # A few refunds and one cancellation in each 30-day block.
    for i, order in enumerate(ds.orders[5::37]):
        kind = "cancelled" if i % 3 == 0 else "refund"
        ds.refunds.append(
            {
                "klaviyo_public_id": kid,
                "event_id": f"{kid}-ev{i}",
                "event_timestamp": order["order_timestamp"] + timedelta(hours=5),
                "event_type": kind,
                "original_order_id": order["order_id"],
                "original_order_timestamp": order["order_timestamp"],
                "customer_id": order["customer_id"],
                "customer_email": order["customer_email"],
                "refund_amount": _money(float(order["order_value"]) / 2),
                "refund_reason": "damaged",
                "refund_currency": "USD",
                "line_items_affected": [],
                "products_affected": [],
                "quantities_refunded": [],
                "metric_id": "m",
                "metric_name": "Refunded Order",
                "profile_id": "",
                "event_properties": "{}",
                "profile_properties": "{}",
                "store_public_ids": [],
                "synced_at": NOW,
                "inserted_at": NOW,
            }
        )
    _marketing(ds, rng, first)
    _aggregates(ds, rng)
    for table, rows in (
        ("klaviyo_orders", ds.orders),
        ("klaviyo_order_line_items", ds.line_items),
        ("refund_cancelled_orders", ds.refunds),
        ("campaign_statistics", ds.campaigns),
        ("flow_statistics", ds.flows),
        ("form_statistics", ds.forms),
        ("segment_statistics", ds.segments),
        ("account_metrics_daily", ds.account_daily),
        ("customer_profiles", ds.customers),
        ("products_master", ds.products),
        ("product_relationships_optimized", ds.relationships),
    ):
        _insert(wh, table, rows)
    # A stale duplicate version of one campaign row: FINAL must hide it.
    stale = dict(
        ds.campaigns[0],
        conversion_value=999999.0,
        updated_at=ds.campaigns[0]["updated_at"] - timedelta(days=1),
    )
    _insert(wh, "campaign_statistics", [stale])
    return ds


def _perf(rng: random.Random, recipients: int) -> dict[str, float]:
    delivered = recipients - rng.randint(0, recipients // 50 + 1)
    opens_u = int(delivered * rng.uniform(0.2, 0.5))
    clicks_u = int(opens_u * rng.uniform(0.05, 0.2))
    conv_u = int(clicks_u * rng.uniform(0.05, 0.3))
    return {
        "recipients": float(recipients),
        "delivered": float(delivered),
        "bounced": float(recipients - delivered),
        "failed": 0.0,
        "opens": float(opens_u * 2),
        "opens_unique": float(opens_u),
        "clicks": float(clicks_u * 2),
        "clicks_unique": float(clicks_u),
        "conversions": float(conv_u),
        "conversion_uniques": float(conv_u),
        "conversion_value": round(conv_u * rng.uniform(30, 80), 2),
        "unsubscribes": float(rng.randint(0, 5)),
        "open_rate_pct": 0.0,
        "click_rate_pct": 0.0,
        "conversion_rate_pct": 0.0,
        "unsubscribe_rate_pct": 0.0,
        "bounce_rate_pct": 0.0,
        "delivery_rate_pct": 0.0,
    }


def _marketing(ds: Dataset, rng: random.Random, first: date) -> None:
    kid = ds.kid
    names = [
        "Spring Sale",
        "New Arrivals",
        "Weekend Flash",
        "Coffee Club",
        "Last Chance",
        "Brewing Guide",
        "VIP Early Access",
        "Restock Alert",
        "Holiday Gift Guide",
        "Tea Time",
    ]
    for i, name in enumerate(names):
        channel = "sms" if i % 4 == 3 else "email"
        start = first + timedelta(days=i * (ds.days // len(names)))
        for d in range(3):
            ds.campaigns.append(
                {
                    "klaviyo_public_id": kid,
                    "campaign_id": f"{kid}-c{i:02d}",
                    "campaign_name": name,
                    "send_channel": channel,
                    "date": start + timedelta(d),
                    **_perf(rng, rng.randint(800, 4000) if d == 0 else rng.randint(10, 100)),
                    "updated_at": NOW,
                }
            )
    flows = [
        ("Welcome Series", "email"),
        ("Abandoned Cart", "email"),
        ("Post-Purchase", "email"),
        ("Win-back", "sms"),
    ]
    for f, (name, channel) in enumerate(flows):
        for m in range(2):
            for d in range(0, ds.days, 2):
                ds.flows.append(
                    {
                        "klaviyo_public_id": kid,
                        "flow_id": f"{kid}-f{f}",
                        "flow_name": name,
                        "flow_message_id": f"{kid}-f{f}-m{m}",
                        "flow_message_name": f"{name} #{m + 1}",
                        "send_channel": channel,
                        "date": first + timedelta(d),
                        **_perf(rng, rng.randint(20, 200)),
                        "updated_at": NOW,
                    }
                )
    for i, name in enumerate(["Newsletter Popup", "Exit Intent", "Footer Signup"]):
        for d in range(ds.days):
            views = rng.randint(50, 300)
            uniq = int(views * 0.8)
            subs = rng.randint(0, uniq // 10)
            ds.forms.append(
                {
                    "klaviyo_public_id": kid,
                    "form_id": f"{kid}-form{i}",
                    "form_name": name,
                    "date": first + timedelta(d),
                    "viewed_form": float(views),
                    "viewed_form_uniques": float(uniq),
                    "submits": float(subs + 1),
                    "submits_unique": float(subs),
                    "qualified_form": float(subs),
                    "updated_at": NOW,
                }
            )
    for i, name in enumerate(["Engaged 30d", "VIP", "Newsletter", "Lapsed"]):
        total = 500 * (i + 1)
        for d in range(ds.days):
            new, removed = rng.randint(0, 20), rng.randint(0, 15)
            total += new - removed
            ds.segments.append(
                {
                    "klaviyo_public_id": kid,
                    "segment_id": f"{kid}-s{i}",
                    "segment_name": name,
                    "date": first + timedelta(d),
                    "total_members": total,
                    "new_members": new,
                    "removed_members": removed,
                    "daily_change": new - removed,
                    "updated_at": NOW,
                }
            )


def _aggregates(ds: Dataset, rng: random.Random) -> None:
    kid = ds.kid
    cancelled = ds.cancelled
    by_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for o in ds.orders:
        if o["order_id"] not in cancelled:
            by_day[o["order_date"]].append(o)
    chan: dict[tuple[date, str], float] = defaultdict(float)
    kind: dict[tuple[date, str], float] = defaultdict(float)
    sent: dict[tuple[date, str], float] = defaultdict(float)
    for row, k in [(r, "campaign") for r in ds.campaigns] + [(r, "flow") for r in ds.flows]:
        chan[(row["date"], row["send_channel"])] += row["conversion_value"]
        kind[(row["date"], k)] += row["conversion_value"]
        sent[(row["date"], row["send_channel"])] += row["recipients"]
    for d in range(ds.days):
        day = ds.today - timedelta(days=ds.days - 1 - d)
        orders = by_day.get(day, [])
        revenue = sum(float(o["order_value"]) for o in orders)
        ds.account_daily.append(
            {
                "klaviyo_public_id": kid,
                "date": day,
                "total_revenue": _money(revenue),
                "email_revenue": _money(chan[(day, "email")]),
                "sms_revenue": _money(chan[(day, "sms")]),
                "flow_revenue": _money(kind[(day, "flow")]),
                "campaign_revenue": _money(kind[(day, "campaign")]),
                "total_orders": len(orders),
                "email_orders": 0,
                "sms_orders": 0,
                "avg_order_value": _money(revenue / len(orders) if orders else 0),
                "unique_customers": len({o["customer_email"] for o in orders}),
                "new_customers": sum(o["is_first_order"] for o in orders),
                "repeat_customers": 0,
                "new_customer_revenue": Decimal("0"),
                "repeat_customer_revenue": Decimal("0"),
                "total_emails_sent": int(sent[(day, "email")]),
                "total_sms_sent": int(sent[(day, "sms")]),
                "total_opens": 0,
                "total_clicks": 0,
                "revenue_per_email": Decimal("0"),
                "revenue_per_sms": Decimal("0"),
                "revenue_per_recipient": Decimal("0"),
                "revenue_growth_pct": 0.0,
                "order_growth_pct": 0.0,
                "customer_growth_pct": 0.0,
                "timestamp": NOW,
            }
        )
    per_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for o in ds.orders:
        if o["order_id"] not in cancelled:
            per_customer[o["customer_email"]].append(o)
    for i, (email, orders) in enumerate(sorted(per_customer.items())):
        revenue = sum(float(o["order_value"]) for o in orders)
        last = max(o["order_date"] for o in orders)
        r, f = 1 + i % 5, 1 + (i // 5) % 5
        ds.customers.append(
            {
                "klaviyo_public_id": kid,
                "customer_email": email,
                "customer_id": orders[0]["customer_id"],
                "total_orders": len(orders),
                "total_revenue": _money(revenue),
                "total_refunds": Decimal("0"),
                "net_revenue": _money(revenue),
                "avg_order_value": _money(revenue / len(orders)),
                "first_order_date": min(o["order_date"] for o in orders),
                "last_order_date": last,
                "days_since_last_order": (ds.today - last).days,
                "avg_days_between_orders": 7.0,
                "recency_score": r,
                "frequency_score": f,
                "monetary_score": 1 + (i // 3) % 5,
                "rfm_score": f"{r}{f}3",
                "rfm_segment": RFM_SEGMENTS[i % len(RFM_SEGMENTS)],
                "favorite_category": "Kitchen",
                "favorite_brand": "Northwind",
                "categories_purchased": ["Kitchen"],
                "brands_purchased": ["Northwind"],
                "unique_products_purchased": 3,
                "discount_usage_rate": 0.0,
                "avg_discount_amount": Decimal("0"),
                "weekend_buyer": 0,
                "preferred_order_hour": 12,
                "churn_risk_score": round(rng.random(), 3),
                "customer_age_days": 90,
                "last_updated": NOW,
            }
        )
    order_day = {o["order_id"]: o["order_date"] for o in ds.orders}
    for rank, (pid, name, cat, brand, price) in enumerate(PRODUCTS, start=1):
        items = [
            li
            for li in ds.line_items
            if li["product_id"] == pid and li["order_id"] not in cancelled
        ]

        def window(days: int, items: list[dict[str, Any]] = items) -> list[dict[str, Any]]:
            return [li for li in items if (ds.today - order_day[li["order_id"]]).days < days]

        product: dict[str, Any] = {
            "klaviyo_public_id": kid,
            "product_id": pid,
            "product_name": name,
            "sku": pid.upper(),
            "brand": brand,
            "category": cat,
            "collections": [cat],
            "tags": [],
            "avg_price": _money(price),
            "min_price": _money(price),
            "max_price": _money(price),
        }
        for w in (30, 60, 90):
            sel = window(w)
            product[f"revenue_{w}d"] = _money(sum(float(li["line_total"]) for li in sel))
            product[f"quantity_sold_{w}d"] = sum(li["quantity"] for li in sel)
            product[f"unique_customers_{w}d"] = len({li["order_id"] for li in sel})
        product.update(
            {
                "conversion_rate": 0.0,
                "repurchase_rate": round(rng.random() / 2, 3),
                "avg_units_per_order": 1.5,
                "revenue_per_customer": Decimal("0"),
                "first_sold_date": ds.today - timedelta(days=ds.days - 1),
                "last_sold_date": ds.today,
                "days_on_market": ds.days,
                "velocity_score": round(product["quantity_sold_30d"] / 30, 3),
                "revenue_rank": rank,
                "quantity_rank": rank,
                "discount_rate": 0.0,
                "avg_discount_amount": Decimal("0"),
                "last_updated": NOW,
            }
        )
        ds.products.append(product)
    names = {p[0]: p[1] for p in PRODUCTS}
    for i, (a, b) in enumerate(PAIRS + (("p-mug", "p-beans"),)):
        for x, y in ((a, b), (b, a)):
            ds.relationships.append(
                {
                    "klaviyo_public_id": kid,
                    "product_a": x,
                    "product_b": y,
                    "product_a_name": names[x],
                    "product_b_name": names[y],
                    "co_purchase_count": 40 - i * 5,
                    "confidence": round(0.6 - i * 0.07, 3),
                    "lift": round(3.5 - i * 0.4 + (0.05 if x == a else 0), 3),
                    "support": round(0.1 - i * 0.01, 3),
                    "first_co_purchase": ds.today - timedelta(days=80),
                    "last_co_purchase": ds.today,
                    "relationship_type": "frequently_bought",
                    "calculated_at": NOW,
                }
            )
