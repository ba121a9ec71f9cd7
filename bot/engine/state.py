"""A conversation's state, derived from its tickets and never stored: one source of truth.

``waiting`` and ``operator`` are its open ticket's status (waiting, taken); without one it is
``bot`` — or ``closed`` while the person's last message still belongs to a ticket an operator
closed (a rating press keeps it there; the next question does not). The engine itself needs
only the open ticket; the named state is for people reading a conversation (tests, reports).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import tickets
from bot.storage.models import Author, Message, State, Ticket, TicketStatus


def state_of(ticket: Ticket | None) -> State:
    """The state an open ticket (or none) puts its conversation in."""
    if ticket is None:
        return State.BOT
    return State.WAITING if ticket.status == TicketStatus.WAITING else State.OPERATOR


async def conversation_state(session: AsyncSession, conversation_id: int) -> State:
    """The conversation's state now, read in the caller's transaction."""
    ticket = await tickets.open_ticket(session, conversation_id)
    if ticket is not None:
        return state_of(ticket)
    last = await session.scalar(
        select(Message.ticket_id)
        .where(Message.conversation_id == conversation_id, Message.author == Author.PERSON)
        .order_by(Message.id.desc())
        .limit(1)
    )
    if last is None:
        return State.BOT
    status = await session.scalar(select(Ticket.status).where(Ticket.id == last))
    return State.CLOSED if status == TicketStatus.CLOSED else State.BOT
