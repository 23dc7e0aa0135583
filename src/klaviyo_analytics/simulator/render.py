"""Fast JSON rendering of the Shopify order events (Placed, Refunded and Cancelled Order).

The hot path of the simulator: a 1,000-event page of Placed Order with ``include=profile`` is
~4 MB of JSON. Instead of building ~60 Python objects per event and serialising the tree, or
formatting one f-string per event, the renderer writes the page's text column by column for all
its events at once with numpy, as ~30,000 ``bytes`` pieces joined once into the body:

- the page's orders and their ~4,500 line items are gathered from the store's index with numpy
  (no per-order look-ups, and no day is regenerated to serve a page);
- the short, per-event parts (ids, UUIDs, datetimes, money, counts, e-mails, names, codes,
  constant JSON, ...) are written into one NUL-padded byte matrix, a row per event and a column
  per field: numbers as digit columns (4 digits per table look-up), short texts gathered by
  index from padded pools, constants from a template row; one ``bytes.translate`` drops the
  padding and one ``bytes.split`` cuts the text into the rows' segments (:class:`_Rows`);
- long texts are shared ``bytes`` objects, never copied before the final join: every line's
  text by (variant, quantity, discount code) with its product (a bounded cache), the line
  titles, shipping addresses, user agents, UTM queries, collection lists and long constants;
  numpy object arrays gather them by index and place them among the row segments;
- customers come from the vectorised generator
  (:func:`~klaviyo_analytics.simulator.catalog.customer_block`, a microsecond or two each),
  once per page for the events and their included profiles.

Per page this is a few hundred numpy calls and no Python loop over the events. The sync's sparse
fieldsets (``fields[event]=datetime,timestamp,event_properties``, ``fields[profile]=email``)
are rendered the same way. The text is byte-for-byte what ``orjson.dumps`` gives for the
reference dicts of :class:`~klaviyo_analytics.simulator.events.EventSource` (tests check it).
"""

from __future__ import annotations

import dataclasses
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
    CustomerBlock,
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
    line_discounts,
)

if TYPE_CHECKING:
    from klaviyo_analytics.simulator.events import EventSource

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]
_B62 = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
_NIBBLE_SHIFTS = np.arange(60, -1, -4, dtype=np.uint64)
_POW10 = 10 ** np.arange(19, dtype=np.int64)
_COLUMNS = np.arange(20, dtype=np.int64)
_CENTS = [f"{c:02d}" for c in range(100)]
FAST_KEYS = frozenset({"placed", "refunded", "cancelled"})
#: An event's attributes, in the order they are rendered.
EVENT_ATTRIBUTES = frozenset({"timestamp", "event_properties", "datetime", "uuid"})
#: A profile's attributes (see ``SimulatorApp._profile``).
PROFILE_ATTRIBUTES = frozenset(
    {"email", "phone_number", "external_id", "first_name", "last_name", "organization",
     "locale", "location", "properties"}
)  # fmt: skip
#: Largest line quantity the generator draws.
MAX_QTY = 4
#: Line texts by (variant, quantity, discount): none or one of the DISCOUNTS codes.
_BODY_KINDS = 1 + len(DISCOUNTS)
#: Line texts kept (~0.7 KB each: ~17 MB at most).
LINE_BODIES = 24_000


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


#: Zero-padded decimal text of 0-9999, a 4-byte row each (digits are written 4 at a time).
_D4: U8 = np.frombuffer("".join(f"{i:04d}" for i in range(10_000)).encode(), np.uint8).reshape(
    10_000, 4
)
#: Decimal text of 0-9999 left-aligned, NUL-padded to 4 bytes.
_D4_LEFT: U8 = np.array(
    [list(f"{i:<4}".replace(" ", "\0").encode()) for i in range(10_000)], dtype=np.uint8
)
_DOT_D2: U8 = np.concatenate([np.full((100, 1), ord("."), np.uint8), _D4[:100, 2:]], axis=1)


def _split(x: I64, unit: int) -> tuple[I64, I64]:
    """``divmod`` by a constant (``%`` has no fast path in numpy, ``//`` by a scalar has)."""
    q = x // unit
    return q, x - q * unit


def _digits(v: npt.ArrayLike, width: int | None = None) -> U8:
    """Decimal text of non-negative integers, right-aligned in a NUL-padded byte matrix
    (``width`` columns: at least the widest number's digits)."""
    x = np.asarray(v, dtype=np.int64).reshape(-1)
    n = len(x)
    if not n:
        return np.zeros((0, width or 1), dtype=np.uint8)
    lo, hi = int(x.min()), int(x.max())
    if lo < 0:
        raise ValueError("negative number")
    w = len(str(hi))
    if width is not None:
        if width < w:
            raise ValueError("number wider than its column")
        w = width
    elif hi < 10_000:  # one look-up of the left-aligned text
        small: U8 = _D4_LEFT.take(x, axis=0)[:, :w]
        return small
    chunks = (w + 3) // 4
    out = np.empty((n, 4 * chunks), dtype=np.uint8)
    q = x
    for c in range(chunks - 1, -1, -1):
        if c:
            q, r = _split(q, 10_000)
        else:
            r = q
        out[:, 4 * c : 4 * c + 4] = np.take(_D4, r, axis=0)
    text = out[:, 4 * chunks - w :]
    if lo < _POW10[w - 1]:  # some numbers are narrower: their leading zeros are padding
        nd = np.searchsorted(_POW10[1:w], x, side="right") + 1
        text *= _COLUMNS[:w] >= (w - nd)[:, None]
    return text


def _b62_matrix(h: U64, width: int = 11) -> U8:
    """Vectorised base-62 ids (least significant digit first), like ``events._b62``, as bytes."""
    n = h.copy()
    digits = np.empty((len(h), width), dtype=np.uint8)
    base = np.uint64(62)
    for i in range(width):
        q = n // base
        digits[:, i] = n - q * base
        n = q
    out: U8 = np.take(_B62, digits)
    return out


def _uuid_matrix(h: U64) -> U8:
    """Vectorised ``events._uuid`` (two splitmix words as a version-4-shaped UUID), as bytes."""
    a = splitmix_array(h)
    b = splitmix_array(h ^ np.uint64(0x5DEECE66D))
    hx = np.concatenate(
        [
            np.take(_HEX, ((a[:, None] >> _NIBBLE_SHIFTS) & np.uint64(15)).astype(np.intp)),
            np.take(_HEX, ((b[:, None] >> _NIBBLE_SHIFTS) & np.uint64(15)).astype(np.intp)),
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
    return out


def _iso_matrix(ts: npt.ArrayLike) -> U8:
    """``YYYY-MM-DDTHH:MM:SS`` of epoch seconds (UTC, years 1970-9999), 19 bytes a row
    (integer civil-from-days arithmetic: ``numpy.datetime_as_string`` is ~10x slower)."""
    t = np.asarray(ts, dtype=np.int64).reshape(-1)
    if len(t) and int(t.min()) < 0:
        raise ValueError("time before 1970")
    days, secs = _split(t, 86_400)
    hours, secs = _split(secs, 3600)
    minutes, secs = _split(secs, 60)
    # Howard Hinnant's civil_from_days (days >= 0 here).
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = np.where(mp < 10, mp + 3, mp - 9)
    year = yoe + era * 400 + (month <= 2)
    out = np.empty((len(t), 19), dtype=np.uint8)
    d2 = _D4[:100, 2:]
    out[:, 0:4] = np.take(_D4, year, axis=0)
    out[:, 4] = ord("-")
    out[:, 5:7] = np.take(d2, month, axis=0)
    out[:, 7] = ord("-")
    out[:, 8:10] = np.take(d2, day, axis=0)
    out[:, 10] = ord("T")
    out[:, 11:13] = np.take(d2, hours, axis=0)
    out[:, 13] = ord(":")
    out[:, 14:16] = np.take(d2, minutes, axis=0)
    out[:, 16] = ord(":")
    out[:, 17:19] = np.take(d2, secs, axis=0)
    return out


def b62_ids(h: U64, width: int = 11) -> list[str]:
    """Vectorised base-62 ids (least significant digit first), like ``events._b62``."""
    text = _b62_matrix(h, width).tobytes().decode()
    return [text[i : i + width] for i in range(0, len(text), width)]


#: Texts at least this long are not copied into the rows but joined as shared pieces (a piece
#: costs a list slot; a copied byte costs its write, padding removal, split and join).
_SHARED = 64


class _Pool:
    """A small set of texts to be written into rows by index: short ones NUL-padded into a
    matrix (copied into the rows), long ones (``shared``) as ``bytes`` objects (joined as
    pieces)."""

    def __init__(self, texts: Iterable[bytes | str]) -> None:
        items = [t.encode() if isinstance(t, str) else t for t in texts]
        width = max([len(t) for t in items] + [1])
        self.shared = width >= _SHARED
        self.objects = _objects(items)
        self.mat: U8 = np.zeros((len(items), width), dtype=np.uint8)
        for i, t in enumerate(items):
            if b"\0" in t or _CUT in t:
                raise ValueError("NUL or cut byte in a pooled text")
            self.mat[i, : len(t)] = np.frombuffer(t, dtype=np.uint8)


def _objects(items: Iterable[bytes | str]) -> npt.NDArray[np.object_]:
    """Texts as a numpy object array of bytes (gathered by index without per-item Python)."""
    data = [t.encode() if isinstance(t, str) else t for t in items]
    out = np.empty(len(data), dtype=object)
    out[:] = data
    return out


#: Ends a row segment in :class:`_Rows` (JSON text never holds a raw control character).
_CUT = b"\x01"
_EMPTY = _objects([b""])
#: Template rows of :class:`_Rows` layouts (bounded: cleared when full).
_TEMPLATES: dict[tuple[bytes | int, ...], U8] = {}


class _Rows:
    """Rows of text (one per event, line or profile) assembled column by column, vectorised
    over the rows, as pieces to join.

    Columns are constant texts, numbers, fixed-width byte matrices or texts from a
    :class:`_Pool`, each optionally present only in some rows (``when``). Short columns are
    written into one NUL-padded byte matrix, a row per row; :meth:`build` drops the padding with
    one ``bytes.translate`` and cuts the text with one ``bytes.split`` wherever a long column
    (long constants, long pooled texts: shared ``bytes`` objects, never copied) or a
    :meth:`cut` comes in between. The result is, per group of columns ended by :meth:`cut`, a
    numpy object array of the rows' pieces (a row per row), to place among other pieces.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        # Items: bytes (inline constant), U8 matrix (inline), object array or
        # ("shared", bytes) (a piece), None (end of a group).
        self._cols: list[Any] = []

    def text(self, text: bytes, when: npt.NDArray[np.bool_] | None = None) -> None:
        """A constant text (in the rows where ``when``)."""
        if when is None:
            if len(text) >= _SHARED:
                self._cols.append(("shared", text))
            elif self._cols and isinstance(self._cols[-1], bytes):
                self._cols[-1] += text
            else:
                self._cols.append(text)
        elif len(text) >= _SHARED:
            self._cols.append(np.where(when, _objects([text]), _EMPTY))
        else:
            self._cols.append(
                np.multiply(when[:, None], np.frombuffer(text, dtype=np.uint8), dtype=np.uint8)
            )

    def add(self, mat: U8, when: npt.NDArray[np.bool_] | None = None) -> None:
        """A byte matrix column (NUL = padding). With ``when``, ``mat`` is cleared in place in
        the other rows (pass a copy if it is shared)."""
        if when is not None:
            mat *= when[:, None]
        self._cols.append(mat)

    def piece(self, objects: npt.NDArray[np.object_]) -> None:
        """One ``bytes`` object per row, joined as it is."""
        self._cols.append(objects)

    def digits(
        self,
        values: npt.ArrayLike,
        when: npt.NDArray[np.bool_] | None = None,
        width: int | None = None,
    ) -> None:
        """Non-negative integers in decimal."""
        self.add(_digits(values, width), when)

    def pool(
        self, pool: _Pool, idx: npt.ArrayLike, when: npt.NDArray[np.bool_] | None = None
    ) -> None:
        """Texts of a pool by index."""
        i = np.asarray(idx, dtype=np.intp)
        if pool.shared:
            objects = np.take(pool.objects, i)
            self.piece(objects if when is None else np.where(when, objects, _EMPTY))
        else:
            self.add(np.take(pool.mat, i, axis=0), when)

    def money(self, cents: npt.ArrayLike, when: npt.NDArray[np.bool_] | None = None) -> None:
        """Cents as a Shopify decimal string (like :func:`money`)."""
        c = np.asarray(cents, dtype=np.int64)
        neg = c < 0
        if neg.any():
            self.text(b"-", neg if when is None else neg & when)
        dollars, rest = _split(np.abs(c), 100)
        self.digits(dollars, when)
        self.add(np.take(_DOT_D2, rest, axis=0), when)

    def dollars(self, cents: npt.ArrayLike) -> None:
        """``orjson.dumps(cents / 100)``: the shortest float text, ``12.0``, ``12.5``, ``12.34``."""
        c = np.asarray(cents, dtype=np.int64)
        a = np.abs(c)
        if len(a) and int(a.max()) >= 10**15:
            raise ValueError("amount too large for the float renderer")
        neg = c < 0
        if neg.any():
            self.text(b"-", neg)
        dollars, rest = _split(a, 100)
        self.digits(dollars)
        frac = np.take(_DOT_D2, rest, axis=0)
        frac[:, 2] *= rest - (rest // 10) * 10 != 0  # 12.50 -> 12.5 (12.00 -> 12.0)
        self.add(frac)

    def cut(self) -> None:
        """End the current group of columns."""
        self._cols.append(None)

    def build(self) -> list[npt.NDArray[np.object_]]:
        """Every group's pieces: an ``(n, pieces)`` object array per :meth:`cut`."""
        n = self.n
        # Inline columns go to the matrix, a cut byte ends an inline run before each piece and at
        # each group's end; a group is a list of ("run", k) and ("piece", objects or bytes).
        inline: list[bytes | U8] = []
        groups: list[list[tuple[str, Any]]] = [[]]
        runs = 0
        open_run = False
        for col in self._cols:
            if isinstance(col, bytes | np.ndarray) and (
                isinstance(col, bytes) or col.dtype != object
            ):
                inline.append(col)
                open_run = True
                continue
            if open_run:
                inline.append(_CUT)
                groups[-1].append(("run", runs))
                runs += 1
                open_run = False
            if col is None:
                groups.append([])
            elif isinstance(col, tuple):
                groups[-1].append(("piece", col[1]))
            else:
                groups[-1].append(("piece", col))
        if open_run:
            raise ValueError("rows must end with cut()")
        groups.pop()
        segments: list[bytes] = []
        if n and inline:
            # The constants of a layout (its columns' widths) are written once into a template
            # row, copied into every row at once; then the other columns are written.
            layout = tuple(c if isinstance(c, bytes) else c.shape[1] for c in inline)
            template = _TEMPLATES.get(layout)
            if template is None:
                template = np.concatenate(
                    [
                        np.frombuffer(c, dtype=np.uint8)
                        if isinstance(c, bytes)
                        else np.zeros(c, np.uint8)
                        for c in layout
                    ]
                )
                if len(_TEMPLATES) >= 256:
                    _TEMPLATES.clear()
                _TEMPLATES[layout] = template
            mat = np.empty((n, len(template)), dtype=np.uint8)
            mat[:] = template
            off = 0
            for col in inline:
                if isinstance(col, bytes):
                    off += len(col)
                else:
                    mat[:, off : off + col.shape[1]] = col
                    off += col.shape[1]
            segments = mat.tobytes().translate(None, b"\0").split(_CUT)
            segments.pop()  # after the last cut
        seg = np.fromiter(segments, dtype=object, count=len(segments))
        seg2 = seg.reshape(n, runs) if n else seg.reshape(0, runs)
        out = []
        for items in groups:
            arr = np.empty((n, len(items)), dtype=object)
            for k, (kind, value) in enumerate(items):
                arr[:, k] = seg2[:, value] if kind == "run" else value
            out.append(arr)
        return out


class _Page:
    """The orders of a page and their line items, gathered from the store's index with numpy
    (no day is regenerated to serve a page).

    Order arrays are aligned with the page's orders; line arrays hold the lines of every order of
    the page in page order, order ``j``'s lines at ``line_start[j]:line_start[j + 1]``.
    """

    __slots__ = (
        "order_id", "discount", "discounts", "subtotal", "utm", "source", "device",
        "line_start", "order_of_line", "local", "line_variant", "line_product", "line_qty",
        "line_disc",
    )  # fmt: skip

    def __init__(self, r: OrderRenderer, orders: I64) -> None:
        s = r.store
        day_i = np.searchsorted(s.day_start, orders, side="right") - 1
        self.order_id: I64 = (
            ORDER_ID_BASE + (s.first_day + day_i - 18_000) * 100_000 + orders - s.day_start[day_i]
        )
        self.discount: I64 = s.order_discount[orders].astype(np.int64)
        self.utm: I64 = s.order_utm[orders].astype(np.int64)
        self.source: I64 = s.order_source[orders].astype(np.int64)
        self.device: I64 = s.order_device[orders].astype(np.int64)
        counts = s.order_lines[orders].astype(np.int64)
        line_start = np.zeros(len(orders) + 1, dtype=np.int64)
        np.cumsum(counts, out=line_start[1:])
        total = int(line_start[-1])
        self.line_start = line_start
        self.order_of_line: I64 = np.repeat(np.arange(len(orders), dtype=np.int64), counts)
        self.local: I64 = np.arange(total, dtype=np.int64) - line_start[self.order_of_line]
        li = s.line_cum[orders][self.order_of_line] + self.local
        self.line_variant: I64 = s.line_variant[li].astype(np.int64)
        self.line_product: I64 = np.take(r.variant_product, self.line_variant)
        self.line_qty: I64 = s.line_qty[li].astype(np.int64)
        line_total = np.take(r.variant_price, self.line_variant) * self.line_qty
        self.line_disc: I64 = line_discounts(
            self.discount, line_start, line_total, self.order_of_line
        )
        firsts = line_start[:-1]
        self.subtotal: I64 = np.add.reduceat(line_total, firsts) if total else line_total[:0]
        self.discounts: I64 = np.add.reduceat(self.line_disc, firsts) if total else line_total[:0]


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
        self.variant_price: I64 = np.asarray(cat.variant_price, dtype=np.int64)
        # Line item: {"id":ID,<before[k]>DISCOUNT<after[k]>, k = variant * 4 + quantity - 1:
        #   before = "product_id":..,"vendor":..,"quantity":Q,"price":"P","total_discount":"
        #   after = ","line_price":"L","product":{...}}
        self._line_before: list[bytes] = []
        self._line_after: list[bytes] = []
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
                self._line_before.append(
                    f'{head}{q},"price":"{money(price)}","total_discount":"'.encode()
                )
                self._line_after.append(
                    f'","line_price":"{money(price * q)}","product":{product}}}'.encode()
                )
        #: A line's text after its id by (variant, quantity, discount code or none): before +
        #: discount + after, filled as they are first served (bounded: see _line_bodies).
        self._bodies = np.full(len(self._line_before) * _BODY_KINDS, None, dtype=object)
        self._body_filled = np.zeros(len(self._bodies), dtype=bool)
        self._bodies_kept = 0
        titles = [_j(p["title"]) for p in products]
        # An order's "Items": its lines' titles, the first one bare, the others after a comma.
        self._titles = _objects([*titles, *[f",{t}" for t in titles]])
        bit = {name: 1 << i for i, name in enumerate(COLLECTIONS)}
        self._coll_mask: I64 = np.array(
            [sum(bit[c] for c in p["collections"]) for p in products], dtype=np.int64
        )
        self._coll = _Pool(
            _j(sorted(c for i, c in enumerate(COLLECTIONS) if mask >> i & 1))
            for mask in range(1 << len(COLLECTIONS))
        )
        self._product_id: I64 = np.array([int(p["id"]) for p in products], dtype=np.int64)
        m = s.marketing
        campaign_utm = [("klaviyo", CHANNEL_TO_REPORT[c.channel], c.name) for c in m.campaigns]
        flow_utm = [
            ("klaviyo", msg.channel, f"{m.flows[msg.flow_index].name} - {msg.name}")
            for msg in m.flow_messages
        ]
        self._sources = _Pool(_j(x) for x in SOURCES)
        self._agents = _Pool(f'"client_details":{{"user_agent":{_j(x)}}}' for x in USER_AGENTS)
        self._code = _Pool(_j(code) for code, _, _ in DISCOUNTS)
        self._code_type = _Pool(_j(kind) for _, kind, _ in DISCOUNTS)
        #: "Discount Codes": [CODE] by discount, [] last (no discount).
        self._code_list = _Pool([*(f"[{_j(code)}]" for code, _, _ in DISCOUNTS), "[]"])
        self._status = _Pool(["paid", "partially_refunded", "refunded"])
        self._order_tags = _Pool(["simulated", "simulated, klaviyo"])
        # landing_site = "/products/<handle>" + the UTM query of the order's attribution; both
        # parts are kept as JSON string bodies (handles and quoted queries need no escaping).
        self._landing_path = _Pool(_j(f"/products/{p['handle']}")[1:-1] for p in products)
        utms = [OTHER_UTMS, campaign_utm, flow_utm]
        self._utm_off: I64 = np.cumsum([0, *(len(u) for u in utms[:-1])]).astype(np.int64)
        self._utm_query = _Pool(self._utm_json(u) for group in utms for u in group)
        # Customer fragments by name pair, (location, zip) and tag set; names and e-mails are
        # plain ASCII, so an e-mail's JSON is the address in quotes.
        names: list[str] = []
        prefixes: list[str] = []
        for first in FIRST_NAMES:
            for last in LAST_NAMES:
                assert _j(f"{first.lower()}.{last.lower()}") == f'"{first.lower()}.{last.lower()}"'
                names.append(f'"first_name":{_j(first)},"last_name":{_j(last)}')
                prefixes.append(f'"{first.lower()}.{last.lower()}.')
        self._names = _Pool(names)
        self._email_prefix = _Pool(prefixes)
        for d in EMAIL_DOMAINS:
            assert _j(d) == f'"{d}"', d
        self._email_at = _Pool(f'@{d}"' for d in EMAIL_DOMAINS)
        ship_tail: list[str] = []
        profile_place: list[str] = []
        for x, zips in zip(LOCATIONS, ZIP_CODES, strict=True):
            for z in zips:
                ship_tail.append(
                    f'"city":{_j(x[0])},"province":{_j(x[1])},"province_code":{_j(x[2])},'
                    f'"country":{_j(x[3])},"country_code":{_j(x[4])},"zip":{_j(z)}}}'
                )
                profile_place.append(
                    '"organization":null,"locale":"en-US",'
                    f'"location":{{"city":{_j(x[0])},"region":{_j(x[1])},"country":{_j(x[3])},'
                    f'"zip":{_j(z)},"address1":null,"address2":null,"timezone":null,"ip":null}},'
                )
        self._ship_tail = _objects(ship_tail)
        self._profile_place = _objects(profile_place)
        self._tags_text = _Pool(_j(", ".join(t)) for t in TAG_SETS)
        self._tags_props = _Pool(
            f'"properties":{{"Shopify Tags":{_j(list(t))},'
            f'"Accepts Marketing":{_j("newsletter" in t)},"shopify_customer_id":'
            for t in TAG_SETS
        )
        self._refund_note = _Pool(_j(r.replace("_", " ")) for r in REFUND_REASONS)
        self._refund_reason = _Pool(_j(r) for r in REFUND_REASONS)
        self._cancel_reason = _Pool(_j(r) for r in CANCEL_REASONS)

    # -- customers ------------------------------------------------------------------------------

    def _email(self, rows: _Rows, b: CustomerBlock, names: I64) -> None:
        rows.pool(self._email_prefix, names)
        rows.digits(b.numbers)
        rows.pool(self._email_at, b.domain)

    def _profile_pieces(
        self,
        numbers: npt.ArrayLike,
        prefix: bytes,
        comma: bool,
        block: CustomerBlock | None = None,
        email_only: bool = False,
    ) -> list[bytes]:
        """The included ``profile`` objects of customers as pieces, in the given order
        (``prefix``: the JSON string of ``{base_url}/api/profiles/`` without its closing quote;
        ``comma``: separate the objects with commas; ``email_only``: the sparse fieldset
        ``fields[profile]=email``)."""
        nums = np.asarray(numbers, dtype=np.int64).reshape(-1)
        n = len(nums)
        if not n:
            return []
        b = customer_block(self._seed, self._account, nums) if block is None else block
        names = b.first * len(LAST_NAMES) + b.last
        r = _Rows(n)
        if comma:
            r.text(b",", np.arange(n) > 0)
        r.text(b'{"type":"profile","id":"')
        r.add(b.profile_digits)
        r.text(b'","attributes":{"email":')
        self._email(r, b, names)
        if not email_only:
            r.text(b',"phone_number":null,"external_id":"')
            sid = _digits(b.shopify_id)
            r.add(sid)
            r.text(b'",')
            r.pool(self._names, names)
            r.text(b",")
            r.piece(np.take(self._profile_place, b.location * 100 + b.zip_draw))
            r.pool(self._tags_props, b.tags)
            r.add(sid)
            r.text(b"}")
        r.text(b'},"links":{"self":' + prefix)
        r.add(b.profile_digits)
        r.text(b'/"}}')
        r.cut()
        (pieces,) = r.build()
        out: list[bytes] = pieces.reshape(-1).tolist()
        return out

    def profile_pieces(self, numbers: npt.ArrayLike, prefix: bytes) -> list[bytes]:
        """The included ``profile`` objects of customers as pieces of the comma-separated
        content of a JSON array (join them)."""
        return self._profile_pieces(numbers, prefix, True)

    def profiles_json(self, numbers: list[int], base_url_json_prefix: str) -> list[str]:
        """The included ``profile`` objects of customers, in the given order
        (``base_url_json_prefix`` is the JSON string of ``{base_url}/api/profiles/`` without its
        closing quote)."""
        if not len(numbers):
            return []
        pieces = self._profile_pieces(numbers, base_url_json_prefix.encode(), False)
        k = len(pieces) // len(numbers)
        return [b"".join(pieces[i : i + k]).decode() for i in range(0, len(pieces), k)]

    def profile_json(self, number: int, base_url_json_prefix: str) -> str:
        """The included ``profile`` object of one customer."""
        return self.profiles_json([number], base_url_json_prefix)[0]

    # -- orders ---------------------------------------------------------------------------------

    @staticmethod
    def _utm_json(utm: tuple[str, str, str]) -> str:
        if not utm[0]:
            return ""
        query = f"?utm_source={quote_plus(utm[0])}&utm_medium={quote_plus(utm[1])}"
        if utm[2]:
            query += f"&utm_campaign={quote_plus(utm[2])}"
        return _j(query)[1:-1]

    def _event_pieces(
        self,
        key: str,
        pos: I64,
        base_url: str,
        comma: bool,
        attributes: frozenset[str] = EVENT_ATTRIBUTES,
    ) -> tuple[npt.NDArray[np.object_], I64, CustomerBlock]:
        """The JSON text of the events at positions ``pos`` of stream ``key``, as pieces to join
        (with commas between the events if ``comma``) and the index of every event's first
        piece.

        Every event is 5 + 3 * lines pieces: four segments written row-wise for the whole page
        (:class:`_Rows`) around the shared fragments: the line titles, the shipping address and
        the lines (a row-wise ``{"id":ID,`` and the line's shared text).
        """
        s = self.store
        ev = self.events
        if key == "placed":
            orders = pos
        elif key == "refunded":
            orders = s.r_order[pos].astype(np.int64)
        elif key == "cancelled":
            orders = s.c_order[pos].astype(np.int64)
        else:
            raise KeyError(key)
        n = len(orders)
        pg = _Page(self, orders)
        oid = pg.order_id
        if key == "placed":
            ts = s.order_ts[orders]
            event_keys = oid * 512 + 1
            values = s.order_value[orders]
        elif key == "refunded":
            ts = s.r_ts[pos]
            event_keys = (oid * 64 + s.r_seq[pos].astype(np.int64)) * 8 + 3
            values = s.r_amount[pos]
        else:
            ts = s.c_ts[pos]
            event_keys = oid * 512 + 4
            values = s.order_value[orders]
        h = splitmix_array(event_keys.astype(np.uint64) ^ np.uint64(ev._salt))
        eid = _b62_matrix(h)
        b = customer_block(self._seed, self._account, s.order_customer[orders])
        names = b.first * len(LAST_NAMES) + b.last
        counts = np.diff(pg.line_start)
        firsts = pg.line_start[:-1]
        at = _iso_matrix(s.order_ts[orders])
        dt = at if key == "placed" else _iso_matrix(ts)
        kinds = s.attr_kind[orders].astype(np.int64)
        targets = np.where(kinds == 0, pg.utm, s.attr_target[orders])
        disc = pg.discount
        has_code = disc >= 0
        code = np.maximum(disc, 0)
        oid_digits = _digits(oid)

        r = _Rows(n)
        # -- group 0: envelope, up to "Items":[
        if comma:
            r.text(b",", np.arange(n) > 0)
        r.text(b'{"type":"event","id":"')
        r.add(eid)
        r.text(b'","attributes":{')
        if "timestamp" in attributes:
            r.text(b'"timestamp":')
            r.digits(ts)
            r.text(b",")
        r.text(b'"event_properties":{"$value":')
        r.dollars(values)
        r.text(b',"$event_id":"')
        r.add(oid_digits)
        r.text(b'","$currency_code":"USD","Items":[')
        r.cut()
        # -- group 1: properties, $extra (customer, shipping address, ...) up to "line_items":[
        r.text(b'],"Collections":')
        r.pool(self._coll, np.bitwise_or.reduceat(self._coll_mask[pg.line_product], firsts))
        r.text(b',"Item Count":')
        r.digits(s.order_qty[orders])
        r.text(b',"Discount Codes":')
        r.pool(self._code_list, np.where(has_code, disc, len(DISCOUNTS)))
        r.text(b',"Total Discounts":"')
        r.money(pg.discounts)
        r.text(b'","Source Name":')
        r.pool(self._sources, pg.source)
        r.text(b',"$extra":{"id":')
        r.add(oid_digits)
        r.text(b',"name":"#')
        r.digits(orders + 1001)
        r.text(b'","email":')
        self._email(r, b, names)
        r.text(b',"currency":"USD","created_at":"')
        r.add(at)
        r.text(b'+00:00","processed_at":"')
        r.add(at)
        r.text(b'+00:00","total_price":"')
        price = s.order_value[orders]
        r.money(price)
        r.text(b'","subtotal_price":"')
        r.money(price)
        r.text(b'","total_line_items_price":"')
        r.money(pg.subtotal)
        r.text(b'","total_discounts":"')
        r.money(pg.discounts)
        r.text(b'","total_tax":"0.00","financial_status":"')
        if key == "refunded":
            refund_line = s.r_line[pos].astype(np.int64)
            has_line = refund_line >= 0
            r.pool(self._status, np.where(has_line, 1, 2))
        else:
            r.pool(self._status, np.zeros(n, dtype=np.int64))
        r.text(b'","discount_codes":')
        r.text(b'[{"code":', has_code)
        r.pool(self._code, code, has_code)
        r.text(b',"amount":"', has_code)
        r.money(pg.discounts, has_code)
        r.text(b'","type":', has_code)
        r.pool(self._code_type, code, has_code)
        r.text(b"}]", has_code)
        r.text(b"[]", ~has_code)
        r.text(b',"tags":"')
        r.pool(self._order_tags, kinds != 0)
        r.text(b'","customer":{"id":')
        r.digits(b.shopify_id)
        r.text(b',"email":')
        self._email(r, b, names)
        r.text(b",")
        r.pool(self._names, names)
        r.text(b',"tags":')
        r.pool(self._tags_text, b.tags)
        r.text(b',"orders_count":')
        r.digits(s.order_seq[orders])
        r.text(b',"total_spent":"')
        r.money(s.order_spent[orders])
        r.text(b'"},"shipping_address":{')
        r.pool(self._names, names)
        r.text(b",")
        r.piece(np.take(self._ship_tail, b.location * 100 + b.zip_draw))
        r.text(b",")
        r.pool(self._agents, pg.device)
        r.text(b',"landing_site":"')
        r.pool(self._landing_path, pg.line_product[firsts])
        r.pool(self._utm_query, self._utm_off[kinds] + targets)
        r.text(b'","source_name":')
        r.pool(self._sources, pg.source)
        r.text(b',"line_items":[')
        r.cut()
        # -- group 2: refund or cancellation, datetime, uuid, relationships, links
        r.text(b"]")
        if key == "refunded":
            reason = s.r_reason[pos].astype(np.int64)
            r.text(b',"refund":{"id":')
            r.digits(oid * 10 + s.r_seq[pos].astype(np.int64) + 1)
            r.text(b',"created_at":"')
            r.add(dt)
            r.text(b'+00:00","note":')
            r.pool(self._refund_note, reason)
            r.text(b',"refund_line_items":')
            line = np.maximum(refund_line, 0)
            r.text(b'[{"line_item_id":', has_line)
            r.digits(oid * 100 + line, has_line)
            r.text(b',"quantity":', has_line)
            r.digits(s.r_qty[pos], has_line)
            r.text(b',"subtotal":"', has_line)
            r.money(s.r_amount[pos], has_line)
            r.text(b'","product_id":', has_line)
            r.digits(
                self._product_id[
                    pg.line_product[np.minimum(firsts + line, len(pg.line_product) - 1)]
                ],
                has_line,
            )
            r.text(b"}]", has_line)
            r.text(b"[]", ~has_line)
            r.text(b"}}")
            r.text(b',"Reason":')
            r.pool(self._refund_reason, reason)
        elif key == "cancelled":
            reason = s.c_reason[pos].astype(np.int64)
            r.text(b',"cancel_reason":')
            r.pool(self._cancel_reason, reason)
            r.text(b',"cancelled_at":"')
            r.add(dt)
            r.text(b'+00:00","refund":{"id":')
            r.digits(oid * 10)
            r.text(b',"created_at":"')
            r.add(dt)
            r.text(b'+00:00","note":"order cancelled","refund_line_items":[]}}')
            r.text(b',"Reason":')
            r.pool(self._cancel_reason, reason)
        else:
            r.text(b"}")
        metric = ev.by_key[key].id
        link = _j(f"{base_url}/api/events/")[:-1]
        r.text(b"}")
        if "datetime" in attributes:
            r.text(b',"datetime":"')
            r.add(dt)
            r.text(b'+00:00"')
        if "uuid" in attributes:
            r.text(b',"uuid":"')
            r.add(_uuid_matrix(h))
            r.text(b'"')
        r.text(b'},"relationships":{"profile":{"data":{"type":"profile","id":"')
        r.add(b.profile_digits)
        r.text(
            f'"}}}},"metric":{{"data":{{"type":"metric","id":"{metric}"}}}}}},'
            f'"links":{{"self":{link}'.encode()
        )
        r.add(eid)
        r.text(b'/"}}')
        r.cut()
        g0, g1, g2 = r.build()

        # Lines: {"id":ID, (after a comma but for an order's first line) and the shared text.
        total = int(pg.line_start[-1])
        order_of_line = pg.order_of_line
        local = pg.local
        lr = _Rows(total)
        lr.text(b",", local > 0)
        lr.text(b'{"id":')
        lr.add(np.take(oid_digits, order_of_line, axis=0))  # line id = order id * 100 + local
        lr.add(np.take(_D4[:100, 2:], local, axis=0))
        lr.text(b",")
        lr.cut()
        (heads,) = lr.build()
        bodies = self._line_bodies(pg)

        # Layout: g0, titles (one per line), g1, (head, body) per line, g2; order j's pieces
        # start at k j + 3 line_start[j], k = pieces of g0 + g1 + g2.
        k0, k1, k2 = g0.shape[1], g1.shape[1], g2.shape[1]
        base = (k0 + k1 + k2) * np.arange(n, dtype=np.int64) + 3 * firsts
        out = np.empty((k0 + k1 + k2) * n + 3 * total, dtype=object)
        out[base[:, None] + np.arange(k0)] = g0
        out[(base + k0 + counts)[:, None] + np.arange(k1)] = g1
        out[(base + k0 + k1 + 3 * counts)[:, None] + np.arange(k2)] = g2
        line_base = base[order_of_line] + local
        out[line_base + k0] = self._titles[pg.line_product + len(self._coll_mask) * (local > 0)]
        heads_at = line_base + local + k0 + k1 + counts[order_of_line]
        out[heads_at] = heads[:, 0]
        out[heads_at + 1] = bodies
        return out, base, b

    def _line_bodies(self, pg: _Page) -> npt.NDArray[np.object_]:
        """The text after ``{"id":ID,`` of every line of a page (shared ``bytes`` objects).

        A line's discount is a function of its (variant, quantity) and its order's code, so the
        texts are kept by that triple, at most ``LINE_BODIES`` of them (then all are dropped and
        refilled as served: memory stays bounded).
        """
        ks = pg.line_variant * MAX_QTY + pg.line_qty - 1
        code = np.where(pg.line_disc != 0, pg.discount[pg.order_of_line] + 1, 0)
        slots = ks * _BODY_KINDS + code
        missing = np.unique(slots[~np.take(self._body_filled, slots)])
        if len(missing):
            if self._bodies_kept + len(missing) > LINE_BODIES:
                self._bodies.fill(None)
                self._body_filled.fill(False)
                self._bodies_kept = 0
                missing = np.unique(slots)
            first = np.zeros(len(self._bodies), dtype=np.int64)
            first[slots[::-1]] = np.arange(len(slots) - 1, -1, -1)  # a line of each slot
            at = first[missing]
            before, after = self._line_before, self._line_after
            for slot, d in zip(missing.tolist(), money_list(pg.line_disc[at]), strict=True):
                k = slot // _BODY_KINDS
                self._bodies[slot] = before[k] + d.encode() + after[k]
            self._body_filled[missing] = True
            self._bodies_kept += len(missing)
        out: npt.NDArray[np.object_] = np.take(self._bodies, slots)
        return out

    def page_pieces(
        self,
        key: str,
        positions: npt.ArrayLike,
        base_url: str,
        profiles: bool = False,
        attributes: frozenset[str] = EVENT_ATTRIBUTES,
        profile_email_only: bool = False,
    ) -> tuple[list[bytes], list[bytes]]:
        """The events at ``positions`` of stream ``key`` (one of FAST_KEYS) and, if ``profiles``,
        their customers' profiles (one per customer, in order of first appearance), each as
        pieces of the comma-separated content of a JSON array (join them).

        ``attributes``: the event attributes to render (sparse fieldsets; ``event_properties``
        must be one of them); ``profile_email_only``: ``fields[profile]=email``.
        """
        if "event_properties" not in attributes:
            raise ValueError("the fast renderer always renders event_properties")
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if not len(pos):
            return [], []
        out, _, b = self._event_pieces(key, pos, base_url, True, attributes)
        events: list[bytes] = out.tolist()
        if not profiles:
            return events, []
        _, first = np.unique(b.numbers, return_index=True)
        first.sort()
        sub = CustomerBlock(
            *(np.take(getattr(b, f.name), first, axis=0) for f in dataclasses.fields(b))
        )
        prefix = orjson.dumps(f"{base_url}/api/profiles/")[:-1]
        return events, self._profile_pieces(sub.numbers, prefix, True, sub, profile_email_only)

    def render(self, key: str, positions: list[int], base_url: str) -> list[str]:
        """JSON text of the events at ``positions`` of stream ``key`` (one of FAST_KEYS)."""
        if not positions:
            return []
        out, base, _ = self._event_pieces(
            key, np.asarray(positions, dtype=np.int64), base_url, False
        )
        pieces = out.tolist()
        bounds = [*base.tolist(), len(pieces)]
        return [
            b"".join(pieces[a:b]).decode() for a, b in zip(bounds[:-1], bounds[1:], strict=True)
        ]
