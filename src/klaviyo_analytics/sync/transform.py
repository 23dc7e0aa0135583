"""Pure transforms: Klaviyo events and reports → warehouse rows (docs/event-payloads.md).

Nothing here does I/O. Money is carried as integer cents from the moment it is parsed, so sums are
exact to the cent; days are the account's local days; timestamps stay UTC.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from klaviyo_analytics.klaviyo.errors import InvalidEventDataError
from klaviyo_analytics.klaviyo.models import Event, Profile, parse_datetime


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


def _str(value: object) -> str:
    return "" if value is None else str(value)


def _dict(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


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
