"""Backends of the metadata store: a MongoDB server, mongomock, or the embedded file store.

Each backend exposes the same small, pymongo-shaped surface (:class:`Collection`) to
``repository``, which is the only caller. Driver exceptions are translated here.

The embedded default keeps documents in one SQLite file (WAL, ``synchronous=FULL``) and answers
queries with mongomock's engine over an in-memory copy. Every operation runs inside a SQLite
transaction; writes take SQLite's write lock with ``BEGIN IMMEDIATE``, so operations are atomic
across threads *and* processes, and a crash rolls back to the last committed state. A per-collection
generation counter tells a process when another one has written, and it reloads that collection.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import bson
import mongomock
import mongomock.collection
import mongomock.filtering
import pymongo
import pymongo.errors
from pymongo import ReturnDocument

from klaviyo_analytics.errors import ConfigError
from klaviyo_analytics.metadata.errors import MetadataBackendError, MetadataUnavailableError

URL_VARIABLE = "KLAVIYO_ANALYTICS_MONGODB_URL"
DATA_DIR_VARIABLE = "KLAVIYO_ANALYTICS_DATA_DIR"
DEFAULT_DATABASE = "klaviyo_analytics"
SERVER_SELECTION_TIMEOUT_MS = 2000
EMBEDDED_FILE = "metadata.sqlite3"
_CODEC: bson.CodecOptions[Any] = bson.CodecOptions(tz_aware=True, tzinfo=UTC)

Doc = dict[str, Any]
Filter = Mapping[str, Any]
IndexKeys = Sequence[tuple[str, int]]


class DuplicateDocument(Exception):  # noqa: N818 - internal signal, translated by repository
    """A write violated ``_id`` or a unique index; ``repository`` turns it into a user error."""


@dataclass(frozen=True)
class UpdateOutcome:
    """What an ``update_one`` did."""

    matched: int
    upserted_id: Any | None = None


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except pymongo.errors.DuplicateKeyError as exc:
        raise DuplicateDocument(str(exc)) from exc
    except pymongo.errors.ConnectionFailure as exc:
        raise MetadataUnavailableError(
            f"lost connection to MongoDB ({type(exc).__name__}); retry later"
        ) from exc
    except pymongo.errors.PyMongoError as exc:
        raise MetadataBackendError(f"MongoDB refused the operation: {type(exc).__name__}") from exc
    except sqlite3.OperationalError as exc:
        raise MetadataUnavailableError(f"embedded metadata store is busy: {exc}") from exc


class Collection:
    """The subset of a pymongo collection that ``repository`` uses, with translated errors.

    Args:
        raw: a pymongo or mongomock collection.
        lock: serialises operations (mongomock only: a server makes single-document operations
            atomic; this gives mongomock the same guarantee under threads).
        unique_indexes: when False, ``create_index(unique=True)`` makes a non-unique index. Used
            to run the contract suite against a backend that does not enforce unique secondary
            indexes.
    """

    def __init__(
        self,
        raw: Any,
        lock: AbstractContextManager[Any] | None = None,
        *,
        unique_indexes: bool = True,
    ) -> None:
        self._raw = raw
        self._lock: AbstractContextManager[Any] = lock if lock is not None else nullcontext()
        self._unique_indexes = unique_indexes

    @property
    def name(self) -> str:
        """The collection name."""
        return str(self._raw.name)

    def create_index(self, keys: IndexKeys, *, name: str, unique: bool = False) -> None:
        """Create an index if it does not exist."""
        with self._lock, _translated():
            self._raw.create_index(list(keys), name=name, unique=unique and self._unique_indexes)

    def insert_one(self, doc: Doc) -> None:
        """Insert one document (which must carry ``_id``)."""
        with self._lock, _translated():
            self._raw.insert_one(doc)

    def find_one(self, filter: Filter, projection: Mapping[str, Any] | None = None) -> Doc | None:  # noqa: A002
        """Return the first matching document or None."""
        with self._lock, _translated():
            found: Doc | None = self._raw.find_one(dict(filter), projection)
            return found

    def find(self, filter: Filter, *, sort: IndexKeys | None = None) -> list[Doc]:  # noqa: A002
        """Return all matching documents, optionally sorted."""
        with self._lock, _translated():
            cursor = self._raw.find(dict(filter))
            if sort:
                cursor = cursor.sort(list(sort))
            return list(cursor)

    def count(self, filter: Filter) -> int:  # noqa: A002
        """Count matching documents."""
        with self._lock, _translated():
            return int(self._raw.count_documents(dict(filter)))

    def update_one(
        self,
        filter: Filter,  # noqa: A002
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
    ) -> UpdateOutcome:
        """Apply ``update`` to the first matching document, atomically with the filter."""
        with self._lock, _translated():
            result = self._raw.update_one(dict(filter), dict(update), upsert=upsert)
            return UpdateOutcome(matched=result.matched_count, upserted_id=result.upserted_id)

    def find_one_and_update(self, filter: Filter, update: Mapping[str, Any]) -> Doc | None:  # noqa: A002
        """Apply ``update`` to the first matching document and return it as updated."""
        with self._lock, _translated():
            doc: Doc | None = self._raw.find_one_and_update(
                dict(filter), dict(update), return_document=ReturnDocument.AFTER
            )
            return doc

    def delete_many(self, filter: Filter) -> int:  # noqa: A002
        """Delete all matching documents; return how many."""
        with self._lock, _translated():
            return int(self._raw.delete_many(dict(filter)).deleted_count)


class Database:
    """A metadata database: named collections, transactions, ping and close.

    Attributes:
        kind: ``mongodb``, ``mongomock`` or ``embedded``.
        description: where the data lives, safe to show (never contains a password).
    """

    kind = "abstract"

    def __init__(self, description: str) -> None:
        self.description = description

    def collection(self, name: str) -> Collection:  # pragma: no cover - abstract
        """Return the named collection."""
        raise NotImplementedError

    def transaction(self) -> AbstractContextManager[None]:
        """Group operations; atomic on the embedded backend, a no-op on the others.

        Code must stay correct without it (servers give only single-document atomicity).
        """
        return nullcontext()

    def ping(self) -> None:
        """Raise :class:`MetadataUnavailableError` when the backend cannot serve requests."""

    def close(self) -> None:
        """Release connections and files."""


class MongoDatabase(Database):
    """A pymongo or mongomock database.

    Args:
        client: a ``pymongo.MongoClient`` or ``mongomock.MongoClient``.
        database: the database name.
        kind: ``mongodb`` or ``mongomock``.
        description: a safe description for messages.
        unique_indexes: see :class:`Collection`.
    """

    def __init__(
        self,
        client: Any,
        database: str,
        *,
        kind: str,
        description: str,
        unique_indexes: bool = True,
    ) -> None:
        super().__init__(description)
        self.kind = kind
        self._client = client
        self._db = client[database]
        self._lock = threading.RLock() if kind == "mongomock" else None
        self._unique_indexes = unique_indexes
        self._collections: dict[str, Collection] = {}

    def collection(self, name: str) -> Collection:
        """Return the named collection."""
        if name not in self._collections:
            self._collections[name] = Collection(
                self._db[name], self._lock, unique_indexes=self._unique_indexes
            )
        return self._collections[name]

    def ping(self) -> None:
        """Run the server's ``ping`` command."""
        with _translated():
            self._db.command("ping")

    def close(self) -> None:
        """Close the client."""
        self._client.close()


#: mongomock's matcher (untyped): whether a document matches a filter.
_filter_applies: Callable[[Any, Any], bool] = mongomock.filtering.filter_applies


def _plain_strings(condition: Any) -> frozenset[str] | None:
    """The strings a filter condition accepts when it is ``"s"`` or ``{"$in": ["s", ...]}``
    with strings only; None for any other condition."""
    if isinstance(condition, str):
        return frozenset((condition,))
    if isinstance(condition, dict) and len(condition) == 1 and "$in" in condition:
        values = condition["$in"]
        if isinstance(values, list | tuple) and all(isinstance(v, str) for v in values):
            return frozenset(values)
    return None


class _KeyedCollection(mongomock.collection.Collection):
    """mongomock's collection without a full scan per operation on a known key.

    mongomock answers every filter by testing every document, so each ``update_one`` by ``_id``
    (three scans with the persistence around it) cost O(collection): re-upserting one store's
    200 campaign statistics took 7.5-10 s with 4,000 documents in the collection, and grew with
    every store added. Two shortcuts, both leaving the final word to mongomock's own matcher:

    - ``{"_id": value}`` with a string or ObjectId value looks the document up by its key in
      mongomock's store;
    - a filter with a top-level field compared to a plain string (or ``$in`` a list of them)
      skips, before the matcher runs, the documents whose value of that field is a string not
      among them (equality between two strings is the same in MongoDB and Python; any other
      value, e.g. an array, which MongoDB matches element-wise, still goes to the matcher).
    """

    def _iter_documents(self, filter: Any) -> Iterator[Doc]:  # noqa: A002
        if isinstance(filter, dict) and not self._store.is_empty:
            key = filter.get("_id") if len(filter) == 1 else None
            # Only the key types the repository uses: a number or a regex means more than
            # "this key" to MongoDB (1 == 1.0 == Int64(1); a pattern matches many).
            if isinstance(key, str | bson.ObjectId):
                try:
                    doc = self._store[key]
                except KeyError:
                    return iter(())
                return iter([doc] if _filter_applies(filter, doc) else [])
            for field, value in filter.items():
                if field.startswith("$") or "." in field:
                    continue
                wanted = _plain_strings(value)
                if wanted is not None:
                    return (
                        doc
                        for doc in list(self._store.documents)
                        if not (isinstance(other := doc.get(field), str) and other not in wanted)
                        and _filter_applies(filter, doc)
                    )
        documents: Iterator[Doc] = super()._iter_documents(filter)  # type: ignore[no-untyped-call]
        return documents


class _EmbeddedCollection(Collection):
    """A mongomock collection whose writes are persisted to SQLite in the same transaction."""

    def __init__(self, raw: Any, owner: EmbeddedDatabase) -> None:
        # mongomock checks a unique index by scanning the collection on every write (O(n));
        # here uniqueness comes from the repository's ``_id`` guards, and every write holds the
        # SQLite write lock, so the indexes are created non-unique.
        super().__init__(raw, owner.operation(), unique_indexes=False)
        self._owner = owner

    def insert_one(self, doc: Doc) -> None:
        with self._lock, _translated():
            self._raw.insert_one(doc)
            self._owner.persist(self.name, [doc["_id"]])

    def update_one(
        self,
        filter: Filter,  # noqa: A002
        update: Mapping[str, Any],
        *,
        upsert: bool = False,
    ) -> UpdateOutcome:
        # The whole operation holds the write lock, so the id found first is the one updated.
        with self._lock, self._owner.invalidating(self.name), _translated():
            before = self._raw.find_one(dict(filter), {"_id": True})
            result = self._raw.update_one(dict(filter), dict(update), upsert=upsert)
            ids = [before["_id"]] if before is not None else []
            if result.upserted_id is not None:
                ids.append(result.upserted_id)
            self._owner.persist(self.name, ids)
            return UpdateOutcome(matched=result.matched_count, upserted_id=result.upserted_id)

    def find_one_and_update(self, filter: Filter, update: Mapping[str, Any]) -> Doc | None:  # noqa: A002
        with self._lock, self._owner.invalidating(self.name), _translated():
            doc: Doc | None = self._raw.find_one_and_update(
                dict(filter), dict(update), return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                self._owner.persist(self.name, [doc["_id"]])
            return doc

    def delete_many(self, filter: Filter) -> int:  # noqa: A002
        with self._lock, _translated():
            ids = [d["_id"] for d in self._raw.find(dict(filter), {"_id": True})]
            self._raw.delete_many({"_id": {"$in": ids}})
            self._owner.persist(self.name, ids)
            return len(ids)


class EmbeddedDatabase(Database):
    """The embedded, file-backed default: SQLite for storage, mongomock as the query engine.

    Args:
        directory: where ``metadata.sqlite3`` lives (created if missing).

    Raises:
        ConfigError: the directory cannot be created or the file cannot be opened.
    """

    kind = "embedded"

    def __init__(self, directory: Path) -> None:
        super().__init__(f"embedded store at {directory}")
        self.path = directory / EMBEDDED_FILE
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS documents (collection TEXT NOT NULL, key BLOB NOT NULL,"
                " body BLOB NOT NULL, PRIMARY KEY (collection, key)) WITHOUT ROWID"
            )
            self._conn.execute(
                "CREATE TABLE IF NOT EXISTS generations (collection TEXT PRIMARY KEY,"
                " generation INTEGER NOT NULL)"
            )
            self._conn.execute("COMMIT")
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                DATA_DIR_VARIABLE, f"cannot open the embedded metadata store {self.path}: {exc}"
            ) from exc
        self._memory: Any = mongomock.MongoClient(tz_aware=True)[DEFAULT_DATABASE]
        self._lock = threading.RLock()
        self._depth = 0
        self._seen: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._collections: dict[str, Collection] = {}

    def collection(self, name: str) -> Collection:
        """Return the named collection."""
        if name not in self._collections:
            raw = self._memory[name]
            raw.__class__ = _KeyedCollection  # same state, faster lookups (see the class)
            self._collections[name] = _EmbeddedCollection(raw, self)
        return self._collections[name]

    def transaction(self) -> AbstractContextManager[None]:
        """A SQLite write transaction: everything inside is atomic across processes."""
        return self._transaction()

    def operation(self) -> AbstractContextManager[None]:
        """The context of one collection operation: joins a transaction or opens its own."""
        return _Reentrant(self)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            with _translated():
                self._conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                self._refresh()
                yield
            except BaseException as exc:
                self._depth = 0
                self._conn.execute("ROLLBACK")
                # The in-memory copy may hold writes that were just rolled back; reload it. A
                # rejected insert alone changed nothing (mongomock checks before it writes).
                if self._dirty or not isinstance(exc, DuplicateDocument):
                    self._seen.clear()
                self._dirty.clear()
                raise
            try:
                for name in sorted(self._dirty):
                    self._conn.execute(
                        "INSERT INTO generations VALUES (?, 1) ON CONFLICT (collection)"
                        " DO UPDATE SET generation = generation + 1",
                        (name,),
                    )
                generations = dict(self._conn.execute("SELECT * FROM generations").fetchall())
                self._conn.execute("COMMIT")
            except BaseException:
                self._depth = 0
                self._seen.clear()
                self._dirty.clear()
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            for name in self._dirty:
                self._seen[name] = generations[name]
            self._dirty.clear()
            self._depth = 0

    def _refresh(self) -> None:
        for name, generation in self._conn.execute("SELECT * FROM generations").fetchall():
            if self._seen.get(name) == generation:
                continue
            raw = self._memory[name]
            raw.delete_many({})
            rows = self._conn.execute(
                "SELECT body FROM documents WHERE collection = ?", (name,)
            ).fetchall()
            if rows:
                raw.insert_many([bson.decode(body, codec_options=_CODEC) for (body,) in rows])
            self._seen[name] = generation

    @contextmanager
    def invalidating(self, name: str) -> Iterator[None]:
        """Reload collection ``name`` next time if the wrapped operation fails half-way."""
        try:
            yield
        except BaseException:
            self._seen.pop(name, None)
            raise

    def persist(self, name: str, ids: Sequence[Any]) -> None:
        """Write the current in-memory state of documents ``ids`` of ``name`` to SQLite."""
        raw = self._memory[name]
        for _id in ids:
            key = bson.encode({"_id": _id})
            doc = raw.find_one({"_id": _id})
            if doc is None:
                self._conn.execute(
                    "DELETE FROM documents WHERE collection = ? AND key = ?", (name, key)
                )
            else:
                self._conn.execute(
                    "INSERT OR REPLACE INTO documents VALUES (?, ?, ?)",
                    (name, key, bson.encode(doc)),
                )
        self._dirty.add(name)

    def ping(self) -> None:
        """Check that the SQLite file answers."""
        with self._lock, _translated():
            self._conn.execute("SELECT count(*) FROM generations").fetchone()

    def close(self) -> None:
        """Close the SQLite connection."""
        with self._lock:
            self._conn.close()


class _Reentrant:
    """Context of one embedded operation: joins the thread's open transaction or opens one.

    Reads take the write lock too: a read transaction that later writes needs a lock upgrade,
    which SQLite's WAL mode may refuse, and metadata operations are short.
    """

    def __init__(self, owner: EmbeddedDatabase) -> None:
        self._owner = owner
        self._stack: list[AbstractContextManager[None]] = []
        self._local = threading.local()

    def __enter__(self) -> None:
        ctx = self._owner._transaction()
        ctx.__enter__()
        stack: list[AbstractContextManager[None]] = getattr(self._local, "stack", [])
        stack.append(ctx)
        self._local.stack = stack

    def __exit__(self, *exc: Any) -> None:
        ctx = self._local.stack.pop()
        ctx.__exit__(*exc)


def open_database(url: str | None, data_dir: Path) -> Database:
    """Open the metadata backend named by ``url``.

    Args:
        url: ``mongodb://`` or ``mongodb+srv://`` for a MongoDB server, ``mongomock://`` for an
            in-memory stand-in (tests), None or empty for the embedded store under
            ``data_dir/metadata``.
        data_dir: the data directory of the embedded engines.

    Returns:
        The opened database.

    Raises:
        ConfigError: unknown scheme, unreachable server or unusable data dir; the message names
            the variable and never contains a password.
    """
    if not url:
        return EmbeddedDatabase(data_dir / "metadata")
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "mongomock":
        name = urlsplit(url).path.strip("/") or DEFAULT_DATABASE
        return MongoDatabase(
            mongomock.MongoClient(tz_aware=True), name, kind="mongomock", description="mongomock"
        )
    if scheme in ("mongodb", "mongodb+srv"):
        return _open_server(url)
    raise ConfigError(
        URL_VARIABLE,
        f"unsupported scheme {scheme + '://' if scheme else '(none)'}; use mongodb://, "
        "mongodb+srv:// or leave it unset for the embedded store",
    )


def _safe_location(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc.rsplit("@", 1)[-1] or "(no host)"


def _open_server(url: str) -> MongoDatabase:
    location = _safe_location(url)
    try:
        client: pymongo.MongoClient[Doc] = pymongo.MongoClient(
            url,
            serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            connectTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
            tz_aware=True,
        )
    except (pymongo.errors.PyMongoError, ValueError) as exc:
        raise ConfigError(
            URL_VARIABLE, f"invalid MongoDB URL for {location} ({type(exc).__name__})"
        ) from None
    database = MongoDatabase(
        client,
        client.get_default_database(default=DEFAULT_DATABASE).name,
        kind="mongodb",
        description=f"MongoDB at {location}",
    )
    started = time.monotonic()
    try:
        client.admin.command("ping")
    except pymongo.errors.PyMongoError as exc:
        client.close()
        raise ConfigError(
            URL_VARIABLE,
            f"cannot reach MongoDB at {location} ({type(exc).__name__} after "
            f"{time.monotonic() - started:.1f} s); start it or unset the variable to use the "
            "embedded store",
        ) from None
    return database
