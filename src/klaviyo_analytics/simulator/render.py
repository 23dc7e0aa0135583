"""Fast JSON rendering of the Shopify order events (Placed, Refunded and Cancelled Order).

The hot path of the simulator: a 1,000-event page of Placed Order with ``include=profile`` is
~4 MB of JSON. Instead of building ~60 Python objects per event and serialising the tree, the
renderer writes each event's JSON text directly, page-wide and vectorised where it can:

- the page's orders and their ~4,500 line items are gathered from the day batches with numpy
  (no per-order look-ups), and every line item is one f-string over fragments serialised once per
  (variant, quantity) with orjson;
- money amounts, ``$value`` floats, ids, UUIDs and ISO datetimes are formatted for the whole page
  at once; an order's sorted ``Collections`` come from a bit mask OR-reduced per order;
- the page's customers are generated in one vectorised block
  (:func:`~klaviyo_analytics.simulator.catalog.customer_block`, a few microseconds each) and
  their fragments kept in a small bounded cache, so memory stays flat however many pages are
  served.

The text is byte-for-byte what ``orjson.dumps`` gives for the reference dicts of
:class:`~klaviyo_analytics.simulator.events.EventSource` (a test checks it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote_plus

import numpy as np
import numpy.typing as npt
import orjson

from klaviyo_analytics.simulator.catalog import (
    COLLECTIONS,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    LOCATIONS,
    TAG_SETS,
    ZIP_CODES,
    customer_block,
)
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
#: A page needs up to 1,000; the cache mainly spares generating them twice per page (events and
#: included profiles) and keeps the recently active (most often returning) customers.
CUSTOMER_CACHE = 8_192
_CENTS = [f"{c:02d}" for c in range(100)]
FAST_KEYS = frozenset({"placed", "refunded", "cancelled"})
#: Largest line quantity the generator draws.
MAX_QTY = 4


def _j(value: Any) -> str:
    return orjson.dumps(value).decode()


def money(cents: int) -> str:
    """Cents as a Shopify decimal string."""
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def money_list(cents: npt.ArrayLike) -> list[str]:
    """:func:`money` of every element of an integer array."""
    c = np.asarray(cents, dtype=np.int64)
    a = np.abs(c)
    out = [f"{d}.{_CENTS[r]}" for d, r in zip((a // 100).tolist(), (a % 100).tolist(), strict=True)]
    for i in np.nonzero(c < 0)[0].tolist():
        out[i] = "-" + out[i]
    return out


def dollars_json(cents: npt.ArrayLike) -> list[str]:
    """``orjson.dumps(c / 100)`` of every element of an integer array (one dumps call)."""
    values = (np.asarray(cents, dtype=np.int64) / 100).tolist()
    if not values:
        return []
    return orjson.dumps(values).decode()[1:-1].split(",")


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


def iso_seconds(ts: I64) -> list[str]:
    """:func:`iso_utc` without the ``+00:00`` suffix (templates append it)."""
    if not len(ts):
        return []
    text: list[str] = np.datetime_as_string(
        np.asarray(ts, dtype="datetime64[s]"), unit="s"
    ).tolist()
    return text


def iso_utc(ts: I64) -> list[str]:
    """``datetime.fromtimestamp(t, UTC).isoformat()`` for whole-second epoch values, vectorised."""
    if not len(ts):
        return []
    text = np.datetime_as_string(np.asarray(ts, dtype="datetime64[s]"), unit="s")
    return [f"{t}+00:00" for t in text.tolist()]


class _CustomerParts:
    __slots__ = ("email", "head", "ship", "profile_id", "profile")

    def __init__(self, email: str, head: str, ship: str, profile_id: str, profile: str) -> None:
        self.email = email
        self.head = head
        self.ship = ship
        self.profile_id = profile_id
        self.profile = profile


class _Page:
    """The orders of a page and their line items, gathered from the day batches with numpy.

    Order arrays are aligned with the page's orders; line arrays hold the lines of every order of
    the page in page order, order ``j``'s lines at ``line_start[j]:line_start[j + 1]``.
    """

    __slots__ = (
        "order_id", "discount", "discounts", "subtotal", "utm", "source", "device",
        "line_start", "line_id", "line_variant", "line_product", "line_qty", "line_disc",
    )  # fmt: skip

    def __init__(self, r: OrderRenderer, orders: I64) -> None:
        s = r.store
        day_i = np.searchsorted(s.day_start, orders, side="right") - 1
        local = orders - s.day_start[day_i]
        self.order_id: I64 = ORDER_ID_BASE + (s.first_day + day_i - 18_000) * 100_000 + local
        days, inv = np.unique(day_i, return_inverse=True)
        batches = [s.day_batch(s.first_day + int(d)) for d in days.tolist()]
        n_orders = np.array([len(b.ts) for b in batches], dtype=np.int64)
        n_lines = np.array([len(b.line_variant) for b in batches], dtype=np.int64)
        order_off = np.concatenate([[0], np.cumsum(n_orders)[:-1]]).astype(np.int64)
        line_off = np.concatenate([[0], np.cumsum(n_lines)[:-1]]).astype(np.int64)

        def cat(name: str) -> I64:
            if len(batches) == 1:
                return np.asarray(getattr(batches[0], name))
            return np.concatenate([getattr(b, name) for b in batches])

        g = order_off[inv] + local  # the orders' index in the concatenated day columns
        self.discount: I64 = cat("discount")[g]
        self.discounts: I64 = cat("discounts")[g]
        self.subtotal: I64 = cat("subtotal")[g]
        self.utm: I64 = cat("utm")[g]
        self.source: I64 = cat("source")[g]
        self.device: I64 = cat("device")[g]
        starts = [b.line_start + off for b, off in zip(batches, line_off.tolist(), strict=True)]
        lo = np.concatenate([x[:-1] for x in starts])[g]
        counts = np.concatenate([np.diff(x) for x in starts])[g]
        line_start = np.zeros(len(orders) + 1, dtype=np.int64)
        np.cumsum(counts, out=line_start[1:])
        total = int(line_start[-1])
        first = np.repeat(line_start[:-1], counts)
        at = np.arange(total, dtype=np.int64)
        li = np.repeat(lo, counts) + (at - first)
        self.line_start = line_start
        self.line_id: I64 = np.repeat(self.order_id * 100, counts) + (at - first)
        self.line_variant: I64 = cat("line_variant")[li]
        self.line_product: I64 = r.variant_product[self.line_variant]
        self.line_qty: I64 = cat("line_qty")[li]
        self.line_disc: I64 = cat("line_disc")[li]


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
        self.variant_product: I64 = np.array(
            [int(v["product_index"]) for v in cat.variants], dtype=np.int64
        )
        # Line item: {"id":ID,<before[k]>DISCOUNT<after[k]>, k = variant * 4 + quantity - 1:
        #   before = "product_id":..,"vendor":..,"quantity":Q,"price":"P","total_discount":"
        #   after = ","line_price":"L","product":{...}}
        self._line_before: list[str] = []
        self._line_after: list[str] = []
        #: before + "0.00" + after, filled as (variant, quantity) pairs are first served.
        self._line_zero: dict[int, str] = {}
        for vi, v in enumerate(cat.variants):
            p = products[v["product_index"]]
            head = (
                f'"product_id":{_j(p["id"])},"variant_id":{_j(v["id"])},"title":{_j(p["title"])},'
                f'"name":{_j(p["title"] + " - " + v["title"])},'
                f'"variant_title":{_j(v["title"])},"sku":{_j(v["sku"])},'
                f'"vendor":{_j(p["vendor"])},"quantity":'
            )
            price = int(cat.variant_price[vi])
            product = _j(p)
            for q in range(1, MAX_QTY + 1):
                self._line_before.append(f'{head}{q},"price":"{money(price)}","total_discount":"')
                self._line_after.append(
                    f'","line_price":"{money(price * q)}","product":{product}}}'
                )
        self._title: list[str] = [_j(p["title"]) for p in products]
        bit = {name: 1 << i for i, name in enumerate(COLLECTIONS)}
        self._coll_mask: I64 = np.array(
            [sum(bit[c] for c in p["collections"]) for p in products], dtype=np.int64
        )
        self._coll_json: list[str] = [
            _j(sorted(c for i, c in enumerate(COLLECTIONS) if mask >> i & 1))
            for mask in range(1 << len(COLLECTIONS))
        ]
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
        # landing_site = "/products/<handle>" + the UTM query of the order's attribution; both
        # parts are kept as JSON string bodies (handles and quoted queries need no escaping).
        self._landing_path = [_j(f"/products/{p['handle']}")[1:-1] for p in products]
        self._utm_query = [
            [self._utm_json(u) for u in OTHER_UTMS],
            [self._utm_json(u) for u in self._campaign_utm],
            [self._utm_json(u) for u in self._flow_utm],
        ]
        self._customers: dict[int, _CustomerParts] = {}
        # Customer fragments by name pair, (location, zip) and tag set; names and e-mails are
        # plain ASCII, so an e-mail's JSON is the address in quotes.
        self._names: list[tuple[str, str]] = []
        for first in FIRST_NAMES:
            for last in LAST_NAMES:
                assert _j(f"{first.lower()}.{last.lower()}") == f'"{first.lower()}.{last.lower()}"'
                self._names.append(
                    (
                        f'"first_name":{_j(first)},"last_name":{_j(last)}',
                        f'"{first.lower()}.{last.lower()}.',
                    )
                )
        self._email_at = [f'@{d}"' for d in EMAIL_DOMAINS]
        for d in EMAIL_DOMAINS:
            assert _j(d) == f'"{d}"', d
        self._ship_tail: list[str] = []
        self._profile_place: list[str] = []
        for x, zips in zip(LOCATIONS, ZIP_CODES, strict=True):
            for z in zips:
                self._ship_tail.append(
                    f'"city":{_j(x[0])},"province":{_j(x[1])},"province_code":{_j(x[2])},'
                    f'"country":{_j(x[3])},"country_code":{_j(x[4])},"zip":{_j(z)}}}'
                )
                self._profile_place.append(
                    '"organization":null,"locale":"en-US",'
                    f'"location":{{"city":{_j(x[0])},"region":{_j(x[1])},"country":{_j(x[3])},'
                    f'"zip":{_j(z)},"address1":null,"address2":null,"timezone":null,"ip":null}},'
                )
        self._tags_text = [_j(", ".join(t)) for t in TAG_SETS]
        self._tags_props = [
            f'"properties":{{"Shopify Tags":{_j(list(t))},'
            f'"Accepts Marketing":{_j("newsletter" in t)},"shopify_customer_id":'
            for t in TAG_SETS
        ]

    # -- customers ------------------------------------------------------------------------------

    def _customer_parts(self, numbers: list[int]) -> dict[int, _CustomerParts]:
        """Fragments of customers, the missing ones generated in one vectorised block."""
        cache = self._customers
        want = dict.fromkeys(numbers)
        missing = [n for n in want if n not in cache]
        out = {n: cache[n] for n in want if n in cache}
        if missing:
            b = customer_block(self._seed, self._account, missing)
            n_last = len(LAST_NAMES)
            names, email_at = self._names, self._email_at
            ship, place, tags_text, tags_props = (
                self._ship_tail, self._profile_place, self._tags_text, self._tags_props
            )  # fmt: skip
            for n, sid, pid, fl, d, t, lz in zip(
                missing,
                b.shopify_id.astype(str).tolist(),
                b.profile_id,
                (b.first * n_last + b.last).tolist(),
                b.domain.tolist(),
                b.tags.tolist(),
                (b.location * 100 + b.zip_draw).tolist(),
                strict=True,
            ):
                name, prefix = names[fl]
                email = f"{prefix}{n}{email_at[d]}"
                out[n] = _CustomerParts(
                    email,
                    f'{{"id":{sid},"email":{email},{name},"tags":{tags_text[t]},"orders_count":',
                    f"{{{name},{ship[lz]}",
                    pid,
                    f'{{"type":"profile","id":"{pid}","attributes":{{"email":{email},'
                    f'"phone_number":null,"external_id":"{sid}",{name},{place[lz]}'
                    f"{tags_props[t]}{sid}}}}}",
                )
            if len(cache) + len(missing) > CUSTOMER_CACHE:
                # Evict the oldest entries in one go (dicts keep insertion order).
                drop = len(cache) + len(missing) - CUSTOMER_CACHE
                for key in list(itertools.islice(cache, drop)):
                    del cache[key]
            for n in missing[-CUSTOMER_CACHE:]:
                cache[n] = out[n]
        return out

    def profiles_json(self, numbers: list[int], base_url_json_prefix: str) -> list[str]:
        """The included ``profile`` objects of customers, in the given order
        (``base_url_json_prefix`` is the JSON string of ``{base_url}/api/profiles/`` without its
        closing quote)."""
        parts = self._customer_parts(numbers)
        return [
            f'{c.profile},"links":{{"self":{base_url_json_prefix}{c.profile_id}/"}}}}'
            for c in (parts[n] for n in numbers)
        ]

    def profile_json(self, number: int, base_url_json_prefix: str) -> str:
        """The included ``profile`` object of one customer."""
        return self.profiles_json([number], base_url_json_prefix)[0]

    def profile_id(self, number: int) -> str:
        """Profile id of a customer."""
        return self._customer_parts([number])[number].profile_id

    # -- orders ---------------------------------------------------------------------------------

    @staticmethod
    def _utm_json(utm: tuple[str, str, str]) -> str:
        if not utm[0]:
            return ""
        query = f"?utm_source={quote_plus(utm[0])}&utm_medium={quote_plus(utm[1])}"
        if utm[2]:
            query += f"&utm_campaign={quote_plus(utm[2])}"
        return _j(query)[1:-1]

    def _texts(
        self,
        key: str,
        orders: I64,
        ts: I64,
        event_keys: I64,
        base_url: str,
        values: list[str],
        statuses: Iterable[str],
        extra_tail: Iterable[str],
        props_tail: Iterable[str],
    ) -> list[str]:
        """The JSON text of a page's order events, one f-string per event.

        ``values`` are the ``$value`` JSON numbers, ``statuses`` the financial statuses,
        ``extra_tail`` text closing ``$extra`` after ``line_items`` (refund, cancellation) and
        ``props_tail`` text closing the properties after ``$extra`` (``Reason``).
        """
        s = self.store
        pg = _Page(self, orders)
        # Envelopes: ids, UUIDs and datetimes of the whole page at once.
        h = splitmix_array(event_keys.astype(np.uint64) ^ np.uint64(self.events._salt))
        metric = self.events.by_key[key].id
        link = _j(f"{base_url}/api/events/")[:-1]
        # Line items, all of the page's at once.
        before, after, zero = self._line_before, self._line_after, self._line_zero
        ids = pg.line_id.tolist()
        ks = (pg.line_variant * MAX_QTY + pg.line_qty - 1).tolist()
        for k in set(ks).difference(zero):
            zero[k] = f"{before[k]}0.00{after[k]}"
        items = [f'{{"id":{i},{zero[k]}' for i, k in zip(ids, ks, strict=True)]
        discounted = np.nonzero(pg.line_disc)[0]
        for j, d in zip(discounted.tolist(), money_list(pg.line_disc[discounted]), strict=True):
            items[j] = f'{{"id":{ids[j]},{before[ks[j]]}{d}{after[ks[j]]}'
        title = self._title
        titles = [title[p] for p in pg.line_product.tolist()]
        ls = pg.line_start.tolist()
        colls = np.bitwise_or.reduceat(
            self._coll_mask[pg.line_product], pg.line_start[:-1]
        ).tolist()
        firsts = pg.line_product[pg.line_start[:-1]].tolist()
        kinds = s.attr_kind[orders]
        targets = np.where(kinds == 0, pg.utm, s.attr_target[orders]).tolist()
        custs = s.order_customer[orders].tolist()
        cparts = self._customer_parts(custs)
        created = iso_seconds(s.order_ts[orders])
        prices = money_list(s.order_value[orders])
        subtotals = money_list(pg.subtotal)
        total_discs = money_list(pg.discounts)
        spent = money_list(s.order_spent[orders])
        coll_json = self._coll_json
        path = self._landing_path
        utm_query = self._utm_query
        codes_json = self._codes
        sources = self._sources
        agents = self._agents
        out: list[str] = []
        for (
            j,
            (eid, u, dt, t, oid, name, seq, qty, disc, src, dev, kind, cust, value),
            status,
            extra,
            tail,
        ) in zip(
            itertools.count(),
            zip(
                b62_ids(h),
                uuids(h),
                iso_seconds(ts),
                ts.tolist(),
                pg.order_id.tolist(),
                (orders + 1001).tolist(),
                s.order_seq[orders].tolist(),
                s.order_qty[orders].tolist(),
                pg.discount.tolist(),
                pg.source.tolist(),
                pg.device.tolist(),
                kinds.tolist(),
                custs,
                values,
                strict=True,
            ),
            statuses,
            extra_tail,
            props_tail,
        ):
            a, b = ls[j], ls[j + 1]
            c = cparts[cust]
            total_disc = total_discs[j]
            if disc >= 0:
                code, ctype, code_list = codes_json[disc]
                codes = f'[{{"code":{code},"amount":"{total_disc}","type":{ctype}}}]'
            else:
                codes = code_list = "[]"
            source = sources[src]
            price = prices[j]
            at = created[j]
            out.append(
                f'{{"type":"event","id":"{eid}","attributes":{{"timestamp":{t},'
                f'"event_properties":{{"$value":{value},"$event_id":"{oid}",'
                f'"$currency_code":"USD","Items":[{",".join(titles[a:b])}],'
                f'"Collections":{coll_json[colls[j]]},"Item Count":{qty},'
                f'"Discount Codes":{code_list},"Total Discounts":"{total_disc}",'
                f'"Source Name":{source},"$extra":{{"id":{oid},"name":"#{name}",'
                f'"email":{c.email},"currency":"USD","created_at":"{at}+00:00",'
                f'"processed_at":"{at}+00:00","total_price":"{price}","subtotal_price":"{price}",'
                f'"total_line_items_price":"{subtotals[j]}",'
                f'"total_discounts":"{total_disc}","total_tax":"0.00",'
                f'"financial_status":"{status}","discount_codes":{codes},'
                f'"tags":"{"simulated, klaviyo" if kind else "simulated"}",'
                f'"customer":{c.head}{seq},"total_spent":"{spent[j]}"}},'
                f'"shipping_address":{c.ship},{agents[dev]},'
                f'"landing_site":"{path[firsts[j]]}{utm_query[kind][targets[j]]}",'
                f'"source_name":{source},"line_items":[{",".join(items[a:b])}]{extra}}}{tail}}},'
                f'"datetime":"{dt}+00:00","uuid":"{u}"}},"relationships":{{"profile":{{"data":'
                f'{{"type":"profile","id":"{c.profile_id}"}}}},"metric":{{"data":'
                f'{{"type":"metric","id":"{metric}"}}}}}},"links":{{"self":{link}{eid}/"}}}}'
            )
        return out

    def render(self, key: str, positions: list[int], base_url: str) -> list[str]:
        """JSON text of the events at ``positions`` of stream ``key`` (one of FAST_KEYS)."""
        s = self.store
        if not positions:
            return []
        pos = np.asarray(positions, dtype=np.int64)
        if key == "placed":
            orders = pos
            ts = s.order_ts[orders]
            oid = self._order_ids(orders)
            return self._texts(
                key,
                orders,
                ts,
                oid * 512 + 1,
                base_url,
                dollars_json(s.order_value[orders]),
                itertools.repeat("paid"),
                itertools.repeat(""),
                itertools.repeat(""),
            )
        if key == "refunded":
            orders = s.r_order[pos].astype(np.int64)
            ts = s.r_ts[pos]
            oid = self._order_ids(orders)
            created = iso_utc(ts)
            amounts = money_list(s.r_amount[pos])
            product_of_line = self._first_lines(orders, s.r_line[pos])
            statuses: list[str] = []
            extras: list[str] = []
            tails: list[str] = []
            for j, (order_id, seq, line, qty, reason_i) in enumerate(
                zip(
                    oid.tolist(),
                    s.r_seq[pos].tolist(),
                    s.r_line[pos].tolist(),
                    s.r_qty[pos].tolist(),
                    s.r_reason[pos].tolist(),
                    strict=True,
                )
            ):
                reason = REFUND_REASONS[reason_i]
                if line >= 0:
                    refund_lines = (
                        f'[{{"line_item_id":{order_id * 100 + line},"quantity":{qty},'
                        f'"subtotal":"{amounts[j]}","product_id":{product_of_line[j]}}}]'
                    )
                    statuses.append("partially_refunded")
                else:
                    refund_lines = "[]"
                    statuses.append("refunded")
                extras.append(
                    f',"refund":{{"id":{order_id * 10 + seq + 1},"created_at":"{created[j]}",'
                    f'"note":{_j(reason.replace("_", " "))},"refund_line_items":{refund_lines}}}'
                )
                tails.append(f',"Reason":{_j(reason)}')
            return self._texts(
                key,
                orders,
                ts,
                (oid * 64 + s.r_seq[pos]) * 8 + 3,
                base_url,
                dollars_json(s.r_amount[pos]),
                statuses,
                extras,
                tails,
            )
        if key == "cancelled":
            orders = s.c_order[pos].astype(np.int64)
            ts = s.c_ts[pos]
            oid = self._order_ids(orders)
            extras = []
            tails = []
            for order_id, at, reason_i in zip(
                oid.tolist(), iso_utc(ts), s.c_reason[pos].tolist(), strict=True
            ):
                reason = _j(CANCEL_REASONS[reason_i])
                extras.append(
                    f',"cancel_reason":{reason},"cancelled_at":"{at}",'
                    f'"refund":{{"id":{order_id * 10},"created_at":"{at}",'
                    f'"note":"order cancelled","refund_line_items":[]}}'
                )
                tails.append(f',"Reason":{reason}')
            return self._texts(
                key,
                orders,
                ts,
                oid * 512 + 4,
                base_url,
                dollars_json(s.order_value[orders]),
                itertools.repeat("paid"),
                extras,
                tails,
            )
        raise KeyError(key)

    def _order_ids(self, orders: I64) -> I64:
        s = self.store
        day_i = np.searchsorted(s.day_start, orders, side="right") - 1
        local = orders - s.day_start[day_i]
        return np.asarray(ORDER_ID_BASE + (s.first_day + day_i - 18_000) * 100_000 + local)

    def _first_lines(self, orders: I64, lines: npt.NDArray[np.generic]) -> list[int]:
        """Shopify product id of line ``lines[j]`` of order ``orders[j]`` (0 where < 0)."""
        out = [0] * len(orders)
        want = np.nonzero(np.asarray(lines) >= 0)[0]
        if len(want):
            pg = _Page(self, orders[want])
            at = pg.line_start[:-1] + np.asarray(lines)[want].astype(np.int64)
            for j, p in zip(want.tolist(), pg.line_product[at].tolist(), strict=True):
                out[j] = self._product_id[p]
        return out
