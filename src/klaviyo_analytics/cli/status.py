"""``klaviyo-analytics status``: per store and data type, the state of the last syncs."""

from __future__ import annotations

from typing import Any

import typer

from klaviyo_analytics.cli.common import app_context, emit_rows
from klaviyo_analytics.errors import UsageError

COLUMNS = (
    "store",
    "klaviyo_id",
    "data_type",
    "last_success",
    "watermark",
    "rows_written",
    "last_error",
    "needs_reauth",
)


def register(app: typer.Typer) -> None:
    """Add the ``status`` command to the CLI."""

    @app.command("status")
    def status(
        ctx: typer.Context,
        store: str | None = typer.Option(None, "--store", help="Only this store."),
        fmt: str = typer.Option("table", "--format", help="table, json or csv."),
    ) -> None:
        """Show per store and data type: last success, watermark, rows, last error, re-auth."""
        from klaviyo_analytics.sync import DataType

        if fmt not in ("table", "json", "csv"):
            raise UsageError(f"--format: {fmt!r} is not one of table, json, csv")
        metadata = app_context(ctx).metadata
        stores = [metadata.get_store(store)] if store else metadata.list_stores()
        rows: list[tuple[Any, ...]] = []
        for st in stores:
            ki = st.klaviyo_integration
            state = metadata.get_sync(ki.public_id).data_types
            for dt in DataType:
                s = state.get(dt.value)
                rows.append(
                    (
                        st.public_id,
                        ki.public_id,
                        dt.value,
                        s.last_success_at if s else None,
                        s.watermark if s else None,
                        s.rows_written if s else None,
                        (s.last_error if s else None)
                        or (ki.last_error if ki.needs_reauth else None),
                        ki.needs_reauth,
                    )
                )
        emit_rows(COLUMNS, rows, fmt)
