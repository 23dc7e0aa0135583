"""What every part of one store's sync works on: its client, the warehouse, its account."""

from __future__ import annotations

from dataclasses import dataclass
from zoneinfo import ZoneInfo

from klaviyo_analytics.klaviyo.client import KlaviyoClient
from klaviyo_analytics.sync.progress import Progress
from klaviyo_analytics.warehouse import Warehouse


@dataclass(frozen=True)
class StoreScope:
    """One store's sync context.

    Attributes:
        client: the account's Klaviyo client.
        warehouse: the warehouse.
        kid: the Klaviyo public id.
        store_public_id: our store id (for ``store_public_ids``).
        tz: the account timezone.
        progress: progress reporter.
    """

    client: KlaviyoClient
    warehouse: Warehouse
    kid: str
    store_public_id: str
    tz: ZoneInfo
    progress: Progress


class ScopedSync:
    """Base of the per-store writers: exposes the scope's members as attributes."""

    def __init__(self, scope: StoreScope) -> None:
        self.scope = scope
        self.client = scope.client
        self.warehouse = scope.warehouse
        self.kid = scope.kid
        self.store_public_id = scope.store_public_id
        self.tz = scope.tz
        self.progress = scope.progress
