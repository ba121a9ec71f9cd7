"""Retention: blank what people wrote (message texts, ticket questions, raw inbox and outbox
payloads) once it is older than the cut-off, keeping every row and its figures (authors,
decisions, entries, times, ratings) so reports still count them.

Rows still in play are left alone: messages and questions of open tickets, and inbox or outbox
rows not yet processed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import CursorResult, String, Update, cast, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import (
    DeliveryStatus,
    InboxUpdate,
    Message,
    OutboxMessage,
    Ticket,
    TicketAction,
    TicketEntry,
)
from bot.storage.tickets import OPEN_STATUSES

log = logging.getLogger(__name__)

EMPTY = "{}"  # a blanked JSON payload, as stored


@dataclass(frozen=True, slots=True)
class Purged:
    """How many rows of each kind were blanked."""

    messages: int
    tickets: int
    inbox: int
    outbox: int


async def purge(session: AsyncSession, before: datetime) -> Purged:
    """Blank texts created before ``before``; the caller owns (and commits) the transaction."""
    open_tickets = select(Ticket.id).where(Ticket.status.in_(list(OPEN_STATUSES)))
    purged = Purged(
        messages=await _count(
            session,
            update(Message)
            .where(
                Message.created_at < before,
                Message.text != "",
                (Message.ticket_id.is_(None)) | (Message.ticket_id.not_in(open_tickets)),
            )
            .values(text=""),
        ),
        tickets=await _count(
            session,
            update(Ticket)
            .where(
                Ticket.created_at < before,
                Ticket.status.not_in(list(OPEN_STATUSES)),
                (Ticket.question != "") | Ticket.note.is_not(None),
            )
            .values(question="", note=None),
        ),
        inbox=await _count(
            session,
            update(InboxUpdate)
            .where(
                InboxUpdate.created_at < before,
                InboxUpdate.status != DeliveryStatus.PENDING,
                cast(InboxUpdate.payload, String) != EMPTY,
            )
            .values(payload={}),
        ),
        outbox=await _count(
            session,
            update(OutboxMessage)
            .where(
                OutboxMessage.created_at < before,
                OutboxMessage.status != DeliveryStatus.PENDING,
                cast(OutboxMessage.params, String) != EMPTY,
            )
            .values(params={}),
        ),
    )
    # What operators wrote on closed tickets (notes) and the questions paired with entries.
    closed = select(Ticket.id).where(
        Ticket.created_at < before, Ticket.status.not_in(list(OPEN_STATUSES))
    )
    await _count(
        session,
        update(TicketAction)
        .where(TicketAction.ticket_id.in_(closed), TicketAction.detail.is_not(None))
        .values(detail=None),
    )
    await _count(
        session,
        update(TicketEntry)
        .where(TicketEntry.ticket_id.in_(closed), TicketEntry.question != "")
        .values(question=""),
    )
    log.info(
        "retention purge before=%s messages=%d tickets=%d inbox=%d outbox=%d",
        before.isoformat(),
        purged.messages,
        purged.tickets,
        purged.inbox,
        purged.outbox,
    )
    return purged


async def _count(session: AsyncSession, statement: Update) -> int:
    result = await session.execute(statement.execution_options(synchronize_session=False))
    return int(result.rowcount) if isinstance(result, CursorResult) else 0
