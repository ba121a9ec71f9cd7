"""FakeBitrix24: the fake portal on 127.0.0.1 and the calls that play customers and operators."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from ..notify import Signal, wait_until
from .methods import Caller, session_operator
from .phpform import flatten
from .wire import Wire
from .world import (
    CallRecord,
    Delivery,
    FakeBot,
    FakeChat,
    FakeMessage,
    FakeSession,
    FakeUser,
    Portal,
    Transfer,
)

T = TypeVar("T")


class FakeBitrix24(Wire):
    """A Bitrix24 portal on loopback; ``async with FakeBitrix24() as fake: ...``.

    Point the client at :attr:`webhook_url` (webhook auth) or at :meth:`issue_tokens` plus
    :attr:`oauth_url` (OAuth). Build the world with :meth:`open_line_chat`, then drive it with
    :meth:`customer_sends`, :meth:`operator_sends`, :meth:`press_button`; assert on :attr:`calls`,
    :meth:`messages`, :attr:`transfers`, :attr:`deliveries`, polling with :meth:`wait_for`.
    """

    def __init__(
        self,
        *,
        webhook_user: int = 1,
        webhook_secret: str | None = None,
        client_id: str = "local.fake0000000001.00000001",
        client_secret: str | None = None,
        application_token: str | None = None,
        burst: int = 50,
        per_second: float = 2.0,
        domain: str = "fake.bitrix24.test",
    ) -> None:
        portal = Portal(domain, secrets.token_hex(16), application_token or secrets.token_hex(16))
        super().__init__(
            portal,
            webhook_user=webhook_user,
            webhook_secret=webhook_secret or secrets.token_hex(8),
            client_id=client_id,
            client_secret=client_secret or secrets.token_hex(20),
            burst=burst,
            per_second=per_second,
        )
        self.deliveries: list[Delivery] = []
        self.webhook_timeout = 5.0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self._changed = Signal()
        self._operator: FakeUser | None = None
        self.url = ""

    async def __aenter__(self) -> FakeBitrix24:
        app = web.Application()
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        self.portal.client_endpoint = f"{self.url}/rest/"
        self._http = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        if self._http is not None:
            await self._http.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- addresses and credentials -----------------------------------------------------------

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/rest/{self.webhook_user}/{self.webhook_secret}/"

    @property
    def oauth_url(self) -> str:
        return f"{self.url}/oauth/token/"

    @property
    def application_token(self) -> str:
        return self.portal.application_token

    # -- records -----------------------------------------------------------------------------

    @property
    def transfers(self) -> list[Transfer]:
        return self.portal.transfers

    def calls_to(self, method: str) -> list[CallRecord]:
        return [c for c in self.calls if c.method == method]

    def messages(self, chat: FakeChat | str) -> list[FakeMessage]:
        dialog_id = chat.dialog_id if isinstance(chat, FakeChat) else chat
        return list(self.portal.dialogs.get(dialog_id, []))

    def bot_messages(self, chat: FakeChat | str) -> list[FakeMessage]:
        return [m for m in self.messages(chat) if m.kind == "bot"]

    def bot(self, code: str) -> FakeBot:
        return next(b for b in self.portal.bots.values() if b.code == code)

    def pending_events(self, code: str) -> list[dict[str, Any]]:
        """Fetch-mode events not yet acknowledged by an ``offset``."""
        return list(self.bot(code).queue)

    async def wait_for(
        self, predicate: Callable[[], T], deadline_s: float = 5.0, what: str = "condition"
    ) -> T:
        """Re-check ``predicate`` on each change (or every 50 ms) until truthy or the deadline."""

        def timed_out() -> AssertionError:
            return AssertionError(f"timed out after {deadline_s}s waiting for {what}")

        return await wait_until(predicate, self._changed, deadline_s, timed_out)

    def portal_changed(self) -> None:
        self._changed.notify()

    # -- the open-line world -----------------------------------------------------------------

    def configure_line(
        self, line_id: int, *, welcome_bot: str | None = None, bot_left: str = "queue"
    ) -> None:
        """WELCOME_BOT_ID (by code) and WELCOME_BOT_LEFT (``queue`` or ``close``) of a line."""
        config = self.portal.line(line_id)
        config.welcome_bot_id = self.bot(welcome_bot).id if welcome_bot else None
        config.welcome_bot_left = "close" if bot_left == "close" else "queue"

    def add_operator(self, name: str = "Olga Operator") -> FakeUser:
        return self.portal.add_user(name, "employee")

    async def open_line_chat(
        self, line_id: int = 1, *, customer_name: str = "Guest", connector: str = "livechat"
    ) -> FakeChat:
        """A widget visitor opens a chat: a connector user, a LINES chat, a session, JOINCHAT."""
        customer = self.portal.add_user(customer_name, "connector")
        chat = FakeChat(
            self.portal.new_id(), line_id, connector, customer, FakeSession(0, "closed", None)
        )
        chat.members.add(customer.id)
        self.portal.chats[chat.id] = chat
        self.portal.start_session(chat)
        await self._deliver()
        return chat

    async def customer_sends(self, chat: FakeChat, text: str) -> FakeMessage:
        """The visitor writes; the bot hears it while the session is still the bot's."""
        if chat.session.state == "closed":
            self.portal.start_session(chat)
        message = self.portal.post(chat.dialog_id, chat.customer.id, text, "customer")
        if text.strip() == "0" and chat.session.state == "bot":
            # Core-source quirk (digest §4.3): a bare "0" ends the bot's part of the session.
            session_operator(self.portal, Caller("webhook", 0), {"CHAT_ID": chat.id})
        else:
            self.portal.notify_bots(chat, message, chat.customer)
        await self._deliver()
        return message

    async def operator_sends(
        self, chat: FakeChat, text: str, *, operator: FakeUser | None = None
    ) -> FakeMessage:
        """An employee writes in the chat (joining it); bots still in the chat hear it too."""
        if operator is None:
            self._operator = self._operator or self.add_operator()
            operator = self._operator
        chat.members.add(operator.id)
        if chat.session.state in ("queue", "operator", "bot"):
            chat.session.state = "operator"
            chat.session.operator_id = operator.id
        message = self.portal.post(chat.dialog_id, operator.id, text, "operator")
        self.portal.notify_bots(chat, message, operator)
        await self._deliver()
        return message

    async def operator_finishes(self, chat: FakeChat) -> None:
        """The operator closes the session; the customer's next message opens a new one."""
        chat.session.state = "closed"
        chat.members -= set(self.portal.bots)
        self.portal_changed()

    async def press_button(
        self, chat: FakeChat, command: str, params: str | None = None
    ) -> FakeMessage:
        """The visitor presses a COMMAND button on the latest bot message showing it."""
        name = command.lstrip("/")
        for message in reversed(self.bot_messages(chat)):
            button = next((b for b in message.buttons if b.get("COMMAND") == name), None)
            if button is None or (params is not None and button.get("COMMAND_PARAMS") != params):
                continue
            if button.get("DISABLED") == "Y" or (button.get("BLOCK") == "Y" and message.pressed):
                raise LookupError(f"button {name!r} is blocked")
            bot = self.portal.bots.get(message.author_id)
            if bot is None or name not in bot.commands:
                raise LookupError(f"/{name} is not registered: Bitrix24 would not route the press")
            message.pressed.add(name)
            if bot.id in chat.members:
                self.portal.emit(
                    bot,
                    "ONIMBOTV2COMMANDADD",
                    {
                        "command": {
                            "id": bot.commands[name], "command": f"/{name}",
                            "params": str(button.get("COMMAND_PARAMS") or ""),
                            "context": "keyboard",
                        },
                        "message": message.entity(chat.id),
                        "chat": chat.entity(),
                        "user": chat.customer.entity(),
                        "language": "ru",
                    },
                )  # fmt: skip
            await self._deliver()
            return message
        raise LookupError(f"no bot message in {chat.dialog_id} shows a /{name} button")

    async def _deliver(self) -> None:
        """POST queued webhook-mode events, form-encoded; no retry, failures only recorded."""
        self.portal_changed()
        while self.portal.outbox:
            bot, body = self.portal.outbox.pop(0)
            form = flatten(body)
            self.deliveries.append(await self._post(bot.webhook_url, body["event"], form))
            self.portal_changed()

    async def _post(self, url: str, event: str, form: list[tuple[str, str]]) -> Delivery:
        assert self._http is not None, "use FakeBitrix24 as an async context manager"
        try:
            timeout = aiohttp.ClientTimeout(total=self.webhook_timeout)
            async with self._http.post(url, data=form, timeout=timeout) as response:
                await response.read()
                return Delivery(url, event, form, response.status)
        except (aiohttp.ClientError, TimeoutError):
            return Delivery(url, event, form, None)
