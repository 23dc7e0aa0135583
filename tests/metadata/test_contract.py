"""Contract suite of ``MetadataStore``, run over every backend (see ``conftest.BACKENDS``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from klaviyo_analytics.errors import NotFoundError, TerminalError, UsageError
from klaviyo_analytics.metadata import (
    CampaignStat,
    DuplicateKeyError,
    LockHeldError,
    MetadataStore,
    SecretBox,
)
from klaviyo_analytics.metadata.repository import CAMPAIGNSTATS, KLAVIYO_SYNCS, STORES

API_KEY = "pk_live_0123456789abcdefghij3f9a"
ACCESS = "access-token-secret-AAAA-1111-zz99"
REFRESH = "refresh-token-secret-BBBB-2222-yy88"
EXPIRES = datetime(2025, 2, 1, tzinfo=UTC)
THREADS = 12


def race(n: int, fn: Callable[[int], Any]) -> list[Any]:
    """Run fn(i) in n threads released together; return results or raised exceptions."""
    barrier = threading.Barrier(n)

    def run(i: int) -> Any:
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:  # noqa: BLE001 - the race outcome is the exception itself
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def add_oauth(store: MetadataStore, public_id: str = "store_oauth", kid: str = "KOAUTH") -> None:
    store.add_store(
        "OAuth store",
        kid,
        oauth_access_token=ACCESS,
        oauth_refresh_token=REFRESH,
        token_expires_at=EXPIRES,
        public_id=public_id,
    )


def stat(kid: str = "K1", cid: str = "c1", mid: str = "m1", recipients: int = 10) -> CampaignStat:
    return CampaignStat.model_validate(
        {
            "klaviyo_public_id": kid,
            "store_public_ids": ["store_a"],
            "groupings": {"send_channel": "email", "campaign_id": cid, "campaign_message_id": mid},
            "campaign_name": "Holiday Sale 2024",
            "subject": "50% Off Everything!",
            "tag_names": ["holiday", "sale"],
            "statistics": {
                "recipients": recipients,
                "delivered": 9,
                "opens_unique": 3,
                "clicks_unique": 1,
                "conversions": 1,
                "conversion_value": 150.5,
            },
        }
    )


# -- stores CRUD ---------------------------------------------------------------------------------


def test_add_get_list_update_remove(store: MetadataStore) -> None:
    created = store.add_store("Shop A", "KA", api_key=API_KEY)
    assert created.public_id.startswith("store_")
    assert len(created.public_id) == len("store_") + 10
    assert created.public_id[6:].isalnum() and created.public_id[6:].islower()
    add_oauth(store)

    got = store.get_store(created.public_id)
    assert got == created
    assert got.klaviyo_integration.auth_method == "api_key"
    assert got.klaviyo_integration.api_key == "pk_…3f9a"
    assert got.created_at is not None and got.created_at.tzinfo is not None
    assert store.find_store_by_klaviyo_id("KA") == created
    assert store.find_store_by_klaviyo_id("nope") is None
    assert [s.public_id for s in store.list_stores()] == sorted([created.public_id, "store_oauth"])

    updated = store.update_store("store_oauth", name="Renamed", status="inactive")
    assert updated.name == "Renamed"
    assert updated.klaviyo_integration.status == "inactive"
    assert [s.public_id for s in store.list_stores(active_only=True)] == [created.public_id]

    store.remove_store(created.public_id)
    with pytest.raises(NotFoundError):
        store.get_store(created.public_id)
    # Once removed, the same id and account can be registered again.
    store.add_store("Shop A again", "KA", api_key=API_KEY, public_id=created.public_id)


def test_add_store_argument_errors(store: MetadataStore) -> None:
    with pytest.raises(UsageError, match="not both"):
        store.add_store("x", "K", api_key=API_KEY, oauth_access_token=ACCESS)
    with pytest.raises(UsageError, match="all of OAuth"):
        store.add_store("x", "K", oauth_access_token=ACCESS, oauth_refresh_token=REFRESH)
    with pytest.raises(UsageError, match="timezone"):
        store.add_store(
            "x",
            "K",
            oauth_access_token=ACCESS,
            oauth_refresh_token=REFRESH,
            token_expires_at=datetime(2025, 1, 1),
        )
    with pytest.raises(UsageError):
        store.add_store("x", "K", api_key=API_KEY, public_id="bad id!")
    with pytest.raises(NotFoundError):
        store.update_store("store_missing", name="x")
    with pytest.raises(NotFoundError):
        store.remove_store("store_missing")
    assert store.list_stores() == []


def test_raw_documents_match_the_spec(store: MetadataStore) -> None:
    add_oauth(store)
    raw = store.raw_collection(STORES).find_one({"public_id": "store_oauth"})
    assert raw is not None
    assert {"_id", "name", "public_id", "klaviyo_integration"} <= raw.keys()
    ki = raw["klaviyo_integration"]
    for field in (
        "status",
        "public_id",
        "oauth_token",
        "refresh_token",
        "token_expires_at",
        "is_updating_dashboard",
        "campaign_values_last_update",
        "segment_values_last_update",
        "flow_values_last_update",
        "form_values_last_update",
        "placed_order_last_update",
    ):
        assert field in ki, field
    assert ki["status"] == "active" and ki["public_id"] == "KOAUTH"
    assert ki["is_updating_dashboard"] is False
    assert ki["token_expires_at"].replace(tzinfo=UTC) == EXPIRES

    store.record_data_type_success(
        "KOAUTH", "campaigns", watermark=EXPIRES, rows_written=5, finished_at=EXPIRES
    )
    sync = store.raw_collection(KLAVIYO_SYNCS).find_one({"klaviyo_public_id": "KOAUTH"})
    assert sync is not None
    assert sync["sync_type"] == "cron_sync"
    for field in (
        "campaigns_last_sync",
        "flows_last_sync",
        "forms_last_sync",
        "segments_last_sync",
        "events_last_sync",
        "aggregates_last_sync",
        "campaign_aggregates_last_run",
        "customer_profiles_last_run",
        "product_analytics_last_run",
        "product_relationships_last_run",
        "updated_at",
    ):
        assert field in sync, field
    assert sync["campaigns_last_sync"].replace(tzinfo=UTC) == EXPIRES

    store.upsert_campaign_stats([stat()])
    doc = store.raw_collection(CAMPAIGNSTATS).find_one({"klaviyo_public_id": "K1"})
    assert doc is not None
    assert doc["groupings"] == {
        "send_channel": "email",
        "campaign_id": "c1",
        "campaign_message_id": "m1",
    }
    assert set(doc["statistics"]) == {
        "recipients",
        "delivered",
        "opens_unique",
        "clicks_unique",
        "conversions",
        "conversion_value",
    }
    assert doc["store_public_ids"] == ["store_a"] and doc["tag_names"] == ["holiday", "sale"]
    assert doc["campaign_name"] == "Holiday Sale 2024" and "updated_at" in doc


# -- uniqueness ----------------------------------------------------------------------------------


def test_unique_public_id_and_klaviyo_account(store: MetadataStore) -> None:
    store.add_store("A", "K1", api_key=API_KEY, public_id="store_a")
    with pytest.raises(DuplicateKeyError, match="store_a") as exc:
        store.add_store("B", "K2", api_key=API_KEY, public_id="store_a")
    assert exc.value.field == "public_id"
    with pytest.raises(DuplicateKeyError, match="K1") as exc:
        store.add_store("B", "K1", api_key=API_KEY, public_id="store_b")
    assert exc.value.field == "klaviyo_integration.public_id"
    # The failed attempt did not leave store_b's id claimed.
    store.add_store("B", "K2", api_key=API_KEY, public_id="store_b")
    assert len(store.list_stores()) == 2


def test_concurrent_add_same_public_id_one_wins(store: MetadataStore) -> None:
    results = race(
        THREADS, lambda i: store.add_store(f"S{i}", f"K{i}", api_key=API_KEY, public_id="store_x")
    )
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1
    assert all(isinstance(r, DuplicateKeyError) for r in results if r not in winners)
    assert len(store.list_stores()) == 1


def test_concurrent_add_same_klaviyo_account_one_wins(store: MetadataStore) -> None:
    results = race(
        THREADS, lambda i: store.add_store(f"S{i}", "KSAME", api_key=API_KEY, public_id=f"s_{i}")
    )
    assert sum(not isinstance(r, Exception) for r in results) == 1
    assert len(store.list_stores()) == 1


def test_one_sync_document_per_account_under_concurrency(store: MetadataStore) -> None:
    results = race(THREADS, lambda i: store.get_sync("KSYNC"))
    assert all(r.klaviyo_public_id == "KSYNC" for r in results)
    assert store.raw_collection(KLAVIYO_SYNCS).count({"klaviyo_public_id": "KSYNC"}) == 1


def test_campaign_stats_upsert_is_idempotent_and_unique_under_concurrency(
    store: MetadataStore,
) -> None:
    assert store.upsert_campaign_stats([stat(cid="c1"), stat(cid="c2")]) == 2
    assert store.upsert_campaign_stats([stat(cid="c1", recipients=99)]) == 1
    listed = store.list_campaign_stats("K1")
    assert [(s.groupings.campaign_id, s.statistics.recipients) for s in listed] == [
        ("c1", 99),
        ("c2", 10),
    ]
    race(THREADS, lambda i: store.upsert_campaign_stats([stat(cid="c3", recipients=i)]))
    assert store.raw_collection(CAMPAIGNSTATS).count({"groupings.campaign_id": "c3"}) == 1
    assert len(store.list_campaign_stats("K1")) == 3
    assert store.list_campaign_stats("other") == []


# -- dashboard lock ------------------------------------------------------------------------------


def test_lock_race_exactly_one_winner(store: MetadataStore) -> None:
    add_oauth(store)
    results = race(
        THREADS,
        lambda i: store.acquire_dashboard_lock("store_oauth", f"w{i}", timedelta(minutes=5)),
    )
    assert results.count(True) == 1 and results.count(False) == THREADS - 1
    ki = store.get_store("store_oauth").klaviyo_integration
    assert ki.is_updating_dashboard is True
    assert ki.dashboard_lock_owner == f"w{results.index(True)}"


def test_lock_release_only_by_owner_and_context_manager(store: MetadataStore) -> None:
    add_oauth(store)
    lease = timedelta(minutes=5)
    assert store.acquire_dashboard_lock("store_oauth", "a", lease)
    assert not store.release_dashboard_lock("store_oauth", "b")
    assert store.get_store("store_oauth").klaviyo_integration.is_updating_dashboard
    with (
        pytest.raises(LockHeldError, match="held by a") as exc,
        store.dashboard_lock("store_oauth", "b", lease),
    ):
        pass
    assert exc.value.holder == "a"
    assert store.release_dashboard_lock("store_oauth", "a")

    with pytest.raises(RuntimeError), store.dashboard_lock("store_oauth", "b", lease):
        assert store.get_store("store_oauth").klaviyo_integration.dashboard_lock_owner == "b"
        raise RuntimeError("job failed")
    ki = store.get_store("store_oauth").klaviyo_integration
    assert ki.is_updating_dashboard is False and ki.dashboard_lock_owner is None
    with pytest.raises(NotFoundError):
        store.acquire_dashboard_lock("store_missing", "a", lease)


def test_expired_lease_can_be_taken_over(store: MetadataStore) -> None:
    add_oauth(store)
    assert store.acquire_dashboard_lock("store_oauth", "crashed", timedelta(minutes=5))
    assert not store.acquire_dashboard_lock("store_oauth", "b", timedelta(minutes=5))
    # With a lease shorter than the lock's age, the holder counts as dead.
    threading.Event().wait(0.01)
    assert store.acquire_dashboard_lock("store_oauth", "b", timedelta(milliseconds=1))
    assert store.get_store("store_oauth").klaviyo_integration.dashboard_lock_owner == "b"
    assert not store.release_dashboard_lock("store_oauth", "crashed")


# -- credentials ---------------------------------------------------------------------------------


def test_secrets_encrypted_at_rest_and_never_in_models(store: MetadataStore) -> None:
    add_oauth(store)
    created = store.add_store("K", "KAPI", api_key=API_KEY, public_id="store_k")
    raw = store.raw_collection(STORES).find({})
    text = repr(raw)
    for secret in (API_KEY, ACCESS, REFRESH):
        assert secret not in text
        for model in (created, store.get_store("store_oauth"), *store.list_stores()):
            assert secret not in repr(model) and secret not in str(model.model_dump())
            assert secret not in model.model_dump_json()
    assert store.masked_credentials("store_oauth") == {
        "oauth_token": "…zz99",
        "refresh_token": "…yy88",
    }
    assert store.masked_credentials("store_k") == {"api_key": "pk_…3f9a"}
    creds = store.get_credentials("store_oauth")
    assert creds.access_token is not None and creds.access_token.get_secret_value() == ACCESS
    assert creds.refresh_token is not None and creds.refresh_token.get_secret_value() == REFRESH
    assert creds.token_expires_at == EXPIRES and creds.api_key is None
    assert ACCESS not in repr(creds) and REFRESH not in str(creds.model_dump())
    api = store.get_credentials("store_k")
    assert api.auth_method == "api_key"
    assert api.api_key is not None and api.api_key.get_secret_value() == API_KEY


def test_wrong_key_gives_clear_error(store: MetadataStore) -> None:
    add_oauth(store)
    other = MetadataStore(store._db, SecretBox(SecretBox.generate_key()))
    with pytest.raises(TerminalError, match="SECRET_KEY differs"):
        other.get_credentials("store_oauth")


def test_set_api_key_and_oauth_tokens(store: MetadataStore) -> None:
    add_oauth(store)
    store.mark_needs_reauth("store_oauth", "401 from Klaviyo")
    ki = store.get_store("store_oauth").klaviyo_integration
    assert ki.needs_reauth and ki.last_error == "401 from Klaviyo"
    store.set_api_key("store_oauth", "pk_new_key_0000000000000abcd")
    creds = store.get_credentials("store_oauth")
    assert creds.auth_method == "api_key" and creds.access_token is None
    assert creds.api_key is not None and creds.api_key.get_secret_value().endswith("abcd")
    assert not store.get_store("store_oauth").klaviyo_integration.needs_reauth
    later = EXPIRES + timedelta(hours=1)
    store.set_oauth_tokens("store_oauth", "acc2-xxxxxxxxxxxxxx", "ref2-xxxxxxxxxxxxxx", later)
    creds = store.get_credentials("store_oauth")
    assert creds.auth_method == "oauth" and creds.api_key is None
    assert creds.token_expires_at == later
    store.mark_needs_reauth("store_oauth", "again")
    store.clear_needs_reauth("store_oauth")
    ki = store.get_store("store_oauth").klaviyo_integration
    assert not ki.needs_reauth and ki.last_error is None


def test_rotate_oauth_tokens_cas_race(store: MetadataStore) -> None:
    add_oauth(store)
    later = EXPIRES + timedelta(hours=1)
    results = race(
        THREADS,
        lambda i: store.rotate_oauth_tokens(
            "store_oauth",
            expected_refresh_token=REFRESH,
            access_token=f"access-{i}-xxxxxxxxxxxx",
            refresh_token=f"refresh-{i}-xxxxxxxxxxxx",
            expires_at=later,
        ),
    )
    assert results.count(True) == 1
    winner = results.index(True)
    creds = store.get_credentials("store_oauth")
    assert creds.refresh_token is not None
    assert creds.refresh_token.get_secret_value() == f"refresh-{winner}-xxxxxxxxxxxx"
    assert creds.access_token is not None
    assert creds.access_token.get_secret_value() == f"access-{winner}-xxxxxxxxxxxx"
    # A loser retrying with the stale token is refused; with the new one it succeeds.
    assert not store.rotate_oauth_tokens(
        "store_oauth",
        expected_refresh_token=REFRESH,
        access_token="a-xxxxxxxxxxxxxx",
        refresh_token="r-xxxxxxxxxxxxxx",
        expires_at=later,
    )
    assert store.rotate_oauth_tokens(
        "store_oauth",
        expected_refresh_token=creds.refresh_token.get_secret_value(),
        access_token="a-xxxxxxxxxxxxxx",
        refresh_token="r-xxxxxxxxxxxxxx",
        expires_at=later,
    )
    with pytest.raises(NotFoundError):
        store.rotate_oauth_tokens(
            "store_missing",
            expected_refresh_token="x",
            access_token="a",
            refresh_token="r",
            expires_at=later,
        )


def test_set_last_update(store: MetadataStore) -> None:
    add_oauth(store)
    ts = datetime(2025, 9, 18, 10, 0, tzinfo=UTC)
    store.set_last_update("store_oauth", "placed_order_last_update", ts)
    assert store.get_store("store_oauth").klaviyo_integration.placed_order_last_update == ts
    with pytest.raises(UsageError, match="unknown field"):
        store.set_last_update("store_oauth", "name", ts)


def test_set_account_timezone(store: MetadataStore) -> None:
    add_oauth(store)
    assert store.get_store("store_oauth").klaviyo_integration.timezone is None
    store.set_account_timezone("store_oauth", "America/New_York")
    assert store.get_store("store_oauth").klaviyo_integration.timezone == "America/New_York"
    store.set_account_timezone("store_oauth", "Europe/Berlin")
    assert store.get_store("store_oauth").klaviyo_integration.timezone == "Europe/Berlin"
    with pytest.raises(UsageError, match="unknown timezone"):
        store.set_account_timezone("store_oauth", "Mars/Olympus_Mons")
    with pytest.raises(NotFoundError):
        store.set_account_timezone("nope", "UTC")


def test_event_data_types_set_events_last_sync(store: MetadataStore) -> None:
    t1 = datetime(2025, 9, 18, 15, 0, tzinfo=UTC)
    store.record_data_type_success("K9", "orders", watermark=t1, rows_written=3, finished_at=t1)
    assert store.get_sync("K9").events_last_sync == t1
    t2 = t1 + timedelta(minutes=15)
    store.record_data_type_success("K9", "refunds", watermark=t2, rows_written=1, finished_at=t2)
    sync = store.get_sync("K9")
    assert sync.events_last_sync == t2 and sync.campaigns_last_sync is None


# -- sync state ----------------------------------------------------------------------------------


def test_sync_state_lifecycle(store: MetadataStore) -> None:
    t1 = datetime(2025, 9, 18, 15, 0, 0, 123000, tzinfo=UTC)
    t2 = t1 + timedelta(minutes=5)
    store.mark_running("K1", "events", True)
    sync = store.get_sync("K1")
    assert sync.data_types["events"].running and sync.data_types["events"].last_attempt_at
    store.record_data_type_error("K1", "events", "HTTP 500", t1)
    state = store.get_sync("K1").data_types["events"]
    assert (state.last_error, state.last_error_at, state.running) == ("HTTP 500", t1, False)
    store.record_data_type_success("K1", "events", watermark=t1, rows_written=42, finished_at=t2)
    store.record_data_type_success(
        "K1", "profiles", watermark="cursor-abc", rows_written=1, finished_at=t2
    )
    store.set_aggregate_last_run("K1", "customer_profiles_last_run", t2)
    store.set_aggregate_last_run("K1", "aggregates_last_sync", t2)
    sync = store.get_sync("K1")
    events = sync.data_types["events"]
    assert (events.watermark, events.rows_written, events.last_success_at) == (t1, 42, t2)
    assert events.last_error is None
    assert sync.data_types["profiles"].watermark == "cursor-abc"
    assert sync.events_last_sync == t2 and sync.campaigns_last_sync is None
    assert sync.customer_profiles_last_run == t2 and sync.aggregates_last_sync == t2
    assert sync.updated_at is not None and sync.updated_at.tzinfo == UTC
    with pytest.raises(UsageError):
        store.set_aggregate_last_run("K1", "nope", t2)
    with pytest.raises(UsageError):
        store.mark_running("K1", "bad.type", True)


def test_remove_store_removes_sync_doc_and_keeps_stats_unless_purged(
    store: MetadataStore,
) -> None:
    add_oauth(store, "store_a", "K1")
    store.get_sync("K1")
    store.upsert_campaign_stats([stat(kid="K1")])
    store.remove_store("store_a")
    assert store.raw_collection(KLAVIYO_SYNCS).count({}) == 0
    assert len(store.list_campaign_stats("K1")) == 1
    add_oauth(store, "store_a", "K1")
    store.remove_store("store_a", purge=True)
    assert store.list_campaign_stats("K1") == []
    store.upsert_campaign_stats([stat(kid="K1")])  # the key can be used again
    assert len(store.list_campaign_stats("K1")) == 1


# -- API tokens ----------------------------------------------------------------------------------


def test_api_tokens(store: MetadataStore) -> None:
    add_oauth(store)
    admin, admin_plain = store.create_api_token("admin")
    scoped, scoped_plain = store.create_api_token("store", "store_oauth")
    assert admin_plain.startswith("ka_") and len(admin_plain) == 35
    assert admin.prefix == admin_plain[:8] and admin.kind == "admin"
    raw = repr(store.raw_collection("api_tokens").find({}))
    assert admin_plain not in raw and scoped_plain not in raw
    verified = store.verify_api_token(scoped_plain)
    assert verified is not None and verified.store_public_id == "store_oauth"
    assert verified.last_used_at is not None
    tampered = admin_plain[:-1] + ("y" if admin_plain.endswith("x") else "x")
    assert store.verify_api_token(tampered) is None
    assert store.verify_api_token("garbage") is None
    assert [t.id for t in store.list_api_tokens()] == [admin.id, scoped.id]
    revoked = store.revoke_api_token(admin.id)
    assert revoked.revoked_at is not None
    assert store.verify_api_token(admin_plain) is None
    assert store.revoke_api_token(admin.id).revoked_at == revoked.revoked_at
    with pytest.raises(NotFoundError):
        store.revoke_api_token("tok_missing")
    with pytest.raises(UsageError):
        store.create_api_token("store")
    with pytest.raises(NotFoundError):
        store.create_api_token("store", "store_missing")


def test_ping(store: MetadataStore) -> None:
    store.ping()
