"""Which Klaviyo metric the sync reads for each e-commerce event (docs/event-payloads.md)."""

from __future__ import annotations

from datetime import UTC, datetime

from klaviyo_analytics.klaviyo.models import Metric
from klaviyo_analytics.sync.runner import choose_metric


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
