"""Readiness probes (database, Redis) and the metrics read from the database at scrape time."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.metrics import Metrics
from bot.storage.models import Ticket, TicketStatus

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0  # seconds a dependency has to answer a readiness probe


async def database_problem(db: AsyncEngine, within: float = PROBE_TIMEOUT) -> str | None:
    """``None`` when the database answers ``SELECT 1`` in time, else a short reason."""
    try:
        async with asyncio.timeout(within), db.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except TimeoutError:
        return "timed out"
    except Exception as exc:  # driver errors differ per dialect; all mean "not reachable"
        log.warning("readiness: database unreachable: %s", type(exc).__name__)
        return type(exc).__name__
    return None


async def redis_problem(client: Any, within: float = PROBE_TIMEOUT) -> str | None:
    """``None`` when Redis answers PING in time (``client``: a ``redis.asyncio.Redis``)."""
    try:
        async with asyncio.timeout(within):
            await client.ping()
    except TimeoutError:
        return "timed out"
    except Exception as exc:  # connection, auth and protocol errors all mean "not reachable"
        log.warning("readiness: redis unreachable: %s", type(exc).__name__)
        return type(exc).__name__
    return None


def collect_queue(
    metrics: Metrics, sessions: async_sessionmaker[AsyncSession], clock: Clock
) -> None:
    """Register the scrape-time gauges: waiting tickets and the oldest one's wait."""

    async def collect() -> None:
        async with sessions() as session:
            count, oldest = (
                await session.execute(
                    select(func.count(Ticket.id), func.min(Ticket.created_at)).where(
                        Ticket.status == TicketStatus.WAITING
                    )
                )
            ).one()
        metrics.queue_waiting.set(count)
        # min() keeps the column's UtcDateTime type, so ``oldest`` is aware UTC on every dialect.
        wait = (clock.now() - oldest).total_seconds() if oldest is not None else 0.0
        metrics.queue_oldest_wait.set(max(wait, 0.0))

    metrics.registry.collect_with(collect)
