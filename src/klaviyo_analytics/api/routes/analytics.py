"""Per-store read endpoints over the warehouse: overview, daily series, the performance lists
(with CSV export), customers, RFM, churn risk, products and "frequently bought together"."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel

from klaviyo_analytics.api import queries
from klaviyo_analytics.api.deps import (
    Ctx,
    DateRange,
    Order,
    OutputFormat,
    Paging,
    Range,
    ReadableStore,
)
from klaviyo_analytics.api.errors import InvalidParameterError
from klaviyo_analytics.api.schemas import (
    BoughtTogetherPublic,
    BoughtTogethersPublic,
    CampaignPublic,
    CampaignsPublic,
    ChurnBucketPublic,
    ChurnPublic,
    CustomerPublic,
    CustomersPublic,
    DailyPointPublic,
    DailySeriesPublic,
    FlowPublic,
    FlowsPublic,
    FormPublic,
    FormsPublic,
    KpiPublic,
    OverviewPublic,
    ProductPublic,
    ProductsPublic,
    RfmCellPublic,
    RfmPublic,
    RfmSegmentPublic,
    SegmentPublic,
    SegmentsPublic,
)
from klaviyo_analytics.errors import NotFoundError
from klaviyo_analytics.metadata import Store

router = APIRouter(prefix="/stores/{store_id}", tags=["analytics"])

_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with `format=csv`."}
}
_EXPORT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "Every matching row as CSV."},
}
M = TypeVar("M", bound=BaseModel)

Channel = Annotated[
    Literal["email", "sms", "push"] | None, Query(description="Only this send channel.")
]
WINDOWS = (30, 60, 90)
Window = Annotated[
    int,
    Query(description="Sales window in days: 30, 60 or 90.", json_schema_extra={"enum": WINDOWS}),
]


def _check_window(window: int) -> int:
    if window not in WINDOWS:
        raise InvalidParameterError("window", f"window: {window} is not one of 30, 60, 90")
    return window


def _sort_param(name: str) -> Any:
    keys = queries.sort_keys(name)
    return Query(
        description=f"Sort key: one of {', '.join(keys)} (default "
        f"{queries.LISTS[name].default_sort}).",
        json_schema_extra={"enum": keys},
        max_length=40,
    )


def _check_sort(name: str, sort: str | None) -> str | None:
    if sort is not None and sort not in queries.LISTS[name].sorts:
        raise InvalidParameterError(
            "sort",
            f"sort: {sort!r} is not a sort key of {name}; use one of "
            f"{', '.join(queries.sort_keys(name))}",
            code="invalid_sort",
        )
    return sort


def _csv_response(model: type[BaseModel], rows: list[dict[str, Any]], filename: str) -> Response:
    text = queries.to_csv(list(model.model_fields), rows)
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _kid(store: Store) -> str:
    return store.klaviyo_integration.public_id


def _filename(store: Store, name: str, rng: DateRange | None = None) -> str:
    span = f"_{rng.start}_{rng.end}" if rng else ""
    return f"{store.public_id}_{name}{span}.csv"


def _page(
    ctx: Ctx,
    name: str,
    params: Mapping[str, Any],
    model: type[M],
    sort: str | None,
    order: str,
    page: Paging | None,
) -> tuple[list[M], list[dict[str, Any]], int]:
    sort = _check_sort(name, sort)
    rows = queries.list_rows(
        ctx.warehouse,
        name,
        params,
        sort=sort,
        order=order,
        limit=page.limit if page else None,
        offset=page.offset if page else 0,
    )
    count = queries.list_count(ctx.warehouse, name, params) if page else len(rows)
    return [model.model_validate(r) for r in rows], rows, count


# -- overview and series ---------------------------------------------------------------------

_KPIS: tuple[tuple[str, str, Literal["currency", "count", "ratio"]], ...] = (
    ("revenue", "Revenue", "currency"),
    ("orders", "Orders", "count"),
    ("aov", "Average order value", "currency"),
    ("customers", "Customers", "count"),
    ("new_customers", "New customers", "count"),
    ("refunds", "Refunds", "currency"),
    ("email_revenue", "Email revenue", "currency"),
    ("sms_revenue", "SMS revenue", "currency"),
    ("flow_revenue", "Flow revenue", "currency"),
    ("campaign_revenue", "Campaign revenue", "currency"),
    ("emails_sent", "Emails sent", "count"),
    ("sms_sent", "SMS sent", "count"),
)


def _kpi_values(ctx: Ctx, kid: str, rng: DateRange) -> dict[str, float]:
    rows = queries.statement(ctx.warehouse, "overview", {"kid": kid, **rng.params()})
    raw = rows[0] if rows else {}
    values = {key: float(raw.get(key) or 0) for key, _, _ in _KPIS if key != "aov"}
    values["aov"] = values["revenue"] / values["orders"] if values["orders"] else 0.0
    return values


def _change(value: float, previous: float) -> float | None:
    if previous == 0:
        return None
    return round((value - previous) / previous * 100, 2)


@router.get("/overview", response_model=OverviewPublic)
def overview(store: ReadableStore, ctx: Ctx, rng: Range) -> OverviewPublic:
    """Headline KPIs for a date range, with the previous period of the same length."""
    prev = rng.previous
    now = _kpi_values(ctx, _kid(store), rng)
    before = _kpi_values(ctx, _kid(store), prev)
    kpis = []
    for key, label, unit in _KPIS:
        digits = 2 if unit == "currency" else 4
        value, previous = round(now[key], digits), round(before[key], digits)
        kpis.append(
            KpiPublic(
                key=key,
                label=label,
                unit=unit,
                value=value,
                previous=previous,
                change_pct=_change(value, previous),
            )
        )
    return OverviewPublic(
        store_public_id=store.public_id,
        date_from=rng.start,
        date_to=rng.end,
        previous_from=prev.start,
        previous_to=prev.end,
        kpis=kpis,
    )


@router.get("/daily", response_model=DailySeriesPublic, responses=_CSV)
def daily(store: ReadableStore, ctx: Ctx, rng: Range, fmt: OutputFormat = "json") -> Any:
    """Daily revenue (total, email, SMS, flows, campaigns), orders and sends, one row per day."""
    rows = queries.statement(ctx.warehouse, "daily", {"kid": _kid(store), **rng.params()})
    if fmt == "csv":
        return _csv_response(DailyPointPublic, rows, _filename(store, "daily", rng))
    data = [DailyPointPublic.model_validate(r) for r in rows]
    return DailySeriesPublic(data=data, count=len(data))


# -- campaigns, flows, forms, segments -------------------------------------------------------


def _campaigns(
    store: Store,
    ctx: Ctx,
    rng: DateRange,
    channel: str | None,
    sort: str | None,
    order: str,
    page: Paging | None,
) -> tuple[list[CampaignPublic], list[dict[str, Any]], int]:
    params = {"kid": _kid(store), "channel": channel or "", **rng.params()}
    return _page(ctx, "campaigns", params, CampaignPublic, sort, order, page)


@router.get("/campaigns", response_model=CampaignsPublic, responses=_CSV)
def campaigns(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    page: Paging,
    channel: Channel = None,
    sort: Annotated[str | None, _sort_param("campaigns")] = None,
    order: Order = "desc",
    fmt: OutputFormat = "json",
) -> Any:
    """Campaigns with delivery, engagement and conversion rates and revenue over the range."""
    data, rows, count = _campaigns(store, ctx, rng, channel, sort, order, page)
    if fmt == "csv":
        return _csv_response(CampaignPublic, rows, _filename(store, "campaigns", rng))
    return CampaignsPublic(data=data, count=count)


@router.get("/campaigns/export.csv", response_class=Response, responses=_EXPORT)
def campaigns_export(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    channel: Channel = None,
    sort: Annotated[str | None, _sort_param("campaigns")] = None,
    order: Order = "desc",
) -> Response:
    """Every campaign of the range as CSV."""
    _, rows, _ = _campaigns(store, ctx, rng, channel, sort, order, None)
    return _csv_response(CampaignPublic, rows, _filename(store, "campaigns", rng))


def _flows(
    store: Store,
    ctx: Ctx,
    rng: DateRange,
    channel: str | None,
    sort: str | None,
    order: str,
    page: Paging | None,
) -> tuple[list[FlowPublic], list[dict[str, Any]], int]:
    params = {"kid": _kid(store), "channel": channel or "", **rng.params()}
    return _page(ctx, "flows", params, FlowPublic, sort, order, page)


@router.get("/flows", response_model=FlowsPublic, responses=_CSV)
def flows(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    page: Paging,
    channel: Channel = None,
    sort: Annotated[str | None, _sort_param("flows")] = None,
    order: Order = "desc",
    fmt: OutputFormat = "json",
) -> Any:
    """Flows (messages summed) with rates and revenue over the range."""
    data, rows, count = _flows(store, ctx, rng, channel, sort, order, page)
    if fmt == "csv":
        return _csv_response(FlowPublic, rows, _filename(store, "flows", rng))
    return FlowsPublic(data=data, count=count)


@router.get("/flows/export.csv", response_class=Response, responses=_EXPORT)
def flows_export(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    channel: Channel = None,
    sort: Annotated[str | None, _sort_param("flows")] = None,
    order: Order = "desc",
) -> Response:
    """Every flow of the range as CSV."""
    _, rows, _ = _flows(store, ctx, rng, channel, sort, order, None)
    return _csv_response(FlowPublic, rows, _filename(store, "flows", rng))


def _forms(
    store: Store, ctx: Ctx, rng: DateRange, sort: str | None, order: str, page: Paging | None
) -> tuple[list[FormPublic], list[dict[str, Any]], int]:
    params = {"kid": _kid(store), **rng.params()}
    return _page(ctx, "forms", params, FormPublic, sort, order, page)


@router.get("/forms", response_model=FormsPublic, responses=_CSV)
def forms(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    page: Paging,
    sort: Annotated[str | None, _sort_param("forms")] = None,
    order: Order = "desc",
    fmt: OutputFormat = "json",
) -> Any:
    """Sign-up forms with views, submits and submit rate over the range."""
    data, rows, count = _forms(store, ctx, rng, sort, order, page)
    if fmt == "csv":
        return _csv_response(FormPublic, rows, _filename(store, "forms", rng))
    return FormsPublic(data=data, count=count)


@router.get("/forms/export.csv", response_class=Response, responses=_EXPORT)
def forms_export(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    sort: Annotated[str | None, _sort_param("forms")] = None,
    order: Order = "desc",
) -> Response:
    """Every form of the range as CSV."""
    _, rows, _ = _forms(store, ctx, rng, sort, order, None)
    return _csv_response(FormPublic, rows, _filename(store, "forms", rng))


def _segments(
    store: Store, ctx: Ctx, rng: DateRange, sort: str | None, order: str, page: Paging | None
) -> tuple[list[SegmentPublic], list[dict[str, Any]], int]:
    params = {"kid": _kid(store), **rng.params()}
    return _page(ctx, "segments", params, SegmentPublic, sort, order, page)


@router.get("/segments", response_model=SegmentsPublic, responses=_CSV)
def segments(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    page: Paging,
    sort: Annotated[str | None, _sort_param("segments")] = None,
    order: Order = "desc",
    fmt: OutputFormat = "json",
) -> Any:
    """Klaviyo segments with size at the end of the range and growth over it."""
    data, rows, count = _segments(store, ctx, rng, sort, order, page)
    if fmt == "csv":
        return _csv_response(SegmentPublic, rows, _filename(store, "segments", rng))
    return SegmentsPublic(data=data, count=count)


@router.get("/segments/export.csv", response_class=Response, responses=_EXPORT)
def segments_export(
    store: ReadableStore,
    ctx: Ctx,
    rng: Range,
    sort: Annotated[str | None, _sort_param("segments")] = None,
    order: Order = "desc",
) -> Response:
    """Every segment of the range as CSV."""
    _, rows, _ = _segments(store, ctx, rng, sort, order, None)
    return _csv_response(SegmentPublic, rows, _filename(store, "segments", rng))


# -- customers, RFM, churn ------------------------------------------------------------------

RfmSegment = Annotated[
    str | None, Query(max_length=60, description="Only customers of this RFM segment.")
]
ChurnMin = Annotated[float, Query(ge=0, le=1, description="Lowest churn risk (0..1).")]
ChurnMax = Annotated[float, Query(ge=0, le=1, description="Highest churn risk (0..1).")]


def _customers(
    store: Store,
    ctx: Ctx,
    rfm_segment: str | None,
    churn_min: float,
    churn_max: float,
    sort: str | None,
    order: str,
    page: Paging | None,
) -> tuple[list[CustomerPublic], list[dict[str, Any]], int]:
    if churn_min > churn_max:
        raise InvalidParameterError(
            "churn_min",
            f"churn_min ({churn_min}) is above churn_max ({churn_max})",
            code="invalid_range",
        )
    params = {
        "kid": _kid(store),
        "segment": rfm_segment or "",
        "churn_min": churn_min,
        "churn_max": churn_max,
    }
    return _page(ctx, "customers", params, CustomerPublic, sort, order, page)


@router.get("/customers", response_model=CustomersPublic, responses=_CSV)
def customers(
    store: ReadableStore,
    ctx: Ctx,
    page: Paging,
    rfm_segment: RfmSegment = None,
    churn_min: ChurnMin = 0.0,
    churn_max: ChurnMax = 1.0,
    sort: Annotated[str | None, _sort_param("customers")] = None,
    order: Order = "desc",
    fmt: OutputFormat = "json",
) -> Any:
    """Customer profiles filtered by RFM segment and churn-risk range, sorted and paged."""
    data, rows, count = _customers(store, ctx, rfm_segment, churn_min, churn_max, sort, order, page)
    if fmt == "csv":
        return _csv_response(CustomerPublic, rows, _filename(store, "customers"))
    return CustomersPublic(data=data, count=count)


@router.get("/customers/export.csv", response_class=Response, responses=_EXPORT)
def customers_export(
    store: ReadableStore,
    ctx: Ctx,
    rfm_segment: RfmSegment = None,
    churn_min: ChurnMin = 0.0,
    churn_max: ChurnMax = 1.0,
    sort: Annotated[str | None, _sort_param("customers")] = None,
    order: Order = "desc",
) -> Response:
    """Every matching customer profile as CSV."""
    _, rows, _ = _customers(store, ctx, rfm_segment, churn_min, churn_max, sort, order, None)
    return _csv_response(CustomerPublic, rows, _filename(store, "customers"))


@router.get("/rfm", response_model=RfmPublic)
def rfm(store: ReadableStore, ctx: Ctx) -> RfmPublic:
    """Customers and revenue per RFM segment and per (recency, frequency) score cell."""
    params = {"kid": _kid(store)}
    seg_rows = queries.statement(ctx.warehouse, "rfm_segments", params)
    total = sum(int(r["customers"]) for r in seg_rows)
    segments_out = [
        RfmSegmentPublic(
            segment=r["segment"],
            customers=r["customers"],
            revenue=round(r["revenue"], 2),
            share_of_customers_pct=round(r["customers"] / total * 100, 2) if total else 0.0,
            avg_orders=round(r["avg_orders"], 2),
            avg_days_since_last_order=round(r["avg_days_since_last_order"], 1),
            avg_churn_risk=round(r["avg_churn_risk"], 4),
        )
        for r in seg_rows
    ]
    grid = [
        RfmCellPublic.model_validate({**r, "revenue": round(r["revenue"], 2)})
        for r in queries.statement(ctx.warehouse, "rfm_grid", params)
    ]
    return RfmPublic(segments=segments_out, grid=grid, customers=total)


@router.get("/churn-risk", response_model=ChurnPublic)
def churn_risk(store: ReadableStore, ctx: Ctx) -> ChurnPublic:
    """Distribution of customers' churn-risk scores in ten buckets of width 0.1."""
    found = {
        int(r["bucket"]): r for r in queries.statement(ctx.warehouse, "churn", {"kid": _kid(store)})
    }
    buckets = []
    for b in range(10):
        row = found.get(b, {})
        buckets.append(
            ChurnBucketPublic(
                low=round(b / 10, 1),
                high=round((b + 1) / 10, 1),
                customers=int(row.get("customers", 0)),
                revenue=round(float(row.get("revenue", 0.0)), 2),
            )
        )
    return ChurnPublic(buckets=buckets, customers=sum(b.customers for b in buckets))


# -- products --------------------------------------------------------------------------------


def _products(
    store: Store, ctx: Ctx, window: int, sort: str | None, order: str, page: Paging | None
) -> tuple[list[ProductPublic], list[dict[str, Any]], int]:
    params = {"kid": _kid(store), "window": _check_window(window)}
    return _page(ctx, "products", params, ProductPublic, sort, order, page)


@router.get("/products", response_model=ProductsPublic, responses=_CSV)
def products(
    store: ReadableStore,
    ctx: Ctx,
    page: Paging,
    window: Window = 30,
    sort: Annotated[str | None, _sort_param("products")] = None,
    order: Order = "desc",
    fmt: OutputFormat = "json",
) -> Any:
    """Products with revenue, units and customers for a 30/60/90-day window."""
    data, rows, count = _products(store, ctx, window, sort, order, page)
    if fmt == "csv":
        return _csv_response(ProductPublic, rows, _filename(store, f"products_{window}d"))
    return ProductsPublic(window=window, data=data, count=count)


@router.get("/products/export.csv", response_class=Response, responses=_EXPORT)
def products_export(
    store: ReadableStore,
    ctx: Ctx,
    window: Window = 30,
    sort: Annotated[str | None, _sort_param("products")] = None,
    order: Order = "desc",
) -> Response:
    """Every product for the window as CSV."""
    _, rows, _ = _products(store, ctx, window, sort, order, None)
    return _csv_response(ProductPublic, rows, _filename(store, f"products_{window}d"))


ProductId = Annotated[str, Path(min_length=1, max_length=200, description="The product id.")]
PairLimit = Annotated[int, Query(ge=1, le=100, description="Most products to return.")]


def _bought_together(
    store: Store, ctx: Ctx, product_id: str, limit: int
) -> tuple[str, list[dict[str, Any]]]:
    params = {"kid": _kid(store), "product_id": product_id}
    name = ctx.warehouse.scalar(queries.load_sql("product_name"), params)
    if name is None:
        raise NotFoundError(f"product {product_id!r} does not exist")
    rows = queries.statement(ctx.warehouse, "bought_together", {**params, "limit": limit})
    return str(name), rows


@router.get(
    "/products/{product_id}/bought-together", response_model=BoughtTogethersPublic, responses=_CSV
)
def bought_together(
    store: ReadableStore,
    ctx: Ctx,
    product_id: ProductId,
    limit: PairLimit = 10,
    fmt: OutputFormat = "json",
) -> Any:
    """Products frequently bought together with one product, highest lift first."""
    name, rows = _bought_together(store, ctx, product_id, limit)
    if fmt == "csv":
        return _csv_response(BoughtTogetherPublic, rows, _filename(store, "bought_together"))
    data = [BoughtTogetherPublic.model_validate(r) for r in rows]
    return BoughtTogethersPublic(
        product_id=product_id, product_name=name, data=data, count=len(data)
    )


@router.get(
    "/products/{product_id}/bought-together/export.csv",
    response_class=Response,
    responses=_EXPORT,
)
def bought_together_export(
    store: ReadableStore, ctx: Ctx, product_id: ProductId, limit: PairLimit = 100
) -> Response:
    """Products bought together with one product as CSV."""
    _, rows = _bought_together(store, ctx, product_id, limit)
    return _csv_response(BoughtTogetherPublic, rows, _filename(store, "bought_together"))
