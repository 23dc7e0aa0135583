"""``klaviyo-analytics stores`` as a user runs it: secrets never printed, bad input one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.helpers import one_error_line, run_cli

API_KEY = "pk_live_0123456789abcdefSECRET9f3a"
ACCESS = "access-token-very-secret-123"
REFRESH = "refresh-token-very-secret-456"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("stores")


def test_add_list_show_remove_never_print_secrets(data_dir: Path) -> None:
    added = run_cli(
        [
            "stores",
            "add",
            "--name",
            "Shop A",
            "--klaviyo-public-id",
            "AbC123",
            "--api-key",
            API_KEY,
            "--public-id",
            "store_a",
        ],
        data_dir=data_dir,
    )
    assert added.returncode == 0, added.stderr
    assert "store_a" in added.stdout
    oauth = run_cli(
        [
            "stores",
            "add",
            "--name",
            "Shop B",
            "--klaviyo-public-id",
            "XyZ789",
            "--oauth-access-token",
            ACCESS,
            "--oauth-refresh-token",
            REFRESH,
            "--token-expires-at",
            "2030-01-01T00:00:00Z",
        ],
        data_dir=data_dir,
    )
    assert oauth.returncode == 0, oauth.stderr
    listed = run_cli(["stores", "list", "--format", "json"], data_dir=data_dir)
    stores = {s["public_id"]: s for s in json.loads(listed.stdout)}
    assert stores["store_a"]["klaviyo_public_id"] == "AbC123"
    assert {s["auth"] for s in stores.values()} == {"api_key", "oauth"}
    shown = run_cli(["stores", "show", "store_a"], data_dir=data_dir)
    assert shown.returncode == 0
    assert "9f3a" in shown.stdout  # the masked tail
    everything = added.stdout + oauth.stdout + listed.stdout + shown.stdout
    for secret in (API_KEY, ACCESS, REFRESH, API_KEY[3:-4]):
        assert secret not in everything
    on_disk = b"".join(p.read_bytes() for p in data_dir.rglob("*") if p.is_file())
    for secret in (API_KEY, ACCESS, REFRESH):
        assert secret.encode() not in on_disk, "secrets must be encrypted at rest"
    removed = run_cli(["stores", "remove", "store_a"], data_dir=data_dir)
    assert removed.returncode == 0
    again = run_cli(["stores", "show", "store_a"], data_dir=data_dir)
    assert again.returncode == 2
    assert "store_a" in one_error_line(again)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--api-key", API_KEY, "--oauth-access-token", "x"], "not both"),
        ([], "credentials missing"),
        (["--oauth-access-token", "x", "--oauth-refresh-token", "y"], "credentials missing"),
        (
            [
                "--oauth-access-token",
                "x",
                "--oauth-refresh-token",
                "y",
                "--token-expires-at",
                "soon",
            ],
            "--token-expires-at",
        ),
        (["--api-key", "sk_wrong"], "pk_"),
    ],
)
def test_add_bad_input(data_dir: Path, args: list[str], fragment: str) -> None:
    result = run_cli(
        ["stores", "add", "--name", "Bad", "--klaviyo-public-id", "Bad123", *args],
        data_dir=data_dir,
    )
    assert result.returncode == 2
    assert fragment in one_error_line(result)


def test_duplicates_refused(data_dir: Path) -> None:
    base = ["stores", "add", "--name", "Dup", "--api-key", API_KEY]
    first = run_cli(
        [*base, "--klaviyo-public-id", "Dup111", "--public-id", "store_dup"], data_dir=data_dir
    )
    assert first.returncode == 0, first.stderr
    same_id = run_cli(
        [*base, "--klaviyo-public-id", "Dup222", "--public-id", "store_dup"], data_dir=data_dir
    )
    assert same_id.returncode == 2
    assert "store_dup" in one_error_line(same_id)
    same_account = run_cli([*base, "--klaviyo-public-id", "Dup111"], data_dir=data_dir)
    assert same_account.returncode == 2
    assert "Dup111" in one_error_line(same_account)
