"""FakeBitrix24: the fake portal on 127.0.0.1, its switches and its records."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Literal, TypeVar

import aiohttp
from aiohttp import web

from ..notify import Signal, wait_until
from .drivers import Drivers
from .entities import CallRecord, Delivery, DroppedPress, FakeMessage, Transfer
from .markup import rendered_text
from .world import Portal

T = TypeVar("T")


class FakeBitrix24(Drivers):
    """A Bitrix24 portal on loopback; ``async with FakeBitrix24() as fake: ...``.

    Point the client at :attr:`webhook_url` (webhook auth) or at :meth:`issue_tokens` plus
    :attr:`oauth_url` (OAuth). Build the world with :meth:`open_line_chat`, then drive it with
    :meth:`customer_sends`, :meth:`operator_sends`, :meth:`intercept`, :meth:`press_button`…;
    assert on :attr:`calls`, :meth:`messages`, :meth:`customer_view`, :attr:`transfers`,
    :attr:`dropped_presses`, :attr:`deliveries`, :attr:`undelivered`, polling with
    :meth:`wait_for`.

    Switches (each a point the platform's sources settle, or the safe side of one they do not):

    * ``clock``: the portal's time in epoch seconds (uuid windows, time-limit blocks, event
      expiry, dates); the request bucket always runs on real time.
    * ``revision``: the REST revision (36 by default, the docs' latest). Below 33 there is no
      ``imbot.v2.Revision.get`` (404) and ``Command.register`` reads only the flat keys; below
      32 ``Event.get`` answers ``lastEventId`` (``event_format`` overrides that) and a missing
      ``botToken`` is ``CLIENT_ID_NOT_SPECIFIED``; below 35 bot objects carry ``appId``.
    * ``require_client_id_in_url`` (on): a webhook-registered bot whose handler URL lacks
      ``CLIENT_ID=<botToken>`` gets no event POST (revision 33 source; later ones unknown).
    * ``customer_keyboards`` (none): connectors whose customers see the bot's keyboard.
    * ``load_limiter`` (on, as in the cloud): ``time.operating`` and ``OPERATION_TIME_LIMIT``.
    * ``update_fills_keyboard_bot_id`` (off): ``Chat.Message.update`` routes a keyboard without
      ``BOT_ID`` to the bot anyway.

    How to check each unsettled one on a live portal: ``docs/bitrix24-live-checks.md``.
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
        clock: Callable[[], float] = time.time,
        revision: int = 36,
        event_format: Literal["nextOffset", "lastEventId"] | None = None,
        require_client_id_in_url: bool = True,
        customer_keyboards: Iterable[str] = (),
        load_limiter: bool = True,
        update_fills_keyboard_bot_id: bool = False,
    ) -> None:
        portal = Portal(
            domain,
            secrets.token_hex(16),
            application_token or secrets.token_hex(16),
            clock=clock,
            revision=revision,
            event_format=event_format,
            require_client_id_in_url=require_client_id_in_url,
        )
        super().__init__(
            portal,
            webhook_user=webhook_user,
            webhook_secret=webhook_secret or secrets.token_hex(8),
            client_id=client_id,
            client_secret=client_secret or secrets.token_hex(20),
            burst=burst,
            per_second=per_second,
            load_limiter=load_limiter,
        )
        self.customer_keyboards = frozenset(customer_keyboards)
        portal.update_fills_keyboard_bot_id = update_fills_keyboard_bot_id
        self.deliveries: list[Delivery] = []
        self._runner: web.AppRunner | None = None
        self._changed = Signal()
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
        """The OAuth app's token: ONAPPINSTALL's and its bots' events' ``application_token``."""
        return self.portal.application_token

    def event_token(self, code: str) -> str:
        """The ``auth[application_token]`` the bot ``code``'s events carry (see
        :meth:`Portal.event_token`)."""
        return self.portal.event_token(self.bot(code))

    async def install(self, url: str) -> Delivery:
        """The portal installs the OAuth app: ONAPPINSTALL to the app's install handler (docs
        ``api-reference/common/events/on-app-install.md``): ``event``, ``data[VERSION|ACTIVE|
        INSTALLED|LANGUAGE_ID]``, ``ts`` and ``auth[...]`` with the ``application_token``."""
        body = {
            "event": "ONAPPINSTALL",
            "data": {"VERSION": "1", "ACTIVE": "Y", "INSTALLED": "Y", "LANGUAGE_ID": "ru"},
            "ts": str(int(self.portal.now())),
            "auth": {k: str(v) for k, v in self.issue_tokens().items()},
        }
        delivery = await self.post_form(url, body)
        self.deliveries.append(delivery)
        return delivery

    # -- records -----------------------------------------------------------------------------

    @property
    def transfers(self) -> list[Transfer]:
        return self.portal.transfers

    @property
    def dropped_presses(self) -> list[DroppedPress]:
        return self.portal.dropped_presses

    @property
    def undelivered(self) -> list[tuple[int, str, str]]:
        """Webhook-mode events never POSTed: ``(bot id, event, why)``."""
        return self.portal.undelivered

    def calls_to(self, method: str) -> list[CallRecord]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    def pending_events(self, code: str) -> list[dict[str, Any]]:
        """Fetch-mode events not yet acknowledged by an ``offset``."""
        return list(self.bot(code).queue)

    def rendered_text(self, message: FakeMessage) -> str:
        """What a reader sees of ``message`` once the portal applied its markup."""
        return rendered_text(message.text)

    async def wait_for(
        self, predicate: Callable[[], T], deadline_s: float = 5.0, what: str = "condition"
    ) -> T:
        """Re-check ``predicate`` on each change (or every 50 ms) until truthy or the deadline."""

        def timed_out() -> AssertionError:
            return AssertionError(f"timed out after {deadline_s}s waiting for {what}")

        return await wait_until(predicate, self._changed, deadline_s, timed_out)

    def portal_changed(self) -> None:
        self._changed.notify()
