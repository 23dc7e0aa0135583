"""``klaviyo-analytics stores``: connect, list, show and remove stores (secrets always masked)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import typer

from klaviyo_analytics.cli.common import app_context, console, emit_rows
from klaviyo_analytics.errors import UsageError

app = typer.Typer(
    help="Stores and their Klaviyo connection.\n\nExamples:\n\n"
    "  klaviyo-analytics stores add --name 'My Shop' --klaviyo-public-id XqkVGb "
    "--api-key pk_...\n\n"
    "  klaviyo-analytics stores list\n\n  klaviyo-analytics stores show store_abc123",
    no_args_is_help=True,
)


def _parse_expiry(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--token-expires-at: {value!r} is not an ISO-8601 time; use e.g. 2026-12-01T12:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("add")
def add(
    ctx: typer.Context,
    name: str = typer.Option(..., "--name", help="Display name of the store."),
    klaviyo_public_id: str = typer.Option(
        ..., "--klaviyo-public-id", help="The Klaviyo account's public id (6 characters)."
    ),
    api_key: str | None = typer.Option(None, "--api-key", help="A private API key (pk_...)."),
    oauth_access_token: str | None = typer.Option(None, "--oauth-access-token"),
    oauth_refresh_token: str | None = typer.Option(None, "--oauth-refresh-token"),
    token_expires_at: str | None = typer.Option(
        None, "--token-expires-at", help="ISO-8601 expiry of the access token."
    ),
    public_id: str | None = typer.Option(
        None, "--public-id", help="Our id for the store (default: generated)."
    ),
) -> None:
    """Add a store with a private API key or OAuth tokens."""
    oauth = (oauth_access_token, oauth_refresh_token, token_expires_at)
    if api_key and any(oauth):
        raise UsageError("give either --api-key or the three --oauth-* options, not both")
    if not api_key and not all(oauth):
        raise UsageError(
            "credentials missing: give --api-key, or --oauth-access-token, "
            "--oauth-refresh-token and --token-expires-at together"
        )
    if not name.strip():
        raise UsageError("--name must not be empty")
    if not klaviyo_public_id.strip() or not klaviyo_public_id.isalnum():
        raise UsageError(
            f"--klaviyo-public-id: {klaviyo_public_id!r} is not a Klaviyo public id "
            "(letters and digits, e.g. XqkVGb)"
        )
    if api_key is not None and not api_key.startswith("pk_"):
        raise UsageError("--api-key: a private Klaviyo API key starts with 'pk_'")
    metadata = app_context(ctx).metadata
    store = metadata.add_store(
        name,
        klaviyo_public_id,
        api_key=api_key,
        oauth_access_token=oauth_access_token,
        oauth_refresh_token=oauth_refresh_token,
        token_expires_at=_parse_expiry(token_expires_at) if token_expires_at else None,
        public_id=public_id,
    )
    console.print(f"added store {store.public_id} ({store.name})", markup=False)


def _summary(store: Any) -> tuple[Any, ...]:
    integ = store.klaviyo_integration
    return (
        store.public_id,
        store.name,
        integ.public_id,
        integ.status,
        integ.auth_method,
        "yes" if integ.needs_reauth else "no",
    )


@app.command("list")
def list_cmd(
    ctx: typer.Context, fmt: str = typer.Option("table", "--format", help="table, csv or json.")
) -> None:
    """List stores (no secrets)."""
    stores = app_context(ctx).metadata.list_stores()
    emit_rows(
        ["public_id", "name", "klaviyo_public_id", "status", "auth", "needs_reauth"],
        [_summary(s) for s in stores],
        fmt,
    )


@app.command("show")
def show(ctx: typer.Context, public_id: str = typer.Argument(..., help="The store's id.")) -> None:
    """Show one store; credentials appear masked."""
    metadata = app_context(ctx).metadata
    store = metadata.get_store(public_id)
    masked = metadata.masked_credentials(public_id)
    integ = store.klaviyo_integration
    rows: list[tuple[str, Any]] = [
        ("public_id", store.public_id),
        ("name", store.name),
        ("klaviyo_public_id", integ.public_id),
        ("status", integ.status),
        ("auth_method", integ.auth_method),
        ("needs_reauth", integ.needs_reauth),
        ("token_expires_at", integ.token_expires_at),
        ("is_updating_dashboard", integ.is_updating_dashboard),
        ("campaign_values_last_update", integ.campaign_values_last_update),
        ("flow_values_last_update", integ.flow_values_last_update),
        ("form_values_last_update", integ.form_values_last_update),
        ("segment_values_last_update", integ.segment_values_last_update),
        ("placed_order_last_update", integ.placed_order_last_update),
    ]
    rows.extend(masked.items())
    emit_rows(["field", "value"], rows, "table")


@app.command("remove")
def remove(
    ctx: typer.Context,
    public_id: str = typer.Argument(..., help="The store's id."),
) -> None:
    """Remove a store and its sync state (warehouse rows stay)."""
    app_context(ctx).metadata.remove_store(public_id)
    console.print(f"removed store {public_id}", markup=False)
