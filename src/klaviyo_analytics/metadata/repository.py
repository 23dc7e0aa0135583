"""``MetadataStore``: the only code that reads or writes the metadata collections.

Callers get typed models (``models``); raw documents, driver exceptions and plaintext secrets stay
in here. Uniqueness does not rely on the backend's unique secondary indexes (the indexes are still
created where they are enforced): every unique key is first claimed by a *guard* document in
``unique_keys`` whose ``_id`` is the key, and ``_id`` uniqueness is enforced by every backend. A
crash between the guard and the real document leaves an orphan guard, which is reclaimed once it is
older than :data:`ORPHAN_GUARD_AGE` and its document does not exist.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import string
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bson import ObjectId

from klaviyo_analytics.errors import NotFoundError, TransientError, UsageError
from klaviyo_analytics.metadata.backends import Collection, Database, DuplicateDocument
from klaviyo_analytics.metadata.crypto import SecretBox, mask
from klaviyo_analytics.metadata.errors import DuplicateKeyError, LockHeldError
from klaviyo_analytics.metadata.models import (
    AGGREGATE_RUN_FIELDS,
    DATA_TYPE_LAST_SYNC_FIELDS,
    LAST_UPDATE_FIELDS,
    ApiToken,
    CampaignStat,
    Credentials,
    KlaviyoIntegration,
    KlaviyoSync,
    Store,
    StoreStatus,
    TokenKind,
)

STORES = "stores"
KLAVIYO_SYNCS = "klaviyo_syncs"
CAMPAIGNSTATS = "campaignstats"
API_TOKENS = "api_tokens"
UNIQUE_KEYS = "unique_keys"

ORPHAN_GUARD_AGE = timedelta(seconds=60)
TOKEN_PREFIX = "ka_"
_LAST_USED_RESOLUTION = timedelta(seconds=60)
_ALNUM = string.ascii_lowercase + string.digits
_DATA_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_STORE_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
_CONTENTION_RETRIES = 200
_KI = "klaviyo_integration"


def utcnow() -> datetime:
    """Now, tz-aware UTC, truncated to milliseconds (what BSON keeps)."""
    return _utc(datetime.now(UTC))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise UsageError(f"datetime {value.isoformat()} has no timezone; pass an aware UTC value")
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _fingerprint(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _random_id(prefix: str, length: int = 10) -> str:
    return prefix + "".join(secrets.choice(_ALNUM) for _ in range(length))


class MetadataStore:
    """Typed access to ``stores``, ``klaviyo_syncs``, ``campaignstats`` and API tokens.

    Safe to share between threads; several processes may open the same backend.

    Args:
        database: an opened backend (see ``backends.open_database``).
        secret_box: encrypts credentials at rest.
    """

    def __init__(self, database: Database, secret_box: SecretBox) -> None:
        self._db = database
        self._box = secret_box
        self._stores = database.collection(STORES)
        self._syncs = database.collection(KLAVIYO_SYNCS)
        self._stats = database.collection(CAMPAIGNSTATS)
        self._tokens = database.collection(API_TOKENS)
        self._guards = database.collection(UNIQUE_KEYS)
        self._collections = {
            STORES: self._stores,
            KLAVIYO_SYNCS: self._syncs,
            CAMPAIGNSTATS: self._stats,
        }
        self._ensure_indexes()

    @property
    def backend(self) -> str:
        """The backend kind: ``embedded``, ``mongodb`` or ``mongomock``."""
        return self._db.kind

    def _ensure_indexes(self) -> None:
        self._stores.create_index([("public_id", 1)], name="public_id_unique", unique=True)
        self._stores.create_index(
            [(f"{_KI}.public_id", 1)], name="klaviyo_public_id_unique", unique=True
        )
        self._syncs.create_index(
            [("klaviyo_public_id", 1)], name="klaviyo_public_id_unique", unique=True
        )
        self._stats.create_index(
            [
                ("klaviyo_public_id", 1),
                ("groupings.campaign_id", 1),
                ("groupings.campaign_message_id", 1),
            ],
            name="campaign_message_unique",
            unique=True,
        )
        self._tokens.create_index([("token_sha256", 1)], name="token_sha256_unique", unique=True)

    # -- guards ----------------------------------------------------------------------------

    @staticmethod
    def _guard_key(collection: str, field: str, value: str) -> str:
        return f"{collection}:{field}:{value}"

    def _claim(self, collection: str, field: str, value: str, doc_id: ObjectId) -> None:
        """Claim a unique key for ``doc_id``; raise DuplicateKeyError if it is taken."""
        key = self._guard_key(collection, field, value)
        for _ in range(3):
            now = utcnow()
            try:
                self._guards.insert_one(
                    {"_id": key, "collection": collection, "doc_id": doc_id, "created_at": now}
                )
                return
            except DuplicateDocument:
                existing = self._guards.find_one({"_id": key})
            if existing is None:
                continue  # released between our insert and read: try again
            alive = self._collections[collection].count({"_id": existing["doc_id"]})
            created = existing["created_at"]
            if alive or _as_aware(created) > now - ORPHAN_GUARD_AGE:
                raise DuplicateKeyError(collection, field, value)
            # An orphan left by a crash between guard and document: take it over.
            self._guards.delete_many({"_id": key, "doc_id": existing["doc_id"]})
        raise DuplicateKeyError(collection, field, value)

    def _release(self, collection: str, field: str, value: str, doc_id: ObjectId) -> None:
        self._guards.delete_many(
            {"_id": self._guard_key(collection, field, value), "doc_id": doc_id}
        )

    # -- stores ----------------------------------------------------------------------------

    def add_store(
        self,
        name: str,
        klaviyo_public_id: str,
        *,
        api_key: str | None = None,
        oauth_access_token: str | None = None,
        oauth_refresh_token: str | None = None,
        token_expires_at: datetime | None = None,
        public_id: str | None = None,
    ) -> Store:
        """Create a store with its Klaviyo integration; secrets are encrypted before storage.

        Args:
            name: display name.
            klaviyo_public_id: the Klaviyo account id; one store per account.
            api_key: a Klaviyo private API key (``pk_…``); or else the OAuth triple below.
            oauth_access_token: OAuth access token.
            oauth_refresh_token: OAuth refresh token.
            token_expires_at: expiry of the access token (aware datetime).
            public_id: the store id; generated as ``store_<10 lowercase alnum>`` when None.

        Returns:
            The created store.

        Raises:
            UsageError: bad arguments (both or neither credential kinds, bad id).
            DuplicateKeyError: the public id or the Klaviyo account already has a store.
        """
        oauth = (oauth_access_token, oauth_refresh_token, token_expires_at)
        if api_key is not None and any(v is not None for v in oauth):
            raise UsageError("give either an API key or OAuth tokens, not both")
        if api_key is None and any(v is None for v in oauth):
            raise UsageError(
                "give an API key, or all of OAuth access token, refresh token and expiry"
            )
        if not name.strip():
            raise UsageError("store name must not be empty")
        if not klaviyo_public_id.strip():
            raise UsageError("Klaviyo public id must not be empty")
        public_id = public_id or _random_id("store_")
        if not _STORE_ID.match(public_id):
            raise UsageError(
                f"store public id {public_id!r} may hold only letters, digits, _ and -"
            )
        now = utcnow()
        integration: dict[str, Any] = {
            "status": "active",
            "public_id": klaviyo_public_id,
            "auth_method": "api_key" if api_key is not None else "oauth",
            "oauth_token": None,
            "refresh_token": None,
            "token_expires_at": None,
            "api_key": None,
            "is_updating_dashboard": False,
            "dashboard_lock_owner": None,
            "dashboard_lock_acquired_at": None,
            **dict.fromkeys(LAST_UPDATE_FIELDS),
            "needs_reauth": False,
            "last_error": None,
            "secret_masks": {},
            "refresh_token_sha256": None,
        }
        if api_key is not None:
            integration.update(self._api_key_fields(api_key))
        else:
            assert oauth_access_token is not None and oauth_refresh_token is not None
            assert token_expires_at is not None
            integration.update(
                self._oauth_fields(oauth_access_token, oauth_refresh_token, token_expires_at)
            )
        doc_id = ObjectId()
        doc = {
            "_id": doc_id,
            "name": name,
            "public_id": public_id,
            _KI: integration,
            "created_at": now,
            "updated_at": now,
        }
        with self._db.transaction():
            # Documents written before guards existed (or by other tools) count too.
            if self._stores.count({"public_id": public_id}):
                raise DuplicateKeyError(STORES, "public_id", public_id)
            if self._stores.count({f"{_KI}.public_id": klaviyo_public_id}):
                raise DuplicateKeyError(STORES, f"{_KI}.public_id", klaviyo_public_id)
            self._claim(STORES, "public_id", public_id, doc_id)
            try:
                self._claim(STORES, f"{_KI}.public_id", klaviyo_public_id, doc_id)
            except DuplicateKeyError:
                self._release(STORES, "public_id", public_id, doc_id)
                raise
            try:
                self._stores.insert_one(doc)
            except DuplicateDocument as exc:
                self._release(STORES, "public_id", public_id, doc_id)
                self._release(STORES, f"{_KI}.public_id", klaviyo_public_id, doc_id)
                raise DuplicateKeyError(STORES, "public_id", public_id) from exc
        return _store_from_doc(doc)

    def _api_key_fields(self, api_key: str) -> dict[str, Any]:
        if not api_key.strip():
            raise UsageError("API key must not be empty")
        return {
            "auth_method": "api_key",
            "api_key": self._box.encrypt(api_key),
            "oauth_token": None,
            "refresh_token": None,
            "token_expires_at": None,
            "refresh_token_sha256": None,
            "secret_masks": {"api_key": mask(api_key)},
        }

    def _oauth_fields(self, access: str, refresh: str, expires_at: datetime) -> dict[str, Any]:
        if not access.strip() or not refresh.strip():
            raise UsageError("OAuth tokens must not be empty")
        return {
            "auth_method": "oauth",
            "api_key": None,
            "oauth_token": self._box.encrypt(access),
            "refresh_token": self._box.encrypt(refresh),
            "token_expires_at": _utc(expires_at),
            "refresh_token_sha256": _fingerprint(refresh),
            "secret_masks": {"oauth_token": mask(access), "refresh_token": mask(refresh)},
        }

    def _raw_store(self, public_id: str) -> dict[str, Any]:
        doc = self._stores.find_one({"public_id": public_id})
        if doc is None:
            raise NotFoundError(f"store {public_id!r} does not exist")
        return doc

    def get_store(self, public_id: str) -> Store:
        """Return the store ``public_id``.

        Raises:
            NotFoundError: no such store.
        """
        return _store_from_doc(self._raw_store(public_id))

    def find_store_by_klaviyo_id(self, klaviyo_public_id: str) -> Store | None:
        """Return the store connected to a Klaviyo account, or None."""
        doc = self._stores.find_one({f"{_KI}.public_id": klaviyo_public_id})
        return None if doc is None else _store_from_doc(doc)

    def list_stores(self, active_only: bool = False) -> list[Store]:
        """Return all stores (or only active ones), ordered by public id."""
        query: dict[str, Any] = {f"{_KI}.status": "active"} if active_only else {}
        return [_store_from_doc(d) for d in self._stores.find(query, sort=[("public_id", 1)])]

    def remove_store(self, public_id: str, *, purge: bool = False) -> None:
        """Remove a store and its ``klaviyo_syncs`` document.

        Args:
            public_id: the store.
            purge: also delete the account's ``campaignstats`` documents.

        Raises:
            NotFoundError: no such store.
        """
        with self._db.transaction():
            doc = self._raw_store(public_id)
            kid = doc[_KI]["public_id"]
            self._stores.delete_many({"_id": doc["_id"]})
            self._release(STORES, "public_id", public_id, doc["_id"])
            self._release(STORES, f"{_KI}.public_id", kid, doc["_id"])
            for sync in self._syncs.find({"klaviyo_public_id": kid}):
                self._syncs.delete_many({"_id": sync["_id"]})
                self._release(KLAVIYO_SYNCS, "klaviyo_public_id", kid, sync["_id"])
            if purge:
                ids = [d["_id"] for d in self._stats.find({"klaviyo_public_id": kid})]
                self._stats.delete_many({"_id": {"$in": ids}})
                self._guards.delete_many({"collection": CAMPAIGNSTATS, "doc_id": {"$in": ids}})

    def update_store(
        self, public_id: str, *, name: str | None = None, status: StoreStatus | None = None
    ) -> Store:
        """Change a store's name and/or integration status; return the updated store.

        Raises:
            NotFoundError: no such store.
            UsageError: invalid status or empty name.
        """
        changes: dict[str, Any] = {"updated_at": utcnow()}
        if name is not None:
            if not name.strip():
                raise UsageError("store name must not be empty")
            changes["name"] = name
        if status is not None:
            if status not in ("active", "inactive"):
                raise UsageError(f"status must be 'active' or 'inactive', not {status!r}")
            changes[f"{_KI}.status"] = status
        return self._update_store_fields(public_id, changes)

    def _update_store_fields(self, public_id: str, changes: dict[str, Any]) -> Store:
        doc = self._stores.find_one_and_update({"public_id": public_id}, {"$set": changes})
        if doc is None:
            raise NotFoundError(f"store {public_id!r} does not exist")
        return _store_from_doc(doc)

    # -- credentials ---------------------------------------------------------------------------

    def get_credentials(self, public_id: str) -> Credentials:
        """Decrypt and return a store's credentials (the only decrypting path).

        Raises:
            NotFoundError: no such store.
            TerminalError: the secret key differs from the one used to encrypt.
        """
        ki = self._raw_store(public_id)[_KI]

        def dec(field: str) -> str | None:
            value = ki.get(field)
            return None if value is None else self._box.decrypt(value)

        return Credentials.model_validate(
            {
                "store_public_id": public_id,
                "klaviyo_public_id": ki["public_id"],
                "auth_method": ki["auth_method"],
                "api_key": dec("api_key"),
                "access_token": dec("oauth_token"),
                "refresh_token": dec("refresh_token"),
                "token_expires_at": ki.get("token_expires_at"),
            }
        )

    def masked_credentials(self, public_id: str) -> dict[str, str]:
        """Return display forms (at most the last 4 characters) of a store's secrets.

        Reads the masks stored at write time; nothing is decrypted.

        Raises:
            NotFoundError: no such store.
        """
        ki = self.get_store(public_id).klaviyo_integration
        fields = {"api_key": ki.api_key, "oauth_token": ki.oauth_token}
        fields["refresh_token"] = ki.refresh_token
        return {name: value for name, value in fields.items() if value is not None}

    def set_api_key(self, public_id: str, key: str) -> None:
        """Switch a store to API-key auth with ``key`` (clears OAuth tokens and needs_reauth)."""
        fields = self._api_key_fields(key)
        fields.update({"needs_reauth": False, "last_error": None})
        self._update_store_fields(public_id, _prefixed(fields) | {"updated_at": utcnow()})

    def set_oauth_tokens(
        self, public_id: str, access_token: str, refresh_token: str, expires_at: datetime
    ) -> None:
        """Store new OAuth tokens unconditionally (a re-authorisation; clears needs_reauth)."""
        fields = self._oauth_fields(access_token, refresh_token, expires_at)
        fields.update({"needs_reauth": False, "last_error": None})
        self._update_store_fields(public_id, _prefixed(fields) | {"updated_at": utcnow()})

    def rotate_oauth_tokens(
        self,
        public_id: str,
        *,
        expected_refresh_token: str,
        access_token: str,
        refresh_token: str,
        expires_at: datetime,
    ) -> bool:
        """Compare-and-swap the OAuth tokens after a refresh.

        Writes only if the stored refresh token is still ``expected_refresh_token`` (compared by
        SHA-256 fingerprint, as ciphertexts differ each time), in one atomic update.

        Returns:
            True if written; False if another worker rotated first (re-read the credentials).

        Raises:
            NotFoundError: no such store.
        """
        fields = self._oauth_fields(access_token, refresh_token, expires_at)
        result = self._stores.update_one(
            {
                "public_id": public_id,
                f"{_KI}.refresh_token_sha256": _fingerprint(expected_refresh_token),
            },
            {"$set": _prefixed(fields) | {"updated_at": utcnow()}},
        )
        if result.matched:
            return True
        self._raw_store(public_id)  # NotFoundError if the store is gone
        return False

    def mark_needs_reauth(self, public_id: str, reason: str) -> None:
        """Flag a store whose credentials Klaviyo rejected; the sync skips it until fixed."""
        self._update_store_fields(
            public_id,
            {f"{_KI}.needs_reauth": True, f"{_KI}.last_error": reason, "updated_at": utcnow()},
        )

    def clear_needs_reauth(self, public_id: str) -> None:
        """Clear the needs-reauth flag and the last error."""
        self._update_store_fields(
            public_id,
            {f"{_KI}.needs_reauth": False, f"{_KI}.last_error": None, "updated_at": utcnow()},
        )

    def set_last_update(self, public_id: str, field: str, ts: datetime) -> None:
        """Set one of the five ``klaviyo_integration.*_last_update`` timestamps.

        Raises:
            UsageError: ``field`` is not one of :data:`LAST_UPDATE_FIELDS`.
        """
        if field not in LAST_UPDATE_FIELDS:
            raise UsageError(f"unknown field {field!r}; expected one of {LAST_UPDATE_FIELDS}")
        self._update_store_fields(public_id, {f"{_KI}.{field}": _utc(ts), "updated_at": utcnow()})

    def set_account_timezone(self, public_id: str, tz: str) -> None:
        """Record the Klaviyo account's IANA timezone on the store (``klaviyo_integration``).

        Raises:
            UsageError: ``tz`` is not a known IANA timezone name.
            NotFoundError: no such store.
        """
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise UsageError(f"unknown timezone {tz!r}") from exc
        self._update_store_fields(public_id, {f"{_KI}.timezone": tz, "updated_at": utcnow()})

    # -- dashboard lock ------------------------------------------------------------------------

    def acquire_dashboard_lock(self, public_id: str, owner: str, lease: timedelta) -> bool:
        """Take the store's dashboard-update lock if it is free, expired or already ours.

        One atomic conditional update: of several concurrent callers exactly one succeeds.

        Args:
            public_id: the store.
            owner: a unique id of the worker (e.g. ``host:pid:uuid``).
            lease: how long the lock stays valid; a holder older than this is presumed dead.

        Returns:
            True if ``owner`` now holds the lock.

        Raises:
            NotFoundError: no such store.
        """
        if not owner:
            raise UsageError("lock owner must not be empty")
        now = utcnow()
        result = self._stores.update_one(
            {
                "public_id": public_id,
                "$or": [
                    {f"{_KI}.is_updating_dashboard": {"$ne": True}},
                    {f"{_KI}.dashboard_lock_acquired_at": None},
                    {f"{_KI}.dashboard_lock_acquired_at": {"$lt": now - lease}},
                    {f"{_KI}.dashboard_lock_owner": owner},
                ],
            },
            {
                "$set": {
                    f"{_KI}.is_updating_dashboard": True,
                    f"{_KI}.dashboard_lock_owner": owner,
                    f"{_KI}.dashboard_lock_acquired_at": now,
                }
            },
        )
        if result.matched:
            return True
        self._raw_store(public_id)
        return False

    def release_dashboard_lock(self, public_id: str, owner: str) -> bool:
        """Release the lock if ``owner`` holds it; return whether it did."""
        result = self._stores.update_one(
            {
                "public_id": public_id,
                f"{_KI}.is_updating_dashboard": True,
                f"{_KI}.dashboard_lock_owner": owner,
            },
            {
                "$set": {
                    f"{_KI}.is_updating_dashboard": False,
                    f"{_KI}.dashboard_lock_owner": None,
                    f"{_KI}.dashboard_lock_acquired_at": None,
                }
            },
        )
        return result.matched == 1

    @contextmanager
    def dashboard_lock(self, public_id: str, owner: str, lease: timedelta) -> Iterator[None]:
        """Hold the dashboard lock for the ``with`` block; release it in ``finally``.

        Raises:
            LockHeldError: another worker holds an unexpired lock.
        """
        if not self.acquire_dashboard_lock(public_id, owner, lease):
            ki = self.get_store(public_id).klaviyo_integration
            raise LockHeldError(public_id, ki.dashboard_lock_owner, ki.dashboard_lock_acquired_at)
        try:
            yield
        finally:
            self.release_dashboard_lock(public_id, owner)

    # -- sync state ----------------------------------------------------------------------------

    def get_sync(self, klaviyo_public_id: str) -> KlaviyoSync:
        """Return the account's ``klaviyo_syncs`` document, creating it on first use."""
        return KlaviyoSync.model_validate(self._ensure_sync(klaviyo_public_id))

    def _ensure_sync(self, kid: str) -> dict[str, Any]:
        if not kid:
            raise UsageError("Klaviyo public id must not be empty")
        for _ in range(_CONTENTION_RETRIES):
            doc = self._syncs.find_one({"klaviyo_public_id": kid})
            if doc is not None:
                return doc
            doc_id = ObjectId()
            new: dict[str, Any] = {
                "_id": doc_id,
                "klaviyo_public_id": kid,
                "sync_type": "cron_sync",
                **dict.fromkeys(DATA_TYPE_LAST_SYNC_FIELDS.values()),
                **dict.fromkeys(AGGREGATE_RUN_FIELDS),
                "updated_at": utcnow(),
                "data_types": {},
            }
            with self._db.transaction():
                try:
                    self._claim(KLAVIYO_SYNCS, "klaviyo_public_id", kid, doc_id)
                except DuplicateKeyError:
                    pass  # another worker is creating it; read it on the next turn
                else:
                    try:
                        self._syncs.insert_one(new)
                        return new
                    except DuplicateDocument:
                        self._release(KLAVIYO_SYNCS, "klaviyo_public_id", kid, doc_id)
            time.sleep(0.005)
        raise TransientError(f"klaviyo_syncs document of {kid!r} stayed contended; retry")

    def _update_sync(self, kid: str, changes: dict[str, Any]) -> None:
        self._ensure_sync(kid)
        self._syncs.update_one(
            {"klaviyo_public_id": kid}, {"$set": changes | {"updated_at": utcnow()}}
        )

    @staticmethod
    def _data_type(data_type: str) -> str:
        if not _DATA_TYPE.match(data_type):
            raise UsageError(f"invalid data type {data_type!r} (lowercase letters, digits, _)")
        return f"data_types.{data_type}"

    def record_data_type_success(
        self,
        klaviyo_public_id: str,
        data_type: str,
        *,
        watermark: datetime | str | None,
        rows_written: int,
        finished_at: datetime,
    ) -> None:
        """Record a successful sync of one data type; also sets ``<type>_last_sync``."""
        prefix = self._data_type(data_type)
        at = _utc(finished_at)
        mark = _utc(watermark) if isinstance(watermark, datetime) else watermark
        changes: dict[str, Any] = {
            f"{prefix}.watermark": mark,
            f"{prefix}.last_success_at": at,
            f"{prefix}.last_attempt_at": at,
            f"{prefix}.rows_written": rows_written,
            f"{prefix}.running": False,
            f"{prefix}.last_error": None,
            f"{prefix}.last_error_at": None,
        }
        if data_type in DATA_TYPE_LAST_SYNC_FIELDS:
            changes[DATA_TYPE_LAST_SYNC_FIELDS[data_type]] = at
        self._update_sync(klaviyo_public_id, changes)

    def record_data_type_error(
        self, klaviyo_public_id: str, data_type: str, error: str, at: datetime
    ) -> None:
        """Record a failed sync of one data type (the watermark is left unchanged)."""
        prefix = self._data_type(data_type)
        when = _utc(at)
        self._update_sync(
            klaviyo_public_id,
            {
                f"{prefix}.last_error": error,
                f"{prefix}.last_error_at": when,
                f"{prefix}.last_attempt_at": when,
                f"{prefix}.running": False,
            },
        )

    def set_aggregate_last_run(self, klaviyo_public_id: str, field: str, ts: datetime) -> None:
        """Set one of the ``*_last_run`` fields or ``aggregates_last_sync``.

        Raises:
            UsageError: unknown field.
        """
        if field not in AGGREGATE_RUN_FIELDS:
            raise UsageError(f"unknown field {field!r}; expected one of {AGGREGATE_RUN_FIELDS}")
        self._update_sync(klaviyo_public_id, {field: _utc(ts)})

    def mark_running(self, klaviyo_public_id: str, data_type: str, running: bool) -> None:
        """Flag a data type as being synced (True also records the attempt time)."""
        prefix = self._data_type(data_type)
        changes: dict[str, Any] = {f"{prefix}.running": running}
        if running:
            changes[f"{prefix}.last_attempt_at"] = utcnow()
        self._update_sync(klaviyo_public_id, changes)

    # -- campaignstats -------------------------------------------------------------------------

    def upsert_campaign_stats(self, stats: Iterable[CampaignStat]) -> int:
        """Insert or replace campaign statistics, one document per (account, campaign, message).

        Idempotent; concurrent callers never create duplicates. A stat without ``updated_at``
        gets the current time.

        Returns:
            How many stats were written.
        """
        latest: dict[tuple[str, str, str], CampaignStat] = {}
        for stat in stats:
            g = stat.groupings
            latest[(stat.klaviyo_public_id, g.campaign_id, g.campaign_message_id)] = stat
        if not latest:
            return 0
        with self._db.transaction():
            # One read of the accounts' documents instead of one lookup per stat.
            existing = {
                (
                    d["klaviyo_public_id"],
                    d["groupings"]["campaign_id"],
                    d["groupings"]["campaign_message_id"],
                ): d["_id"]  # noqa: E501
                for d in self._stats.find(
                    {"klaviyo_public_id": {"$in": sorted({k[0] for k in latest})}}
                )
            }
            for key, stat in latest.items():
                self._upsert_campaign_stat(stat, existing.get(key))
        return len(latest)

    def _upsert_campaign_stat(self, stat: CampaignStat, known_id: ObjectId | None) -> None:
        fields = stat.model_dump(mode="python")
        fields["updated_at"] = _opt_utc(stat.updated_at) or utcnow()
        g = stat.groupings
        if (
            known_id is not None
            and self._stats.update_one({"_id": known_id}, {"$set": fields}).matched
        ):
            return
        key = {
            "klaviyo_public_id": stat.klaviyo_public_id,
            "groupings.campaign_id": g.campaign_id,
            "groupings.campaign_message_id": g.campaign_message_id,
        }
        guard_value = json.dumps([stat.klaviyo_public_id, g.campaign_id, g.campaign_message_id])
        for attempt in range(_CONTENTION_RETRIES):
            # Absent when the caller read the account's documents: claim its key first (every
            # insert does), and update by key only once a claim shows another writer inserted
            # it. (A lookup by key is a scan of the collection on the embedded store.)
            if attempt and self._stats.update_one(key, {"$set": fields}).matched:
                return
            doc_id = ObjectId()
            try:
                self._claim(CAMPAIGNSTATS, "key", guard_value, doc_id)
            except DuplicateKeyError:
                time.sleep(0.002)  # another writer is inserting it: update it next turn
                continue
            try:
                self._stats.insert_one({"_id": doc_id, **fields})
                return
            except DuplicateDocument:
                self._release(CAMPAIGNSTATS, "key", guard_value, doc_id)
        raise TransientError(f"campaignstats {guard_value} stayed contended; retry")

    def list_campaign_stats(self, klaviyo_public_id: str) -> list[CampaignStat]:
        """Return an account's campaign statistics ordered by campaign and message id."""
        docs = self._stats.find(
            {"klaviyo_public_id": klaviyo_public_id},
            sort=[("groupings.campaign_id", 1), ("groupings.campaign_message_id", 1)],
        )
        return [CampaignStat.model_validate(d) for d in docs]

    # -- API tokens ----------------------------------------------------------------------------

    def create_api_token(
        self, kind: TokenKind, store_public_id: str | None = None
    ) -> tuple[ApiToken, str]:
        """Create an API token; the plaintext is returned once and only its hash is stored.

        Args:
            kind: ``admin`` (all stores) or ``store`` (one store).
            store_public_id: the store of a ``store`` token; must be None for ``admin``.

        Returns:
            The token's record and its plaintext (``ka_<32 url-safe chars>``).

        Raises:
            UsageError: kind and store do not fit together.
            NotFoundError: the store does not exist.
        """
        if kind not in ("admin", "store"):
            raise UsageError(f"token kind must be 'admin' or 'store', not {kind!r}")
        if (kind == "store") != (store_public_id is not None):
            raise UsageError("a store token needs a store id; an admin token must not have one")
        if store_public_id is not None:
            self._raw_store(store_public_id)
        plaintext = TOKEN_PREFIX + secrets.token_urlsafe(24)
        doc = {
            "_id": _random_id("tok_"),
            "kind": kind,
            "store_public_id": store_public_id,
            "token_sha256": _fingerprint(plaintext),
            "prefix": plaintext[:8],
            "created_at": utcnow(),
            "last_used_at": None,
            "revoked_at": None,
        }
        self._tokens.insert_one(doc)
        return _token_from_doc(doc), plaintext

    def verify_api_token(self, plaintext: str) -> ApiToken | None:
        """Return the token's record if ``plaintext`` is a valid, unrevoked token, else None."""
        if not plaintext.startswith(TOKEN_PREFIX):
            return None
        digest = _fingerprint(plaintext)
        doc = self._tokens.find_one({"token_sha256": digest})
        if doc is None or not hmac.compare_digest(doc["token_sha256"], digest):
            return None
        if doc.get("revoked_at") is not None:
            return None
        now = utcnow()
        last = doc.get("last_used_at")
        if last is None or _as_aware(last) < now - _LAST_USED_RESOLUTION:
            doc = (
                self._tokens.find_one_and_update(
                    {"_id": doc["_id"]}, {"$set": {"last_used_at": now}}
                )
                or doc
            )
        return _token_from_doc(doc)

    def list_api_tokens(self) -> list[ApiToken]:
        """Return all tokens (revoked ones included), oldest first."""
        return [_token_from_doc(d) for d in self._tokens.find({}, sort=[("created_at", 1)])]

    def revoke_api_token(self, token_id: str) -> ApiToken:
        """Revoke a token; revoking twice keeps the first revocation time.

        Raises:
            NotFoundError: no such token.
        """
        doc = self._tokens.find_one_and_update(
            {"_id": token_id, "revoked_at": None}, {"$set": {"revoked_at": utcnow()}}
        ) or self._tokens.find_one({"_id": token_id})
        if doc is None:
            raise NotFoundError(f"API token {token_id!r} does not exist")
        return _token_from_doc(doc)

    # -- lifecycle -----------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise ``MetadataUnavailableError`` if the backend cannot serve requests."""
        self._db.ping()

    def close(self) -> None:
        """Close the backend."""
        self._db.close()

    def raw_collection(self, name: str) -> Collection:
        """The raw collection, for tests that check document shapes and encryption at rest."""
        return self._db.collection(name)


def _prefixed(fields: dict[str, Any]) -> dict[str, Any]:
    return {f"{_KI}.{k}": v for k, v in fields.items()}


def _as_aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _store_from_doc(doc: dict[str, Any]) -> Store:
    ki = dict(doc[_KI])
    masks = ki.pop("secret_masks", None) or {}
    for field in ("oauth_token", "refresh_token", "api_key"):
        ki[field] = masks.get(field) if ki.get(field) is not None else None
    return Store(
        id=str(doc["_id"]),
        name=doc["name"],
        public_id=doc["public_id"],
        klaviyo_integration=KlaviyoIntegration.model_validate(ki),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
    )


def _token_from_doc(doc: dict[str, Any]) -> ApiToken:
    return ApiToken.model_validate({**doc, "id": doc["_id"]})
