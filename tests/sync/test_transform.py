"""Pure tests of the refund/cancellation event → row mapping and the metric choice
(docs/event-payloads.md); orders are parsed in ClickHouse: test_page_loaders.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from klaviyo_analytics.klaviyo.errors import InvalidEventDataError
from klaviyo_analytics.klaviyo.models import Event, Metric
from klaviyo_analytics.sync.runner import choose_metric
from klaviyo_analytics.sync.transform import cents, refund_from_event


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


def _event(props: dict[str, object], when: str = "2026-03-01T03:30:00+00:00") -> Event:
    dt = datetime.fromisoformat(when)
    return Event("ev1", dt.timestamp(), dt, props, "M1", "P1")


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
