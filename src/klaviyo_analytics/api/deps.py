"""Dependencies of the routes: the app context, the caller's token, the store it may read, and
the shared query parameters (date range, paging, output format).

A store token asking for another store gets the same 404 as an unknown id, so store ids cannot
be probed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from klaviyo_analytics.api.errors import ForbiddenError, InvalidParameterError, UnauthorizedError
from klaviyo_analytics.context import AppContext
from klaviyo_analytics.errors import NotFoundError
from klaviyo_analytics.metadata import ApiToken, Store

MAX_RANGE_DAYS = 731
"""Longest accepted date range (two years, a leap day included)."""
DEFAULT_RANGE_DAYS = 30
MAX_PAGE_SIZE = 500
MAX_OFFSET = 1_000_000
EARLIEST_DATE = date(2000, 1, 1)
LATEST_DATE = date(2100, 12, 31)

_bearer = HTTPBearer(auto_error=False, description="An API token: `ka_...`.")


def get_context(request: Request) -> AppContext:
    """The process's :class:`AppContext` (set by ``create_app``)."""
    ctx: AppContext = request.app.state.ctx
    return ctx


Ctx = Annotated[AppContext, Depends(get_context)]


def get_principal(
    ctx: Ctx,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiToken:
    """The token of the caller, or 401."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthorizedError()
    token = ctx.metadata.verify_api_token(credentials.credentials.strip())
    if token is None:
        raise UnauthorizedError("the bearer token is unknown or revoked")
    return token


Principal = Annotated[ApiToken, Depends(get_principal)]


def require_admin(principal: Principal) -> ApiToken:
    """The caller's token if it is an admin token, else 403."""
    if principal.kind != "admin":
        raise ForbiddenError()
    return principal


Admin = Annotated[ApiToken, Depends(require_admin)]

StoreId = Annotated[
    str, Path(min_length=1, max_length=64, description="The store's public id, e.g. store_abc.")
]


def get_store(store_id: StoreId, principal: Principal, ctx: Ctx) -> Store:
    """The store ``store_id`` if the caller may read it; 404 otherwise (never 403)."""
    if principal.kind == "store" and principal.store_public_id != store_id:
        raise NotFoundError(f"store {store_id!r} does not exist")
    return ctx.metadata.get_store(store_id)


ReadableStore = Annotated[Store, Depends(get_store)]


def get_admin_store(store_id: StoreId, admin: Admin, ctx: Ctx) -> Store:
    """The store ``store_id`` for an admin-only operation."""
    return ctx.metadata.get_store(store_id)


AdminStore = Annotated[Store, Depends(get_admin_store)]


@dataclass(frozen=True)
class DateRange:
    """An inclusive range of days and the previous period of the same length."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Number of days in the range."""
        return (self.end - self.start).days + 1

    @property
    def previous(self) -> DateRange:
        """The period of the same length that ends the day before ``start``."""
        end = self.start - timedelta(days=1)
        return DateRange(end - timedelta(days=self.days - 1), end)

    def params(self) -> dict[str, date]:
        """Server-side query parameters ``date_from`` / ``date_to``."""
        return {"date_from": self.start, "date_to": self.end}


def get_date_range(
    date_from: Annotated[
        date | None,
        Query(alias="from", description="First day, YYYY-MM-DD (default: 29 days before `to`)."),
    ] = None,
    date_to: Annotated[
        date | None, Query(alias="to", description="Last day, YYYY-MM-DD (default: today, UTC).")
    ] = None,
) -> DateRange:
    """The ``from``/``to`` range: inclusive, from <= to, at most two years."""
    end = date_to or datetime.now(UTC).date()
    start = date_from or end - timedelta(days=DEFAULT_RANGE_DAYS - 1)
    for name, value in (("to", end), ("from", start)):
        if not EARLIEST_DATE <= value <= LATEST_DATE:
            raise InvalidParameterError(
                name, f"{name}: {value} is outside {EARLIEST_DATE}..{LATEST_DATE}", "invalid_date"
            )
    if start > end:
        raise InvalidParameterError(
            "from", f"from ({start}) is after to ({end})", code="invalid_range"
        )
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidParameterError(
            "to", f"the range {start}..{end} is longer than two years", code="invalid_range"
        )
    return DateRange(start, end)


Range = Annotated[DateRange, Depends(get_date_range)]


@dataclass(frozen=True)
class Page:
    """Paging of a list."""

    limit: int
    offset: int


def get_page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")] = 0,
) -> Page:
    """``limit``/``offset`` paging."""
    return Page(limit, offset)


Paging = Annotated[Page, Depends(get_page)]

OutputFormat = Annotated[
    Literal["json", "csv"],
    Query(alias="format", description="json (default) or csv (the same rows as a CSV file)."),
]
Order = Annotated[Literal["asc", "desc"], Query(description="Sort direction.")]
