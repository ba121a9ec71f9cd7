"""Per-operator figures over a period: tickets taken, first-response median, resolved, ratings."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import audit, tickets
from bot.storage.models import TicketStatus

TAKES = frozenset({"take", "force_take"})


@dataclass(frozen=True, slots=True)
class OperatorFigures:
    operator: str
    taken: int  # takes recorded (a forced take-over counts)
    first_response: timedelta | None  # median, taken → their first answer, of tickets they hold
    resolved: int  # tickets they closed
    ratings: tuple[int, ...]  # of the tickets they closed

    @property
    def mean_rating(self) -> float | None:
        return statistics.fmean(self.ratings) if self.ratings else None


def ratings_distribution(ratings: tuple[int, ...]) -> dict[int, int]:
    """How many of each rating 1–5 (zeros included), for «1: 0, 2: 1, … 5: 7»."""
    counts = Counter(ratings)
    return {n: counts.get(n, 0) for n in range(1, 6)}


async def per_operator(
    session: AsyncSession, since: datetime | None = None, until: datetime | None = None
) -> tuple[OperatorFigures, ...]:
    """Each operator's figures from the audit and the tickets created in the period."""
    actions = await audit.all_actions(session, since, until)
    rows = await tickets.created_between(session, since, until)
    names = sorted({a.operator for a in actions} | {t.operator for t in rows if t.operator})
    out = []
    for name in names:
        held = [t for t in rows if t.operator == name]
        firsts = [
            t.first_reply_at - t.taken_at
            for t in held
            if t.first_reply_at is not None and t.taken_at is not None
        ]
        closed = [t for t in held if t.status == TicketStatus.CLOSED]
        out.append(
            OperatorFigures(
                operator=name,
                taken=sum(a.operator == name and a.action in TAKES for a in actions),
                first_response=(
                    timedelta(seconds=statistics.median(f.total_seconds() for f in firsts))
                    if firsts
                    else None
                ),
                resolved=len(closed),
                ratings=tuple(t.rating for t in closed if t.rating is not None),
            )
        )
    return tuple(out)
