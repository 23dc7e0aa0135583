"""Migrations: applied once each, recorded in the ledger, idempotent, safe to run concurrently,
and an applied migration that was edited afterwards is refused."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from klaviyo_analytics.warehouse import Table, Warehouse, available_migrations, migrate, status
from klaviyo_analytics.warehouse.errors import MigrationError
from klaviyo_analytics.warehouse.migrator import LEDGER


def test_fresh_database_gets_every_migration_once(empty_warehouse: Warehouse) -> None:
    applied = migrate(empty_warehouse)
    assert [m.version for m in applied] == [m.version for m in available_migrations()]
    assert migrate(empty_warehouse) == []
    ledger = empty_warehouse.rows(f"SELECT version, count() FROM {LEDGER} FINAL GROUP BY version")
    assert sorted(ledger) == [(m.version, 1) for m in available_migrations()]
    assert all(s.applied for s in status(empty_warehouse))
    tables = {
        r[0]
        for r in empty_warehouse.rows(
            "SELECT name FROM system.tables WHERE database = {db:String}",
            {"db": empty_warehouse.database},
        )
    }
    assert {t.value for t in Table} <= tables
    assert {t.final_view for t in Table} <= tables


def test_dry_run_applies_nothing(empty_warehouse: Warehouse) -> None:
    pending = migrate(empty_warehouse, dry_run=True)
    assert pending and not any(s.applied for s in status(empty_warehouse))


def test_concurrent_migrations_and_readers_converge(empty_warehouse: Warehouse) -> None:
    errors: list[BaseException] = []

    def migrator() -> None:
        try:
            migrate(empty_warehouse)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    def reader() -> None:
        try:
            for _ in range(20):
                empty_warehouse.rows("SELECT name FROM system.tables LIMIT 5")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=migrator) for _ in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(s.applied for s in status(empty_warehouse))
    assert empty_warehouse.scalar("SELECT count() FROM klaviyo_orders FINAL") == 0


def test_edited_applied_migration_is_refused(warehouse: Warehouse) -> None:
    first = available_migrations()[0]
    warehouse.insert_rows(
        LEDGER,
        [[first.version, first.name, "0" * 64, datetime.now(UTC)]],
        ["version", "name", "checksum", "applied_at"],
    )
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(warehouse)
