"""The Telegram channel's settings sections: TELEGRAM_* (the bot, how updates arrive, the send
limits) and OPERATOR_CHAT_ID (the operators' forum group), part of
:class:`handlers.settings.Settings`."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

__all__ = ["WEBHOOK_PORTS", "OperatorSettings", "TelegramSettings"]


class TelegramSettings(BaseModel):
    """TELEGRAM_BOT_TOKEN (the channel is off without it), TELEGRAM_MODE=polling|webhook, ...

    Webhook mode needs TELEGRAM_WEBHOOK_URL (the public https address Telegram posts to; its path
    is served by the web app) and TELEGRAM_WEBHOOK_SECRET (1-256 of ``A-Za-z0-9_-``).
    api.telegram.org delivers only to HTTPS on ports 443, 80, 88 or 8443; TELEGRAM_LOCAL_SERVER=true
    says TELEGRAM_API_URL is one's own ``telegram-bot-api --local``, which takes any http(s) URL.
    """

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs may be tokens

    bot_token: SecretStr | None = None
    api_url: str = "https://api.telegram.org"
    mode: Literal["polling", "webhook"] = "polling"
    webhook_url: str = ""
    webhook_secret: SecretStr | None = None
    local_server: bool = False  # TELEGRAM_API_URL is a `telegram-bot-api --local` server
    poll_timeout: int = Field(default=25, ge=0, le=50)  # seconds a long poll is held
    chat_per_second: float = Field(default=1.0, gt=0)  # sends to one private chat
    group_per_minute: float = Field(default=20.0, gt=0)  # sends to one group (all its topics)
    global_per_second: float = Field(default=30.0, gt=0)  # sends to all chats together

    @field_validator("bot_token", "webhook_secret", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        # The message must not echo the token.
        if value is not None and not re.fullmatch(r"\d+:[\w-]+", value.get_secret_value()):
            raise ValueError("must look like 123456:ABC-DEF… (from @BotFather)")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _secret_shape(cls, value: SecretStr | None) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if value is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ValueError("must be 1-256 characters of A-Z, a-z, 0-9, _ and -")
        return value

    @model_validator(mode="after")
    def _webhook_complete(self) -> TelegramSettings:
        if self.enabled and self.mode == "webhook":
            if not re.match(r"https?://[^/]+", self.webhook_url):
                raise ValueError("TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_URL (https://…)")
            if not self.local_server:
                _check_public_webhook(self.webhook_url)
            if self.webhook_secret is None:
                raise ValueError("TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET")
        return self

    @property
    def enabled(self) -> bool:
        return self.bot_token is not None


WEBHOOK_PORTS = (443, 80, 88, 8443)  # the only ports api.telegram.org delivers to


def _check_public_webhook(url: str) -> None:
    """api.telegram.org's own rule (telegram-bot-api WebhookActor): HTTPS, on an allowed port."""
    parts = urlsplit(url)
    try:
        port = parts.port or 443
    except ValueError:
        port = 0
    if parts.scheme.lower() != "https" or port not in WEBHOOK_PORTS:
        raise ValueError(
            "TELEGRAM_WEBHOOK_URL must be an HTTPS address on port 443, 80, 88 or 8443 "
            "(Telegram delivers nowhere else); with your own `telegram-bot-api --local` server "
            "as TELEGRAM_API_URL, set TELEGRAM_LOCAL_SERVER=true"
        )


class OperatorSettings(BaseModel):
    """OPERATOR_CHAT_ID: the Telegram forum supergroup (-100…) where operators take tickets."""

    chat_id: int | None = None
