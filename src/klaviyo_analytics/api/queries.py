"""Read queries of the API: load a statement from ``api/sql/``, bind values as server-side
parameters, page and sort it, and count its rows.

Every statement goes through :class:`~klaviyo_analytics.warehouse.Warehouse` (the FINAL query
layer) and names its tables with ``FINAL`` too. Sort columns come only from the whitelists in
:data:`LISTS`; nothing from the request is pasted into SQL.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from klaviyo_analytics.warehouse import Warehouse
from klaviyo_analytics.warehouse.sqlfiles import read_sql

MAX_EXPORT_ROWS = 1_000_000


def load_sql(name: str) -> str:
    """The statement in ``api/sql/<name>.sql``."""
    return read_sql("klaviyo_analytics.api", f"{name}.sql")


@dataclass(frozen=True)
class ListSpec:
    """A sortable, pageable list backed by one statement.

    Attributes:
        sql: the statement's file name (without ``.sql``).
        sorts: API sort key -> output column of the statement (the whitelist).
        default_sort: the sort key used when the request gives none.
        tiebreak: the unique output column that makes the order total (stable pages).
    """

    sql: str
    sorts: Mapping[str, str]
    default_sort: str
    tiebreak: str


_PERFORMANCE_SORTS = {
    "revenue": "revenue",
    "recipients": "recipients",
    "delivered": "delivered",
    "open_rate": "open_rate_pct",
    "click_rate": "click_rate_pct",
    "conversion_rate": "conversion_rate_pct",
    "conversions": "conversions",
    "revenue_per_recipient": "revenue_per_recipient",
}

LISTS: dict[str, ListSpec] = {
    "campaigns": ListSpec(
        "campaigns",
        {**_PERFORMANCE_SORTS, "name": "campaign_name", "last_date": "last_date"},
        "revenue",
        "campaign_id",
    ),
    "flows": ListSpec("flows", {**_PERFORMANCE_SORTS, "name": "flow_name"}, "revenue", "flow_id"),
    "forms": ListSpec(
        "forms",
        {
            "views": "views",
            "submits": "unique_submits",
            "submit_rate": "submit_rate_pct",
            "name": "form_name",
        },
        "submits",
        "form_id",
    ),
    "segments": ListSpec(
        "segments",
        {
            "members": "total_members",
            "net_change": "net_change",
            "new_members": "new_members",
            "name": "segment_name",
        },
        "members",
        "segment_id",
    ),
    "customers": ListSpec(
        "customers",
        {
            "total_revenue": "total_revenue",
            "net_revenue": "net_revenue",
            "total_orders": "total_orders",
            "avg_order_value": "avg_order_value",
            "last_order_date": "last_order_date",
            "first_order_date": "first_order_date",
            "days_since_last_order": "days_since_last_order",
            "churn_risk": "churn_risk_score",
            "email": "customer_email",
        },
        "total_revenue",
        "customer_email",
    ),
    "products": ListSpec(
        "products",
        {
            "revenue": "revenue",
            "velocity": "velocity_score",
            "quantity": "quantity_sold",
            "customers": "unique_customers",
            "name": "product_name",
        },
        "revenue",
        "product_id",
    ),
}


def sort_keys(name: str) -> list[str]:
    """The sort keys a list accepts (for validation messages and OpenAPI)."""
    return sorted(LISTS[name].sorts)


def list_rows(
    warehouse: Warehouse,
    name: str,
    params: Mapping[str, Any],
    *,
    sort: str | None,
    order: str,
    limit: int | None,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """One page (or, with ``limit=None``, all rows up to the export cap) of a list.

    Args:
        warehouse: the warehouse.
        name: a key of :data:`LISTS`.
        params: values of the statement's ``{name:Type}`` parameters.
        sort: a sort key of the list (already validated), or None for its default.
        order: ``asc`` or ``desc``.
        limit: page size, or None for the export.
        offset: rows to skip.

    Returns:
        Rows as dicts keyed by output column.
    """
    spec = LISTS[name]
    column = spec.sorts[sort or spec.default_sort]
    direction = "ASC" if order == "asc" else "DESC"
    sql = (
        f"SELECT * FROM ({load_sql(spec.sql)}) AS l "
        f"ORDER BY l.{column} {direction}, l.{spec.tiebreak} ASC "
        "LIMIT {limit:UInt64} OFFSET {offset:UInt64}"
    )
    bound = {**params, "limit": MAX_EXPORT_ROWS if limit is None else limit, "offset": offset}
    return warehouse.dicts(sql, bound)


def list_count(warehouse: Warehouse, name: str, params: Mapping[str, Any]) -> int:
    """Number of rows of a list with the given filters."""
    sql = f"SELECT count() FROM ({load_sql(LISTS[name].sql)}) AS l"
    return int(warehouse.scalar(sql, params) or 0)


def statement(warehouse: Warehouse, name: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """All rows of the statement ``api/sql/<name>.sql``."""
    return warehouse.dicts(load_sql(name), params)


def _csv_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return ";".join(str(v) for v in value)
    if isinstance(value, float):
        return repr(round(value, 6))
    return value


def to_csv(columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows as CSV text with a header line."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_value(row.get(c)) for c in columns])
    return buf.getvalue()
