"""Encryption of credentials at rest, the secret-key file and masking for display.

Credentials (Klaviyo API keys, OAuth access and refresh tokens) are stored as Fernet tokens
(AES-128-CBC + HMAC-SHA256 from the ``cryptography`` package). This module never logs or returns
plaintext except from :meth:`SecretBox.decrypt`.
"""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from klaviyo_analytics.errors import ConfigError, TerminalError

SECRET_KEY_VARIABLE = "KLAVIYO_ANALYTICS_SECRET_KEY"
_KNOWN_PUBLIC_PREFIXES = ("pk_",)
_MASK_MIN_LENGTH = 12


class SecretBox:
    """Symmetric encryption of short secrets with one Fernet key.

    Args:
        key: a urlsafe-base64 Fernet key, as made by :meth:`generate_key`.

    Raises:
        ConfigError: the key is not a valid Fernet key.
    """

    def __init__(self, key: str) -> None:
        try:
            self._fernet = Fernet(key.strip().encode("ascii"))
        except (ValueError, UnicodeEncodeError) as exc:
            raise ConfigError(
                SECRET_KEY_VARIABLE,
                "not a valid key (expected 32 url-safe base64-encoded bytes, e.g. from "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)",
            ) from exc

    def __repr__(self) -> str:
        return "SecretBox(key=<hidden>)"

    @staticmethod
    def generate_key() -> str:
        """Return a new random Fernet key as text."""
        return Fernet.generate_key().decode("ascii")

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext``; two calls with the same input give different ciphertexts."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        """Decrypt a value made by :meth:`encrypt`.

        Raises:
            TerminalError: the value was encrypted with another key, or is not a Fernet token.
        """
        try:
            return self._fernet.decrypt(ciphertext.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise TerminalError(
                "cannot decrypt stored credentials: SECRET_KEY differs from the one they were "
                "encrypted with"
            ) from exc


def load_or_create_key_file(path: Path) -> str:
    """Return the key kept in ``path``, creating it (mode 0600) on first use.

    Creation is atomic (``O_CREAT | O_EXCL``), so two processes starting at once end up with the
    same key: the loser of the race reads the winner's file.

    Args:
        path: the key file, e.g. ``<DATA_DIR>/secret.key``.

    Returns:
        The key as text.

    Raises:
        ConfigError: the file is readable by group or others, is empty or invalid, or cannot be
            created.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = SecretBox.generate_key()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    except OSError as exc:
        raise ConfigError(
            SECRET_KEY_VARIABLE, f"cannot create key file {path}: {exc.strerror}"
        ) from exc
    try:
        os.write(fd, key.encode("ascii") + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    return key


def _read_key_file(path: Path) -> str:
    # A concurrent creator may not have written the key yet; wait briefly for it.
    for _ in range(50):
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="ascii").strip()
        except OSError as exc:
            raise ConfigError(
                SECRET_KEY_VARIABLE, f"cannot read key file {path}: {exc.strerror}"
            ) from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(
                SECRET_KEY_VARIABLE,
                f"key file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(mode):04o}); run `chmod 600 {path}`",
            )
        if text:
            SecretBox(text)  # validates
            return text
        time.sleep(0.01)
    raise ConfigError(SECRET_KEY_VARIABLE, f"key file {path} is empty")


def mask(secret: str | None) -> str:
    """Return a display form of a secret that shows at most its last 4 characters.

    ``pk_`` (Klaviyo's private-key prefix) is kept because it is not secret. Secrets shorter than
    12 characters show no characters at all.

    Examples:
        >>> mask("pk_0123456789abcdef3f9a")
        'pk_…3f9a'
        >>> mask("short")
        '…'
    """
    if not secret:
        return ""
    prefix = next((p for p in _KNOWN_PUBLIC_PREFIXES if secret.startswith(p)), "")
    body = secret[len(prefix) :]
    tail = body[-4:] if len(body) >= _MASK_MIN_LENGTH else ""
    return f"{prefix}…{tail}"
