"""``klaviyo-analytics aggregate``: rebuild the aggregate tables of one store or of all stores."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

import typer

from klaviyo_analytics.cli.common import app_context, emit_rows, parse_date
from klaviyo_analytics.errors import UsageError

if TYPE_CHECKING:  # the aggregates pull in scipy: import them only when the command runs
    from klaviyo_analytics.metadata import KlaviyoIntegration

COLUMNS = ("store", "job", "table", "rows", "seconds", "version")


def _timezone_of(integration: KlaviyoIntegration, override: str | None) -> str:
    # --timezone wins; else the account timezone the sync saved (GET /api/accounts); else UTC.
    return override or integration.timezone or "UTC"


def register(app: typer.Typer) -> None:
    """Add the ``aggregate`` command to ``app``."""

    @app.command("aggregate")
    def aggregate_cmd(
        ctx: typer.Context,
        store: str | None = typer.Option(None, "--store", help="Our store public id."),
        all_stores: bool = typer.Option(False, "--all", help="Every active store."),
        only: str | None = typer.Option(
            None,
            "--only",
            help="Comma-separated jobs: campaign-daily, account-daily, customers, products, "
            "relationships (default: all).",
        ),
        as_of: str | None = typer.Option(
            None, "--as-of", help="Last day that counts, YYYY-MM-DD (default: today, local)."
        ),
        timezone: str | None = typer.Option(
            None, "--timezone", help="IANA timezone of the account (default: the store's, or UTC)."
        ),
        min_co_purchases: int = typer.Option(
            3, "--min-co-purchases", help="Baskets a product pair needs (relationships job)."
        ),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    ) -> None:
        """Rebuild aggregate tables inside ClickHouse and record each job's run.

        Examples:

          klaviyo-analytics aggregate --store store_abc123

          klaviyo-analytics aggregate --all --only customers,products --as-of 2026-03-31
        """
        # Validate everything before opening any service.
        if (store is None) == (not all_stores):
            raise UsageError("give exactly one of --store ID or --all")
        if fmt not in ("table", "csv", "json"):
            raise UsageError(f"--format: {fmt!r} is not one of table, csv, json")
        if min_co_purchases < 1:
            raise UsageError("--min-co-purchases must be at least 1")
        from klaviyo_analytics.aggregates import JobResult, parse_jobs, run_aggregates
        from klaviyo_analytics.aggregates.runner import resolve_timezone

        jobs = [job.name.value for job in parse_jobs(only)]
        day: date | None = parse_date(as_of, "--as-of") if as_of is not None else None
        if timezone is not None:
            resolve_timezone(timezone)

        context = app_context(ctx)
        metadata = context.metadata
        targets = (
            metadata.list_stores(active_only=True)
            if all_stores
            else [metadata.get_store(str(store))]
        )
        rows: list[list[object]] = []
        for target in targets:
            integration = target.klaviyo_integration
            results: list[JobResult] = run_aggregates(
                context.warehouse,
                integration.public_id,
                jobs,
                as_of=day,
                timezone=_timezone_of(integration, timezone),
                recorder=metadata,
                min_co_purchases=min_co_purchases,
            )
            rows.extend(
                [target.public_id, r.job, r.table, r.rows, round(r.duration_s, 3), r.version]
                for r in results
            )
        emit_rows(COLUMNS, rows, fmt)
