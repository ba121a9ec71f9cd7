"""Fault test: the real `helpbot serve` process killed with SIGKILL mid-burst, then restarted.

Both fake servers run in this process on 127.0.0.1; the bot runs as a subprocess (Telegram long
polling, Bitrix24 ``Event.get`` fetch mode, one SQLite file). 1,000 questions over 100 chats go in,
the process dies by ``kill -9`` after some but not all replies, a second process resumes from the
database, and every question must get exactly one reply.

The one exception the APIs force: a Telegram ``sendMessage`` in flight at the kill. It may have
reached Telegram before the process died, and the Bot API has neither an idempotency key nor a way
to read the chat back, so the restarted process sends it again, after logging that its first
outcome is unknown. A Telegram double must be such a logged resend; the outbox sends to several
chats at once but one message per chat at a time, so there is at most one per chat and at most
``DELIVERY_IN_FLIGHT`` in all. Bitrix24 has no such exception: each message carries its own
``templateId``, and the portal answers a repeat with the message it already posted.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from pathlib import Path

from fakes.bitrix24 import FakeBitrix24
from fakes.bitrix24 import FakeChat as BitrixChat
from fakes.telegram_server import FakeTelegram, FakeUser

from bot.settings import DeliverySettings
from handlers.bitrix24.settings import BitrixSettings
from handlers.cli.bitrix import register_bot
from handlers.settings import Settings

BOT_TOKEN = "bot-token-0123456789abcdef"
CHATS = 100  # half Telegram people, half Bitrix24 open-line chats
PER_CHAT = 10
# Entry titles asked verbatim: each gets that entry's answer, which repeats the title, so a
# reply names the question it answers. Ten distinct ones: one per message of a chat.
TITLES = (
    "Как восстановить пароль от Битрикс24",
    "Как включить двухфакторную аутентификацию для входа в Битрикс24",
    "Как создать и настроить открытую линию",
    "Как работать с канбаном в CRM",
    "Как настроить виджет новостей на главной странице",
    "Как заблокировать документ на диске",
    "Как создать чат о просроченной задаче",
    "Как отслеживать переходы по ссылкам в письмах",
    "Как быстро подключить диск группы новым участникам",
    "Как работать со списком CRM-форм",
)
UNKNOWN_OUTCOME = "sent again after an unknown outcome"
FAST = 10_000.0  # send limits high on both sides: the test is about faults, not throttling
START_DEADLINE = 90.0  # cold start included: over 30 s on a loaded machine
FINISH_DEADLINE = 150.0


def _env(tmp_path: Path, tg: FakeTelegram, b24: FakeBitrix24) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "HELPBOT_HOME")
    keep += ("XDG_DATA_HOME", "XDG_CONFIG_HOME")  # the run's own (tests/conftest.py)
    return {k: v for k, v in os.environ.items() if k in keep} | {
        "DATABASE_SQLITE_PATH": str(tmp_path / "helpbot.db"),
        "KNOWLEDGE_CACHE_DIR": str(Path(__file__).parents[2] / "var" / "cache"),
        "REPLICA_ID": "fault-test",  # stable across the restart: its claims resume at once
        "WEB_HOST": "127.0.0.1",
        "WEB_PORT": "0",
        "TELEGRAM_BOT_TOKEN": tg.token,
        "TELEGRAM_API_URL": tg.url,
        "TELEGRAM_MODE": "polling",
        "TELEGRAM_POLL_TIMEOUT": "1",
        "TELEGRAM_CHAT_PER_SECOND": str(FAST),
        "TELEGRAM_GLOBAL_PER_SECOND": str(FAST),
        "BITRIX_WEBHOOK_URL": b24.webhook_url,
        "BITRIX_BOT_TOKEN": BOT_TOKEN,
        "BITRIX_EVENT_MODE": "fetch",
        "BITRIX_RATE_BURST": str(int(FAST)),
        "BITRIX_RATE_PER_SECOND": str(FAST),
        "BITRIX_FETCH_INTERVAL": "0.05",
        "BITRIX_FETCH_BUSY_INTERVAL": "0.02",
    }


@contextmanager
def serving(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`helpbot serve` as a child process; whatever happens, it is SIGKILLed and reaped."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "serve"],
            env=env,
            cwd=log.parent,  # no stray .env from the working tree
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)


async def until(
    fake: FakeBitrix24, check: Callable[[], bool], what: str, deadline: float, log: Path
) -> None:
    """Poll the fakes' records against a deadline; on time-out show the bot's last words."""
    try:
        await fake.wait_for(check, deadline, what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- helpbot serve output ---\n{_tail(log)}") from None


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-3000:]


def settled(env: dict[str, str]) -> bool:
    """Whether the bot's database holds no pending inbound update or outgoing message."""
    with closing(sqlite3.connect(env["DATABASE_SQLITE_PATH"], timeout=1.0)) as db:
        (pending,) = db.execute(
            "SELECT (SELECT count(*) FROM inbox WHERE status = 'pending')"
            " + (SELECT count(*) FROM outbox WHERE status = 'pending')"
        ).fetchone()
    return int(pending) == 0


def replies(
    tg: FakeTelegram, people: list[FakeUser], b24: FakeBitrix24, chats: list[BitrixChat]
) -> Counter[tuple[str, str]]:
    """Replies per inbound message: (chat, title) -> how many bot messages answer it."""
    seen: Counter[tuple[str, str]] = Counter()
    texts = [(f"tg{p.id}", m.text or "") for p in people for m in tg.bot_messages(p)]
    texts += [(c.dialog_id, m.text) for c in chats for m in b24.bot_messages(c)]
    for chat, text in texts:
        plain = " ".join(text.split()).lower()  # the corpus keeps no-break spaces in titles
        for title in TITLES:
            if title.lower() in plain:
                seen[chat, title] += 1
    return seen


async def test_kill_9_mid_burst_loses_no_reply_and_doubles_only_a_telegram_send_in_flight(
    tmp_path: Path,
) -> None:
    log = tmp_path / "serve.log"
    async with (
        FakeTelegram(poll_hold_scale=0.1) as tg,
        FakeBitrix24(burst=int(FAST), per_second=FAST) as b24,
    ):
        settings = Settings(
            _env_file=None,  # type: ignore[call-arg]
            bitrix=BitrixSettings(
                webhook_url=b24.webhook_url,
                bot_token=BOT_TOKEN,  # type: ignore[arg-type]
            ),
        )
        assert await register_bot(settings) == 0
        people = [tg.add_user(f"Person {n}") for n in range(CHATS // 2)]
        chats = [await b24.open_line_chat(customer_name=f"Guest {n}") for n in range(CHATS // 2)]
        env = _env(tmp_path, tg, b24)
        expected = {(f"tg{p.id}", t) for p in people for t in TITLES}
        expected |= {(c.dialog_id, t) for c in chats for t in TITLES}
        assert len(expected) == CHATS * PER_CHAT == 1000

        def answered() -> int:  # cheap, polled often: bot messages less one welcome a chat
            sent = sum(len(tg.bot_messages(p)) for p in people)
            return sent + sum(len(b24.bot_messages(c)) - 1 for c in chats)

        with serving(env, log) as first:
            for title in TITLES:
                for person in people:
                    tg.user_sends(person, title)
                for chat in chats:
                    await b24.customer_sends(chat, title)
            await until(b24, lambda: answered() >= 50, "some replies", START_DEADLINE, log)
            first.send_signal(signal.SIGKILL)
            assert first.wait(timeout=10) == -signal.SIGKILL
        killed_at = answered()
        assert killed_at < len(expected), "the kill came too late to prove anything"

        with serving(env, log):
            await until(
                b24, lambda: answered() >= len(expected), "every reply", FINISH_DEADLINE, log
            )
            # Doubles would come from rows still pending: wait until the bot has none left.
            await until(b24, lambda: settled(env), "inbox and outbox drained", 20.0, log)

        counts = replies(tg, people, b24, chats)
        missing = sorted(expected - set(counts))
        doubled = sorted(key for key, n in counts.items() if n > 1)
        assert not missing, f"{len(missing)} messages got no reply, e.g. {missing[:3]}"
        assert set(counts) == expected
        assert not [key for key in doubled if not key[0].startswith("tg")], "Bitrix24 doubles"
        lines = log.read_text(errors="replace").splitlines()
        resent = sum(UNKNOWN_OUTCOME in line and "channel=telegram" in line for line in lines)
        in_flight = DeliverySettings().in_flight
        assert resent <= in_flight, f"{resent} Telegram sends had an unknown outcome"
        assert len(doubled) <= resent, f"unexplained doubles: {doubled[:3]}"
        assert all(counts[key] == 2 for key in doubled), "a message was sent three times"
