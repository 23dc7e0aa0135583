"""Fast JSON rendering of the Shopify order events (Placed, Refunded and Cancelled Order).

The hot path of the simulator: a 1,000-event page of Placed Order with ``include=profile`` is
~4 MB of JSON. Instead of building ~60 Python objects per event and serialising the tree, the
renderer writes each event's JSON text directly from

- per-variant and per-product fragments, serialised once with orjson (line items, titles),
- a bounded cache of per-customer fragments (``customer`` object, shipping address, profile),
- page-wide vectorised numpy work: event ids, UUIDs and ISO datetimes for the whole page at once,
- the page's day batches, generated once per page (and kept in the store's small day LRU).

The text is byte-for-byte what ``orjson.dumps`` gives for the reference dicts of
:class:`~klaviyo_analytics.simulator.events.EventSource` (a test checks it), so payloads, ids and
ground truth are unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import numpy as np
import numpy.typing as npt
import orjson

from klaviyo_analytics.simulator.catalog import LOCATIONS, customer
from klaviyo_analytics.simulator.ids import splitmix_array
from klaviyo_analytics.simulator.marketing import CHANNEL_TO_REPORT
from klaviyo_analytics.simulator.store import (
    CANCEL_REASONS,
    DISCOUNTS,
    ORDER_ID_BASE,
    OTHER_UTMS,
    REFUND_REASONS,
    SOURCES,
    USER_AGENTS,
    DayBatch,
    Store,
)

if TYPE_CHECKING:
    from klaviyo_analytics.simulator.events import EventSource

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_NIBBLE_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)
#: Customers whose fragments are kept (bounded: memory stays flat however many pages are served).
CUSTOMER_CACHE = 20_000
FAST_KEYS = frozenset({"placed", "refunded", "cancelled"})


def _j(value: Any) -> str:
    return orjson.dumps(value).decode()


def money(cents: int) -> str:
    """Cents as a Shopify decimal string."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def b62_ids(h: U64, width: int = 11) -> list[str]:
    """Vectorised base-62 ids (least significant digit first), like ``events._b62``."""
    n = h.copy()
    digits = np.empty((len(h), width), dtype=np.uint8)
    for i in range(width):
        digits[:, i] = n % np.uint64(62)
        n //= np.uint64(62)
    text = _B62[digits].tobytes().decode()
    return [text[i : i + width] for i in range(0, len(text), width)]


def uuids(h: U64) -> list[str]:
    """Vectorised ``events._uuid``: two splitmix words as a version-4-shaped UUID."""
    a = splitmix_array(h)
    b = splitmix_array(h ^ np.uint64(0x5DEECE66D))
    hx = np.concatenate(
        [
            _HEX[((a[:, None] >> _NIBBLE_SHIFTS) & np.uint64(15)).astype(np.intp)],
            _HEX[((b[:, None] >> _NIBBLE_SHIFTS) & np.uint64(15)).astype(np.intp)],
        ],
        axis=1,
    )
    out = np.empty((len(h), 36), dtype=np.uint8)
    out[:, 0:8] = hx[:, 0:8]
    out[:, 8] = ord("-")
    out[:, 9:13] = hx[:, 8:12]
    out[:, 13] = ord("-")
    out[:, 14] = ord("4")
    out[:, 15:18] = hx[:, 13:16]
    out[:, 18] = ord("-")
    out[:, 19] = ord("a")
    out[:, 20:23] = hx[:, 17:20]
    out[:, 23] = ord("-")
    out[:, 24:36] = hx[:, 20:32]
    text = out.tobytes().decode()
    return [text[i : i + 36] for i in range(0, len(text), 36)]


def iso_utc(ts: I64) -> list[str]:
    """``datetime.fromtimestamp(t, UTC).isoformat()`` for whole-second epoch values, vectorised."""
    if not len(ts):
        return []
    text = np.datetime_as_string(np.asarray(ts, dtype="datetime64[s]"), unit="s")
    return [f"{t}+00:00" for t in text.tolist()]


class _DayLists:
    """The columns of one day batch the renderer reads, as Python lists (fast scalar access)."""

    __slots__ = (
        "line_start", "line_variant", "line_qty", "line_price", "line_disc", "discount",
        "discounts", "subtotal", "utm", "source", "device",
    )  # fmt: skip

    def __init__(self, b: DayBatch) -> None:
        self.line_start: list[int] = b.line_start.tolist()
        self.line_variant: list[int] = b.line_variant.tolist()
        self.line_qty: list[int] = b.line_qty.tolist()
        self.line_price: list[int] = b.line_price.tolist()
        self.line_disc: list[int] = b.line_disc.tolist()
        self.discount: list[int] = b.discount.tolist()
        self.discounts: list[int] = b.discounts.tolist()
        self.subtotal: list[int] = b.subtotal.tolist()
        self.utm: list[int] = b.utm.tolist()
        self.source: list[int] = b.source.tolist()
        self.device: list[int] = b.device.tolist()


class _CustomerParts:
    __slots__ = ("email", "head", "ship", "profile_id", "profile")

    def __init__(self, email: str, head: str, ship: str, profile_id: str, profile: str) -> None:
        self.email = email
        self.head = head
        self.ship = ship
        self.profile_id = profile_id
        self.profile = profile


class OrderRenderer:
    """Renders Shopify order events of one store as JSON text.

    Args:
        events: the store's event source (metrics, ids salt).
    """

    def __init__(self, events: EventSource) -> None:
        self.events = events
        self.store: Store = events.store
        s = self.store
        cat = s.catalog
        self._seed = s.seed
        self._account = s.account
        products = cat.products
        self._variant_product: list[int] = [int(v["product_index"]) for v in cat.variants]
        # Line item: {"id":ID,<head>"quantity":Q,"price":"P","total_discount":"D",
        #             "line_price":"L","product":{...}}
        self._line_head: list[str] = []
        self._line_tail: list[str] = []
        self._line_price: list[str] = []
        self._line_total: list[list[str]] = []
        for v in cat.variants:
            p = products[v["product_index"]]
            self._line_head.append(
                f'"product_id":{_j(p["id"])},"variant_id":{_j(v["id"])},"title":{_j(p["title"])},'
                f'"name":{_j(p["title"] + " - " + v["title"])},'
                f'"variant_title":{_j(v["title"])},"sku":{_j(v["sku"])},'
                f'"vendor":{_j(p["vendor"])},"quantity":'
            )
            self._line_tail.append(f',"product":{_j(p)}}}')
            price = int(cat.variant_price[len(self._line_price)])
            self._line_price.append(f',"price":"{money(price)}","total_discount":"')
            self._line_total.append([money(price * q) for q in range(5)])
        self._title: list[str] = [_j(p["title"]) for p in products]
        self._collections: list[tuple[str, ...]] = [tuple(p["collections"]) for p in products]
        self._handle: list[str] = [str(p["handle"]) for p in products]
        self._product_id: list[int] = [int(p["id"]) for p in products]
        m = s.marketing
        self._campaign_utm = [
            ("klaviyo", CHANNEL_TO_REPORT[c.channel], c.name) for c in m.campaigns
        ]
        self._flow_utm = [
            ("klaviyo", msg.channel, f"{m.flows[msg.flow_index].name} - {msg.name}")
            for msg in m.flow_messages
        ]
        self._sources = [_j(x) for x in SOURCES]
        self._agents = [f'"client_details":{{"user_agent":{_j(x)}}}' for x in USER_AGENTS]
        self._codes: list[tuple[str, str, str]] = [
            (_j(code), _j(kind), f"[{_j(code)}]") for code, kind, _ in DISCOUNTS
        ]
        self._landing: dict[tuple[int, tuple[str, str, str]], str] = {}
        self._customers: dict[int, _CustomerParts] = {}
        self._day_lists: dict[int, _DayLists] = {}

    # -- caches ---------------------------------------------------------------------------------

    def _customer(self, number: int) -> _CustomerParts:
        parts = self._customers.get(number)
        if parts is not None:
            return parts
        c = customer.__wrapped__(self._seed, self._account, number)
        loc = LOCATIONS[c.location]
        email = _j(c.email)
        head = (
            f'{{"id":{c.shopify_id},"email":{email},"first_name":{_j(c.first_name)},'
            f'"last_name":{_j(c.last_name)},"tags":{_j(", ".join(c.tags))},"orders_count":'
        )
        ship = _j(
            {
                "first_name": c.first_name,
                "last_name": c.last_name,
                "city": loc[0],
                "province": loc[1],
                "province_code": loc[2],
                "country": loc[3],
                "country_code": loc[4],
                "zip": c.zip,
            }
        )
        profile = _j(
            {
                "type": "profile",
                "id": c.profile_id,
                "attributes": {
                    "email": c.email,
                    "phone_number": None,
                    "external_id": str(c.shopify_id),
                    "first_name": c.first_name,
                    "last_name": c.last_name,
                    "organization": None,
                    "locale": "en-US",
                    "location": {
                        "city": loc[0],
                        "region": loc[1],
                        "country": loc[3],
                        "zip": c.zip,
                        "address1": None,
                        "address2": None,
                        "timezone": None,
                        "ip": None,
                    },
                    "properties": {
                        "Shopify Tags": list(c.tags),
                        "Accepts Marketing": "newsletter" in c.tags,
                        "shopify_customer_id": c.shopify_id,
                    },
                },
            }
        )[:-1]
        parts = _CustomerParts(email, head, ship, c.profile_id, profile)
        if len(self._customers) >= CUSTOMER_CACHE:
            del self._customers[next(iter(self._customers))]
        self._customers[number] = parts
        return parts

    def profile_json(self, number: int, base_url_json_prefix: str) -> str:
        """The included ``profile`` object of a customer (``base_url_json_prefix`` is the JSON
        string of ``{base_url}/api/profiles/`` without its closing quote)."""
        c = self._customer(number)
        return f'{c.profile},"links":{{"self":{base_url_json_prefix}{c.profile_id}/"}}}}'

    def profile_id(self, number: int) -> str:
        """Profile id of a customer."""
        return self._customer(number).profile_id

    def _lists(self, day_i: int) -> _DayLists:
        lists = self._day_lists.get(day_i)
        if lists is None:
            lists = _DayLists(self.store.day_batch(self.store.first_day + day_i))
            if len(self._day_lists) >= 8:
                del self._day_lists[next(iter(self._day_lists))]
            self._day_lists[day_i] = lists
        return lists

    def _landing_site(self, product: int, utm: tuple[str, str, str]) -> str:
        key = (product, utm)
        out = self._landing.get(key)
        if out is None:
            landing = f"/products/{self._handle[product]}"
            if utm[0]:
                landing += f"?utm_source={quote_plus(utm[0])}&utm_medium={quote_plus(utm[1])}"
                if utm[2]:
                    landing += f"&utm_campaign={quote_plus(utm[2])}"
            out = _j(landing)
            if len(self._landing) < 100_000:
                self._landing[key] = out
        return out

    # -- orders ---------------------------------------------------------------------------------

    def _order_ids(self, orders: I64) -> tuple[I64, I64, I64]:
        s = self.store
        day_i = np.searchsorted(s.day_start, orders, side="right") - 1
        local = orders - s.day_start[day_i]
        oid = ORDER_ID_BASE + (s.first_day + day_i - 18_000) * 100_000 + local
        return day_i, local, oid

    def _orders(self, orders: I64) -> list[tuple[str, str, list[int]]]:
        """Per order: the props text after ``"$value":`` up to ``"financial_status":"``, the text
        after the financial status up to the end of ``line_items`` (``$extra`` and the props
        still open), and the order's line item product indices."""
        s = self.store
        day_i, local, oid = self._order_ids(orders)
        created = iso_utc(s.order_ts[orders])
        values = s.order_value[orders].tolist()
        seqs = s.order_seq[orders].tolist()
        spent = s.order_spent[orders].tolist()
        kinds = s.attr_kind[orders].tolist()
        targets = s.attr_target[orders].tolist()
        qtys = s.order_qty[orders].tolist()
        custs = s.order_customer[orders].tolist()
        names = (orders + 1001).tolist()
        days = {d: self._lists(d) for d in np.unique(day_i).tolist()}
        out: list[tuple[str, str, list[int]]] = []
        line_head = self._line_head
        line_tail = self._line_tail
        line_price = self._line_price
        line_total = self._line_total
        vprod = self._variant_product
        for j, (d, loc, order_id) in enumerate(
            zip(day_i.tolist(), local.tolist(), oid.tolist(), strict=True)
        ):
            b = days[d]
            lo = b.line_start[loc]
            hi = b.line_start[loc + 1]
            items: list[str] = []
            titles: list[str] = []
            colls: set[str] = set()
            prods: list[int] = []
            base_id = order_id * 100 - lo
            for k in range(lo, hi):
                v = b.line_variant[k]
                q = b.line_qty[k]
                disc = b.line_disc[k]
                p = vprod[v]
                prods.append(p)
                titles.append(self._title[p])
                colls.update(self._collections[p])
                items.append(
                    f'{{"id":{base_id + k},{line_head[v]}{q}{line_price[v]}'
                    f'{f"{disc // 100}.{disc % 100:02d}" if disc else "0.00"}",'
                    f'"line_price":"{line_total[v][q]}"{line_tail[v]}'
                )
            c = self._customer(custs[j])
            kind = kinds[j]
            if kind == 1:
                utm = self._campaign_utm[targets[j]]
            elif kind == 2:
                utm = self._flow_utm[targets[j]]
            else:
                utm = OTHER_UTMS[b.utm[loc]]
            disc = b.discount[loc]
            total_disc = money(b.discounts[loc])
            if disc >= 0:
                code, ctype, code_list = self._codes[disc]
                codes = f'[{{"code":{code},"amount":"{total_disc}","type":{ctype}}}]'
            else:
                codes = code_list = "[]"
            src = self._sources[b.source[loc]]
            value = money(values[j])
            at = created[j]
            head = (
                f',"$event_id":"{order_id}","$currency_code":"USD","Items":[{",".join(titles)}],'
                f'"Collections":{_j(sorted(colls))},"Item Count":{qtys[j]},'
                f'"Discount Codes":{code_list},"Total Discounts":"{total_disc}",'
                f'"Source Name":{src},"$extra":{{"id":{order_id},"name":"#{names[j]}",'
                f'"email":{c.email},"currency":"USD","created_at":"{at}","processed_at":"{at}",'
                f'"total_price":"{value}","subtotal_price":"{value}",'
                f'"total_line_items_price":"{money(b.subtotal[loc])}",'
                f'"total_discounts":"{total_disc}","total_tax":"0.00","financial_status":"'
            )
            tail = (
                f'","discount_codes":{codes},'
                f'"tags":"{"simulated, klaviyo" if kind else "simulated"}",'
                f'"customer":{c.head}{seqs[j]},"total_spent":"{money(spent[j])}"}},'
                f'"shipping_address":{c.ship},{self._agents[b.device[loc]]},'
                f'"landing_site":{self._landing_site(prods[0], utm)},"source_name":{src},'
                f'"line_items":[{",".join(items)}]'
            )
            out.append((head, tail, prods))
        return out

    # -- events ---------------------------------------------------------------------------------

    def _envelopes(
        self, key: str, event_keys: I64, ts: I64, customers: list[int], base_url: str
    ) -> list[tuple[str, str]]:
        """Per event: the text before ``event_properties``' value and the text after it."""
        h = splitmix_array(event_keys.astype(np.uint64) ^ np.uint64(self.events._salt))
        eids = b62_ids(h)
        uu = uuids(h)
        dts = iso_utc(ts)
        metric = self.events.by_key[key].id
        link = _j(f"{base_url}/api/events/")[:-1]
        out = []
        for eid, u, dt, t, cust in zip(eids, uu, dts, ts.tolist(), customers, strict=True):
            pid = self._customer(cust).profile_id
            out.append(
                (
                    f'{{"type":"event","id":"{eid}","attributes":{{"timestamp":{t},'
                    f'"event_properties":',
                    f',"datetime":"{dt}","uuid":"{u}"}},"relationships":{{"profile":{{"data":'
                    f'{{"type":"profile","id":"{pid}"}}}},"metric":{{"data":{{"type":"metric",'
                    f'"id":"{metric}"}}}}}},"links":{{"self":{link}{eid}/"}}}}',
                )
            )
        return out

    def render(self, key: str, positions: list[int], base_url: str) -> list[str]:
        """JSON text of the events at ``positions`` of stream ``key`` (one of FAST_KEYS)."""
        s = self.store
        pos = np.asarray(positions, dtype=np.int64)
        if key == "placed":
            orders = pos
            ts = s.order_ts[orders]
            _, _, oid = self._order_ids(orders)
            ek = oid * 512 + 1
        elif key == "refunded":
            orders = s.r_order[pos].astype(np.int64)
            ts = s.r_ts[pos]
            _, _, oid = self._order_ids(orders)
            ek = (oid * 64 + s.r_seq[pos]) * 8 + 3
        elif key == "cancelled":
            orders = s.c_order[pos].astype(np.int64)
            ts = s.c_ts[pos]
            _, _, oid = self._order_ids(orders)
            ek = oid * 512 + 4
        else:
            raise KeyError(key)
        custs = s.order_customer[orders].tolist()
        env = self._envelopes(key, ek, ts, custs, base_url)
        parts = self._orders(orders)
        out: list[str] = []
        if key == "placed":
            values = s.order_value[orders].tolist()
            for (pre, post), (head, tail, _), v in zip(env, parts, values, strict=True):
                out.append(f'{pre}{{"$value":{_j(v / 100)}{head}paid{tail}}}}}{post}')
        elif key == "refunded":
            amounts = s.r_amount[pos].tolist()
            seqs = s.r_seq[pos].tolist()
            lines = s.r_line[pos].tolist()
            rqty = s.r_qty[pos].tolist()
            reasons = s.r_reason[pos].tolist()
            created = iso_utc(ts)
            for j, ((pre, post), (head, tail, prods)) in enumerate(zip(env, parts, strict=True)):
                amount = amounts[j]
                line = lines[j]
                order_id = int(oid[j])
                reason = REFUND_REASONS[reasons[j]]
                if line >= 0:
                    refund_lines = (
                        f'[{{"line_item_id":{order_id * 100 + line},"quantity":{rqty[j]},'
                        f'"subtotal":"{money(amount)}",'
                        f'"product_id":{self._product_id[prods[line]]}}}]'
                    )
                    status = "partially_refunded"
                else:
                    refund_lines = "[]"
                    status = "refunded"
                out.append(
                    f'{pre}{{"$value":{_j(amount / 100)}{head}{status}{tail},'
                    f'"refund":{{"id":{order_id * 10 + seqs[j] + 1},"created_at":"{created[j]}",'
                    f'"note":{_j(reason.replace("_", " "))},'
                    f'"refund_line_items":{refund_lines}}}}},"Reason":{_j(reason)}}}{post}'
                )
        else:
            values = s.order_value[orders].tolist()
            reasons = s.c_reason[pos].tolist()
            created = iso_utc(ts)
            for j, ((pre, post), (head, tail, _)) in enumerate(zip(env, parts, strict=True)):
                reason = _j(CANCEL_REASONS[reasons[j]])
                at = created[j]
                out.append(
                    f'{pre}{{"$value":{_j(values[j] / 100)}{head}paid{tail},'
                    f'"cancel_reason":{reason},"cancelled_at":"{at}",'
                    f'"refund":{{"id":{int(oid[j]) * 10},"created_at":"{at}",'
                    f'"note":"order cancelled","refund_line_items":[]}}}},"Reason":{reason}}}{post}'
                )
        return out
