"""The composition root opens only what it is asked for: the `db` commands get a database and
no knowledge base, the parts are made once, and what was made is closed with the app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import build
from bot.settings import DatabaseSettings
from handlers.settings import Settings


def _settings(db_url: str, tmp_path: Path) -> Settings:
    # A knowledge folder that does not exist: building the base says so in a warning.
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        database=DatabaseSettings(url=db_url),
        knowledge_dir=tmp_path / "no-such-folder",
    )


async def test_the_database_alone_builds_no_knowledge_base(
    sqlite_db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with build(_settings(sqlite_db_url, tmp_path)) as app:
        db = await app.database()
        assert await app.database() is db  # made once
        queue = await app.queue(knowledge=False)  # operator commands that need no base
        assert await app.queue(knowledge=False) is queue
        assert await queue.list_tickets() == []
        assert "folder not found" not in caplog.text  # no base was built so far
        await app.knowledge()
        assert "no-such-folder: articles folder not found" in caplog.text


async def test_the_services_are_made_once_and_share_their_parts(sqlite_db_url: str) -> None:
    from knowledge.base import KnowledgeBase

    settings = Settings(_env_file=None, database=DatabaseSettings(url=sqlite_db_url))  # type: ignore[call-arg]
    async with build(settings, kb=KnowledgeBase(())) as app:
        services = await app.services()
        assert await app.services() is services
        assert await app.queue() is services.queue
        assert services.knowledge is await app.knowledge()
        assert services.db is (await app.database()).engine


def test_a_database_command_loads_no_channel(tmp_path: Path) -> None:
    # The `db` commands' path through the root, in a fresh interpreter: no aiogram, no web
    # server, no Redis client, no channel's life cycle is imported to open the database.
    url = f"sqlite:///{tmp_path / 'light.db'}"
    script = f"""
import asyncio, sys
from bot.app import build
from bot.settings import DatabaseSettings
from handlers.settings import Settings

async def main():
    settings = Settings(_env_file=None, database=DatabaseSettings(url={url!r}))
    async with build(settings, schema="upgrade") as app:
        await app.database()

asyncio.run(main())
heavy = ("aiogram", "redis", "aiohttp.web", "handlers.web", "handlers.telegram.channel",
         "handlers.bitrix24.channel")
print(sorted(m for m in sys.modules if m in heavy or m.startswith(("aiogram.", "redis."))))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.strip() == "[]", done.stdout


def test_commands_that_need_no_telegram_do_not_import_aiogram(tmp_path: Path) -> None:
    # aiogram's import is seconds of CPU (its pydantic models are built at import): a reading
    # `helpbot operator` command and the web app of a serve without Telegram go without it.
    path = tmp_path / "light.db"
    script = f"""
import asyncio, os, sys
os.environ["DATABASE_SQLITE_PATH"] = {str(path)!r}
from bot.__main__ import main
assert main(["operator", "list"]) == 0
assert main(["operator", "stats"]) == 0
from bot.app import build
from bot.settings import DatabaseSettings
from handlers.settings import Settings

async def serve():
    settings = Settings(_env_file=None, database=DatabaseSettings(url={f"sqlite:///{path}"!r}))
    async with build(settings, schema="check") as app:
        assert (await app.web())[1] == ()

asyncio.run(serve())
print(sorted(m for m in sys.modules if m == "aiogram" or m.startswith("aiogram.")))
"""
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True, text=True, check=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.stdout.splitlines()[-1] == "[]", done.stdout
