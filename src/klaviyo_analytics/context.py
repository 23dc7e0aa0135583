"""The running process's handles on its services, built from :class:`Settings`.

The CLI and the HTTP API build one :class:`AppContext` at the edge and pass it down; services
are opened lazily, so ``--help`` and pure commands never touch ClickHouse or MongoDB.
"""

from __future__ import annotations

import threading
from functools import cached_property
from typing import TYPE_CHECKING, Any

from klaviyo_analytics.settings import Settings

if TYPE_CHECKING:
    from klaviyo_analytics.metadata import MetadataStore
    from klaviyo_analytics.warehouse import Warehouse


class AppContext:
    """Lazily opened warehouse and metadata store for one process.

    Args:
        settings: validated settings.
        database: overrides the ClickHouse database (tests use one per test).
    """

    def __init__(self, settings: Settings, database: str | None = None) -> None:
        self.settings = settings
        self._database = database
        self._lock = threading.Lock()
        self._owns_services = True

    @cached_property
    def warehouse(self) -> Warehouse:
        """The ClickHouse handle (embedded chDB unless a server URL is configured)."""
        from klaviyo_analytics.warehouse import Warehouse

        return Warehouse(self.settings.effective_clickhouse_url, database=self._database)

    @cached_property
    def secret_key(self) -> str:
        """The credential encryption key: configured, or generated into the data dir."""
        from klaviyo_analytics.metadata import load_or_create_key_file

        if self.settings.secret_key is not None:
            return self.settings.secret_key.get_secret_value()
        return load_or_create_key_file(self.settings.resolved_data_dir / "secret.key")

    @cached_property
    def metadata(self) -> MetadataStore:
        """The metadata store (embedded file-backed unless a MongoDB URL is configured)."""
        from klaviyo_analytics.metadata import open_metadata_store

        return open_metadata_store(
            self.settings.mongodb_url, self.settings.resolved_data_dir, self.secret_key
        )

    def derive(self, **updates: Any) -> AppContext:
        """A context with some settings changed that shares this one's opened services.

        The embedded ClickHouse allows one engine per process, so a derived context (e.g. one
        pointed at the simulator) must reuse the warehouse and metadata store, not reopen them.
        The derived context does not own them: closing it closes nothing.
        """
        child = AppContext(self.settings.model_copy(update=updates), database=self._database)
        child.__dict__["warehouse"] = self.warehouse
        child.__dict__["metadata"] = self.metadata
        child.__dict__["secret_key"] = self.secret_key
        child._owns_services = False
        return child

    def close(self) -> None:
        """Close whatever was opened."""
        with self._lock:
            if not self._owns_services:
                return
            if "warehouse" in self.__dict__:
                self.warehouse.close()
                del self.__dict__["warehouse"]
            if "metadata" in self.__dict__:
                self.metadata.close()
                del self.__dict__["metadata"]

    def __enter__(self) -> AppContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
