"""``klaviyo-analytics serve``: run the HTTP API and dashboard under uvicorn."""

from __future__ import annotations

import typer

from klaviyo_analytics.cli.common import app_context, err_console
from klaviyo_analytics.errors import UsageError


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command to ``app``."""

    @app.command("serve")
    def serve(
        ctx: typer.Context,
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
        port: int = typer.Option(8000, "--port", help="TCP port (0 picks a free one)."),
        log_level: str = typer.Option("info", "--log-level", help="uvicorn log level."),
    ) -> None:
        """Serve the HTTP API (/api/v1) and the dashboard (/).

        Examples:

          klaviyo-analytics serve

          klaviyo-analytics serve --host 0.0.0.0 --port 9000
        """
        import uvicorn

        from klaviyo_analytics.api import create_app

        if not 0 <= port <= 65535:
            raise UsageError(f"--port: {port} is not a TCP port (0..65535)")
        if log_level not in ("critical", "error", "warning", "info", "debug", "trace"):
            raise UsageError(f"--log-level: {log_level!r} is not a uvicorn log level")
        context = app_context(ctx)
        application = create_app(context)
        err_console.print(
            f"serving the dashboard on http://{host}:{port}/ and the API on "
            f"http://{host}:{port}/api/v1 (docs at /api/v1/docs)",
            markup=False,
        )
        uvicorn.run(application, host=host, port=port, log_level=log_level)
