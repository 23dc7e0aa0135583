"""Backend selection, error messages, and the embedded store's persistence and process safety."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import mongomock
import pytest
from bson import ObjectId

from klaviyo_analytics.errors import ConfigError
from klaviyo_analytics.metadata import SecretBox, open_metadata_store
from klaviyo_analytics.metadata.backends import EmbeddedDatabase, open_database

API_KEY = "pk_live_0123456789abcdefghij3f9a"


@pytest.mark.parametrize("url", ["postgres://localhost/x", "mongo://h", "localhost:27017"])
def test_unknown_scheme_names_the_variable(url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KLAVIYO_ANALYTICS_MONGODB_URL.*mongodb://") as exc:
        open_database(url, tmp_path)
    assert exc.value.variable == "KLAVIYO_ANALYTICS_MONGODB_URL"


def test_unreachable_server_is_a_quick_clear_error_without_password(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(ConfigError) as exc:
        open_database("mongodb://admin:hunter2secret@127.0.0.1:1/db", tmp_path)
    assert time.monotonic() - started < 5
    message = str(exc.value)
    assert message.startswith("KLAVIYO_ANALYTICS_MONGODB_URL: cannot reach MongoDB at 127.0.0.1:1")
    assert "unset the variable" in message
    assert "hunter2secret" not in message and "admin" not in message


def test_server_url_requires_an_explicit_secret_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="KLAVIYO_ANALYTICS_SECRET_KEY"):
        open_metadata_store("mongomock://", tmp_path, None)


def test_embedded_default_generates_key_and_persists_across_reopen(tmp_path: Path) -> None:
    first = open_metadata_store(None, tmp_path, None)
    assert first.backend == "embedded"
    first.add_store("Shop", "K1", api_key=API_KEY, public_id="store_a")
    first.get_sync("K1")
    first.close()
    assert (tmp_path / "secret.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "metadata" / "metadata.sqlite3").exists()

    again = open_metadata_store(None, tmp_path, None)
    assert again.get_store("store_a").name == "Shop"
    creds = again.get_credentials("store_a")
    assert creds.api_key is not None and creds.api_key.get_secret_value() == API_KEY
    assert again.get_sync("K1").klaviyo_public_id == "K1"
    again.close()


def test_two_embedded_instances_see_each_others_writes(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    a = open_metadata_store(None, tmp_path, key)
    b = open_metadata_store(None, tmp_path, key)
    a.add_store("Shop", "K1", api_key=API_KEY, public_id="store_a")
    assert b.get_store("store_a").name == "Shop"
    b.update_store("store_a", name="Renamed")
    assert a.get_store("store_a").name == "Renamed"
    a.close()
    b.close()


def test_unusable_data_dir_names_the_variable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="KLAVIYO_ANALYTICS_DATA_DIR"):
        open_database(None, blocker)


_WORKER = textwrap.dedent(
    """
    import json, sys, time
    from datetime import timedelta
    from pathlib import Path
    from klaviyo_analytics.metadata import open_metadata_store

    data_dir, key, start, me = Path(sys.argv[1]), sys.argv[2], float(sys.argv[3]), sys.argv[4]
    store = open_metadata_store(None, data_dir, key)
    time.sleep(max(0.0, start - time.time()))
    out = {}
    try:
        store.add_store("S" + me, "KRACE" + me, api_key="pk_x", public_id="store_race")
        out["add"] = "won"
    except Exception as exc:
        out["add"] = type(exc).__name__
    out["lock"] = store.acquire_dashboard_lock("store_locked", me, timedelta(minutes=5))
    out["stats"] = store.upsert_campaign_stats([])
    store.close()
    print(json.dumps(out))
    """
)


def test_processes_race_on_the_embedded_store(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    setup = open_metadata_store(None, tmp_path, key)
    setup.add_store("Locked", "KLOCK", api_key=API_KEY, public_id="store_locked")
    setup.close()
    start = time.time() + 2.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(tmp_path), key, str(start), f"p{i}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(4)
    ]
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out))
    assert sorted(o["add"] for o in outcomes) == ["DuplicateKeyError"] * 3 + ["won"]
    assert sum(o["lock"] for o in outcomes) == 1
    check = open_metadata_store(None, tmp_path, key)
    assert [s.public_id for s in check.list_stores()] == ["store_locked", "store_race"]
    check.close()


_CRASHER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from klaviyo_analytics.metadata import open_metadata_store

    store = open_metadata_store(None, Path(sys.argv[1]), sys.argv[2])
    with store._db.transaction():
        store.add_store("Lost", "KLOST", api_key="pk_x", public_id="store_lost")
        os._exit(9)  # killed before commit
    """
)


def test_crash_mid_transaction_leaves_the_store_consistent(tmp_path: Path) -> None:
    key = SecretBox.generate_key()
    subprocess.run([sys.executable, "-c", _CRASHER, str(tmp_path), key], check=False, timeout=60)
    store = open_metadata_store(None, tmp_path, key)
    assert store.list_stores() == []
    # Neither the document nor its guards survived: the ids are free.
    store.add_store("Kept", "KLOST", api_key=API_KEY, public_id="store_lost")
    assert store.get_store("store_lost").name == "Kept"
    store.close()


def test_embedded_key_lookups_match_mongodb_semantics(tmp_path: Path) -> None:
    """The embedded store looks documents up by ``_id`` and pre-filters plain string
    conditions instead of testing every document; the answers stay those of the matcher:
    arrays match element-wise, missing fields and non-string values are not skipped."""
    oid = ObjectId()
    docs = [
        {"_id": "a", "k": "x", "n": 1},
        {"_id": oid, "k": ["x", "y"], "n": 2},
        {"_id": 3, "k": "y", "n": 3},
        {"_id": "d", "n": 4},
        {"_id": {"compound": 1}, "k": "x", "n": 5},
        {"_id": "f", "k": 7, "n": 6},
        {"_id": "g", "k": {"x": 1}, "n": 7},
    ]
    db = EmbeddedDatabase(tmp_path)
    embedded = db.collection("things")
    reference = mongomock.MongoClient()["db"]["things"]
    for doc in docs:
        embedded.insert_one(dict(doc))
        reference.insert_one(dict(doc))
    filters: list[dict[str, object]] = [
        {"_id": "a"},
        {"_id": oid},
        {"_id": 3},
        {"_id": 3.0},
        {"_id": re.compile("^[ad]$")},
        {"_id": "missing"},
        {"_id": {"compound": 1}},
        {"_id": {"$in": ["a", 3]}},
        {"_id": None},
        {"k": "x"},
        {"k": "y"},
        {"k": "z"},
        {"k": {"$in": ["x"]}},
        {"k": {"$in": ["y", "z"]}},
        {"k": {"$in": ["x", 7]}},
        {"k": None},
        {"k": "x", "n": 5},
        {"k": "x", "_id": "a"},
        {"k.x": 1},
        {},
    ]

    def ids(found: list[dict[str, object]]) -> list[int]:
        return sorted(int(str(d["n"])) for d in found)

    for flt in filters:
        assert ids(embedded.find(flt)) == ids(list(reference.find(flt))), flt

    for flt, update in (
        ({"_id": oid}, {"$set": {"n": 20}}),
        ({"_id": "missing"}, {"$set": {"n": 30}}),
        ({"k": "y"}, {"$set": {"m": 1}}),  # the array ["x", "y"] comes first
        ({"k": {"$in": ["y"]}, "n": 3}, {"$set": {"m": 2}}),
    ):
        matched = embedded.update_one(flt, update).matched
        assert matched == reference.update_one(flt, update).matched_count, flt
    deleted = embedded.delete_many({"k": {"$in": ["x"]}})
    assert deleted == reference.delete_many({"k": {"$in": ["x"]}}).deleted_count == 3

    def state(found: list[dict[str, object]]) -> list[str]:
        return sorted(repr(sorted(d.items(), key=str)) for d in found)

    expected = state(list(reference.find({})))
    assert state(embedded.find({})) == expected and len(expected) == 4
    db.close()
    reopened = EmbeddedDatabase(tmp_path)  # what was persisted is what the lookups changed
    assert state(reopened.collection("things").find({})) == expected
    reopened.close()
