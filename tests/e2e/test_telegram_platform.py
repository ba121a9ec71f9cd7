"""End to end, the real app against the fake Telegram as the platform behaves (issue 13 points 7
and 9; issue 12's flood limits): updates and answers from a newer Bot API, the front end's
HTML errors, replicas that poll, command menus, webhook URL rules.

Each test failed on the bot before issue 13's fixes (they were strict xfails naming the point).
The harness (`running`) is test_telegram.py's: the app as `helpbot serve` composes it.
"""

from __future__ import annotations

import logging

import pytest
from deadline import until
from fakes.telegram_server import FakeTelegram, RateLimits
from pydantic import ValidationError
from serving import count_rows, serving
from test_telegram import (
    QUESTION,
    Mode,
    World,
    _escalate,
    make_settings,
    running,
)

from bot.errors import HelpbotError
from bot.settings import ReplicaSettings
from bot.storage.models import DeliveryStatus, OutboxMessage
from handlers.telegram.settings import TelegramSettings
from knowledge.base import KnowledgeBase


async def drained(w: World) -> None:
    """Wait until the outbox has sent (or given up) everything it was given."""

    async def done() -> bool:
        # Rows first: counted the other way round, rows stored between the two reads looked
        # drained before they were sent.
        stored = await count_rows(w.services, OutboxMessage)
        pending = await count_rows(w.services, OutboxMessage, status=DeliveryStatus.PENDING)
        return stored > 0 and pending == 0

    await until(done, "the update done", 10, wake=w.fake.changed)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_update_of_a_newer_api_is_answered_and_holds_up_nobody(
    sqlite_db_url: str, kb: KnowledgeBase, mode: Mode
) -> None:
    async with running(sqlite_db_url, kb, mode) as w:
        ann, bob = w.fake.add_user("Ann"), w.fake.add_user("Bob")
        w.fake.user_sends(ann, QUESTION, extra={"forward_origin": w.fake.future_origin()})
        w.fake.user_sends(bob, QUESTION)

        await w.said(bob, "пароль")
        await w.said(ann, "пароль")


async def test_an_unreadable_successful_send_is_not_sent_again(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.next_result("sendMessage", "unknown_tag")
        w.fake.user_sends(ann, QUESTION)
        await w.said(ann, "пароль")
        await drained(w)

        assert len(w.fake.bot_messages(ann)) == 1
        assert await count_rows(w.services, OutboxMessage, status=DeliveryStatus.DONE) == 1


async def test_an_html_502_is_retried_as_a_transient_failure(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.force_error(1, 502, method="getUpdates", html=True)
        w.fake.force_error(1, 502, method="sendMessage", html=True)
        w.fake.user_sends(ann, QUESTION)
        await w.said(ann, "пароль", timeout=10)
        await drained(w)

        assert len(w.fake.bot_messages(ann)) == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []


async def test_two_replicas_in_polling_mode_do_not_fight(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        settings = make_settings(sqlite_db_url, w.fake, w.group, "polling", w.url)
        second = settings.model_copy(update={"replica": ReplicaSettings(id="replica-b")})
        async with serving(second, kb=kb):  # the second replica's channel may poll now
            people = [w.fake.add_user(f"P{n}") for n in range(4)]
            for person in people:
                w.fake.user_sends(person, QUESTION)
            for person in people:
                await w.said(person, "пароль", timeout=10)
            # A few seconds of polling by whoever polls: ~8 long polls of 0.5 s.
            await w.fake.wait_for(lambda: len(w.fake.calls("getUpdates")) >= 10, timeout=10)

        assert all(len(w.fake.bot_messages(p)) == 1 for p in people)
        assert w.fake.conflicts == 0


async def test_every_person_has_a_menu_and_operators_have_theirs(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        hans = w.fake.add_user("Hans", language_code="de")
        ana = w.fake.add_user("Ana", language_code=None)

        assert "help" in w.fake.menu_for(hans) and "help" in w.fake.menu_for(ana)
        assert "close" in w.fake.menu_for(w.olga, w.group)


async def test_an_http_webhook_is_refused_with_a_configuration_error(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with FakeTelegram() as fake:  # api.telegram.org's rules, not a local server
        group = fake.add_forum_group("Support")
        with pytest.raises((HelpbotError, ValidationError), match="HTTPS"):
            settings = make_settings(sqlite_db_url, fake, group, "webhook", "http://bot.example")
            async with serving(settings, kb=kb):
                pass
        assert fake.calls("setWebhook", ok=True) == []


async def test_the_bots_default_send_limits_keep_within_telegrams(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    """The bot's own limits at their defaults (TelegramSettings) against the fake's flood control
    at Telegram's published limits (RateLimits()): a burst of questions and an escalation are
    delivered without one 429."""
    defaults = {
        name: TelegramSettings.model_fields[name].default
        for name in ("chat_per_second", "group_per_minute", "global_per_second")
    }
    async with running(
        sqlite_db_url, kb, fake_options={"rate_limits": RateLimits()}, telegram=defaults
    ) as w:
        people = [w.fake.add_user(f"P{n}") for n in range(6)]
        for person in people:
            w.fake.user_sends(person, QUESTION)
        for person in people:
            await w.said(person, "пароль", timeout=10)
        await _escalate(w, w.fake.add_user("Eve"))
        await drained(w)

        assert [c for c in w.fake.calls() if c.status == 429] == []
