"""The composition root: builds the database, Redis (when configured), knowledge base, engine,
queue, workers and (for `helpbot serve`) the web app with every configured channel from settings.

Every command gets what it needs from here: `serve` an :class:`App` (:func:`build` on the
services), `chat` and `report` the :class:`Services` (:func:`open_services`), `operator` the queue
(:func:`open_queue`), `db`, `bitrix` and the `kb` commands the database (:func:`open_database`).
Nothing is made at import time, and the channels (aiogram, aiohttp's server) are imported only
when a web app is built, so the light commands stay light.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

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
from knowledge.holder import KnowledgeHolder, holding
from knowledge.holder import build as build_knowledge

if TYPE_CHECKING:
    from aiohttp import web

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
    redis: Any = None  # redis.asyncio.Redis when REDIS_URL is set: readiness, shared send limits

    @property
    def kb(self) -> KnowledgeBase:
        """The knowledge base in use now (a reload may replace it: do not keep it)."""
        return self.knowledge.current

    async def aclose(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()


def create_services(
    settings: Settings,
    *,
    kb: KnowledgeBase | KnowledgeHolder | None = None,
    clock: Clock | None = None,
) -> Services:
    """Wire the services; the database (and Redis, when configured) is not touched until first
    used (so the knowledge base, unless given, is built without approved phrasings:
    :func:`open_services` adds them)."""
    clock = clock or SystemClock()
    if kb is not None:
        knowledge = holding(kb)
    else:
        # No approved phrasings yet: the database is not opened here; the first reload adds them.
        knowledge = KnowledgeHolder(
            *build_knowledge(settings.knowledge_dir, settings.knowledge_cache_dir, clock.now())
        )
    db = create_engine(database_url(settings.database), echo=settings.database.echo)
    sessions = create_sessionmaker(db)
    metrics = Metrics.create()
    health.collect_queue(metrics, sessions, clock)
    engine_settings = EngineSettings(settings.conversation, settings.hours, settings.kb.public_url)
    engine = ConversationEngine(knowledge, sessions, clock, engine_settings, metrics)
    queue = create_queue(settings, sessions, clock, knowledge)
    redis: Any = None
    if settings.redis.url is not None:  # no connection until first used
        from redis.asyncio import Redis  # only when configured

        redis = Redis.from_url(settings.redis.url.get_secret_value())
    return Services(
        settings, knowledge, db, sessions, clock, engine, queue, metrics, Workers(), redis
    )


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
    try:
        async with open_database(settings) as db, db.sessions() as session:
            phrasings = await knowledge_rows.approved_phrasings(session)
    except StorageError:
        pass  # not migrated yet (`serve` migrates next): nothing approved can be there
    built = await asyncio.to_thread(
        build_knowledge,
        settings.knowledge_dir,
        settings.knowledge_cache_dir,
        clock.now(),
        phrasings,
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
    async with open_database(settings, upgrade=upgrade) as db:
        yield create_queue(settings, db.sessions, clock or SystemClock(), kb)


@dataclass(frozen=True, slots=True)
class Database:
    """The configured database: its engine (migrations) and sessions."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@asynccontextmanager
async def open_database(
    settings: Settings, *, upgrade: bool = False, check: bool = True
) -> AsyncIterator[Database]:
    """The database for a block: migrated first with ``upgrade``, else (unless ``check`` is
    off: the `db` commands themselves) it must be at the code's newest revision."""
    db = create_engine(database_url(settings.database), echo=settings.database.echo)
    try:
        if upgrade or check:
            await prepare_database(db, upgrade=upgrade)
        yield Database(db, create_sessionmaker(db))
    finally:
        await db.dispose()


@dataclass(frozen=True, slots=True)
class App:
    """What `helpbot serve` runs: the services and one web app with the help center, the
    operations routes and every configured channel (``channels``), whose workers start and stop
    with it."""

    services: Services
    web: web.Application
    channels: tuple[str, ...]

    @asynccontextmanager
    async def serving(self, sock: socket.socket | None = None) -> AsyncIterator[str]:
        """Serve on WEB_HOST:WEB_PORT (or on a bound ``sock``) for the block; yields the base
        URL. The channels' workers run from start-up until the block ends."""
        from aiohttp import web

        runner = web.AppRunner(self.web, access_log=None)  # access lines could carry secrets
        await runner.setup()
        try:
            if sock is not None:
                site: web.BaseSite = web.SockSite(runner, sock)
            else:
                site = web.TCPSite(
                    runner, self.services.settings.web.host, self.services.settings.web.port
                )
            await site.start()
            yield _base_url(site, sock)
        finally:
            await runner.cleanup()


def build(services: Services) -> App:
    """Wire the web app and the configured channels on ``services``; nothing is contacted
    until the app is served."""
    from handlers.web import create_web_app  # aiogram and aiohttp's server load slowly

    web_app, channels = create_web_app(services)
    return App(services, web_app, tuple(channels))


def _base_url(site: web.BaseSite, sock: socket.socket | None) -> str:
    if sock is not None:
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}"
    return site.name.rstrip("/")


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
