"""What operators answered questions with: the pairings question → knowledge-base entry.

An operator who sends an entry's card (``helpbot operator send-entry``, ``/kb`` in a Telegram
topic) pairs the ticket's question with that entry; closing the ticket marks the pairing
resolved. Reports and knowledge-base learning read them through :func:`resolved_pairings`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage import audit


@dataclass(frozen=True, slots=True)
class Pairing:
    """The question of a ticket and the entry an operator settled it with."""

    question: str
    entry_id: str
    ticket_id: int
    operator: str
    created_at: datetime


async def resolved_pairings(
    sessions: async_sessionmaker[AsyncSession], *, since: datetime | None = None
) -> list[Pairing]:
    """Pairings of tickets closed after an operator sent the entry, oldest first."""
    async with sessions() as session:
        rows = await audit.pairings(session, resolved_only=True, since=since)
    return [Pairing(r.question, r.entry_id, r.ticket_id, r.operator, r.created_at) for r in rows]
