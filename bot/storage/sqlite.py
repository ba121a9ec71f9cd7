"""The SQLite driver: SQLAlchemy's aiosqlite adapter with fewer trips to the driver's thread.

aiosqlite runs every call on the connection's own thread and wakes the event loop with its
result, and SQLAlchemy's adapter makes four such calls for one statement (open a cursor, execute,
fetch the rows, close the cursor): each a queue put, a thread switch, a loop wake-up. Here:

- a statement is one call that does all four and hands back the description, the counts and
  every row, as the stock adapter then holds them;
- in WAL mode a statement that cannot wait runs on the loop's thread, no call at all: a read
  (a reader never waits for a writer), a deferred ``BEGIN`` (it takes no lock), a write once
  the transaction holds the write lock (``BEGIN IMMEDIATE``, which :mod:`bot.storage.db` issues
  for every writing transaction), a rollback, and ``BEGIN IMMEDIATE`` itself when the lock is
  free (tried with a busy timeout of 0; taken by another process, it is waited for on the
  thread). ``COMMIT`` (it syncs: ``synchronous=FULL`` as before), pragmas and DDL stay on the
  thread;
- the pool's rollback of a connection with no transaction open (after every commit) is a no-op
  for sqlite3 and makes no call.

- the writers of one engine take turns in the process first, first come first served
  (:class:`_Turns`), and only then ``BEGIN IMMEDIATE``: SQLite's own wait for its write lock
  (``busy_timeout``) polls with sleeps that grow to 100 ms, so under a steady load a writer
  slept on while the lock was free and later ones took it first (a steady 50 messages a second
  saw ``BEGIN IMMEDIATE`` waits of 0.5-1.5 s, the lock free for a fifth of the time someone
  waited: docs/load.md, round 16). Another process's writers (the CLI) still meet the busy
  timeout, as before.

SQLAlchemy awaits each call, so the connection is used by one thread at a time
(``check_same_thread`` off, unless SQLAlchemy asks for it, as for ``:memory:``: then every call
goes to the thread). Transactions, locking and durability are the stock ones.

It uses aiosqlite's private ``Connection._execute`` and ``_conn`` (pinned: aiosqlite < 0.23) and
SQLAlchemy 2.1's adapter classes (pinned: SQLAlchemy < 2.2).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from threading import Thread
from typing import Any
from weakref import WeakKeyDictionary

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows
_TAKES_WRITE_LOCK = "BEGIN IMMEDIATE"  # bot.storage.db issues it for every writing transaction
_WRITES = ("INSERT", "UPDATE", "DELETE")
INLINE = True  # run the statements that cannot wait on the loop's thread (see _Connection)
TURN_WAIT = 10.0  # seconds a writer waits for its turn in the process before it goes on to
# SQLite's own wait regardless (the busy timeout): a turn never given back costs a pause, not
# a deadlock

log = logging.getLogger(__name__)


class _Turns:
    """The write turns of one engine's connections in this process: a FIFO lock per event loop,
    held from before ``BEGIN IMMEDIATE`` until the transaction's ``COMMIT`` or ``ROLLBACK``
    returns, so that the next writer begins the moment the last one ends."""

    def __init__(self) -> None:
        self._locks: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            WeakKeyDictionary()
        )

    async def take(self) -> asyncio.Lock | None:
        """The turn, held (give it back with ``release()``); None after :data:`TURN_WAIT`."""
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        try:
            async with asyncio.timeout(TURN_WAIT):
                await lock.acquire()
        except TimeoutError:
            log.warning("no write turn within %.0f s: BEGIN IMMEDIATE without one", TURN_WAIT)
            return None
        return lock


def _journal_mode(db: sqlite3.Connection) -> str:
    return str(db.execute("PRAGMA journal_mode").fetchone()[0]).lower()


class _Cursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement runs, is fetched and closed in one call on the driver's thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No driver cursor is opened here (the stock adapter opens one: a call of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        """Nothing to close: the driver's cursor was closed with its statement."""

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        def run(db: sqlite3.Connection) -> _Outcome:
            cursor = db.cursor()
            try:
                cursor.execute(operation, () if parameters is None else parameters)
                found = cursor.description
                rows = cursor.fetchall() if found else []
                return found, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        return await self._run(run, operation)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        def run(db: sqlite3.Connection) -> _Outcome:
            cursor = db.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return cursor.description, cursor.rowcount, cursor.lastrowid, []
            finally:
                cursor.close()

        return await self._run(run, operation)

    async def _run(self, run: Any, operation: str) -> None:
        adapt: Any = self._adapt_connection
        driver: Any = self._connection  # aiosqlite.Connection: its queue to the thread
        begin = operation.startswith(_TAKES_WRITE_LOCK)
        if begin:
            await adapt.take_turn()
        async with adapt._execute_mutex:
            if INLINE and await adapt.cannot_wait(operation):
                found = run(driver._conn)
            else:
                try:
                    found = adapt.begin_at_once(run) if begin else None
                    if found is None:
                        found = await driver._execute(run, driver._conn)
                except BaseException:
                    if begin:  # no transaction began: nothing would end it and give the turn
                        adapt.give_turn()
                    raise
                if begin:
                    adapt.writing = True
        self._description, self._rowcount, self._lastrowid, rows = found
        self._rows = collections.deque(rows)


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_busy_ms", "_turn", "_turns", "_wal", "inline", "writing")

    def __init__(self, dbapi: Any, connection: Any, *, inline: bool, turns: _Turns) -> None:
        super().__init__(dbapi, connection)
        self.inline = inline  # the driver allows calls from the loop's thread
        self.writing = False  # this transaction holds the write lock (BEGIN IMMEDIATE)
        self._wal: bool | None = None  # the database is in WAL mode (asked once)
        self._turns = turns
        self._turn: asyncio.Lock | None = None  # this connection's write turn, while it holds it
        self._busy_ms: int | None = None  # its busy timeout (asked once)

    async def take_turn(self) -> None:
        """Wait for this engine's other writers in the process (see the module)."""
        if self._turn is None:
            self._turn = await self._turns.take()

    def begin_at_once(self, run: Any) -> _Outcome | None:
        """``BEGIN IMMEDIATE`` on the loop's thread when the write lock is free, which it is
        unless another process holds it (this process's writers take turns first): tried
        with a busy timeout of 0, so it never waits here. None when it cannot be tried (no
        WAL, or not known yet) or the lock is taken: then the driver's thread waits for it."""
        if not (self.inline and self._wal):
            return None
        db: sqlite3.Connection = self._connection._conn
        if self._busy_ms is None:
            self._busy_ms = int(db.execute("PRAGMA busy_timeout").fetchone()[0])
        db.execute("PRAGMA busy_timeout = 0")
        try:
            return run(db)  # type: ignore[no-any-return]
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                return None  # another process's transaction: wait on the driver's thread
            raise
        finally:
            db.execute(f"PRAGMA busy_timeout = {self._busy_ms}")

    def give_turn(self) -> None:
        turn, self._turn = self._turn, None
        if turn is not None:
            turn.release()

    async def cannot_wait(self, operation: str) -> bool:
        """Whether ``operation`` runs without waiting for a lock or the disk's sync: in WAL
        mode a read never waits for a writer, nor a write for anyone once the transaction holds
        the write lock; commits (which sync) and BEGINs (which may wait) are never among them."""
        if not self.inline:
            return False
        head = operation[:6].upper()
        if operation == "BEGIN":  # deferred (a read): it takes no lock until it reads
            head = "SELECT"
        if head == "PRAGMA":
            self._wal = None  # it may set the journal mode: asked again when it matters
            return False
        if head != "SELECT" and not (
            self.writing and head in _WRITES and self._connection._conn.in_transaction
        ):
            return False
        if self._wal is None:
            driver: Any = self._connection
            self._wal = await driver._execute(_journal_mode, driver._conn) == "wal"
        return self._wal

    def commit(self) -> None:
        self.writing = False
        try:
            super().commit()
        finally:  # a failed COMMIT leaves the transaction to a rollback: SQLite's lock guards it
            self.give_turn()

    def rollback(self) -> None:
        self.writing = False
        try:
            self._rollback()
        finally:
            self.give_turn()

    def _rollback(self) -> None:
        driver: Any = self._connection
        # The pool rolls back every connection it takes back, after a commit too: outside a
        # transaction sqlite3's rollback() does nothing, so no call is made at all.
        if driver._connection is None or not driver._conn.in_transaction:
            return
        if self.inline and self._wal:  # in WAL mode a rollback neither waits nor syncs
            try:
                driver._conn.rollback()
            except Exception as error:
                self._handle_exception(error)
            return
        super().rollback()

    def close(self) -> None:
        try:
            super().close()
        finally:  # closed mid-transaction: SQLite rolled it back
            self.writing = False
            self.give_turn()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:  # an invalidated connection, closed with or without its rollback
            self.writing = False
            self.give_turn()

    _cursor_cls = _Cursor  # type: ignore[assignment]  # (mypy sees the base as its own type)


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def __init__(self, aiosqlite: Any, sqlite: Any) -> None:
        super().__init__(aiosqlite, sqlite)
        self.turns = _Turns()  # one engine's (one dbapi each: :func:`sqlite_dbapi`)

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        # Statements that cannot wait run on the event loop's thread (the connection is used
        # by one thread at a time: SQLAlchemy awaits each call).
        kw.setdefault("check_same_thread", not INLINE)
        inline = not kw["check_same_thread"]  # (SQLAlchemy asks for the check for :memory:)
        connection: Any = self.aiosqlite.connect(*arg, **kw)
        # The driver's thread must not keep a stopping process alive (as SQLAlchemy does it).
        (connection if isinstance(connection, Thread) else connection._thread).daemon = True
        return _Connection(self, await_(connection), inline=inline, turns=self.turns)


@asynccontextmanager
async def write_turn(engine: AsyncEngine) -> AsyncIterator[None]:
    """Within the block, none of ``engine``'s writers in this process (see :class:`_Turns`)."""
    dbapi = engine.dialect.dbapi
    turns = getattr(dbapi, "turns", None)
    lock = await turns.take() if isinstance(turns, _Turns) else None
    try:
        yield
    finally:
        if lock is not None:
            lock.release()


def sqlite_dbapi() -> Any:
    """The DB-API module to give ``create_async_engine(..., module=...)`` for aiosqlite URLs."""
    return _Dbapi(aiosqlite, sqlite3)
