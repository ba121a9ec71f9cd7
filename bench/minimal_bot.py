"""The floor for this stack: a minimal durable aiogram bot that bench/load.py runs beside helpbot.

    BENCH_TOKEN=... BENCH_API_URL=... BENCH_WEBHOOK_URL=... BENCH_SECRET=... BENCH_PORT=...
    BENCH_DATABASE_URL=sqlite+aiosqlite:///path  python bench/minimal_bot.py   (or asyncpg's URL)

One aiogram webhook handler (issue 12, "Targets"): in ONE transaction it stores the update (its
id is the dedupe: a redelivered update is answered by nobody twice) and the reply, then sends the
reply, and only then answers the webhook, so an update Telegram saw acknowledged is on disk. The
same libraries as helpbot (aiogram, SQLAlchemy with aiosqlite or asyncpg) and the same SQLite
settings (WAL, synchronous=FULL, BEGIN IMMEDIATE); no knowledge base, no outbox, no FSM
(``disable_fsm=True``: no storage read per update). Not part of helpbot: a yardstick only.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message, Update
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from serving import serve
from sqlalchemy import BigInteger, Column, Integer, MetaData, Table, Text, event, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

REPLY = "Спасибо, вопрос получен"
metadata = MetaData()
updates = Table(
    "updates", metadata, Column("update_id", BigInteger, primary_key=True), Column("body", Text)
)
replies = Table(
    "replies",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("chat_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
)


def _engine(url: str) -> AsyncEngine:
    if not url.startswith("sqlite"):
        return create_async_engine(url)
    engine = create_async_engine(url)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # BEGIN is ours, as in bot/storage/db.py
        cursor = dbapi_connection.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "busy_timeout=10000"):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


async def main() -> None:
    env = os.environ
    engine = _engine(env["BENCH_DATABASE_URL"])
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    api = TelegramAPIServer.from_base(env["BENCH_API_URL"])
    bot = Bot(env["BENCH_TOKEN"], session=AiohttpSession(api=api))
    dp = Dispatcher(disable_fsm=True)

    @dp.message()
    async def answer(message: Message, event_update: Update) -> None:
        try:
            async with engine.begin() as conn:  # the update and its reply: one transaction
                await conn.execute(
                    insert(updates).values(
                        update_id=event_update.update_id,
                        body=event_update.model_dump_json(exclude_none=True),
                    )
                )
                await conn.execute(insert(replies).values(chat_id=message.chat.id, text=REPLY))
        except IntegrityError:
            return  # a redelivery: stored and answered before
        await bot.send_message(message.chat.id, REPLY)

    app = web.Application()
    SimpleRequestHandler(
        dp, bot, secret_token=env["BENCH_SECRET"], handle_in_background=False
    ).register(app, path="/telegram/webhook")
    await bot.set_webhook(env["BENCH_WEBHOOK_URL"], secret_token=env["BENCH_SECRET"])
    try:
        await serve(app, int(env["BENCH_PORT"]))
    finally:
        await bot.session.close()
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main())
