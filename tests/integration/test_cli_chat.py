"""`helpbot chat` and `helpbot ask` as a person uses them (issue 16, item 5), run as processes:
a prompt at a terminal and none through a pipe, text wrapped at words, terminal commands that are
never questions (so never in `report gaps`), a number that is not a button, and `ask` printing
nothing to press."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest
from cli_process import Terminal, fresh_env, helpbot, helpbot_here

from bot.texts import phrase
from handlers.cli.chat_screen import PROMPT

PASSWORD = "как восстановить пароль"
PASSWORD_URL = "https://helpdesk.bitrix24.ru/open/24845290/"
COLUMNS = 44
# Typed in this order through a pipe: everything but the question is for the terminal itself.
SCRIPT = [
    "5",  # no button offered yet
    "/start",
    "/help",
    "/weather",  # an unknown command: the help again, not a question
    "отмена",  # nothing to cancel yet
    PASSWORD,  # an answer with three buttons
    "7",
    "",
    "/operator",  # a ticket for the question just asked
    "отмена",  # cancels it
]


@pytest.fixture(scope="module")
def piped(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], str]:
    """A fresh machine that ran SCRIPT through `helpbot chat` at a width of COLUMNS; its output."""
    env = fresh_env(tmp_path_factory.mktemp("piped")) | {"COLUMNS": str(COLUMNS)}
    done = helpbot("chat", env=env, stdin="".join(f"{line}\n" for line in SCRIPT).encode())
    assert (done.returncode, done.stderr) == (0, "")
    return env, done.stdout


def test_piped_lines_get_no_prompt_and_no_greeting(piped: tuple[dict[str, str], str]) -> None:
    out = piped[1]
    assert PROMPT not in out
    assert _unwrapped(out).count(phrase("cli_start", "ru")) == 1  # the answer to /start only


def test_terminal_commands_are_answered_by_the_terminal(piped: tuple[dict[str, str], str]) -> None:
    out = _unwrapped(piped[1])
    order = [
        phrase("cli_no_buttons", "ru"),
        phrase("cli_start", "ru"),
        _first_line("cli_help"),
        _first_line("cli_help"),
        phrase("cli_nothing_to_cancel", "ru"),
        PASSWORD_URL,
        phrase("cli_press_range", "ru", choices="1–3"),
        phrase("ticket_cancelled", "ru", ticket=1),
    ]
    at = 0
    for text in order:
        assert text in out[at:], f"{text!r} missing (or out of order) in:\n{out}"
        at = out.index(text, at) + len(text)


def test_commands_and_numbers_never_reach_report_gaps(piped: tuple[dict[str, str], str]) -> None:
    env, _ = piped
    done = helpbot("report", "gaps", env=env)
    assert done.returncode == 0
    listed = re.findall(r"^ +\d+  (.+?)  \(", done.stdout, re.MULTILINE)
    assert listed == [PASSWORD], done.stdout  # the question the person sent to an operator
    tickets = helpbot("operator", "list", "--all", env=env)
    assert "1 ticket(s)" in tickets.stdout and "[cancelled]" in tickets.stdout


def test_text_wraps_at_words_to_the_width(piped: tuple[dict[str, str], str]) -> None:
    lines = piped[1].splitlines()
    too_long = [line for line in lines if len(line) > COLUMNS]
    assert all(" " not in line.strip() for line in too_long), too_long  # only unbreakable words
    assert PASSWORD_URL in lines  # a link stays whole, on a line of its own
    hanging = [b for a, b in itertools.pairwise(lines) if a.startswith("• ")]
    assert any(b.startswith("  ") and b[2] != " " for b in hanging)  # under the item's text
    words = " ".join(_unwrapped(piped[1]).split())
    assert " ".join(phrase("cli_nothing_to_cancel", "ru").split()) in words


def test_at_a_terminal_a_prompt_the_width_and_operators_replies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    env = fresh_env(tmp_path)
    assert helpbot("db", "upgrade", env=env).returncode == 0
    chat = Terminal("chat", "--name", "Ion", env=env, columns=40)
    try:
        chat.wait_for(PROMPT)
        greeting = chat.screen.split(PROMPT)[0]
        assert "bot> " + phrase("cli_start", "ru")[:20] in greeting
        assert max(len(line) for line in greeting.splitlines()) <= 40  # the terminal's width
        chat.type("/operator\n")
        chat.wait_for(PROMPT, 2)
        assert phrase("ticket_created", "ru", ticket=1, position=1) in _unwrapped(chat.screen)
        # An operator takes it and answers from another terminal while the person is at the
        # prompt: the answer is printed above a redrawn prompt. (The operator's commands run in
        # this process, with the fresh machine's environment: the chat's process is apart all
        # the same; an acting `helpbot operator` process is test_operator_cli's live shell.)
        operator = {"env": env, "monkeypatch": monkeypatch, "capsys": capsys}
        take = helpbot_here("operator", "--as", "anna", "take", "1", **operator)
        assert take.returncode == 0, take.stderr
        reply = helpbot_here("operator", "--as", "anna", "reply", "1", "Сейчас помогу.", **operator)
        assert reply.returncode == 0, reply.stderr
        screen = chat.wait_for(f"operator anna> Сейчас помогу.\n\n{PROMPT}")
        assert screen.endswith(f"operator anna> Сейчас помогу.\n\n{PROMPT}")
        chat.type("\x04")  # Ctrl-D
        assert chat.close() == 0
        assert chat.screen.endswith(f"{PROMPT}\n")  # the shell's prompt gets a line of its own
    finally:
        if chat.proc.poll() is None:
            chat.proc.kill()
            chat.close()


def test_ask_prints_nothing_to_press_and_keeps_its_json(tmp_path: Path) -> None:
    questions = [PASSWORD, "отпуск", "настройка", "квантовая хромодинамика", "позовите оператора"]
    env = fresh_env(tmp_path)
    done = helpbot("ask", "--json", "-", env=env, stdin="\n".join(questions).encode())
    assert done.returncode == 0, done.stderr
    replies = [json.loads(line) for line in done.stdout.splitlines()]
    assert {r["action"] for r in replies} == {"answer", "clarify", "escalate", "operator"}
    for reply in replies:
        assert set(reply) == {"action", "text", "confidence", "matches"}  # evaluate.py reads it
        assert "[1]" not in reply["text"] and "нажмите" not in reply["text"].casefold()
    clarify = next(r for r in replies if r["action"] == "clarify")
    for match in clarify["matches"][:2]:
        assert f"• {match['title']}" in clarify["text"].splitlines()  # a title to ask with
    plain = helpbot("ask", PASSWORD, env=env)
    assert plain.returncode == 0 and PASSWORD_URL in plain.stdout
    assert phrase("btn_helped", "ru") not in plain.stdout and "[" not in plain.stdout


def test_subfolders_are_read_and_hidden_ones_and_other_files_left_alone(tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    for name, title in [
        ("hr/leave/vacation.md", "Как оформить отпуск"),
        ("it/pass.txt", "Пропуск в офис"),
        (".git/notes.md", "Скрытая заметка"),
        ("hr/.drafts/draft.md", "Черновик"),
    ]:
        (articles / name).parent.mkdir(parents=True, exist_ok=True)
        (articles / name).write_text(f"---\ntitle: {title}\n---\nТекст статьи.\n", "utf-8")
    (articles / "hr" / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    env = fresh_env(tmp_path) | {"KNOWLEDGE_DIR": str(articles)}
    done = helpbot("kb", "list", env=env)
    assert (done.returncode, done.stderr) == (0, "")  # nothing skipped: nothing to report
    ours = {line.split("\t")[1] for line in done.stdout.splitlines()} & {
        "Как оформить отпуск",
        "Пропуск в офис",
        "Скрытая заметка",
        "Черновик",
    }
    assert ours == {"Как оформить отпуск", "Пропуск в офис"}
    shown = helpbot("kb", "show", "vacation--kak-oformit-otpusk", env=env)
    assert "source:     hr/leave/vacation.md" in shown.stdout
    assert "breadcrumb: hr > leave" in shown.stdout


def _first_line(key: str) -> str:
    return phrase(key, "ru").split("\n")[0]


def _unwrapped(out: str) -> str:
    """The output with wrapped lines joined again (a wrap only ever replaces one space)."""
    return " ".join(out.split())
