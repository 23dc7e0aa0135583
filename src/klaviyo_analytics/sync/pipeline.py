"""Plumbing of the event stream: fetch-ahead in a thread, and memory release between batches.

Fetching pages (waiting for Klaviyo, validating several MB of JSON) and loading the previous
batch into ClickHouse overlap: one thread reads pages into a bounded queue, so memory stays at
``depth`` pages plus one batch whatever the store's size.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from contextlib import suppress
from typing import TypeVar

from klaviyo_analytics.warehouse import Warehouse
from klaviyo_analytics.warehouse.errors import WarehouseError

T = TypeVar("T")

_DONE = object()


def prefetch(items: Iterator[T], depth: int = 1) -> Generator[T, None, None]:
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead of the consumer.

    Exceptions raised by ``items`` are re-raised in the consumer, in order. When the consumer
    stops early (an exception, or closing the generator) the thread stops after its current item.

    Args:
        items: the iterator to run ahead (consumed only by the background thread).
        depth: the queue bound.

    Yields:
        The items of ``items`` in order.
    """
    q: queue.Queue[tuple[object, BaseException | None]] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple[object, BaseException | None]) -> bool:
        while not stop.is_set():
            try:
                q.put(entry, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def run() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            put((_DONE, exc))
            return
        put((_DONE, None))

    thread = threading.Thread(target=run, name="klaviyo-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            item, error = q.get()
            if error is not None:
                raise error
            if item is _DONE:
                return
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        while True:  # unblock a producer waiting on a full queue
            try:
                q.get_nowait()
            except queue.Empty:
                break
        thread.join(timeout=0.5)


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        fn = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl, macOS)
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return fn


_malloc_trim = _load_malloc_trim()


def release_memory(warehouse: Warehouse) -> None:
    """Hand freed memory back to the OS after a batch, so RSS tracks what is live.

    Two allocators keep freed memory otherwise: glibc keeps the freed page buffers in its heaps
    and arenas, and the embedded ClickHouse's jemalloc returns dirty pages only after a delay
    (5 s by chDB's default, 1 s as the package sets it: ``klaviyo_analytics.ENGINE_ALLOCATOR_CONF``;
    measured at 100k orders: ~10-40 MB and ~30-70 MB per batch, for a few ms). On a ClickHouse
    server (not embedded) only the local heap is trimmed.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)
    if warehouse.kind == "chdb":
        with suppress(WarehouseError):  # a build without jemalloc: nothing to purge
            warehouse.command("SYSTEM JEMALLOC PURGE")
