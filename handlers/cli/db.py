"""`helpbot db upgrade|downgrade|current`: Alembic migrations of the configured database;
`helpbot db purge`: blank texts older than RETENTION_DAYS, keeping the figures."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from bot.clock import SystemClock
from handlers.cli._runner import run, settings_or_exit
from handlers.settings import Settings


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
    purge = db_sub.add_parser(
        "purge", help="blank message texts and payloads older than N days; figures stay"
    )
    purge.add_argument("--days", type=int, help="older than this many days (RETENTION_DAYS)")
    purge.set_defaults(func=lambda a: run(_purge(settings_or_exit(), a.days)))


def _run(args: argparse.Namespace, action: str) -> int:
    return run(_act(settings_or_exit(), action, getattr(args, "revision", "")))


async def _act(settings: Settings, action: str, revision: str) -> int:
    from bot.app import build  # SQLAlchemy and Alembic load slowly: not for `helpbot --help`
    from bot.storage import migrate

    async with build(settings, schema="any") as app:  # any revision: these move it
        db = await app.database()
        if action == "upgrade":
            await migrate.upgrade(db.engine, revision)
        elif action == "downgrade":
            await migrate.downgrade(db.engine, revision)
        print(
            f"database at revision {await migrate.current(db.engine) or 'none'} "
            f"(newest {migrate.head()})"
        )
    return 0


async def _purge(settings: Settings, days: int | None) -> int:
    from bot import retention
    from bot.app import build

    days = settings.retention.days if days is None else days
    if days < 0:
        print("error: --days must be 0 or more", file=sys.stderr)
        return 2
    if days == 0:
        print("retention is off (RETENTION_DAYS=0, no --days): nothing purged")
        return 0
    before = SystemClock().now() - timedelta(days=days)
    async with build(settings) as app, (await app.database()).sessions.begin() as session:
        purged = await retention.purge(session, before)
    print(
        f"purged texts older than {before:%Y-%m-%d %H:%M} UTC: messages {purged.messages}, "
        f"tickets {purged.tickets}, inbox {purged.inbox}, outbox {purged.outbox}"
    )
    return 0
