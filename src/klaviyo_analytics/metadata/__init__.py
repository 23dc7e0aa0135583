"""The metadata store: stores, Klaviyo credentials, sync state and campaign stats in MongoDB.

``open_metadata_store`` picks the backend from ``KLAVIYO_ANALYTICS_MONGODB_URL`` (a MongoDB
server, or the embedded file store under ``DATA_DIR``); :class:`MetadataStore` is the only way in.
"""

from __future__ import annotations

from pathlib import Path

from klaviyo_analytics.errors import ConfigError
from klaviyo_analytics.metadata.backends import URL_VARIABLE, open_database
from klaviyo_analytics.metadata.crypto import (
    SECRET_KEY_VARIABLE,
    SecretBox,
    load_or_create_key_file,
    mask,
)
from klaviyo_analytics.metadata.errors import (
    DuplicateKeyError,
    LockHeldError,
    MetadataBackendError,
    MetadataUnavailableError,
)
from klaviyo_analytics.metadata.models import (
    AGGREGATE_RUN_FIELDS,
    DATA_TYPE_LAST_SYNC_FIELDS,
    LAST_UPDATE_FIELDS,
    ApiToken,
    CampaignGroupings,
    CampaignStat,
    CampaignStatistics,
    Credentials,
    DataTypeState,
    KlaviyoIntegration,
    KlaviyoSync,
    Store,
)
from klaviyo_analytics.metadata.repository import MetadataStore

KEY_FILE_NAME = "secret.key"

__all__ = [
    "AGGREGATE_RUN_FIELDS",
    "DATA_TYPE_LAST_SYNC_FIELDS",
    "KEY_FILE_NAME",
    "LAST_UPDATE_FIELDS",
    "ApiToken",
    "CampaignGroupings",
    "CampaignStat",
    "CampaignStatistics",
    "Credentials",
    "DataTypeState",
    "DuplicateKeyError",
    "KlaviyoIntegration",
    "KlaviyoSync",
    "LockHeldError",
    "MetadataBackendError",
    "MetadataStore",
    "MetadataUnavailableError",
    "SecretBox",
    "Store",
    "load_or_create_key_file",
    "mask",
    "open_metadata_store",
]


def open_metadata_store(url: str | None, data_dir: Path, secret_key: str | None) -> MetadataStore:
    """Open the metadata store named by the settings.

    Args:
        url: ``KLAVIYO_ANALYTICS_MONGODB_URL``; None or empty for the embedded store.
        data_dir: ``KLAVIYO_ANALYTICS_DATA_DIR``.
        secret_key: ``KLAVIYO_ANALYTICS_SECRET_KEY``; with the embedded store and no key, one is
            generated into ``data_dir/secret.key`` (mode 0600) and reused.

    Returns:
        The opened store; close it with :meth:`MetadataStore.close`.

    Raises:
        ConfigError: bad URL, unreachable server, unusable data dir, or missing/invalid key.
    """
    if not secret_key:
        if url:
            # A key file on one machine would leave other machines unable to decrypt.
            raise ConfigError(
                SECRET_KEY_VARIABLE,
                f"must be set when {URL_VARIABLE} points at a server (generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)",
            )
        secret_key = load_or_create_key_file(data_dir / KEY_FILE_NAME)
    box = SecretBox(secret_key)
    database = open_database(url, data_dir)
    try:
        return MetadataStore(database, box)
    except BaseException:
        database.close()
        raise
