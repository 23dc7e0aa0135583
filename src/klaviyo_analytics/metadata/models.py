"""Typed models of the metadata documents (``stores``, ``klaviyo_syncs``, ``campaignstats``).

These are what callers of :class:`~klaviyo_analytics.metadata.repository.MetadataStore` get and
give; raw documents never leave the repository. :class:`Store` carries only *masked* secrets; the
decrypted ones exist only in :class:`Credentials`, as ``SecretStr``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, SecretStr


def _as_utc(value: datetime | None) -> datetime | None:
    # Backends return naive UTC (or a FixedOffset UTC); normalise to tz-aware datetime.UTC.
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""A tz-aware UTC datetime; naive values coming from a backend are read as UTC."""

AuthMethod = Literal["oauth", "api_key"]
StoreStatus = Literal["active", "inactive"]
TokenKind = Literal["admin", "store"]

LAST_UPDATE_FIELDS = (
    "campaign_values_last_update",
    "segment_values_last_update",
    "flow_values_last_update",
    "form_values_last_update",
    "placed_order_last_update",
)
"""The five ``klaviyo_integration.*_last_update`` fields of the spec."""

DATA_TYPE_LAST_SYNC_FIELDS = {
    "campaigns": "campaigns_last_sync",
    "flows": "flows_last_sync",
    "forms": "forms_last_sync",
    "segments": "segments_last_sync",
    "events": "events_last_sync",
    # cron_sync's event data types (klaviyo_analytics.sync.DataType) are orders and refunds.
    "orders": "events_last_sync",
    "refunds": "events_last_sync",
}
"""Data types whose success also sets the spec's ``<type>_last_sync`` field."""

AGGREGATE_RUN_FIELDS = (
    "campaign_aggregates_last_run",
    "customer_profiles_last_run",
    "product_analytics_last_run",
    "product_relationships_last_run",
    "aggregates_last_sync",
)
"""Fields accepted by ``MetadataStore.set_aggregate_last_run``."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class KlaviyoIntegration(_Model):
    """``stores.klaviyo_integration``: the Klaviyo account of a store, without plaintext secrets.

    ``oauth_token``, ``refresh_token`` and ``api_key`` hold *masked* display values
    (e.g. ``pk_…3f9a``), never the secrets; use ``MetadataStore.get_credentials`` for those.
    """

    status: StoreStatus = "active"
    public_id: str
    auth_method: AuthMethod
    oauth_token: str | None = None
    refresh_token: str | None = None
    token_expires_at: UtcDatetime | None = None
    api_key: str | None = None
    is_updating_dashboard: bool = False
    dashboard_lock_owner: str | None = None
    dashboard_lock_acquired_at: UtcDatetime | None = None
    campaign_values_last_update: UtcDatetime | None = None
    segment_values_last_update: UtcDatetime | None = None
    flow_values_last_update: UtcDatetime | None = None
    form_values_last_update: UtcDatetime | None = None
    placed_order_last_update: UtcDatetime | None = None
    needs_reauth: bool = False
    last_error: str | None = None
    timezone: str | None = None
    """The Klaviyo account's IANA timezone (``GET /api/accounts``), written by the sync."""


class Store(_Model):
    """A document of the ``stores`` collection."""

    id: str
    name: str
    public_id: str
    klaviyo_integration: KlaviyoIntegration
    created_at: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None


class Credentials(_Model):
    """Decrypted credentials of one store, for the Klaviyo client only; never log or print."""

    store_public_id: str
    klaviyo_public_id: str
    auth_method: AuthMethod
    api_key: SecretStr | None = None
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    token_expires_at: UtcDatetime | None = None


class DataTypeState(_Model):
    """Per-data-type sync state kept in ``klaviyo_syncs.data_types`` (an extension of the spec)."""

    watermark: UtcDatetime | str | None = None
    last_success_at: UtcDatetime | None = None
    last_attempt_at: UtcDatetime | None = None
    last_error: str | None = None
    last_error_at: UtcDatetime | None = None
    rows_written: int | None = None
    running: bool = False


class KlaviyoSync(_Model):
    """A document of the ``klaviyo_syncs`` collection (one per Klaviyo account)."""

    klaviyo_public_id: str
    sync_type: Literal["cron_sync"] = "cron_sync"
    campaigns_last_sync: UtcDatetime | None = None
    flows_last_sync: UtcDatetime | None = None
    forms_last_sync: UtcDatetime | None = None
    segments_last_sync: UtcDatetime | None = None
    events_last_sync: UtcDatetime | None = None
    aggregates_last_sync: UtcDatetime | None = None
    campaign_aggregates_last_run: UtcDatetime | None = None
    customer_profiles_last_run: UtcDatetime | None = None
    product_analytics_last_run: UtcDatetime | None = None
    product_relationships_last_run: UtcDatetime | None = None
    updated_at: UtcDatetime | None = None
    data_types: dict[str, DataTypeState] = Field(default_factory=dict)


class CampaignGroupings(_Model):
    """``campaignstats.groupings``: the key of a campaign-statistics document."""

    send_channel: str
    campaign_id: str
    campaign_message_id: str


class CampaignStatistics(_Model):
    """``campaignstats.statistics``."""

    recipients: int = 0
    delivered: int = 0
    opens_unique: int = 0
    clicks_unique: int = 0
    conversions: int = 0
    conversion_value: float = 0.0


class CampaignStat(_Model):
    """A document of the ``campaignstats`` collection, unique per (account, campaign, message)."""

    klaviyo_public_id: str
    store_public_ids: list[str] = Field(default_factory=list)
    groupings: CampaignGroupings
    campaign_name: str | None = None
    subject: str | None = None
    tag_names: list[str] = Field(default_factory=list)
    statistics: CampaignStatistics = Field(default_factory=CampaignStatistics)
    updated_at: UtcDatetime | None = None


class ApiToken(_Model):
    """An API token of the HTTP API; only its SHA-256 hash is stored."""

    id: str
    kind: TokenKind
    store_public_id: str | None = None
    prefix: str
    created_at: UtcDatetime
    last_used_at: UtcDatetime | None = None
    revoked_at: UtcDatetime | None = None
