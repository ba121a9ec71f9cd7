"""The Bitrix24 event processor behind the one inbox worker, on a real SQLite database, driven
pass by pass.

The processor and its inbox worker are built as the channel builds them but the loop is not
started: each test stores events in the inbox and calls ``drain`` itself. Failures are
injected only at the outside world's edge (the database driver).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

import pytest
from conftest import FakeClock, failing_once
from lockwait import lock_awaited
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import build
from bot.delivery.giveup import RETRY_SECONDS
from bot.delivery.inbox import IDLE, InboxWorker
from bot.services import Services
from bot.settings import DatabaseSettings
from bot.storage import delivery
from bot.storage.models import (
    Author,
    DeliveryStatus,
    InboxUpdate,
    Message,
    OutboxMessage,
    Ticket,
)
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.events import ChatEvent, arrival
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.processor import EventProcessor
from handlers.settings import Settings
from knowledge.base import KnowledgeBase

QUESTION = "Как восстановить пароль от Битрикс24"
OTHER_QUESTION = "Как изменить логин и пароль"  # answered outright, not offered as a choice
CHAT_ID = 77


def _message(
    key: str, text: str, session: str = "900", *, owner: int | None = None, user: str = "31"
) -> ChatEvent:
    """A customer's message (``user`` another id and not the customer: a line operator's)."""
    return ChatEvent(
        kind="message",
        key=key,
        bot_id=5,
        chat_id=CHAT_ID,
        dialog_id=f"chat{CHAT_ID}",
        entity_type="LINES",
        session_id=session,
        user_id=user,
        user_name="Ann",
        from_customer=user == "31",
        text=text,
        owner=owner,
    )


def processor_of(services: Services) -> EventProcessor:
    return EventProcessor(
        sessions=services.sessions,
        engine=services.engine,
        queue=services.queue,
        clock=services.clock,
        settings=services.settings.bitrix,
        language=services.settings.conversation.language,
        on_queued=lambda: None,
    )


def _worker(services: Services) -> InboxWorker:
    handle = processor_of(services).handle
    return InboxWorker(repo.CHANNEL, services.sessions, services.clock, handle, replica="replica-a")


async def _inbox(services: Services) -> list[InboxUpdate]:
    async with services.sessions() as session:
        return list(await session.scalars(select(InboxUpdate).order_by(InboxUpdate.id)))


async def _keep(session: AsyncSession, event: ChatEvent, now: datetime) -> None:
    """Store an event unclaimed, as a replica that does not process it would."""
    stored = arrival(event)
    await delivery.keep_update(
        session, repo.CHANNEL, stored.key, stored.payload, now, stored.chat,
        replica=None, hold_until=now,
    )  # fmt: skip


async def _store(services: Services, *events: ChatEvent) -> None:
    async with services.sessions.begin() as session:
        for event in events:
            await _keep(session, event, services.clock.now())


async def _one(services: Services, model: type[BitrixChat] | type[Ticket], key: int) -> object:
    async with services.sessions() as session:
        return await session.get(model, key)


async def _ticket_texts(session: AsyncSession, ticket_id: int) -> list[tuple[str, str]]:
    rows = await session.scalars(
        select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
    )
    return [(m.author, m.text) for m in rows]


async def _outbox(services: Services) -> list[OutboxMessage]:
    async with services.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


async def test_a_failed_event_is_retried_after_a_pause_and_holds_its_chats_later_events(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database=DatabaseSettings(url=sqlite_db_url),
    )
    async with build(settings, kb=kb, clock=clock) as app:
        services = await app.services()
        worker = _worker(services)
        async with services.sessions.begin() as session:
            for key, text in (("m1", QUESTION), ("m2", OTHER_QUESTION)):
                await _keep(session, _message(key, text), clock.now())

        with failing_once(services.db, "INSERT INTO outbox") as failed:
            delay = await worker.drain()
        assert failed and 0 < delay <= RETRY_SECONDS  # nothing handled: the loop pauses
        first, second = await _inbox(services)
        assert (first.status, first.attempts) == (DeliveryStatus.PENDING, 1)
        assert (second.status, second.attempts) == (DeliveryStatus.PENDING, 0)
        assert second.processed_at is None  # the chat's later event waited for the failed one
        assert await _outbox(services) == []

        assert 0 < await worker.drain() <= RETRY_SECONDS  # not due: no back-to-back attempt
        assert [row.attempts for row in await _inbox(services)] == [1, 0]

        clock.advance(seconds=RETRY_SECONDS)
        assert await worker.drain() == 0.0  # both handled: look again at once
        assert await worker.drain() == IDLE
        first, second = await _inbox(services)
        assert (first.status, first.attempts) == (DeliveryStatus.DONE, 1)
        assert second.status == DeliveryStatus.DONE
        assert first.processed_at is not None and second.processed_at is not None
        sent = await _outbox(services)
        titles = [row.params["fields"]["message"].split("\n")[0] for row in sent]
        assert titles == [  # the retried first event answered before the chat's second one
            "[b]Как восстановить пароль от Битрикс24[/b]",
            "[b]Как изменить логин и пароль для входа в Битрикс24[/b]",
        ]


def _settings(db_url: str) -> Settings:
    return Settings(_env_file=None, database=DatabaseSettings(url=db_url))  # type: ignore[call-arg]


async def _handed_off(services: Services, worker: InboxWorker) -> None:
    """Session 900 asks for an operator: ticket 1, the session handed to the line's queue.

    The chat keeps whose the session is; which ticket went with it is the ticket's own ref (one
    copy of that fact: ``bitrix_chats.ticket_id`` repeated it)."""
    await _store(services, _message("h1", "позовите оператора"))
    await worker.drain()
    chat = await _one(services, BitrixChat, CHAT_ID)
    assert isinstance(chat, BitrixChat) and chat.handed_session == "900"
    assert "ticket_id" not in BitrixChat.__table__.c
    ticket = await _one(services, Ticket, 1)
    assert isinstance(ticket, Ticket) and ticket.external_ref == repo.handed_ref(CHAT_ID, "900")


async def test_a_failure_while_releasing_an_ended_sessions_ticket_keeps_the_session_handed(
    db_url: str, kb: KnowledgeBase, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The line's session ended (the customer's message opens session 901): noting that and
    closing its ticket commit together. Before, the session's end committed first and a failure
    in the ticket's own transaction left ticket 1 open for good, the new question relayed into
    it instead of answered. The release is logged once: by the try that committed."""
    caplog.set_level(logging.INFO, logger="bot.engine.closing")
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        worker = _worker(services)
        await _handed_off(services, worker)
        before = len(await _outbox(services))
        await _store(services, _message("n1", QUESTION, session="901"))

        with failing_once(services.db, "UPDATE tickets") as failed:
            await worker.drain()
        assert failed
        chat = await _one(services, BitrixChat, CHAT_ID)
        assert isinstance(chat, BitrixChat) and (chat.handed_session, chat.session_id) == (
            "900",
            "900",
        )  # the session's end was not committed without the ticket's release
        ticket = await _one(services, Ticket, 1)
        assert isinstance(ticket, Ticket) and ticket.status == "waiting"

        clock.advance(seconds=RETRY_SECONDS)
        await worker.drain()
        ticket = await _one(services, Ticket, 1)
        assert isinstance(ticket, Ticket) and ticket.status == "closed"
        assert ticket.note == "the open-line session ended"
        chat = await _one(services, BitrixChat, CHAT_ID)
        assert isinstance(chat, BitrixChat) and (chat.handed_session, chat.session_id) == (
            None,
            "901",
        )
        assert [row.status for row in await _inbox(services)] == [DeliveryStatus.DONE] * 2
        answer = (await _outbox(services))[before:]
        assert [row.params["fields"]["message"].split("\n")[0] for row in answer] == [
            "[b]Как восстановить пароль от Битрикс24[/b]"
        ]  # answered by the bot, not relayed into the released ticket
        async with services.sessions() as session:
            assert QUESTION not in [text for _, text in await _ticket_texts(session, 1)]
        assert caplog.text.count("ticket released ticket=1 ") == 1


async def test_what_the_customer_writes_to_the_lines_operators_joins_the_ticket_unanswered(
    db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """After the hand-off the bot (still a member: ``WELCOME_BOT_LEFT=close``) hears the
    customer and the line's operator. The customer's messages — a cancel word too, which is just
    text to the line — go into ticket 1's history; nothing is sent, the ticket stays open; the
    operator's message is not the customer's and is not recorded."""
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        worker = _worker(services)
        await _handed_off(services, worker)
        before = len(await _outbox(services))
        await _store(
            services,
            _message("c1", "алло, есть кто?", owner=0),
            _message("o1", "Да, слушаю вас", owner=12, user="12"),
            _message("c2", "отмена", owner=12),
        )
        await worker.drain()
        assert [row.status for row in await _inbox(services)] == [DeliveryStatus.DONE] * 4
        assert len(await _outbox(services)) == before  # the bot said nothing
        ticket = await _one(services, Ticket, 1)
        assert isinstance(ticket, Ticket) and ticket.status == "waiting"
        async with services.sessions() as session:
            texts = await _ticket_texts(session, 1)
        person = [text for author, text in texts if author == Author.PERSON]
        assert person[-2:] == ["алло, есть кто?", "отмена"]
        assert "Да, слушаю вас" not in [text for _, text in texts]


async def test_the_chats_row_written_after_the_turn_logs_the_sessions_end_once_committed(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """The turn that notes the handed session's end fails after the chat's row was derived
    (its outbox row refused) and is retried: the end is logged by the try that committed only
    (before, ``_noted`` logged it in each try, the rolled-back one too)."""
    caplog.set_level(logging.INFO, logger="handlers.bitrix24.processor")
    async with build(_settings(sqlite_db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        worker = _worker(services)
        await _handed_off(services, worker)
        await _store(services, _message("n1", QUESTION, session="901"))
        with failing_once(services.db, "INSERT INTO outbox") as failed:
            await worker.drain()
        assert failed and "bitrix session ended" not in caplog.text
        clock.advance(seconds=RETRY_SECONDS)
        await worker.drain()
        assert [row.status for row in await _inbox(services)] == [DeliveryStatus.DONE] * 2
        assert caplog.text.count(f"bitrix session ended chat={CHAT_ID}") == 1


async def test_a_chats_row_inserted_during_the_turn_is_updated_and_keeps_its_other_columns(
    pg_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """A new chat's first message: the processor reads no row of the chat before the turn, and
    another transaction inserts it before the turn writes it (the same event handled twice
    after a claim lapsed). The turn's write waits for that insert, then updates the row: the
    event is answered and the column it does not change (``handed_session``) is kept. Before,
    the turn merged its row (a read, then an INSERT) and failed on the chat's key."""
    async with build(_settings(pg_db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        event = _message("m1", QUESTION)
        row = InboxUpdate(channel=repo.CHANNEL, external_id="m1", payload=event.to_json())
        async with services.sessions.begin() as session:
            session.add(
                BitrixChat(
                    chat_id=CHAT_ID, dialog_id=f"chat{CHAT_ID}", bot_id=5, session_id="900",
                    handed_session="899", updated_at=clock.now(),
                )
            )  # fmt: skip
            await session.flush()
            handling = asyncio.create_task(processor_of(services).handle(row))
            # the turn's write of the row waits for this insert
            await lock_awaited(services.sessions, "the turn's write waits for the row's lock", 10)
        await handling
        chat = await _one(services, BitrixChat, CHAT_ID)
        assert isinstance(chat, BitrixChat)
        assert (chat.session_id, chat.handed_session) == ("900", "899")
        assert chat.choices  # the answer's numbered choices, from the turn
        assert len(await _outbox(services)) == 1
