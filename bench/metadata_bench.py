"""Embedded metadata store at many stores: what one store's campaign-statistics sync costs.

Usage::

    python bench/metadata_bench.py --stores 200 --campaigns 200 [--backend embedded|mongomock]

Fills ``campaignstats`` the way ``cron_sync`` does (``MetadataStore.upsert_campaign_stats``, one
call per store, one document per campaign message), then times, with every store's documents in
the collection: re-upserting one store's statistics (what every 15-minute campaigns sync does),
a new store's first upsert, listing one store's documents and reading one store's sync state.
Prints one JSON line. A temporary data dir; nothing else is touched.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from cryptography.fernet import Fernet

from klaviyo_analytics.metadata import open_metadata_store
from klaviyo_analytics.metadata.models import CampaignGroupings, CampaignStat


def _stats(store: int, campaigns: int, recipients: int) -> list[CampaignStat]:
    return [
        CampaignStat(
            klaviyo_public_id=f"K{store:05d}",
            groupings=CampaignGroupings(
                send_channel="email", campaign_id=f"C{c:05d}", campaign_message_id=f"M{c:05d}"
            ),
            campaign_name=f"Campaign {c}",
            statistics={"recipients": recipients},
        )
        for c in range(campaigns)
    ]


def _timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return round(time.perf_counter() - started, 3)


def bench(stores: int, campaigns: int, backend: str) -> dict[str, Any]:
    """Fill ``stores`` x ``campaigns`` documents, then time the per-store operations."""
    with tempfile.TemporaryDirectory(prefix="metadata-bench-") as tmp:
        url = None if backend == "embedded" else "mongomock://"
        meta = open_metadata_store(url, Path(tmp), Fernet.generate_key().decode())
        started = time.perf_counter()
        for store in range(stores):
            meta.upsert_campaign_stats(_stats(store, campaigns, 1))
        fill = time.perf_counter() - started
        middle = stores // 2
        return {
            "backend": backend,
            "stores": stores,
            "documents": stores * campaigns,
            "fill_seconds": round(fill, 2),
            "fill_ms_per_store": round(fill / stores * 1000, 1),
            "reupsert_one_store_seconds": _timed(
                lambda: meta.upsert_campaign_stats(_stats(middle, campaigns, 2))
            ),
            "new_store_seconds": _timed(
                lambda: meta.upsert_campaign_stats(_stats(stores, campaigns, 1))
            ),
            "list_one_store_seconds": _timed(lambda: meta.list_campaign_stats(f"K{middle:05d}")),
        }


def main() -> None:
    """Parse arguments and print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--backend", choices=("embedded", "mongomock"), default="embedded")
    args = parser.parse_args()
    print(orjson.dumps(bench(args.stores, args.campaigns, args.backend)).decode())


if __name__ == "__main__":
    main()
