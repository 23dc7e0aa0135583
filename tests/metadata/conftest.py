"""Fixtures of the metadata contract suite: one ``MetadataStore`` per backend runnable here."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mongomock
import pytest

from klaviyo_analytics.metadata import MetadataStore, SecretBox, open_metadata_store
from klaviyo_analytics.metadata.backends import MongoDatabase

BACKENDS = ["embedded", "mongomock", "mongomock-no-unique-index"]


@pytest.fixture(scope="session")
def secret_key() -> str:
    return SecretBox.generate_key()


def make_store(backend: str, data_dir: Path, secret_key: str) -> MetadataStore:
    if backend == "embedded":
        return open_metadata_store(None, data_dir, secret_key)
    if backend == "mongomock":
        return open_metadata_store("mongomock://", data_dir, secret_key)
    # mongomock with unique secondary indexes *not* enforced: the guard documents alone must
    # keep keys unique (what montydb-like backends need).
    database = MongoDatabase(
        mongomock.MongoClient(tz_aware=True),
        "klaviyo_analytics",
        kind="mongomock",
        description="mongomock without unique indexes",
        unique_indexes=False,
    )
    return MetadataStore(database, SecretBox(secret_key))


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path, secret_key: str) -> Iterator[MetadataStore]:
    metadata = make_store(backend, tmp_path, secret_key)
    yield metadata
    metadata.close()
