"""The SQLite driver (bot/storage/sqlite.py): one call to the driver's thread a statement, with
the rows, counts, ids and errors the stock adapter gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.storage.db import create_engine, create_sessionmaker, reading


@pytest.fixture
async def sessions(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield create_sessionmaker(engine)
    await engine.dispose()


async def test_statement_results_are_the_drivers(sessions: Any) -> None:
    async with sessions.begin() as session:
        inserted = await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await session.execute(
            text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}, {"v": "d"}]
        )
        assert many.rowcount == 3
        changed = await session.execute(text("UPDATE t SET v = v || '!' WHERE id > 2"))
        assert changed.rowcount == 2
    async with sessions() as session:
        result = await session.execute(text("SELECT id, v FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "v"]
        assert [tuple(row) for row in result] == [(1, "a"), (2, "b"), (3, "c!"), (4, "d!")]
        assert (await session.execute(text("SELECT v FROM t WHERE id = 9"))).first() is None
        assert await session.scalar(text("SELECT count(*) FROM t")) == 4


async def test_driver_error_is_sqlalchemys_and_rolls_back(sessions: Any) -> None:
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
            await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 0


async def test_only_begin_and_commit_go_to_the_drivers_thread(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await real(self, fn, *args, **kwargs)

    async with sessions() as session:  # the pooled connection exists before the count
        await session.execute(text("SELECT 1"))
    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    async with sessions.begin() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('a')"))
        await session.execute(text("SELECT v FROM t"))
        await session.execute(text("UPDATE t SET v = 'b'"))
    # BEGIN IMMEDIATE (it may wait for the lock) and COMMIT (it syncs) on the driver's thread,
    # the statements between them on the loop's (in WAL mode nothing they do waits)
    assert len(calls) == 2, calls
    async with reading(sessions) as session:  # a read: its deferred BEGIN takes no lock
        assert await session.scalar(text("SELECT v FROM t")) == "b"
    assert len(calls) == 2, calls


async def test_memory_database_keeps_every_statement_on_the_drivers_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine = create_engine("sqlite:///:memory:")  # no WAL (journal_mode "memory")
    calls: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await real(self, fn, *args, **kwargs)

    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
            await conn.commit()
            monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
            await conn.execute(text("INSERT INTO t VALUES ('a')"))
            assert await conn.scalar(text("SELECT v FROM t")) == "a"
            await conn.commit()
    finally:
        await engine.dispose()
    # BEGIN IMMEDIATE, two statements, COMMIT, all on the driver's thread (SQLAlchemy asks
    # sqlite3 to check the thread for :memory:), then the close
    assert calls == ["run", "run", "run", "commit", "close"]
