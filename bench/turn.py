"""The engine's turn alone: statements and CPU per text, in process, without matching.

    .venv/bin/python bench/turn.py [--texts 400] [--chats 30] [--postgres URL]

Texts from people whose chats already exist go through ``ConversationEngine.handle`` over a
migrated throwaway SQLite file (and, with ``--postgres``, a throwaway database on that server),
with an empty knowledge base, so what is measured is the turn's own work: its statements (each
kind counted) and the process's CPU time (the SQLite driver's thread included). The counts are
steady; the CPU moves with the machine's load, so compare two versions interleaved in one sitting.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from collections import Counter
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from bot.clock import SystemClock
from bot.engine import ConversationEngine, EngineSettings, Incoming
from bot.storage import migrate
from bot.storage.db import create_engine, create_sessionmaker
from handlers.settings import Settings
from knowledge.base import KnowledgeBase


async def measure(url: str, texts: int, chats: int) -> None:
    db = create_engine(url)
    await migrate.upgrade(db)
    kinds: Counter[str] = Counter()

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        kinds[" ".join(statement.split()[:2])] += 1

    config = Settings(_env_file=None)  # type: ignore[call-arg]
    engine = ConversationEngine(
        KnowledgeBase(()),
        create_sessionmaker(db),
        SystemClock(),
        EngineSettings(config.conversation, config.hours),
    )

    def say(n: int) -> Incoming:
        chat = n % chats
        return Incoming(
            "bench", f"chat-{chat}", f"person-{chat}", f"question {n}", display_name="A"
        )

    for n in range(chats):  # every chat known before the count
        await engine.handle(say(n))
    event.listen(db.sync_engine, "before_cursor_execute", count)
    started = time.process_time()
    for n in range(texts):
        await engine.handle(say(n))
    cpu = time.process_time() - started
    await db.dispose()
    print(f"{make_url(url).get_backend_name()}: {texts} texts over {chats} chats")
    print(f"  {cpu / texts * 1000:.2f} ms CPU, {kinds.total() / texts:.2f} statements a turn")
    for kind, seen in kinds.most_common():
        print(f"  {seen / texts:5.2f}  {kind} …")


async def _on_postgres(server: str, texts: int, chats: int) -> None:
    name = f"helpbot_turn_{secrets.token_hex(4)}"
    admin = create_engine(server)
    async with admin.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        url = make_url(server).set(database=name).render_as_string(hide_password=False)
        await measure(url, texts, chats)
    finally:
        async with admin.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(f'DROP DATABASE "{name}"'))
        await admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--chats", type=int, default=30)
    parser.add_argument("--postgres", default="", help="a server URL; empty: SQLite only")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(measure(f"sqlite+aiosqlite:///{tmp}/turn.db", args.texts, args.chats))
    if args.postgres:
        asyncio.run(_on_postgres(args.postgres, args.texts, args.chats))


if __name__ == "__main__":
    main()
