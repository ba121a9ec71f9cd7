"""The Bitrix24 channel's settings section, BITRIX_*: how to reach the portal, the bot's identity,
events and limits; part of :class:`handlers.settings.Settings`."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from yarl import URL

__all__ = ["BitrixSettings"]

_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def _check_url(value: str, what: str) -> str:
    url = URL(value)
    if not url.host or url.scheme not in ("http", "https"):
        raise ValueError(f"{what} must be an absolute URL")
    if url.scheme == "http" and url.host not in _LOOPBACK:
        raise ValueError(f"{what} must use https (Bitrix24 refuses plain http)")
    return value


class BitrixSettings(BaseModel):
    """Read as ``BITRIX_<FIELD>``: BITRIX_WEBHOOK_URL, or BITRIX_CLIENT_ID + BITRIX_CLIENT_SECRET.

    With neither, the Bitrix24 channel is off (``enabled`` is False).
    """

    model_config = ConfigDict(hide_input_in_errors=True)  # inputs may be webhook URLs or tokens

    webhook_url: SecretStr | None = None  # https://portal/rest/<user>/<secret>/
    client_id: str = ""
    client_secret: SecretStr | None = None
    oauth_url: str = "https://oauth.bitrix.info/oauth/token/"
    bot_code: str = "helpbot"
    bot_token: SecretStr | None = None  # the v2 botToken for webhook auth, at most 40 characters
    event_mode: Literal["fetch", "webhook"] = "fetch"
    public_url: str = ""  # where the portal POSTs events in webhook mode
    # The expected auth[application_token] of webhook-mode events. Optional: an OAuth app's is the
    # one its installation brought; a webhook-registered bot's is "custom" + BITRIX_BOT_TOKEN.
    app_token: SecretStr | None = None
    rate_burst: int = Field(default=50, ge=1)
    rate_per_second: float = Field(default=2.0, gt=0)
    request_timeout: float = Field(default=30.0, gt=0)
    connect_timeout: float = Field(default=10.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    max_concurrency: int = Field(default=10, ge=1)  # requests in flight to the portal at once
    fetch_interval: float = Field(default=5.0, gt=0)  # seconds between idle Event.get polls
    fetch_busy_interval: float = Field(default=2.0, gt=0)  # ... while events keep coming
    finish_after_helped: int = Field(default=0, ge=0)  # minutes after «Помогло»; 0: never finish

    @field_validator("webhook_url", "client_secret", "bot_token", "app_token", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        url = URL(value.get_secret_value())
        parts = [p for p in url.path.split("/") if p]
        _check_url(str(url.with_path("/")), "the webhook URL")
        if len(parts) < 3 or parts[0] != "rest" or not parts[1].isdigit():
            # The message must not echo the URL: it holds the secret.
            raise ValueError("must look like https://portal/rest/<user id>/<secret>/")
        return value

    @field_validator("bot_token")
    @classmethod
    def _bot_token_length(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) > 40:
            raise ValueError("must be at most 40 characters")
        return value

    @field_validator("oauth_url")
    @classmethod
    def _oauth_url(cls, value: str) -> str:
        return _check_url(value, "the OAuth server URL")

    @model_validator(mode="after")
    def _consistent(self) -> BitrixSettings:
        if bool(self.client_id) != (self.client_secret is not None):
            raise ValueError("BITRIX_CLIENT_ID and BITRIX_CLIENT_SECRET go together")
        if not self.enabled:
            return self
        if self.webhook_url is not None and self.bot_token is None:
            raise ValueError("webhook auth needs BITRIX_BOT_TOKEN (the imbot.v2 botToken)")
        if self.event_mode == "webhook":
            if not self.public_url:
                raise ValueError("BITRIX_EVENT_MODE=webhook needs BITRIX_PUBLIC_URL")
            _check_url(self.public_url, "BITRIX_PUBLIC_URL")
        return self

    @property
    def enabled(self) -> bool:
        return self.webhook_url is not None or bool(self.client_id)

    def secrets(self) -> tuple[str, ...]:
        """Values logs must never show: the webhook secret (and URL), tokens, the client secret."""
        found = [
            s.get_secret_value() for s in (self.client_secret, self.bot_token, self.app_token) if s
        ]
        if self.webhook_url is not None:
            url = self.webhook_url.get_secret_value()
            parts = [p for p in URL(url).path.split("/") if p]
            found += [url, *parts[2:3]]
        return tuple(found)

    @property
    def auth_mode(self) -> Literal["webhook", "oauth", "off"]:
        if self.webhook_url is not None:
            return "webhook"
        return "oauth" if self.client_id else "off"
