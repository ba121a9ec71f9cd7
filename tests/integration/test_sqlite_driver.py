"""The SQLite driver (bot/storage/sqlite.py): one call to the driver's thread a statement, with
the rows, counts, ids and errors the stock adapter gives."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from deadline import until
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from bot.storage import checkpoints, sqlite
from bot.storage.db import create_engine, create_sessionmaker, reading


@pytest.fixture
async def sessions(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield create_sessionmaker(engine)
    await engine.dispose()


def _driver_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """From now on, the name of each function aiosqlite runs on the driver's thread."""
    calls: list[str] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(getattr(fn, "__name__", "?"))
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return calls


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
    async with sessions() as session:  # the pooled connection exists before the count
        await session.execute(text("SELECT 1"))
    calls = _driver_calls(monkeypatch)
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
    try:
        async with engine.connect() as conn:
            await conn.execute(text("CREATE TABLE t (v TEXT)"))
            await conn.commit()
            calls = _driver_calls(monkeypatch)
            await conn.execute(text("INSERT INTO t VALUES ('a')"))
            assert await conn.scalar(text("SELECT v FROM t")) == "a"
            await conn.commit()
    finally:
        await engine.dispose()
    # BEGIN IMMEDIATE, two statements, COMMIT, all on the driver's thread (SQLAlchemy asks
    # sqlite3 to check the thread for :memory:), then the close
    assert calls == ["run", "run", "run", "commit", "close"]


async def test_writers_take_turns_in_order_with_no_sleep_between(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer waiting for another of the process begins the moment that one commits, and in
    the order they asked. Left to SQLite's busy handler, which sleeps between its looks (up to
    100 ms each once it has waited ~0.3 s), the next writer began up to 100 ms late and in any
    order (bot/storage/sqlite.py). So no writer's BEGIN IMMEDIATE goes to the driver's thread,
    where that handler waits: each finds the lock free, on the loop's thread (a bound on the
    gaps in seconds failed on a loaded machine, where a commit's sync alone took longer)."""
    async with contextlib.AsyncExitStack() as pool:  # four connections, WAL known on each
        for _ in range(4):
            session = await pool.enter_async_context(reading(sessions))
            await session.execute(text("SELECT 1"))
    calls = _driver_calls(monkeypatch)
    began: list[str] = []
    holding = asyncio.Event()

    async def write(name: str, hold: asyncio.Event | None) -> None:
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": name})
            began.append(name)
            holding.set()
            if hold is not None:
                await hold.wait()

    release = asyncio.Event()
    first = asyncio.create_task(write("a", release))
    await holding.wait()
    later = []
    for name in "bcd":
        later.append(asyncio.create_task(write(name, None)))
        await asyncio.sleep(0.01)  # each asks after the one before
    assert began == ["a"]  # the others wait for their turn
    release.set()
    await asyncio.gather(first, *later)
    assert began == ["a", "b", "c", "d"]
    assert calls == ["commit"] * 4, calls  # every BEGIN IMMEDIATE and INSERT on the loop's


async def test_a_failed_or_cancelled_writer_gives_its_turn_back(
    sessions: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A turn kept would hold the next writer an hour, not the 60 s this test waits.
    monkeypatch.setattr(sqlite, "TURN_WAIT", 3600.0)
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
    async with asyncio.timeout(60), sessions.begin() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('z')"))
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
        ticks = 0

        async def tick() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        async with theirs.begin() as other:
            await other.execute(text("INSERT INTO t VALUES ('theirs')"))
            calls = _driver_calls(monkeypatch)

            async def write() -> None:
                async with ours.begin() as conn:
                    await conn.execute(text("INSERT INTO t VALUES ('ours')"))

            ticker = asyncio.create_task(tick())
            writing = asyncio.create_task(write())
            # The loop runs while the write waits for the lock (a wait on the loop's thread
            # would stop the ticks until the lock is free: never, while we hold it).
            await until(lambda: ticks >= 10, "ten ticks of the loop")
            assert not writing.done()
        await asyncio.wait_for(writing, 5)
        ticker.cancel()
        # our BEGIN IMMEDIATE waited on the thread, then their COMMIT and ours
        assert calls == ["run", "commit", "commit"], calls
        async with ours.connect() as conn:
            assert (await conn.scalar(text("SELECT group_concat(v) FROM t"))) == "theirs,ours"
    finally:
        await ours.dispose()
        await theirs.dispose()


async def test_the_log_starts_again_under_steady_writes(
    blobs: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """With writers never pausing, the task's checkpoints still let the log start again from
    its beginning (the last part is copied in a write turn): the log stays short instead of
    growing to the backstop."""
    _, engine, sessions = blobs
    caplog.set_level(logging.DEBUG, checkpoints.__name__)
    task = asyncio.create_task(checkpoints.checkpoints(engine, every=0.05))
    writes = 0

    async def write() -> None:
        nonlocal writes
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO b VALUES (randomblob(16000))"))
        writes += 1

    try:
        # Back to back (~16 KB a commit): 50 writes, however long a loaded machine takes for
        # them, then on to the end of the task's next round (three rounds at least: two
        # checkpoints each), whatever its pace against the writes', and one write more: the
        # first after a round's last checkpoint is where the log starts again.
        async with asyncio.timeout(120):
            while writes < 50:
                await write()
                await asyncio.sleep(0)
            rounds = max(3, len(_checkpointed(caplog)) // 2 + 1)
            while len(_checkpointed(caplog)) < 2 * rounds:
                await write()
                await asyncio.sleep(0)
        await write()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    looks: list[tuple[int, int, int]] = []

    async def free() -> bool:  # not busy: no checkpoint of the cancelled task under way
        looks.append(await checkpoints.checkpoint(engine))
        return looks[-1][0] == 0

    await until(free, "a checkpoint of ours, the task's last one over")
    frames = looks[-1][1]
    assert frames < writes * 5 / 3, (frames, writes)  # a third of what was written, at most
