"""Due-ness: which sync and aggregate jobs ``due_jobs`` returns at a given time (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from klaviyo_analytics.errors import ConfigError, UsageError
from klaviyo_analytics.metadata import DataTypeState, KlaviyoIntegration, KlaviyoSync, Store
from klaviyo_analytics.scheduler import SYNC, Job, default_cadences, due_jobs
from klaviyo_analytics.scheduler.cadence import sync_data_types

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
AGG_FIELDS = (
    "campaign_aggregates_last_run",
    "customer_profiles_last_run",
    "product_analytics_last_run",
    "product_relationships_last_run",
)
ALL_AGGREGATES = ["campaign-daily", "account-daily", "customers", "products", "relationships"]


def store(public_id: str = "shop", kid: str = "K1", **integration: object) -> Store:
    ki = KlaviyoIntegration(public_id=kid, auth_method="api_key", **integration)
    return Store(id=public_id, name=public_id, public_id=public_id, klaviyo_integration=ki)


def synced(
    kid: str = "K1",
    ago: timedelta | None = timedelta(minutes=5),
    aggregates_ago: timedelta | None = None,
    **per_type: timedelta | None,
) -> KlaviyoSync:
    """A sync document: every data type last succeeded ``ago`` ago (overridable per type)."""
    states = {}
    for data_type in sync_data_types():
        when = per_type.get(data_type, ago)
        if when is not None:
            states[data_type] = DataTypeState(
                last_success_at=NOW - when, last_attempt_at=NOW - when
            )
    runs = {} if aggregates_ago is None else dict.fromkeys(AGG_FIELDS, NOW - aggregates_ago)
    return KlaviyoSync(klaviyo_public_id=kid, data_types=states, **runs)


CADENCES = default_cadences()


def test_a_store_never_synced_gets_a_full_sync_and_no_aggregates() -> None:
    jobs = due_jobs(NOW, [store()], {}, CADENCES)
    assert jobs == [Job.sync("shop")]
    assert jobs[0].options == {}


def test_after_the_first_sync_every_aggregate_job_is_due() -> None:
    jobs = due_jobs(NOW, [store()], {"K1": synced()}, CADENCES)
    assert jobs == [Job.aggregate("shop", jobs=ALL_AGGREGATES)]


def test_sync_is_due_at_exactly_fifteen_minutes_not_before() -> None:
    fresh = {"K1": synced(ago=timedelta(minutes=14, seconds=59), aggregates_ago=timedelta(0))}
    assert due_jobs(NOW, [store()], fresh, CADENCES) == []
    stale = {"K1": synced(ago=timedelta(minutes=15), aggregates_ago=timedelta(0))}
    assert due_jobs(NOW, [store()], stale, CADENCES) == [Job.sync("shop")]


def test_only_the_stale_data_types_are_synced() -> None:
    doc = synced(aggregates_ago=timedelta(0), orders=timedelta(minutes=20), forms=None)
    (job,) = due_jobs(NOW, [store()], {"K1": doc}, CADENCES)
    assert job.kind == "sync"
    assert job.options["only"] == ["orders", "forms"]


def test_aggregate_cadences_fifteen_minutes_hourly_and_four_hourly() -> None:
    def due_at(ago: timedelta) -> list[str]:
        doc = synced(aggregates_ago=ago)
        jobs = [j for j in due_jobs(NOW, [store()], {"K1": doc}, CADENCES) if j.kind != "sync"]
        return list(jobs[0].options["jobs"]) if jobs else []

    assert due_at(timedelta(minutes=14)) == []
    assert due_at(timedelta(minutes=15)) == ["campaign-daily", "account-daily"]
    assert due_at(timedelta(minutes=59)) == ["campaign-daily", "account-daily"]
    assert due_at(timedelta(hours=1)) == [
        "campaign-daily",
        "account-daily",
        "customers",
        "products",
    ]
    assert due_at(timedelta(hours=3, minutes=59)) == [
        "campaign-daily",
        "account-daily",
        "customers",
        "products",
    ]
    assert due_at(timedelta(hours=4)) == ALL_AGGREGATES


def test_most_overdue_job_comes_first_and_sync_wins_ties() -> None:
    # Both 5 minutes overdue: the sync goes first so aggregates see fresh data.
    tie = {"K1": synced(ago=timedelta(minutes=20), aggregates_ago=timedelta(minutes=20))}
    assert [j.kind for j in due_jobs(NOW, [store()], tie, CADENCES)] == ["sync", "aggregate"]
    # A sync that keeps taking longer than its cadence must not starve the aggregates.
    starving = {"K1": synced(ago=timedelta(minutes=16), aggregates_ago=timedelta(hours=2))}
    assert [j.kind for j in due_jobs(NOW, [store()], starving, CADENCES)] == ["aggregate", "sync"]


def test_stores_are_ordered_by_how_overdue_they_are() -> None:
    stores = [store("a", "KA"), store("b", "KB"), store("c", "KC")]
    syncs = {
        "KA": synced("KA", ago=timedelta(minutes=16), aggregates_ago=timedelta(0)),
        "KB": synced("KB", ago=timedelta(minutes=40), aggregates_ago=timedelta(0)),
        # KC never synced: most overdue of all.
    }
    assert [j.store_public_id for j in due_jobs(NOW, stores, syncs, CADENCES)] == ["c", "b", "a"]


def test_stores_needing_reauth_or_inactive_get_nothing() -> None:
    stores = [store("r", "KR", needs_reauth=True), store("i", "KI", status="inactive")]
    assert due_jobs(NOW, stores, {}, CADENCES) == []


def with_state(doc: KlaviyoSync, data_type: str, **state: object) -> KlaviyoSync:
    states = {**doc.data_types, data_type: DataTypeState(**state)}
    return doc.model_copy(update={"data_types": states})


def test_a_recorded_failure_holds_the_data_type_back_until_the_retry_interval() -> None:
    doc = synced(aggregates_ago=timedelta(0), ago=timedelta(minutes=30))
    failing = with_state(
        doc,
        "orders",
        last_success_at=NOW - timedelta(minutes=30),
        last_attempt_at=NOW - timedelta(minutes=5),
        last_error="boom",
        last_error_at=NOW - timedelta(minutes=5),
    )
    (job,) = due_jobs(NOW, [store()], {"K1": failing}, CADENCES)
    assert "orders" not in job.options["only"]
    later = NOW + timedelta(minutes=10)
    (job,) = due_jobs(later, [store()], {"K1": failing}, CADENCES)
    assert job.options == {}  # all six data types again


def test_a_run_cut_short_resumes_at_once_even_after_a_fresh_checkpoint() -> None:
    # SIGTERM or a crash mid-orders: no error recorded, the flag still says running, and the
    # last success is a mid-run checkpoint one minute ago.
    doc = synced(aggregates_ago=timedelta(0), ago=timedelta(minutes=1))
    cut = with_state(
        doc,
        "orders",
        last_success_at=NOW - timedelta(minutes=1),
        last_attempt_at=NOW - timedelta(minutes=2),
        running=True,
    )
    (job,) = due_jobs(NOW, [store()], {"K1": cut}, CADENCES)
    assert job == Job.sync("shop", only=["orders"])


def test_remembered_aggregate_failures_wait_for_the_retry_interval() -> None:
    doc = synced(aggregates_ago=timedelta(hours=5))
    attempts = {("shop", name): NOW - timedelta(minutes=3) for name in ALL_AGGREGATES}
    attempts.pop(("shop", "relationships"))
    (job,) = due_jobs(NOW, [store()], {"K1": doc}, CADENCES, attempts=attempts)
    assert job.options["jobs"] == ["relationships"]
    assert due_jobs(
        NOW + timedelta(minutes=15), [store()], {"K1": doc}, CADENCES, attempts=attempts
    )


def test_the_spec_last_sync_fields_count_when_data_types_are_not_recorded() -> None:
    doc = KlaviyoSync(
        klaviyo_public_id="K1",
        campaigns_last_sync=NOW - timedelta(minutes=1),
        flows_last_sync=NOW - timedelta(minutes=1),
        forms_last_sync=NOW - timedelta(minutes=1),
        segments_last_sync=NOW - timedelta(minutes=1),
    )
    jobs = due_jobs(NOW, [store()], {"K1": doc}, CADENCES)
    assert jobs[0] == Job.sync("shop", only=["orders", "refunds"])


def test_cadence_overrides_and_their_validation() -> None:
    fast = default_cadences({"sync": 60, "relationships": 600})
    assert fast[SYNC].every == timedelta(minutes=1)
    assert fast["relationships"].every == timedelta(minutes=10)
    assert fast["customers"].every == timedelta(hours=1)
    doc = {"K1": synced(ago=timedelta(minutes=2), aggregates_ago=timedelta(minutes=11))}
    kinds = {j.kind: j for j in due_jobs(NOW, [store()], doc, fast)}
    assert set(kinds) == {"sync", "aggregate"}
    assert kinds["aggregate"].options["jobs"] == ["relationships"]
    with pytest.raises(ConfigError, match="unknown job 'nightly'"):
        default_cadences({"nightly": 60})
    with pytest.raises(ConfigError, match="positive"):
        default_cadences({"sync": 0})


def test_jobs_validate_and_round_trip_as_json_payloads() -> None:
    job = Job.sync("shop", only=["forms", "orders", "forms"], since="2026-01-02")
    assert job.options == {"only": ["forms", "orders"], "since": "2026-01-02"}
    assert Job.from_dict(job.to_dict()) == job
    agg = Job.aggregate("shop", jobs=["relationships", "customers"], as_of="2026-03-01")
    assert agg.options["jobs"] == ["customers", "relationships"]  # registry order
    assert Job.from_dict(agg.to_dict()) == agg
    with pytest.raises(UsageError, match="unknown data type"):
        Job.sync("shop", only=["orderz"])
    with pytest.raises(UsageError, match="unknown aggregate job"):
        Job.aggregate("shop", jobs=["nope"])
    with pytest.raises(UsageError, match="exclude each other"):
        Job.sync("shop", full=True, since="2026-01-01")
    with pytest.raises(UsageError, match="not a date"):
        Job.aggregate("shop", as_of="yesterday")
    with pytest.raises(UsageError, match="unknown sync job option"):
        Job("sync", "shop", {"jobs": ["customers"]})
    with pytest.raises(UsageError, match="kind"):
        Job("rebuild", "shop")  # type: ignore[arg-type]  # an invalid kind on purpose
    with pytest.raises(UsageError, match="store"):
        Job.sync(" ")
