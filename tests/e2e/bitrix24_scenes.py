"""Scenes for the issue-13 end-to-end targets: the harness's app on a faithful portal, plus waits.

The portal and the app come from ``tests/e2e/test_bitrix24.py``'s harness; what is added here is
how to play a scene (both event modes, a shared clock, customers who can press) and how to wait
for something to have happened — or not — on the fake's records and the database.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from conftest import FakeClock
from deadline import until
from fakes.bitrix24 import FakeBitrix24, FakeChat, FakeMessage
from pydantic import SecretStr
from sqlalchemy import select
from test_bitrix24 import BOT_TOKEN, Mode, inbox_settled, portal_and_app

from bot.payloads import Press, decode
from bot.services import Services
from bot.settings import DatabaseSettings
from bot.storage.models import DeliveryStatus, OutboxMessage
from handlers.bitrix24.render import COMMAND
from handlers.bitrix24.settings import BitrixSettings
from handlers.settings import Settings
from knowledge.base import KnowledgeBase

SEND = "imbot.v2.Chat.Message.send"
MODES = ["fetch", "webhook"]


@asynccontextmanager
async def scene(
    db_url: str, kb: KnowledgeBase, mode: Mode, **options: Any
) -> AsyncIterator[tuple[FakeBitrix24, Services]]:
    """The harness's portal and app. Webhook mode: handler URLs need no ``CLIENT_ID`` and the bot
    expects the ``"custom" + botToken`` its events carry (see point 4's own tests)."""
    if mode == "webhook":
        options.setdefault("require_client_id_in_url", False)
        options.setdefault("bitrix", {})["app_token"] = SecretStr("custom" + BOT_TOKEN)
    async with portal_and_app(db_url, kb, mode, **options) as (fake, services, _):
        yield fake, services


def customers_can_press(fake: FakeBitrix24) -> None:
    """A widget that renders keyboards, and an admin who repaired the command (point 1)."""
    fake.customer_keyboards = frozenset({"livechat"})
    fake.set_command_flags("helpbot", COMMAND, extranet_support=True)


async def handled(fake: FakeBitrix24, services: Services, message: FakeMessage) -> None:
    """The bot has stored ``message``'s event and worked off its inbox and outbox.

    Stored: a webhook-mode POST is answered only after that; in fetch mode the next
    ``Event.get`` offset deletes the event from the portal. The bot's own event keys are not
    assumed (the fix may change them).
    """

    def of_message(event: dict[str, Any]) -> bool:
        return bool(event["data"].get("message", {}).get("id") == message.id)

    await fake.wait_for(
        lambda: not any(of_message(e) for e in fake.pending_events("helpbot")), 20, "stored"
    )
    await until(lambda: inbox_settled(services), "the inbox and outbox worked off")


async def silent_after(fake: FakeBitrix24, services: Services, chat: FakeChat, text: str) -> None:
    """The customer writes; once the bot has handled it, it has said nothing."""
    before = len(fake.bot_messages(chat))
    await handled(fake, services, await fake.customer_sends(chat, text))
    assert len(fake.bot_messages(chat)) == before, fake.bot_messages(chat)[-1].text


class ScaledClock:
    """Time that runs ``scale`` times faster than real time, shared by the app and the portal
    (the workers wake on real time, so stepping a clock by hand races them)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale
        self._start = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
        self._began = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=(time.monotonic() - self._began) * self.scale)


async def send_rows(services: Services) -> list[tuple[object, ...]]:
    """The state of the outbox's message sends, to see when the sender has handled an answer."""
    async with services.sessions() as session:
        rows = await session.execute(
            select(
                OutboxMessage.id, OutboxMessage.status, OutboxMessage.attempts,
                OutboxMessage.error, OutboxMessage.not_before,
            ).where(OutboxMessage.method == SEND)
        )  # fmt: skip
        return [tuple(row) for row in rows]


async def noted(services: Services, before: list[tuple[object, ...]] | None) -> None:
    """Wait (2 s at most: a pause kept in memory changes no row) until the sender has written
    down the answer to its last send; ``before`` None: the answer to a first, failed send."""

    async def changed() -> bool:
        rows = await send_rows(services)
        return rows != before if before is not None else any(r[3] for r in rows)

    with contextlib.suppress(AssertionError):
        await until(changed, "the sender's note of the answer", 2.0)


async def step_clock(
    fake: FakeBitrix24,
    services: Services,
    clock: FakeClock,
    *,
    total: float,
    step: float,
    first: bool = False,
) -> None:
    """Move the shared clock ``step`` seconds at a time (each move wakes the sender:
    ``running_app``). After a step that makes a send due (a pending row whose time has come; a
    pause kept in memory only ever delays it further) the sender gets up to a second and a half
    to try it; when it does, the clock waits until the sender has noted the answer (so its next
    time is reckoned from this step, not the next). A step with nothing due moves on at once.
    ``first``: a send is under way already; let the sender note it before the clock moves."""
    if first:
        await noted(services, None)
    moved = 0.0
    while moved < total:
        before, seen = await send_rows(services), len(fake.calls_to(SEND))
        clock.advance(seconds=step)
        moved += step
        if not _due(before, clock.now()):
            continue  # no row may be sent yet: the sender has nothing to try at this step
        try:
            await fake.wait_for(lambda s=seen: len(fake.calls_to(SEND)) > s, 1.5, "a send")
        except AssertionError:
            continue  # nothing was due at this step
        await noted(services, before)


def _due(rows: list[tuple[object, ...]], now: datetime) -> bool:
    """Whether one of the outbox's message sends (:func:`send_rows`) is pending and due."""
    return any(
        status == DeliveryStatus.PENDING and isinstance(when, datetime) and when <= now
        for _id, status, _attempts, _error, when in rows
    )


def webhook_mode(db_url: str, public_url: str, **bitrix: Any) -> Settings:
    """Webhook event mode with no BITRIX_APP_TOKEN: the bot must learn the token itself."""
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=DatabaseSettings(url=db_url),
        bitrix=BitrixSettings(event_mode="webhook", public_url=public_url, **bitrix),
    )


def picks(fake: FakeBitrix24, chat: FakeChat) -> list[str]:
    """The labels of the latest «did you mean» choices, in order."""
    for message in reversed(fake.bot_messages(chat)):
        labels = [
            str(b["TEXT"])
            for b in message.buttons
            if (p := decode(str(b.get("COMMAND_PARAMS", "")))) and p.press is Press.PICK
        ]
        if labels:
            return labels
    raise AssertionError("no «did you mean» choices")
