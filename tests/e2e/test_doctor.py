"""`helpbot doctor` (issue 16, item 3) through the real CLI against the fake Bot API and the fake
Bitrix24 portal on 127.0.0.1: it passes on a good set-up and fails, naming the problem in one
line, on each broken setting; no secret is ever printed."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from fakes.bitrix24 import FakeBitrix24
from fakes.telegram_server import FakeTelegram

from bot.__main__ import main
from bot.storage import migrate

BOT_TOKEN = "doctor-bot-token-0123456789"
SECRET = "doctor_webhook_secret_42"
WEBHOOK = "https://127.0.0.1:9/telegram/webhook"


@dataclass
class Setup:
    tg: FakeTelegram
    b24: FakeBitrix24
    group_id: int
    monkeypatch: pytest.MonkeyPatch
    tmp_path: Path

    def env(self, **values: str) -> None:
        for name, value in values.items():
            self.monkeypatch.setenv(name, value)


@pytest.fixture
async def setup(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sqlite_db_url: str
) -> AsyncIterator[Setup]:
    """A good deployment: a migrated database, Telegram with its operators' forum, the Bitrix24
    bot registered with its command, a folder of company articles."""
    # A local Bot API server: api.telegram.org would refuse a webhook on 127.0.0.1 (reserved).
    async with FakeTelegram(local_mode=True) as tg, FakeBitrix24() as b24:
        group = tg.add_forum_group("Operators")
        articles = tmp_path / "articles"
        articles.mkdir()
        (articles / "vacation.md").write_text(
            "---\ntitle: Как оформить отпуск\n---\nЗаявление подаётся в разделе «Отпуска».\n",
            encoding="utf-8",
        )
        monkeypatch.chdir(tmp_path)  # no stray .env
        for name in [n for n in os.environ if n.startswith(("TELEGRAM_", "BITRIX_", "REDIS_"))]:
            monkeypatch.delenv(name)
        found = Setup(tg, b24, group.id, monkeypatch, tmp_path)
        found.env(
            HELPBOT_HOME=str(tmp_path / "home"),
            DATABASE_URL=sqlite_db_url,
            KNOWLEDGE_DIR=str(articles),
            TELEGRAM_BOT_TOKEN=tg.token,
            TELEGRAM_API_URL=tg.url,
            TELEGRAM_LOCAL_SERVER="true",
            OPERATOR_CHAT_ID=str(group.id),
            BITRIX_WEBHOOK_URL=b24.webhook_url,
            BITRIX_BOT_TOKEN=BOT_TOKEN,
        )
        assert await asyncio.to_thread(main, ["bitrix", "register"]) == 0
        yield found


async def doctor(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["doctor"])  # the CLI runs its own loop; fakes run here
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def failures(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("FAIL")]


def no_secrets(text: str, setup: Setup) -> None:
    for secret in (setup.tg.token, BOT_TOKEN, setup.b24.webhook_secret, SECRET):
        assert secret not in text


async def test_doctor_passes_on_a_good_setup(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    registered = len(setup.b24.calls)
    code, lines, err = await doctor(capsys)
    assert (code, failures(lines), err) == (0, [], "")
    text = "\n".join(lines)
    for expected in (
        f"database     {os.environ['DATABASE_URL']}: reachable, at revision {migrate.head()}",
        "telegram     token valid: @helpbot_test_bot",
        "telegram     polling mode, no webhook set",
        f"telegram     operators' group {setup.group_id} (Operators): a forum",
        "bitrix24     portal 127.0.0.1",
        "bitrix24     bot 'helpbot' registered",
        "bitrix24     command /helpbot registered",
        "knowledge    253 entries",
        "setting      TELEGRAM_BOT_TOKEN=***",
        "setting      BITRIX_WEBHOOK_URL=***",
        f"data home    {setup.tmp_path / 'home'} (not created yet",
    ):
        assert any(line.startswith("ok    " + expected) for line in lines), (expected, text)
    no_secrets(text, setup)
    # The doctor only reads: it changes nothing on the portal or on Telegram.
    read = ["profile", "imbot.v2.Bot.get", "imbot.v2.Command.list"]
    assert [c.method for c in setup.b24.calls[registered:]] == read
    assert {c.method for c in setup.tg.calls()} == {
        "getMe", "getWebhookInfo", "getChat", "getChatMember"
    }  # fmt: skip


async def _revoked_token(s: Setup) -> None:
    s.env(TELEGRAM_BOT_TOKEN="987654321:AAHsomeOtherTokenThatTelegramRefuses00")


async def _not_a_forum(s: Setup) -> None:
    s.env(OPERATOR_CHAT_ID=str(s.tg.add_forum_group("Chat", is_forum=False).id))


async def _no_topic_rights(s: Setup) -> None:
    s.env(OPERATOR_CHAT_ID=str(s.tg.add_forum_group("Ops", bot_rights={}).id))


async def _set_webhook(s: Setup, url: str) -> None:
    async with aiohttp.ClientSession() as http:
        call = f"{s.tg.url}/bot{s.tg.token}/setWebhook"
        async with http.post(call, data={"url": url, "secret_token": SECRET}) as response:
            assert (await response.json())["ok"]


async def _webhook_mode(s: Setup) -> None:
    s.env(TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_URL=WEBHOOK, TELEGRAM_WEBHOOK_SECRET=SECRET)


async def _webhook_elsewhere(s: Setup) -> None:
    # Another deployment (or an old one) took the bot's updates with a webhook of its own.
    await _set_webhook(s, "https://127.0.0.1:9/elsewhere")
    await _webhook_mode(s)


async def _webhook_unreachable(s: Setup) -> None:
    # Our webhook is set, but nothing answers at its address (serve is down, a firewall): the
    # fake Bot API tries to deliver a person's message and records why it could not.
    await _set_webhook(s, WEBHOOK)
    await _webhook_mode(s)
    s.tg.user_sends(s.tg.add_user("Ion"), "здравствуйте")
    await s.tg.wait_for(lambda: s.tg.webhook_info()["last_error_message"], timeout=10)


async def _bot_not_registered(s: Setup) -> None:
    s.env(BITRIX_BOT_CODE="not_registered_bot")


async def _someone_elses_bot(s: Setup) -> None:
    s.env(BITRIX_BOT_TOKEN="another-token-of-another-app")


async def _portal_unreachable(s: Setup) -> None:
    s.env(BITRIX_WEBHOOK_URL="http://127.0.0.1:9/rest/1/abcdef123456/")


async def _database_not_migrated(s: Setup) -> None:
    s.env(DATABASE_URL=f"sqlite:///{s.tmp_path / 'empty.db'}")
    (s.tmp_path / "empty.db").touch()


async def _database_unreachable(s: Setup) -> None:
    s.env(DATABASE_URL="postgresql://helpbot:hunter2secret@127.0.0.1:9/helpbot")


async def _misspelt_knowledge_dir(s: Setup) -> None:
    s.env(KNOWLEDGE_DIR=str(s.tmp_path / "articels"))


async def _unwritable_home(s: Setup) -> None:
    (s.tmp_path / "file").write_text("not a folder")
    s.env(HELPBOT_HOME=str(s.tmp_path / "file"))


async def _redis_down(s: Setup) -> None:
    s.env(REDIS_URL="redis://:redispassword@127.0.0.1:9/0")


BROKEN: dict[str, tuple[Callable[[Setup], Awaitable[None]], str]] = {
    "revoked token": (_revoked_token, "telegram     Telegram rejected TELEGRAM_BOT_TOKEN"),
    "group not a forum": (_not_a_forum, "not a forum: turn on Topics"),
    "bot may not manage topics": (_no_topic_rights, "may manage topics (now: administrator)"),
    "webhook set elsewhere": (_webhook_elsewhere, "webhook set on Telegram is not TELEGRAM_WEB"),
    "webhook unreachable": (
        _webhook_unreachable,
        "telegram     Telegram cannot deliver to TELEGRAM_WEBHOOK_URL: Connection refused (at ",
    ),
    "bot not registered": (_bot_not_registered, "no bot 'not_registered_bot' on the portal"),
    "someone else's bot": (_someone_elses_bot, "bitrix24     AccessDenied"),
    "portal unreachable": (_portal_unreachable, "bitrix24     TransportError"),
    "database not migrated": (_database_not_migrated, "at revision none (empty)"),
    "database unreachable": (_database_unreachable, "database     postgresql+asyncpg://"),
    "misspelt KNOWLEDGE_DIR": (_misspelt_knowledge_dir, "(did you mean"),
    "data home is a file": (_unwritable_home, "data home"),
    "redis down": (_redis_down, "redis        redis://:***@127.0.0.1:9/0"),
}


@pytest.mark.parametrize("broken", list(BROKEN))
async def test_doctor_fails_on_a_broken_setting(
    setup: Setup, capsys: pytest.CaptureFixture[str], broken: str
) -> None:
    breaks, expected = BROKEN[broken]
    await breaks(setup)
    code, lines, err = await doctor(capsys)
    assert code == 1
    assert err == ""
    bad = failures(lines)
    assert len(bad) == 1, lines
    assert expected in bad[0], lines
    assert lines[-1] == "1 check(s) failed"
    no_secrets("\n".join(lines), setup)
    assert "hunter2secret" not in "\n".join(lines) and "redispassword" not in "\n".join(lines)


async def test_doctor_with_unusable_settings_says_which_in_one_line(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    setup.env(DATABASE_URL="mysql://helpbot:hunter2secret@db/helpbot")
    code, lines, err = await doctor(capsys)
    assert code == 1
    assert failures(lines) == [
        "FAIL  settings     invalid configuration: DATABASE_URL: Value error, unsupported "
        "database URL scheme 'mysql': use PostgreSQL (postgresql://host/db, asyncpg) or SQLite "
        "(sqlite:///file.db, aiosqlite)"
    ]
    assert "hunter2secret" not in "\n".join(lines) + err


async def test_doctor_passes_in_webhook_mode_with_our_webhook_set(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    await _webhook_mode(setup)
    code, lines, _ = await doctor(capsys)
    assert code == 0  # not set yet is a warning: `helpbot serve` sets it
    assert "warn  telegram     webhook mode: no webhook set yet (`helpbot serve` sets it)" in lines
    assert "ok    setting      TELEGRAM_WEBHOOK_URL=https://127.0.0.1:9/***" in lines
    await _set_webhook(setup, WEBHOOK)  # as `helpbot serve` does when it starts
    code, lines, _ = await doctor(capsys)
    assert code == 0
    assert "ok    telegram     webhook set to TELEGRAM_WEBHOOK_URL (0 update(s) waiting)" in lines


async def test_doctor_checks_redis_when_it_is_set(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        pytest.skip("the Redis check needs TEST_REDIS_URL=redis://host:port/db")
    setup.env(REDIS_URL=url)
    code, lines, _ = await doctor(capsys)
    assert code == 0
    assert any(line.startswith("ok    redis        redis://") for line in lines)


async def test_doctor_names_a_misspelt_setting(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    (setup.tmp_path / ".env").write_text(
        "QUEUE_REFLAG_MINUTS=5\nHOURS_DAYS=mon-fri,sun\nPOSTGRES_PASSWORD=for-compose\n",
        encoding="utf-8",
    )
    setup.env(TELEGRAM_POLL_TIMOUT="10")
    code, lines, _ = await doctor(capsys)
    assert code == 0  # a warning: the bot runs, with the defaults
    assert f"ok    config file  {setup.tmp_path / '.env'}" in lines
    assert "ok    setting      HOURS_DAYS=mon,tue,wed,thu,fri,sun" in lines
    unknown = [line for line in lines if "is not a helpbot setting" in line]
    assert unknown == [
        "warn  setting      QUEUE_REFLAG_MINUTS is not a helpbot setting (misspelt?): ignored",
        "warn  setting      TELEGRAM_POLL_TIMOUT is not a helpbot setting (misspelt?): ignored",
    ]
    assert "for-compose" not in "\n".join(lines)
