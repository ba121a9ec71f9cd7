"""Alembic from code: the shipped migrations/ folder, upgrade, downgrade, current revision."""

from __future__ import annotations

import logging
from importlib.resources import files
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)


def migrations_dir() -> Path:
    """The migrations package folder, from a checkout or an installed wheel."""
    return Path(str(files("migrations")))


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's config for our migrations; with ``connection`` env.py migrates through it."""
    folder = migrations_dir()
    config = Config(str(folder / "alembic.ini"))
    config.set_main_option("script_location", str(folder))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))
    log.info("database upgraded to revision=%s", revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(alembic_config(c), revision))
    log.info("database downgraded to revision=%s", revision)


async def current(engine: AsyncEngine) -> str | None:
    """The revision the database is at, ``None`` for an empty database."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


def head() -> str | None:
    """The newest revision shipped with the code."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()
