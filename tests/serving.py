"""The tests' one way to run the real app on a loopback port: as `helpbot serve` composes it
(:func:`bot.app.build`), on a socket bound before the settings are made (they name its URL);
the one way to point its Telegram settings at the fake Bot API; and a count of what it stored."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from typing import Any

from fakes.telegram_server import FakeTelegram
from sqlalchemy import func, select

from bot.app import Served, build
from bot.clock import Clock
from bot.services import Services
from handlers.settings import Settings
from handlers.telegram.settings import TelegramSettings
from knowledge.base import KnowledgeBase

WEBHOOK_PATH = "/telegram/webhook"


def telegram_settings(
    fake: FakeTelegram, url: str | None = None, secret: str | None = None, **fields: Any
) -> TelegramSettings:
    """TELEGRAM_* for an app on ``fake``: polling, or with ``url`` (the app's base URL) the
    webhook at ``url`` + :data:`WEBHOOK_PATH` checked with ``secret``; ``fields`` override."""
    base: dict[str, Any] = {
        "bot_token": fake.token,
        "api_url": fake.url,
        "local_server": fake.local_mode,
    }
    if url is not None:
        base |= {"mode": "webhook", "webhook_url": url + WEBHOOK_PATH, "webhook_secret": secret}
    return TelegramSettings(**(base | fields))


def loopback() -> tuple[socket.socket, str]:
    """A listening socket on a free 127.0.0.1 port, and the base URL that reaches it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@asynccontextmanager
async def serving(
    settings: Settings,
    sock: socket.socket | None = None,
    *,
    kb: KnowledgeBase | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Served]:
    """The app served on ``sock`` (a fresh loopback one when not given) for the block; its
    channels' workers run until the block ends. The socket is closed in any case."""
    sock = sock if sock is not None else loopback()[0]
    with closing(sock):  # also when the app never took it (its start-up failed)
        async with build(settings, kb=kb, clock=clock) as app, app.serving(sock) as served:
            yield served


async def count_rows(services: Services, model: type[Any], **where: Any) -> int:
    """How many rows of ``model`` the app has stored (with the columns ``where`` names)."""
    async with services.sessions() as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(await session.scalar(query) or 0)
