"""End to end: the real app (engine, storage, Telegram channel) against FakeTelegram on loopback.

Nothing of ours is mocked: the app reaches the fake Bot API only through TELEGRAM_API_URL, on a
SQLite database migrated with Alembic. Both update modes: long polling and the webhook route.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp
import pytest
from deadline import until
from fakes.telegram_server import (
    SECRET_HEADER,
    FakeCallbackQuery,
    FakeChat,
    FakeMessage,
    FakeTelegram,
    FakeUser,
    WebhookPolicy,
)
from serving import WEBHOOK_PATH, count_rows, loopback, serving, telegram_settings
from sqlalchemy import select

from bot.__main__ import main
from bot.clock import Clock
from bot.services import Services
from bot.settings import DatabaseSettings, RedisSettings
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage, Ticket
from handlers.settings import Settings
from handlers.telegram.channel import create_telegram_channel
from handlers.telegram.settings import OperatorSettings
from handlers.telegram.startlinks import entry_token
from knowledge.base import KnowledgeBase, Thresholds

Mode = Literal["polling", "webhook"]
QUESTION = "Как восстановить пароль от Битрикс24"
OFF_TOPIC = "как приготовить плов в казане"
AMBIGUOUS = "права доступа"  # several entries on access rights: a choice, with a strict KB
SECRET = "webhook-secret_0123456789"
FAST_WEBHOOK = WebhookPolicy(retry_base=0.01, retry_cap=0.05, max_attempts=5, timeout=5.0)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.DEBUG)
    yield caplog


@dataclass
class World:
    fake: FakeTelegram
    services: Services
    group: FakeChat
    olga: FakeUser  # an operator, member of the group
    url: str  # the app's base URL
    presses: list[FakeCallbackQuery] = field(default_factory=list)

    async def said(self, chat: FakeChat | FakeUser, text: str, **kw: Any) -> FakeMessage:
        """The bot's first message to the chat containing ``text``."""
        return await self.fake.wait_for_message(chat, lambda m: text in (m.text or ""), **kw)

    async def next_message(self, chat: FakeUser, after: FakeMessage) -> FakeMessage:
        """The bot's first message to the chat after ``after``."""
        return await self.fake.wait_for_message(chat, lambda m: m.message_id > after.message_id)

    def press(self, user: FakeUser, message: FakeMessage, part: str) -> None:
        """Press the button whose callback data contains ``part``."""
        data = next(d for d in message.callback_data if part in d)
        self.presses.append(self.fake.press_button(user, message, data))


def make_settings(
    db_url: str,
    fake: FakeTelegram,
    group: FakeChat,
    mode: Mode,
    url: str,
    **telegram: Any,
) -> Settings:
    """Settings for the app; `telegram` overrides TelegramSettings fields."""
    fields: dict[str, Any] = {"poll_timeout": 5, "chat_per_second": 100.0}
    fields |= {"mode": mode, "group_per_minute": 6000.0}
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=DatabaseSettings(url=db_url),
        telegram=telegram_settings(fake, url, SECRET, **(fields | telegram)),
        operator=OperatorSettings(chat_id=group.id),
    )


@asynccontextmanager
async def running(
    sqlite_db_url: str,
    kb: KnowledgeBase,
    mode: Mode = "polling",
    *,
    fake_options: dict[str, Any] | None = None,
    telegram: dict[str, Any] | None = None,
    clock: Clock | None = None,
    redis_url: str | None = None,
) -> AsyncIterator[World]:
    """The app as `helpbot serve` composes it, against a fresh fake Telegram (a local Bot API
    server unless `fake_options` say otherwise); `telegram` overrides TelegramSettings."""
    options: dict[str, Any] = {
        "poll_hold_scale": 0.1,
        "webhook_policy": FAST_WEBHOOK,
        "local_mode": True,
    }
    async with FakeTelegram(**(options | (fake_options or {}))) as fake:
        olga = fake.add_user("Olga", username="olga")
        group = fake.add_forum_group("Support", members=[olga])
        sock, url = loopback()
        settings = make_settings(sqlite_db_url, fake, group, mode, url, **(telegram or {}))
        if redis_url is not None:
            settings = settings.model_copy(update={"redis": RedisSettings(url=redis_url)})
        async with serving(settings, sock, kb=kb, clock=clock) as app:
            assert app.channels == ("telegram",)
            if mode == "polling":
                await fake.wait_for(lambda: fake.is_polling)
            yield World(fake, app.services, group, olga, url)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_question_gets_the_answer(sqlite_db_url: str, kb: KnowledgeBase, mode: Mode) -> None:
    async with running(sqlite_db_url, kb, mode) as w:
        ann = w.fake.add_user("Ann")
        w.fake.user_sends(ann, QUESTION)
        answer = await w.said(ann, "пароль")
        assert answer.entities and answer.entities[0]["type"] == "bold"
        assert any("fb:ok" in d for d in answer.callback_data)
        assert w.fake.calls("sendChatAction") == []  # no "typing…" before a millisecond answer
        if mode == "webhook":
            info = w.fake.webhook_info()
            assert info["url"] == w.url + WEBHOOK_PATH and info["secret_token"] == SECRET
            assert w.fake.calls("getUpdates") == []

        async def done() -> bool:
            # The update is marked done in the commit that queued its replies.
            return await count_rows(w.services, InboxUpdate, status=DeliveryStatus.DONE) >= 1

        await until(done, "the update done", 10, wake=w.fake.changed)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_escalation_topic_take_reply_close_rate(
    sqlite_db_url: str, kb: KnowledgeBase, mode: Mode
) -> None:
    async with running(sqlite_db_url, kb, mode) as w:
        fake, group, olga = w.fake, w.group, w.olga
        ann = fake.add_user("Ann", username="ann")
        fake.user_sends(ann, QUESTION)
        answer = await w.said(ann, "пароль")
        w.press(ann, answer, "fb:no")
        # «Не помогло» offers the next-best entries once (when there are any), then escalates.
        after = await w.next_message(ann, answer)
        if "Жаль, что не помогло" in (after.text or ""):
            w.press(ann, after, "pick:")
            second = await w.next_message(ann, after)
            w.press(ann, second, "fb:no")
        await w.said(ann, "Передал ваш вопрос оператору")

        topic = (await fake.wait_for(lambda: fake.topics(group)))[0]
        assert "Ann" in topic.name and "пароль" in topic.name
        card = await fake.wait_for_message(
            group,
            lambda m: any(d.startswith("take:") for d in m.callback_data),
            thread_id=topic.thread_id,
        )
        text = card.text or ""
        assert "Переписка" in text and "нажал «Не помогло»" in text
        assert "Бот предлагал" in text and "уверенность" in text and "не помогло" in text
        assert "Почему" in text and "P(верно)=" in text  # the question's reading and its rule
        assert "[button" not in text and "fb:no" not in text

        query = fake.press_button(olga, card, card.callback_data[0])
        await w.said(ann, "Olga взял")
        await fake.wait_for(lambda: query.answered)
        # The card is the topic's first message, edited in place: now Olga's, «Забрать» only.
        await fake.wait_for(lambda: "у оператора Olga" in (card.text or ""))
        assert [d.split(":")[0] for d in card.callback_data] == ["takeover"]

        fake.operator_sends(group, topic.thread_id, olga, "Сбросьте кэш браузера <и> войдите снова")
        await w.said(ann, "Сбросьте кэш браузера <и> войдите снова")

        fake.user_sends(ann, "Спасибо, получилось")
        await w.said(group, "Спасибо, получилось", thread_id=topic.thread_id)
        await fake.wait_for(lambda: "Пользователь: Спасибо, получилось" in (card.text or ""))

        fake.operator_sends(group, topic.thread_id, olga, "/close решено")
        closed = await w.said(ann, "закрыто")
        w.press(ann, closed, ":5")
        await w.said(ann, "Спасибо за оценку")
        await w.said(group, "Оценка обращения", thread_id=topic.thread_id)
        async with w.services.sessions() as session:
            ticket = (await session.scalars(select(Ticket))).one()
        assert ticket.status == "closed" and ticket.rating == 5 and ticket.operator == "Olga"
        await fake.wait_for(lambda: all(q.answered for q in [*w.presses, query]))


async def _escalate(w: World, user: FakeUser) -> tuple[int, FakeMessage]:
    """The person asks something off-topic and calls an operator: the topic and its card."""
    w.fake.user_sends(user, OFF_TOPIC)
    w.press(user, await w.said(user, "Позвать оператора?"), "op:")
    await w.said(user, "Передал ваш вопрос оператору")
    topic = await w.fake.wait_for(
        lambda: next((t for t in w.fake.topics(w.group) if user.first_name in t.name), None)
    )
    card = await w.fake.wait_for_message(
        w.group,
        lambda m: any(d.startswith("take:") for d in m.callback_data),
        thread_id=topic.thread_id,
    )
    return topic.thread_id, card


async def test_clarify_choice_gets_the_answer(sqlite_db_url: str, kb: KnowledgeBase) -> None:
    # Never sure enough to answer outright: every relevant question becomes a choice, whatever
    # the calibrated weights make of this one.
    strict = KnowledgeBase(kb.entries, thresholds=Thresholds(answer=1.01))
    async with running(sqlite_db_url, strict) as w:
        ann = w.fake.add_user("Ann")
        w.fake.user_sends(ann, AMBIGUOUS)
        choices = await w.said(ann, "Возможно, вы имели в виду")
        picks = [b for b in choices.buttons if "pick:" in b.get("callback_data", "")]
        assert len(picks) >= 2
        w.fake.press_button(ann, choices, picks[1]["callback_data"])
        answer = await w.fake.wait_for_message(
            ann, lambda m: m.message_id > choices.message_id and bool(m.entities)
        )
        assert picks[1]["text"] in (answer.text or "")


async def test_operator_media_transfer_and_members_only(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        fake, group = w.fake, w.group
        ann = fake.add_user("Ann")
        fake.user_sends_photo(ann)
        await w.said(ann, "Я читаю только текст")
        thread, card = await _escalate(w, ann)

        stranger = fake.add_user("Mallory")
        refused = fake.press_button(stranger, card, card.callback_data[0])
        await fake.wait_for(lambda: refused.answered)
        assert refused.answer and refused.answer.get("show_alert") in (True, "true")

        taken = fake.press_button(w.olga, card, card.callback_data[0])
        await w.said(ann, "Olga взял")
        await fake.wait_for(lambda: taken.answered)
        fake.user_sends_photo(ann, caption="скриншот ошибки")
        await fake.wait_for_call("copyMessage", lambda c: c.chat_id == group.id)
        fake.user_sends_media(w.olga, "document", chat=group, thread_id=thread)
        await fake.wait_for_call("copyMessage", lambda c: c.chat_id == ann.id)
        fake.operator_sends(group, thread, w.olga, "/transfer Ivan")
        await w.said(ann, "передано оператору Ivan")
        # Ivan holds it now: Olga's next answer is refused, naming him, to her alone.
        fake.operator_sends(group, thread, w.olga, "Ещё одно уточнение")
        await fake.wait_for(
            lambda: any(
                "ведёт Ivan" in (m.text or "")
                for m in fake.ephemeral_messages(group, receiver=w.olga)
            )
        )
        async with w.services.sessions() as session:
            ticket = (await session.scalars(select(Ticket))).one()
        assert ticket.operator == "Ivan" and ticket.status == "taken"


async def test_blocked_person_is_marked_without_retries(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        fake = w.fake
        ann = fake.add_user("Ann")
        thread, card = await _escalate(w, ann)
        w.press(w.olga, card, "take:")
        await w.said(ann, "Olga взял")
        fake.block_bot(ann)
        await w.said(w.group, "заблокировал", thread_id=thread)
        fake.operator_sends(w.group, thread, w.olga, "Вы здесь?")
        fake.operator_sends(w.group, thread, w.olga, "Ответьте, пожалуйста")

        async def failed() -> bool:  # the two answers (the 👌 on the question fails as well)
            pending = await count_rows(
                w.services, OutboxMessage, chat_id=str(ann.id), status=DeliveryStatus.PENDING
            )
            given_up = await count_rows(
                w.services, OutboxMessage, status=DeliveryStatus.FAILED, method="copyMessage"
            )
            return pending == 0 and given_up == 2

        await until(failed, "the update failed", 10, wake=fake.changed)
        assert not any("Вы здесь" in (m.text or "") for m in fake.bot_messages(ann))
        # Blocked is learnt from the refused send itself (no "blocked?" look before every
        # message): each message is tried once at most, there is no retry loop.
        assert len(fake.calls("sendMessage", chat=ann, ok=False)) <= 2
        async with w.services.sessions() as session:
            tries = await session.scalars(
                select(OutboxMessage.attempts).where(OutboxMessage.chat_id == str(ann.id))
            )
            assert max(tries) == 1
        async with w.services.sessions() as session:
            ticket = (await session.scalars(select(Ticket))).one()
        assert ticket.person_blocked_at is not None
        notices = [
            m for m in fake.bot_messages(w.group, thread_id=thread) if "заблок" in (m.text or "")
        ]
        assert len(notices) == 1


async def test_terminal_operator_reply_reaches_the_telegram_person(
    sqlite_db_url: str, kb: KnowledgeBase, tmp_path: Any
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        await _escalate(w, ann)
        argv = ["operator", "--as", "anna", "reply", "1", "Ответ из терминала"]
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path)  # no stray .env is read
            patch.setenv("DATABASE_URL", sqlite_db_url)
            take = ["operator", "--as", "anna", "take", "1"]
            assert await asyncio.to_thread(main, take) == 0
            assert await asyncio.to_thread(main, argv) == 0
        # Another process's row (its own engine) rings the doorbell file, which wakes the worker.
        await w.said(ann, "Ответ из терминала", timeout=5)


async def test_deleted_topic_is_recreated(sqlite_db_url: str, kb: KnowledgeBase) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        thread, _card = await _escalate(w, ann)
        w.fake.delete_topic(w.group, thread)
        w.fake.user_sends(ann, "Добавлю подробности")
        await w.fake.wait_for(
            lambda: (
                len([t for t in w.fake.topics(w.group) if not t.deleted]) == 1
                and len(w.fake.topics(w.group)) == 2
            )
        )
        fresh = next(t for t in w.fake.topics(w.group) if not t.deleted)
        await w.said(w.group, "Добавлю подробности", thread_id=fresh.thread_id)
        card = await w.said(w.group, "Переписка", thread_id=fresh.thread_id)  # the card again
        w.press(w.olga, card, "take:")
        await w.said(ann, "Olga взял")
        w.fake.operator_sends(w.group, fresh.thread_id, w.olga, "Вижу, отвечаю")
        await w.said(ann, "Вижу, отвечаю")


async def test_flood_control_storm_delivers_everything_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        people = [w.fake.add_user(f"P{n}") for n in range(4)]
        w.fake.force_429(3, retry_after=1, method="sendMessage")
        w.fake.force_error(1, 502, method="sendMessage")
        for person in people:
            w.fake.user_sends(person, QUESTION)
        for person in people:
            await w.said(person, "пароль", timeout=15)

        async def drained() -> bool:
            return await count_rows(w.services, OutboxMessage, status=DeliveryStatus.PENDING) == 0

        await until(drained, "the outbox drained", 10, wake=w.fake.changed)
        for person in people:
            assert len(w.fake.bot_messages(person)) == 1
        assert len(w.fake.calls("sendMessage", ok=False)) == 4


async def test_webhook_secret_is_checked_and_redeliveries_are_stored_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb, "webhook") as w:
        update = {
            "update_id": 999,
            "message": {
                "message_id": 1,
                "date": 0,
                "chat": {"id": 1, "type": "private"},
                "text": "hi",
            },
        }
        async with aiohttp.ClientSession() as http:
            for headers in ({SECRET_HEADER: "wrong"}, {}):
                async with http.post(w.url + WEBHOOK_PATH, json=update, headers=headers) as resp:
                    assert resp.status == 401
        assert await count_rows(w.services, InboxUpdate) == 0

        # The right secret: stored once however often Telegram delivers it, answered once.
        ann = w.fake.add_user("Ann", started=True)
        person = {"id": ann.id, "first_name": "Ann"}
        message = {
            "message_id": 1,
            "date": 0,
            "chat": {**person, "type": "private"},
            "from": {**person, "is_bot": False},
            "text": QUESTION,
        }
        async with aiohttp.ClientSession() as http:
            for _ in range(2):
                again = {"update_id": 424242, "message": message}
                async with http.post(
                    w.url + WEBHOOK_PATH, json=again, headers={SECRET_HEADER: SECRET}
                ) as resp:
                    assert resp.status == 200
        await w.said(ann, "пароль")
        assert await count_rows(w.services, InboxUpdate) == 1
        assert len(w.fake.bot_messages(ann)) == 1


async def test_deep_link_opens_the_entry_and_token_stays_out_of_logs(
    sqlite_db_url: str,
    kb: KnowledgeBase,
    logs: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    entry = next(e for e in kb.entries if e.title == QUESTION)
    async with running(sqlite_db_url, kb) as w:
        ann = w.fake.add_user("Ann")
        w.fake.user_sends(ann, f"/start {entry_token(entry.id)}")
        await w.said(ann, QUESTION)
        w.fake.user_sends(ann, "/help")
        await w.said(ann, "/operator")
        logging.getLogger("handlers.telegram").warning("leak test %s", w.fake.token)
        env = {"TELEGRAM_BOT_TOKEN": w.fake.token, "TELEGRAM_API_URL": w.fake.url}
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            assert await asyncio.to_thread(main, ["kb", "link", entry.id]) == 0
    assert (
        capsys.readouterr().out.strip()
        == f"https://t.me/helpbot_test_bot?start={entry_token(entry.id)}"
    )
    secret_part = w.fake.token.split(":", 1)[1]
    assert secret_part not in logs.text
    assert all(secret_part not in r.getMessage() for r in logs.records)
    assert "leak test ***" in logs.text


async def test_a_second_replica_setting_the_same_webhook_waits_out_flood_control(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb, "webhook") as w:
        second = create_telegram_channel(w.services)  # a replica starting a moment later
        try:
            await second.start()
        finally:
            await second.aclose()
        outcomes = [call.status for call in w.fake.calls("setWebhook")]
        assert outcomes[0] == 200 and outcomes[-1] == 200 and 429 in outcomes


async def test_kb_in_a_topic_sends_an_entry_and_a_second_operator_is_refused(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        fake, group, olga = w.fake, w.group, w.olga
        ivan = fake.add_user("Ivan")
        fake.add_member(group, ivan)
        ann = fake.add_user("Ann")
        thread, card = await _escalate(w, ann)
        w.press(olga, card, "take:")
        await w.said(ann, "Olga взял")

        fake.operator_sends(group, thread, ivan, "Я тоже могу помочь")  # not his ticket
        await fake.wait_for(
            lambda: any(
                "ведёт Olga" in (m.text or "")
                for m in fake.ephemeral_messages(group, receiver=ivan)
            )
        )
        over = fake.press_button(ivan, card, card.callback_data[0])  # «Забрать»: not an admin
        await fake.wait_for(lambda: over.answered)
        assert over.answer and "администратор" in str(over.answer.get("text"))

        fake.operator_sends(group, thread, olga, "/kb роли доступа")
        results = await fake.wait_for_message(
            group, lambda m: any(d.startswith("kb:") for d in m.callback_data), thread_id=thread
        )
        title = results.buttons[0]["text"].rstrip("…")
        w.press(olga, results, results.callback_data[0])
        await w.said(ann, title)  # the entry's answer card reached the person
        async with w.services.sessions() as session:
            ticket = (await session.scalars(select(Ticket))).one()
        assert ticket.operator == "Olga" and ticket.first_reply_at is not None
        await fake.wait_for(lambda: all(q.answered for q in w.presses))
