"""Service endpoints outside ``/api/v1``: liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from klaviyo_analytics.api.deps import Ctx
from klaviyo_analytics.api.schemas import HealthPublic, ReadinessPublic
from klaviyo_analytics.observability import REGISTRY

router = APIRouter(tags=["service"])
log = logging.getLogger(__name__)


@router.get("/healthz", response_model=HealthPublic)
def healthz() -> HealthPublic:
    """Liveness: the process answers."""
    return HealthPublic()


def _metadata_ok(ctx: Ctx) -> bool:
    try:
        ctx.metadata.ping()
    except Exception as exc:  # any failure means "not ready"; the reason goes to the log
        log.warning("readiness: metadata store unavailable: %s", exc)
        return False
    return True


def _clickhouse_ok(ctx: Ctx) -> bool:
    try:
        return ctx.warehouse.ping()
    except Exception as exc:  # opening the warehouse can fail before ping() runs
        log.warning("readiness: ClickHouse unavailable: %s", exc)
        return False


@router.get(
    "/readyz",
    response_model=ReadinessPublic,
    responses={503: {"model": ReadinessPublic, "description": "A backing service is down."}},
)
def readyz(ctx: Ctx) -> JSONResponse:
    """Readiness: ClickHouse and MongoDB both answer (200), else 503."""
    clickhouse, mongodb = _clickhouse_ok(ctx), _metadata_ok(ctx)
    ready = clickhouse and mongodb
    body = ReadinessPublic(
        status="ready" if ready else "unavailable", clickhouse=clickhouse, mongodb=mongodb
    )
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text."}},
)
def metrics() -> Response:
    """Prometheus metrics of this process (sync, Klaviyo calls, aggregates, API)."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
