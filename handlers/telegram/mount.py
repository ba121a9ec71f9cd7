"""The Telegram channel's mount on the web app, light: aiogram (seconds of start-up: its
pydantic models are built at import) is imported only when the channel is configured, so a
`helpbot serve` of the help center or of Bitrix24 alone starts without it."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from bot.services import Services
from handlers.settings import whole


def setup_telegram(app: web.Application, services: Services) -> Callable[[], str | None] | None:
    """:func:`handlers.telegram.channel.setup_telegram` when Telegram is configured; None
    (nothing mounted, nothing imported) when it is not."""
    if not whole(services.settings).telegram.enabled:
        return None
    from handlers.telegram.channel import setup_telegram as mount

    return mount(app, services)
