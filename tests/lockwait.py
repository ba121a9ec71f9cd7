"""The tests' one look at PostgreSQL's lock waits: wait until a statement of the test's own
database waits for a lock (a row's, a transaction's or an advisory one)."""

from __future__ import annotations

from deadline import until
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

# This test's database only: xdist workers share the server, each with its own database.
LOCK_WAITS = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
)


async def lock_awaited(
    sessions: async_sessionmaker[AsyncSession], what: str, seconds: float = 20.0
) -> None:
    """Until some transaction of the test's database waits for a lock; else fail saying ``what``."""

    async def waiting() -> bool:
        async with sessions() as look:
            return bool(await look.scalar(LOCK_WAITS))

    await until(waiting, what, seconds)
