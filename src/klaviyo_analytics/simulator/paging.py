"""Cursor pagination: opaque cursors, list pages and the k-way merge of event streams.

Event pages merge the sorted per-metric streams by datetime; the cursor records how far each
stream has been read, so a page costs the same wherever it is and new events (the clock advanced)
appear at the end of an ascending walk.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from klaviyo_analytics.simulator.errors import ApiError


def encode_cursor(state: dict[str, Any]) -> str:
    """An opaque, URL-safe cursor for a paging state."""
    return base64.urlsafe_b64encode(orjson.dumps(state)).decode().rstrip("=")


def decode_cursor(cursor: str) -> dict[str, Any]:
    """The paging state of a cursor.

    Raises:
        ApiError: 400 for a cursor the simulator did not issue.
    """
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        state = orjson.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, orjson.JSONDecodeError):
        raise ApiError.invalid("Invalid page cursor.", parameter="page[cursor]") from None
    if not isinstance(state, dict):
        raise ApiError.invalid("Invalid page cursor.", parameter="page[cursor]")
    return state


@dataclass
class StreamRange:
    """The part of one stream a query covers.

    Attributes:
        key: stream key.
        lo: first position (inclusive).
        hi: last position (exclusive).
        keep: optional filter of positions (e.g. a profile filter or late events).
    """

    key: str
    lo: int
    hi: int


def merge_page(
    ranges: Sequence[StreamRange],
    ts_slice: Callable[[str, int, int], np.ndarray],
    size: int,
    descending: bool,
    keep: Callable[[str, np.ndarray, np.ndarray], np.ndarray] | None = None,
) -> tuple[list[tuple[str, int]], list[int], list[int]]:
    """Take the next ``size`` events across streams in datetime order.

    Args:
        ranges: per stream, the remaining positions.
        ts_slice: returns the epoch seconds of a stream's positions ``lo`` to ``hi``.
        size: page size.
        descending: newest first.
        keep: optional mask function ``(key, positions, ts) -> bool array``; dropped positions
            are skipped.

    Returns:
        The page as (stream key, position) pairs, and the new ``lo`` and ``hi`` per stream.
    """
    los = [r.lo for r in ranges]
    his = [r.hi for r in ranges]
    page: list[tuple[str, int]] = []
    while len(page) < size:
        need = size - len(page)
        ts_parts = []
        src_parts = []
        pos_parts = []
        for i, r in enumerate(ranges):
            lo, hi = los[i], his[i]
            if hi <= lo:
                continue
            if descending:
                a, b = max(lo, hi - need), hi
            else:
                a, b = lo, min(hi, lo + need)
            pos = np.arange(a, b, dtype=np.int64)
            ts = ts_slice(r.key, a, b)
            ts_parts.append(ts)
            src_parts.append(np.full(len(pos), i, dtype=np.int64))
            pos_parts.append(pos)
        if not ts_parts:
            break
        ts_all = np.concatenate(ts_parts)
        src = np.concatenate(src_parts)
        pos_all = np.concatenate(pos_parts)
        if descending:
            order = np.lexsort((-pos_all, -src, -ts_all))
        else:
            order = np.lexsort((pos_all, src, ts_all))
        taken = order[:need]
        ok = np.ones(len(taken), dtype=bool)
        if keep is not None:
            for i, r in enumerate(ranges):
                sel = src[taken] == i
                if sel.any():
                    ok[sel] = keep(r.key, pos_all[taken][sel], ts_all[taken][sel])
        taken_src = src[taken]
        taken_pos = pos_all[taken]
        for i in np.unique(taken_src).tolist():
            mine = taken_pos[taken_src == i]
            if descending:
                his[i] = min(his[i], int(mine.min()))
            else:
                los[i] = max(los[i], int(mine.max()) + 1)
        keys = [r.key for r in ranges]
        page.extend(
            zip(
                [keys[i] for i in taken_src[ok].tolist()],
                taken_pos[ok].tolist(),
                strict=True,
            )
        )
    return page, los, his
