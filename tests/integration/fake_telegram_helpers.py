"""Helpers for the tests of the fake Telegram Bot API itself: a real aiogram client, a raw HTTP
caller (exact status, headers and body), and a loopback webhook receiver."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiohttp import web
from fakes.telegram_server import FakeTelegram, WebhookPolicy

FAST_WEBHOOK = WebhookPolicy(retry_base=0.01, retry_cap=0.05, max_attempts=5, timeout=2.0)


def make_bot(fake: FakeTelegram, token: str | None = None) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(fake.url))
    default = DefaultBotProperties(parse_mode="HTML", link_preview_is_disabled=True)
    return Bot(token or fake.token, session=session, default=default)


def keyboard(*data: str) -> InlineKeyboardMarkup:
    rows = [[InlineKeyboardButton(text=item, callback_data=item)] for item in data]
    return InlineKeyboardMarkup(inline_keyboard=rows)


@dataclass(frozen=True)
class Raw:
    """One answer as it came over the wire."""

    status: int
    content_type: str
    headers: dict[str, str]
    text: str

    @property
    def body(self) -> dict[str, Any]:
        loaded = json.loads(self.text)
        assert isinstance(loaded, dict)
        return loaded

    @property
    def result(self) -> Any:
        assert self.status == 200, self.text
        return self.body["result"]

    @property
    def description(self) -> str:
        body = self.body
        assert body["ok"] is False and body["error_code"] == self.status, body
        return str(body["description"])


async def call(fake: FakeTelegram, method: str, token: str | None = None, **params: Any) -> Raw:
    """POST one method form-encoded (nested values as JSON text), as aiogram does."""
    form = {
        name: value if isinstance(value, str) else json.dumps(value)
        for name, value in params.items()
        if value is not None
    }
    url = f"{fake.url}/bot{token or fake.token}/{method}"
    async with aiohttp.ClientSession() as http, http.post(url, data=form) as response:
        return Raw(
            response.status,
            response.content_type,
            dict(response.headers),
            await response.text(),
        )


class Receiver:
    """A webhook endpoint on loopback that answers with scripted statuses and records requests."""

    def __init__(self, statuses: list[int], reply: dict[str, Any] | None = None) -> None:
        self.statuses = statuses
        self.reply = reply
        self.requests: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _on_update(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.json()))
        status = self.statuses.pop(0) if self.statuses else 200
        if status == 200 and self.reply is not None:
            return web.json_response(self.reply)
        return web.Response(status=status)

    async def __aenter__(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/tg/webhook", self._on_update)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/tg/webhook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()
