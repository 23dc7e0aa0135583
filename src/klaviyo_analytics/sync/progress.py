"""Progress reporting: a bar per data type on a terminal, structured log lines otherwise."""

from __future__ import annotations

import logging
from typing import Protocol

import orjson

logger = logging.getLogger("klaviyo_analytics.sync")


class Progress(Protocol):
    """What the sync reports while it runs."""

    def start(self, store: str, data_type: str) -> None:
        """A data type of a store starts."""

    def advance(self, data_type: str, n: int) -> None:
        """``n`` more items (events, report rows) of a data type were processed."""

    def finish(self, store: str, data_type: str, ok: bool, detail: str) -> None:
        """A data type finished (``ok`` False: it failed with ``detail``)."""


class NullProgress:
    """Reports nothing."""

    def start(self, store: str, data_type: str) -> None:
        """Ignore."""

    def advance(self, data_type: str, n: int) -> None:
        """Ignore."""

    def finish(self, store: str, data_type: str, ok: bool, detail: str) -> None:
        """Ignore."""


class LogProgress:
    """One JSON log line per data type start and finish (for cron and containers)."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def _log(self, **fields: object) -> None:
        logger.info(orjson.dumps(fields).decode())

    def start(self, store: str, data_type: str) -> None:
        """Log the start."""
        self._counts[data_type] = 0
        self._log(event="sync_start", store=store, data_type=data_type)

    def advance(self, data_type: str, n: int) -> None:
        """Count items."""
        self._counts[data_type] = self._counts.get(data_type, 0) + n

    def finish(self, store: str, data_type: str, ok: bool, detail: str) -> None:
        """Log the outcome."""
        self._log(
            event="sync_finish",
            store=store,
            data_type=data_type,
            ok=ok,
            items=self._counts.get(data_type, 0),
            detail=detail,
        )


class RichProgress:
    """A rich progress bar per data type (the CLI on a TTY)."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichBar

        self.bar = RichBar(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            transient=False,
        )
        self._tasks: dict[str, object] = {}

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, store: str, data_type: str) -> None:
        """Add a bar."""
        self._tasks[data_type] = self.bar.add_task(f"{store} {data_type}", total=None)

    def advance(self, data_type: str, n: int) -> None:
        """Advance a bar."""
        task = self._tasks.get(data_type)
        if task is not None:
            self.bar.advance(task, n)  # type: ignore[arg-type]  # TaskID is an int NewType

    def finish(self, store: str, data_type: str, ok: bool, detail: str) -> None:
        """Complete a bar with its outcome."""
        task = self._tasks.get(data_type)
        if task is not None:
            mark = "[green]ok[/]" if ok else f"[red]failed: {detail}[/]"
            self.bar.update(task, description=f"{store} {data_type} {mark}", total=1, completed=1)  # type: ignore[arg-type]
