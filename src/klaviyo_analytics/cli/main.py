"""Entry point of the ``klaviyo-analytics`` command: global options, sub-commands, and the one
place that turns errors into a single line on stderr with a non-zero exit code."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import typer

try:  # typer >= 0.20 vendors click; its exceptions are not click's own classes
    from typer._click import exceptions as click_exc
except ImportError:  # pragma: no cover - older typer on real click
    from click import exceptions as click_exc  # type: ignore[no-redef]

from klaviyo_analytics.cli import aggregate as aggregate_cli
from klaviyo_analytics.cli import api_tokens as api_tokens_cli
from klaviyo_analytics.cli import db as db_cli
from klaviyo_analytics.cli import demo as demo_cli
from klaviyo_analytics.cli import query as query_cli
from klaviyo_analytics.cli import run as run_cli
from klaviyo_analytics.cli import serve as serve_cli
from klaviyo_analytics.cli import simulator as simulator_cli
from klaviyo_analytics.cli import status as status_cli
from klaviyo_analytics.cli import stores as stores_cli
from klaviyo_analytics.cli import sync as sync_cli
from klaviyo_analytics.errors import KlaviyoAnalyticsError

app = typer.Typer(
    name="klaviyo-analytics",
    help="Self-hosted analytics warehouse for Klaviyo e-commerce data.\n\n"
    "Examples:\n\n"
    "  klaviyo-analytics db migrate\n\n"
    "  klaviyo-analytics stores add --name 'My Shop' --klaviyo-public-id XqkVGb "
    "--api-key pk_...\n\n"
    '  klaviyo-analytics query "SELECT count() FROM klaviyo_orders" --format json',
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def root(
    ctx: typer.Context,
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        help="Folder of the embedded engines [env KLAVIYO_ANALYTICS_DATA_DIR, default ./var].",
    ),
    clickhouse_url: str | None = typer.Option(
        None, "--clickhouse-url", help="[env KLAVIYO_ANALYTICS_CLICKHOUSE_URL]"
    ),
    mongodb_url: str | None = typer.Option(
        None, "--mongodb-url", help="[env KLAVIYO_ANALYTICS_MONGODB_URL]"
    ),
) -> None:
    """Global options shared by every command."""
    ctx.obj = {
        "overrides": {
            "data_dir": data_dir,
            "clickhouse_url": clickhouse_url,
            "mongodb_url": mongodb_url,
        }
    }


app.add_typer(db_cli.app, name="db")
app.add_typer(stores_cli.app, name="stores")
query_cli.register(app)
aggregate_cli.register(app)
sync_cli.register(app)
status_cli.register(app)
run_cli.register(app)
serve_cli.register(app)
api_tokens_cli.register(app)
demo_cli.register(app)
app.add_typer(simulator_cli.app, name="simulator")


def main() -> None:
    """Run the CLI; errors become one line on stderr and a non-zero exit code."""
    # Drivers log their own copy of connection errors; ours is the one line the user needs.
    logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)
    try:
        app(standalone_mode=False)
    except KlaviyoAnalyticsError as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(exc.exit_code)
    except click_exc.NoArgsIsHelpError:
        sys.exit(0)  # typer has already printed the help
    except click_exc.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "klaviyo-analytics"
        sys.stderr.write(f"error: {exc.format_message()} (see `{command} --help`)\n")
        sys.exit(2)
    except click_exc.ClickException as exc:
        sys.stderr.write(f"error: {exc.format_message()}\n")
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
