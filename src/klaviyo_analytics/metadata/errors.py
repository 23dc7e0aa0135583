"""Errors raised by the metadata store.

Driver exceptions (pymongo, mongomock, sqlite3) are translated into these in ``backends`` and
``repository``; nothing above this package sees a driver exception.
"""

from __future__ import annotations

from datetime import datetime

from klaviyo_analytics.errors import TerminalError, TransientError, UsageError


class DuplicateKeyError(UsageError):
    """A unique key (store public id, Klaviyo account, ...) is already taken.

    Attributes:
        collection: the collection the key belongs to.
        field: the unique field, e.g. ``klaviyo_integration.public_id``.
        value: the value that is already taken.
    """

    def __init__(self, collection: str, field: str, value: str) -> None:
        super().__init__(f"{collection}: {field} {value!r} already exists")
        self.collection = collection
        self.field = field
        self.value = value


class LockHeldError(TransientError):
    """The dashboard-update lock of a store is held by another worker.

    Attributes:
        store_public_id: the store whose lock is held.
        holder: the owner that holds the lock, when known.
        acquired_at: when the holder took the lock, when known.
    """

    def __init__(
        self, store_public_id: str, holder: str | None, acquired_at: datetime | None
    ) -> None:
        since = f" since {acquired_at.isoformat()}" if acquired_at else ""
        super().__init__(
            f"dashboard lock of store {store_public_id!r} is held by {holder or 'another worker'}"
            f"{since}"
        )
        self.store_public_id = store_public_id
        self.holder = holder
        self.acquired_at = acquired_at


class MetadataUnavailableError(TransientError):
    """The metadata backend could not be reached during an operation (retry later)."""


class MetadataBackendError(TerminalError):
    """The metadata backend refused an operation for a reason retrying cannot fix."""
