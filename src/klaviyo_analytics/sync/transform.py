"""Pure helpers of the report sync: account-local days (docs/sync.md).

Events are parsed by ClickHouse (``sync/sql/*_from_pages.sql``); nothing here does I/O.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The account-local midnight starting ``day`` (aware)."""
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def day_range(start: date, end: date, step_days: int) -> list[tuple[date, date]]:
    """Split ``[start, end)`` into chunks of at most ``step_days`` days."""
    chunks: list[tuple[date, date]] = []
    cur = start
    while cur < end:
        nxt = min(end, cur + timedelta(days=step_days))
        chunks.append((cur, nxt))
        cur = nxt
    return chunks
