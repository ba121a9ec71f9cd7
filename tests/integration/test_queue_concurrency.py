"""Two operators take one ticket at the same moment: exactly one wins (real transactions)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from conftest import FakeClock
from lockwait import lock_awaited
from queueing import Queue
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.engine import ConversationEngine, EngineSettings, Incoming, Relayed, conversation_state
from bot.errors import TicketClosedError, TicketTakenError
from bot.storage import repo, tickets
from bot.storage.models import Message, State, Ticket, TicketStatus
from handlers.settings import Settings
from knowledge.base import KnowledgeBase

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


async def _tickets(sessions: async_sessionmaker[AsyncSession], count: int) -> list[int]:
    ids = []
    async with sessions.begin() as session:
        for n in range(count):
            rows = await repo.begin_turn(
                session, "t", f"c{n}", "p", display_name="", language="", lang="ru", now=NOW
            )
            ticket = await tickets.create_ticket(
                session, rows.conversation.id, reason="requested", question="q", now=NOW
            )
            ids.append(ticket.id)
    return ids


@pytest.fixture
def db_url(pg_db_url: str) -> str:
    """PostgreSQL only: SQLite serialises writers, so it cannot show the race."""
    return pg_db_url


async def test_both_read_waiting_then_update_at_once_one_wins(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for ticket_id in await _tickets(sessions, 10):
        barrier = asyncio.Barrier(2)

        async def taker(
            name: str, ticket_id: int = ticket_id, barrier: asyncio.Barrier = barrier
        ) -> bool:
            async with sessions.begin() as session:
                ticket = await session.get(Ticket, ticket_id)
                assert ticket is not None and ticket.status == "waiting"
                await barrier.wait()  # both transactions saw "waiting" before either updates
                return await tickets.take_ticket(session, ticket_id, name, NOW)

        results = await asyncio.gather(taker("anna"), taker("bob"))
        assert sorted(results) == [False, True]


async def test_queue_take_by_five_operators_has_one_winner(
    sessions: async_sessionmaker[AsyncSession], clock: object
) -> None:
    queue = Queue(sessions, clock, reflag_after=timedelta(minutes=5))  # type: ignore[arg-type]
    for ticket_id in await _tickets(sessions, 5):
        outcomes = await asyncio.gather(
            *(queue.take(ticket_id, f"op{n}") for n in range(5)), return_exceptions=True
        )
        winners = [o for o in outcomes if isinstance(o, list)]
        losers = [o for o in outcomes if isinstance(o, TicketTakenError)]
        assert len(winners) == 1 and len(losers) == 4
        view = await queue.get(ticket_id)
        assert view.status == "taken" and all(loser.operator == view.operator for loser in losers)


async def test_a_cancel_racing_a_take_is_serialised_not_deadlocked(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """The engine locks the conversation, then the ticket; the queue must lock in that order too.

    Taking the ticket first and the conversation second made PostgreSQL abort one side with
    ``deadlock detected`` (a raw DBAPIError) instead of serialising the two.
    """
    config = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = ConversationEngine(
        KnowledgeBase(()), sessions, clock, EngineSettings(config.conversation, config.hours)
    )
    queue = Queue(sessions, clock, reflag_after=timedelta(minutes=5))
    ids = await _tickets(sessions, 20)  # waiting: their conversations are waiting too
    for n, ticket_id in enumerate(ids):
        cancel, take = await asyncio.gather(
            engine.handle(Incoming("t", f"c{n}", "p", "отмена")),
            queue.take(ticket_id, "anna"),
            return_exceptions=True,
        )
        assert isinstance(cancel, list), cancel  # a cancel always lands, before or after a take
        assert isinstance(take, list | TicketClosedError), take  # closed: the cancel came first
        async with sessions() as session:
            ticket = await session.get(Ticket, ticket_id)
            assert ticket is not None
            state = await conversation_state(session, ticket.conversation_id)
        assert ticket.status == "cancelled" and (ticket.operator == "anna") == isinstance(
            take, list
        )
        assert state == State.BOT


async def test_a_message_waiting_for_its_conversation_sees_the_ticket_closed_meanwhile(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """An operator's close holds the conversation's lock while the person writes: once the
    close commits, the message is the bot's again, not relayed into the closed ticket.

    PostgreSQL re-checks only the locked row after a wait: a ticket read in the statement that
    waited for the conversation's lock would be the one from before the close.
    """
    config = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = ConversationEngine(
        KnowledgeBase(()), sessions, clock, EngineSettings(config.conversation, config.hours)
    )
    [ticket_id] = await _tickets(sessions, 1)
    await engine.handle(Incoming("t", "c0", "p", "первое"))  # relayed: the ticket is open
    async with sessions.begin() as session:
        ticket = await tickets.get_ticket(session, ticket_id)
        assert ticket is not None
        assert await repo.get_conversation(session, ticket.conversation_id, lock=True)
        message = asyncio.create_task(engine.handle(Incoming("t", "c0", "p", "второе")))
        await lock_awaited(sessions, "the message waits for the conversation's lock")
        ticket.status, ticket.closed_at = TicketStatus.CLOSED, NOW
    events = await message
    assert not [e for e in events if isinstance(e, Relayed)], events
    async with sessions() as session:
        last = await session.scalar(
            select(Message).where(Message.text == "второе").order_by(Message.id.desc())
        )
    assert last is not None and last.ticket_id is None


async def test_a_message_waiting_for_its_conversation_sees_a_ticket_opened_meanwhile(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A turn reads the open ticket only when the locked conversation says there may be one
    (``ticket_open``): a ticket opened while the message waited for the lock sets it on that
    row, which the message reads as it is after the wait, and so relays into the ticket."""
    config = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = ConversationEngine(
        KnowledgeBase(()), sessions, clock, EngineSettings(config.conversation, config.hours)
    )
    await engine.handle(Incoming("t", "c0", "p", "первое"))  # the bot's: no ticket
    async with sessions.begin() as session:
        conversation = await repo.find_conversation(session, "t", "c0")
        assert conversation is not None and not conversation.ticket_open
        assert await repo.get_conversation(session, conversation.id, lock=True)
        message = asyncio.create_task(engine.handle(Incoming("t", "c0", "p", "второе")))
        await lock_awaited(sessions, "the message waits for the conversation's lock")
        ticket = await tickets.create_ticket(
            session, conversation.id, reason="requested", question="q", now=NOW
        )
    events = await message
    assert [e.ticket_id for e in events if isinstance(e, Relayed)] == [ticket.id], events
