"""The SQLite driver: SQLAlchemy's aiosqlite adapter, one hop to the driver's thread a statement.

aiosqlite runs every call on the connection's own thread and wakes the event loop with its
result, and SQLAlchemy's adapter makes four such calls for one statement (open a cursor, execute,
fetch the rows, close the cursor): each a queue put, a thread switch, a loop wake-up. Here a
statement is one call that does all four on the driver's thread and hands back the description,
the counts and every row, as the stock adapter then holds them; so a turn's statements cost a
quarter of the switches, and the pool's rollback of a connection with no transaction open (a
no-op for sqlite3) none (``bench/load.py``: CPU per message; README, «Load»). Transactions,
locking and ``synchronous`` are the stock ones; only how the calls are batched changes.

It uses aiosqlite's private ``Connection._execute`` and ``_conn`` (pinned: aiosqlite < 0.23) and
SQLAlchemy 2.1's adapter classes (pinned: SQLAlchemy < 2.2).
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from threading import Thread
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


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

        return await self._run(run)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        def run(db: sqlite3.Connection) -> _Outcome:
            cursor = db.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return cursor.description, cursor.rowcount, cursor.lastrowid, []
            finally:
                cursor.close()

        return await self._run(run)

    async def _run(self, run: Any) -> None:
        driver: Any = self._connection  # aiosqlite.Connection: its queue to the thread
        async with self._adapt_connection._execute_mutex:
            found = await driver._execute(run, driver._conn)
        self._description, self._rowcount, self._lastrowid, rows = found
        self._rows = collections.deque(rows)


class _Connection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def rollback(self) -> None:
        # The pool rolls back every connection it takes back, after a commit too; sqlite3's
        # rollback() does nothing outside a transaction, so that one needs no call to the thread.
        driver: Any = self._connection
        if driver._connection is not None and not driver._conn.in_transaction:
            return
        super().rollback()

    _cursor_cls = _Cursor  # type: ignore[assignment]  # (mypy sees the base as its own type)


class _Dbapi(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        connection: Any = self.aiosqlite.connect(*arg, **kw)
        # The driver's thread must not keep a stopping process alive (as SQLAlchemy does it).
        (connection if isinstance(connection, Thread) else connection._thread).daemon = True
        return _Connection(self, await_(connection))


def sqlite_dbapi() -> Any:
    """The DB-API module to give ``create_async_engine(..., module=...)`` for aiosqlite URLs."""
    return _Dbapi(aiosqlite, sqlite3)
