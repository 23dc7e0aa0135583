"""The FastAPI application factory: ``create_app(ctx)`` wires routes, error handlers, the
dashboard's static assets and per-request metrics onto one :class:`AppContext`."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.staticfiles import StaticFiles

from klaviyo_analytics import __version__
from klaviyo_analytics.api.errors import ErrorPublicResponses, install_error_handlers
from klaviyo_analytics.api.oauth import PendingAuthorizations
from klaviyo_analytics.api.routes import analytics, dashboard, health, jobs, oauth, stores
from klaviyo_analytics.context import AppContext
from klaviyo_analytics.observability import API_REQUEST_DURATION, API_REQUESTS

API_PREFIX = "/api/v1"


def create_app(ctx: AppContext, dispatcher: jobs.JobDispatcher | None = None) -> FastAPI:
    """Build the API and dashboard around ``ctx``.

    Args:
        ctx: the process's services; the app does not close it.
        dispatcher: where sync and aggregate runs are submitted (default: one built on ``ctx``).

    Returns:
        The ASGI application.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if own_dispatcher:
            app.state.dispatcher.shutdown(wait=False)

    app = FastAPI(
        lifespan=lifespan,
        title="klaviyo-analytics",
        version=__version__,
        description="Read API over the Klaviyo analytics warehouse, plus store administration. "
        "Send `Authorization: Bearer <token>` (create one with "
        "`klaviyo-analytics api-tokens create`).",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=f"{API_PREFIX}/docs/oauth2-redirect",
        responses=ErrorPublicResponses,
    )
    app.state.ctx = ctx
    app.state.oauth_pending = PendingAuthorizations()
    own_dispatcher = dispatcher is None
    app.state.dispatcher = dispatcher if dispatcher is not None else jobs.default_dispatcher(ctx)
    app.state.jobs = jobs.JobRegistry()
    install_error_handlers(app)

    api = APIRouter(prefix=API_PREFIX)
    api.include_router(stores.router)
    api.include_router(jobs.router)
    api.include_router(oauth.router)
    api.include_router(analytics.router)
    app.include_router(api)
    app.include_router(health.router)
    app.include_router(dashboard.router)
    app.mount("/dashboard", StaticFiles(directory=dashboard.DASHBOARD_DIR), name="dashboard-assets")

    @app.middleware("http")
    async def record_metrics(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        path = getattr(route, "path", "unmatched")
        API_REQUESTS.labels(request.method, path, str(response.status_code)).inc()
        API_REQUEST_DURATION.labels(path).observe(time.perf_counter() - started)
        return response

    return app
