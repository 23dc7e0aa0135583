"""The one ClickHouse client wrapper: embedded chDB or a server, through clickhouse-connect.

Every statement passes through :meth:`Warehouse._prepare`, which applies the FINAL query layer
(:func:`~klaviyo_analytics.warehouse.query.apply_final`) and ClickHouse's ``final = 1`` setting.
clickhouse-connect clients are not safe for concurrent use, so each thread gets its own.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qs, unquote, urlsplit

import clickhouse_connect
from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import ClickHouseError, OperationalError
from clickhouse_connect.driver.query import QueryResult

from klaviyo_analytics.errors import ConfigError
from klaviyo_analytics.warehouse.errors import (
    EmbeddedEngineLockedError,
    WarehouseError,
    WarehouseUnavailableError,
)
from klaviyo_analytics.warehouse.query import apply_final, keywords, statement_kind

if TYPE_CHECKING:  # pyarrow loads lazily: a sync process never needs it (~40 MB of RSS)
    import pyarrow as pa

URL_VARIABLE = "KLAVIYO_ANALYTICS_CLICKHOUSE_URL"
DEFAULT_DATABASE = "default"
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_CODE = re.compile(r"Code: (\d+)")
_READ_SETTINGS: dict[str, Any] = {"final": 1}
# Statements that read start with one of these; INSERT ... VALUES / FORMAT carry their data
# after the clause, so no SETTINGS may follow it (keywords outside comments and strings only).
_READ_KINDS = frozenset({"INSERT", "SELECT", "WITH"})
_INLINE_DATA = frozenset({"VALUES", "FORMAT"})
T = TypeVar("T")


def _setting_literal(value: Any) -> str:
    """A setting's value as SQL: strings quoted (``join_algorithm = 'hash'``), numbers as is."""
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _with_settings(sql: str, settings: Mapping[str, Any]) -> str:
    """``sql`` with ``settings`` in its trailing ``SETTINGS`` clause (appended to a last line
    that starts one, else a new clause)."""
    body = sql.rstrip().rstrip(";").rstrip()
    clause = ", ".join(f"{k} = {_setting_literal(v)}" for k, v in settings.items())
    if body.rsplit("\n", 1)[-1].lstrip().upper().startswith("SETTINGS "):
        return f"{body}, {clause}"
    return f"{body}\nSETTINGS {clause}"


# chDB holds one engine (one data path) per process and keeps it while any client is open;
# remember which path is open and how many clients use it.
_engine_lock = threading.Lock()
_engine_path: str | None = None
_engine_clients = 0


def _parse_url(url: str) -> tuple[str, dict[str, Any], str]:
    """Split a ClickHouse URL into (kind, connect kwargs, database)."""
    parts = urlsplit(url)
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    if parts.scheme == "chdb":
        path = "memory" if parts.netloc == "memory" else unquote(parts.path)
        database = query.get("database", DEFAULT_DATABASE)
        return "chdb", {"path": path or "memory"}, database
    if parts.scheme in ("http", "https"):
        database = parts.path.strip("/") or query.get("database", DEFAULT_DATABASE)
        kwargs: dict[str, Any] = {
            "host": parts.hostname,
            "port": parts.port or (8443 if parts.scheme == "https" else 8123),
            "username": unquote(parts.username) if parts.username else "default",
            "password": unquote(parts.password) if parts.password else "",
            "secure": parts.scheme == "https",
            "connect_timeout": 5,
        }
        return "server", kwargs, database
    raise ConfigError(
        URL_VARIABLE, f"unsupported URL scheme {parts.scheme!r}; use chdb, http, https"
    )


def _embedded_dir_is_locked(path: Path) -> bool:
    """True if another process holds ClickHouse's ``status`` file lock in ``path``."""
    status = path / "status"
    if not status.exists():
        return False
    fd = os.open(status, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


class Warehouse:
    """A handle on one ClickHouse database, embedded or remote.

    Args:
        url: ``chdb:///abs/path[?database=db]`` or ``http(s)://user:pass@host:port/db``.
        database: overrides the database named in the URL (tests use one per test).
    """

    def __init__(self, url: str, database: str | None = None) -> None:
        self.kind, self._connect_kwargs, url_db = _parse_url(url)
        self.database = database or url_db
        if not _DB_NAME.match(self.database):
            raise ConfigError(URL_VARIABLE, f"invalid database name {self.database!r}")
        self._local = threading.local()
        self._clients: list[Client] = []
        self._clients_lock = threading.Lock()
        self._ensured_db = False
        self.url_for_display = self._display_url()

    # -- connection -----------------------------------------------------------------------
    def _display_url(self) -> str:
        if self.kind == "chdb":
            return f"chdb://{self._connect_kwargs['path']} (database {self.database})"
        kw = self._connect_kwargs
        scheme = "https" if kw["secure"] else "http"
        return f"{scheme}://{kw['host']}:{kw['port']}/{self.database}"

    def _new_client(self, database: str | None) -> Client:
        global _engine_path, _engine_clients
        try:
            if self.kind == "chdb":
                path = str(self._connect_kwargs["path"])
                with _engine_lock:
                    if _engine_path is None and path != "memory":
                        Path(path).mkdir(parents=True, exist_ok=True)
                        if _embedded_dir_is_locked(Path(path)):
                            raise EmbeddedEngineLockedError(path)
                    if _engine_path is not None and _engine_path != path:
                        raise ConfigError(
                            URL_VARIABLE,
                            f"this process already opened the embedded ClickHouse at "
                            f"{_engine_path}; one process can open one data dir",
                        )
                    client = clickhouse_connect.get_client(
                        dsn=f"chdb://{path}", database=database or ""
                    )
                    _engine_path = path
                    _engine_clients += 1
                    return client
            return clickhouse_connect.get_client(database=database or "", **self._connect_kwargs)
        except (EmbeddedEngineLockedError, ConfigError):
            raise
        except OperationalError as exc:
            text = str(exc)
            reason = next(
                (
                    r
                    for r in (
                        "Connection refused",
                        "timed out",
                        "Name or service not known",
                        "Authentication failed",
                        "certificate",
                    )
                    if r.lower() in text.lower()
                ),
                "no answer",
            )
            raise WarehouseUnavailableError(
                f"{URL_VARIABLE}: cannot reach ClickHouse at {self.url_for_display} ({reason}); "
                "start the server or fix the URL"
            ) from exc
        except Exception as exc:
            if self.kind == "chdb" and "EmbeddedServer" in str(exc):
                raise EmbeddedEngineLockedError(str(self._connect_kwargs["path"])) from exc
            raise WarehouseError(
                f"cannot open ClickHouse at {self.url_for_display}: {exc}"
            ) from exc

    def _client(self) -> Client:
        client: Client | None = getattr(self._local, "client", None)
        if client is None:
            if not self._ensured_db:
                self.ensure_database()
            client = self._new_client(self.database)
            self._local.client = client
            with self._clients_lock:
                self._clients.append(client)
        return client

    def ensure_database(self) -> None:
        """Create the configured database if it does not exist."""
        if self.database != DEFAULT_DATABASE:
            bootstrap = self._new_client(None)
            try:
                self._run(
                    lambda: bootstrap.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
                )
            finally:
                self._close_client(bootstrap)
        self._ensured_db = True

    def _close_client(self, client: Client) -> None:
        global _engine_path, _engine_clients
        client.close()
        if self.kind == "chdb":
            with _engine_lock:
                _engine_clients -= 1
                if _engine_clients <= 0:
                    _engine_clients = 0
                    _engine_path = None

    def close(self) -> None:
        """Close every client this handle opened (releases the embedded engine's lock)."""
        with self._clients_lock:
            clients, self._clients = self._clients, []
        for client in clients:
            self._close_client(client)
        self._local = threading.local()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- statements -----------------------------------------------------------------------
    @staticmethod
    def _prepare(sql: str, settings: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]]:
        merged = dict(_READ_SETTINGS)
        if settings:
            merged.update(settings)
        return apply_final(sql), merged

    def _run(self, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except ClickHouseError as exc:
            text = str(exc)
            match = _CODE.search(text)
            code = int(match.group(1)) if match else None
            first = text.strip().splitlines()[0] if text.strip() else exc.__class__.__name__
            first = re.sub(r"\s*In scope .*", "", first)
            if code == 60:  # UNKNOWN_TABLE
                first += "; if the schema is missing, run `klaviyo-analytics db migrate`"
            raise WarehouseError(f"ClickHouse error: {first}", code=code) from exc

    def query(
        self,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> QueryResult:
        """Run a read through the FINAL layer and return clickhouse-connect's result."""
        prepared, merged = self._prepare(sql, settings)
        client = self._client()
        return self._run(
            lambda: client.query(prepared, parameters=dict(parameters or {}), settings=merged)
        )

    def rows(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a read as tuples."""
        return [tuple(row) for row in self.query(sql, parameters).result_rows]

    def dicts(self, sql: str, parameters: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a read as dicts keyed by column name."""
        result = self.query(sql, parameters)
        names = result.column_names
        return [dict(zip(names, row, strict=True)) for row in result.result_rows]

    def scalar(self, sql: str, parameters: Mapping[str, Any] | None = None) -> Any:
        """The first column of the first row of a read, or None."""
        rows = self.rows(sql, parameters)
        return rows[0][0] if rows else None

    def arrow(self, sql: str, parameters: Mapping[str, Any] | None = None) -> pa.Table:
        """A read as an Arrow table (fast path for large results)."""
        prepared, merged = self._prepare(sql, None)
        client = self._client()
        return self._run(
            lambda: client.query_arrow(prepared, parameters=dict(parameters or {}), settings=merged)
        )

    def command(
        self,
        sql: str,
        parameters: Mapping[str, Any] | None = None,
        settings: Mapping[str, Any] | None = None,
        inline_settings: Mapping[str, Any] | None = None,
    ) -> Any:
        """Run DDL or ``INSERT ... SELECT``; any read inside still goes through FINAL.

        The FINAL layer's ``final = 1`` is written into the statement as a ``SETTINGS`` clause
        (statements that read and have none of their own) rather than passed as per-call
        settings: on the embedded engine per-call settings cost a snapshot, ``SET`` and restore
        of the session's settings (~11 ms per statement, measured). ``settings`` still go per
        call; ``inline_settings`` are written into the statement with ``final = 1`` (appended to
        a trailing ``SETTINGS`` line of its own), for statements that read.

        Raises:
            ValueError: ``inline_settings`` for a statement that cannot take them.
        """
        prepared = apply_final(sql)
        words = keywords(prepared)
        reads = statement_kind(prepared) in _READ_KINDS and not words & _INLINE_DATA
        if inline_settings is not None and not reads:
            raise ValueError("inline settings need a statement that reads (INSERT ... SELECT)")
        if reads and (inline_settings is not None or "SETTINGS" not in words):
            prepared = _with_settings(prepared, {**_READ_SETTINGS, **(inline_settings or {})})
        client = self._client()
        return self._run(
            lambda: client.command(
                prepared, parameters=dict(parameters or {}), settings=dict(settings or {})
            )
        )

    def insert_rows(
        self, table: str, rows: Sequence[Sequence[Any]], column_names: Sequence[str]
    ) -> int:
        """Insert Python rows; returns the number written."""
        if not rows:
            return 0
        client = self._client()
        self._run(lambda: client.insert(table, rows, column_names=list(column_names)))
        return len(rows)

    def insert_arrow(self, table: str, data: pa.Table) -> int:
        """Insert an Arrow table (the fast path); returns the number of rows written."""
        if data.num_rows == 0:
            return 0
        client = self._client()
        self._run(lambda: client.insert_arrow(table, data))
        return int(data.num_rows)

    def insert_raw(
        self,
        table: str,
        columns: Sequence[str],
        data: Iterable[bytes],
        fmt: str,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        """Insert data already encoded in ClickHouse format ``fmt`` (e.g. ``RowBinary``).

        Args:
            table: used as an identifier as is: pass only names the code made, never input.
            columns: the columns ``data`` holds, in order.
            data: the encoded rows as consecutive chunks (streamed, never joined into one copy).
            fmt: the ClickHouse input format.
            settings: apply to this insert only.
        """
        client = self._client()
        self._run(
            lambda: client.raw_insert(
                table, list(columns), (c for c in data), fmt=fmt, settings=dict(settings or {})
            )
        )

    @contextmanager
    def stream_rows(
        self, sql: str, parameters: Mapping[str, Any] | None = None
    ) -> Iterator[Iterator[tuple[Any, ...]]]:
        """Stream a large read row by row without holding it all in memory."""
        prepared, merged = self._prepare(sql, None)
        client = self._client()
        stream = self._run(
            lambda: client.query_rows_stream(
                prepared, parameters=dict(parameters or {}), settings=merged
            )
        )
        with stream:
            yield iter(stream)

    def ping(self) -> bool:
        """True if ClickHouse answers ``SELECT 1``."""
        try:
            return bool(self.scalar("SELECT 1") == 1)
        except Exception:
            return False
