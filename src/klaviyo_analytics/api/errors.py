"""The one place that turns errors into HTTP responses with the body
``{"error": {"code", "message", "field"}}``.

Routes raise domain errors (:class:`~klaviyo_analytics.errors.NotFoundError`, ...) or
:class:`ApiError`; nothing else in the API builds an error response.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from klaviyo_analytics.errors import (
    KlaviyoAnalyticsError,
    NotFoundError,
    TransientError,
    UsageError,
)
from klaviyo_analytics.metadata.errors import DuplicateKeyError

log = logging.getLogger(__name__)


class ApiError(KlaviyoAnalyticsError):
    """An error with a fixed HTTP status, machine-readable code and offending field.

    Attributes:
        status: the HTTP status code.
        code: a stable machine-readable code (``invalid_range``, ``unauthorized``, ...).
        field: the request field at fault, if any.
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field


class InvalidParameterError(ApiError):
    """A request parameter is well-formed but not acceptable (range too long, from > to)."""

    def __init__(self, field: str, message: str, code: str = "invalid_parameter") -> None:
        super().__init__(422, code, message, field)


class UnauthorizedError(ApiError):
    """No bearer token, or one that is unknown or revoked."""

    def __init__(self, message: str = "a valid bearer token is required") -> None:
        super().__init__(401, "unauthorized", message)


class ForbiddenError(ApiError):
    """The token is valid but cannot perform the operation (admin-only endpoints)."""

    def __init__(self, message: str = "this endpoint needs an admin token") -> None:
        super().__init__(403, "forbidden", message)


class UpstreamError(ApiError):
    """Klaviyo (or the simulator) refused or failed a call the API made on the user's behalf."""

    def __init__(self, message: str) -> None:
        super().__init__(502, "upstream_error", message)


def error_body(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    """The JSON error envelope."""
    return {"error": {"code": code, "message": message, "field": field}}


def _response(
    status: int, code: str, message: str, field: str | None = None, **headers: str
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, field), status_code=status, headers=headers or None
    )


def _field_of(loc: Sequence[Any]) -> str | None:
    parts = [str(p) for p in loc if p not in ("query", "path", "body", "header")]
    return ".".join(parts) or None


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    field = _field_of(first.get("loc", ()))
    message = str(first.get("msg", "invalid request"))
    if field:
        message = f"{field}: {message}"
    return _response(422, "invalid_parameter", message, field)


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
    return _response(exc.status, exc.code, exc.message, exc.field, **headers)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, KlaviyoAnalyticsError)
    if isinstance(exc, NotFoundError):
        return _response(404, "not_found", exc.message)
    if isinstance(exc, DuplicateKeyError):
        return _response(409, "conflict", exc.message, exc.field)
    if isinstance(exc, UsageError):
        return _response(400, "bad_request", exc.message)
    if isinstance(exc, TransientError):
        log.warning("transient error serving %s: %s", request.url.path, exc.message)
        return _response(503, "unavailable", exc.message, **{"Retry-After": "5"})
    log.error("error serving %s: %s", request.url.path, exc.message)
    return _response(500, "internal_error", exc.message)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return _response(exc.status_code, code, str(exc.detail))


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error serving %s", request.url.path)
    return _response(500, "internal_error", "internal server error")


def install_error_handlers(app: FastAPI) -> None:
    """Register every handler on ``app``."""
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(KlaviyoAnalyticsError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def _described(description: str) -> dict[str, Any]:
    from klaviyo_analytics.api.schemas import ErrorPublic

    return {"model": ErrorPublic, "description": description}


ErrorPublicResponses: dict[int | str, dict[str, Any]] = {
    401: _described("Missing, unknown or revoked bearer token."),
    404: _described("Unknown id, or a store the token may not see."),
    422: _described("Invalid parameter (bad date, range, sort key, page size, body)."),
}
"""Error responses every route may give, for the OpenAPI document."""
