"""Pure transforms: Klaviyo events and reports → warehouse rows (docs/event-payloads.md).

Nothing here does I/O. Money is carried as integer cents from the moment it is parsed, so sums are
exact to the cent; days are the account's local days; timestamps stay UTC.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

from klaviyo_analytics.klaviyo.errors import InvalidEventDataError
from klaviyo_analytics.klaviyo.models import Event, Profile, parse_datetime

_MOBILE = re.compile(r"iphone|ipod|android.+mobile|windows phone|blackberry|mobile", re.I)
_TABLET = re.compile(r"ipad|tablet|android(?!.*mobile)|kindle|silk", re.I)
_EPOCH = date(1970, 1, 1)


def cents(value: object) -> int:
    """Money (number or decimal string) as integer cents, rounded half-up.

    Args:
        value: ``123.45``, ``"12.00"``, ``None``...

    Returns:
        The amount in cents; 0 for a missing value.

    Raises:
        InvalidEventDataError: for a value that is present but not money (never silently 0).
    """
    if value is None or isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return value * 100
    if isinstance(value, float):
        # Half-up on the decimal representation, not the binary one (0.125 → 13, 1.005 → 101).
        return int(Decimal(repr(value)).scaleb(2).quantize(Decimal(1), ROUND_HALF_UP))
    if isinstance(value, str):
        text = value.strip()
        whole, _, frac = text.partition(".")
        if whole.lstrip("-").isdigit() and (frac.isdigit() or not frac) and len(frac) <= 2:
            sign = -1 if whole.startswith("-") else 1
            return sign * (abs(int(whole)) * 100 + int((frac + "00")[:2]))
        if not text:
            return 0
        try:
            return int(Decimal(text).scaleb(2).quantize(Decimal(1), ROUND_HALF_UP))
        except InvalidOperation:
            raise InvalidEventDataError(f"unparseable money value {value!r} in an event") from None
    raise InvalidEventDataError(f"unexpected money value {value!r} in an event")


def div_cents(total: int, count: int) -> int:
    """``total / count`` in cents, rounded half-up (0 when ``count`` is 0)."""
    if count <= 0:
        return 0
    q, r = divmod(abs(total), count)
    if 2 * r >= count:
        q += 1
    return q if total >= 0 else -q


@lru_cache(maxsize=8192)
def device_type(user_agent: str) -> str:
    """``mobile``, ``tablet`` or ``desktop`` from a user agent; ``""`` when unknown."""
    if not user_agent:
        return ""
    if _TABLET.search(user_agent) and not re.search(r"android.+mobile", user_agent, re.I):
        return "tablet"
    if _MOBILE.search(user_agent):
        return "mobile"
    return "desktop"


@lru_cache(maxsize=65536)
def utm_params(landing_site: str) -> tuple[str, str, str]:
    """(utm_source, utm_medium, utm_campaign) of a landing-site URL, URL-decoded."""
    if not landing_site or "utm_" not in landing_site:
        return "", "", ""
    query = parse_qs(urlsplit(landing_site).query)
    return (
        query.get("utm_source", [""])[0],
        query.get("utm_medium", [""])[0],
        query.get("utm_campaign", [""])[0],
    )


def local_date(when: datetime, tz: ZoneInfo) -> date:
    """The account-local calendar day of an instant."""
    return when.astimezone(tz).date()


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass(slots=True)
class OrderRow:
    """One ``klaviyo_orders`` row before the customer-context fields are derived."""

    order_id: str
    customer_id: str
    customer_email: str
    order_value_cents: int
    order_date: date
    order_ms: int
    item_count: int
    product_count: int
    channel: str
    device_type: str
    shipping_city: str
    shipping_state: str
    shipping_country: str
    shipping_zip: str
    discount_cents: int
    discount_code: str
    discount_type: str
    customer_tags: list[str]
    customer_total_spent_cents: int
    customer_order_count: int
    utm_source: str
    utm_medium: str
    utm_campaign: str


@dataclass(slots=True)
class LineItemRow:
    """One ``klaviyo_order_line_items`` row."""

    order_id: str
    line_item_id: str
    product_id: str
    variant_id: str
    product_name: str
    product_brand: str
    sku: str
    collections: list[str]
    product_type: str
    quantity: int
    unit_price_cents: int
    line_total_cents: int
    discount_cents: int
    discount_per_item_cents: int


def order_from_event(
    event: Event, profile: Profile | None, tz: ZoneInfo
) -> tuple[OrderRow, list[LineItemRow]] | None:
    """Map a Placed Order event to an order row and its line items.

    Args:
        event: the event.
        profile: the event's profile from ``included``, when present.
        tz: the account timezone (for ``order_date``).

    Returns:
        The rows, or None when the event carries no order id at all.
    """
    props = event.properties
    extra = _dict(props.get("$extra"))
    order_id = _str(props.get("$event_id") or extra.get("id"))
    if not order_id:
        return None
    customer = _dict(extra.get("customer"))
    shipping = _dict(extra.get("shipping_address"))
    codes = _list(extra.get("discount_codes"))
    first_code = _dict(codes[0]) if codes else {}
    code_names = _list(props.get("Discount Codes"))
    discount_code = _str(code_names[0]) if code_names else _str(first_code.get("code"))
    tags_raw = customer.get("tags")
    if isinstance(tags_raw, list):
        customer_tags = [_str(t).strip() for t in tags_raw if _str(t).strip()]
    else:
        customer_tags = [t.strip() for t in _str(tags_raw).split(",") if t.strip()]
    utm = utm_params(_str(extra.get("landing_site")))
    items: list[LineItemRow] = []
    product_ids: set[str] = set()
    quantity_total = 0
    for raw in _list(extra.get("line_items")):
        li = _dict(raw)
        product = _dict(li.get("product"))
        quantity = int(li.get("quantity") or 0)
        quantity_total += quantity
        unit = cents(li.get("price"))
        line_total = cents(li.get("line_price")) if "line_price" in li else unit * quantity
        discount = cents(li.get("total_discount"))
        product_id = _str(li.get("product_id") or product.get("id"))
        product_ids.add(product_id)
        items.append(
            LineItemRow(
                order_id,
                _str(li.get("id")),
                product_id,
                _str(li.get("variant_id")),
                _str(li.get("title") or product.get("title") or li.get("name")),
                _str(li.get("vendor") or product.get("vendor")),
                _str(li.get("sku")),
                [_str(c) for c in _list(product.get("collections"))],
                _str(product.get("product_type")),
                quantity,
                unit,
                line_total,
                discount,
                div_cents(discount, quantity),
            )
        )
    item_count = props.get("Item Count")
    email = (profile.email if profile else "") or _str(extra.get("email") or customer.get("email"))
    row = OrderRow(
        order_id=order_id,
        customer_id=event.profile_id or (profile.id if profile else "") or email,
        customer_email=email,
        order_value_cents=cents(props.get("$value")),
        order_date=local_date(event.datetime, tz),
        order_ms=round(event.timestamp * 1000),
        item_count=int(item_count) if isinstance(item_count, int | float) else quantity_total,
        product_count=len(product_ids),
        channel=_str(props.get("Source Name")) or "web",
        device_type=device_type(_str(_dict(extra.get("client_details")).get("user_agent"))),
        shipping_city=_str(shipping.get("city")),
        shipping_state=_str(shipping.get("province_code") or shipping.get("province")),
        shipping_country=_str(shipping.get("country_code") or shipping.get("country")),
        shipping_zip=_str(shipping.get("zip")),
        discount_cents=cents(props.get("Total Discounts", extra.get("total_discounts"))),
        discount_code=discount_code,
        discount_type=_str(first_code.get("type")),
        customer_tags=customer_tags,
        customer_total_spent_cents=cents(customer.get("total_spent")),
        customer_order_count=int(customer.get("orders_count") or 0),
        utm_source=utm[0],
        utm_medium=utm[1],
        utm_campaign=utm[2],
    )
    return row, items


@dataclass(slots=True)
class RefundRow:
    """One ``refund_cancelled_orders`` row."""

    event_id: str
    event_ms: int
    event_type: str
    original_order_id: str
    original_order_ms: int
    customer_id: str
    customer_email: str
    refund_cents: int
    refund_reason: str
    refund_currency: str
    line_items_affected: list[str]
    products_affected: list[str]
    quantities_refunded: list[int]
    metric_id: str
    metric_name: str
    profile_id: str
    event_properties: str
    profile_properties: str


def refund_from_event(
    event: Event,
    profile: Profile | None,
    *,
    event_type: str,
    metric_name: str,
    properties_json: str,
    profile_json: str,
) -> RefundRow:
    """Map a Refunded Order or Cancelled Order event to a row.

    Args:
        event: the event.
        profile: its profile from ``included``, when present.
        event_type: ``refund`` or ``cancelled``.
        metric_name: the metric's name as Klaviyo spells it.
        properties_json: ``event_properties`` serialised (kept verbatim in the row).
        profile_json: the profile's ``properties`` serialised.

    Returns:
        The row.
    """
    props = event.properties
    extra = _dict(props.get("$extra"))
    refund = _dict(extra.get("refund"))
    lines = [_dict(x) for x in _list(refund.get("refund_line_items"))]
    original = parse_datetime(extra.get("processed_at") or extra.get("created_at"))
    email = (profile.email if profile else "") or _str(extra.get("email"))
    profile_id = event.profile_id or (profile.id if profile else "")
    return RefundRow(
        event_id=event.id,
        event_ms=round(event.timestamp * 1000),
        event_type=event_type,
        original_order_id=_str(props.get("$event_id") or extra.get("id")),
        original_order_ms=round(original.timestamp() * 1000) if original else 0,
        customer_id=profile_id or email,
        customer_email=email,
        refund_cents=cents(props.get("$value")),
        refund_reason=_str(props.get("Reason")),
        refund_currency=_str(props.get("$currency_code") or extra.get("currency")) or "USD",
        line_items_affected=[_str(x.get("line_item_id")) for x in lines],
        products_affected=[_str(x.get("product_id")) for x in lines],
        quantities_refunded=[int(x.get("quantity") or 0) for x in lines],
        metric_id=event.metric_id or "",
        metric_name=metric_name,
        profile_id=profile_id,
        event_properties=properties_json,
        profile_properties=profile_json,
    )


def days_since_epoch(day: date) -> int:
    """Days from 1970-01-01 (Arrow ``date32``)."""
    return (day - _EPOCH).days


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The account-local midnight starting ``day`` (aware)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def day_range(start: date, end: date, step_days: int) -> list[tuple[date, date]]:
    """Split ``[start, end)`` into chunks of at most ``step_days`` days."""
    chunks: list[tuple[date, date]] = []
    cur = start
    while cur < end:
        nxt = min(end, cur + timedelta(days=step_days))
        chunks.append((cur, nxt))
        cur = nxt
    return chunks
