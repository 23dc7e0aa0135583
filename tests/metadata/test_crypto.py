"""SecretBox, the secret-key file and masking."""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from klaviyo_analytics.errors import ConfigError, TerminalError
from klaviyo_analytics.metadata import SecretBox, load_or_create_key_file, mask


def test_round_trip_and_fresh_ciphertexts() -> None:
    box = SecretBox(SecretBox.generate_key())
    first, second = box.encrypt("pk_secret"), box.encrypt("pk_secret")
    assert first != second and "pk_secret" not in first
    assert box.decrypt(first) == box.decrypt(second) == "pk_secret"
    assert "key" in repr(box) and box.encrypt("x") not in repr(box)


def test_wrong_key_and_garbage() -> None:
    token = SecretBox(SecretBox.generate_key()).encrypt("secret")
    other = SecretBox(SecretBox.generate_key())
    with pytest.raises(TerminalError, match="SECRET_KEY differs from the one"):
        other.decrypt(token)
    with pytest.raises(TerminalError, match="cannot decrypt"):
        other.decrypt("not a token")


def test_invalid_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="KLAVIYO_ANALYTICS_SECRET_KEY"):
        SecretBox("too-short")


def test_key_file_created_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret.key"
    key = load_or_create_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key_file(path) == key
    SecretBox(key).encrypt("x")


def test_key_file_concurrent_creators_agree(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    barrier = threading.Barrier(8)

    def create(_: int) -> str:
        barrier.wait()
        return load_or_create_key_file(path)

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(create, range(8)))
    assert len(keys) == 1


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    load_or_create_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="KLAVIYO_ANALYTICS_SECRET_KEY.*chmod 600") as exc:
        load_or_create_key_file(path)
    assert exc.value.variable == "KLAVIYO_ANALYTICS_SECRET_KEY"


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("pk_0123456789abcdef3f9a", "pk_…3f9a"),
        ("refresh-token-value-9z8y", "…9z8y"),
        ("short", "…"),
        ("pk_short", "pk_…"),
        ("", ""),
        (None, ""),
    ],
)
def test_mask_shows_at_most_four_chars(secret: str | None, shown: str) -> None:
    assert mask(secret) == shown
