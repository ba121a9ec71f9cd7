"""`helpbot db upgrade|downgrade|current`: Alembic migrations of the configured database."""

from __future__ import annotations

import argparse

from bot.settings import Settings
from bot.storage import migrate
from bot.storage.db import create_engine, database_url
from handlers.cli._runner import run, settings_or_exit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    db = sub.add_parser("db", help="migrate the database (DATABASE_URL or DATABASE_SQLITE_PATH)")
    db_sub = db.add_subparsers(dest="db_command", metavar="DB_COMMAND", required=True)
    up = db_sub.add_parser("upgrade", help="migrate to the newest revision (or REVISION)")
    up.add_argument("revision", nargs="?", default="head")
    up.set_defaults(func=lambda a: _run(a, "upgrade"))
    down = db_sub.add_parser("downgrade", help="migrate back to REVISION (base empties it)")
    down.add_argument("revision")
    down.set_defaults(func=lambda a: _run(a, "downgrade"))
    current = db_sub.add_parser("current", help="print the database's revision and the newest")
    current.set_defaults(func=lambda a: _run(a, "current"))


def _run(args: argparse.Namespace, action: str) -> int:
    return run(_act(settings_or_exit(), action, getattr(args, "revision", "")))


async def _act(settings: Settings, action: str, revision: str) -> int:
    engine = create_engine(database_url(settings.database))
    try:
        if action == "upgrade":
            await migrate.upgrade(engine, revision)
        elif action == "downgrade":
            await migrate.downgrade(engine, revision)
        print(
            f"database at revision {await migrate.current(engine) or 'none'} "
            f"(newest {migrate.head()})"
        )
    finally:
        await engine.dispose()
    return 0
