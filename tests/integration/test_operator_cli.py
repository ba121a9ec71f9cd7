"""`helpbot operator` in a terminal: the case card, ownership, answering with an entry, the
close warning, figures for export and the live shell, on a real SQLite database."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_process import run_main, sqlite_home

from bot.app import build
from bot.engine import Incoming
from handlers.settings import load_settings
from knowledge.base import KnowledgeBase

QUESTION = "Как восстановить пароль от Битрикс24"


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOURS_TIMEZONE", "Europe/Chisinau")
    return sqlite_home(tmp_path, monkeypatch)


def _escalate(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *lines: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n".join([*lines, "/quit", ""])))
    code, out, _ = run_main(["chat", "--person", "ion", "--name", "Ion"], capsys)
    assert code == 0 and "обращение №" in out


def test_a_second_operator_is_refused_and_the_card_reads_as_words(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _escalate(
        monkeypatch, capsys, QUESTION, "2", "позовите оператора"
    )  # «Не помогло», then a human
    code, out, _ = run_main(["operator", "list"], capsys)
    assert code == 0 and out.startswith("times: Europe/Chisinau\n")
    assert "#1 [waiting] ждёт " in out and "Ion (cli)" in out

    code, _, err = run_main(["operator", "--as", "anna", "reply", "1", "Здравствуйте"], capsys)
    assert code == 1 and "take it first" in err
    # an acting command, Telegram not configured, on another channel's ticket: no aiogram
    # imported for Telegram's renderer (~3.5 s of CPU a process), as before it was
    acts = "import sys; from bot.__main__ import main; code = main(sys.argv[1:]); "
    acts += "print('aiogram' in sys.modules); sys.exit(code)"
    command = [sys.executable, "-c", acts, "operator", "--as", "anna", "take", "1"]
    took = subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)
    assert took.returncode == 0 and took.stdout.endswith("False\n"), took.stderr
    assert "Оператор anna" in took.stdout  # what the person is told, shown
    for refused in (["reply", "1", "Я помогу"], ["close", "1"], ["transfer", "1", "carl"]):
        code, _, err = run_main(["operator", "--as", "bob", *refused], capsys)
        assert code == 1 and "anna holds it" in err, refused

    code, out, _ = run_main(["operator", "show", "1"], capsys)
    assert code == 0 and "Вопрос: " + QUESTION in out and "нажал «Не помогло»" in out
    assert "Бот предлагал:" in out and "уверенность" in out and "не помогло" in out
    assert "Почему (как бот читает вопрос сейчас):" in out and "P(верно)=" in out
    assert "у оператора anna" in out and "(Europe/Chisinau)" in out
    assert "[button" not in out and "fb:no" not in out


def test_send_entry_close_warning_and_a_supervisors_force(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _escalate(monkeypatch, capsys, "не работает телефония, позовите оператора")
    assert run_main(["operator", "--as", "anna", "take", "1"], capsys)[0] == 0
    code, _, err = run_main(["operator", "--as", "anna", "close", "1"], capsys)
    assert code == 1 and "unanswered" in err and "телефония" in err
    code, out, _ = run_main(["operator", "--as", "boss", "take", "1", "--force"], capsys)
    assert code == 0
    code, out, _ = run_main(
        ["operator", "--as", "boss", "send-entry", "1", "admin-manual--roli"], capsys
    )
    assert code == 0 and out.startswith("to person ticket #1: ")
    code, out, _ = run_main(["operator", "--as", "boss", "close", "1", "готово"], capsys)
    assert code == 0 and "[TicketClosed]" in out

    code, out, _ = run_main(["operator", "stats", "--format", "json"], capsys)
    data = json.loads(out)
    assert data["tickets"] == 1 and data["ratings"]["distribution"] == {
        str(n): 0 for n in range(1, 6)
    }
    boss = next(o for o in data["operators"] if o["operator"] == "boss")
    assert boss["taken"] == 1 and boss["resolved"] == 1
    code, out, _ = run_main(["operator", "stats", "--format", "csv"], capsys)
    rows = dict(csv.reader(io.StringIO(out)))
    assert rows["operators.boss.resolved"] == "1" and "median_wait" in rows
    code, out, _ = run_main(["operator", "stats"], capsys)
    assert "0:00:" not in out and " с" in out and "operators:" in out


def test_the_live_shell_prints_a_ticket_created_after_it_started(
    database: Path, capsys: pytest.CaptureFixture[str], kb: KnowledgeBase
) -> None:
    assert run_main(["db", "upgrade"], capsys)[0] == 0
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "bot", "operator", "--as", "anna"]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    with subprocess.Popen(command, text=True, env=env, **pipes) as shell:  # type: ignore[call-overload]
        try:
            assert shell.stdout is not None and shell.stdin is not None
            banner = shell.stdout.readline()
            assert "times in Europe/Chisinau" in banner

            async def ask_for_a_human() -> None:
                async with build(load_settings(), kb=kb) as app:  # the run's shipped base
                    services = await app.services()
                    text = "не работает телефония, позовите оператора"
                    await services.engine.handle(
                        Incoming("cli", "ana", "ana", text, display_name="Ana")
                    )

            asyncio.run(ask_for_a_human())  # another process, after the shell started
            deadline = time.monotonic() + 30
            seen = ""
            while "new ticket #1" not in seen and time.monotonic() < deadline:
                seen = shell.stdout.readline()
            assert "new ticket #1" in seen and "Ana (cli)" in seen and "телефония" in seen
            shell.stdin.write("quit\n")
            shell.stdin.flush()
            assert shell.wait(timeout=30) == 0
        finally:
            if shell.poll() is None:
                shell.kill()


# A program that runs `helpbot ARGV…` and says, when Telegram's renderer is imported, whether
# another connection could take the SQLite database's write lock at that moment.
_WATCHED = """
import sqlite3, sys
from bot.__main__ import main

class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "handlers.telegram.calls":
            side = sqlite3.connect(sys.argv[1], timeout=0, isolation_level=None)
            try:
                side.execute("BEGIN IMMEDIATE")
                side.execute("ROLLBACK")
                print("renderer imported: the database free")
            except sqlite3.OperationalError as exc:
                print(f"renderer imported: {exc}")
            finally:
                side.close()
        return None

sys.meta_path.insert(0, Watch())
sys.exit(main(sys.argv[2:]))
"""


def test_an_action_on_a_telegram_ticket_imports_its_renderer_outside_the_transaction(
    database: Path, capsys: pytest.CaptureFixture[str], kb: KnowledgeBase
) -> None:
    """Telegram not configured (any more), a Telegram ticket: aiogram is imported for the
    action's message to the person, and not while the action's transaction holds the database
    (before, the render made the import in it: seconds of CPU with SQLite's write lock held)."""
    assert run_main(["db", "upgrade"], capsys)[0] == 0

    async def ask_for_a_human() -> None:
        async with build(load_settings(), kb=kb) as app:
            services = await app.services()
            text = "не работает телефония, позовите оператора"
            await services.engine.handle(Incoming("telegram", "42", "42", text, message_id="t1"))

    asyncio.run(ask_for_a_human())
    command = [sys.executable, "-c", _WATCHED, str(database), "operator", "--as", "anna"]
    took = subprocess.run(
        [*command, "take", "1"], capture_output=True, text=True, check=False, timeout=60
    )
    assert took.returncode == 0, took.stderr
    assert "renderer imported: the database free" in took.stdout
    assert "queued 2 message(s) for telegram" in took.stdout  # as before: the same rows
