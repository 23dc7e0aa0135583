"""The Klaviyo REST client (httpx): auth, pinned revision, JSON:API paging, pacing, retries.

It only reads from Klaviyo; it never touches the warehouse or the metadata store (OAuth token
rotation is persisted through a callback the caller provides).
"""

from klaviyo_analytics.klaviyo.auth import ApiKeyAuth, OAuthAuth, TokenSet
from klaviyo_analytics.klaviyo.client import REVISION, KlaviyoClient, RetryPolicy
from klaviyo_analytics.klaviyo.errors import (
    BadResponseError,
    KlaviyoApiError,
    KlaviyoError,
    KlaviyoTransientError,
    RateLimitedError,
    ReauthRequiredError,
)
from klaviyo_analytics.klaviyo.ratelimit import ENDPOINT_LIMITS, EndpointLimit, Pacer

__all__ = [
    "ENDPOINT_LIMITS",
    "REVISION",
    "ApiKeyAuth",
    "BadResponseError",
    "EndpointLimit",
    "KlaviyoApiError",
    "KlaviyoClient",
    "KlaviyoError",
    "KlaviyoTransientError",
    "OAuthAuth",
    "Pacer",
    "RateLimitedError",
    "ReauthRequiredError",
    "RetryPolicy",
    "TokenSet",
]
