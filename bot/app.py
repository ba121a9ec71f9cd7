"""The composition root: builds the knowledge base, database, engine and queue from settings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import health
from bot.clock import Clock, SystemClock
from bot.engine import ConversationEngine, EngineSettings
from bot.errors import StorageError
from bot.metrics import Metrics
from bot.queue import OperatorQueue
from bot.settings import Settings
from bot.storage import knowledge as knowledge_rows
from bot.storage import migrate
from bot.storage.db import create_engine, create_sessionmaker, database_url
from bot.supervise import Workers
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, build, holding

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """Everything an adapter needs; close with :meth:`aclose` (or use :func:`open_services`)."""

    settings: Settings
    knowledge: KnowledgeHolder  # the base in use: take ``.current`` once per question
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    clock: Clock
    engine: ConversationEngine
    queue: OperatorQueue
    metrics: Metrics
    workers: Workers  # every long-running worker of the app, by name (read by /readyz)

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base in use now (a reload may replace it: do not keep it)."""
        return self.knowledge.current

    async def aclose(self) -> None:
        await self.db.dispose()


def create_services(
    settings: Settings,
    *,
    kb: KnowledgeBase | KnowledgeHolder | None = None,
    clock: Clock | None = None,
) -> Services:
    """Wire the services; the database is not touched until first used (so the knowledge base,
    unless given, is built without approved phrasings: :func:`open_services` adds them)."""
    clock = clock or SystemClock()
    if kb is not None:
        knowledge = holding(kb)
    else:
        # No approved phrasings yet: the database is not opened here; the first reload adds them.
        knowledge = KnowledgeHolder(
            *build(settings.knowledge_dir, settings.knowledge_cache_dir, clock.now())
        )
    db = create_engine(database_url(settings.database), echo=settings.database.echo)
    sessions = create_sessionmaker(db)
    metrics = Metrics.create()
    health.collect_queue(metrics, sessions, clock)
    engine_settings = EngineSettings(settings.conversation, settings.hours, settings.kb.public_url)
    engine = ConversationEngine(knowledge, sessions, clock, engine_settings, metrics)
    queue = create_queue(settings, sessions, clock, knowledge)
    return Services(settings, knowledge, db, sessions, clock, engine, queue, metrics, Workers())


def create_queue(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    kb: KnowledgeBase | KnowledgeHolder | None = None,
) -> OperatorQueue:
    """The operator queue; without ``kb`` case cards show entry ids and entries cannot be sent."""
    return OperatorQueue(
        sessions,
        clock,
        reflag_after=timedelta(minutes=settings.queue.reflag_minutes),
        operator_language=settings.conversation.language,
        max_text=settings.conversation.max_text,
        zone=settings.hours.timezone,
        public_url=settings.kb.public_url,
        kb=kb,
    )


@asynccontextmanager
async def open_services(
    settings: Settings,
    *,
    upgrade: bool = False,
    kb: KnowledgeBase | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Services]:
    """Services for a block; ``upgrade`` migrates first, else the schema version is checked.
    The knowledge base (unless given) has the phrasings people approved (`kb approve`)."""
    clock = clock or SystemClock()
    services = create_services(
        settings, kb=kb if kb is not None else await load_knowledge(settings, clock), clock=clock
    )
    try:
        await prepare_database(services.db, upgrade=upgrade)
        yield services
    finally:
        await services.aclose()


async def load_knowledge(settings: Settings, clock: Clock) -> KnowledgeHolder:
    """The knowledge base with the approved phrasings stored in the database (none when the
    database cannot be read yet: the first reload adds them)."""
    phrasings: dict[str, list[str]] = {}
    db = create_engine(database_url(settings.database))
    try:
        await ensure_schema(db)
        async with create_sessionmaker(db)() as session:
            phrasings = await knowledge_rows.approved_phrasings(session)
    except StorageError:
        pass  # not migrated yet (`serve` migrates next): nothing approved can be there
    finally:
        await db.dispose()
    built = await asyncio.to_thread(
        build, settings.knowledge_dir, settings.knowledge_cache_dir, clock.now(), phrasings
    )
    return KnowledgeHolder(*built)


@asynccontextmanager
async def open_queue(
    settings: Settings,
    *,
    upgrade: bool = False,
    clock: Clock | None = None,
    kb: KnowledgeBase | None = None,
) -> AsyncIterator[OperatorQueue]:
    """The operator queue alone (a knowledge base only when given): for operator tools."""
    db = create_engine(database_url(settings.database), echo=settings.database.echo)
    try:
        await prepare_database(db, upgrade=upgrade)
        yield create_queue(settings, create_sessionmaker(db), clock or SystemClock(), kb)
    finally:
        await db.dispose()


async def prepare_database(db: AsyncEngine, *, upgrade: bool) -> None:
    """Migrate to the newest revision, or check that the database is already there."""
    if upgrade:
        try:
            await migrate.upgrade(db)
        except StorageError:
            raise
        except Exception as exc:  # driver errors differ per dialect; all mean "cannot migrate"
            raise StorageError(f"cannot migrate the database: {exc}") from exc
    else:
        await ensure_schema(db)


async def ensure_schema(db: AsyncEngine) -> None:
    """Fail with a readable message unless the database is at the code's newest revision."""
    try:
        current = await migrate.current(db)
    except Exception as exc:  # driver errors differ per dialect; all mean "cannot reach it"
        raise StorageError(f"cannot open the database: {exc}") from exc
    head = migrate.head()
    if current != head:
        raise StorageError(
            f"the database is at revision {current or 'none'}, the code needs {head}: "
            "run `helpbot db upgrade`"
        )
