"""The foundation commands as a user runs them: migrate, status, query, and every bad input
giving one clear line and the right exit code."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cli.helpers import one_error_line, run_cli


@pytest.fixture(scope="module")
def migrated_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data_dir = tmp_path_factory.mktemp("var")
    result = run_cli(["db", "migrate"], data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert "applied 0001_sync_tables" in result.stdout
    return data_dir


def test_migrate_is_idempotent_and_status_lists_everything(migrated_dir: Path) -> None:
    again = run_cli(["db", "migrate"], data_dir=migrated_dir)
    assert again.returncode == 0
    assert "nothing to apply" in again.stdout
    status = run_cli(["db", "status", "--format", "json"], data_dir=migrated_dir)
    assert status.returncode == 0, status.stderr
    documents = [json.loads(line) for line in status.stdout.splitlines() if line.startswith("[")]
    migrations, counts = documents
    assert [m["state"] for m in migrations] == ["applied"] * len(migrations)
    assert {c["table"] for c in counts} >= {"klaviyo_orders", "account_metrics_daily"}
    assert all(c["rows"] == 0 for c in counts)


def test_dry_run_prints_sql_without_applying(tmp_path: Path) -> None:
    result = run_cli(["db", "migrate", "--dry-run"], data_dir=tmp_path)
    assert result.returncode == 0
    assert "CREATE TABLE IF NOT EXISTS klaviyo_orders" in result.stdout
    status = run_cli(["db", "status", "--format", "json"], data_dir=tmp_path)
    assert '"pending"' in status.stdout


def test_secret_key_file_created_0600(migrated_dir: Path) -> None:
    result = run_cli(["stores", "list"], data_dir=migrated_dir)
    assert result.returncode == 0, result.stderr
    key = migrated_dir / "secret.key"
    assert key.exists()
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    before = key.read_text()
    run_cli(["stores", "list"], data_dir=migrated_dir)
    assert key.read_text() == before


def test_query_json_outputs_one_array(migrated_dir: Path) -> None:
    result = run_cli(
        ["query", "SELECT count() AS n, 'x' AS s FROM klaviyo_orders", "--format", "json"],
        data_dir=migrated_dir,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [{"n": 0, "s": "x"}]


def test_query_csv(migrated_dir: Path) -> None:
    result = run_cli(["query", "SELECT 1 AS a, 2 AS b", "--format", "csv"], data_dir=migrated_dir)
    assert result.stdout.splitlines() == ["a,b", "1,2"]


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("DROP TABLE klaviyo_orders", "only SELECT or WITH"),
        ("INSERT INTO klaviyo_orders (order_id) VALUES ('x')", "only SELECT or WITH"),
        ("SELECT 1; DROP TABLE klaviyo_orders", "only one statement"),
        ("   ", "empty"),
        ("SELECT no_such_column FROM klaviyo_orders", "the query failed"),
    ],
)
def test_query_refuses_writes_and_bad_sql(migrated_dir: Path, sql: str, fragment: str) -> None:
    result = run_cli(["query", sql], data_dir=migrated_dir)
    assert result.returncode == 2
    assert fragment in one_error_line(result)


def test_query_bad_format(migrated_dir: Path) -> None:
    result = run_cli(["query", "SELECT 1", "--format", "xml"], data_dir=migrated_dir)
    assert result.returncode == 2
    assert "--format" in one_error_line(result)


@pytest.mark.parametrize(
    ("env", "variable", "fragment"),
    [
        (
            {"KLAVIYO_ANALYTICS_CLICKHOUSE_URL": "ftp://host/db"},
            "CLICKHOUSE_URL",
            "unsupported URL scheme",
        ),
        (
            {"KLAVIYO_ANALYTICS_MONGODB_URL": "redis://localhost"},
            "MONGODB_URL",
            "unsupported URL scheme",
        ),
        (
            {"KLAVIYO_ANALYTICS_CLICKHOUSE_URL": "http://u:hunter2@127.0.0.1:1/db"},
            "CLICKHOUSE_URL",
            "cannot reach ClickHouse",
        ),
        (
            {"KLAVIYO_ANALYTICS_MONGODB_URL": "mongodb://u:hunter2@127.0.0.1:1/db"},
            "MONGODB_URL",
            "MongoDB",
        ),
        ({"KLAVIYO_ANALYTICS_SYNC_OVERLAP_DAYS": "many"}, "SYNC_OVERLAP_DAYS", ""),
    ],
)
def test_invalid_configuration_is_one_line_exit_2(
    tmp_path: Path, env: dict[str, str], variable: str, fragment: str
) -> None:
    command = ["stores", "list"] if "MONGODB" in variable else ["db", "status"]
    result = run_cli(command, data_dir=tmp_path, env=env)
    assert result.returncode == 2, result.stdout + result.stderr
    line = one_error_line(result)
    assert f"KLAVIYO_ANALYTICS_{variable}" in line
    assert fragment in line
    assert "hunter2" not in result.stderr + result.stdout


def test_data_dir_that_is_a_file(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    result = run_cli(["db", "status"], data_dir=not_a_dir)
    assert result.returncode == 2
    line = one_error_line(result)
    assert "KLAVIYO_ANALYTICS_DATA_DIR" in line and "not a directory" in line


def test_data_dir_that_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run_cli(["db", "status"], data_dir=blocker / "sub")
    assert result.returncode == 2
    assert "KLAVIYO_ANALYTICS_DATA_DIR" in one_error_line(result)


def test_unknown_option_is_one_line(tmp_path: Path) -> None:
    result = run_cli(["db", "status", "--bogus"], data_dir=tmp_path)
    assert result.returncode == 2
    assert "--bogus" in one_error_line(result)


def test_help_everywhere_has_examples() -> None:
    for args in (["--help"], ["db", "--help"], ["stores", "--help"], ["query", "--help"]):
        result = run_cli(args)
        assert result.returncode == 0, args
        assert "klaviyo-analytics" in result.stdout and "Example" in result.stdout, args


def test_second_process_gets_clear_lock_error(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from klaviyo_analytics.warehouse import Warehouse\n"
            f"w = Warehouse('chdb://{tmp_path}/clickhouse'); w.ping()\n"
            "print('ready', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("KLAVIYO_ANALYTICS_")},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = run_cli(["db", "status"], data_dir=tmp_path)
        assert result.returncode == 2
        line = one_error_line(result)
        assert str(tmp_path / "clickhouse") in line
        assert "another process" in line and "ClickHouse server" in line
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    deadline = time.monotonic() + 10
    while True:  # the lock goes with the process
        again = run_cli(["db", "migrate"], data_dir=tmp_path)
        if again.returncode == 0 or time.monotonic() > deadline:
            break
    assert again.returncode == 0, again.stderr
