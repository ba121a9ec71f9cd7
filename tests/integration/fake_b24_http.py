"""Plain HTTP to FakeBitrix24 for the fake's own tests: no client of ours in between.

Their fixtures too: ``http`` (a client session), ``fake`` (the portal; ``clocked_fake_fixture``
puts it on ``clock``, a :class:`PortalClock` moved by hand) and ``rest``. A test module imports
the fixture functions; pytest knows them by those names."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakes.bitrix24 import FakeBitrix24

BOT_TOKEN = "bt-fake-0123456789abcdef"
RATE = {"burst": 500, "per_second": 500.0}  # the fake's limits: out of the way of these tests


class PortalClock:
    """The portal's clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1_780_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(name="http")
async def http_fixture() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture(name="clock")
def clock_fixture() -> PortalClock:
    return PortalClock()


@pytest.fixture(name="fake")
async def fake_fixture() -> AsyncIterator[FakeBitrix24]:
    async with FakeBitrix24(**RATE) as portal:  # type: ignore[arg-type]
        yield portal


@pytest.fixture(name="fake")
async def clocked_fake_fixture(clock: PortalClock) -> AsyncIterator[FakeBitrix24]:
    async with FakeBitrix24(clock=clock, **RATE) as portal:  # type: ignore[arg-type]
        yield portal


@pytest.fixture(name="rest")
def rest_fixture(fake: FakeBitrix24, http: aiohttp.ClientSession) -> Rest:
    return Rest(fake, http)


@dataclass
class Answer:
    status: int
    body: dict[str, Any]

    @property
    def result(self) -> Any:
        assert self.status == 200 and "result" in self.body, self.body
        return self.body["result"]

    @property
    def error(self) -> str:
        return str(self.body.get("error"))


class Rest:
    """Calls the fake's REST over loopback as a webhook (``botToken`` added to imbot.v2 calls)
    or as the OAuth app."""

    def __init__(self, fake: FakeBitrix24, http: aiohttp.ClientSession) -> None:
        self.fake = fake
        self.http = http
        self.token = BOT_TOKEN
        self._access = ""

    async def __call__(
        self, method: str, params: dict[str, Any] | None = None, *, token: bool = True
    ) -> Answer:
        body = dict(params or {})
        if token and method.lower().startswith("imbot.v2.") and self.token:
            body.setdefault("botToken", self.token)
        return await self._post(f"{self.fake.webhook_url}{method}.json", body)

    async def oauth(self, method: str, params: dict[str, Any] | None = None) -> Answer:
        if not self._access:
            self._access = str(self.fake.issue_tokens()["access_token"])
        body = {**(params or {}), "auth": self._access}
        return await self._post(f"{self.fake.url}/rest/{method}", body)

    async def form(self, method: str, form: dict[str, str]) -> Answer:
        async with self.http.post(f"{self.fake.webhook_url}{method}.json", data=form) as response:
            return Answer(response.status, await response.json())

    async def _post(self, url: str, body: dict[str, Any]) -> Answer:
        async with self.http.post(url, json=body) as response:
            return Answer(response.status, await response.json())

    async def bot(self, code: str = "helpbot", **fields: Any) -> int:
        """An open-line bot with the one hidden ``/helpbot`` command, extranet-enabled unless
        ``extranet=False`` is among ``fields``."""
        extranet = fields.pop("extranet", True)
        register = {"code": code, "type": "openline", "eventMode": "fetch"}
        register |= {"properties": {"name": code.title()}} | fields
        bot_id = int(
            (await self("imbot.v2.Bot.register", {"fields": register})).result["bot"]["id"]
        )
        # Flat keys for REST 32, ``fields`` for 33 and later: each revision reads its own.
        flat = {"command": "helpbot", "hidden": "Y", "extranetSupport": "Y" if extranet else "N"}
        fields = {"command": "helpbot", "hidden": True, "extranetSupport": extranet}
        answer = await self(
            "imbot.v2.Command.register", {"botId": bot_id, **flat, "fields": fields}
        )
        assert answer.status == 200, answer.body
        return bot_id

    async def events(self, bot_id: int, **params: Any) -> list[dict[str, Any]]:
        answer = await self("imbot.v2.Event.get", {"botId": bot_id, **params})
        return list(answer.result["events"])

    async def send(self, bot_id: int, dialog_id: str, **fields: Any) -> Answer:
        params = {"botId": bot_id, "dialogId": dialog_id, "fields": fields}
        return await self("imbot.v2.Chat.Message.send", params)


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


@dataclass
class Receiver:
    """A loopback handler that records webhook-mode POSTs."""

    url: str = ""
    forms: list[dict[str, str]] = field(default_factory=list)


@asynccontextmanager
async def receiver(path: str = "/events") -> AsyncIterator[Receiver]:
    got = Receiver()

    async def on_post(request: web.Request) -> web.Response:
        got.forms.append({k: str(v) for k, v in (await request.post()).items()})
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post(path, on_post)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    got.url = f"http://127.0.0.1:{runner.addresses[0][1]}{path}"
    try:
        yield got
    finally:
        await runner.cleanup()
