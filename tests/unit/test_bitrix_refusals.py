"""A portal-wide refusal (bitrix24/b24restdocs ``_includes/system-errors.md``) against a refusal
for one chat: which error each answer is and what the sender makes of it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from bot.clock import SystemClock
from bot.delivery import Call, Done, Failed, NotReady, Retry
from handlers.bitrix24.rest.api import BatchCall, BatchResult
from handlers.bitrix24.rest.errors import (
    AccessDenied,
    Bitrix24Error,
    PortalRefused,
    error_from_envelope,
)
from handlers.bitrix24.sender import BitrixSender

PORTAL_WIDE = [
    ("ACCESS_DENIED", "REST is available only on commercial plans", 401),  # current table
    ("ACCESS_DENIED", "REST is available only by subscription", 401),  # a webhook's text
    ("ACCESS_DENIED", "REST API is available only on commercial plans", 403),  # earlier table
    ("INVALID_CREDENTIALS", "Invalid request credentials", 401),
    ("insufficient_scope", "The request requires higher privileges than provided", 401),
    ("user_access_error", "The user does not have access to the application", 401),
    ("OVERLOAD_LIMIT", "REST API is blocked due to overload", 503),  # earlier table: 503
    ("PORTAL_DELETED", "Portal was deleted", 403),
]
ONE_CHAT = [
    ("ACCESS_DENIED", "Access denied", 400),  # CheckActionAccess: the bot is not a member
    ("ACCESS_DENIED", "Access denied! Client ID not specified.", 403),  # session.finish
    ("MESSAGE_ACCESS_DENIED", "You do not have access to this message", 400),
]


@pytest.mark.parametrize(("code", "text", "status"), PORTAL_WIDE)
def test_a_refusal_of_the_rest_server_itself_refuses_the_portal(
    code: str, text: str, status: int
) -> None:
    assert isinstance(error_from_envelope(code, text, status), PortalRefused)


@pytest.mark.parametrize(("code", "text", "status"), ONE_CHAT)
def test_a_methods_own_access_error_concerns_one_call(code: str, text: str, status: int) -> None:
    error = error_from_envelope(code, text, status)
    assert not isinstance(error, PortalRefused)
    assert isinstance(error, AccessDenied) == (code == "ACCESS_DENIED")


class _Refusing:
    """The portal answering every call with one error."""

    def __init__(self, error: Bitrix24Error) -> None:
        self.error = error

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        raise self.error

    async def batch(self, calls: Mapping[str, BatchCall], *, halt: bool = False) -> BatchResult:
        raise self.error


CALL = Call(1, "chat7", "imbot.v2.Chat.Message.send", {"botId": 9, "dialogId": "chat7"})


@pytest.mark.parametrize(("code", "text", "status"), PORTAL_WIDE[:1] + ONE_CHAT[:1])
async def test_the_sender_holds_the_channel_only_for_a_portal_wide_refusal(
    code: str, text: str, status: int
) -> None:
    refusing = _Refusing(error_from_envelope(code, text, status))
    sender = BitrixSender(refusing, SystemClock(), bot_code="helpbot")
    outcome = await sender.send(CALL)
    if status == 401:
        assert isinstance(outcome, NotReady) and text in outcome.reason
    else:
        assert isinstance(outcome, Failed) and outcome.reason == f"{code}: {text}"


class _Portal:
    """A portal whose bot ``helpbot`` has id ``bot``; a send as any other id is refused."""

    def __init__(self, bot: int | None) -> None:
        self.bot = bot
        self.asked = 0
        self.sent: list[Mapping[str, Any]] = []

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        params = params or {}
        if method == "imbot.v2.Bot.get":
            self.asked += 1
            if self.bot is None:
                raise error_from_envelope("BOT_NOT_FOUND", "Bot not found", 400)
            return {"bot": {"id": self.bot, "code": "helpbot", "eventMode": "fetch"}}
        if params.get("botId") != self.bot:
            raise error_from_envelope("BOT_NOT_FOUND", "Bot not found", 400)
        self.sent.append(params)
        return {"id": len(self.sent)}


async def test_the_sender_sends_as_the_portals_bot_and_asks_again_when_it_was_registered_anew() -> (
    None
):
    portal = _Portal(bot=5)
    sender = BitrixSender(portal, SystemClock(), bot_code="helpbot")  # type: ignore[arg-type]
    assert isinstance(await sender.send(CALL), Done)
    assert isinstance(await sender.send(CALL), Done) and portal.asked == 1  # asked once
    assert [p["botId"] for p in portal.sent] == [5, 5]  # the row's own 9 is not the bot now

    portal.bot = 8  # `helpbot bitrix register` made the bot again
    assert isinstance(await sender.send(CALL), Retry)  # refused as 5: asked again next time
    assert isinstance(await sender.send(CALL), Done) and portal.sent[-1]["botId"] == 8

    portal.bot = None  # the bot is gone: the rows wait, the channel says why
    assert isinstance(await sender.send(CALL), Retry)
    outcome = await sender.send(CALL)
    assert isinstance(outcome, NotReady) and "helpbot bitrix register" in outcome.reason


async def test_the_fetch_pollers_question_at_its_start_is_the_one_the_sends_use() -> None:
    """One ``imbot.v2.Bot.get`` a start in fetch mode: the poller asks (fresh: a bot registered
    again since the last start has a new id) and the sender keeps that answer."""
    portal = _Portal(bot=5)
    sender = BitrixSender(portal, SystemClock(), bot_code="helpbot")  # type: ignore[arg-type]
    assert await sender.bot_id(fresh=True) == 5  # the poller's start
    assert isinstance(await sender.send(CALL), Done) and portal.asked == 1
    portal.bot = 8  # registered again, then the poller restarted
    assert await sender.bot_id(fresh=True) == 8 and portal.asked == 2
    assert isinstance(await sender.send(CALL), Done) and portal.asked == 2
    assert portal.sent[-1]["botId"] == 8
