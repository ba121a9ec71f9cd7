"""Database connections: the async engine and session factory built from the settings."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, SessionTransaction

from bot import dburl
from bot.errors import StorageError
from bot.settings import DatabaseSettings
from bot.storage.checkpoints import BACKSTOP
from bot.storage.sqlite import sqlite_dbapi

log = logging.getLogger(__name__)

# PostgreSQL connections kept open: the inbox handles up to 8 events at once, beside a store,
# the outbox and looks for work; with the default 5 the rest were opened and closed each time.
# One more is the server's listening connection (bot.storage.wakeup), held for good.
POOL_SIZE = 13
PING_AFTER = 10.0  # seconds a pooled PostgreSQL connection may idle before it is pinged
_IDLE_SINCE = "helpbot_idle_since"  # a pooled connection's record: when it was checked in
READ_ONLY = "helpbot_read_only"  # a connection execution option: see :func:`reading`
_ON_COMMIT = "helpbot_on_commit"  # Session.info: what to do once its transaction ends


def database_url(settings: DatabaseSettings) -> str:
    """DATABASE_URL when set, else the SQLite file; a SQLite file's folder is created here."""
    if settings.url:
        target = dburl.parse(settings.url)
        database = target.url.database or ""
        if target.backend == "sqlite" and database not in ("", ":memory:"):
            _make_folder(Path(database).expanduser())
        return settings.url
    path = settings.sqlite_path.expanduser()
    _make_folder(path)
    return f"sqlite+aiosqlite:///{path}"


def _make_folder(path: Path) -> None:
    if path.as_posix().startswith("file:"):  # an SQLite URI names no plain path
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the database folder {path.parent}: {exc}") from exc


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for ``url`` as people write it (mapped to asyncpg or aiosqlite by
    :func:`bot.dburl.parse`); SQLite gets WAL, foreign keys and writer-serialising transactions,
    and its statements one hop each to the driver's thread (:mod:`bot.storage.sqlite`)."""
    target = dburl.parse(url)
    if target.backend == "sqlite":
        engine = create_async_engine(
            target.url, echo=echo, connect_args=target.connect_args, module=sqlite_dbapi()
        )
        _setup_sqlite(engine)
    else:
        engine = create_async_engine(
            target.url, echo=echo, connect_args=target.connect_args, pool_size=POOL_SIZE
        )
        _ping_when_idle(engine)
    log.debug("database engine created backend=%s", target.backend)
    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded rows usable after commit; callers own the transaction."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def reading(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session for reads alone, rolled back at the end (no commit). On SQLite its transaction
    is a plain (deferred) ``BEGIN``: a snapshot that takes no write lock, so a look for work
    never waits for a writer nor makes one wait."""
    async with sessions() as session:
        await session.connection(execution_options={READ_ONLY: True})
        yield session


def on_commit(
    session: AsyncSession, committed: Callable[[], None], undone: Callable[[], None]
) -> None:
    """Call ``committed`` once the session's transaction has committed, ``undone`` if it rolls
    back instead (neither raises: they hand rows over in memory). A caller must still undo on
    its own what neither reached (the session closed some other way): see
    :mod:`bot.delivery.express`."""
    session.sync_session.info.setdefault(_ON_COMMIT, []).append((committed, undone))


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: nothing is committed yet
        return
    for committed, _ in session.info.pop(_ON_COMMIT, ()):
        committed()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous: SessionTransaction) -> None:
    if previous.parent is not None:  # a savepoint: the transaction itself goes on
        return
    for _, undone in session.info.pop(_ON_COMMIT, ()):
        undone()


def _ping_when_idle(engine: AsyncEngine) -> None:
    """PostgreSQL: a pooled connection idle for :data:`PING_AFTER` seconds is pinged before it
    is handed out, and replaced when the ping fails (the server restarted, a firewall dropped
    it: SQLAlchemy's "pessimistic" disconnect handling). Pinging every checkout, as
    ``pool_pre_ping`` does, cost three round trips (asyncpg's ping is a BEGIN, an empty
    statement and a ROLLBACK) before each of a message's transactions; a connection in steady
    use has just shown that it works."""

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_IDLE_SINCE)
        if since is None or time.monotonic() - since < PING_AFTER:
            return  # new, or in use a moment ago
        try:
            engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool drops it and hands out a fresh one instead
            log.info("pooled connection dead after %.0f s idle, replaced", time.monotonic() - since)
            raise DisconnectionError from exc


def _setup_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN over from the driver so that every transaction is a real one (see below).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        # A server checkpoints from a task of its own (bot.storage.checkpoints): a commit's
        # own checkpoint is the backstop.
        pragmas = ("foreign_keys=ON", "journal_mode=WAL", "busy_timeout=10000")
        for pragma in (*pragmas, f"wal_autocheckpoint={BACKSTOP}"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: concurrent writers wait for busy_timeout
        # instead of failing with "database is locked" when a read turns into a write. A
        # session of :func:`reading` never writes: a deferred BEGIN, no lock.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
