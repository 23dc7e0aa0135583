"""Dashboard-lock owner ids: who holds a store's lock, and whether that process still lives.

An owner id encodes the holder's host and pid (``host:pid:tag``; the sync's ids carry a leading
``sync:``), so a lock left behind by a process that died hard can be recognised and released by
the next run on the same host instead of blocking the store until the lease runs out.
"""

from __future__ import annotations

import os
import socket


def owner_process(owner: str | None) -> tuple[str, int] | None:
    """The ``(host, pid)`` encoded in a lock owner id, or None if it encodes none.

    Both formats in use are understood: the dispatcher's ``host:pid:job`` and the sync's
    ``sync:host:pid:uuid``.
    """
    parts = (owner or "").split(":")
    if parts and parts[0] == "sync":
        parts = parts[1:]
    if len(parts) < 3 or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists on this host (owned by anyone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_dead_local_owner(owner: str | None) -> bool:
    """True if ``owner`` is a process of this host, not this one, that no longer exists."""
    process = owner_process(owner)
    if process is None:
        return False
    host, pid = process
    return host == socket.gethostname() and pid != os.getpid() and not pid_alive(pid)
