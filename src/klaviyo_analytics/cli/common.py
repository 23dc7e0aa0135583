"""Shared plumbing of the CLI: settings from options, the app context, output helpers."""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table as RichTable

from klaviyo_analytics.context import AppContext
from klaviyo_analytics.errors import ConfigError, UsageError
from klaviyo_analytics.settings import Settings, env_name

console = Console()
err_console = Console(stderr=True)


def build_settings(overrides: dict[str, Any]) -> Settings:
    """Settings from the environment with CLI options on top, validated.

    Raises:
        ConfigError: naming the first invalid variable.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        settings = Settings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "settings"
        raise ConfigError(env_name(field), str(first["msg"])) from None
    return settings.validated()


def app_context(ctx: typer.Context) -> AppContext:
    """The process's :class:`AppContext`, built on first use and closed when the CLI exits."""
    root = ctx.find_root()
    obj = root.obj if isinstance(root.obj, dict) else {}
    root.obj = obj
    existing = obj.get("app_context")
    if isinstance(existing, AppContext):
        return existing
    context = AppContext(build_settings(obj.get("overrides", {})))
    obj["app_context"] = context
    root.call_on_close(context.close)
    return context


def parse_date(value: str, option: str) -> date:
    """Parse YYYY-MM-DD or raise a one-line UsageError naming the option."""
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UsageError(f"{option}: {value!r} is not a date; use YYYY-MM-DD") from None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def _orjson_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def emit_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str) -> None:
    """Print rows as a rich table, CSV or one JSON array of objects."""
    if fmt == "json":
        records = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.write(
            orjson.dumps(records, default=_orjson_default, option=orjson.OPT_NON_STR_KEYS).decode()
            + "\n"
        )
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_plain(v) for v in row])
        sys.stdout.write(buf.getvalue())
    else:
        table = RichTable(*columns, show_lines=False)
        for row in rows:
            table.add_row(*("" if v is None else str(_plain(v)) for v in row))
        console.print(table)
