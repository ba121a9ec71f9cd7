"""The SQLite driver (bot/storage/sqlite.py): one call to the driver's thread a statement, with
the rows, counts, ids and errors the stock adapter gives."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from deadline import until
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.storage import checkpoints
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


async def test_only_the_commit_goes_to_the_drivers_thread(
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
    # COMMIT (it syncs) on the driver's thread; BEGIN IMMEDIATE (the write lock free: no other
    # process holds it) and the statements on the loop's (in WAL mode nothing they do waits)
    assert calls == ["commit"], calls
    async with reading(sessions) as session:  # a read: its deferred BEGIN takes no lock
        assert await session.scalar(text("SELECT v FROM t")) == "b"
    assert calls == ["commit"], calls


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


async def test_writers_take_turns_in_order_with_no_sleep_between(sessions: Any) -> None:
    """A writer waiting for another of the process begins the moment that one commits, and in
    the order they asked. Left to SQLite's busy handler, which sleeps between its looks (up to
    100 ms each once it has waited ~0.3 s), the next writer began up to 100 ms late and in any
    order (bot/storage/sqlite.py)."""
    began: list[tuple[str, float]] = []
    ended: list[tuple[str, float]] = []
    holding = asyncio.Event()

    async def write(name: str, hold: float) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": name})
            began.append((name, time.monotonic()))
            holding.set()
            await asyncio.sleep(hold)
            ended.append((name, time.monotonic()))  # COMMIT follows at once (an fsync)

    first = asyncio.create_task(write("a", 0.45))
    await holding.wait()
    later = []
    for name in "bcd":
        later.append(asyncio.create_task(write(name, 0.0)))
        await asyncio.sleep(0.01)  # each asks after the one before
    await asyncio.gather(first, *later)
    assert [name for name, _ in began] == ["a", "b", "c", "d"]
    gaps = [b - e for (_, b), (_, e) in zip(began[1:], ended[:-1], strict=True)]
    assert max(gaps) < 0.05, gaps  # the commit's sync, not a busy handler's sleep


async def test_a_failed_or_cancelled_writer_gives_its_turn_back(sessions: Any) -> None:
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
            await session.execute(text("INSERT INTO t (v) VALUES ('x')"))
    inside = asyncio.Event()

    async def stuck() -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('y')"))
            inside.set()
            await asyncio.sleep(60)

    task = asyncio.create_task(stuck())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    started = time.monotonic()
    async with asyncio.timeout(5), sessions.begin() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('z')"))
    assert time.monotonic() - started < 1.0  # not after a turn's time-out (10 s)
    async with sessions() as session:
        assert await session.scalar(text("SELECT group_concat(v) FROM t")) == "z"


@pytest.fixture
async def blobs(tmp_path: Path) -> Any:
    """A database file with a table of blobs: (its path, the engine, its sessions)."""
    path = tmp_path / "blobs.db"
    engine = create_engine(f"sqlite:///{path}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE b (v BLOB)"))
    yield path, engine, create_sessionmaker(engine)
    await engine.dispose()


async def test_commits_leave_the_checkpoint_to_the_servers_task(
    blobs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """No commit copies the log into the database file (below the backstop's 10,000 pages);
    :func:`checkpoints` does it after the commits, on a connection of its own."""
    path, engine, sessions = blobs
    size = path.stat().st_size
    for _ in range(30):  # ~1,500 pages: past SQLite's default autocheckpoint (1,000)
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO b VALUES (randomblob(200000))"))
    assert path.stat().st_size == size  # nothing copied back by a commit
    caplog.set_level(logging.DEBUG, checkpoints.__name__)
    task = asyncio.create_task(checkpoints.checkpoints(engine, every=0.1))
    try:
        async with sessions.begin() as session:  # the task waits for a commit
            await session.execute(text("INSERT INTO b VALUES (randomblob(10))"))
        # The task's two checkpoints (the bulk, then the rest in a write turn) over, not the
        # file grown: it grows while the first still syncs and holds SQLite's checkpoint lock,
        # and a checkpoint of ours then came back busy (1, -1, -1) under a loaded machine.
        await until(lambda: len(_checkpointed(caplog)) >= 2, "the task's checkpoints", 60)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    bulk, rest = _checkpointed(caplog)
    assert bulk[0] == 0 and bulk[2] == bulk[1] > 30 * 48  # the task copied the rows' pages
    assert rest[0] == 0 and rest[2] == rest[1]
    assert path.stat().st_size > 30 * 195_000  # the rows' pages, in the file
    busy, frames, copied = await checkpoints.checkpoint(engine)  # all copied already
    assert (busy, copied) == (0, frames)
    async with sessions() as session:
        assert await session.scalar(text("SELECT count(*) FROM b")) == 31


def _checkpointed(caplog: pytest.LogCaptureFixture) -> list[tuple[int, int, int]]:
    """The (busy, frames, copied) of each checkpoint logged so far."""
    return [
        record.args
        for record in caplog.records
        if record.name == checkpoints.__name__ and record.msg.startswith("wal checkpoint")
    ]


async def test_a_write_lock_another_process_holds_is_waited_for_off_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """BEGIN IMMEDIATE tried on the loop's thread finds the lock taken (here a second engine,
    as `helpbot operator` would hold it): it is waited for on the driver's thread (the busy
    timeout), the loop running meanwhile, and the transaction goes on once the lock is free."""
    path = tmp_path / "two.db"
    ours, theirs = create_engine(f"sqlite:///{path}"), create_engine(f"sqlite:///{path}")
    try:
        async with ours.begin() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
        async with ours.connect() as conn:  # WAL known on the pooled connection
            await conn.execute(text("SELECT 1"))
        calls: list[str] = []
        real = aiosqlite.Connection._execute

        async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(getattr(fn, "__name__", "?"))
            return await real(self, fn, *args, **kwargs)

        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async with theirs.begin() as other:
            await other.execute(text("INSERT INTO t VALUES ('theirs')"))
            monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)

            async def write() -> None:
                async with ours.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES ('ours')"))

            ticker = asyncio.create_task(tick())
            writing = asyncio.create_task(write())
            await asyncio.sleep(0.3)
            assert not writing.done()
            assert ticks >= 10  # the loop ran while the write waited for the lock
        await asyncio.wait_for(writing, 5)
        ticker.cancel()
        # our BEGIN IMMEDIATE waited on the thread, then their COMMIT and ours
        assert calls == ["run", "commit", "commit"], calls
        async with ours.connect() as conn:
            assert (await conn.scalar(text("SELECT group_concat(v) FROM t"))) == "theirs,ours"
    finally:
        await ours.dispose()
        await theirs.dispose()


async def test_the_log_starts_again_under_steady_writes(blobs: Any) -> None:
    """With writers never pausing, the task's checkpoints still let the log start again from
    its beginning (the last part is copied in a write turn): the log stays short instead of
    growing to the backstop."""
    _, engine, sessions = blobs
    task = asyncio.create_task(checkpoints.checkpoints(engine, every=0.05))
    started = time.monotonic()
    writes = 0
    try:
        while time.monotonic() - started < 1.5:  # ~16 KB a commit, back to back
            async with sessions.begin() as session:
                await session.execute(text("INSERT INTO b VALUES (randomblob(16000))"))
            writes += 1
            await asyncio.sleep(0)
    finally:
        task.cancel()
    _, frames, _ = await checkpoints.checkpoint(engine)
    assert writes > 50
    assert frames < writes * 5 / 3, (frames, writes)  # a third of what was written, at most
