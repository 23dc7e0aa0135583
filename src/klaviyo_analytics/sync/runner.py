"""cron_sync for one store or all: credentials → client → each data type → warehouse and Mongo.

Per store the dashboard-update lock is held for the whole run. Each data type runs on its own: a
failure is recorded on its ``klaviyo_syncs`` entry (error and time) and the others go on; a store
whose credentials are refused for good is marked ``needs_reauth`` and stops, other stores go on.
A watermark moves only after the rows it covers are written, and never past Klaviyo's "now".
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from klaviyo_analytics.context import AppContext
from klaviyo_analytics.errors import KlaviyoAnalyticsError, UsageError
from klaviyo_analytics.klaviyo.auth import ApiKeyAuth, Auth, OAuthAuth, TokenSet
from klaviyo_analytics.klaviyo.client import KlaviyoClient, RetryPolicy, new_http_client
from klaviyo_analytics.klaviyo.errors import ReauthRequiredError
from klaviyo_analytics.klaviyo.models import Metric
from klaviyo_analytics.klaviyo.ratelimit import Pacer
from klaviyo_analytics.metadata import Credentials, DataTypeState, LockHeldError, MetadataStore
from klaviyo_analytics.metadata.owners import is_dead_local_owner
from klaviyo_analytics.observability import (
    LAST_SUCCESS,
    ROWS_WRITTEN,
    SYNC_DURATION,
    SYNC_RUNS,
)
from klaviyo_analytics.sync.events import EventSync
from klaviyo_analytics.sync.progress import NullProgress, Progress
from klaviyo_analytics.sync.reports import ReportSync
from klaviyo_analytics.sync.scope import StoreScope
from klaviyo_analytics.sync.transform import local_midnight

logger = logging.getLogger("klaviyo_analytics.sync")

#: Event queries run this far past Klaviyo's "now" as we observe it: our clock and Klaviyo's can
#: disagree, and a bound in the future only returns nothing; the watermark never passes now.
EVENT_LOOKAHEAD = timedelta(days=1)

#: How long the dashboard lock is leased (a crashed worker's lock expires after this).
LOCK_LEASE = timedelta(hours=2)


class DataType(StrEnum):
    """The data types one store sync writes (``--only`` takes these names)."""

    ORDERS = "orders"
    REFUNDS = "refunds"
    CAMPAIGNS = "campaigns"
    FLOWS = "flows"
    FORMS = "forms"
    SEGMENTS = "segments"


#: The warehouse tables each data type writes (the ``table`` label of the rows metric).
DATA_TYPE_TABLE: dict[DataType, str] = {
    DataType.ORDERS: "klaviyo_orders,klaviyo_order_line_items",
    DataType.REFUNDS: "refund_cancelled_orders",
    DataType.CAMPAIGNS: "campaign_statistics",
    DataType.FLOWS: "flow_statistics",
    DataType.FORMS: "form_statistics",
    DataType.SEGMENTS: "segment_statistics",
}

#: ``stores.klaviyo_integration.*_last_update`` field set when a data type succeeds.
LAST_UPDATE_FIELD: dict[DataType, str] = {
    DataType.ORDERS: "placed_order_last_update",
    DataType.CAMPAIGNS: "campaign_values_last_update",
    DataType.FLOWS: "flow_values_last_update",
    DataType.FORMS: "form_values_last_update",
    DataType.SEGMENTS: "segment_values_last_update",
}


def parse_data_types(only: Iterable[str] | None) -> list[DataType]:
    """Validate ``--only`` names (comma lists allowed).

    Raises:
        UsageError: an unknown name.
    """
    if only is None:
        return list(DataType)
    names = [n.strip().lower() for item in only for n in item.split(",") if n.strip()]
    known = {d.value: d for d in DataType}
    bad = [n for n in names if n not in known]
    if bad:
        raise UsageError(f"unknown data type {bad[0]!r}; use any of {', '.join(known)}")
    return [d for d in DataType if d.value in names] or list(DataType)


@dataclass
class DataTypeResult:
    """Outcome of one data type of one store.

    Attributes:
        data_type: the data type.
        ok: whether it completed.
        rows_written: rows inserted.
        watermark: the watermark after the run.
        error: the error message when it failed.
        seconds: wall time.
    """

    data_type: str
    ok: bool
    rows_written: int = 0
    watermark: datetime | None = None
    error: str | None = None
    seconds: float = 0.0


@dataclass
class StoreSyncResult:
    """Outcome of one store's sync.

    Attributes:
        store_public_id: our store id.
        klaviyo_public_id: the Klaviyo account.
        ok: every requested data type completed.
        needs_reauth: the credentials were refused; the store was marked.
        error: a store-level error (lock held, re-authorisation), if any.
        data_types: per data type outcomes.
        api_calls: successful API calls per endpoint (``METHOD /path``).
        seconds: wall time.
    """

    store_public_id: str
    klaviyo_public_id: str
    ok: bool = True
    needs_reauth: bool = False
    error: str | None = None
    data_types: list[DataTypeResult] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows_written(self) -> int:
        """Rows written over all data types."""
        return sum(d.rows_written for d in self.data_types)


def choose_metric(metrics: list[Metric], *names: str) -> Metric | None:
    """The metric to read for an e-commerce event (klaviyo-api.md §4.2, event-payloads.md).

    Shopify's metric of one of ``names`` wins; otherwise the metric of that name with the most
    recent ``updated``.
    """
    candidates = [m for m in metrics if m.name in names]
    shopify = [m for m in candidates if (m.integration_name or "").lower() == "shopify"]
    pool = shopify or candidates
    if not pool:
        return None
    floor = datetime.min.replace(tzinfo=UTC)
    return max(pool, key=lambda m: (m.updated or floor, m.id))


def build_client(ctx: AppContext, store_public_id: str, creds: Credentials) -> KlaviyoClient:
    """A Klaviyo client for one store, from settings and its decrypted credentials."""
    s = ctx.settings
    retry = RetryPolicy(
        max_attempts=s.klaviyo_max_attempts,
        base_delay=s.klaviyo_retry_base_seconds,
        max_total=s.klaviyo_retry_max_total_seconds,
        timeout=s.klaviyo_timeout_seconds,
    )
    http = new_http_client(retry.timeout)
    auth: Auth
    if creds.auth_method == "api_key" and creds.api_key is not None:
        auth = ApiKeyAuth(creds.api_key.get_secret_value(), creds.klaviyo_public_id)
    else:
        auth = _oauth(ctx.metadata, s.klaviyo_base_url, store_public_id, creds, http, ctx)
    client = KlaviyoClient(
        s.klaviyo_base_url,
        auth,
        pacer=Pacer(s.klaviyo_rate_window_scale, enabled=s.klaviyo_pacing),
        retry=retry,
        http=http,
    )
    client._own_http = True  # noqa: SLF001 - the client owns the httpx client built here
    return client


def _tokens(creds: Credentials) -> TokenSet:
    if creds.access_token is None or creds.refresh_token is None:
        raise ReauthRequiredError(creds.klaviyo_public_id, "no OAuth tokens stored")
    return TokenSet(
        creds.access_token.get_secret_value(),
        creds.refresh_token.get_secret_value(),
        creds.token_expires_at or datetime.now(UTC),
    )


def _oauth(
    metadata: MetadataStore,
    base_url: str,
    store_public_id: str,
    creds: Credentials,
    http: httpx.Client,
    ctx: AppContext,
) -> OAuthAuth:
    s = ctx.settings
    if not s.klaviyo_client_id or s.klaviyo_client_secret is None:
        raise ReauthRequiredError(
            creds.klaviyo_public_id,
            "OAuth store but KLAVIYO_ANALYTICS_KLAVIYO_CLIENT_ID/SECRET are not set",
        )

    def persist(expected: str, new: TokenSet) -> bool:
        return metadata.rotate_oauth_tokens(
            store_public_id,
            expected_refresh_token=expected,
            access_token=new.access_token,
            refresh_token=new.refresh_token,
            expires_at=new.expires_at,
        )

    return OAuthAuth(
        _tokens(creds),
        klaviyo_public_id=creds.klaviyo_public_id,
        token_url=base_url.rstrip("/") + "/oauth/token",
        client_id=s.klaviyo_client_id,
        client_secret=s.klaviyo_client_secret.get_secret_value(),
        persist=persist,
        reload=lambda: _tokens(metadata.get_credentials(store_public_id)),
        http=http,
    )


def _event_mark(
    seen: datetime | None, previous: DataTypeState | None, now: datetime
) -> datetime | None:
    """The events watermark after a run: the newest event written, else the previous one."""
    if seen is not None:
        return min(seen, now)
    return _aware(previous.watermark) if previous is not None else None


def _aware(value: object) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return None


def release_dead_holder(metadata: MetadataStore, store_public_id: str) -> bool:
    """Release the store's dashboard lock if its holder is a dead process of this host.

    A sync killed hard (SIGKILL, OOM, power) leaves its lock behind; without this a re-run from
    cron would be refused until the lease (:data:`LOCK_LEASE`) ran out. Only a holder on this
    host whose pid no longer exists is released (compare-and-set on the owner id), so a live
    worker, or one on another host, keeps its lock.

    Returns:
        Whether a lock was released.
    """
    ki = metadata.get_store(store_public_id).klaviyo_integration
    if not ki.is_updating_dashboard or ki.dashboard_lock_owner is None:
        return False
    if not is_dead_local_owner(ki.dashboard_lock_owner):
        return False
    released = metadata.release_dashboard_lock(store_public_id, ki.dashboard_lock_owner)
    if released:
        logger.warning(
            "store %s: released the dashboard lock of dead process %s",
            store_public_id,
            ki.dashboard_lock_owner,
        )
    return released


def sync_store(
    ctx: AppContext,
    store_public_id: str,
    *,
    full: bool = False,
    since: date | None = None,
    only: Iterable[str] | None = None,
    progress: Progress | None = None,
    lock_owner: str | None = None,
) -> StoreSyncResult:
    """Sync one store's Klaviyo account into the warehouse.

    Args:
        ctx: the app context (settings, warehouse, metadata).
        store_public_id: our store id.
        full: ignore watermarks and backfill ``sync_backfill_days``.
        since: start every data type at this account-local day instead of its watermark.
        only: data type names to sync (default all).
        progress: progress reporter.
        lock_owner: the dashboard-lock owner id to hold the lock as (a scheduler passes its
            job's); a fresh ``sync:host:pid:uuid`` id when None.

    Returns:
        The store's outcome; sync errors are in it, not raised.

    Raises:
        UsageError: unknown data type, or both ``full`` and ``since``.
        NotFoundError: no such store.
        LockHeldError: another worker holds the store's dashboard lock (nothing was done).
    """
    if full and since is not None:
        raise UsageError("give either --full or --since, not both")
    types = parse_data_types(only)
    progress = progress or NullProgress()
    metadata = ctx.metadata
    store = metadata.get_store(store_public_id)
    kid = store.klaviyo_integration.public_id
    result = StoreSyncResult(store_public_id, kid)
    started = time.monotonic()
    if store.klaviyo_integration.needs_reauth:
        result.ok, result.needs_reauth = False, True
        result.error = f"store {store_public_id} needs re-authorisation; reconnect it"
        return result
    owner = lock_owner or f"sync:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    client: KlaviyoClient | None = None
    release_dead_holder(metadata, store_public_id)
    try:
        with metadata.dashboard_lock(store_public_id, owner, LOCK_LEASE):
            client = build_client(ctx, store_public_id, metadata.get_credentials(store_public_id))
            _run_store(ctx, client, result, types, full, since, progress)
    except LockHeldError:
        raise
    except ReauthRequiredError as exc:
        metadata.mark_needs_reauth(store_public_id, exc.reason)
        result.ok, result.needs_reauth, result.error = False, True, str(exc)
    except KlaviyoAnalyticsError as exc:
        result.ok, result.error = False, str(exc)
    finally:
        if client is not None:
            result.api_calls = {f"{m} {p}": n for (m, p), n in sorted(client.calls.items())}
            client.close()
        result.seconds = time.monotonic() - started
    return result


def _run_store(
    ctx: AppContext,
    client: KlaviyoClient,
    result: StoreSyncResult,
    types: list[DataType],
    full: bool,
    since: date | None,
    progress: Progress,
) -> None:
    s = ctx.settings
    metadata = ctx.metadata
    kid = result.klaviyo_public_id
    account = client.get_account()
    if account.id != kid:
        # The key or token belongs to another Klaviyo account: syncing would file that account's
        # data under this store. Refuse, and make the store ask for new credentials.
        raise ReauthRequiredError(
            kid,
            f"the store's credentials belong to Klaviyo account {account.id}, not {kid}",
        )
    try:
        tz = ZoneInfo(account.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        logger.warning("store %s: unknown account timezone %r, using UTC", kid, account.timezone)
        tz = ZoneInfo("UTC")
    else:
        # Saved on the store so aggregates and the scheduler use the account's local days.
        if metadata.get_store(result.store_public_id).klaviyo_integration.timezone != tz.key:
            metadata.set_account_timezone(result.store_public_id, tz.key)
    metrics = list(client.iter_metrics())
    placed = choose_metric(metrics, "Placed Order")
    state = metadata.get_sync(kid).data_types
    now = client.server_now()
    overlap = timedelta(days=s.sync_overlap_days)
    today = now.astimezone(tz).date()
    report_floor = local_midnight(today - timedelta(days=s.sync_backfill_days - 1), tz)
    event_floor = local_midnight(today - timedelta(days=s.sync_events_backfill_days), tz)

    def start_of(dt: DataType, extra_days: int = 0) -> datetime:
        floor = event_floor if dt in (DataType.ORDERS, DataType.REFUNDS) else report_floor
        if since is not None:
            return local_midnight(since, tz)
        mark = None if full else _aware(state[dt.value].watermark if dt.value in state else None)
        if mark is None:
            return floor
        return max(min(mark - overlap, now - timedelta(days=extra_days)), floor)

    scope = StoreScope(client, ctx.warehouse, kid, result.store_public_id, tz, progress)
    events = EventSync(scope, page_size=s.sync_events_page_size, batch_rows=s.sync_batch_rows)
    reports = ReportSync(scope, conversion_metric_id=placed.id if placed else "")

    for dt in types:
        t0 = time.monotonic()
        outcome = DataTypeResult(dt.value, ok=False)
        result.data_types.append(outcome)
        progress.start(result.store_public_id, dt.value)
        metadata.mark_running(kid, dt.value, True)

        def checkpoint(mark: datetime, rows: int, dt: DataType = dt) -> None:
            metadata.record_data_type_success(
                kid, dt.value, watermark=mark, rows_written=rows, finished_at=datetime.now(UTC)
            )

        try:
            begin = start_of(
                dt, s.sync_campaign_attribution_days if dt is DataType.CAMPAIGNS else 0
            )
            mark: datetime | None = now
            if dt is DataType.ORDERS:
                if placed is None:
                    raise UsageError("the account has no 'Placed Order' metric")
                ev = events.sync_orders(placed, begin, now + EVENT_LOOKAHEAD, checkpoint)
                outcome.rows_written = ev.rows_written
                mark = _event_mark(ev.watermark, state.get(dt.value), now)
            elif dt is DataType.REFUNDS:
                pairs = [
                    (m, kind)
                    for m, kind in (
                        (choose_metric(metrics, "Refunded Order"), "refund"),
                        (choose_metric(metrics, "Cancelled Order", "Canceled Order"), "cancelled"),
                    )
                    if m is not None
                ]
                ev = events.sync_refunds(pairs, begin, now + EVENT_LOOKAHEAD, checkpoint)
                outcome.rows_written = ev.rows_written
                mark = _event_mark(ev.watermark, state.get(dt.value), now)
            else:
                if placed is None and dt in (DataType.CAMPAIGNS, DataType.FLOWS):
                    raise UsageError("the account has no 'Placed Order' metric for conversions")
                first_day = begin.astimezone(tz).date()
                if dt is DataType.CAMPAIGNS:
                    rep, _ = reports.sync_campaigns(first_day, now)
                    metadata.upsert_campaign_stats(reports.stats)
                    # imported here: the aggregates package pulls in scipy (BG/NBD), which a
                    # sync process otherwise never needs (~30 MB of RSS)
                    from klaviyo_analytics.aggregates.tags import save_campaign_tags

                    save_campaign_tags(ctx.warehouse, kid, reports.campaign_tags)
                elif dt is DataType.FLOWS:
                    rep = reports.sync_flows(first_day, now)
                elif dt is DataType.FORMS:
                    rep = reports.sync_forms(first_day, now)
                else:
                    rep = reports.sync_segments(first_day, now)
                outcome.rows_written = rep.rows_written
            metadata.record_data_type_success(
                kid,
                dt.value,
                watermark=mark,
                rows_written=outcome.rows_written,
                finished_at=datetime.now(UTC),
            )
            if dt in LAST_UPDATE_FIELD:
                metadata.set_last_update(
                    result.store_public_id, LAST_UPDATE_FIELD[dt], datetime.now(UTC)
                )
            outcome.ok, outcome.watermark = True, mark
            SYNC_RUNS.labels(store=result.store_public_id, data_type=dt.value, outcome="ok").inc()
            LAST_SUCCESS.labels(store=result.store_public_id, data_type=dt.value).set(time.time())
            ROWS_WRITTEN.labels(table=DATA_TYPE_TABLE[dt]).inc(outcome.rows_written)
            progress.finish(result.store_public_id, dt.value, True, f"{outcome.rows_written} rows")
        except ReauthRequiredError as exc:
            metadata.record_data_type_error(kid, dt.value, str(exc), datetime.now(UTC))
            progress.finish(result.store_public_id, dt.value, False, str(exc))
            outcome.error = str(exc)
            result.ok = False
            SYNC_RUNS.labels(
                store=result.store_public_id, data_type=dt.value, outcome="reauth"
            ).inc()
            raise
        except Exception as exc:  # noqa: BLE001 - one data type must not stop the others
            message = (
                str(exc)
                if isinstance(exc, KlaviyoAnalyticsError)
                else f"{type(exc).__name__}: {exc}"
            )
            logger.warning("store %s %s failed: %s", result.store_public_id, dt.value, message)
            metadata.record_data_type_error(kid, dt.value, message, datetime.now(UTC))
            progress.finish(result.store_public_id, dt.value, False, message)
            outcome.error = message
            result.ok = False
            SYNC_RUNS.labels(
                store=result.store_public_id, data_type=dt.value, outcome="error"
            ).inc()
        finally:
            outcome.seconds = time.monotonic() - t0
            SYNC_DURATION.labels(data_type=dt.value).observe(outcome.seconds)


def sync_all(
    ctx: AppContext,
    *,
    full: bool = False,
    since: date | None = None,
    only: Iterable[str] | None = None,
    progress: Progress | None = None,
) -> list[StoreSyncResult]:
    """Sync every active store, ``sync_parallel_stores`` at a time; one failing store does not
    stop the others.

    Returns:
        One result per store, in the order of ``list_stores``.
    """
    parse_data_types(only)
    stores = ctx.metadata.list_stores(active_only=True)
    only_list = list(only) if only is not None else None

    def one(public_id: str) -> StoreSyncResult:
        try:
            return sync_store(
                ctx, public_id, full=full, since=since, only=only_list, progress=progress
            )
        except KlaviyoAnalyticsError as exc:
            kid = ctx.metadata.get_store(public_id).klaviyo_integration.public_id
            return StoreSyncResult(public_id, kid, ok=False, error=str(exc))

    workers = max(1, min(ctx.settings.sync_parallel_stores, len(stores)))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(one, [st.public_id for st in stores]))
