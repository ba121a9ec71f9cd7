"""The few statements SQLite and PostgreSQL spell differently, in one place."""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase


async def insert_if_new(session: AsyncSession, model: type[DeclarativeBase], **values: Any) -> bool:
    """``INSERT … ON CONFLICT DO NOTHING``: one statement, no savepoint, no look-up first;
    whether the row was new (a unique key already taken leaves the stored row as it was)."""
    name = session.get_bind().dialect.name
    insert = postgresql.insert if name == "postgresql" else sqlite.insert
    result = await session.execute(insert(model).values(**values).on_conflict_do_nothing())
    return bool(getattr(result, "rowcount", 0))


async def serialise(session: AsyncSession, name: str) -> None:
    """Make transactions that call this with ``name`` take turns until they commit.

    PostgreSQL: a transaction-scoped advisory lock. SQLite serves one process, and its writes
    are serialised by the database anyway.
    """
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(select(func.pg_advisory_xact_lock(zlib.crc32(name.encode()))))
