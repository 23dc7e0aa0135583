"""``klaviyo-analytics demo``: the whole product on embedded defaults, with a short report."""

from __future__ import annotations

import logging
import sys
from decimal import Decimal
from typing import Any

import typer
from rich.table import Table as RichTable

from klaviyo_analytics.cli.common import app_context, console
from klaviyo_analytics.errors import UsageError


def _money(value: Any) -> str:
    return f"${Decimal(str(value or 0)):,.2f}"


def _table(title: str, columns: list[str], rows: list[list[str]]) -> RichTable:
    table = RichTable(*columns, title=title, title_justify="left")
    for row in rows:
        table.add_row(*row)
    return table


def register(app: typer.Typer) -> None:
    """Add the ``demo`` command to ``app``."""

    @app.command("demo")
    def demo(
        ctx: typer.Context,
        scale: str = typer.Option(
            "small", "--scale", help="Store size: tiny, small, medium, large or an order count."
        ),
        seed: int = typer.Option(42, "--seed", help="Seed of the synthetic store."),
    ) -> None:
        """Run the main job end to end on the embedded defaults and print a report.

        Starts the bundled Klaviyo simulator on a free loopback port, connects a demo store by
        OAuth, runs a full sync and all five aggregate jobs, then reports.

        Examples:

          klaviyo-analytics demo

          klaviyo-analytics --data-dir /tmp/demo demo --scale tiny
        """
        from klaviyo_analytics.demo import last_30_days, run_demo
        from klaviyo_analytics.simulator.config import parse_scale
        from klaviyo_analytics.sync import LogProgress, Progress, RichProgress

        try:
            parse_scale(scale if not scale.isdigit() else int(scale))
        except Exception as exc:
            raise UsageError(f"--scale: {exc}") from None
        app_ctx = app_context(ctx)

        def step(text: str) -> None:
            console.print(f"[bold cyan]›[/] {text}")

        def go(progress: Progress) -> Any:
            return run_demo(
                app_ctx,
                scale=int(scale) if scale.isdigit() else scale,
                seed=seed,
                progress=progress,
                on_step=step,
            )

        if sys.stdout.isatty():
            with RichProgress() as bar:
                report = go(bar)
        else:  # not a terminal: one structured log line per data type instead of bars
            logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
            report = go(LogProgress())
        first, last = last_30_days(report.as_of)
        console.print()
        console.print(
            f"[bold]Demo store[/] {report.store_public_id} (Klaviyo account "
            f"{report.klaviyo_public_id}), data up to {report.as_of}"
        )
        console.print(
            _table(
                "Rows per table (FINAL)",
                ["table", "rows"],
                [[name, "-" if n is None else f"{n:,}"] for name, n in report.row_counts.items()],
            )
        )
        k = report.kpis_30d
        console.print(
            f"[bold]Last 30 days[/] ({first} – {last}): revenue {_money(k['revenue'])}, "
            f"orders {int(k['orders'] or 0):,}, AOV {_money(k['aov'])}"
        )
        console.print(
            _table(
                "RFM segments",
                ["segment", "customers", "net revenue"],
                [
                    [r["rfm_segment"], f"{r['customers']:,}", _money(r["net_revenue"])]
                    for r in report.rfm_segments
                ],
            )
        )
        console.print(
            _table(
                'Top 5 "frequently bought together" pairs',
                ["product A", "product B", "baskets", "lift", "confidence"],
                [
                    [
                        r["product_a_name"],
                        r["product_b_name"],
                        f"{r['co_purchase_count']:,}",
                        f"{r['lift']:.1f}",
                        f"{r['confidence']:.0%}",
                    ]
                    for r in report.top_pairs
                ],
            )
        )
        console.print(
            _table(
                "Top campaigns by revenue",
                ["campaign", "channel", "recipients", "revenue"],
                [
                    [r["name"], r["channel"], f"{int(r['recipients']):,}", _money(r["revenue"])]
                    for r in report.top_campaigns
                ],
            )
        )
        console.print(
            _table(
                "Top flows by revenue",
                ["flow", "recipients", "revenue"],
                [
                    [r["name"], f"{int(r['recipients']):,}", _money(r["revenue"])]
                    for r in report.top_flows
                ],
            )
        )
        s = report.seconds
        console.print(
            f"Done in {s['total']:.1f}s (sync {s['sync']:.1f}s, aggregates "
            f"{s['aggregates']:.1f}s); {report.sync.rows_written:,} rows synced."
        )
        console.print(
            "Open the dashboard: [bold]klaviyo-analytics api-tokens create --admin[/] "
            "then [bold]klaviyo-analytics serve[/] and browse http://127.0.0.1:8000/ "
            "(log in with the token)."
        )
