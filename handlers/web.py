"""The project's one aiohttp application: every configured channel's routes and workers."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.app import Services
from handlers.bitrix24 import setup_bitrix
from handlers.telegram.channel import setup_telegram

log = logging.getLogger(__name__)

HEALTH_PATH = "/healthz"
NOTHING_CONFIGURED = (
    "no channel is configured: set TELEGRAM_BOT_TOKEN (and OPERATOR_CHAT_ID) for Telegram, "
    "or BITRIX_WEBHOOK_URL / BITRIX_CLIENT_ID for Bitrix24 (see .env.example)"
)


def create_web_app(services: Services) -> tuple[web.Application, list[str]]:
    """The web app with every configured channel mounted, and the names of those channels."""
    app = web.Application()
    app.router.add_get(HEALTH_PATH, _health)
    channels = [
        name
        for name, setup in (("telegram", setup_telegram), ("bitrix24", setup_bitrix))
        if setup(app, services)
    ]
    log.info("web app created channels=%s", ",".join(channels) or "none")
    return app, channels


async def _health(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})
