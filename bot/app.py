"""The composition root: :func:`build` turns the settings into an :class:`App`, which makes the
database, Redis, the knowledge base, the engine, the operator queue, the channels, the web app
and its workers, each when first asked for, and closes what it made when its block ends.

Every command gets what it needs from here and nothing more: `helpbot db` and `bitrix` ask for
the database alone (no knowledge base is built, no worker starts), `operator` for the queue,
`chat` and `report` for the services, `serve` for the web app with every configured channel::

    async with build(settings, schema="upgrade") as app:
        db = await app.database()          # or app.queue(), app.services()
        async with app.serving() as served:  # the web app, channels and workers, served
            ...

Nothing is made at import time, and the channels (aiogram, aiohttp's server) are imported only
when the web app is made, so the light commands stay light.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import health
from bot.clock import Clock, SystemClock
from bot.engine import ConversationEngine, EngineSettings
from bot.errors import StorageError
from bot.metrics import Metrics
from bot.queue import OperatorQueue
from bot.services import Services
from bot.storage import knowledge as knowledge_rows
from bot.storage import migrate
from bot.storage.db import create_engine, create_sessionmaker, database_url
from bot.supervise import Workers
from handlers.settings import Settings
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, holding
from knowledge.holder import build as build_knowledge

if TYPE_CHECKING:
    from aiohttp import web

__all__ = ["App", "Database", "Schema", "Served", "Services", "build"]

log = logging.getLogger(__name__)

# What the database must be before it is used: migrated to the newest revision first
# ("upgrade": serve, chat, operator), already there ("check": the default), or anything
# ("any": the `db` commands, which move it, and the doctor, which reports it).
Schema = Literal["upgrade", "check", "any"]


@dataclass(frozen=True, slots=True)
class Database:
    """The configured database: its engine (migrations) and sessions."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class Served:
    """The app being served: its base URL, services, web app and the channels mounted on it."""

    url: str
    services: Services
    web: web.Application
    channels: tuple[str, ...]


def build(
    settings: Settings,
    *,
    schema: Schema = "check",
    kb: KnowledgeBase | KnowledgeHolder | None = None,
    clock: Clock | None = None,
) -> App:
    """The app for ``settings``; nothing is opened until a part is asked for. ``kb`` replaces
    the knowledge base built from KNOWLEDGE_DIR (tests), ``clock`` the system clock."""
    return App(settings, schema=schema, kb=kb, clock=clock or SystemClock())


class App:
    """Makes each part on first request and keeps it; use as ``async with`` (or call
    :meth:`aclose`): the parts made are closed in the reverse order."""

    def __init__(
        self,
        settings: Settings,
        *,
        schema: Schema,
        kb: KnowledgeBase | KnowledgeHolder | None,
        clock: Clock,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self._schema = schema
        self._kb = kb
        self._database: Database | None = None
        self._knowledge: KnowledgeHolder | None = None
        self._services: Services | None = None
        self._queues: dict[bool, OperatorQueue] = {}  # with and without a knowledge base
        self._web: tuple[web.Application, tuple[str, ...]] | None = None
        self._closers: list[Callable[[], Awaitable[Any]]] = []

    async def __aenter__(self) -> App:
        return self

    async def __aexit__(
        self,
        _type: type[BaseException] | None,
        _exc: BaseException | None,
        _tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        while self._closers:
            await self._closers.pop()()
        self._database = self._knowledge = self._services = self._web = None
        self._queues.clear()

    async def database(self) -> Database:
        """The database, prepared as the app's ``schema`` says (once)."""
        if self._database is None:
            engine = create_engine(
                database_url(self.settings.database), echo=self.settings.database.echo
            )
            self._closers.append(engine.dispose)
            if self._schema != "any":
                await prepare_database(engine, upgrade=self._schema == "upgrade")
            self._database = Database(engine, create_sessionmaker(engine))
        return self._database

    async def knowledge(self) -> KnowledgeHolder:
        """The knowledge base (the one given to :func:`build`, else KNOWLEDGE_DIR's with the
        phrasings people approved, read from the database)."""
        if self._knowledge is None:
            if self._kb is not None:
                self._knowledge = holding(self._kb)
            else:
                db = await self.database()
                async with db.sessions() as session:
                    phrasings = await knowledge_rows.approved_phrasings(session)
                settings = self.settings
                built = await asyncio.to_thread(
                    build_knowledge,
                    settings.knowledge_dir,
                    settings.knowledge_cache_dir,
                    self.clock.now(),
                    phrasings,
                )
                self._knowledge = KnowledgeHolder(*built)
        return self._knowledge

    async def queue(self, *, knowledge: bool = True) -> OperatorQueue:
        """The operator queue; without ``knowledge`` (no base is built) case cards show entry
        ids and entries cannot be sent."""
        if self._services is not None:
            return self._services.queue
        if knowledge not in self._queues:
            db = await self.database()
            kb = await self.knowledge() if knowledge else None
            self._queues[knowledge] = _queue(self.settings, db.sessions, self.clock, kb)
        return self._queues[knowledge]

    async def services(self) -> Services:
        """The database, knowledge base, engine, queue, metrics, workers and Redis (when
        REDIS_URL is set; not connected until first used)."""
        if self._services is None:
            settings, clock = self.settings, self.clock
            db = await self.database()
            knowledge = await self.knowledge()
            metrics = Metrics.create()
            health.collect_queue(metrics, db.sessions, clock)
            engine_settings = EngineSettings(
                settings.conversation, settings.hours, settings.kb.public_url
            )
            engine = ConversationEngine(knowledge, db.sessions, clock, engine_settings, metrics)
            queue = _queue(settings, db.sessions, clock, knowledge)
            redis: Any = None
            if settings.redis.url is not None:
                from redis.asyncio import Redis  # only when configured

                redis = Redis.from_url(settings.redis.url.get_secret_value())
                self._closers.append(redis.aclose)
            self._services = Services(
                settings, knowledge, db.engine, db.sessions, clock, engine, queue, metrics,
                Workers(), redis,
            )  # fmt: skip
        return self._services

    async def web(self) -> tuple[web.Application, tuple[str, ...]]:
        """The web app with every configured channel mounted, and those channels' names;
        nothing is contacted until it is served."""
        if self._web is None:
            self._web = _web_app(await self.services())
        return self._web

    @asynccontextmanager
    async def serving(self, sock: socket.socket | None = None) -> AsyncIterator[Served]:
        """Serve the web app with every configured channel on WEB_HOST:WEB_PORT (or on a bound
        ``sock``) for the block; the channels' workers run from start-up until the block ends."""
        from aiohttp import web

        services = await self.services()
        application, channels = await self.web()
        runner = web.AppRunner(application, access_log=None)  # access lines could carry secrets
        await runner.setup()
        try:
            if sock is not None:
                site: web.BaseSite = web.SockSite(runner, sock)
            else:
                where = self.settings.web
                site = web.TCPSite(
                    runner, where.host, where.port, reuse_port=where.reuse_port or None
                )
            await site.start()
            yield Served(_base_url(site, sock), services, application, channels)
        finally:
            await runner.cleanup()


def _web_app(services: Services) -> tuple[web.Application, tuple[str, ...]]:
    """The web app with every configured channel mounted (aiogram and aiohttp's server load
    slowly: imported here only)."""
    from handlers.bitrix24.web import setup_bitrix
    from handlers.telegram.mount import setup_telegram
    from handlers.web import create_web_app

    return create_web_app(services, (("telegram", setup_telegram), ("bitrix24", setup_bitrix)))


def _queue(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    kb: KnowledgeHolder | None,
) -> OperatorQueue:
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
