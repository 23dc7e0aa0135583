"""One synthetic Shopify store behind a Klaviyo account: orders, line items, refunds,
cancellations and fulfilments, generated day by day.

Each UTC day is generated from its own random stream (seeded by store seed, account and day), so
any day can be regenerated alone. Building a store walks all days once and keeps only a compact
column index (a few dozen bytes per order: time, customer, value, attribution, counts); the line
items and every payload are rebuilt on demand from the day's stream when a page is served.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from klaviyo_analytics.simulator.catalog import Catalog, build_catalog
from klaviyo_analytics.simulator.config import FUTURE_DAYS, HISTORY_DAYS
from klaviyo_analytics.simulator.ids import mix, short_id, splitmix_array, unit_array
from klaviyo_analytics.simulator.marketing import Marketing, build_marketing

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

TIMEZONES = [
    "America/New_York",
    "Europe/London",
    "America/Los_Angeles",
    "Australia/Sydney",
    "America/Chicago",
    "Europe/Berlin",
]
#: (code, type, value): percentage in %, fixed_amount in cents, shipping (free shipping).
DISCOUNTS: list[tuple[str, str, int]] = [
    ("WELCOME10", "percentage", 10),
    ("SPRING15", "percentage", 15),
    ("VIP20", "percentage", 20),
    ("SAVE5", "fixed_amount", 500),
    ("FREESHIP", "shipping", 0),
]
REFUND_REASONS = ["customer_return", "damaged", "wrong_size", "not_as_described", "late_delivery"]
CANCEL_REASONS = ["customer", "inventory", "fraud", "declined", "other"]
SOURCES = ["web", "web", "web", "web", "iphone", "pos", "shopify_draft_order"]
USER_AGENTS = [
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/124.0 Mobile Safari/537.36",
    "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/124.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 Version/17.4 Safari/605",
]
DEVICE_WEIGHTS = np.cumsum([0.42, 0.14, 0.06, 0.22, 0.16])
#: (utm_source, utm_medium, utm_campaign) of orders not attributed to Klaviyo; "" = none.
OTHER_UTMS: list[tuple[str, str, str]] = [
    ("", "", ""),
    ("", "", ""),
    ("", "", ""),
    ("google", "cpc", "brand_search"),
    ("google", "organic", ""),
    ("facebook", "paid_social", "prospecting"),
    ("instagram", "social", "bio_link"),
    ("tiktok", "paid_social", "spring_creators"),
]
HOUR_WEIGHTS = np.array(
    [0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.5, 1.0, 1.5, 1.9, 2.2, 2.4,
     2.7, 2.6, 2.3, 2.2, 2.2, 2.4, 2.7, 3.0, 3.1, 2.7, 1.9, 1.1]
)  # fmt: skip
WEEKDAY_FACTOR = [1.05, 1.0, 1.0, 1.02, 0.95, 0.9, 1.08]
ORDER_ID_BASE = 5_000_000_000_000
FLOW_LAGS = np.cumsum([0.5, 0.3, 0.2])
#: Orders' worth of generated days kept in the store's LRU: a page of the largest store spans a
#: day or two, a refunds page reaches back over a month of orders, and a small store fits whole.
DAY_CACHE_ORDERS = 60_000


def _malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_TRIM = _malloc_trim()


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the OS (glibc ``malloc_trim``; a no-op elsewhere).

    Building a store and serving 4 MB pages free many blocks that glibc otherwise keeps mapped,
    so the process's RSS would stay at its high-water mark (~35 MB more for the large store).
    """
    if _TRIM is not None:
        _TRIM(0)


def day_multiplier(day: int, first_day: int) -> float:
    """Relative order volume of a UTC day: growth, seasonality (BFCM, December) and weekday."""
    when = datetime(1970, 1, 1) + timedelta(days=day)
    growth = 1.35 ** ((day - first_day) / 365.0)
    doy = when.timetuple().tm_yday
    season = 1.0 + 0.12 * np.cos(2 * np.pi * (doy - 15) / 365.0)
    if when.month == 12 and when.day <= 20:
        season *= 1.45
    elif when.month == 1:
        season *= 0.8
    elif when.month in (7, 8):
        season *= 0.9
    if when.month == 11:
        # Black Friday is the day after the fourth Thursday.
        first = datetime(when.year, 11, 1)
        thursday = 1 + (3 - first.weekday()) % 7 + 21
        offset = when.day - (thursday + 1)
        if offset == 0:
            season *= 3.2
        elif offset == 3:
            season *= 2.6
        elif -6 <= offset <= 4:
            season *= 1.6
    return float(growth * season * WEEKDAY_FACTOR[when.weekday()])


def line_discounts(discount: I64, line_start: I64, line_total: I64, order_of_line: I64) -> I64:
    """Discount in cents of every line of some orders.

    Args:
        discount: each order's discount code (index into :data:`DISCOUNTS`, -1 for none).
        line_start: order ``j``'s lines are ``line_start[j]:line_start[j + 1]``.
        line_total: each line's price times quantity.
        order_of_line: each line's order ``j``.

    Returns:
        Percentage codes discount every line (rounded half up), fixed amounts the first line (at
        most its total), free shipping nothing.
    """
    line_disc = np.zeros(len(line_total), dtype=np.int64)
    dcode = discount[order_of_line]
    for code_i, (_code, kind, amount) in enumerate(DISCOUNTS):
        sel = dcode == code_i
        if kind == "percentage":
            line_disc[sel] = (line_total[sel] * amount + 50) // 100
        elif kind == "fixed_amount" and sel.any():
            firsts = line_start[:-1][discount == code_i]
            line_disc[firsts] = np.minimum(amount, line_total[firsts])
    return line_disc


@dataclass
class DayBatch:
    """Everything generated for the orders of one UTC day (arrays aligned by order or line)."""

    day: int
    ts: I64
    customer: I64
    is_new: B
    line_start: I64
    line_product: I64
    line_variant: I64
    line_qty: I64
    line_price: I64
    line_disc: I64
    discount: I64
    subtotal: I64
    discounts: I64
    value: I64
    cancelled: B
    cancel_delay: I64
    cancel_reason: I64
    refund_order: I64
    refund_seq: I64
    refund_delay: I64
    refund_line: I64
    refund_qty: I64
    refund_amount: I64
    refund_reason: I64
    fulfil_delay: I64
    attr_kind: I64
    attr_target: I64
    attr_lag: I64
    utm: I64
    source: I64
    device: I64


@dataclass(frozen=True)
class AccountInfo:
    """Identity of one simulated Klaviyo account.

    Attributes:
        index: account index (0-based).
        public_id: the 6-character public id (site id).
        timezone: IANA timezone of the account.
        name: organisation name.
    """

    index: int
    public_id: str
    timezone: str
    name: str


def account_info(seed: int, account: int) -> AccountInfo:
    """The identity of account ``account`` of a seed."""
    public_id = short_id(seed, account, "public-id", length=6)
    names = ["Harbor & Pine", "Juniper Supply Co", "Fieldnotes Apparel", "Lumen Home"]
    return AccountInfo(
        index=account,
        public_id=public_id,
        timezone=TIMEZONES[account % len(TIMEZONES)],
        name=names[account % len(names)] + (f" {account}" if account >= len(names) else ""),
    )


class Store:
    """The synthetic store of one account, with a compact index of all its orders.

    Args:
        seed: store seed.
        account: account index.
        orders: approximate number of orders in the two-year history.
        anchor: end of the history (the clock's starting time).
    """

    def __init__(self, seed: int, account: int, orders: int, anchor: datetime) -> None:
        self.seed = seed
        self.account = account
        self.info = account_info(seed, account)
        self.tz = ZoneInfo(self.info.timezone)
        self.anchor = anchor.astimezone(UTC)
        self.anchor_ts = int(self.anchor.timestamp())
        anchor_day = self.anchor_ts // 86_400
        self.first_day = anchor_day - HISTORY_DAYS
        self.end_day = anchor_day + FUTURE_DAYS
        self.start_ts = self.first_day * 86_400
        self.end_ts = self.end_day * 86_400
        self.target_orders = orders
        self.catalog: Catalog = build_catalog(seed, account, orders)
        self.marketing: Marketing = build_marketing(seed, account, self.first_day, self.end_day)
        self._offsets = self._hourly_offsets()
        mult = np.array([day_multiplier(d, self.first_day) for d in self._days()])
        history = mult[: anchor_day - self.first_day].sum() + mult[anchor_day - self.first_day] * (
            (self.anchor_ts % 86_400) / 86_400
        )
        self.base_rate = orders / max(history, 1e-9)
        self.day_rate = mult * self.base_rate
        self._cache: OrderedDict[int, DayBatch] = OrderedDict()
        self._cached_orders = 0
        self._lock = threading.Lock()
        self._build_index()

    # -- time helpers -------------------------------------------------------------------------

    def _days(self) -> range:
        return range(self.first_day, self.end_day)

    def _hourly_offsets(self) -> I64:
        """UTC offset in seconds of the account timezone for every hour of the window."""
        hours = (self.end_ts - self.start_ts) // 3600 + 48
        out = np.empty(hours, dtype=np.int64)
        prev = None
        for h in range(hours):
            if h % 24 == 0 or prev is None:
                when = datetime.fromtimestamp(self.start_ts + h * 3600, UTC).astimezone(self.tz)
                off = when.utcoffset()
                prev = int(off.total_seconds()) if off is not None else 0
                # Re-check hour by hour only on days whose offset changes (DST switches).
                end = datetime.fromtimestamp(self.start_ts + (h + 24) * 3600, UTC).astimezone(
                    self.tz
                )
                end_off = end.utcoffset()
                day_changes = (int(end_off.total_seconds()) if end_off else 0) != prev
            if day_changes:
                when = datetime.fromtimestamp(self.start_ts + h * 3600, UTC).astimezone(self.tz)
                off = when.utcoffset()
                out[h] = int(off.total_seconds()) if off is not None else 0
            else:
                out[h] = prev
        return out

    def local_day(self, ts: I64) -> I64:
        """Account-local day numbers (days since 1970-01-01 in local time) of epoch seconds."""
        idx = np.clip((ts - self.start_ts) // 3600, 0, len(self._offsets) - 1)
        return np.asarray((ts + self._offsets[idx]) // 86_400, dtype=np.int64)

    def local_day_of(self, ts: int) -> int:
        """Account-local day number of one epoch-seconds value."""
        return int(self.local_day(np.array([ts], dtype=np.int64))[0])

    def local_midnight(self, local_day: int) -> datetime:
        """The account-local midnight starting a local day number, timezone-aware."""
        naive = datetime(1970, 1, 1) + timedelta(days=local_day)
        return naive.replace(tzinfo=self.tz)

    # -- day generation -----------------------------------------------------------------------

    def _rng(self, day: int, stream: int = 0) -> np.random.Generator:
        return np.random.default_rng([self.seed & 0xFFFFFFFF, self.account, day, stream])

    def _propensity(self, customers: I64) -> F64:
        """Repeat-purchase propensity of customers: heavy-tailed, most are low."""
        h = splitmix_array(
            customers.astype(np.uint64) ^ np.uint64(mix(self.seed, self.account, "propensity"))
        )
        u = unit_array(h)
        return np.asarray(0.03 / (u + 0.03), dtype=np.float64)

    def generate_day(self, day: int, existing: int) -> DayBatch:
        """Generate the orders of one UTC day.

        Args:
            day: UTC day number.
            existing: number of customers who joined before this day (new customers of this day
                get the following numbers).

        Returns:
            The day's orders, lines, refunds and cancellations.
        """
        rng = self._rng(day)
        cat = self.catalog
        n = int(rng.poisson(self.day_rate[day - self.first_day]))
        offset = int(
            self._offsets[min((day * 86_400 - self.start_ts) // 3600 + 12, len(self._offsets) - 1)]
        )
        hour_w = np.roll(HOUR_WEIGHTS, -int(round(offset / 3600)))
        hour_cum = np.cumsum(hour_w) / hour_w.sum()
        hours = np.searchsorted(hour_cum, rng.random(n), side="right")
        secs = np.sort(hours * 3600 + rng.integers(0, 3600, n))
        ts = day * 86_400 + secs.astype(np.int64)
        # Customers: new ones join with consecutive numbers; returning ones are drawn with a
        # recency bias (old customers churn) and weighted by a heavy-tailed propensity.
        p_new = 1.0 if existing < 20 else 0.5
        is_new = rng.random(n) < p_new
        n_new = int(is_new.sum())
        customer = np.empty(n, dtype=np.int64)
        customer[is_new] = existing + np.arange(n_new)
        n_ret = n - n_new
        if n_ret:
            k = 12
            r = rng.random((n_ret, k))
            cand = existing - 1 - np.floor(existing * r**2.2).astype(np.int64)
            cand = np.clip(cand, 0, existing - 1)
            score = self._propensity(cand.ravel()).reshape(n_ret, k) * rng.exponential(
                1.0, (n_ret, k)
            )
            customer[~is_new] = cand[np.arange(n_ret), np.argmax(score, axis=1)]
        # Lines: about 3.5 per order, skewed; products by Zipf popularity.
        n_lines = np.clip(rng.geometric(1 / 3.5, n), 1, 25).astype(np.int64)
        line_start = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(n_lines, out=line_start[1:])
        total = int(line_start[-1])
        order_of_line = np.repeat(np.arange(n), n_lines)
        product = np.searchsorted(cat.product_cum_weight, rng.random(total), side="right")
        product = np.minimum(product, len(cat.products) - 1).astype(np.int64)
        # Planted bundles: the partner of the first line's product rides along on the second line.
        bundle_u = rng.random(n)
        if n:
            first = line_start[:-1]
            partner = cat.bundle_partner[product[first]]
            ride = (partner >= 0) & (n_lines >= 2) & (bundle_u < 0.75)
            product[first[ride] + 1] = partner[ride]
        # Substitutes: drop the second of a pair from a basket that already holds the first.
        repl = rng.random(total)
        for a, b in cat.substitutes:
            has_a = np.zeros(n, dtype=bool)
            has_a[order_of_line[product == a]] = True
            clash = (product == b) & has_a[order_of_line]
            if clash.any():
                alt = (np.floor(repl[clash] * len(cat.products))).astype(np.int64)
                alt = np.where((alt == a) | (alt == b), (alt + 7) % len(cat.products), alt)
                product[clash] = alt
        variant = cat.product_first_variant[product] + np.floor(
            rng.random(total) * cat.product_variant_count[product]
        ).astype(np.int64)
        qr = rng.random(total)
        qty = 1 + (qr > 0.8) + (qr > 0.93) + (qr > 0.985)
        qty = qty.astype(np.int64)
        price = cat.variant_price[variant]
        line_total = price * qty
        # Attribution to Klaviyo campaigns (sent in the 5 days before) and flow messages.
        ar = rng.random(n)
        attr_kind = np.zeros(n, dtype=np.int64)
        attr_target = np.full(n, -1, dtype=np.int64)
        send = self.marketing.campaign_send_ts
        back = rng.integers(0, 3, n)
        ci = np.searchsorted(send, ts, side="right") - 1 - back
        ok = (ar < 0.10) & (ci >= 0)
        ci_c = np.clip(ci, 0, max(len(send) - 1, 0))
        if len(send):
            ok &= (ts - send[ci_c]) < 5 * 86_400
        else:
            ok &= False
        attr_kind[ok] = 1
        attr_target[ok] = ci_c[ok]
        fl = (~ok) & (ar >= 0.10) & (ar < 0.23)
        fm = np.searchsorted(self.marketing.flow_message_cum_weight, rng.random(n), side="right")
        attr_kind[fl] = 2
        attr_target[fl] = fm[fl]
        lag = np.searchsorted(FLOW_LAGS, rng.random(n), side="right").astype(np.int64)
        lag = np.where(attr_kind == 2, np.minimum(lag, day - self.first_day), 0)
        # Discount codes: first orders often use WELCOME10; campaign buyers use promo codes.
        dr = rng.random(n)
        promo = rng.integers(1, len(DISCOUNTS), n)
        discount = np.full(n, -1, dtype=np.int64)
        discount[is_new & (dr < 0.35)] = 0
        use_promo = (~is_new & (dr < 0.12)) | ((attr_kind == 1) & (dr < 0.4) & ~is_new)
        discount[use_promo] = promo[use_promo]
        line_disc = line_discounts(discount, line_start, line_total, order_of_line)
        subtotal = np.bincount(order_of_line, weights=line_total, minlength=n).astype(np.int64)
        discounts = np.bincount(order_of_line, weights=line_disc, minlength=n).astype(np.int64)
        value = subtotal - discounts
        # Cancellations (within a day) and refunds (3 to 30 days later; full or partial).
        cr = rng.random(n)
        cancelled = cr < 0.02
        cancel_delay = rng.integers(1800, 86_400, n)
        cancel_reason = rng.integers(0, len(CANCEL_REASONS), n)
        rr = rng.random(n)
        refunded = (~cancelled) & (rr < 0.06)
        full = refunded & (rng.random(n) < 0.4)
        partial = refunded & ~full
        second = partial & (n_lines >= 2) & (rng.random(n) < 0.2)
        pick = np.floor(rng.random(n) * n_lines).astype(np.int64)
        qpick = rng.random(n)
        r_delay1 = rng.integers(3 * 86_400, 30 * 86_400, n)
        r_delay2 = r_delay1 + rng.integers(86_400, 10 * 86_400, n)
        reason = rng.integers(0, len(REFUND_REASONS), n)
        ro: list[I64] = []
        rs: list[I64] = []
        rd: list[I64] = []
        rl: list[I64] = []
        rq: list[I64] = []
        ra: list[I64] = []
        idx_full = np.nonzero(full)[0]
        ro.append(idx_full)
        rs.append(np.zeros(len(idx_full), dtype=np.int64))
        rd.append(r_delay1[idx_full])
        rl.append(np.full(len(idx_full), -1, dtype=np.int64))
        rq.append(np.zeros(len(idx_full), dtype=np.int64))
        ra.append(value[idx_full])
        for seq, (mask, delay, shift) in enumerate(((partial, r_delay1, 0), (second, r_delay2, 1))):
            idx = np.nonzero(mask)[0]
            local = (pick[idx] + shift) % n_lines[idx]
            gl = line_start[idx] + local
            q_all = qty[gl]
            q = np.maximum(1, np.ceil(qpick[idx] * q_all)).astype(np.int64)
            paid = line_total[gl] - line_disc[gl]
            part = q * price[gl] - (2 * line_disc[gl] * q + q_all) // (2 * q_all)
            refund_cents = np.where(q == q_all, paid, part)
            ro.append(idx)
            rs.append(np.full(len(idx), seq, dtype=np.int64))
            rd.append(delay[idx])
            rl.append(local)
            rq.append(q)
            ra.append(refund_cents)
        return DayBatch(
            day=day,
            ts=ts,
            customer=customer,
            is_new=is_new,
            line_start=line_start,
            line_product=product,
            line_variant=variant,
            line_qty=qty,
            line_price=price,
            line_disc=line_disc,
            discount=discount,
            subtotal=subtotal,
            discounts=discounts,
            value=value,
            cancelled=cancelled,
            cancel_delay=cancel_delay.astype(np.int64),
            cancel_reason=cancel_reason.astype(np.int64),
            refund_order=np.concatenate(ro).astype(np.int64),
            refund_seq=np.concatenate(rs),
            refund_delay=np.concatenate(rd).astype(np.int64),
            refund_line=np.concatenate(rl),
            refund_qty=np.concatenate(rq),
            refund_amount=np.concatenate(ra),
            refund_reason=np.concatenate([reason[x] for x in ro]).astype(np.int64),
            fulfil_delay=rng.integers(86_400, 5 * 86_400, n).astype(np.int64),
            attr_kind=attr_kind,
            attr_target=attr_target,
            attr_lag=lag,
            utm=rng.integers(0, len(OTHER_UTMS), n).astype(np.int64),
            source=rng.integers(0, len(SOURCES), n).astype(np.int64),
            device=np.searchsorted(DEVICE_WEIGHTS, rng.random(n) * DEVICE_WEIGHTS[-1]).astype(
                np.int64
            ),
        )

    def day_batch(self, day: int) -> DayBatch:
        """The (cached) generated batch of one UTC day of the window."""
        with self._lock:
            batch = self._cache.get(day)
            if batch is not None:
                self._cache.move_to_end(day)
                return batch
        batch = self.generate_day(day, int(self.new_base[day - self.first_day]))
        self._remember(batch)
        return batch

    def _remember(self, batch: DayBatch) -> None:
        """Put a day in the LRU, which holds at most ``DAY_CACHE_ORDERS`` orders (and 4+ days)."""
        with self._lock:
            if batch.day in self._cache:
                return
            self._cache[batch.day] = batch
            self._cached_orders += len(batch.ts)
            while self._cached_orders > DAY_CACHE_ORDERS and len(self._cache) > 4:
                _, old = self._cache.popitem(last=False)
                self._cached_orders -= len(old.ts)

    def _day_counts(self) -> I64:
        """Number of orders of every day: the first draw of each day's stream (no generation)."""
        out = np.empty(self.end_day - self.first_day, dtype=np.int64)
        for i, day in enumerate(self._days()):
            out[i] = int(self._rng(day).poisson(self.day_rate[i]))
        return out

    def _build_index(self) -> None:
        """Walk every day once and keep compact per-order columns (~50 bytes per order).

        The day counts are known up front (the first draw of each day's stream), so every column
        is allocated once at its final size in a small dtype and filled day by day: no per-day
        lists and no concatenation copies, so building peaks at little more than the index.
        """
        n_days = self.end_day - self.first_day
        counts = self._day_counts()
        day_start = np.zeros(n_days + 1, dtype=np.int64)
        np.cumsum(counts, out=day_start[1:])
        total = int(day_start[-1])
        new_base = np.zeros(n_days + 1, dtype=np.int64)
        order_ts = np.empty(total, dtype=np.int64)
        cust = np.empty(total, dtype=np.int32)
        value = np.empty(total, dtype=np.int32)
        lines = np.empty(total, dtype=np.int32)
        qty = np.empty(total, dtype=np.int16)
        kind = np.empty(total, dtype=np.int8)
        target = np.empty(total, dtype=np.int32)
        lag = np.empty(total, dtype=np.int8)
        f_ts = np.empty(total, dtype=np.int64)
        f_order = np.empty(total, dtype=np.int32)
        # What the order events' renderer needs beyond the columns above, so serving a page
        # never regenerates days (a refunds or cancellations page reaches back over a month of
        # orders): small codes per order, variant and quantity per line (~3 bytes a line).
        discount = np.empty(total, dtype=np.int8)
        utm = np.empty(total, dtype=np.int8)
        source = np.empty(total, dtype=np.int8)
        device = np.empty(total, dtype=np.int8)
        variant_dtype = np.int16 if len(self.catalog.variants) < 2**15 else np.int32
        line_variant: list[npt.NDArray[np.generic]] = []
        line_qty: list[npt.NDArray[np.generic]] = []
        n_f = 0
        rparts: dict[str, list[npt.NDArray[np.generic]]] = {
            k: [] for k in ("ts", "order", "amount", "seq", "line", "qty", "reason")
        }
        cparts: dict[str, list[npt.NDArray[np.generic]]] = {
            k: [] for k in ("ts", "order", "reason")
        }
        for i, day in enumerate(self._days()):
            batch = self.generate_day(day, int(new_base[i]))
            self._remember(batch)
            a, b = int(day_start[i]), int(day_start[i + 1])
            n = len(batch.ts)
            assert n == b - a
            new_base[i + 1] = new_base[i] + int(batch.is_new.sum())
            order_ts[a:b] = batch.ts
            cust[a:b] = batch.customer
            value[a:b] = batch.value
            lines[a:b] = np.diff(batch.line_start)
            if n:
                qty[a:b] = np.add.reduceat(batch.line_qty, batch.line_start[:-1])
            kind[a:b] = batch.attr_kind
            discount[a:b] = batch.discount
            utm[a:b] = batch.utm
            source[a:b] = batch.source
            device[a:b] = batch.device
            line_variant.append(batch.line_variant.astype(variant_dtype))
            line_qty.append(batch.line_qty.astype(np.int8))
            target[a:b] = batch.attr_target
            lag[a:b] = batch.attr_lag
            rparts["ts"].append(batch.ts[batch.refund_order] + batch.refund_delay)
            rparts["order"].append((a + batch.refund_order).astype(np.int32))
            rparts["amount"].append(batch.refund_amount.astype(np.int32))
            rparts["seq"].append(batch.refund_seq.astype(np.int8))
            rparts["line"].append(batch.refund_line.astype(np.int16))
            rparts["qty"].append(batch.refund_qty.astype(np.int16))
            rparts["reason"].append(batch.refund_reason.astype(np.int8))
            c_idx = np.nonzero(batch.cancelled)[0]
            cparts["ts"].append(batch.ts[c_idx] + batch.cancel_delay[c_idx])
            cparts["order"].append((a + c_idx).astype(np.int32))
            cparts["reason"].append(batch.cancel_reason[c_idx].astype(np.int8))
            f_idx = np.nonzero(~batch.cancelled)[0]
            k = len(f_idx)
            f_ts[n_f : n_f + k] = batch.ts[f_idx] + batch.fulfil_delay[f_idx]
            f_order[n_f : n_f + k] = a + f_idx
            n_f += k
        self.new_base = new_base
        self.day_start = day_start
        self.order_ts: I64 = order_ts
        self.order_customer: npt.NDArray[np.int32] = cust
        self.order_value: npt.NDArray[np.int32] = value
        self.order_lines: npt.NDArray[np.int32] = lines
        self.order_qty: npt.NDArray[np.int16] = qty
        self.attr_kind: npt.NDArray[np.int8] = kind
        self.attr_target: npt.NDArray[np.int32] = target
        self.attr_lag: npt.NDArray[np.int8] = lag
        self.order_discount: npt.NDArray[np.int8] = discount
        self.order_utm: npt.NDArray[np.int8] = utm
        self.order_source: npt.NDArray[np.int8] = source
        self.order_device: npt.NDArray[np.int8] = device
        self.line_variant: npt.NDArray[np.generic] = np.concatenate(line_variant)
        self.line_qty: npt.NDArray[np.int8] = np.concatenate(line_qty)
        del line_variant, line_qty
        self.line_cum = np.zeros(total + 1, dtype=np.int64)
        np.cumsum(lines, out=self.line_cum[1:])
        # Customer history at order time: running count and total spent, including this order.
        by_cust = np.argsort(cust, kind="stable")
        cust_sorted = cust[by_cust]
        group_start = np.r_[0, np.nonzero(np.diff(cust_sorted))[0] + 1]
        del cust_sorted
        sizes = np.diff(np.r_[group_start, total])
        seq = np.arange(1, total + 1, dtype=np.int64) - np.repeat(group_start, sizes)
        self.order_seq: npt.NDArray[np.int32] = np.empty(total, dtype=np.int32)
        self.order_seq[by_cust] = seq
        del seq
        spent_sorted = np.cumsum(value[by_cust], dtype=np.int64)
        spent_sorted -= np.repeat(np.r_[0, spent_sorted][group_start], sizes)
        self.order_spent: I64 = np.empty(total, dtype=np.int64)
        self.order_spent[by_cust] = spent_sorted
        del spent_sorted, by_cust

        def by_time(
            ts: I64, order: npt.NDArray[np.int32]
        ) -> tuple[I64, npt.NDArray[np.int32], I64]:
            perm = np.lexsort((order, ts))
            return ts[perm], order[perm], perm

        r = {k: np.concatenate(v) for k, v in rparts.items()}
        self.r_ts, self.r_order, r_perm = by_time(r["ts"].astype(np.int64), r["order"])
        self.r_amount = r["amount"][r_perm]
        self.r_seq = r["seq"][r_perm]
        self.r_line = r["line"][r_perm]
        self.r_qty = r["qty"][r_perm]
        self.r_reason = r["reason"][r_perm]
        c = {k: np.concatenate(v) for k, v in cparts.items()}
        self.c_ts, self.c_order, c_perm = by_time(c["ts"].astype(np.int64), c["order"])
        self.c_reason = c["reason"][c_perm]
        self.f_ts, self.f_order, _ = by_time(f_ts[:n_f], f_order[:n_f])
        del f_ts, f_order
        self.c_amount = self.order_value[self.c_order]

    # -- look-ups used by the event materialiser ------------------------------------------------

    def locate(self, pos: int) -> tuple[DayBatch, int]:
        """The day batch holding global order ``pos`` and the order's index in it."""
        day_i = int(np.searchsorted(self.day_start, pos, side="right")) - 1
        batch = self.day_batch(self.first_day + day_i)
        return batch, pos - int(self.day_start[day_i])

    def order_id(self, pos: int) -> int:
        """Shopify order id of global order ``pos`` (stable per day and index in the day)."""
        day_i = int(np.searchsorted(self.day_start, pos, side="right")) - 1
        return (
            ORDER_ID_BASE
            + (self.first_day + day_i - 18_000) * 100_000
            + (pos - int(self.day_start[day_i]))
        )

    @cached_property
    def customers_total(self) -> int:
        """Number of customers over the whole window."""
        return int(self.new_base[-1])

    def customers_before(self, ts: int) -> int:
        """Number of customers who had ordered before ``ts``."""
        day_i = min(max((ts // 86_400) - self.first_day, 0), len(self.new_base) - 1)
        return int(self.new_base[day_i])
