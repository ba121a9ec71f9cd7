"""Alembic environment: our models' metadata, the URL from helpbot settings, an async engine."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from bot.storage.db import create_engine, database_url
from bot.storage.models import Base
from handlers.bitrix24 import models as _bitrix_tables  # noqa: F401 (a channel's own tables)
from handlers.settings import load_settings

# The core's tables and every channel's own: a channel's models join Base.metadata on import.
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
    finally:
        await engine.dispose()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run against a database")
    url = context.config.get_main_option("sqlalchemy.url") or database_url(load_settings().database)
    asyncio.run(_run_async(url))


_main()
