"""Closing an open ticket, written once for the queue's close and a release (the engine's turn,
the queue's :meth:`~bot.queue.OperatorQueue.release`)."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.events import TicketClosed, about
from bot.storage import audit
from bot.storage.db import on_commit
from bot.storage.models import Conversation, Ticket, TicketStatus
from bot.texts import phrase

log = logging.getLogger(__name__)


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


async def release_ticket(
    session: AsyncSession,
    conversation: Conversation,
    ticket: Ticket,
    by: str,
    why: str,
    now: datetime,
    lang: str,
) -> TicketClosed:
    """The channel's own queue let the ticket's conversation go: closed as ``by``'s, ``why``
    its note; logged here for every path that releases, once its transaction has committed (a
    release rolled back and retried is one line)."""
    closed = await close_ticket(session, conversation, ticket, by, why, now, lang)

    def released() -> None:
        log.info("ticket released ticket=%s by=%s why=%s", ticket.id, by, why)

    on_commit(session, released, lambda: None)
    return closed
