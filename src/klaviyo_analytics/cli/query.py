"""``klaviyo-analytics query``: read-only SQL over the warehouse, FINAL applied for you."""

from __future__ import annotations

import typer

from klaviyo_analytics.cli.common import app_context, emit_rows
from klaviyo_analytics.errors import UsageError
from klaviyo_analytics.warehouse.errors import ReadOnlyViolationError, WarehouseError
from klaviyo_analytics.warehouse.query import count_statements, statement_kind

FORMATS = ("table", "csv", "json")


def check_read_only(sql: str) -> None:
    """Refuse anything but one SELECT or WITH statement.

    Raises:
        ReadOnlyViolationError: with a one-line reason.
    """
    statements = count_statements(sql)
    if statements == 0:
        raise ReadOnlyViolationError("the query is empty; pass one SELECT statement")
    if statements > 1:
        raise ReadOnlyViolationError(
            "only one statement is allowed; remove the extra ';'-separated statements"
        )
    kind = statement_kind(sql)
    if kind not in ("SELECT", "WITH"):
        raise ReadOnlyViolationError(
            f"only SELECT or WITH queries are allowed (got {kind or 'nothing'}); "
            "this command is read-only"
        )


def register(app: typer.Typer) -> None:
    """Add the ``query`` command to ``app``."""

    @app.command("query")
    def query_cmd(
        ctx: typer.Context,
        sql: str = typer.Argument(..., help="One SELECT (or WITH ... SELECT) statement."),
        fmt: str = typer.Option("table", "--format", "-f", help="table, csv or json."),
    ) -> None:
        """Run a read-only query; every table read gets FINAL.

        Examples:

          klaviyo-analytics query "SELECT count() FROM klaviyo_orders"

          klaviyo-analytics query "SELECT rfm_segment, count() FROM customer_profiles
          GROUP BY 1" --format json
        """
        if fmt not in FORMATS:
            raise UsageError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
        check_read_only(sql)
        try:
            result = app_context(ctx).warehouse.query(sql, settings={"readonly": 2})
        except WarehouseError as exc:
            raise UsageError(
                f"the query failed: {exc.message.removeprefix('ClickHouse error: ')}"
            ) from None
        emit_rows(list(result.column_names), list(result.result_rows), fmt)
