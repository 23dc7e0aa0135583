"""Fixtures of the aggregate tests: the generated store (pure) and a warehouse loaded with it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
import pytest

from klaviyo_analytics.warehouse import Warehouse
from tests.aggregates.builder import OTHER_STORE, StoreData, build_store, load


@pytest.fixture(scope="session")
def store_data() -> StoreData:
    """The main generated store."""
    return build_store()


@pytest.fixture(scope="session")
def other_store_data() -> StoreData:
    """A second, smaller store in the same tables (jobs must never mix stores)."""
    return build_store(seed=11, store=OTHER_STORE, n_customers=60, n_orders=300)


@pytest.fixture
def loaded(
    warehouse: Warehouse, store_data: StoreData, other_store_data: StoreData
) -> Iterator[Warehouse]:
    """A fresh warehouse with both stores' synced rows."""
    load(warehouse, store_data)
    load(warehouse, other_store_data)
    yield warehouse


@dataclass
class Recorder:
    """A real, minimal recorder of ``set_aggregate_last_run`` calls."""

    calls: list[tuple[str, str, datetime]] = field(default_factory=list)

    def set_aggregate_last_run(self, klaviyo_public_id: str, field: str, ts: datetime) -> None:
        self.calls.append((klaviyo_public_id, field, ts))


def read_table(warehouse: Warehouse, table: str, store: str) -> pd.DataFrame:
    """One store's rows of an aggregate table, read with FINAL."""
    rows: list[dict[str, Any]] = warehouse.dicts(
        f"SELECT * FROM {table} AS t FINAL WHERE t.klaviyo_public_id = {{store:String}}",
        {"store": store},
    )
    return pd.DataFrame(rows)
