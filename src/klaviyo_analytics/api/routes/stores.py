"""Stores: list and read (any token, scoped), create, update, delete and API-key connection
(admin), the caller's identity, and the sync status per data type."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response, status

from klaviyo_analytics.api.deps import Admin, AdminStore, Ctx, Principal, ReadableStore
from klaviyo_analytics.api.schemas import (
    AggregateStatusPublic,
    ApiKeyUpdate,
    DataTypeStatusPublic,
    PrincipalPublic,
    StoreCreate,
    StorePublic,
    StoresPublic,
    StoreUpdate,
    SyncStatusPublic,
)
from klaviyo_analytics.metadata import AGGREGATE_RUN_FIELDS, Store

router = APIRouter(tags=["stores"])


def store_public(store: Store) -> StorePublic:
    """The API view of a store (secrets are never included)."""
    ki = store.klaviyo_integration
    return StorePublic(
        public_id=store.public_id,
        name=store.name,
        klaviyo_public_id=ki.public_id,
        status=ki.status,
        auth_method=ki.auth_method,
        needs_reauth=ki.needs_reauth,
        last_error=ki.last_error,
        token_expires_at=ki.token_expires_at,
        created_at=store.created_at,
        updated_at=store.updated_at,
    )


@router.get("/me", response_model=PrincipalPublic)
def me(principal: Principal) -> PrincipalPublic:
    """The caller's token: its id, kind and store."""
    return PrincipalPublic(
        token_id=principal.id, kind=principal.kind, store_public_id=principal.store_public_id
    )


@router.get("/stores", response_model=StoresPublic)
def list_stores(principal: Principal, ctx: Ctx) -> StoresPublic:
    """Every store (admin token) or the token's own store."""
    if principal.kind == "admin":
        stores = ctx.metadata.list_stores()
    else:
        stores = [s for s in ctx.metadata.list_stores() if s.public_id == principal.store_public_id]
    return StoresPublic(data=[store_public(s) for s in stores], count=len(stores))


@router.post("/stores", response_model=StorePublic, status_code=status.HTTP_201_CREATED)
def create_store(body: StoreCreate, admin: Admin, ctx: Ctx) -> StorePublic:
    """Connect a store with a Klaviyo private API key (admin)."""
    store = ctx.metadata.add_store(
        body.name.strip(),
        body.klaviyo_public_id,
        api_key=body.api_key,
        public_id=body.public_id,
    )
    return store_public(store)


@router.get("/stores/{store_id}", response_model=StorePublic)
def get_store(store: ReadableStore) -> StorePublic:
    """One store and its Klaviyo connection."""
    return store_public(store)


@router.patch("/stores/{store_id}", response_model=StorePublic)
def update_store(store: AdminStore, body: StoreUpdate, ctx: Ctx) -> StorePublic:
    """Rename a store or switch its sync on or off (admin)."""
    updated = ctx.metadata.update_store(
        store.public_id, name=body.name.strip() if body.name else None, status=body.status
    )
    return store_public(updated)


@router.delete(
    "/stores/{store_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response
)
def delete_store(store: AdminStore, ctx: Ctx) -> Response:
    """Remove a store and its sync state (admin); warehouse rows are kept."""
    ctx.metadata.remove_store(store.public_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put("/stores/{store_id}/api-key", response_model=StorePublic)
def set_api_key(store: AdminStore, body: ApiKeyUpdate, ctx: Ctx) -> StorePublic:
    """Connect a store by a (new) Klaviyo private API key, replacing OAuth tokens (admin)."""
    ctx.metadata.set_api_key(store.public_id, body.api_key)
    return store_public(ctx.metadata.get_store(store.public_id))


@router.get("/stores/{store_id}/sync-status", response_model=SyncStatusPublic)
def sync_status(store: ReadableStore, ctx: Ctx) -> SyncStatusPublic:
    """Sync state per data type (watermark, last success, last error) and aggregate runs."""
    kid = store.klaviyo_integration.public_id
    sync = ctx.metadata.get_sync(kid)
    data_types = [
        DataTypeStatusPublic(
            data_type=name,
            watermark=state.watermark.isoformat()
            if isinstance(state.watermark, datetime)
            else state.watermark,
            last_success_at=state.last_success_at,
            last_attempt_at=state.last_attempt_at,
            last_error=state.last_error,
            last_error_at=state.last_error_at,
            rows_written=state.rows_written,
            running=state.running,
        )
        for name, state in sorted(sync.data_types.items())
    ]
    aggregates = [
        AggregateStatusPublic(
            job=field.removesuffix("_last_run").removesuffix("_last_sync"),
            last_run_at=getattr(sync, field),
        )
        for field in AGGREGATE_RUN_FIELDS
    ]
    return SyncStatusPublic(
        store_public_id=store.public_id,
        klaviyo_public_id=kid,
        updated_at=sync.updated_at,
        data_types=data_types,
        aggregates=aggregates,
    )
