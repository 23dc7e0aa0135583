"""``klaviyo-analytics run``: the long-running scheduler, serving the API and dashboard too.

Thin: it parses options, builds a :class:`~klaviyo_analytics.scheduler.LocalDispatcher` and a
:class:`~klaviyo_analytics.scheduler.Scheduler`, serves the HTTP API with uvicorn in a thread,
and turns SIGTERM/SIGINT into a graceful stop (a second signal cancels running jobs at once).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import typer

from klaviyo_analytics.cli.common import app_context, emit_rows
from klaviyo_analytics.errors import UsageError
from klaviyo_analytics.observability import configure_logging

if TYPE_CHECKING:  # the scheduler pulls in the sync and aggregates: import when the command runs
    from klaviyo_analytics.context import AppContext
    from klaviyo_analytics.scheduler import JobHandle, LocalDispatcher, Scheduler

log = logging.getLogger("klaviyo_analytics.cli.run")

MAX_PARALLEL = 64


def _validate(
    host: str, port: int, tick: float | None, max_parallel: int | None, grace: float | None
) -> None:
    if not host.strip():
        raise UsageError("--host must not be empty")
    if not 0 <= port <= 65535:
        raise UsageError(f"--port: {port} is not a TCP port (0-65535; 0 picks a free one)")
    if tick is not None and not 0 < tick <= 3600:
        raise UsageError(f"--tick: {tick} is not between 0 and 3600 seconds")
    if max_parallel is not None and not 1 <= max_parallel <= MAX_PARALLEL:
        raise UsageError(f"--max-parallel: {max_parallel} is not between 1 and {MAX_PARALLEL}")
    if grace is not None and not 0 <= grace <= 86400:
        raise UsageError(f"--grace: {grace} is not between 0 and 86400 seconds")


def _install_signal_handlers(scheduler: Scheduler) -> Callable[[], None]:
    """First SIGTERM/SIGINT: graceful stop; second: cancel running jobs now."""
    received: list[int] = []

    def react(signum: int, again: bool) -> None:
        name = signal.Signals(signum).name
        if again:
            log.warning("received %s again: cancelling running jobs now", name)
            scheduler.request_abandon()
        else:
            log.info("received %s: no new jobs; letting running ones finish", name)
            scheduler.request_stop()

    def handler(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        # Act in a thread: a handler runs between bytecodes of the main thread, which may be
        # holding the very locks (logging, Event) the reaction needs.
        threading.Thread(target=react, args=(signum, len(received) > 1), daemon=True).start()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}

    def restore() -> None:
        for sig, old in previous.items():
            signal.signal(sig, old)

    return restore


def _listen(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise UsageError(f"--host/--port: cannot listen on {host}:{port}: {reason}") from None
    sock.set_inheritable(True)
    return sock


class _ApiServer:
    """uvicorn serving ``create_app(ctx, dispatcher)`` in a background thread."""

    def __init__(self, ctx: AppContext, dispatcher: LocalDispatcher, host: str, port: int) -> None:
        import uvicorn

        from klaviyo_analytics.api import create_app

        self._sock = _listen(host, port)
        bound = self._sock.getsockname()
        self.url = f"http://{host}:{bound[1]}"
        config = uvicorn.Config(
            create_app(ctx, dispatcher), log_config=None, access_log=False, lifespan="on"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="api", daemon=True
        )

    def start(self) -> None:
        self._thread.start()
        log.info("serving the API and dashboard at %s", self.url, extra={"url": self.url})

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()


def _summary(handles: list[JobHandle]) -> None:
    rows: list[tuple[Any, ...]] = [
        (
            h.job.store_public_id,
            h.job.kind,
            ",".join(h.job.options.get("only") or h.job.options.get("jobs") or ["all"]),
            h.status,
            f"{h.duration:.1f}" if h.duration is not None else "",
            h.error or "",
        )
        for h in handles
    ]
    if rows:
        emit_rows(["store", "job", "covers", "status", "seconds", "error"], rows, "table")
    else:
        typer.echo("nothing is due")


def register(app: typer.Typer) -> None:
    """Add the ``run`` command to ``app``."""

    @app.command("run")
    def run_cmd(
        ctx: typer.Context,
        no_api: bool = typer.Option(False, "--no-api", help="Do not serve the API and dashboard."),
        host: str = typer.Option("127.0.0.1", "--host", help="Interface the API listens on."),
        port: int = typer.Option(8000, "--port", help="Port of the API (0: any free port)."),
        tick: float | None = typer.Option(
            None,
            "--tick",
            help="Seconds between looks for due jobs "
            "(env KLAVIYO_ANALYTICS_SCHEDULER_TICK_SECONDS, default 30).",
        ),
        max_parallel: int | None = typer.Option(
            None,
            "--max-parallel",
            help="Stores worked on at once "
            "(env KLAVIYO_ANALYTICS_SYNC_PARALLEL_STORES, default 4).",
        ),
        grace: float | None = typer.Option(
            None,
            "--grace",
            help="On SIGTERM/SIGINT, seconds running jobs may finish before they are cancelled "
            "(env KLAVIYO_ANALYTICS_SCHEDULER_GRACE_SECONDS, default 20).",
        ),
        once: bool = typer.Option(
            False,
            "--once",
            help="Run every job due now (syncs, then aggregates), wait for them, and exit "
            "(non-zero if one failed). Never serves the API.",
        ),
    ) -> None:
        """Sync every active store every 15 minutes and run the aggregates at their cadences.

        Due-ness comes from klaviyo_syncs; a store's running job is never doubled.

        Serves the API and dashboard in the same process unless --no-api.

        SIGTERM/SIGINT stop gracefully; a second signal cancels running jobs at once.

        Examples:

          klaviyo-analytics run

          klaviyo-analytics run --no-api --max-parallel 2

          klaviyo-analytics run --once     # e.g. from cron
        """
        _validate(host, port, tick, max_parallel, grace)
        app_ctx = app_context(ctx)
        configure_logging(app_ctx.settings.log_level)
        from klaviyo_analytics.warehouse import migrate

        applied = migrate(app_ctx.warehouse)
        if applied:
            log.info("applied %d warehouse migration(s)", len(applied))
        from klaviyo_analytics.scheduler import LocalDispatcher, Scheduler
        from klaviyo_analytics.scheduler.scheduler import release_own_locks, release_stale_locks

        released = release_stale_locks(app_ctx)
        if released:
            log.warning(
                "released the dashboard lock of %s left by a process that is gone",
                ", ".join(released),
            )
        dispatcher = LocalDispatcher(app_ctx, max_parallel)
        scheduler = Scheduler(
            app_ctx, dispatcher, tick_seconds=tick, max_parallel=max_parallel, grace_seconds=grace
        )
        server = None if (no_api or once) else _ApiServer(app_ctx, dispatcher, host, port)
        restore = _install_signal_handlers(scheduler)
        try:
            if once:
                handles = scheduler.run_pass()
                _summary(handles)
                if any(h.status == "failed" for h in handles):
                    raise typer.Exit(1)
                return
            if server is not None:
                server.start()
            clean = scheduler.run_forever()
            if server is not None:
                server.stop()
        finally:
            restore()
        if not clean:
            # Worker threads are stuck past the grace period and the cancel wait; joining them
            # at interpreter exit would hang. Everything they committed is durable (see
            # docs/scheduler.md), so leave now without waiting for them, releasing their locks
            # so the next run need not wait for the lease to expire.
            try:
                release_own_locks(app_ctx)
            except Exception:
                log.exception("could not release this process's dashboard locks")
            for handler in logging.getLogger("klaviyo_analytics").handlers:
                handler.flush()
            sys.stderr.flush()
            os._exit(0)
