"""Pure tests of the event → row mapping (docs/event-payloads.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from klaviyo_analytics.klaviyo.errors import InvalidEventDataError
from klaviyo_analytics.klaviyo.models import Event, Metric, Profile
from klaviyo_analytics.sync.runner import choose_metric
from klaviyo_analytics.sync.transform import (
    cents,
    device_type,
    div_cents,
    order_from_event,
    refund_from_event,
    utm_params,
)


def test_cents_is_exact() -> None:
    assert cents(123.45) == 12345
    assert cents("12.00") == 1200
    assert cents("0.1") == 10
    assert cents(1.005) == 101
    assert cents(None) == 0
    assert cents(7) == 700
    assert cents("") == 0
    for bad in ("12,50 EUR", "n/a", [1], {"amount": 1}):
        with pytest.raises(InvalidEventDataError, match="money value"):
            cents(bad)
    assert div_cents(200, 3) == 67
    assert div_cents(0, 0) == 0


def test_device_and_utm() -> None:
    assert device_type("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)") == "mobile"
    assert device_type("Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)") == "tablet"
    assert device_type("Mozilla/5.0 (Windows NT 10.0; Win64; x64)") == "desktop"
    assert device_type("") == ""
    assert utm_params("/p/x?utm_source=klaviyo&utm_medium=email&utm_campaign=Spring+Sale") == (
        "klaviyo",
        "email",
        "Spring Sale",
    )


def _event(props: dict[str, object], when: str = "2026-03-01T03:30:00+00:00") -> Event:
    dt = datetime.fromisoformat(when)
    return Event("ev1", dt.timestamp(), dt, props, "M1", "P1")


def test_order_mapping_local_day_and_line_items() -> None:
    props = {
        "$value": 35.98,
        "$event_id": "5012",
        "Item Count": 2,
        "Discount Codes": ["WELCOME10"],
        "Total Discounts": "4.00",
        "Source Name": "pos",
        "$extra": {
            "discount_codes": [{"code": "WELCOME10", "amount": "4.00", "type": "percentage"}],
            "customer": {"tags": "vip, newsletter", "orders_count": 3, "total_spent": "99.50"},
            "shipping_address": {"city": "Austin", "province_code": "TX", "country_code": "US",
                                 "zip": "73301"},
            "client_details": {"user_agent": "Mozilla/5.0 (iPhone)"},
            "line_items": [
                {"id": 1, "product_id": 10, "variant_id": 100, "title": "Shirt", "vendor": "Acme",
                 "sku": "S1", "quantity": 2, "price": "19.99", "total_discount": "4.00",
                 "line_price": "39.98", "product": {"product_type": "Tops",
                                                    "collections": ["Summer"]}},
            ],
        },
    }  # fmt: skip
    mapped = order_from_event(
        _event(props), Profile("P1", "a@b.c", {}), ZoneInfo("America/New_York")
    )
    assert mapped is not None
    order, items = mapped
    assert order.order_date == date(2026, 2, 28)  # 03:30 UTC is the evening before in New York
    assert order.order_value_cents == 3598 and order.discount_cents == 400
    assert order.customer_tags == ["vip", "newsletter"] and order.customer_order_count == 3
    assert order.channel == "pos" and order.device_type == "mobile"
    assert order.shipping_state == "TX" and order.product_count == 1
    assert order.customer_id == "P1" and order.customer_email == "a@b.c"
    (li,) = items
    assert li.line_total_cents == 3998 and li.discount_per_item_cents == 200
    assert li.collections == ["Summer"] and li.product_type == "Tops"


def test_refund_mapping() -> None:
    props = {
        "$value": 19.99,
        "$event_id": "5012",
        "Reason": "damaged",
        "$currency_code": "USD",
        "$extra": {
            "processed_at": "2026-02-27T10:00:00+00:00",
            "refund": {"refund_line_items": [{"line_item_id": 1, "quantity": 1, "product_id": 10}]},
        },
    }
    row = refund_from_event(
        _event(props), None, event_type="refund", metric_name="Refunded Order",
        properties_json="{}", profile_json="{}",
    )  # fmt: skip
    assert row.refund_cents == 1999 and row.original_order_id == "5012"
    assert row.line_items_affected == ["1"] and row.quantities_refunded == [1]
    assert row.original_order_ms == int(datetime(2026, 2, 27, 10, tzinfo=UTC).timestamp() * 1000)


def test_metric_choice_prefers_shopify_then_latest() -> None:
    t1 = datetime(2026, 1, 1, tzinfo=UTC)
    t2 = datetime(2026, 2, 1, tzinfo=UTC)
    metrics = [
        Metric("A", "Placed Order", "API", None, t2),
        Metric("S", "Placed Order", "Shopify", None, t1),
        Metric("C", "Canceled Order", "API", None, t1),
    ]
    assert choose_metric(metrics, "Placed Order").id == "S"  # type: ignore[union-attr]
    assert choose_metric(metrics, "Cancelled Order", "Canceled Order").id == "C"  # type: ignore[union-attr]
    assert choose_metric(metrics, "Refunded Order") is None
