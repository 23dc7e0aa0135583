"""Connecting a Klaviyo account by OAuth: start (admin; returns or redirects to the consent
page) and the callback Klaviyo redirects the browser to, which creates or re-authorises the
store with the granted tokens (stored encrypted)."""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse

from klaviyo_analytics.api import oauth as flow
from klaviyo_analytics.api.deps import Admin, Ctx
from klaviyo_analytics.api.errors import ApiError
from klaviyo_analytics.api.routes.stores import store_public
from klaviyo_analytics.api.schemas import OAuthConnectedPublic, OAuthStart, OAuthStartPublic
from klaviyo_analytics.metadata import Store

router = APIRouter(prefix="/oauth", tags=["oauth"])


def _pending(request: Request) -> flow.PendingAuthorizations:
    pending: flow.PendingAuthorizations = request.app.state.oauth_pending
    return pending


def _start(request: Request, ctx: Ctx, body: OAuthStart) -> OAuthStartPublic:
    if body.store_public_id is not None:
        ctx.metadata.get_store(body.store_public_id)
    redirect_uri = str(request.url_for("oauth_callback"))
    entry = _pending(request).start(redirect_uri, body.name, body.store_public_id)
    return OAuthStartPublic(
        authorize_url=flow.authorize_url(ctx.settings, entry),
        state=entry.state,
        expires_at=_pending(request).ttl_deadline(),
    )


@router.post("/authorize", response_model=OAuthStartPublic)
def start_authorization(
    request: Request, body: OAuthStart, admin: Admin, ctx: Ctx
) -> OAuthStartPublic:
    """Start an OAuth connection: returns the Klaviyo consent URL to open (admin)."""
    return _start(request, ctx, body)


@router.get(
    "/authorize",
    response_class=RedirectResponse,
    status_code=307,
    responses={307: {"description": "Redirect to the Klaviyo consent page."}},
)
def redirect_to_authorization(
    request: Request,
    admin: Admin,
    ctx: Ctx,
    name: Annotated[
        str | None, Query(min_length=1, max_length=200, description="Name of the new store.")
    ] = None,
    store_public_id: Annotated[
        str | None, Query(max_length=64, description="Re-authorise this store instead.")
    ] = None,
) -> RedirectResponse:
    """Start an OAuth connection by redirecting to the Klaviyo consent page (admin)."""
    started = _start(request, ctx, OAuthStart(name=name, store_public_id=store_public_id))
    return RedirectResponse(started.authorize_url, status_code=307)


@router.get("/callback", name="oauth_callback", response_model=OAuthConnectedPublic)
def oauth_callback(
    request: Request,
    ctx: Ctx,
    state: Annotated[str, Query(min_length=1, max_length=200, description="The OAuth state.")],
    code: Annotated[
        str | None, Query(max_length=2000, description="The authorization code.")
    ] = None,
    error: Annotated[
        str | None, Query(max_length=200, description="Set by Klaviyo when consent failed.")
    ] = None,
) -> OAuthConnectedPublic:
    """Finish an OAuth connection: exchange the code and store the tokens encrypted."""
    pending = _pending(request).take(state)
    if error is not None:
        raise ApiError(400, "oauth_denied", f"Klaviyo did not grant access: {error}", "error")
    if not code:
        raise ApiError(400, "invalid_parameter", "code: the authorization code is missing", "code")
    with httpx.Client(timeout=15.0) as http:
        tokens = flow.exchange_code(ctx.settings, pending, code, http)
        account = flow.account_of(ctx.settings, tokens, http)
    meta = ctx.metadata
    target: Store | None
    if pending.store_public_id is not None:
        target = meta.get_store(pending.store_public_id)
        if target.klaviyo_integration.public_id != account.id:
            raise ApiError(
                409,
                "account_mismatch",
                f"the approved Klaviyo account {account.id} is not the one of store "
                f"{target.public_id} ({target.klaviyo_integration.public_id})",
            )
    else:
        target = meta.find_store_by_klaviyo_id(account.id)
    if target is not None:
        meta.set_oauth_tokens(
            target.public_id, tokens.access_token, tokens.refresh_token, tokens.expires_at
        )
        return OAuthConnectedPublic(
            store=store_public(meta.get_store(target.public_id)), created=False
        )
    store = meta.add_store(
        pending.name or f"Klaviyo {account.id}",
        account.id,
        oauth_access_token=tokens.access_token,
        oauth_refresh_token=tokens.refresh_token,
        token_expires_at=tokens.expires_at,
    )
    return OAuthConnectedPublic(store=store_public(store), created=True)
