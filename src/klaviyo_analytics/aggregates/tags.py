"""Campaign tags for ``campaign_daily_aggregates``: no spec table carries them, so they live in
the helper table ``campaign_tags`` (migration 0004), written by whoever reads campaign metadata
(the sync, from ``GET /api/campaigns?include=tags``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from klaviyo_analytics.warehouse import Warehouse

CAMPAIGN_TAGS_TABLE = "campaign_tags"


def save_campaign_tags(
    warehouse: Warehouse,
    klaviyo_public_id: str,
    tags: Mapping[str, Sequence[str]],
    now: datetime | None = None,
) -> int:
    """Upsert the tag names of campaigns (replaces each given campaign's tags).

    Args:
        warehouse: the warehouse.
        klaviyo_public_id: the Klaviyo account id.
        tags: campaign id → tag names.
        now: version timestamp (default: the clock).

    Returns:
        The number of campaigns written.
    """
    stamp = (now or datetime.now(UTC)).astimezone(UTC)
    rows = [
        [klaviyo_public_id, campaign_id, sorted({t for t in names if t}), stamp]
        for campaign_id, names in tags.items()
    ]
    return warehouse.insert_rows(
        CAMPAIGN_TAGS_TABLE, rows, ["klaviyo_public_id", "campaign_id", "tags", "updated_at"]
    )
