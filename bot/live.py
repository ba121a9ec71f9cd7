"""What changed in the queue since an operator last looked: new tickets, and new messages from
the people whose tickets they hold. The live terminal (``helpbot operator``) polls it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.models import Author, Contact, Conversation, Message, Ticket, TicketStatus


@dataclass(frozen=True, slots=True)
class Cursor:
    """The newest ticket and message already shown."""

    ticket_id: int = 0
    message_id: int = 0


@dataclass(frozen=True, slots=True)
class NewTicket:
    ticket_id: int
    person: str
    channel: str
    question: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewMessage:
    ticket_id: int
    person: str
    text: str
    created_at: datetime


async def start(sessions: async_sessionmaker[AsyncSession]) -> Cursor:
    """A cursor at the present: only what arrives from now on is news."""
    async with sessions() as session:
        ticket = await session.scalar(select(func.max(Ticket.id)))
        message = await session.scalar(select(func.max(Message.id)))
    return Cursor(ticket or 0, message or 0)


async def news(
    sessions: async_sessionmaker[AsyncSession], cursor: Cursor, operator: str
) -> tuple[list[NewTicket], list[NewMessage], Cursor]:
    """Tickets opened after the cursor, and the person's messages (after it) on the tickets
    ``operator`` holds; with the cursor moved past both."""
    async with sessions() as session:
        tickets = await _new_tickets(session, cursor.ticket_id)
        messages = await _new_messages(session, cursor.message_id, operator)
        newest = await session.scalar(select(func.max(Message.id)))
    moved = Cursor(
        max([cursor.ticket_id, *(t.ticket_id for t in tickets)]),
        max(cursor.message_id, newest or 0),
    )
    return tickets, messages, moved


async def _new_tickets(session: AsyncSession, after: int) -> list[NewTicket]:
    rows = await session.execute(
        select(Ticket, Conversation.channel, Contact.display_name, Contact.external_id)
        .join(Conversation, Conversation.id == Ticket.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(Ticket.id > after)
        .order_by(Ticket.id)
    )
    return [
        NewTicket(t.id, name or external, channel, t.question, t.created_at)
        for t, channel, name, external in rows
    ]


async def _new_messages(session: AsyncSession, after: int, operator: str) -> list[NewMessage]:
    rows = await session.execute(
        select(Message, Contact.display_name, Contact.external_id)
        .join(Ticket, Ticket.id == Message.ticket_id)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .join(Contact, Contact.id == Conversation.contact_id)
        .where(
            Message.id > after,
            Message.author == Author.PERSON,
            Ticket.status == TicketStatus.TAKEN,
            Ticket.operator == operator,
        )
        .order_by(Message.id)
    )
    return [
        NewMessage(m.ticket_id or 0, name or external, m.text, m.created_at)
        for m, name, external in rows
        if m.text
    ]
