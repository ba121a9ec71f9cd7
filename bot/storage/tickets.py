"""Repository functions for tickets: create, find, queue order, the atomic take and updates.

Every function takes the caller's ``AsyncSession`` and never commits.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Conversation, Message, Ticket, TicketStatus

OPEN_STATUSES = (TicketStatus.WAITING, TicketStatus.TAKEN)


async def create_ticket(
    session: AsyncSession, conversation_id: int, *, reason: str, question: str, now: datetime
) -> Ticket:
    ticket = Ticket(
        conversation_id=conversation_id,
        status=TicketStatus.WAITING,
        reason=reason,
        question=question,
        created_at=now,
    )
    session.add(ticket)
    await session.flush()
    await mark_open(session, conversation_id)
    return ticket


async def mark_open(session: AsyncSession, conversation_id: int) -> None:
    """Record on the conversation's row that it has an open ticket (``ticket_open``), in the
    transaction that opens (or reopens) one: a turn skips the ticket's SELECT when it is unset,
    and this UPDATE takes the row's lock, so a turn reads it set once the opening commits. Even
    when it is set already: a turn holding the lock may be clearing it, not having seen this
    transaction's ticket, and the UPDATE then waits for that turn and sets it again."""
    await session.execute(
        update(Conversation).where(Conversation.id == conversation_id).values(ticket_open=True)
    )


async def get_ticket(session: AsyncSession, ticket_id: int, *, lock: bool = False) -> Ticket | None:
    """The ticket; ``lock`` takes its row lock and re-reads it (the identity map may be stale).

    Callers that also write the ticket's conversation lock the conversation first, as the
    engine does: the opposite order deadlocks with it on PostgreSQL.
    """
    query = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(query)


async def open_ticket(session: AsyncSession, conversation_id: int) -> Ticket | None:
    """The conversation's waiting or taken ticket, if any."""
    return await session.scalar(
        select(Ticket)
        .where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.id.desc())
        .limit(1)
    )


async def recent_tickets(
    session: AsyncSession, conversation_id: int, since: datetime
) -> list[Ticket]:
    """The conversation's tickets created since ``since``, newest first."""
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.conversation_id == conversation_id, Ticket.created_at >= since)
        .order_by(Ticket.id.desc())
    )
    return list(rows)


async def queue_position(session: AsyncSession, ticket: Ticket) -> int:
    """1 for the oldest waiting ticket; counts the waiting tickets created before this one."""
    ahead = await session.scalar(
        select(func.count(Ticket.id)).where(
            Ticket.status == TicketStatus.WAITING,
            or_(
                Ticket.created_at < ticket.created_at,
                and_(Ticket.created_at == ticket.created_at, Ticket.id < ticket.id),
            ),
        )
    )
    return int(ahead or 0) + 1


async def list_tickets(
    session: AsyncSession, statuses: tuple[str, ...] = OPEN_STATUSES, limit: int = 100
) -> list[Ticket]:
    """Tickets in the given statuses, oldest first (the queue order)."""
    rows = await session.scalars(
        select(Ticket)
        .where(Ticket.status.in_(statuses))
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    return list(rows)


async def take_ticket(session: AsyncSession, ticket_id: int, operator: str, now: datetime) -> bool:
    """Atomically take a waiting ticket: one conditional UPDATE, so exactly one taker wins."""
    result = await session.execute(
        update(Ticket)
        .where(Ticket.id == ticket_id, Ticket.status == TicketStatus.WAITING)
        .values(status=TicketStatus.TAKEN, operator=operator, taken_at=now)
        .execution_options(synchronize_session=False)
    )
    taken = getattr(result, "rowcount", 0) == 1
    if taken:
        # The identity map may hold the ticket as it was before the UPDATE.
        cached = await session.get(Ticket, ticket_id)
        if cached is not None:
            await session.refresh(cached)
    return taken


async def overdue_tickets(
    session: AsyncSession, before: datetime, channels: Collection[str] | None = None
) -> list[Ticket]:
    """Waiting tickets not created nor flagged since ``before``: time to remind operators.

    ``channels`` keeps only the tickets of those channels' conversations (``None``: every one).
    """
    query = select(Ticket).where(
        Ticket.status == TicketStatus.WAITING,
        Ticket.created_at <= before,
        or_(Ticket.flagged_at.is_(None), Ticket.flagged_at <= before),
    )
    if channels is not None:
        query = query.join(Conversation, Conversation.id == Ticket.conversation_id).where(
            Conversation.channel.in_(channels)
        )
    rows = await session.scalars(query.order_by(Ticket.created_at, Ticket.id))
    return list(rows)


async def transcript(session: AsyncSession, ticket_id: int) -> list[Message]:
    rows = await session.scalars(
        select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)
    )
    return list(rows)


async def created_between(
    session: AsyncSession, since: datetime | None = None, until: datetime | None = None
) -> list[Ticket]:
    """Tickets created in ``[since, until)`` (either end open when ``None``)."""
    query = select(Ticket)
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    if until is not None:
        query = query.where(Ticket.created_at < until)
    return list(await session.scalars(query))
