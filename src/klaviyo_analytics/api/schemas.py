"""Response and request models of the HTTP API (``XPublic`` items, ``XsPublic(data, count)``
lists, ``XCreate``/``XUpdate`` bodies). They are the OpenAPI document's schemas."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Public(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ErrorDetail(_Public):
    """What went wrong."""

    code: str = Field(description="Stable machine-readable code, e.g. invalid_range.")
    message: str
    field: str | None = Field(default=None, description="The request field at fault, if any.")


class ErrorPublic(_Public):
    """The body of every 4xx/5xx response."""

    error: ErrorDetail


# -- service ---------------------------------------------------------------------------------


class HealthPublic(_Public):
    """Liveness."""

    status: Literal["ok"] = "ok"


class ReadinessPublic(_Public):
    """Readiness: whether each backing service answers."""

    status: Literal["ready", "unavailable"]
    clickhouse: bool
    mongodb: bool


class PrincipalPublic(_Public):
    """The caller, as identified by its bearer token."""

    token_id: str
    kind: Literal["admin", "store"]
    store_public_id: str | None = None


# -- stores ----------------------------------------------------------------------------------


class StorePublic(_Public):
    """A store and its Klaviyo connection (no secrets)."""

    public_id: str
    name: str
    klaviyo_public_id: str
    status: Literal["active", "inactive"]
    auth_method: Literal["oauth", "api_key"]
    needs_reauth: bool
    last_error: str | None = None
    token_expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class StoresPublic(_Public):
    """A list of stores."""

    data: list[StorePublic]
    count: int


class StoreCreate(BaseModel):
    """Connect a store by a Klaviyo private API key."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    klaviyo_public_id: str = Field(
        min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$", description="Klaviyo account id."
    )
    api_key: str = Field(min_length=4, max_length=200, pattern=r"^pk_", description="pk_...")
    public_id: str | None = Field(
        default=None,
        max_length=64,
        pattern=r"^[a-z0-9_]+$",
        description="Our id for the store (default: generated).",
    )


class StoreUpdate(BaseModel):
    """Rename a store or switch it on or off."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["active", "inactive"] | None = None


class ApiKeyUpdate(BaseModel):
    """Switch a store to a (new) private API key."""

    model_config = ConfigDict(extra="forbid")

    api_key: str = Field(min_length=4, max_length=200, pattern=r"^pk_")


class OAuthStart(BaseModel):
    """Start connecting a Klaviyo account by OAuth."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        default=None, min_length=1, max_length=200, description="Name of the new store."
    )
    store_public_id: str | None = Field(
        default=None, max_length=64, description="Re-authorise this existing store instead."
    )


class OAuthStartPublic(_Public):
    """Where to send the user's browser to approve the connection."""

    authorize_url: str
    state: str
    expires_at: datetime


class OAuthConnectedPublic(_Public):
    """The result of a completed OAuth connection."""

    store: StorePublic
    created: bool = Field(description="True when a new store was created.")


# -- sync state and jobs ---------------------------------------------------------------------


class DataTypeStatusPublic(_Public):
    """Sync state of one data type of one store."""

    data_type: str
    watermark: str | None = None
    last_success_at: datetime | None = None
    last_attempt_at: datetime | None = None
    last_error: str | None = None
    last_error_at: datetime | None = None
    rows_written: int | None = None
    running: bool = False


class AggregateStatusPublic(_Public):
    """When one aggregate family last ran."""

    job: str
    last_run_at: datetime | None = None


class SyncStatusPublic(_Public):
    """Sync status of one store, per data type and aggregate job."""

    store_public_id: str
    klaviyo_public_id: str
    updated_at: datetime | None = None
    data_types: list[DataTypeStatusPublic]
    aggregates: list[AggregateStatusPublic]


class SyncRequest(BaseModel):
    """Options of a sync run."""

    model_config = ConfigDict(extra="forbid")

    full: bool = Field(default=False, description="Re-read everything from the backfill start.")
    since: date | None = Field(default=None, description="Re-read from this day.")
    only: list[str] | None = Field(default=None, description="Data types to sync (default all).")


class AggregateRequest(BaseModel):
    """Options of an aggregate run."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[str] | None = Field(default=None, description="Aggregate jobs (default all).")
    as_of: date | None = Field(default=None, description="Compute as of this day.")


class JobPublic(_Public):
    """A submitted sync or aggregate run."""

    id: str
    kind: Literal["sync", "aggregate"]
    store_public_id: str
    status: str
    options: dict[str, object] = Field(default_factory=dict)
    submitted_at: datetime | None = None
    finished_at: datetime | None = None
    error: str | None = None


# -- analytics -------------------------------------------------------------------------------


class KpiPublic(_Public):
    """One KPI for the period and the previous period of the same length."""

    key: str
    label: str
    unit: Literal["currency", "count", "ratio"]
    value: float
    previous: float
    change_pct: float | None = Field(description="(value - previous) / previous * 100; null if 0.")


class OverviewPublic(_Public):
    """Headline KPIs of a store for a date range, with the previous period."""

    store_public_id: str
    date_from: date
    date_to: date
    previous_from: date
    previous_to: date
    kpis: list[KpiPublic]


class DailyPointPublic(_Public):
    """One day of the account rollup."""

    date: date
    total_revenue: float
    email_revenue: float
    sms_revenue: float
    flow_revenue: float
    campaign_revenue: float
    total_orders: int
    unique_customers: int
    new_customers: int
    emails_sent: int
    sms_sent: int


class DailySeriesPublic(_Public):
    """Daily series of a store, one point per day of the range."""

    data: list[DailyPointPublic]
    count: int


class CampaignPublic(_Public):
    """A campaign's performance over the range."""

    campaign_id: str
    campaign_name: str
    send_channel: str
    first_date: date
    last_date: date
    recipients: float
    delivered: float
    opens_unique: float
    clicks_unique: float
    conversions: float
    conversion_uniques: float
    revenue: float
    unsubscribes: float
    bounced: float
    open_rate_pct: float
    click_rate_pct: float
    conversion_rate_pct: float
    unsubscribe_rate_pct: float
    bounce_rate_pct: float
    revenue_per_recipient: float


class CampaignsPublic(_Public):
    """A page of campaigns; ``count`` is the total matching."""

    data: list[CampaignPublic]
    count: int


class FlowPublic(_Public):
    """A flow's performance over the range (its messages summed)."""

    flow_id: str
    flow_name: str
    channels: str
    messages: int
    recipients: float
    delivered: float
    opens_unique: float
    clicks_unique: float
    conversions: float
    conversion_uniques: float
    revenue: float
    unsubscribes: float
    bounced: float
    open_rate_pct: float
    click_rate_pct: float
    conversion_rate_pct: float
    unsubscribe_rate_pct: float
    bounce_rate_pct: float
    revenue_per_recipient: float


class FlowsPublic(_Public):
    """A page of flows; ``count`` is the total matching."""

    data: list[FlowPublic]
    count: int


class FormPublic(_Public):
    """A sign-up form's performance over the range."""

    form_id: str
    form_name: str
    views: float
    unique_views: float
    submits: float
    unique_submits: float
    qualified: float
    submit_rate_pct: float


class FormsPublic(_Public):
    """A page of forms."""

    data: list[FormPublic]
    count: int


class SegmentPublic(_Public):
    """A segment's size and growth over the range."""

    segment_id: str
    segment_name: str
    total_members: int
    start_members: int
    new_members: int
    removed_members: int
    net_change: int
    as_of: date


class SegmentsPublic(_Public):
    """A page of segments."""

    data: list[SegmentPublic]
    count: int


class CustomerPublic(_Public):
    """A customer profile: lifetime value, RFM scores and churn risk."""

    customer_email: str
    customer_id: str
    total_orders: int
    total_revenue: float
    total_refunds: float
    net_revenue: float
    avg_order_value: float
    first_order_date: date
    last_order_date: date
    days_since_last_order: int
    recency_score: int
    frequency_score: int
    monetary_score: int
    rfm_score: str
    rfm_segment: str
    favorite_category: str
    favorite_brand: str
    churn_risk_score: float


class CustomersPublic(_Public):
    """A page of customers; ``count`` is the total matching the filters."""

    data: list[CustomerPublic]
    count: int


class RfmSegmentPublic(_Public):
    """Customers and revenue of one RFM segment."""

    segment: str
    customers: int
    revenue: float
    share_of_customers_pct: float
    avg_orders: float
    avg_days_since_last_order: float
    avg_churn_risk: float


class RfmCellPublic(_Public):
    """Customers and revenue of one (recency, frequency) score cell."""

    recency_score: int
    frequency_score: int
    customers: int
    revenue: float


class RfmPublic(_Public):
    """The RFM picture of a store."""

    segments: list[RfmSegmentPublic]
    grid: list[RfmCellPublic]
    customers: int


class ChurnBucketPublic(_Public):
    """Customers whose churn risk is in ``[low, high)`` (the last bucket includes 1.0)."""

    low: float
    high: float
    customers: int
    revenue: float


class ChurnPublic(_Public):
    """Churn-risk distribution of a store's customers."""

    buckets: list[ChurnBucketPublic]
    customers: int


class ProductPublic(_Public):
    """A product's performance for the chosen window."""

    product_id: str
    product_name: str
    sku: str
    brand: str
    category: str
    avg_price: float
    revenue: float
    quantity_sold: int
    unique_customers: int
    velocity_score: float
    repurchase_rate: float
    discount_rate: float
    first_sold_date: date
    last_sold_date: date
    revenue_rank: int


class ProductsPublic(_Public):
    """A page of products for one window."""

    window: int
    data: list[ProductPublic]
    count: int


class BoughtTogetherPublic(_Public):
    """A product bought together with the anchor product."""

    product_id: str
    product_name: str
    co_purchase_count: int
    confidence: float = Field(description="P(this product | anchor product).")
    lift: float
    support: float
    first_co_purchase: date
    last_co_purchase: date
    relationship_type: str


class BoughtTogethersPublic(_Public):
    """Products bought together with ``product_id``, highest lift first."""

    product_id: str
    product_name: str
    data: list[BoughtTogetherPublic]
    count: int
