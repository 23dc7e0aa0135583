"""Per-store read endpoints over the warehouse: overview, daily series, the performance lists
(with CSV export), customers, RFM, churn risk, products and "frequently bought together".

The module does without ``from __future__ import annotations``: the routes that ``_list_routes``
builds annotate their parameters with the factory's arguments, which FastAPI can only see in
annotations evaluated when the routes are defined."""

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query
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
    get_date_range,
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


# -- the sortable, pageable lists -----------------------------------------------------------
#
# Each list of ``queries.LISTS`` gets two routes from ``_list_routes``: ``GET /<name>`` (a page as
# JSON, or CSV with ``format=csv``) and ``GET /<name>/export.csv`` (every matching row as CSV).
# Their query parameters all come from dependencies (FastAPI would list a route's own parameters
# before those of its dependencies), so that OpenAPI lists them in the order of the routes'
# signatures: the list's own filters, ``sort`` and ``order``, ``format``, the date range (dated
# lists only), then paging. Of several malformed parameters, the first in that order is reported.


@dataclass(frozen=True)
class ListFilters:
    """The query parameters particular to one list, as a dependency: a subclass declares them as
    its fields. This base has none."""

    def params(self) -> dict[str, Any]:
        """The filters as statement parameters.

        Checks across parameters raise :class:`InvalidParameterError` here, in the route body,
        after FastAPI has validated each parameter on its own.
        """
        return {}

    def fields(self) -> dict[str, Any]:
        """Fields of the list's JSON page besides ``data`` and ``count``."""
        return {}

    def file_tag(self) -> str:
        """What the CSV file's name adds to the list's name."""
        return ""


@dataclass(frozen=True)
class ChannelFilter(ListFilters):
    """A list of message performance that can be narrowed to one channel."""

    channel: Channel = None

    def params(self) -> dict[str, Any]:
        return {"channel": self.channel or ""}


@dataclass(frozen=True)
class Sorting:
    """``sort`` (not yet checked against the list's keys) and ``order``."""

    sort: str | None
    order: str


def _output_format(fmt: OutputFormat = "json") -> str:
    return fmt


def _undated() -> DateRange | None:
    return None


def _list_routes(
    name: str,
    row: type[BaseModel],
    page_model: type[BaseModel],
    filters: type[ListFilters] = ListFilters,
    *,
    dated: bool,
    doc: str,
    export_doc: str,
) -> None:
    """Register the list route and the export route of ``queries.LISTS[name]``.

    Args:
        name: the list, also the routes' path and name (the export's name ends in ``_export``).
        row: the public model of one row; its fields are the CSV columns.
        page_model: the JSON page: ``data``, ``count`` and ``filters.fields()``.
        filters: the list's own query parameters.
        dated: whether the list takes the ``from``/``to`` date range.
        doc: the list route's description.
        export_doc: the export route's description.
    """
    dates = get_date_range if dated else _undated

    def sorting(
        sort: Annotated[str | None, _sort_param(name)] = None, order: Order = "desc"
    ) -> Sorting:
        return Sorting(sort, order)

    def query(
        store: Store,
        ctx: Ctx,
        flt: ListFilters,
        by: Sorting,
        rng: DateRange | None,
        page: Paging | None,
    ) -> tuple[list[BaseModel], list[dict[str, Any]], int, str]:
        """The page's rows as models and as dicts, the count of all matching rows, the file name."""
        params = {"kid": _kid(store), **flt.params(), **(rng.params() if rng else {})}
        rows = queries.list_rows(
            ctx.warehouse,
            name,
            params,
            sort=_check_sort(name, by.sort),
            order=by.order,
            limit=page.limit if page else None,
            offset=page.offset if page else 0,
        )
        count = queries.list_count(ctx.warehouse, name, params) if page else len(rows)
        data = [row.model_validate(r) for r in rows]
        return data, rows, count, _filename(store, name + flt.file_tag(), rng)

    def list_route(
        store: ReadableStore,
        ctx: Ctx,
        flt: Annotated[ListFilters, Depends(filters)],
        by: Annotated[Sorting, Depends(sorting)],
        fmt: Annotated[str, Depends(_output_format)],
        rng: Annotated[DateRange | None, Depends(dates)],
        page: Paging,
    ) -> Any:
        data, rows, count, filename = query(store, ctx, flt, by, rng, page)
        if fmt == "csv":
            return _csv_response(row, rows, filename)
        return page_model(data=data, count=count, **flt.fields())

    def export_route(
        store: ReadableStore,
        ctx: Ctx,
        flt: Annotated[ListFilters, Depends(filters)],
        by: Annotated[Sorting, Depends(sorting)],
        rng: Annotated[DateRange | None, Depends(dates)],
    ) -> Response:
        _, rows, _, filename = query(store, ctx, flt, by, rng, None)
        return _csv_response(row, rows, filename)

    router.add_api_route(
        f"/{name}",
        list_route,
        methods=["GET"],
        name=name,
        description=doc,
        response_model=page_model,
        responses=_CSV,
    )
    router.add_api_route(
        f"/{name}/export.csv",
        export_route,
        methods=["GET"],
        name=f"{name}_export",
        description=export_doc,
        response_class=Response,
        responses=_EXPORT,
    )


_list_routes(
    "campaigns",
    CampaignPublic,
    CampaignsPublic,
    ChannelFilter,
    dated=True,
    doc="Campaigns with delivery, engagement and conversion rates and revenue over the range.",
    export_doc="Every campaign of the range as CSV.",
)
_list_routes(
    "flows",
    FlowPublic,
    FlowsPublic,
    ChannelFilter,
    dated=True,
    doc="Flows (messages summed) with rates and revenue over the range.",
    export_doc="Every flow of the range as CSV.",
)
_list_routes(
    "forms",
    FormPublic,
    FormsPublic,
    dated=True,
    doc="Sign-up forms with views, submits and submit rate over the range.",
    export_doc="Every form of the range as CSV.",
)
_list_routes(
    "segments",
    SegmentPublic,
    SegmentsPublic,
    dated=True,
    doc="Klaviyo segments with size at the end of the range and growth over it.",
    export_doc="Every segment of the range as CSV.",
)


# -- customers, RFM, churn ------------------------------------------------------------------

RfmSegment = Annotated[
    str | None, Query(max_length=60, description="Only customers of this RFM segment.")
]
ChurnMin = Annotated[float, Query(ge=0, le=1, description="Lowest churn risk (0..1).")]
ChurnMax = Annotated[float, Query(ge=0, le=1, description="Highest churn risk (0..1).")]


@dataclass(frozen=True)
class CustomerFilters(ListFilters):
    """Customers of one RFM segment within a churn-risk range."""

    rfm_segment: RfmSegment = None
    churn_min: ChurnMin = 0.0
    churn_max: ChurnMax = 1.0

    def params(self) -> dict[str, Any]:
        if self.churn_min > self.churn_max:
            raise InvalidParameterError(
                "churn_min",
                f"churn_min ({self.churn_min}) is above churn_max ({self.churn_max})",
                code="invalid_range",
            )
        return {
            "segment": self.rfm_segment or "",
            "churn_min": self.churn_min,
            "churn_max": self.churn_max,
        }


_list_routes(
    "customers",
    CustomerPublic,
    CustomersPublic,
    CustomerFilters,
    dated=False,
    doc="Customer profiles filtered by RFM segment and churn-risk range, sorted and paged.",
    export_doc="Every matching customer profile as CSV.",
)


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


@dataclass(frozen=True)
class WindowFilter(ListFilters):
    """Products over a sales window of 30, 60 or 90 days."""

    window: Window = 30

    def params(self) -> dict[str, Any]:
        return {"window": _check_window(self.window)}

    def fields(self) -> dict[str, Any]:
        return {"window": self.window}

    def file_tag(self) -> str:
        return f"_{self.window}d"


_list_routes(
    "products",
    ProductPublic,
    ProductsPublic,
    WindowFilter,
    dated=False,
    doc="Products with revenue, units and customers for a 30/60/90-day window.",
    export_doc="Every product for the window as CSV.",
)


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
