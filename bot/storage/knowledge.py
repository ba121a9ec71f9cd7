"""Knowledge-base rows: reloads asked for (which every replica follows) and people's verdicts on
learned phrasings. Functions take a session and never commit."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import wakeup
from bot.storage.lengths import ID_LENGTH
from bot.storage.models import KbPhrasing, KbReload, PhrasingStatus

MAX_KEY = 255


async def request_reload(session: AsyncSession, by: str, now: datetime) -> int:
    """Record a reload asked for by ``by``; returns its number (higher than every earlier one).
    Every server's reloader is woken when the transaction commits (:mod:`bot.storage.wakeup`)."""
    row = KbReload(requested_by=by[:ID_LENGTH], requested_at=now)
    session.add(row)
    await session.flush()
    await wakeup.ring(session, wakeup.KB)
    return row.id


async def last_reload(session: AsyncSession) -> int:
    """The number of the latest reload asked for, 0 when none ever was."""
    return int(await session.scalar(select(func.max(KbReload.id))) or 0)


def phrasing_key(text: str) -> str:
    """A question as phrasings are told apart: case and spacing ignored."""
    return " ".join(text.casefold().split())[:MAX_KEY]


async def decide_phrasing(
    session: AsyncSession,
    entry_id: str,
    text: str,
    status: PhrasingStatus,
    by: str,
    now: datetime,
) -> KbPhrasing:
    """Approve or reject ``text`` as a phrasing of ``entry_id`` (a later verdict replaces an
    earlier one)."""
    key = phrasing_key(text)
    row = await session.scalar(
        select(KbPhrasing).where(KbPhrasing.entry_id == entry_id, KbPhrasing.key == key)
    )
    if row is None:
        row = KbPhrasing(entry_id=entry_id, key=key)
        session.add(row)
    row.text = " ".join(text.split())
    row.status = status.value
    row.decided_by = by[:ID_LENGTH]
    row.decided_at = now
    await session.flush()
    return row


async def verdicts(session: AsyncSession) -> dict[tuple[str, str], str]:
    """(entry id, key) → status, for every phrasing a person decided on."""
    rows = await session.execute(select(KbPhrasing.entry_id, KbPhrasing.key, KbPhrasing.status))
    return {(entry_id, key): status for entry_id, key, status in rows}


async def approved_phrasings(session: AsyncSession) -> dict[str, list[str]]:
    """Entry id → its approved phrasings, oldest first: extra questions for the loader."""
    rows = await session.execute(
        select(KbPhrasing.entry_id, KbPhrasing.text)
        .where(KbPhrasing.status == PhrasingStatus.APPROVED.value)
        .order_by(KbPhrasing.id)
    )
    out: defaultdict[str, list[str]] = defaultdict(list)
    for entry_id, text in rows:
        out[entry_id].append(text)
    return dict(out)
