"""Repository functions for operators' work: the audit of their actions on tickets and the
entries they answered with (the pairings question → entry).

Every function takes the caller's ``AsyncSession`` and never commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.lengths import ID_LENGTH
from bot.storage.models import TicketAction, TicketEntry


async def record(
    session: AsyncSession,
    ticket_id: int,
    operator: str,
    action: str,
    now: datetime,
    detail: str | None = None,
) -> None:
    """Note who did what to a ticket, and when."""
    session.add(
        TicketAction(
            ticket_id=ticket_id,
            operator=operator[:ID_LENGTH],
            action=action[:32],
            detail=detail,
            created_at=now,
        )
    )
    await session.flush()


async def actions(session: AsyncSession, ticket_id: int) -> list[TicketAction]:
    """A ticket's recorded actions, oldest first."""
    rows = await session.scalars(
        select(TicketAction).where(TicketAction.ticket_id == ticket_id).order_by(TicketAction.id)
    )
    return list(rows)


async def all_actions(
    session: AsyncSession, since: datetime | None = None, until: datetime | None = None
) -> list[TicketAction]:
    query = select(TicketAction).order_by(TicketAction.id)
    if since is not None:
        query = query.where(TicketAction.created_at >= since)
    if until is not None:
        query = query.where(TicketAction.created_at < until)
    return list(await session.scalars(query))


async def add_pairing(
    session: AsyncSession,
    ticket_id: int,
    question: str,
    entry_id: str,
    operator: str,
    now: datetime,
) -> None:
    session.add(
        TicketEntry(
            ticket_id=ticket_id,
            question=question,
            entry_id=entry_id[:255],
            operator=operator[:ID_LENGTH],
            resolved=False,
            created_at=now,
        )
    )
    await session.flush()


async def resolve_pairings(session: AsyncSession, ticket_id: int) -> None:
    """The ticket was closed: the entries sent in it settled its question."""
    await session.execute(
        update(TicketEntry)
        .where(TicketEntry.ticket_id == ticket_id)
        .values(resolved=True)
        .execution_options(synchronize_session=False)
    )


async def pairings(
    session: AsyncSession, *, resolved_only: bool = True, since: datetime | None = None
) -> list[TicketEntry]:
    query = select(TicketEntry).order_by(TicketEntry.id)
    if resolved_only:
        query = query.where(TicketEntry.resolved.is_(True))
    if since is not None:
        query = query.where(TicketEntry.created_at >= since)
    return list(await session.scalars(query))
