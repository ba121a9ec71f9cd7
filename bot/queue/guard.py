"""Which ticket an operator's action may touch, and the locks it takes to touch it.

An action locks the ticket's conversation before the ticket: the engine's own order (it locks
the conversation row and then writes the ticket), so the two never deadlock on PostgreSQL. A
taken ticket is its holder's: another operator is refused by name unless forced (a supervisor),
and a forced take is audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import (
    TicketClosedError,
    TicketError,
    TicketNotFoundError,
    TicketNotTakenError,
    TicketNotYoursError,
)
from bot.storage import audit, repo, tickets
from bot.storage.models import Conversation, Ticket, TicketStatus


def owner_only(ticket: Ticket, operator: str, force: bool) -> None:
    """Refuse, naming the holder, an action on a ticket someone else holds (unless forced)."""
    if ticket.status == TicketStatus.TAKEN and ticket.operator != operator and not force:
        raise TicketNotYoursError(ticket.id, ticket.operator or "?")


async def claim(
    session: AsyncSession, ticket: Ticket, operator: str, force: bool, now: datetime
) -> None:
    """Answering needs the ticket in hand: a waiting one must be taken first, someone else's
    is refused; ``force`` takes either over (recorded)."""
    if ticket.status == TicketStatus.WAITING and not force:
        raise TicketNotTakenError(ticket.id)
    owner_only(ticket, operator, force)
    if ticket.status == TicketStatus.WAITING or ticket.operator != operator:
        action = "take" if ticket.status == TicketStatus.WAITING else "force_take"
        await audit.record(session, ticket.id, operator, action, now, ticket.operator)
        ticket.status, ticket.operator = TicketStatus.TAKEN, operator
        ticket.taken_at = ticket.taken_at or now


async def existing(session: AsyncSession, ticket_id: int, *, lock: bool = False) -> Ticket:
    ticket = await tickets.get_ticket(session, ticket_id, lock=lock)
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    return ticket


async def lock_conversation(session: AsyncSession, ticket_id: int) -> Conversation:
    """Lock the ticket's conversation before the ticket is touched: the engine's lock order.

    The engine locks the conversation row and then writes the ticket; an action that locked the
    ticket first and wrote the conversation second deadlocked with it on PostgreSQL. A ticket
    never changes conversation, so reading ``conversation_id`` unlocked is safe.
    """
    conversation_id = await session.scalar(
        select(Ticket.conversation_id).where(Ticket.id == ticket_id)
    )
    if conversation_id is None:
        raise TicketNotFoundError(ticket_id)
    conversation = await repo.get_conversation(session, conversation_id, lock=True)
    if conversation is None:  # the foreign key makes this impossible short of manual edits
        raise TicketError(ticket_id, "its conversation is missing")
    return conversation


async def open_ticket(session: AsyncSession, ticket_id: int) -> tuple[Ticket, Conversation]:
    """An open ticket and its conversation, both locked (the conversation first)."""
    conversation = await lock_conversation(session, ticket_id)
    ticket = await tickets.get_ticket(session, ticket_id, lock=True)
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    if ticket.status not in tickets.OPEN_STATUSES:
        raise TicketClosedError(ticket_id)
    return ticket, conversation


async def conversation_of(session: AsyncSession, ticket: Ticket) -> Conversation:
    conversation = await repo.get_conversation(session, ticket.conversation_id)
    if conversation is None:  # the foreign key makes this impossible short of manual edits
        raise TicketError(ticket.id, "its conversation is missing")
    return conversation
