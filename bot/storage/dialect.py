"""The few statements SQLite and PostgreSQL spell differently, in one place."""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Insert, Select, Table, TextClause, bindparam, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def insert_ignoring(backend: str, table: Table) -> Insert:
    """``INSERT INTO table … ON CONFLICT DO NOTHING`` for ``backend`` (:func:`backend`), to be
    completed (``values``, ``returning``) and cached by the caller: with ``RETURNING`` it gives
    no row when a unique key was taken already (the stored row is left as it was)."""
    insert = postgresql.insert if backend == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing()


def backend(session: AsyncSession) -> str:
    """The session's database: ``sqlite`` or ``postgresql``."""
    return session.get_bind().dialect.name


async def serialise(session: AsyncSession, name: str) -> None:
    """Make transactions that call this with ``name`` take turns until they commit.

    PostgreSQL: a transaction-scoped advisory lock on a 32-bit hash of ``name`` (two names that
    share it only wait for each other more than they need). SQLite serves one process, and its
    writes are serialised by the database anyway.
    """
    await serialise_each(session, (name,))


async def serialise_each(session: AsyncSession, names: Iterable[str]) -> None:
    """:func:`serialise` for every one of ``names``, in one statement.

    The locks are taken in the order of their keys (not of the names), so two transactions
    that each take several never wait for each other, even when two names share a key.
    """
    if session.get_bind().dialect.name != "postgresql":
        return
    keys = sorted({zlib.crc32(name.encode()) for name in names})
    if len(keys) == 1:
        await session.execute(_locking(), {"lock": keys[0]})
    elif keys:
        await session.execute(_locking_each(), {"locks": keys})


@cache  # built once: a claim, a lone chat's store and a lone chat's outbox rows take one
def _locking() -> Select[tuple[Any]]:
    return select(func.pg_advisory_xact_lock(bindparam("lock", type_=BigInteger)))


@cache  # built once: a store of several chats, outbox rows to several chats
def _locking_each() -> TextClause:
    # A subquery with ORDER BY is not merged into the outer query: the outer one takes the
    # locks in the order of the keys.
    return text(
        "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(:locks) AS k ORDER BY k) AS keys"
    ).bindparams(bindparam("locks", type_=postgresql.ARRAY(BigInteger)))


def writers_take_turns(session: AsyncSession) -> bool:
    """Whether a writing transaction holds the whole database from its start (SQLite's
    ``BEGIN IMMEDIATE``, see ``bot.storage.db``), so its first statement already reads what the
    last writer committed. On PostgreSQL a row lock is taken by a statement, and what that
    statement joins to the locked row is read as it was before the wait (READ COMMITTED
    re-checks only the locked row): read it in a statement of its own after the lock."""
    return session.get_bind().dialect.name == "sqlite"
