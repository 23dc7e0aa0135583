"""``klaviyo-analytics db``: apply and inspect warehouse migrations."""

from __future__ import annotations

import typer

from klaviyo_analytics.cli.common import app_context, console, emit_rows
from klaviyo_analytics.warehouse import migrate, row_counts, status

app = typer.Typer(
    help="Warehouse schema: migrate and status.\n\nExamples:\n\n"
    "  klaviyo-analytics db migrate\n\n  klaviyo-analytics db status",
    no_args_is_help=True,
)


@app.command("migrate")
def migrate_cmd(
    ctx: typer.Context,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the pending SQL, apply nothing."),
) -> None:
    """Apply pending migrations (idempotent; safe while readers run)."""
    warehouse = app_context(ctx).warehouse
    done = migrate(warehouse, dry_run=dry_run)
    if dry_run:
        for migration in done:
            console.print(f"-- {migration.version:04d}_{migration.name}", markup=False)
            console.print(migration.sql, markup=False)
        if not done:
            console.print("nothing to apply: the schema is up to date")
        return
    if done:
        for migration in done:
            console.print(f"applied {migration.version:04d}_{migration.name}", markup=False)
    else:
        console.print("nothing to apply: the schema is up to date")


@app.command("status")
def status_cmd(
    ctx: typer.Context,
    fmt: str = typer.Option("table", "--format", help="table, csv or json."),
) -> None:
    """List applied and pending migrations and the row count of every table."""
    warehouse = app_context(ctx).warehouse
    console.print(f"warehouse: {warehouse.url_for_display}", markup=False)
    rows = [
        (f"{s.version:04d}", s.name, "applied" if s.applied else "pending", s.applied_at)
        for s in status(warehouse)
    ]
    emit_rows(["version", "name", "state", "applied_at"], rows, fmt)
    counts = row_counts(warehouse)
    emit_rows(
        ["table", "rows"],
        [(name, "missing" if n is None else n) for name, n in counts.items()],
        fmt,
    )
