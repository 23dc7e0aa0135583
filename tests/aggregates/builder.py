"""A small deterministic store for the aggregate tests, loaded straight into the warehouse.

The data has known structure: planted product bundles, stale duplicate versions of some rows
(only FINAL reads see the right values), cancellations (one of them a customer's only order, one
dated after the as-of day), partial and repeated refunds, orders after the as-of day, campaign
and flow statistics over email/SMS/push including a zero-recipient campaign, and campaign tags.
The same rows are kept as pandas frames for the reference implementations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd

from klaviyo_analytics.aggregates import save_campaign_tags
from klaviyo_analytics.warehouse import Warehouse

STORE = "StoreA"
OTHER_STORE = "StoreB"
TZ = "America/New_York"
AS_OF = date(2024, 6, 30)
SYNCED = datetime(2024, 7, 1, 12, 0, 0)
CATEGORIES = ["Shirts", "Pants", "Shoes", "Hats", "Socks", "Bags"]
BRANDS = ["Acme", "Bolt", "Crest", "Dune"]
#: Planted bundles: when the first product is bought, the second joins the basket 85% of the time.
BUNDLES = [("P012", "P033"), ("P018", "P027"), ("P025", "P038")]

ORDER_COLUMNS = [
    "klaviyo_public_id",
    "order_id",
    "customer_id",
    "customer_email",
    "order_value",
    "order_date",
    "order_timestamp",
    "item_count",
    "product_count",
    "is_first_order",
    "order_count_for_customer",
    "days_since_last_order",
    "channel",
    "device_type",
    "discount_amount",
    "discount_code",
    "discount_type",
    "synced_at",
    "inserted_at",
]
LINE_COLUMNS = [
    "klaviyo_public_id",
    "order_id",
    "line_item_id",
    "product_id",
    "variant_id",
    "product_name",
    "product_brand",
    "sku",
    "collections",
    "product_type",
    "quantity",
    "unit_price",
    "line_total",
    "discount_amount",
    "discount_per_item",
    "synced_at",
    "inserted_at",
]
REFUND_COLUMNS = [
    "klaviyo_public_id",
    "event_id",
    "event_timestamp",
    "event_type",
    "original_order_id",
    "original_order_timestamp",
    "customer_id",
    "customer_email",
    "refund_amount",
    "refund_reason",
    "synced_at",
    "inserted_at",
]
STAT_METRICS = [
    "recipients",
    "delivered",
    "bounced",
    "failed",
    "opens",
    "opens_unique",
    "clicks",
    "clicks_unique",
    "conversions",
    "conversion_uniques",
    "conversion_value",
    "unsubscribes",
    "open_rate_pct",
    "click_rate_pct",
    "conversion_rate_pct",
    "unsubscribe_rate_pct",
    "bounce_rate_pct",
    "delivery_rate_pct",
]
CAMPAIGN_COLUMNS = [
    "klaviyo_public_id",
    "campaign_id",
    "campaign_name",
    "send_channel",
    "date",
    *STAT_METRICS,
    "updated_at",
]
FLOW_COLUMNS = [
    "klaviyo_public_id",
    "flow_id",
    "flow_name",
    "flow_message_id",
    "flow_message_name",
    "send_channel",
    "date",
    *STAT_METRICS,
    "updated_at",
]


@dataclass
class Products:
    """The catalogue: id → (name, category, brand, price in cents)."""

    rows: dict[str, tuple[str, str, str, int]] = field(default_factory=dict)


def _catalogue(n_products: int) -> Products:
    cat = Products()
    for i in range(1, n_products + 1):
        pid = f"P{i:03d}"
        category = CATEGORIES[i % len(CATEGORIES)]
        cat.rows[pid] = (f"Product {i}", category, BRANDS[i % len(BRANDS)], 500 + (i * 137) % 4500)
    return cat


@dataclass
class StoreData:
    """Rows of every synced table, as inserted (including stale versions)."""

    orders: pd.DataFrame
    lines: pd.DataFrame
    refunds: pd.DataFrame
    campaigns: pd.DataFrame
    flows: pd.DataFrame
    tags: dict[str, list[str]]
    store: str = STORE
    tz: str = TZ
    as_of: date = AS_OF


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def build_store(
    seed: int = 7,
    store: str = STORE,
    n_customers: int = 250,
    n_orders: int = 1500,
    n_products: int = 40,
    days: int = 160,
    as_of: date = AS_OF,
    tz: str = TZ,
) -> StoreData:
    """Generate one store's synced rows deterministically."""
    rng = np.random.default_rng(seed)
    cat = _catalogue(n_products)
    product_ids = list(cat.rows)
    weights = 1.0 / np.arange(1, n_products + 1) ** 0.6
    weights /= weights.sum()
    bundle_of = dict(BUNDLES)
    customers = [(f"C{i:04d}", f"c{i:04d}@example.com") for i in range(n_customers)]
    activity = rng.pareto(1.5, n_customers) + 0.2
    activity /= activity.sum()
    start = datetime.combine(as_of, datetime.min.time()) - timedelta(days=days)
    # Orders: some after the as-of day (must not count), timestamps in UTC.
    stamps = sorted(
        start + timedelta(seconds=int(s)) for s in rng.integers(0, (days + 5) * 86400, n_orders)
    )
    owners = rng.choice(n_customers, size=n_orders, p=activity)
    order_rows: list[list[object]] = []
    line_rows: list[list[object]] = []
    seen: dict[int, list[datetime]] = {}
    line_seq = 0
    for k, (ts, owner) in enumerate(zip(stamps, owners, strict=True)):
        cid, email = customers[owner]
        if owner % 23 == 5:
            email = ""  # a few profiles without email (SMS-only)
        order_id = f"{store}-O{k:05d}"
        n_lines = int(rng.integers(1, 6))
        basket = list(rng.choice(product_ids, size=n_lines, replace=False, p=weights))
        for pid in list(basket):
            partner = bundle_of.get(pid)
            if partner and partner not in basket and rng.random() < 0.85:
                basket.append(partner)
        if rng.random() < 0.05:
            basket.append(basket[0])  # the same product on two lines of one order
        gross = 0
        discount_total = 0
        for pid in basket:
            name, category, brand, price = cat.rows[pid]
            qty = int(rng.integers(1, 4))
            line_total = price * qty
            disc = int(line_total * 0.1) if rng.random() < 0.2 else 0
            gross += line_total
            discount_total += disc
            line_seq += 1
            line_rows.append(
                [
                    store,
                    order_id,
                    f"L{line_seq:06d}",
                    pid,
                    f"{pid}-V1",
                    name,
                    brand,
                    f"SKU-{pid}",
                    [category, "All"],
                    category,
                    qty,
                    _money(price),
                    _money(line_total),
                    _money(disc),
                    _money(disc // qty),
                    SYNCED,
                    SYNCED,
                ]
            )
        history = seen.setdefault(owner, [])
        is_first = 0 if history else 1
        days_since = (ts - history[-1]).days if history else -1
        history.append(ts)
        order_rows.append(
            [
                store,
                order_id,
                cid,
                email,
                _money(gross - discount_total),
                ts.date(),
                ts,
                sum(int(str(r[10])) for r in line_rows[-len(basket) :]),
                len(set(basket)),
                is_first,
                len(history),
                days_since,
                "web",
                "desktop",
                _money(discount_total),
                "SAVE10" if discount_total else "",
                "percentage" if discount_total else "",
                SYNCED,
                SYNCED,
            ]
        )
    orders = pd.DataFrame(order_rows, columns=ORDER_COLUMNS)
    lines = pd.DataFrame(line_rows, columns=LINE_COLUMNS)

    # Stale versions: an older copy of some orders and lines with wrong values.
    stale_orders = orders.iloc[::17].copy()
    stale_orders["order_value"] = stale_orders["order_value"].map(lambda v: v + Decimal("999"))
    stale_orders["inserted_at"] = SYNCED - timedelta(days=1)
    stale_lines = lines.iloc[::19].copy()
    stale_lines["quantity"] = 77
    stale_lines["inserted_at"] = SYNCED - timedelta(days=1)

    counted = orders[orders["order_timestamp"].dt.date < as_of - timedelta(days=1)]
    refund_rows: list[list[object]] = []
    event = 0

    def add(kind: str, order: pd.Series, amount: Decimal, when: datetime) -> None:
        nonlocal event
        event += 1
        refund_rows.append(
            [
                store,
                f"E{event:05d}",
                when,
                kind,
                order["order_id"],
                order["order_timestamp"],
                order["customer_id"],
                order["customer_email"],
                amount,
                "customer",
                SYNCED,
                SYNCED,
            ]
        )

    for _, order in counted.iloc[3::29].iterrows():  # cancellations
        add("cancelled", order, order["order_value"], order["order_timestamp"] + timedelta(hours=5))
    for i, (_, order) in enumerate(counted.iloc[5::13].iterrows()):  # refunds
        when = order["order_timestamp"] + timedelta(days=2)
        if i % 4 == 0:
            add("refund", order, order["order_value"], when)  # full refund
        else:
            add(
                "refund",
                order,
                (order["order_value"] * Decimal("0.3")).quantize(Decimal("0.01")),
                when,
            )
            if i % 4 == 1:  # a second partial refund of the same order
                add("refund", order, Decimal("1.00"), when + timedelta(days=1))
    # A customer whose only order is cancelled, and a cancellation after the as-of day.
    lonely = datetime.combine(as_of, datetime.min.time()) - timedelta(days=40)
    order_rows_extra = [
        store,
        f"{store}-OLONE",
        "CLONE",
        "lonely@example.com",
        Decimal("50.00"),
        lonely.date(),
        lonely,
        1,
        1,
        1,
        1,
        -1,
        "web",
        "mobile",
        Decimal("0.00"),
        "",
        "",
        SYNCED,
        SYNCED,
    ]
    orders = pd.concat([orders, pd.DataFrame([order_rows_extra], columns=ORDER_COLUMNS)])
    lines = pd.concat(
        [
            lines,
            pd.DataFrame(
                [
                    [
                        store,
                        f"{store}-OLONE",
                        "LLONE",
                        "P005",
                        "P005-V1",
                        cat.rows["P005"][0],
                        cat.rows["P005"][2],
                        "SKU-P005",
                        [cat.rows["P005"][1]],
                        cat.rows["P005"][1],
                        1,
                        Decimal("50.00"),
                        Decimal("50.00"),
                        Decimal("0.00"),
                        Decimal("0.00"),
                        SYNCED,
                        SYNCED,
                    ]
                ],
                columns=LINE_COLUMNS,
            ),
        ]
    )
    add("cancelled", orders.iloc[-1], Decimal("50.00"), lonely + timedelta(hours=1))
    late = counted.iloc[-1]
    add(
        "cancelled",
        late,
        late["order_value"],
        datetime.combine(as_of, datetime.min.time()) + timedelta(days=3),
    )
    refunds = pd.DataFrame(refund_rows, columns=REFUND_COLUMNS)

    campaigns, flows, tags = _statistics(rng, store, as_of)
    return StoreData(
        orders=pd.concat([stale_orders, orders], ignore_index=True),
        lines=pd.concat([stale_lines, lines], ignore_index=True),
        refunds=refunds,
        campaigns=campaigns,
        flows=flows,
        tags=tags,
        store=store,
        as_of=as_of,
        tz=tz,
    )


def _stat_values(rng: np.random.Generator, recipients: int) -> list[float]:
    delivered = float(int(recipients * 0.97))
    opens_u = float(int(delivered * rng.uniform(0.2, 0.5)))
    clicks_u = float(int(opens_u * rng.uniform(0.05, 0.3)))
    conv_u = float(int(clicks_u * rng.uniform(0.0, 0.4)))
    value = round(conv_u * float(rng.uniform(20, 90)), 2)

    def pct(a: float, b: float) -> float:
        return round(a / b * 100, 4) if b else 0.0

    return [
        float(recipients),
        delivered,
        float(recipients) - delivered,
        0.0,
        opens_u * 1.3,
        opens_u,
        clicks_u * 1.2,
        clicks_u,
        conv_u,
        conv_u,
        value,
        float(int(delivered * 0.002)),
        pct(opens_u, delivered),
        pct(clicks_u, delivered),
        pct(conv_u, delivered),
        pct(int(delivered * 0.002), delivered),
        pct(recipients - delivered, recipients),
        pct(delivered, recipients),
    ]


def _statistics(
    rng: np.random.Generator, store: str, as_of: date
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, list[str]]]:
    tag_pool = ["sale", "newsletter", "vip", "launch", "winback"]
    camp_rows: list[list[object]] = []
    tags: dict[str, list[str]] = {}
    first = as_of - timedelta(days=60)
    for k in range(70):
        day = first + timedelta(days=int(rng.integers(0, 64)))  # a few after the as-of day
        channel = ["email", "email", "sms", "push"][k % 4]
        recipients = 0 if k == 7 else int(rng.integers(200, 5000))
        cid = f"{store}-CMP{k:03d}"
        camp_rows.append(
            [
                store,
                cid,
                f"Campaign {k}",
                channel,
                day,
                *_stat_values(rng, recipients),
                SYNCED,
            ]
        )
        if k % 5 != 4:
            tags[cid] = sorted(set(rng.choice(tag_pool, size=int(rng.integers(1, 3))).tolist()))
    # A day where one campaign has no recipients at all and nothing else was sent.
    camp_rows.append(
        [
            store,
            f"{store}-CMPZERO",
            "Zero",
            "email",
            first - timedelta(days=3),
            *_stat_values(rng, 0),
            SYNCED,
        ]
    )
    campaigns = pd.DataFrame(camp_rows, columns=CAMPAIGN_COLUMNS)
    stale = campaigns.iloc[::9].copy()
    stale["conversion_value"] = 123456.0
    stale["updated_at"] = SYNCED - timedelta(days=1)
    flow_rows: list[list[object]] = []
    for f in range(3):
        for m in range(2):
            channel = "sms" if (f, m) == (2, 1) else "email"
            for d in range(0, 62, 2):
                day = first + timedelta(days=d)
                flow_rows.append(
                    [
                        store,
                        f"FL{f}",
                        f"Flow {f}",
                        f"FL{f}-M{m}",
                        f"Message {m}",
                        channel,
                        day,
                        *_stat_values(rng, int(rng.integers(20, 400))),
                        SYNCED,
                    ]
                )
    flows = pd.DataFrame(flow_rows, columns=FLOW_COLUMNS)
    return pd.concat([stale, campaigns], ignore_index=True), flows, tags


def load(warehouse: Warehouse, data: StoreData) -> None:
    """Insert a store's rows into the synced tables (and its campaign tags)."""
    for table, frame in (
        ("klaviyo_orders", data.orders),
        ("klaviyo_order_line_items", data.lines),
        ("refund_cancelled_orders", data.refunds),
        ("campaign_statistics", data.campaigns),
        ("flow_statistics", data.flows),
    ):
        if len(frame):
            warehouse.insert_rows(table, frame.values.tolist(), list(frame.columns))
    save_campaign_tags(warehouse, data.store, data.tags)


def order_row(
    store: str,
    order_id: str,
    email: str,
    ts: datetime,
    value: str,
    *,
    first: int = 0,
    discount: str = "0.00",
    customer_id: str | None = None,
    inserted: datetime = SYNCED,
) -> list[object]:
    """One ``klaviyo_orders`` row (columns of :data:`ORDER_COLUMNS`)."""
    return [
        store,
        order_id,
        customer_id or f"id-{email}",
        email,
        Decimal(value),
        ts.date(),
        ts,
        1,
        1,
        first,
        1,
        -1,
        "web",
        "desktop",
        Decimal(discount),
        "",
        "",
        SYNCED,
        inserted,
    ]


def line_row(
    store: str,
    order_id: str,
    line_id: str,
    product_id: str,
    value: str,
    *,
    category: str = "Shirts",
    brand: str = "Acme",
    inserted: datetime = SYNCED,
) -> list[object]:
    """One ``klaviyo_order_line_items`` row with quantity 1 (columns of :data:`LINE_COLUMNS`)."""
    return [
        store,
        order_id,
        line_id,
        product_id,
        f"{product_id}-V1",
        f"Name {product_id}",
        brand,
        f"SKU-{product_id}",
        [category],
        category,
        1,
        Decimal(value),
        Decimal(value),
        Decimal("0.00"),
        Decimal("0.00"),
        SYNCED,
        inserted,
    ]


def refund_row(
    store: str, event_id: str, kind: str, order_id: str, email: str, ts: datetime, amount: str
) -> list[object]:
    """One ``refund_cancelled_orders`` row (columns of :data:`REFUND_COLUMNS`)."""
    return [
        store,
        event_id,
        ts,
        kind,
        order_id,
        ts,
        f"id-{email}",
        email,
        Decimal(amount),
        "other",
        SYNCED,
        SYNCED,
    ]


def campaign_row(
    store: str, campaign_id: str, channel: str, day: date, recipients: float, revenue: float
) -> list[object]:
    """One ``campaign_statistics`` row (columns of :data:`CAMPAIGN_COLUMNS`)."""
    delivered = recipients
    values = [
        recipients,
        delivered,
        0.0,
        0.0,
        delivered / 2,
        delivered / 2,
        delivered / 10,
        delivered / 10,
        revenue / 50,
        revenue / 50,
        revenue,
        0.0,
        50.0 if delivered else 0.0,
        10.0 if delivered else 0.0,
        0.0,
        0.0,
        0.0,
        100.0 if recipients else 0.0,
    ]
    return [store, campaign_id, f"Campaign {campaign_id}", channel, day, *values, SYNCED]


def insert(warehouse: Warehouse, table: str, rows: list[list[object]], columns: list[str]) -> None:
    """Insert rows given in one of the column orders above."""
    warehouse.insert_rows(table, rows, columns)
