"""A fake Telegram Bot API server on loopback, faithful to telegram-bot-api where tests need it."""

from .errors import ApiError
from .fake import DEFAULT_TOKEN, FakeTelegram
from .faults import FUTURE_ORIGIN_TYPE
from .limits import RateLimits
from .models import ApiCall, FakeCallbackQuery, FakeChat, FakeMessage, FakeTopic, FakeUser
from .state import GROUP_ANONYMOUS_BOT_ID
from .webhook import SECRET_HEADER, WebhookPolicy

__all__ = [
    "DEFAULT_TOKEN",
    "FUTURE_ORIGIN_TYPE",
    "GROUP_ANONYMOUS_BOT_ID",
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
