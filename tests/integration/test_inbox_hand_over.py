"""The hand-off of an event the inbox gives up (bot/delivery/giveup.py ``_handed``): exactly
once when two replicas give the same row up, and a hand-off that fails leaves the row given up
with no loop.

The real engine and the real Bitrix24 processor's ``hand_over`` on a real database; the
handler that fails every time is a stand-in (an in-memory channel's handler: no real event
makes both replicas' tries fail at the chosen moment), and the one outside failure is made at
the database driver.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

import pytest
from conftest import FakeClock, failing, refusing_settles
from sqlalchemy import select
from test_bitrix_processor import processor_of

from bot.app import build
from bot.channel import Draft
from bot.delivery import pipeline
from bot.delivery.giveup import RETRY_SECONDS, HandOver
from bot.delivery.inbox import IDLE, InboxWorker
from bot.delivery.policy import MAX_ATTEMPTS
from bot.engine.events import Incoming, Say
from bot.services import Services
from bot.settings import DatabaseSettings
from bot.storage import delivery
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage, Ticket
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.events import ChatEvent, arrival
from handlers.settings import Settings
from knowledge.base import KnowledgeBase

QUESTION = "Как восстановить пароль от Битрикс24"
CLAIM = 30.0


def _message(key: str) -> ChatEvent:
    return ChatEvent(
        kind="message", key=key, bot_id=5, chat_id=77, dialog_id="chat77", entity_type="LINES",
        session_id="900", user_id="31", user_name="Ann", from_customer=True, text=QUESTION,
    )  # fmt: skip


def _settings(db_url: str) -> Settings:
    return Settings(_env_file=None, database=DatabaseSettings(url=db_url))  # type: ignore[call-arg]


def _render(event: Any) -> list[Draft]:
    """The in-memory channel's render: the person's texts only."""
    if not isinstance(event, Say):
        return [Draft(event.conversation_id, type(event).__name__)]
    return [Draft(event.conversation_id, "say", {"text": line}) for line in event.reply.blocks]


def _hand_over(services: Services, channel: str) -> HandOver:
    """The Bitrix24 processor's real hand-off (it reads the chat's row first: a session handed
    over meanwhile has nothing left to relay), or an in-memory channel's that hands the
    message over with no read of its own (as Telegram's does): the engine's turn runs again
    and the give-up's conditional settle is what keeps it once."""
    if channel == "memory":

        async def hand_over(row: InboxUpdate, failure: str) -> None:
            incoming = Incoming(
                repo.CHANNEL, "chat77", "31", text=QUESTION, message_id=row.external_id
            )
            render = pipeline.each(_render)
            await pipeline.answer(services.engine, incoming, render, services.clock, failed=failure)

        return hand_over
    return processor_of(services).hand_over


def _worker(services: Services, replica: str, tries: list[str], hand_over: HandOver) -> InboxWorker:
    """A replica's inbox worker whose handler fails every time (a bug in our code)."""

    async def handle(row: InboxUpdate) -> None:
        tries.append(replica)
        raise KeyError("a bug")

    return InboxWorker(
        repo.CHANNEL, services.sessions, services.clock, handle, replica=replica,
        claim_seconds=CLAIM, hand_over=hand_over,
    )  # fmt: skip


async def _store(services: Services) -> None:
    """The customer's message stored unclaimed, as a replica's intake leaves it."""
    stored = arrival(_message("m1"))
    now = services.clock.now()
    async with services.sessions.begin() as session:
        await delivery.keep_update(
            session, repo.CHANNEL, stored.key, stored.payload, now, stored.chat,
            replica=None, hold_until=now,
        )  # fmt: skip


async def _state(services: Services) -> tuple[InboxUpdate, list[Ticket], list[str]]:
    async with services.sessions() as session:
        row = (await session.scalars(select(InboxUpdate))).one()
        tickets = list((await session.scalars(select(Ticket))).all())
        methods = list(
            (await session.scalars(select(OutboxMessage.method).order_by(OutboxMessage.id))).all()
        )
    return row, tickets, methods


@pytest.mark.parametrize("channel", ["bitrix24", "memory"])
async def test_two_replicas_giving_up_one_event_hand_it_over_once(
    db_url: str, kb: KnowledgeBase, clock: FakeClock, caplog: pytest.LogCaptureFixture, channel: str
) -> None:
    """Replica a tries twice; during its third try its claim runs out, replica b claims the
    row, fails it a third time and hands it over; then a's third try fails too and a gives it
    up as well: a's hand-off finds nothing to relay (Bitrix24: the session is the line's now)
    or its settle finds the row given up and rolls back. One ticket, one notice."""
    async with build(_settings(db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        tries: list[str] = []
        hand_over = _hand_over(services, channel)
        b = _worker(services, "replica-b", tries, hand_over)
        a = _worker(services, "replica-a", tries, hand_over)
        inner = a._handle_row

        async def slow_third(row: InboxUpdate) -> object:
            if len(tries) == 2:  # a's third try: its claim lapses, and b takes the row
                clock.advance(seconds=CLAIM + 1)
                await b.drain()
            return await inner(row)

        a._handle_row = slow_third
        await _store(services)
        with caplog.at_level(logging.WARNING, logger="bot.delivery"):
            for _ in range(3):
                await a.drain()
                clock.advance(seconds=RETRY_SECONDS * MAX_ATTEMPTS)  # past any pause between tries
            assert await a.drain() == IDLE  # nothing left to try

        assert tries == ["replica-a", "replica-a", "replica-b", "replica-a"]
        row, tickets, methods = await _state(services)
        assert (row.status, row.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
        assert row.error is not None and row.error.startswith("handed over; KeyError")
        assert [(t.reason, t.question) for t in tickets] == [("failed:KeyError", QUESTION)]
        handed = [r.getMessage() for r in caplog.records if "handed over to" in r.getMessage()]
        assert len(handed) == 1
        if channel == "memory":
            assert "given up elsewhere meanwhile" in caplog.text
            assert a._failures.retry_at == {} and a._failures._passing == {}  # forgotten
            assert methods.count("TicketOpened") == methods.count("HandToQueue") == 1
            assert "Relayed" not in methods  # a's relay into b's ticket rolled back
            return
        # the card's note, the person's hand-off text, the queue: once each
        assert methods == [
            "imbot.v2.Chat.Message.send",
            "imbot.v2.Chat.Message.send",
            "imopenlines.bot.session.operator",
        ]


async def test_a_hand_off_that_fails_leaves_the_event_given_up_with_no_loop(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    async with build(_settings(sqlite_db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        tries: list[str] = []
        worker = _worker(services, "replica-a", tries, _hand_over(services, "bitrix24"))
        await _store(services)
        with (
            failing(services.db, "INSERT INTO tickets") as refused,
            caplog.at_level(logging.WARNING, logger="bot.delivery"),
        ):
            for _ in range(MAX_ATTEMPTS):
                await worker.drain()
                clock.advance(seconds=RETRY_SECONDS * MAX_ATTEMPTS)
            assert await worker.drain() == IDLE
        assert len(tries) == MAX_ATTEMPTS and len(refused) == 1  # one hand-off tried
        row, tickets, methods = await _state(services)
        assert (row.status, row.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
        assert row.error is not None and row.error.startswith("hand-off failed: OSError; KeyError")
        assert (tickets, methods) == ([], [])
        assert "given-up event not handed over" in caplog.text


async def test_a_hand_off_that_fails_passingly_is_tried_again_later(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """SQLite busy (or a PostgreSQL restart) during the hand-off is no reason to give the
    person's message up for good: the row stays pending, the next try runs the handler and,
    failing again, the hand-off, which now opens the ticket."""
    async with build(_settings(sqlite_db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        tries: list[str] = []
        real = _hand_over(services, "bitrix24")
        calls: list[str] = []

        async def busy_once(row: InboxUpdate, failure: str) -> object:
            calls.append(failure)
            if len(calls) == 1:
                raise sqlite3.OperationalError("database is locked")
            return await real(row, failure)

        worker = _worker(services, "replica-a", tries, busy_once)
        await _store(services)
        for _ in range(MAX_ATTEMPTS):
            await worker.drain()
            clock.advance(seconds=MAX_ATTEMPTS)
        row, tickets, _ = await _state(services)
        assert row.status == DeliveryStatus.PENDING and tickets == []
        await worker.drain()
        assert len(tries) == MAX_ATTEMPTS + 1 and calls == ["KeyError", "KeyError"]
        row, tickets, _ = await _state(services)
        assert row.status == DeliveryStatus.FAILED
        assert row.error is not None and row.error.startswith("handed over; KeyError")
        assert [t.reason for t in tickets] == ["failed:KeyError"]


async def test_an_event_handled_whose_done_is_refused_is_never_handed_over(
    sqlite_db_url: str, kb: KnowledgeBase, clock: FakeClock
) -> None:
    """The handler succeeded (an ignored event: nothing settled) and only marking the row
    done failed, for good: given up after its attempts, but not handed to the operators as a
    message the bot failed on (the in-memory hand-off would open a ticket for any row)."""
    async with build(_settings(sqlite_db_url), kb=kb, clock=clock) as app:
        services = await app.services()
        tries: list[InboxUpdate] = []

        async def ignore(row: InboxUpdate) -> None:
            tries.append(row)

        worker = InboxWorker(
            repo.CHANNEL, services.sessions, services.clock, ignore, replica="replica-a",
            claim_seconds=CLAIM, hand_over=_hand_over(services, "memory"),
        )  # fmt: skip
        await _store(services)
        with refusing_settles(services.db) as refused:
            for _ in range(MAX_ATTEMPTS):
                await worker.drain()
                clock.advance(seconds=MAX_ATTEMPTS)
            assert await worker.drain() == IDLE
        assert len(tries) == len(refused) == MAX_ATTEMPTS
        row, tickets, methods = await _state(services)
        assert (row.status, row.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
        assert row.error is not None and row.error.startswith("OSError")
        assert (tickets, methods) == ([], [])
