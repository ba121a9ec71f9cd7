"""Waking the workers when work is stored, instead of their looking at the database on a tick.

A transaction that stores work for a worker to find — inbox rows left to the claims, outbox
rows not reserved for this process, a knowledge-base reload asked — calls :func:`ring` with the
work's topic (``inbox:<channel>``, ``outbox:<channel>``, :data:`KB`). Then:

- **This process**: the workers listening to that topic (:func:`listening`, on the same engine)
  are woken once the transaction commits (nothing for a rollback).
- **PostgreSQL, other replicas**: every server keeps one connection of its pool LISTENing
  (:func:`follow`) and wakes its listeners of the topic named. A server tells the others from
  that connection once the transaction has committed (never for a rollback), at most once per
  topic every :data:`SPACING` seconds: the commits of a burst share one notification (what
  the others need is one look after them, not one each), and the turn's transaction carries
  no ``pg_notify`` statement. A process that does not follow (a CLI), or whose listening
  connection is down, calls ``pg_notify`` in the transaction instead, so that it goes out with
  the commit. When the listening connection drops (or a check finds it dead) it is opened
  again, 1 s doubling to 30 s apart, and every listener is woken once: whatever was stored
  meanwhile costs one look. A server that dies after a commit and before its notification
  went out (at most :data:`SPACING` and a round trip later) has told nobody: its rows wait
  for the others' next look, as the rows it claimed and never rang for do.
- **SQLite, other processes** (one server; `helpbot operator` and `helpbot kb reload` beside
  it): a process that stores work no worker of its own listens to appends a byte to the
  *doorbell*, ``<database file>-wake``, after the commit; the server looks at that file's size
  and time every ``tick`` (a ``stat``, no transaction) and wakes every listener when it
  changed. A server's own stores wake its workers in memory and leave the file alone.

Each worker still looks at the database every DELIVERY_IDLE_SECONDS (KB_SYNC_SECONDS) with
nothing rung: the safety net for a notification lost or rows no one rang for (a replica that
died holding claims is not among those: the looks return when its claims run out).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Select, String, bindparam, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.storage.db import on_commit

log = logging.getLogger(__name__)

CHANNEL = "helpbot_wake"  # the PostgreSQL notification channel; payload "<topic> <sender>"
KB = "kb"  # the topic of a knowledge-base reload asked
RECONNECT_FIRST = 1.0  # seconds before the listening connection is opened again; doubling
RECONNECT_MOST = 30.0
CHECK_LIMIT = 10.0  # seconds the listening connection's check may take before it is dropped
DOORBELL_MOST = 4096  # bytes the doorbell grows to before it is emptied (that changes it too)
_RUNG = "helpbot_rung"  # Session.info: the topics this transaction has rung
_LATER = "helpbot_tell"  # Session.info: those of them to tell the others once it commits
SPACING = 0.05  # seconds: a following process tells the others of a topic at most this often

Wake = Callable[[], None]


@dataclass
class _Book:
    """One engine's listeners, and the name its notifications carry (its own are skipped: the
    transaction that rang woke them in memory already)."""

    sender: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    listeners: dict[str, set[Wake]] = field(default_factory=dict)
    following: bool = False  # :func:`follow` hears the other processes now
    tell: Callable[[str], None] | None = None  # while following on PostgreSQL: a topic to
    # tell the others from the listening connection (see the module)

    def wake(self, topic: str | None = None) -> None:
        """The listeners of ``topic`` (``None``: every listener) woken."""
        groups = self.listeners.values() if topic is None else [self.listeners.get(topic, ())]
        for wakes in groups:
            for wake in list(wakes):
                wake()


_books: WeakKeyDictionary[Engine, _Book] = WeakKeyDictionary()


def _book(engine: Engine | AsyncEngine) -> _Book:
    sync = engine.sync_engine if isinstance(engine, AsyncEngine) else engine
    book = _books.get(sync)
    if book is None:
        book = _books[sync] = _Book()
    return book


def following(engine: AsyncEngine) -> bool:
    """Whether this process hears the other processes' stores on ``engine`` now."""
    return _book(engine).following


@contextmanager
def listening(sessions: async_sessionmaker[AsyncSession], topic: str, wake: Wake) -> Iterator[None]:
    """Within the block, ``wake`` is called when work of ``topic`` is stored in the database of
    ``sessions`` (see the module)."""
    engine = sessions.kw.get("bind")
    if not isinstance(engine, AsyncEngine):  # sessions bound otherwise: the looks alone
        yield
        return
    wakes = _book(engine).listeners.setdefault(topic, set())
    wakes.add(wake)
    try:
        yield
    finally:
        wakes.discard(wake)


async def ring(session: AsyncSession, topic: str) -> None:
    """Work of ``topic`` is stored in the caller's transaction: wake its workers, here and in
    the other processes, once it commits (once per topic and transaction)."""
    info = session.sync_session.info
    rung: set[str] | None = info.get(_RUNG)
    nested = session.in_nested_transaction()  # a savepoint rolled back drops its notification
    if rung is not None and topic in rung and not nested:
        return
    engine = session.sync_session.get_bind()
    assert isinstance(engine, Engine)
    book = _book(engine)
    if rung is None:
        rung = info[_RUNG] = set()
        later: set[str] = set()
        info[_LATER] = later

        def committed() -> None:
            _rang(engine, book, info.pop(_RUNG, set()))
            topics = sorted(info.pop(_LATER, ()))
            if book.tell is not None:  # (gone since: the others' next look finds the work)
                for told in topics:
                    book.tell(told)

        def dropped() -> None:
            info.pop(_RUNG, None)
            info.pop(_LATER, None)

        on_commit(session, committed, dropped)
    rung.add(topic)
    if engine.dialect.name != "postgresql":
        return
    if book.tell is not None:  # from the listening connection, after the commit
        info[_LATER].add(topic)
        return
    await session.execute(_notifying(), {"w_payload": f"{topic} {book.sender}"})


@cache
def _notifying() -> Select[Any]:
    return select(func.pg_notify(CHANNEL, bindparam("w_payload", type_=String)))


def _rang(engine: Engine, book: _Book, topics: set[str]) -> None:
    unheard = False
    for topic in topics:
        if book.listeners.get(topic):
            book.wake(topic)
        else:
            unheard = True
    if unheard and engine.dialect.name == "sqlite":  # a CLI process: the server's workers
        _press(doorbell(engine))  # once a commit: the server wakes every listener on it


def doorbell(engine: Engine | AsyncEngine) -> Path | None:
    """The file a SQLite database's other processes ring (``None``: no file, e.g. in memory)."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:"):
        return None
    if database.startswith("file:"):  # a URI: the path up to its query
        database = database.removeprefix("file:").split("?", 1)[0]
    return Path(database + "-wake")


def _press(path: Path | None) -> None:
    if path is None:
        return
    try:
        with path.open("ab") as bell:
            bell.write(b".")
            if bell.tell() > DOORBELL_MOST:
                bell.truncate(0)
    except OSError as exc:  # the server's own look finds the work later
        log.warning("cannot ring the doorbell %s: %s", path, exc)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size


async def follow(engine: AsyncEngine, *, tick: float = 1.0, check: float = 60.0) -> None:
    """Until cancelled, wake this process's listeners on ``engine`` when another process rang
    (see the module); ``tick``: how often a SQLite doorbell is looked at, ``check``: how often
    the PostgreSQL listening connection is checked. Never raises: the fallback looks cover a
    time without it."""
    book = _book(engine)
    if engine.dialect.name == "postgresql":
        await _follow_postgres(engine, book, check)
        return
    path = doorbell(engine)
    if path is None:
        await asyncio.Event().wait()  # nothing to follow; until cancelled
        return
    seen = _stamp(path)
    book.following = True
    try:
        while True:
            await asyncio.sleep(tick)
            stamp = _stamp(path)
            if stamp != seen:
                seen = stamp
                book.wake()
    finally:
        book.following = False


async def _follow_postgres(engine: AsyncEngine, book: _Book, check: float) -> None:
    pause = RECONNECT_FIRST
    while True:
        try:
            await _listen(engine, book, check)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the database away: the workers' own looks go on meanwhile
            log.warning(
                "database notifications: cannot listen (%s), again in %.0f s",
                type(exc).__name__, pause,
            )  # fmt: skip
            await asyncio.sleep(pause)
            pause = min(pause * 2, RECONNECT_MOST)
        else:
            log.warning("database notifications: connection lost, listening again")
            pause = RECONNECT_FIRST
            await asyncio.sleep(pause)


async def _listen(engine: AsyncEngine, book: _Book, check: float) -> None:
    """One listening connection (of the pool, never given back: closed at the end) until it
    drops; every listener woken once it listens (what was stored before is looked for), and
    the topics this process's commits rang told the others from it (:func:`_telling`).
    Raises when it cannot listen at all."""
    lost = asyncio.Event()
    using = asyncio.Lock()  # one statement at a time on the connection: the check, the telling
    topics: set[str] = set()
    told = asyncio.Event()

    def heard(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        topic, _, sender = payload.rpartition(" ")
        if sender != book.sender:  # this engine's own: woken in memory at its commit
            book.wake(topic)

    def tell(topic: str) -> None:
        topics.add(topic)
        told.set()

    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        pg: Any = raw.driver_connection  # asyncpg's connection
        telling: asyncio.Task[None] | None = None
        try:
            pg.add_termination_listener(lambda _conn: lost.set())
            await pg.add_listener(CHANNEL, heard)
            log.debug("database notifications: listening on %s", CHANNEL)
            telling = asyncio.create_task(_telling(pg, book, using, topics, told, lost))
            book.following = True
            book.tell = tell
            book.wake()
            while not lost.is_set():
                with suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), check)
                if not lost.is_set():
                    try:  # a connection dropped unseen (a firewall) fails here
                        async with asyncio.timeout(CHECK_LIMIT), using:
                            await pg.execute("SELECT 1")
                    except Exception:
                        lost.set()
        finally:
            book.following = False
            book.tell = None
            if telling is not None:
                telling.cancel()
                await asyncio.gather(telling, return_exceptions=True)
            with suppress(Exception):
                await conn.invalidate()  # LISTEN is the connection's: not back to the pool


async def _telling(
    pg: Any,
    book: _Book,
    using: asyncio.Lock,
    topics: set[str],
    told: asyncio.Event,
    lost: asyncio.Event,
) -> None:
    """Tell the other processes the topics rung here (``topics``, ``told`` set when one was
    added), at most once per topic every :data:`SPACING` seconds: what is rung meanwhile goes
    in the next round. A failure ends the listening connection (``lost``); the topics not told
    are left to the others' next look."""
    try:
        while True:
            await told.wait()
            told.clear()
            now = sorted(topics)
            topics.clear()
            async with asyncio.timeout(CHECK_LIMIT), using:
                for topic in now:
                    await pg.execute(_TELLING, CHANNEL, f"{topic} {book.sender}")
            await asyncio.sleep(SPACING)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.warning("database notifications: cannot tell the others (%s)", type(exc).__name__)
        lost.set()


_TELLING = "SELECT pg_notify($1, $2)"
