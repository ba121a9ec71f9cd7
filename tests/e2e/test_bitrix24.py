"""End to end: the real app (engine, storage, Bitrix24 channel) against FakeBitrix24 on loopback.

Nothing of ours is mocked: the app reaches the fake portal only through its settings, on a SQLite
database migrated with Alembic. Both event modes: fetch (``imbot.v2.Event.get``) and webhook
(form-encoded POSTs checked against the application token).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, closing
from typing import Any, Literal

import aiohttp
import pytest
from conftest import FakeClock
from deadline import until
from fakes.bitrix24 import FakeBitrix24, FakeChat
from pydantic import SecretStr
from serving import count_rows, loopback, serving
from sqlalchemy import func, select

from bot.__main__ import main
from bot.services import Services
from bot.settings import DatabaseSettings
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage, Ticket
from handlers.bitrix24.channel import BitrixChannel
from handlers.bitrix24.models import BitrixTokens
from handlers.bitrix24.registration import EVENTS_PATH
from handlers.bitrix24.render import COMMAND
from handlers.bitrix24.rest.client import Bitrix24Client
from handlers.bitrix24.settings import BitrixSettings
from handlers.bitrix24.web import BITRIX_CHANNEL, INSTALL_PATH
from handlers.cli.bitrix import register_bot
from handlers.settings import Settings
from knowledge.base import KnowledgeBase

Mode = Literal["fetch", "webhook"]
APP_TOKEN = "app-token-0123456789abcdef"
BOT_TOKEN = "bot-token-0123456789abcdef"
QUESTION = "Как восстановить пароль от Битрикс24"
OFF_TOPIC = "как приготовить плов в казане"
BURST = 200
RATE = (20, 100.0)  # burst, per second: the fake portal's limit
# The client's bucket: the portal's drain rate with half its burst, so up to 100 ms of uneven
# scheduling on a loaded CI machine (calls bunching up between our bucket and the portal's) does
# not trip the portal. At the real 2 calls/s the same jitter is worth a fifth of one call.
CLIENT_RATE = (RATE[0] // 2, RATE[1])


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    caplog.set_level(logging.INFO)
    for ours in ("bot", "handlers"):  # everything we log, without the drivers' chatter
        caplog.set_level(logging.DEBUG, logger=ours)
    yield caplog


def make_settings(db_url: str, fake: FakeBitrix24, mode: Mode, public_url: str) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=DatabaseSettings(url=db_url),
        bitrix=BitrixSettings(
            webhook_url=fake.webhook_url,  # type: ignore[arg-type]
            bot_token=BOT_TOKEN,  # type: ignore[arg-type]
            event_mode=mode,
            public_url=public_url,  # events: "custom" + bot token, no BITRIX_APP_TOKEN needed
            rate_burst=CLIENT_RATE[0],
            rate_per_second=CLIENT_RATE[1],
            fetch_interval=0.05,
            fetch_busy_interval=0.02,
        ),
    )


@asynccontextmanager
async def running_app(
    settings: Settings,
    kb: KnowledgeBase,
    sock: socket.socket | None = None,
    clock: FakeClock | None = None,
) -> AsyncIterator[Services]:
    """The app as ``helpbot serve`` composes it: services, the web app, the Bitrix24 channel."""
    async with serving(settings, sock, kb=kb, clock=clock) as app:
        assert app.channels == ("bitrix24",)
        # A stepped clock wakes the sender (a scaled one moves by itself: the sender's naps see it).
        wakes = clock.wakes if isinstance(clock, FakeClock) else []
        wake = app.web[BITRIX_CHANNEL].outbox.wake
        wakes.append(wake)
        try:
            yield app.services
        finally:
            wakes.remove(wake)


@asynccontextmanager
async def portal_and_app(
    db_url: str,
    kb: KnowledgeBase,
    mode: Mode,
    *,
    app_token: str = APP_TOKEN,
    clock: FakeClock | None = None,
    bitrix: dict[str, Any] | None = None,
    delivery: dict[str, Any] | None = None,
    replica: dict[str, Any] | None = None,
    prepare: Callable[[FakeBitrix24], object] | None = None,
    **fake_options: Any,
) -> AsyncIterator[tuple[FakeBitrix24, Services, Settings]]:
    """The fake portal (``fake_options``; on ``clock``'s time when given), the bot registered
    (after ``prepare(fake)``) and the app running; ``bitrix``, ``delivery`` and ``replica``
    override BITRIX_*, DELIVERY_* and REPLICA_* settings."""
    sock, public_url = loopback()
    if clock is not None:
        fake_options.setdefault("clock", lambda: clock.now().timestamp())
    options = {"application_token": app_token, "burst": RATE[0], "per_second": RATE[1]}
    with closing(sock):  # also when the app never took it (registration failed)
        async with FakeBitrix24(**(options | fake_options)) as fake:
            settings = make_settings(db_url, fake, mode, public_url)
            for key, value in (bitrix or {}).items():
                setattr(settings.bitrix, key, value)
            for key, value in (delivery or {}).items():
                setattr(settings.delivery, key, value)
            for key, value in (replica or {}).items():
                setattr(settings.replica, key, value)
            if prepare is not None:
                prepare(fake)
            assert await register_bot(settings) == 0
            async with running_app(settings, kb, sock, clock) as services:
                yield fake, services, settings


async def inbox_settled(services: Services) -> bool:
    async with services.sessions() as session:
        pending = await session.scalar(
            select(func.count()).where(InboxUpdate.status == DeliveryStatus.PENDING)
        )
        unsent = await session.scalar(
            select(func.count()).where(OutboxMessage.status == DeliveryStatus.PENDING)
        )
    return pending == 0 and unsent == 0


async def event_settled(services: Services, key: str) -> bool:
    """Whether the channel stored the event ``key`` and is done with it."""
    async with services.sessions() as session:
        status = await session.scalar(
            select(InboxUpdate.status).where(InboxUpdate.external_id == key)
        )
    return status == DeliveryStatus.DONE


def button_payload(fake: FakeBitrix24, chat: FakeChat, label_start: str) -> str:
    for message in reversed(fake.bot_messages(chat)):
        for button in message.buttons:
            if str(button.get("TEXT", "")).startswith(label_start):
                return str(button["COMMAND_PARAMS"])
    raise AssertionError(f"no button {label_start!r}")


async def open_chat(fake: FakeBitrix24, customer_name: str = "Guest") -> FakeChat:
    """A visitor opens the widget; returns once the bot's welcome is there."""
    chat = await fake.open_line_chat(customer_name=customer_name)
    await fake.wait_for(lambda: fake.bot_messages(chat), 20, "the welcome")
    return chat


async def ask(fake: FakeBitrix24, chat: FakeChat, text: str) -> str:
    before = len(fake.bot_messages(chat))
    await fake.customer_sends(chat, text)
    await fake.wait_for(lambda: len(fake.bot_messages(chat)) > before, 20, f"a reply to {text!r}")
    return fake.bot_messages(chat)[-1].text


@pytest.mark.parametrize("mode", ["fetch", "webhook"])
async def test_question_answer_choices_and_escalation(
    mode: Mode, sqlite_db_url: str, kb: KnowledgeBase, logs: pytest.LogCaptureFixture
) -> None:
    # The customer sees no keyboard (Connector::onMessageSend forwards none): they type the
    # number of a choice; the keyboard is still there for the operators' own clients.
    async with portal_and_app(sqlite_db_url, kb, mode) as (fake, services, _):
        chat = await open_chat(fake, "Ion Guest")

        answer = await ask(fake, chat, QUESTION)
        assert answer.startswith("[b]") and "пароль" in answer.lower()
        assert "1. Помогло\n2. Не помогло\n3. Позвать оператора" in answer
        buttons = fake.bot_messages(chat)[-1].buttons
        assert [b["TEXT"] for b in buttons] == ["Помогло", "Не помогло", "Позвать оператора"]
        assert {b["COMMAND"] for b in buttons} == {COMMAND}

        thanks = await ask(fake, chat, "1")
        assert "помог" in thanks.lower()

        # An operator writing in a chat is not its customer: the bot stays out of it.
        other = await open_chat(fake, "Ana Guest")
        said = await fake.operator_sends(other, "Здравствуйте, я оператор")
        await until(lambda: event_settled(services, f"msg:{said.id}"), "operator message")
        assert len(fake.bot_messages(other)) == 1  # the welcome only

        offer = await ask(fake, chat, OFF_TOPIC)
        assert "оператор" in offer.lower() and "1. Позвать оператора" in offer
        await fake.customer_sends(chat, "1")
        await fake.wait_for(lambda: fake.transfers, 20, "the hand-off to the line's queue")
        assert [(t.chat_id, t.kind) for t in fake.transfers] == [(chat.id, "operator")]
        await fake.wait_for(lambda: "№" in fake.bot_messages(chat)[-1].text, 10, "the number")
        async with services.sessions() as session:
            ticket = (await session.scalars(select(Ticket))).one()
        assert ticket.external_ref == f"bitrix24:chat{chat.id}:session{chat.sessions[-1].id}"
        assert ticket.question == OFF_TOPIC
        # The bot's id asked once a start (fetch mode asked at the poller's start and again
        # at the first send before).
        assert len(fake.calls_to("imbot.v2.Bot.get")) == 1
    assert BOT_TOKEN not in logs.text and fake.webhook_secret not in logs.text
    assert APP_TOKEN not in logs.text


@pytest.mark.parametrize("mode", ["fetch", "webhook"])
async def test_operator_word_hands_off_and_the_bot_stays_silent(
    mode: Mode, sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with portal_and_app(sqlite_db_url, kb, mode) as (fake, services, _):
        fake.configure_line(1, welcome_bot="helpbot", bot_left="close")  # the bot stays in
        chat = await open_chat(fake)
        await ask(fake, chat, QUESTION)
        await ask(fake, chat, "оператор")
        await fake.wait_for(lambda: fake.transfers, 20, "the hand-off")
        await until(lambda: inbox_settled(services), "the hand-off sent")
        silent_from = len(fake.bot_messages(chat))
        asked = await fake.customer_sends(chat, "алло, есть кто?")
        said = await fake.operator_sends(chat, "Да, слушаю вас")
        for message in (asked, said):
            await until(lambda m=message: event_settled(services, f"msg:{m.id}"), "handled")
        assert len(fake.bot_messages(chat)) == silent_from
        # The bot heard the customer (it stayed a member): their word is in the ticket's history.
        lines = [(line.author, line.text) for line in await services.queue.transcript(1)]
        assert ("person", "алло, есть кто?") in lines
        assert all(text != "Да, слушаю вас" for _, text in lines)

        # The operator closes the session; the next one is the bot's again.
        await fake.operator_finishes(chat)
        await ask(fake, chat, QUESTION)
        await fake.wait_for(lambda: "пароль" in fake.bot_messages(chat)[-1].text.lower(), 10)
        async with services.sessions() as session:
            ticket = (await session.scalars(select(Ticket))).one()
        assert ticket.status == "closed"


async def test_a_webhook_burst_is_answered_within_the_rate_limit(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    # The fetch-mode burst is the restart test below.
    async with portal_and_app(sqlite_db_url, kb, "webhook") as (fake, services, _):
        chats = [await fake.open_line_chat(customer_name=f"Guest {i}") for i in range(20)]
        for n in range(BURST):
            await fake.customer_sends(chats[n % len(chats)], QUESTION)
        total = len(chats) + BURST  # a welcome per chat and an answer per message
        await fake.wait_for(
            lambda: sum(len(fake.bot_messages(c)) for c in chats) >= total, 40, "all answers"
        )
        await until(lambda: inbox_settled(services), "everything settled")
        assert all(len(fake.bot_messages(c)) == 1 + BURST // len(chats) for c in chats)
        assert fake.throttled == 0


async def test_a_restart_mid_burst_loses_and_doubles_nothing(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with FakeBitrix24(application_token=APP_TOKEN, burst=RATE[0], per_second=RATE[1]) as fake:
        settings = make_settings(sqlite_db_url, fake, "fetch", "")
        assert await register_bot(settings) == 0
        chats = [await fake.open_line_chat(customer_name=f"Guest {i}") for i in range(10)]
        total = len(chats) + BURST

        def answered() -> int:
            return sum(len(fake.bot_messages(c)) for c in chats)

        async with running_app(settings, kb):
            for n in range(BURST):
                await fake.customer_sends(chats[n % len(chats)], QUESTION)
            await fake.wait_for(lambda: answered() >= 60, 20, "a part of the burst answered")
        assert answered() < total, "the restart came too late to prove anything"

        async with running_app(settings, kb) as services:
            await fake.wait_for(lambda: answered() >= total, 40, "the rest answered")
            await until(lambda: inbox_settled(services), "everything settled")
        assert all(len(fake.bot_messages(c)) == 1 + BURST // len(chats) for c in chats)
        assert not fake.pending_events("helpbot")
        # No throttling check here: the restarted process starts with a full bucket while the
        # portal's is still partly drained, so a few 503s (retried) are expected and harmless.


async def test_a_stop_as_soon_as_the_app_started_ends_the_channel_at_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    # The sender's first call (the portal's revision) was under way when the stop came: the
    # outbox, idle then, had nothing to stop, began its run afterwards, and the stop waited out
    # the channel's whole grace (10 s) before cancelling it.
    async with portal_and_app(sqlite_db_url, kb, "fetch"):
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 5, "the stop waited out the channel's grace"


async def test_a_stop_while_the_portal_does_not_answer_ends_the_channel_at_once(
    sqlite_db_url: str,
    kb: KnowledgeBase,
    logs: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The sender's first call, the portal's revision (for a log line), is retried on transport
    # errors with backoff: a stop meanwhile waited them out, up to the channel's grace. Here the
    # backoff is ten minutes and the grace two, so that a stop that waits takes two minutes, far
    # from the bound, and one that does not takes well under a second.
    monkeypatch.setattr(Bitrix24Client, "_backoff", lambda _self, _attempt: 600.0)
    stop = BitrixChannel.stop

    async def patient_stop(channel: BitrixChannel, grace: float = 120.0) -> None:
        await stop(channel, grace)

    monkeypatch.setattr(BitrixChannel, "stop", patient_stop)
    gone = socket.socket()
    gone.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
    with closing(gone):
        async with FakeBitrix24(application_token=APP_TOKEN) as fake:
            settings = make_settings(sqlite_db_url, fake, "webhook", "http://127.0.0.1:9")
            url = f"http://127.0.0.1:{gone.getsockname()[1]}/rest/1/x/"
            settings.bitrix.webhook_url = SecretStr(url)
            async with running_app(settings, kb):
                await until(lambda: "retrying in" in logs.text, "the revision's first retry", 20)
                stopping = time.monotonic()
    assert time.monotonic() - stopping < 60, "the stop waited out the revision's retries"


async def test_a_wrong_application_token_is_refused(sqlite_db_url: str, kb: KnowledgeBase) -> None:
    wrong = {"app_token": SecretStr("not-our-token-00000")}  # configured, not what events carry
    async with portal_and_app(sqlite_db_url, kb, "webhook", bitrix=wrong) as (
        fake,
        services,
        settings,
    ):
        chat = await fake.open_line_chat()
        await fake.customer_sends(chat, QUESTION)
        assert fake.deliveries and {d.status for d in fake.deliveries} == {401}
        url = settings.bitrix.public_url + EVENTS_PATH
        async with aiohttp.ClientSession() as http:
            form = {"event": "ONIMBOTV2MESSAGEADD", "data[message][id]": "1"}
            async with http.post(url, data=form) as response:
                assert response.status == 401
        async with services.sessions() as session:
            assert await session.scalar(select(func.count()).select_from(InboxUpdate)) == 0
        assert fake.bot_messages(chat) == []


async def test_redelivered_webhook_events_are_stored_once_and_answered_once(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    own = {"app_token": SecretStr("custom" + BOT_TOKEN)}  # what a webhook bot's events carry
    async with portal_and_app(
        sqlite_db_url, kb, "webhook", bitrix=own, require_client_id_in_url=False
    ) as (fake, services, _settings):
        chat = await open_chat(fake)
        before = len(fake.bot_messages(chat))
        await ask(fake, chat, QUESTION)
        (posted,) = [d for d in fake.deliveries if d.event == "ONIMBOTV2MESSAGEADD"]
        stored = await count_rows(services, InboxUpdate)
        async with aiohttp.ClientSession() as http:

            async def again() -> int:
                async with http.post(posted.url, data=posted.form) as response:
                    return response.status

            # The portal sends it again, twice at once: both share the intake's one commit.
            assert await asyncio.gather(again(), again()) == [200, 200]
        await until(lambda: inbox_settled(services), "the inbox and outbox worked off")
        assert await count_rows(services, InboxUpdate) == stored
        assert len(fake.bot_messages(chat)) == before + 1


async def test_helped_then_silence_finishes_the_session(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    async with FakeBitrix24(application_token=APP_TOKEN, burst=RATE[0], per_second=RATE[1]) as fake:
        settings = make_settings(sqlite_db_url, fake, "fetch", "")
        settings.bitrix.finish_after_helped = 5
        assert await register_bot(settings) == 0
        async with running_app(settings, kb, clock=clock):
            chat = await open_chat(fake)
            await ask(fake, chat, QUESTION)
            assert "помог" in (await ask(fake, chat, "1")).lower()  # 1. Помогло
            clock.advance(minutes=4)
            await ask(fake, chat, QUESTION)  # answered: the session goes on
            clock.advance(minutes=10)
            assert not fake.transfers
            assert "помог" in (await ask(fake, chat, "1")).lower()
            clock.advance(minutes=6)
            await fake.wait_for(lambda: fake.transfers, 20, "the session finished")
        assert [(t.chat_id, t.kind) for t in fake.transfers] == [(chat.id, "finish")]


async def test_oauth_install_then_refresh_saves_the_new_tokens(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with FakeBitrix24(application_token=APP_TOKEN, client_secret="s3cret-client") as fake:
        sock, base = loopback()
        settings = make_settings(sqlite_db_url, fake, "fetch", "")
        settings.bitrix = BitrixSettings(
            client_id=fake.client_id,
            client_secret=fake.client_secret,  # type: ignore[arg-type]
            oauth_url=fake.oauth_url,
            app_token=APP_TOKEN,  # type: ignore[arg-type]
            fetch_interval=0.05,
            fetch_busy_interval=0.02,
        )
        async with running_app(settings, kb, sock) as services:
            url = base + INSTALL_PATH
            install = {f"auth[{k}]": str(v) for k, v in fake.issue_tokens().items()}
            async with aiohttp.ClientSession() as http:
                async with http.post(url, data={**install, "auth[application_token]": "x"}) as r:
                    assert r.status == 401
                async with http.post(url, data={"event": "ONAPPINSTALL", **install}) as r:
                    assert r.status == 200
            assert await register_bot(settings) == 0
            chat = await open_chat(fake)

            fake.expire_access_tokens()
            assert "пароль" in (await ask(fake, chat, QUESTION)).lower()
            async with services.sessions() as session:
                saved = (await session.scalars(select(BitrixTokens))).one()
            assert fake.refreshes and saved.refresh_token != install["auth[refresh_token]"]
            assert saved.member_id == fake.portal.member_id


async def test_without_a_configured_token_a_second_install_must_show_the_first_ones(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    # regression: with BITRIX_APP_TOKEN empty, anyone could post an install and replace the
    # stored tokens
    async with FakeBitrix24(application_token=APP_TOKEN, client_secret="s3cret-client") as fake:
        sock, base = loopback()
        settings = make_settings(sqlite_db_url, fake, "fetch", "")
        settings.bitrix = BitrixSettings(
            client_id=fake.client_id,
            client_secret=fake.client_secret,  # type: ignore[arg-type]
            oauth_url=fake.oauth_url,
        )
        async with running_app(settings, kb, sock) as services:
            url = base + INSTALL_PATH
            install = {f"auth[{k}]": str(v) for k, v in fake.issue_tokens().items()}
            forged = {**install, "auth[application_token]": "forged", "auth[member_id]": "evil"}
            async with aiohttp.ClientSession() as http:
                async with http.post(url, data={"event": "ONAPPINSTALL", **install}) as r:
                    assert r.status == 200
                async with http.post(url, data={"event": "ONAPPINSTALL", **forged}) as r:
                    assert r.status == 401
                async with http.post(url, data={"event": "ONAPPINSTALL", **install}) as r:
                    assert r.status == 200
            async with services.sessions() as session:
                saved = (await session.scalars(select(BitrixTokens))).one()
            assert saved.member_id == fake.portal.member_id


async def test_the_line_gets_the_case_card_and_an_operators_entry_reaches_the_customer(
    sqlite_db_url: str, kb: KnowledgeBase, tmp_path: Any
) -> None:
    async with portal_and_app(sqlite_db_url, kb, "fetch") as (fake, services, _):
        fake.configure_line(1, welcome_bot="helpbot", bot_left="close")  # the bot stays in
        chat = await open_chat(fake, "Ion Guest")
        await ask(fake, chat, QUESTION)
        await ask(fake, chat, "не работает телефония, позовите оператора")
        await fake.wait_for(lambda: fake.transfers, 20, "the hand-off")
        await until(lambda: inbox_settled(services), "the hand-off sent")
        # The note for the line's operators: a system line the customer never gets.
        (note,) = [m for m in fake.messages(chat) if m.kind == "system" and m.skip_connector]
        assert "Обращение №1" in note.text and "Ion Guest" in note.text
        assert "Вопрос: не работает телефония, позовите оператора" in note.text
        assert "Бот предлагал:" in note.text and "уверенность" in note.text
        # The why (bot/why.py): the request for a human decided it, before any search.
        assert "Почему" in note.text and "оператор: человек просит позвать оператора" in note.text
        assert "[button" not in note.text and "fb:" not in note.text
        shown = [text for text, _ in fake.customer_view(chat)]
        assert not any("Обращение №1 ·" in text for text in shown)

        entry = kb.get("admin-manual--roli")
        assert entry is not None
        with pytest.MonkeyPatch.context() as patch:
            patch.chdir(tmp_path)  # no stray .env is read
            patch.setenv("DATABASE_URL", sqlite_db_url)
            for argv in (["take", "1"], ["send-entry", "1", entry.id]):
                command = ["operator", "--as", "anna", *argv]
                assert await asyncio.to_thread(main, command) == 0
        await fake.wait_for(
            lambda: any(entry.title in text for text, _ in fake.customer_view(chat)),
            20,
            "the entry's card in the customer's chat",
        )
