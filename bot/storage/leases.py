"""Named leases: a job (the Bitrix24 poller) that exactly one replica does at a time.

A lease is one row (name, holder, expires_at). Taking or renewing it is one conditional
``UPDATE`` (ours, or expired), else one ``INSERT`` that fails when another replica got there
first: dialect-neutral, and atomic on every database. A holder that dies stops renewing, so
another replica takes the lease over once it expires.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.storage.models import Lease

log = logging.getLogger(__name__)


async def take_lease(
    session: AsyncSession, name: str, holder: str, now: datetime, ttl: float
) -> bool:
    """Take or renew ``name`` for ``holder`` until ``now + ttl``; ``False``: another holds it."""
    until = now + timedelta(seconds=ttl)
    result = await session.execute(
        update(Lease)
        .where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at <= now))
        .values(holder=holder, expires_at=until)
        .execution_options(synchronize_session=False)
    )
    if int(getattr(result, "rowcount", 0) or 0) == 1:
        return True
    try:
        async with session.begin_nested():
            session.add(Lease(name=name, holder=holder, expires_at=until))
    except IntegrityError:
        return False  # the row exists and is someone else's, live
    return True


async def release_lease(session: AsyncSession, name: str, holder: str, now: datetime) -> None:
    """Give ``name`` up at once if ``holder`` has it (a clean stop: no wait for the expiry)."""
    await session.execute(
        update(Lease)
        .where(Lease.name == name, Lease.holder == holder)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


class LeaseKeeper:
    """One replica's hold on one lease: :meth:`hold` takes or renews it, each in a transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        name: str,
        holder: str,
        ttl: float,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self.name, self.holder, self.ttl = name, holder, ttl
        self.held = False

    async def hold(self) -> bool:
        """Take or renew the lease; whether this replica holds it now."""
        async with self._sessions.begin() as session:
            held = await take_lease(session, self.name, self.holder, self._clock.now(), self.ttl)
        if held != self.held:
            log.info(
                "lease %s lease=%s holder=%s", "taken" if held else "lost", self.name, self.holder
            )
        self.held = held
        return held

    async def release(self) -> None:
        if self.held:
            async with self._sessions.begin() as session:
                await release_lease(session, self.name, self.holder, self._clock.now())
            self.held = False
