"""Events of a store as sorted streams, one per metric, and their JSON:API payloads.

A stream knows the datetimes of its events (from the store's column index) and turns a range of
positions into event objects only when a page asks for them, so serving any page of a million-
order store costs the same and never materialises the rest.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import numpy as np
import numpy.typing as npt
import orjson

from klaviyo_analytics.simulator.catalog import LOCATIONS, customer
from klaviyo_analytics.simulator.ids import mix, short_id, splitmix
from klaviyo_analytics.simulator.marketing import CHANNEL_TO_REPORT
from klaviyo_analytics.simulator.render import FAST_KEYS, OrderRenderer
from klaviyo_analytics.simulator.store import (
    CANCEL_REASONS,
    DISCOUNTS,
    OTHER_UTMS,
    REFUND_REASONS,
    SOURCES,
    USER_AGENTS,
    DayBatch,
    Store,
)

I64 = npt.NDArray[np.int64]
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class MetricDef:
    """One metric of an account.

    Attributes:
        key: internal stream key (``placed``, ``ordered``, ``refunded`` ...).
        id: metric id.
        name: metric name.
        integration: integration name (``Shopify``, ``API``, ``Klaviyo``).
        category: integration category.
        created: creation time, ISO.
    """

    key: str
    id: str
    name: str
    integration: str
    category: str
    created: str


METRIC_TABLE: list[tuple[str, str, str, str]] = [
    ("placed", "Placed Order", "Shopify", "eCommerce"),
    ("ordered", "Ordered Product", "Shopify", "eCommerce"),
    ("refunded", "Refunded Order", "Shopify", "eCommerce"),
    ("cancelled", "Cancelled Order", "Shopify", "eCommerce"),
    ("fulfilled", "Fulfilled Order", "Shopify", "eCommerce"),
    ("checkout", "Checkout Started", "Shopify", "eCommerce"),
    ("api_placed", "Placed Order", "API", "API"),
    ("api_canceled", "Canceled Order", "API", "API"),
    ("received_email", "Received Email", "Klaviyo", "Internal"),
    ("opened_email", "Opened Email", "Klaviyo", "Internal"),
    ("clicked_email", "Clicked Email", "Klaviyo", "Internal"),
]


def metric_defs(store: Store) -> list[MetricDef]:
    """The metrics of a store's account, in a stable order."""
    out = []
    for i, (key, name, integration, category) in enumerate(METRIC_TABLE):
        created_ts = store.start_ts - 86_400 * (40 - i)
        if integration == "API":
            created_ts = store.anchor_ts - 86_400 * (90 - i)
        out.append(
            MetricDef(
                key=key,
                id=short_id(store.seed, store.account, "metric", key),
                name=name,
                integration=integration,
                category=category,
                created=datetime.fromtimestamp(created_ts, UTC).isoformat(),
            )
        )
    return out


def _b62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_ALNUM[r])
    return "".join(out)


def _uuid(n: int) -> str:
    h = f"{splitmix(n):016x}{splitmix(n ^ 0x5DEECE66D):016x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


def money(cents: int) -> str:
    """Cents as a Shopify decimal string."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


class EventSource:
    """All event streams of one store and the code that renders their events.

    Args:
        store: the store.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.metrics = metric_defs(store)
        self.by_key = {m.key: m for m in self.metrics}
        self.by_id = {m.id: m for m in self.metrics}
        self._salt = mix(store.seed, store.account, "event-ids")
        self._decoys = self._build_decoys()
        self.renderer = OrderRenderer(self)

    # -- stream geometry ---------------------------------------------------------------------

    def count(self, key: str) -> int:
        """Number of events of a stream over the whole window (visible or not)."""
        s = self.store
        if key == "placed":
            return len(s.order_ts)
        if key == "ordered":
            return int(s.line_cum[-1])
        if key == "refunded":
            return len(s.r_ts)
        if key == "cancelled":
            return len(s.c_ts)
        if key == "fulfilled":
            return len(s.f_ts)
        if key in self._decoys:
            return len(self._decoys[key])
        return 0

    def search(self, key: str, ts: float, side: str) -> int:
        """Position of ``ts`` in a stream (like :func:`numpy.searchsorted`)."""
        s = self.store
        sd: Any = side
        if key == "placed":
            return int(np.searchsorted(s.order_ts, ts, side=sd))
        if key == "ordered":
            return int(s.line_cum[int(np.searchsorted(s.order_ts, ts, side=sd))])
        if key == "refunded":
            return int(np.searchsorted(s.r_ts, ts, side=sd))
        if key == "cancelled":
            return int(np.searchsorted(s.c_ts, ts, side=sd))
        if key == "fulfilled":
            return int(np.searchsorted(s.f_ts, ts, side=sd))
        if key in self._decoys:
            arr = np.array([d[0] for d in self._decoys[key]], dtype=np.int64)
            return int(np.searchsorted(arr, ts, side=sd))
        return 0

    def ts_slice(self, key: str, lo: int, hi: int) -> I64:
        """Epoch seconds of the events at positions ``lo`` to ``hi`` of a stream."""
        s = self.store
        if hi <= lo:
            return np.zeros(0, dtype=np.int64)
        if key == "placed":
            return s.order_ts[lo:hi]
        if key == "ordered":
            orders = np.searchsorted(s.line_cum, np.arange(lo, hi), side="right") - 1
            return s.order_ts[orders]
        if key == "refunded":
            return s.r_ts[lo:hi]
        if key == "cancelled":
            return s.c_ts[lo:hi]
        if key == "fulfilled":
            return s.f_ts[lo:hi]
        if key in self._decoys:
            return np.array([d[0] for d in self._decoys[key][lo:hi]], dtype=np.int64)
        return np.zeros(0, dtype=np.int64)

    def customers_slice(self, key: str, lo: int, hi: int, pos: I64 | None = None) -> I64:
        """Customer numbers of the events at positions ``lo`` to ``hi`` (for profile filters),
        or at the positions ``pos`` when given (not for decoy streams)."""
        s = self.store
        sel: Any = slice(lo, hi) if pos is None else pos
        if key == "placed":
            return np.asarray(s.order_customer[sel], dtype=np.int64)
        if key == "ordered":
            at = np.arange(lo, hi) if pos is None else pos
            orders = np.searchsorted(s.line_cum, at, side="right") - 1
            return np.asarray(s.order_customer[orders], dtype=np.int64)
        table = {"refunded": s.r_order, "cancelled": s.c_order, "fulfilled": s.f_order}
        if key in table:
            return np.asarray(s.order_customer[table[key][sel]], dtype=np.int64)
        if key in self._decoys:
            return np.array([d[1] for d in self._decoys[key][lo:hi]], dtype=np.int64)
        return np.zeros(0, dtype=np.int64)

    def event_key(self, key: str, pos: int) -> int:
        """A stable integer identifying the event (independent of the window start)."""
        s = self.store
        kinds = {"placed": 1, "ordered": 2, "refunded": 3, "cancelled": 4, "fulfilled": 5}
        if key == "placed":
            return s.order_id(pos) * 64 * 8 + kinds[key]
        if key == "ordered":
            order = int(np.searchsorted(s.line_cum, pos, side="right")) - 1
            line = pos - int(s.line_cum[order])
            return (s.order_id(order) * 64 + line) * 8 + kinds[key]
        if key == "refunded":
            return (s.order_id(int(s.r_order[pos])) * 64 + int(s.r_seq[pos])) * 8 + 3
        if key == "cancelled":
            return s.order_id(int(s.c_order[pos])) * 64 * 8 + 4
        if key == "fulfilled":
            return s.order_id(int(s.f_order[pos])) * 64 * 8 + 5
        return (pos + 1) * 8 + 6 + (key == "api_canceled")

    # -- rendering ---------------------------------------------------------------------------

    def render_json(self, page: list[tuple[str, int]], base_url: str) -> list[str]:
        """JSON text of the events of a page, in page order (fast path for Shopify orders)."""
        keys = {k for k, _ in page}
        if len(keys) == 1 and page[0][0] in FAST_KEYS:
            return self.renderer.render(page[0][0], [p for _, p in page], base_url)
        out = [""] * len(page)
        slots: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(page):
            slots.setdefault(key, []).append(i)
        for key, idx in slots.items():
            positions = [page[i][1] for i in idx]
            if key in FAST_KEYS:
                texts = self.renderer.render(key, positions, base_url)
            else:
                texts = [orjson.dumps(e).decode() for e in self.render(key, positions, base_url)]
            for i, text in zip(idx, texts, strict=True):
                out[i] = text
        return out

    def customers_of(self, page: list[tuple[str, int]]) -> list[int]:
        """Customer numbers behind the events of a page, in page order."""
        key = page[0][0] if page else ""
        if key in ("placed", "refunded", "cancelled", "fulfilled") and {k for k, _ in page} == {
            key
        }:
            pos = np.array([p for _, p in page], dtype=np.int64)
            numbers: list[int] = self.customers_slice(key, 0, 0, pos).tolist()
            return numbers
        out = [0] * len(page)
        slots: dict[str, list[int]] = {}
        for i, (key, _) in enumerate(page):
            slots.setdefault(key, []).append(i)
        for key, idx in slots.items():
            if key == "ordered" or key in self._decoys:
                custs = [self.profile_of(key, page[i][1]) for i in idx]
            else:
                pos = np.array([page[i][1] for i in idx], dtype=np.int64)
                custs = self.customers_slice(key, 0, 0, pos).tolist()
            for i, c in zip(idx, custs, strict=True):
                out[i] = int(c)
        return out

    def render(self, key: str, positions: list[int], base_url: str) -> list[dict[str, Any]]:
        """JSON:API event objects for positions of a stream."""
        metric = self.by_key[key]
        out = []
        for pos in positions:
            ts, cust_no, props = self._payload(key, pos)
            ek = self.event_key(key, pos)
            h = splitmix(ek ^ self._salt)
            eid = _b62(h, 11)
            prof = customer(self.store.seed, self.store.account, cust_no).profile_id
            out.append(
                {
                    "type": "event",
                    "id": eid,
                    "attributes": {
                        "timestamp": ts,
                        "event_properties": props,
                        "datetime": datetime.fromtimestamp(ts, UTC).isoformat(),
                        "uuid": _uuid(h),
                    },
                    "relationships": {
                        "profile": {"data": {"type": "profile", "id": prof}},
                        "metric": {"data": {"type": "metric", "id": metric.id}},
                    },
                    "links": {"self": f"{base_url}/api/events/{eid}/"},
                }
            )
        return out

    def profile_of(self, key: str, pos: int) -> int:
        """Customer number behind an event."""
        return int(self.customers_slice(key, pos, pos + 1)[0])

    def _payload(self, key: str, pos: int) -> tuple[int, int, dict[str, Any]]:
        s = self.store
        if key == "placed":
            props = self.order_properties(pos)
            return int(s.order_ts[pos]), int(s.order_customer[pos]), props
        if key == "ordered":
            order = int(np.searchsorted(s.line_cum, pos, side="right")) - 1
            line = pos - int(s.line_cum[order])
            return (
                int(s.order_ts[order]),
                int(s.order_customer[order]),
                self._line_props(order, line),
            )
        if key == "refunded":
            order = int(s.r_order[pos])
            return int(s.r_ts[pos]), int(s.order_customer[order]), self._refund_props(pos)
        if key == "cancelled":
            order = int(s.c_order[pos])
            return int(s.c_ts[pos]), int(s.order_customer[order]), self._cancel_props(pos)
        if key == "fulfilled":
            order = int(s.f_order[pos])
            props = self.order_properties(order)
            hours = (int(s.f_ts[pos]) - int(s.order_ts[order])) / 3600
            props["Fulfillment Hours"] = round(hours, 1)
            props["Fulfillment Status"] = "fulfilled"
            return int(s.f_ts[pos]), int(s.order_customer[order]), props
        ts, cust_no, props = self._decoys[key][pos]
        return ts, cust_no, dict(props)

    def _line_dicts(self, batch: DayBatch, local: int) -> list[dict[str, Any]]:
        cat = self.store.catalog
        lo = int(batch.line_start[local])
        hi = int(batch.line_start[local + 1])
        order_id = self._order_id_for(batch, local)
        lines = []
        for j in range(lo, hi):
            v = int(batch.line_variant[j])
            variant = cat.variants[v]
            product = cat.products[variant["product_index"]]
            qty = int(batch.line_qty[j])
            price = int(batch.line_price[j])
            lines.append(
                {
                    "id": order_id * 100 + (j - lo),
                    "product_id": product["id"],
                    "variant_id": variant["id"],
                    "title": product["title"],
                    "name": f"{product['title']} - {variant['title']}",
                    "variant_title": variant["title"],
                    "sku": variant["sku"],
                    "vendor": product["vendor"],
                    "quantity": qty,
                    "price": money(price),
                    "total_discount": money(int(batch.line_disc[j])),
                    "line_price": money(price * qty),
                    "product": product,
                }
            )
        return lines

    def _order_id_for(self, batch: DayBatch, local: int) -> int:
        s = self.store
        return s.order_id(int(s.day_start[batch.day - s.first_day]) + local)

    def order_properties(self, pos: int) -> dict[str, Any]:
        """``event_properties`` of the Placed Order event of global order ``pos``."""
        s = self.store
        batch, local = s.locate(pos)
        order_id = s.order_id(pos)
        cust = customer(s.seed, s.account, int(s.order_customer[pos]))
        lines = self._line_dicts(batch, local)
        ts = int(s.order_ts[pos])
        created = datetime.fromtimestamp(ts, UTC).isoformat()
        d = int(batch.discount[local])
        codes: list[dict[str, str]] = []
        if d >= 0:
            code, kind, _ = DISCOUNTS[d]
            codes.append({"code": code, "amount": money(int(batch.discounts[local])), "type": kind})
        kind_attr = int(s.attr_kind[pos])
        target = int(s.attr_target[pos])
        if kind_attr == 1:
            camp = s.marketing.campaigns[target]
            utm = ("klaviyo", CHANNEL_TO_REPORT[camp.channel], camp.name)
        elif kind_attr == 2:
            msg = s.marketing.flow_messages[target]
            flow = s.marketing.flows[msg.flow_index]
            utm = ("klaviyo", msg.channel, f"{flow.name} - {msg.name}")
        else:
            utm = OTHER_UTMS[int(batch.utm[local])]
        handle = lines[0]["product"]["handle"]
        landing = f"/products/{handle}"
        if utm[0]:
            landing += f"?utm_source={quote_plus(utm[0])}&utm_medium={quote_plus(utm[1])}"
            if utm[2]:
                landing += f"&utm_campaign={quote_plus(utm[2])}"
        loc = LOCATIONS[cust.location]
        value = int(s.order_value[pos])
        tags = ["simulated"]
        if kind_attr:
            tags.append("klaviyo")
        collections = sorted({c for line in lines for c in line["product"]["collections"]})
        extra = {
            "id": order_id,
            "name": f"#{1001 + pos}",
            "email": cust.email,
            "currency": "USD",
            "created_at": created,
            "processed_at": created,
            "total_price": money(value),
            "subtotal_price": money(value),
            "total_line_items_price": money(int(batch.subtotal[local])),
            "total_discounts": money(int(batch.discounts[local])),
            "total_tax": "0.00",
            "financial_status": "paid",
            "discount_codes": codes,
            "tags": ", ".join(tags),
            "customer": {
                "id": cust.shopify_id,
                "email": cust.email,
                "first_name": cust.first_name,
                "last_name": cust.last_name,
                "tags": ", ".join(cust.tags),
                "orders_count": int(s.order_seq[pos]),
                "total_spent": money(int(s.order_spent[pos])),
            },
            "shipping_address": {
                "first_name": cust.first_name,
                "last_name": cust.last_name,
                "city": loc[0],
                "province": loc[1],
                "province_code": loc[2],
                "country": loc[3],
                "country_code": loc[4],
                "zip": cust.zip,
            },
            "client_details": {"user_agent": USER_AGENTS[int(batch.device[local])]},
            "landing_site": landing,
            "source_name": SOURCES[int(batch.source[local])],
            "line_items": lines,
        }
        return {
            "$value": value / 100,
            "$event_id": str(order_id),
            "$currency_code": "USD",
            "Items": [line["title"] for line in lines],
            "Collections": collections,
            "Item Count": int(s.order_qty[pos]),
            "Discount Codes": [c["code"] for c in codes],
            "Total Discounts": money(int(batch.discounts[local])),
            "Source Name": SOURCES[int(batch.source[local])],
            "$extra": extra,
        }

    def _line_props(self, order: int, line: int) -> dict[str, Any]:
        s = self.store
        batch, local = s.locate(order)
        item = self._line_dicts(batch, local)[line]
        product = item["product"]
        order_id = s.order_id(order)
        return {
            "$value": int(batch.line_price[int(batch.line_start[local]) + line])
            * item["quantity"]
            / 100,
            "$event_id": f"{order_id}:{item['id']}:0",
            "$currency_code": "USD",
            "Name": item["title"],
            "Variant Name": item["variant_title"],
            "SKU": item["sku"],
            "ProductID": product["id"],
            "Quantity": item["quantity"],
            "Vendor": item["vendor"],
            "Collections": product["collections"],
            "Tags": product["tags"],
            "Product Type": product["product_type"],
            "$extra": {"order_id": order_id, "line_item": item},
        }

    def _refund_props(self, pos: int) -> dict[str, Any]:
        s = self.store
        order = int(s.r_order[pos])
        seq = int(s.r_seq[pos])
        batch, local = s.locate(order)
        props = self.order_properties(order)
        match = np.nonzero((batch.refund_order == local) & (batch.refund_seq == seq))[0]
        r = int(match[0])
        amount = int(batch.refund_amount[r])
        line = int(batch.refund_line[r])
        refund_lines = []
        if line >= 0:
            item = props["$extra"]["line_items"][line]
            refund_lines.append(
                {
                    "line_item_id": item["id"],
                    "quantity": int(batch.refund_qty[r]),
                    "subtotal": money(amount),
                    "product_id": item["product_id"],
                }
            )
        reason = REFUND_REASONS[int(batch.refund_reason[r])]
        props["$value"] = amount / 100
        props["Reason"] = reason
        props["$extra"]["refund"] = {
            "id": s.order_id(order) * 10 + seq + 1,
            "created_at": datetime.fromtimestamp(int(s.r_ts[pos]), UTC).isoformat(),
            "note": reason.replace("_", " "),
            "refund_line_items": refund_lines,
        }
        props["$extra"]["financial_status"] = "refunded" if line < 0 else "partially_refunded"
        return props

    def _cancel_props(self, pos: int) -> dict[str, Any]:
        s = self.store
        order = int(s.c_order[pos])
        batch, local = s.locate(order)
        props = self.order_properties(order)
        reason = CANCEL_REASONS[int(batch.cancel_reason[local])]
        props["Reason"] = reason
        ts = int(s.c_ts[pos])
        props["$extra"]["cancel_reason"] = reason
        props["$extra"]["cancelled_at"] = datetime.fromtimestamp(ts, UTC).isoformat()
        props["$extra"]["refund"] = {
            "id": s.order_id(order) * 10,
            "created_at": datetime.fromtimestamp(ts, UTC).isoformat(),
            "note": "order cancelled",
            "refund_line_items": [],
        }
        return props

    def _build_decoys(self) -> dict[str, list[tuple[int, int, dict[str, Any]]]]:
        """A handful of events from an "API" integration: not Shopify orders, not ground truth."""
        s = self.store
        rnd = random.Random(mix(s.seed, s.account, "decoys"))
        placed: list[tuple[int, int, dict[str, Any]]] = []
        n_customers = max(1, s.customers_before(s.anchor_ts))
        for i in range(12):
            ts = s.anchor_ts - rnd.randint(1, 60 * 86_400)
            cust_no = rnd.randrange(n_customers)
            value = rnd.randint(1500, 30_000)
            placed.append(
                (
                    ts,
                    cust_no,
                    {
                        "OrderId": f"API-{1000 + i}",
                        "$value": value / 100,
                        "$event_id": f"API-{1000 + i}",
                        "ItemNames": ["Gift Card"],
                        "Items": [
                            {
                                "ProductID": "GC-1",
                                "SKU": "GIFT-CARD",
                                "ProductName": "Gift Card",
                                "Quantity": 1,
                                "ItemPrice": value / 100,
                                "RowTotal": value / 100,
                            }
                        ],
                    },
                )
            )
        placed.sort(key=lambda e: e[0])
        canceled = [
            (ts + 7200, cust, {**props, "Reason": "customer"}) for ts, cust, props in placed[:3]
        ]
        return {"api_placed": placed, "api_canceled": canceled}
