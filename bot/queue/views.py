"""What operators read about tickets: a ticket's view, its transcript, the queue's figures.

Plain reads in the caller's session, and :class:`TicketReads`, which opens one for each (the
read side of :class:`~bot.queue.service.OperatorQueue`).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.operator_stats import OperatorFigures, per_operator
from bot.queue.guard import conversation_of, existing
from bot.storage import repo, tickets
from bot.storage.models import Contact, Ticket, TicketStatus


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket as operators see it; ``conversation_id`` is the channel's chat id."""

    id: int
    status: str
    reason: str
    question: str
    channel: str
    conversation_id: str
    person: str
    operator: str | None
    external_ref: str | None
    created_at: datetime
    taken_at: datetime | None
    first_reply_at: datetime | None
    closed_at: datetime | None
    rating: int | None
    note: str | None


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    message_id: int
    author: str
    text: str
    operator: str | None
    created_at: datetime
    payload: str | None = None  # the button a person pressed


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Queue health: counts now, and medians over tickets created in the period asked for."""

    waiting: int
    taken: int
    tickets: int
    median_wait: timedelta | None  # created → taken
    median_first_response: timedelta | None  # created → first operator reply
    ratings: tuple[int, ...]
    operators: tuple[OperatorFigures, ...] = ()


class TicketReads:
    """The reads operators make, each in a session of its own (no transaction is written)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def list_tickets(
        self, statuses: tuple[str, ...] = tickets.OPEN_STATUSES
    ) -> list[TicketView]:
        """Tickets in these statuses, oldest first (waiting ones in queue order)."""
        async with self._sessions() as session:
            rows = await tickets.list_tickets(session, statuses)
            return [await view(session, t) for t in rows]

    async def get(self, ticket_id: int) -> TicketView:
        async with self._sessions() as session:
            return await ticket_view(session, ticket_id)

    async def by_external_ref(self, ref: str) -> TicketView | None:
        """The ticket an adapter tied to its thread (forum topic, open-line session)."""
        async with self._sessions() as session:
            ticket = await session.scalar(
                select(Ticket).where(Ticket.external_ref == ref).order_by(Ticket.id.desc())
            )
            return None if ticket is None else await view(session, ticket)

    async def open_ticket_for(self, channel: str, conversation_id: str) -> TicketView | None:
        """The waiting or taken ticket of a channel's chat, if any."""
        async with self._sessions() as session:
            conversation = await repo.find_conversation(session, channel, conversation_id)
            if conversation is None:
                return None
            ticket = await tickets.open_ticket(session, conversation.id)
            return None if ticket is None else await view(session, ticket)

    async def transcript(self, ticket_id: int) -> list[TranscriptLine]:
        async with self._sessions() as session:
            return await transcript_lines(session, ticket_id)

    async def figures(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> QueueFigures:
        async with self._sessions() as session:
            return await figures(session, since, until)


async def ticket_view(session: AsyncSession, ticket_id: int) -> TicketView:
    """A ticket as operators see it, read in the caller's transaction."""
    return await view(session, await existing(session, ticket_id))


async def transcript_lines(session: AsyncSession, ticket_id: int) -> list[TranscriptLine]:
    """A ticket's messages, oldest first, read in the caller's transaction."""
    await existing(session, ticket_id)
    return [
        TranscriptLine(m.id, m.author, m.text, m.operator, m.created_at, m.payload)
        for m in await tickets.transcript(session, ticket_id)
    ]


async def figures(
    session: AsyncSession, since: datetime | None = None, until: datetime | None = None
) -> QueueFigures:
    """Counts now, and medians over the tickets created in ``[since, until)``."""
    rows = await tickets.created_between(session, since, until)
    open_now = await tickets.list_tickets(session, tickets.OPEN_STATUSES, limit=100_000)
    operators = await per_operator(session, since, until)
    waits = [t.taken_at - t.created_at for t in rows if t.taken_at is not None]
    firsts = [t.first_reply_at - t.created_at for t in rows if t.first_reply_at is not None]
    return QueueFigures(
        waiting=sum(t.status == TicketStatus.WAITING for t in open_now),
        taken=sum(t.status == TicketStatus.TAKEN for t in open_now),
        tickets=len(rows),
        median_wait=_median(waits),
        median_first_response=_median(firsts),
        ratings=tuple(t.rating for t in rows if t.rating is not None),
        operators=operators,
    )


async def view(session: AsyncSession, ticket: Ticket) -> TicketView:
    """``ticket`` as operators see it, with its person's name."""
    conversation = await conversation_of(session, ticket)
    contact = await session.get(Contact, conversation.contact_id)
    person = (contact.display_name or contact.external_id) if contact else ""
    return TicketView(
        id=ticket.id,
        status=ticket.status,
        reason=ticket.reason,
        question=ticket.question,
        channel=conversation.channel,
        conversation_id=conversation.external_id,
        person=person,
        operator=ticket.operator,
        external_ref=ticket.external_ref,
        created_at=ticket.created_at,
        taken_at=ticket.taken_at,
        first_reply_at=ticket.first_reply_at,
        closed_at=ticket.closed_at,
        rating=ticket.rating,
        note=ticket.note,
    )


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))
