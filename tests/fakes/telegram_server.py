"""The fake Telegram Bot API server for e2e tests (implemented in tests/fakes/telegram/)."""

from .telegram import (
    DEFAULT_TOKEN,
    SECRET_HEADER,
    ApiCall,
    ApiError,
    FakeCallbackQuery,
    FakeChat,
    FakeMessage,
    FakeTelegram,
    FakeTopic,
    FakeUser,
    RateLimits,
    WebhookPolicy,
)

__all__ = [
    "DEFAULT_TOKEN",
    "SECRET_HEADER",
    "ApiCall",
    "ApiError",
    "FakeCallbackQuery",
    "FakeChat",
    "FakeMessage",
    "FakeTelegram",
    "FakeTopic",
    "FakeUser",
    "RateLimits",
    "WebhookPolicy",
]
