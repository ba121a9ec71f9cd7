"""The few statements SQLite and PostgreSQL spell differently, in one place."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Insert, Select, Table, bindparam, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.functions import FunctionElement


def insert_ignoring(backend: str, table: Table) -> Insert:
    """``INSERT INTO table … ON CONFLICT DO NOTHING`` for ``backend`` (:func:`backend`), to be
    completed (``values``, ``returning``) and cached by the caller: with ``RETURNING`` it gives
    no row when a unique key was taken already (the stored row is left as it was)."""
    insert = postgresql.insert if backend == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def insert_or_update(backend: str, table: Table, columns: Iterable[str]) -> Insert:
    """``INSERT INTO table … ON CONFLICT (its primary key) DO UPDATE SET`` each of ``columns``
    but the key to the value given, for ``backend``: a new row, or the stored row of that key
    brought to those values in the same statement. No read comes first, so an insert of the key
    committed meanwhile (a concurrent transaction's) does not fail it: it waits for that one and
    updates its row."""
    insert = (postgresql.insert if backend == "postgresql" else sqlite.insert)(table)
    keys = [column.name for column in table.primary_key]
    changed = {name: insert.excluded[name] for name in columns if name not in keys}
    return insert.on_conflict_do_update(index_elements=keys, set_=changed)


def backend(session: AsyncSession) -> str:
    """The session's database: ``sqlite`` or ``postgresql``."""
    return session.get_bind().dialect.name


async def serialise(session: AsyncSession, name: str) -> None:
    """Make transactions that call this with ``name`` take turns until they commit.

    PostgreSQL: a transaction-scoped advisory lock. SQLite serves one process, and its writes
    are serialised by the database anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(_locking(), {"lock": lock_key(name)})


def lock_key(name: str) -> int:
    """The PostgreSQL advisory lock :func:`serialise` takes for ``name``."""
    return zlib.crc32(name.encode())


@cache  # built once: the store, every claim and every outbox row's chat take one
def _locking() -> Select[tuple[Any]]:
    return select(locking_call())


def locking_call() -> FunctionElement[Any]:
    """``pg_advisory_xact_lock(:lock)``: :func:`serialise`'s lock, for a statement that takes
    it in passing (``lock`` bound to :func:`lock_key`)."""
    return func.pg_advisory_xact_lock(bindparam("lock", type_=BigInteger))


def writers_take_turns(session: AsyncSession) -> bool:
    """Whether a writing transaction holds the whole database from its start (SQLite's
    ``BEGIN IMMEDIATE``, see ``bot.storage.db``), so its first statement already reads what the
    last writer committed. On PostgreSQL a row lock is taken by a statement, and what that
    statement joins to the locked row is read as it was before the wait (READ COMMITTED
    re-checks only the locked row): read it in a statement of its own after the lock."""
    return session.get_bind().dialect.name == "sqlite"
