"""Versions and stale rows: what no longer qualifies disappears after the next run, re-runs are
stable, versions strictly increase, a crash between insert and cleanup heals on the re-run, and
each job is recorded only after it succeeded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from klaviyo_analytics.aggregates import JOBS, JobName, run_aggregates, run_job
from klaviyo_analytics.aggregates.runner import drop_inputs, prepare_inputs
from klaviyo_analytics.aggregates.versions import drop_parts, store_only_parts
from klaviyo_analytics.warehouse import Warehouse
from klaviyo_analytics.warehouse.errors import WarehouseError
from klaviyo_analytics.warehouse.tables import Table
from tests.aggregates.builder import (
    ORDER_COLUMNS,
    REFUND_COLUMNS,
    StoreData,
    insert,
    order_row,
    refund_row,
)
from tests.aggregates.conftest import Recorder, read_table

TABLES = {job.name.value: job.table.value for job in JOBS.values()}
VERSION = {
    "customer_profiles": "last_updated",
    "products_master": "last_updated",
    "product_relationships_optimized": "calculated_at",
    "campaign_daily_aggregates": "processed_at",
    "account_metrics_daily": "timestamp",
}
KEYS = {
    "customer_profiles": ["customer_email"],
    "products_master": ["product_id"],
    "product_relationships_optimized": ["product_a", "product_b"],
    "campaign_daily_aggregates": ["date", "send_channel"],
    "account_metrics_daily": ["date"],
}


def _state(warehouse: Warehouse, table: str, store: str) -> list[dict[str, object]]:
    frame = read_table(warehouse, table, store).drop(columns=[VERSION[table]])
    frame = frame.sort_values(KEYS[table]).reset_index(drop=True)
    return [
        {str(k): (dict(v) if isinstance(v, dict) else v) for k, v in row.items()}
        for row in frame.to_dict("records")
    ]


def _versions(warehouse: Warehouse, table: str, store: str) -> list[datetime]:
    """The versions of ``store``'s rows that FINAL shows."""
    rows = warehouse.rows(
        f"SELECT DISTINCT {VERSION[table]} FROM {table} AS t FINAL "
        "WHERE t.klaviyo_public_id = {s:String}",
        {"s": store},
    )
    return [v.replace(tzinfo=None) for (v,) in rows]


def _all_rows(warehouse: Warehouse, table: str, store: str) -> int:
    # settings final=0 would bypass nothing here: deleted rows are gone from the parts
    return int(
        warehouse.scalar(
            f"SELECT count() FROM {table} AS t FINAL WHERE t.klaviyo_public_id = {{s:String}}",
            {"s": store},
        )
    )


def test_rerun_gives_the_same_final_result(loaded: Warehouse, store_data: StoreData) -> None:
    args = (store_data.store, None, store_data.as_of, store_data.tz)
    first = run_aggregates(loaded, *args)
    before = {t: _state(loaded, t, store_data.store) for t in TABLES.values()}
    second = run_aggregates(loaded, *args)
    for a, b in zip(first, second, strict=True):
        assert b.version > a.version
        assert a.rows == b.rows > 0
    for table, rows in before.items():
        assert _state(loaded, table, store_data.store) == rows
        # only the latest run's rows remain, all carrying its version
        versions = loaded.rows(
            f"SELECT DISTINCT {VERSION[table]} FROM {table} AS t FINAL "
            "WHERE t.klaviyo_public_id = {s:String}",
            {"s": store_data.store},
        )
        assert len(versions) == 1


def test_versions_strictly_increase_within_one_second(
    loaded: Warehouse, store_data: StoreData
) -> None:
    job = JOBS[JobName.PRODUCTS]
    now = datetime(2030, 1, 1, 12, 0, 0, 500, tzinfo=UTC)
    versions = [
        run_job(loaded, job, store_data.store, store_data.as_of, store_data.tz, now=now).version
        for _ in range(3)
    ]
    assert versions == [datetime(2030, 1, 1, 12, 0, s) for s in range(3)]
    assert (
        _all_rows(loaded, "products_master", store_data.store)
        == run_job(loaded, job, store_data.store, store_data.as_of, store_data.tz, now=now).rows
    )


STORE = "Tiny"
DAY = date(2024, 3, 10)


def _ts(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, 0, 0)


def test_cancelled_only_order_removes_customer_product_and_day(warehouse: Warehouse) -> None:
    rows = [
        order_row(STORE, "O1", "a@x.com", _ts(DAY, 15), "20.00", first=1),
        order_row(STORE, "O2", "a@x.com", _ts(DAY + timedelta(days=3), 15), "30.00"),
        order_row(STORE, "O3", "b@x.com", _ts(DAY + timedelta(days=5), 15), "40.00", first=1),
    ]
    insert(warehouse, "klaviyo_orders", rows, ORDER_COLUMNS)
    from tests.aggregates.builder import LINE_COLUMNS, line_row

    insert(
        warehouse,
        "klaviyo_order_line_items",
        [
            line_row(STORE, "O1", "L1", "PA", "20.00"),
            line_row(STORE, "O2", "L2", "PA", "30.00"),
            line_row(STORE, "O3", "L3", "PB", "40.00"),
        ],
        LINE_COLUMNS,
    )
    as_of = DAY + timedelta(days=10)
    run_aggregates(warehouse, STORE, ["customers", "products", "account-daily"], as_of)
    assert set(read_table(warehouse, "customer_profiles", STORE)["customer_email"]) == {
        "a@x.com",
        "b@x.com",
    }
    assert len(read_table(warehouse, "account_metrics_daily", STORE)) == 3

    # b's only order is cancelled: b, product PB and b's day no longer qualify
    insert(
        warehouse,
        "refund_cancelled_orders",
        [
            refund_row(
                STORE, "E1", "cancelled", "O3", "b@x.com", _ts(DAY + timedelta(days=6), 9), "40.00"
            ),
        ],
        REFUND_COLUMNS,
    )
    run_aggregates(warehouse, STORE, ["customers", "products", "account-daily"], as_of)
    assert list(read_table(warehouse, "customer_profiles", STORE)["customer_email"]) == ["a@x.com"]
    assert list(read_table(warehouse, "products_master", STORE)["product_id"]) == ["PA"]
    days = set(read_table(warehouse, "account_metrics_daily", STORE)["date"])
    assert days == {DAY, DAY + timedelta(days=3)}


def test_pairs_below_a_raised_threshold_disappear(loaded: Warehouse, store_data: StoreData) -> None:
    args = (store_data.store, ["relationships"], store_data.as_of, store_data.tz)
    run_aggregates(loaded, *args, min_co_purchases=3)
    low = read_table(loaded, "product_relationships_optimized", store_data.store)
    assert (low["co_purchase_count"] < 8).any()
    run_aggregates(loaded, *args, min_co_purchases=8)
    high = read_table(loaded, "product_relationships_optimized", store_data.store)
    assert len(high) < len(low)
    assert (high["co_purchase_count"] >= 8).all()


def test_crash_between_insert_and_cleanup_heals_on_rerun(
    loaded: Warehouse, store_data: StoreData
) -> None:
    job = JOBS[JobName.RELATIONSHIPS]
    args = (store_data.store, ["relationships"], store_data.as_of, store_data.tz)
    run_aggregates(loaded, *args, min_co_purchases=3)
    # A run at threshold 6 that died after its INSERT, before deleting older rows:
    crashed = datetime.now(UTC).replace(tzinfo=None, microsecond=0) + timedelta(seconds=30)
    # the job's INSERT reads the run's materialised inputs (runner.prepare_inputs)
    prepare_inputs(loaded, store_data.store, store_data.as_of, store_data.tz)
    loaded.command(
        job.sql(),
        {
            "store": store_data.store,
            "as_of": store_data.as_of,
            "tz": store_data.tz,
            "version": crashed,
            "min_co": 6,
        },
    )
    drop_inputs(loaded)
    leftover = read_table(loaded, "product_relationships_optimized", store_data.store)
    assert (leftover["co_purchase_count"] < 6).any()  # the stale rows are still visible
    [result] = run_aggregates(loaded, *args, min_co_purchases=6)
    assert result.version > crashed
    healed = _state(loaded, "product_relationships_optimized", store_data.store)
    assert all(int(row["co_purchase_count"]) >= 6 for row in healed)  # type: ignore[call-overload]
    run_aggregates(loaded, *args, min_co_purchases=6)
    assert _state(loaded, "product_relationships_optimized", store_data.store) == healed


def test_recorder_gets_each_field_after_success(loaded: Warehouse, store_data: StoreData) -> None:
    recorder = Recorder()
    started = datetime.now(UTC)
    run_aggregates(
        loaded, store_data.store, None, store_data.as_of, store_data.tz, recorder=recorder
    )
    fields = [f for _, f, _ in recorder.calls]
    assert fields == [
        "campaign_aggregates_last_run",
        "customer_profiles_last_run",
        "product_analytics_last_run",
        "product_relationships_last_run",
        "aggregates_last_sync",
    ]
    assert all(s == store_data.store and ts >= started for s, _, ts in recorder.calls)


def test_failed_job_is_not_recorded(loaded: Warehouse, store_data: StoreData) -> None:
    recorder = Recorder()
    args = (store_data.store,)
    loaded.command("DROP TABLE products_master")  # the products job can no longer write
    with pytest.raises(WarehouseError):
        run_aggregates(
            loaded,
            *args,
            ["customers", "products"],
            store_data.as_of,
            store_data.tz,
            recorder=recorder,
        )
    assert [f for _, f, _ in recorder.calls] == ["customer_profiles_last_run"]

    # the two 15-minute jobs share a field: it is set only when both succeeded
    recorder.calls.clear()
    loaded.command("DROP TABLE flow_statistics")  # account-daily reads it, campaign-daily not
    with pytest.raises(WarehouseError):
        run_aggregates(
            loaded,
            *args,
            ["campaign-daily", "account-daily"],
            store_data.as_of,
            store_data.tz,
            recorder=recorder,
        )
    assert recorder.calls == []
    assert not read_table(loaded, "campaign_daily_aggregates", store_data.store).empty


def test_deleted_stale_rows_stay_gone_through_final_and_merges(
    loaded: Warehouse, store_data: StoreData
) -> None:
    """The cleanup is a lightweight DELETE: the older run's rows (some of them the same keys as
    the newer run's) never come back through FINAL, before or after the parts merge."""
    args = (store_data.store, ["relationships"], store_data.as_of, store_data.tz)
    run_aggregates(loaded, *args, min_co_purchases=3)
    [result] = run_aggregates(loaded, *args, min_co_purchases=6)
    table = "product_relationships_optimized"
    expected = _state(loaded, table, store_data.store)
    assert all(int(row["co_purchase_count"]) >= 6 for row in expected)  # type: ignore[call-overload]
    assert _all_rows(loaded, table, store_data.store) == result.rows
    loaded.command(f"OPTIMIZE TABLE {table} FINAL")
    assert _state(loaded, table, store_data.store) == expected
    assert _all_rows(loaded, table, store_data.store) == result.rows


def _active_parts(warehouse: Warehouse, table: str) -> dict[str, int]:
    """Physical rows per active part of ``table`` (system.parts: storage, not table data)."""
    return dict(
        warehouse.rows(
            "SELECT name, rows FROM system.parts WHERE database = currentDatabase() "
            "AND table = {t:String} AND active",
            {"t": table},
        )
    )


@pytest.mark.parametrize("job", ["customers", "relationships"])
def test_big_tables_drop_the_earlier_runs_parts_whole(
    loaded: Warehouse, store_data: StoreData, other_store_data: StoreData, job: str
) -> None:
    """An earlier run's part holds only that store's rows: the next run drops it whole (no
    masked generation left for FINAL reads to skip); another store's part is left alone."""
    table = TABLES[job]
    loaded.command(f"SYSTEM STOP MERGES {table}")  # keep each run's part apart
    try:
        [other] = run_aggregates(
            loaded, other_store_data.store, [job], other_store_data.as_of, other_store_data.tz
        )
        args = (store_data.store, [job], store_data.as_of, store_data.tz)
        [first] = run_aggregates(loaded, *args)
        expected = _state(loaded, table, store_data.store)
        [first_part] = store_only_parts(loaded, Table(table), store_data.store)
        [second] = run_aggregates(loaded, *args)

        [second_part] = store_only_parts(loaded, Table(table), store_data.store)
        parts = _active_parts(loaded, table)
        assert first_part not in parts and parts[second_part] == second.rows == first.rows
        assert store_only_parts(loaded, Table(table), other_store_data.store) != []
        assert sum(parts.values()) == second.rows + other.rows  # no masked rows left behind
        assert _state(loaded, table, store_data.store) == expected
        assert _versions(loaded, table, store_data.store) == [second.version]
        assert _all_rows(loaded, table, other_store_data.store) == other.rows
    finally:
        loaded.command(f"SYSTEM START MERGES {table}")


def test_a_part_that_cannot_be_dropped_is_left_to_the_delete(
    loaded: Warehouse, store_data: StoreData, caplog: pytest.LogCaptureFixture
) -> None:
    """A part merged away meanwhile is skipped quietly; any other refusal stops the drops with a
    warning (the run's cleanup DELETE then masks the rows), and nothing is dropped after it."""
    table = Table.PRODUCT_RELATIONSHIPS_OPTIMIZED
    run_aggregates(loaded, store_data.store, ["relationships"], store_data.as_of, store_data.tz)
    [part] = store_only_parts(loaded, table, store_data.store)
    assert drop_parts(loaded, table, ["all_999999_999999_0"]) == 0  # no such part: skipped
    assert not caplog.records
    assert drop_parts(loaded, table, ["not a part name", part]) == 0
    assert "cannot drop part not a part name" in caplog.text
    assert store_only_parts(loaded, table, store_data.store) == [part]


def test_stale_rows_in_a_part_shared_with_another_store_are_deleted(
    loaded: Warehouse, store_data: StoreData, other_store_data: StoreData
) -> None:
    """Once a merge has put two stores' rows in one part, that part cannot be dropped: the
    pairs that no longer qualify are deleted from it instead, and the other store's rows stay."""
    table = "product_relationships_optimized"
    run_aggregates(
        loaded,
        other_store_data.store,
        ["relationships"],
        other_store_data.as_of,
        other_store_data.tz,
        min_co_purchases=2,
    )
    other = _state(loaded, table, other_store_data.store)
    args = (store_data.store, ["relationships"], store_data.as_of, store_data.tz)
    [first] = run_aggregates(loaded, *args, min_co_purchases=3)
    loaded.command(f"OPTIMIZE TABLE {table} FINAL")
    assert store_only_parts(loaded, Table(table), store_data.store) == []  # one shared part

    [result] = run_aggregates(loaded, *args, min_co_purchases=6)
    assert result.rows < first.rows  # some pairs no longer qualify
    rows = _state(loaded, table, store_data.store)
    assert rows and all(int(row["co_purchase_count"]) >= 6 for row in rows)  # type: ignore[call-overload]
    assert _all_rows(loaded, table, store_data.store) == result.rows
    assert _state(loaded, table, other_store_data.store) == other
    loaded.command(f"OPTIMIZE TABLE {table} FINAL")
    assert _state(loaded, table, store_data.store) == rows
    assert _state(loaded, table, other_store_data.store) == other


def test_orders_only_inputs_serve_account_daily_but_not_line_item_jobs(
    loaded: Warehouse, store_data: StoreData
) -> None:
    """A run of only account-daily skips the line items (agg_run_lines); jobs that read them
    refuse such inputs instead of reading a missing table."""
    args = (store_data.store, store_data.as_of, store_data.tz)
    inputs = prepare_inputs(loaded, *args, lines=False)
    try:
        assert not inputs.lines
        result = run_job(loaded, JOBS[JobName.ACCOUNT_DAILY], *args, inputs=inputs)
        assert result.rows == len(read_table(loaded, "account_metrics_daily", store_data.store))
        for name in (JobName.CUSTOMERS, JobName.PRODUCTS, JobName.RELATIONSHIPS):
            with pytest.raises(ValueError):
                run_job(loaded, JOBS[name], *args, inputs=inputs)
    finally:
        drop_inputs(loaded)


def test_superseded_rows_without_stale_keys_stay_hidden_through_merges(
    loaded: Warehouse, store_data: StoreData
) -> None:
    """A re-run that writes every earlier key again: only its rows (one version) come back
    through FINAL, before and after the parts merge, and its count is what FINAL returns."""
    args = (store_data.store, ["relationships"], store_data.as_of, store_data.tz)
    table = "product_relationships_optimized"
    [first] = run_aggregates(loaded, *args, min_co_purchases=3)
    expected = _state(loaded, table, store_data.store)
    [second] = run_aggregates(loaded, *args, min_co_purchases=3)
    assert second.version > first.version and second.rows == first.rows

    assert _versions(loaded, table, store_data.store) == [second.version]
    assert _state(loaded, table, store_data.store) == expected
    loaded.command(f"OPTIMIZE TABLE {table} FINAL")
    assert _versions(loaded, table, store_data.store) == [second.version]
    assert _state(loaded, table, store_data.store) == expected
    assert _all_rows(loaded, table, store_data.store) == second.rows


@pytest.mark.parametrize("job", ["campaign-daily", "account-daily", "products"])
def test_small_tables_skip_the_noop_delete_and_stay_correct(
    loaded: Warehouse, store_data: StoreData, job: str
) -> None:
    """The small tables delete only when FINAL still shows an older row: a re-run that writes
    every key again leaves the older rows to FINAL and merges, and still only its own rows
    (one version, the counted number) come back, before and after the parts merge."""
    args = (store_data.store, [job], store_data.as_of, store_data.tz)
    table = TABLES[job]
    [first] = run_aggregates(loaded, *args)
    expected = _state(loaded, table, store_data.store)
    [second] = run_aggregates(loaded, *args)
    assert second.version > first.version and second.rows == first.rows > 0

    assert _versions(loaded, table, store_data.store) == [second.version]
    assert _state(loaded, table, store_data.store) == expected
    assert _all_rows(loaded, table, store_data.store) == second.rows
    loaded.command(f"OPTIMIZE TABLE {table} FINAL")
    assert _versions(loaded, table, store_data.store) == [second.version]
    assert _state(loaded, table, store_data.store) == expected
