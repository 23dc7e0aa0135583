"""``klaviyo-analytics api-tokens``: create (printed once, stored hashed), list and revoke the
bearer tokens of the HTTP API."""

from __future__ import annotations

import typer

from klaviyo_analytics.cli.common import app_context, emit_rows
from klaviyo_analytics.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the ``api-tokens`` command group to ``app``."""
    tokens = typer.Typer(
        help="Bearer tokens of the HTTP API.\n\nExamples:\n\n"
        "  klaviyo-analytics api-tokens create --admin\n\n"
        "  klaviyo-analytics api-tokens create --store store_abc123\n\n"
        "  klaviyo-analytics api-tokens list\n\n  klaviyo-analytics api-tokens revoke tok_...",
        no_args_is_help=True,
    )

    @tokens.command("create")
    def create(
        ctx: typer.Context,
        admin: bool = typer.Option(False, "--admin", help="A token that sees every store."),
        store: str | None = typer.Option(None, "--store", help="A read token for this store only."),
    ) -> None:
        """Create a token and print it once (only its hash is stored)."""
        if admin == (store is not None):
            raise UsageError("give exactly one of --admin or --store STORE_ID")
        if store is not None and not store.strip():
            raise UsageError("--store: the store id must not be empty")
        metadata = app_context(ctx).metadata
        record, plaintext = metadata.create_api_token(
            "admin" if admin else "store", None if admin else store
        )
        scope = "all stores" if admin else f"store {store}"
        typer.echo(plaintext)
        typer.echo(
            f"created {record.kind} token {record.id} for {scope}; it is shown only once",
            err=True,
        )

    @tokens.command("list")
    def list_tokens(
        ctx: typer.Context,
        fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    ) -> None:
        """List tokens (never their values)."""
        if fmt not in ("table", "json", "csv"):
            raise UsageError(f"--format: {fmt!r} is not one of table, json, csv")
        rows = [
            (
                t.id,
                t.kind,
                t.store_public_id or "",
                t.prefix + "…",
                t.created_at,
                t.last_used_at,
                t.revoked_at,
            )
            for t in app_context(ctx).metadata.list_api_tokens()
        ]
        columns = ("id", "kind", "store", "prefix", "created_at", "last_used_at", "revoked_at")
        emit_rows(columns, rows, fmt)

    @tokens.command("revoke")
    def revoke(
        ctx: typer.Context, token_id: str = typer.Argument(..., help="The token id.")
    ) -> None:
        """Revoke a token; requests with it get 401 from then on."""
        record = app_context(ctx).metadata.revoke_api_token(token_id)
        typer.echo(f"revoked token {record.id}")

    app.add_typer(tokens, name="api-tokens")
