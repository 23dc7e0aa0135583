"""``klaviyo-analytics sync``: pull connected Klaviyo accounts into the warehouse."""

from __future__ import annotations

import logging
import sys
from datetime import date

import typer

from klaviyo_analytics.cli.common import app_context, console, parse_date
from klaviyo_analytics.context import AppContext
from klaviyo_analytics.errors import UsageError


def _run(
    app_ctx: AppContext,
    store: str | None,
    full: bool,
    since: date | None,
    only: list[str] | None,
) -> list[object]:
    from klaviyo_analytics.sync import LogProgress, Progress, RichProgress, sync_all, sync_store

    def go(progress: Progress) -> list[object]:
        if store:
            return [
                sync_store(app_ctx, store, full=full, since=since, only=only, progress=progress)
            ]
        return list(sync_all(app_ctx, full=full, since=since, only=only, progress=progress))

    if sys.stderr.isatty():
        with RichProgress() as bar:
            return go(bar)
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    # httpx logs every request at INFO: one line per event page would drown the progress lines.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    return go(LogProgress())


def register(app: typer.Typer) -> None:
    """Add the ``sync`` command to the CLI."""

    @app.command("sync")
    def sync(
        ctx: typer.Context,
        store: str | None = typer.Option(None, "--store", help="Our store id to sync."),
        all_stores: bool = typer.Option(False, "--all", help="Sync every active store."),
        full: bool = typer.Option(False, "--full", help="Ignore watermarks; backfill history."),
        since: str | None = typer.Option(
            None, "--since", help="Start every data type at this day (YYYY-MM-DD, account-local)."
        ),
        only: str | None = typer.Option(
            None,
            "--only",
            help="Comma list of data types: orders,refunds,campaigns,flows,forms,segments.",
        ),
    ) -> None:
        """Sync one store (--store ID) or every active store (--all) into the warehouse."""
        from klaviyo_analytics.sync import StoreSyncResult, parse_data_types

        if bool(store) == all_stores:
            raise UsageError("give exactly one of --store ID or --all")
        if full and since:
            raise UsageError("give either --full or --since, not both")
        since_day = parse_date(since, "--since") if since else None
        only_list = [only] if only else None
        parse_data_types(only_list)
        results = _run(app_context(ctx), store, full, since_day, only_list)
        failed = False
        for res in results:
            assert isinstance(res, StoreSyncResult)
            line = f"{res.store_public_id}: {'ok' if res.ok else 'FAILED'}"
            line += f", {res.rows_written} rows in {res.seconds:.1f}s"
            if res.error:
                line += f" - {res.error}"
            console.print(line, markup=False)
            for d in res.data_types:
                if d.error:
                    console.print(f"  {d.data_type}: {d.error}", markup=False)
            failed = failed or not res.ok
        if failed:
            raise typer.Exit(1)
