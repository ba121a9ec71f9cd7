"""Shared fixtures: a data home of the run's own, a fake clock and migrated databases (SQLite
always, PostgreSQL when configured).

PostgreSQL runs when TEST_DATABASE_URL names a server we may create databases on (for example
postgresql+asyncpg://postgres@127.0.0.1:5432/test); each run makes its own helpbot_test_<random>
database and drops it at the end. Without the variable those tests are skipped with a reason.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.storage import migrate
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import Base, DeliveryStatus, OutboxMessage
from handlers.bitrix24 import models as _bitrix_tables  # noqa: F401 (in Base.metadata: truncated)
from knowledge.base import KnowledgeBase

PG_ENV = "TEST_DATABASE_URL"
PG_SKIP = f"PostgreSQL tests need {PG_ENV}=postgresql+asyncpg://user@host:port/db"
REDIS_ENV = "TEST_REDIS_URL"
REDIS_DATABASES = 16  # a Redis server's default number of database indexes


def _xdist_worker() -> tuple[int, int]:
    """This process's number among pytest-xdist's workers (gw0, gw1, ...) and their count;
    (0, 1) when the tests run in one process."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    return (int(name[2:]), count) if name.startswith("gw") else (0, 1)


def _redis_index(url: str) -> int | None:
    """The database index a redis:// URL names (0 when none), None for another kind of URL."""
    parts = urlsplit(url)
    path = parts.path.strip("/") or "0"
    return int(path) if parts.scheme in ("redis", "rediss") and path.isdigit() else None


def redis_indexes_in_use() -> set[int]:
    """The Redis database indexes the run's workers use (see :func:`pytest_configure`); a test
    that wants keys of its own picks another."""
    index = _redis_index(os.environ.get(REDIS_ENV, ""))
    if index is None:
        return set()
    number, count = _xdist_worker()
    first = (index - number) % REDIS_DATABASES
    return {(first + n) % REDIS_DATABASES for n in range(count)}


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist, worker N uses database index ``given + N`` of TEST_REDIS_URL's server,
    so that two workers' apps never share send limits or keys (each worker already has its own
    PostgreSQL database, SQLite files, data home and loopback ports)."""
    url = os.environ.get(REDIS_ENV, "")
    index = _redis_index(url)
    number, _count = _xdist_worker()
    if index is None or number == 0:
        return
    parts = urlsplit(url)
    own = (index + number) % REDIS_DATABASES
    os.environ[REDIS_ENV] = urlunsplit(parts._replace(path=f"/{own}"))


@contextmanager
def failing_once(db: AsyncEngine, start: str, *parts: str) -> Iterator[list[str]]:
    """The database refuses the first statement that starts so and has ``parts`` (as when the
    disk fills up or the connection drops at that moment)."""
    with failing(db, start, *parts, once=True) as failed:
        yield failed


@contextmanager
def failing(db: AsyncEngine, start: str, *parts: str, once: bool = False) -> Iterator[list[str]]:
    """The database refuses every statement that starts so and has ``parts`` until the block
    ends (``once``: only the first); yields the refused statements."""
    failed: list[str] = []

    def refuse(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if (once and failed) or not statement.lstrip().startswith(start):
            return
        if all(part in statement for part in parts):
            failed.append(statement)
            raise OSError("injected: the database is gone")

    event.listen(db.sync_engine, "before_cursor_execute", refuse)
    try:
        yield failed
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", refuse)


@contextmanager
def refusing_settles(db: AsyncEngine, message: str = "injected") -> Iterator[list[Any]]:
    """The database refuses each ``UPDATE inbox`` that marks a row done (no ``attempts`` in it:
    the settle, and the worker's own done) with an ``OSError(message)``; yields the refused
    statements' parameters (the row's id among them)."""
    refused: list[Any] = []

    def refuse(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_args: Any) -> None:
        done = statement.lstrip().startswith("UPDATE inbox") and "processed_at" in statement
        if done and "attempts" not in statement:
            refused.append(parameters)
            raise OSError(message)

    event.listen(db.sync_engine, "before_cursor_execute", refuse)
    try:
        yield refused
    finally:
        event.remove(db.sync_engine, "before_cursor_execute", refuse)


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    """The shipped knowledge base, loaded once per test session; read-only (a test that needs
    another base builds its own)."""
    return KnowledgeBase.load()


@pytest.fixture(scope="session", autouse=True)
def quick_idle() -> Iterator[None]:
    """Idle workers look at the database every second in tests (DELIVERY_IDLE_SECONDS, 60 s in
    production, where stores wake them): a row due on a clock a test steps is found soon.
    Processes the tests start get an environment of their own: the default (they are woken)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DELIVERY_IDLE_SECONDS", "1")
        yield


@pytest.fixture(scope="session", autouse=True)
def data_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """HELPBOT_HOME for the whole run, so that no test (nor a process a test starts) writes into
    the real user's data home or reads their configuration file; a test that needs a home of its
    own sets HELPBOT_HOME again with monkeypatch."""
    home = tmp_path_factory.mktemp("helpbot-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HELPBOT_HOME", str(home))
        patch.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
        patch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
        patch.delenv("HELPBOT_CONFIG", raising=False)
        yield home


def _close_at_once_over_plain_http() -> None:
    """aiogram's ``AiohttpSession.close`` sleeps 250 ms after closing its connections, so that SSL
    transports can finish closing (aiohttp's advice for a graceful shutdown). Every Bot API the
    tests reach is plain http on 127.0.0.1 (the fakes), where there is nothing to wait for, and
    each Bot the tests or a served app close cost that quarter second of wall time: there the
    session closes as aiohttp's does, without the sleep. An https API still gets the wait."""
    from aiogram.client.session.aiohttp import AiohttpSession

    graceful = AiohttpSession.close
    if getattr(graceful, "plain_http_at_once", False):
        return

    async def close(self: AiohttpSession) -> None:
        if not self.api.base.startswith("http://"):
            await graceful(self)
        elif self._session is not None and not self._session.closed:
            await self._session.close()

    close.plain_http_at_once = True  # type: ignore[attr-defined]
    AiohttpSession.close = close  # type: ignore[method-assign]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before each test, once aiogram has been imported (by a test module or by the app): see
    :func:`_close_at_once_over_plain_http`. A run without aiogram does not import it for this."""
    if "aiogram.client.session.aiohttp" in sys.modules:
        _close_at_once_over_plain_http()


class FakeClock:
    """A clock that stands still until a test moves it. Whatever is in ``wakes`` is called each
    time it moves (a served app's outbox worker: it would find what came due at its next look,
    up to a second later in real time, for every step)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.current = start or datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 12:00 local
        self.wakes: list[Callable[[], object]] = []

    def now(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += timedelta(**delta)
        for wake in self.wakes:
            wake()


@pytest.fixture
def no_cli_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No KNOWLEDGE_DIR and no .env for a command under test: when no --knowledge-dir is
    given the commands read them, and tests must not depend on the developer's set-up."""
    monkeypatch.delenv("KNOWLEDGE_DIR", raising=False)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))


def pending_call(
    channel: str, chat_id: str, method: str, params: dict[str, Any], now: datetime
) -> OutboxMessage:
    """An unsent outbox row, due now (what a channel's render stores), for delivery tests."""
    return OutboxMessage(
        channel=channel,
        chat_id=chat_id,
        method=method,
        params=params,
        status=DeliveryStatus.PENDING,
        attempts=0,
        not_before=now,
        created_at=now,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def _upgrade(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run; each test copies it (migrating every time is slow)."""
    path = tmp_path_factory.mktemp("template") / "helpbot.db"
    asyncio.run(_upgrade(_sqlite_url(path)))
    return path


@pytest.fixture(scope="session")
def pg_server_url() -> str:
    url = os.environ.get(PG_ENV, "")
    if not url:
        pytest.skip(PG_SKIP)
    return url


@pytest.fixture(scope="session")
def pg_database(pg_server_url: str) -> Iterator[str]:
    """A fresh, uniquely named PostgreSQL database for this run, migrated, dropped at the end."""
    name = f"helpbot_test_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(pg_server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(pg_server_url).set(database=name).render_as_string(hide_password=False)
    try:
        asyncio.run(_upgrade(url))
        yield url
    finally:
        asyncio.run(_pg_admin(pg_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_admin(server_url: str, statement: str) -> None:
    engine = create_engine(server_url)
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture
def sqlite_db_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated, empty SQLite file for one test."""
    path = tmp_path / "helpbot.db"
    shutil.copyfile(sqlite_template, path)
    return _sqlite_url(path)


@pytest.fixture
def pg_db_url(pg_database: str) -> str:
    """The run's PostgreSQL database, emptied for this test."""
    asyncio.run(_pg_truncate(pg_database))
    return pg_database


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest) -> str:
    """A migrated, empty database on each backend."""
    return str(request.getfixturevalue(f"{request.param.replace('postgresql', 'pg')}_db_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no schema) of its own on each backend, dropped afterwards."""
    if request.param == "sqlite":
        yield _sqlite_url(tmp_path / "empty.db")
        return
    server: str = request.getfixturevalue("pg_server_url")
    name = f"helpbot_test_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(server, f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _pg_truncate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            names = ", ".join(t.name for t in Base.metadata.sorted_tables)
            await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def db(db_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def sessions(db: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_sessionmaker(db)
