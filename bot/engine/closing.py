"""Closing an open ticket, written once for the queue's close and the engine's release."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.events import TicketClosed, about
from bot.storage import audit
from bot.storage.models import Conversation, Ticket, TicketStatus
from bot.texts import phrase


async def close_ticket(
    session: AsyncSession,
    conversation: Conversation,
    ticket: Ticket,
    by: str,
    note: str | None,
    now: datetime,
    lang: str,
) -> TicketClosed:
    """Close the locked open ``ticket`` as ``by``'s (audited; its sent entries count as
    settling it); the operators' event, its notice in ``lang``."""
    await audit.record(session, ticket.id, by, "close", now, note)
    await audit.resolve_pairings(session, ticket.id)
    ticket.status, ticket.closed_at = TicketStatus.CLOSED, now
    ticket.operator = ticket.operator or by
    ticket.note = note or None
    notice = phrase("op_ticket_closed", lang, ticket=ticket.id, operator=ticket.operator)
    return TicketClosed(**about(conversation, ticket), notice=notice, operator=ticket.operator)
