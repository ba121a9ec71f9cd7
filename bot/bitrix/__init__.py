"""Bitrix24 REST: the client, its limiter and auth, typed errors, settings, the Bitrix24Api seam."""

from bot.bitrix.api import BatchCall, BatchResult, Bitrix24Api
from bot.bitrix.auth import (
    InMemoryTokenStore,
    OAuthAuth,
    OAuthTokens,
    TokenStore,
    WebhookAuth,
    redact_url,
)
from bot.bitrix.client import MAX_BATCH, Bitrix24Client, build_query, create_client
from bot.bitrix.errors import (
    AccessDenied,
    AuthenticationFailed,
    Bitrix24Error,
    Bitrix24Timeout,
    ExpiredToken,
    InvalidGrant,
    InvalidToken,
    MethodNotFound,
    NotFound,
    OperationTimeLimit,
    QueryLimitExceeded,
    ServerError,
    TransportError,
    error_from_envelope,
)
from bot.bitrix.limiter import LeakyBucket
from bot.bitrix.settings import BitrixSettings

__all__ = [
    "MAX_BATCH",
    "AccessDenied",
    "AuthenticationFailed",
    "BatchCall",
    "BatchResult",
    "Bitrix24Api",
    "Bitrix24Client",
    "Bitrix24Error",
    "Bitrix24Timeout",
    "BitrixSettings",
    "ExpiredToken",
    "InMemoryTokenStore",
    "InvalidGrant",
    "InvalidToken",
    "LeakyBucket",
    "MethodNotFound",
    "NotFound",
    "OAuthAuth",
    "OAuthTokens",
    "OperationTimeLimit",
    "QueryLimitExceeded",
    "ServerError",
    "TokenStore",
    "TransportError",
    "WebhookAuth",
    "build_query",
    "create_client",
    "error_from_envelope",
    "redact_url",
]
