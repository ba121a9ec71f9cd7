"""A fake Telegram Bot API server on loopback, faithful to telegram-bot-api where tests need it."""

from .errors import ApiError
from .fake import DEFAULT_TOKEN, FakeTelegram
from .limits import RateLimits
from .models import ApiCall, FakeCallbackQuery, FakeChat, FakeMessage, FakeTopic, FakeUser
from .webhook import SECRET_HEADER, WebhookPolicy

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
