"""How commands end in a real terminal (issue 16, items 2 and 5), run as processes: output piped
into `head` ends quietly, an error is one line (a traceback only with --debug) and never shows a
password, a knowledge-base warning is printed once, a missing KNOWLEDGE_DIR stops the commands
that answer from it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cli_process import fresh_env, helpbot

EXIT_CLOSED_PIPE = 141


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return fresh_env(tmp_path)


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh machine whose database exists (made once: each command is a process)."""
    env = fresh_env(tmp_path_factory.mktemp("migrated"))
    assert helpbot("db", "upgrade", env=env).returncode == 0
    return env


@pytest.mark.parametrize(
    "args",
    [
        ("--help",),
        ("--version", "-v"),
        ("db", "current"),
        ("report", "stats"),
        ("operator", "list", "--all"),
        ("doctor",),
    ],
)
def test_output_piped_into_head_ends_quietly(migrated: dict[str, str], args: tuple[str]) -> None:
    # `helpbot report gaps | head -1` ended in a BrokenPipeError traceback: the reader is gone
    # before the command writes (the pipe is closed at once), as when head has its line.
    with subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=migrated["_CWD"],
        env={k: v for k, v in migrated.items() if not k.startswith("_")},
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=120) == EXIT_CLOSED_PIPE
    assert err == b""


def test_an_unreachable_database_is_one_line_without_the_password(env: dict[str, str]) -> None:
    env["DATABASE_URL"] = "postgres://helpbot:hunter2secret@127.0.0.1:9/helpbot?sslmode=disable"
    done = helpbot("operator", "list", env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "hunter2secret" not in done.stderr


@pytest.mark.parametrize("command", [("operator", "list"), ("db", "upgrade")])
def test_an_unsupported_scheme_is_one_line_naming_what_works(
    env: dict[str, str], command: tuple[str, str]
) -> None:
    env["DATABASE_URL"] = "mysql://helpbot:hunter2secret@db/helpbot"
    done = helpbot(*command, env=env)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        "error: invalid configuration: DATABASE_URL: Value error, unsupported database URL "
        "scheme 'mysql': use PostgreSQL (postgresql://host/db, asyncpg) or SQLite "
        "(sqlite:///file.db, aiosqlite)\n"
    )


def test_debug_shows_the_traceback(env: dict[str, str], tmp_path: Path) -> None:
    not_a_database = tmp_path / "notes.txt"
    not_a_database.write_text("shopping list\n" * 100, encoding="utf-8")
    env["DATABASE_SQLITE_PATH"] = str(not_a_database)
    quiet = helpbot("operator", "list", env=env)
    assert quiet.returncode == 2
    assert quiet.stderr.startswith("error: cannot migrate the database: ")
    assert quiet.stderr.count("\n") == 1 and "Traceback" not in quiet.stderr
    loud = helpbot("--debug", "operator", "list", env=env)
    assert loud.returncode == 1
    assert "Traceback (most recent call last)" in loud.stderr


@pytest.mark.parametrize("command", [("ask", "как войти"), ("chat",), ("serve",), ("kb", "stats")])
def test_a_missing_knowledge_dir_stops_the_command(
    env: dict[str, str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    (tmp_path / "articles").mkdir()
    env["KNOWLEDGE_DIR"] = str(tmp_path / "artcles")
    done = helpbot(*command, env=env, stdin=b"/quit\n")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (
        f"error: KNOWLEDGE_DIR={tmp_path / 'artcles'}: no such folder "
        f"(did you mean {tmp_path / 'articles'}?)\n"
    )


def test_a_knowledge_base_warning_is_printed_once(env: dict[str, str], tmp_path: Path) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    (articles / "binary.md").write_bytes(b"\xff\xfe\x00\x01garbage\x00")
    (articles / "notes.txt").write_text("plain notes, no front matter\n", encoding="utf-8")
    (articles / "hr").mkdir()
    (articles / "hr" / "vacation.txt").write_text(
        "---\ntitle: Как оформить отпуск\n---\nЗаявление подаётся в разделе «Отпуска».\n",
        encoding="utf-8",
    )
    env["KNOWLEDGE_DIR"] = str(articles)
    done = helpbot("ask", "--json", "как оформить отпуск", env=env)
    assert done.returncode == 0
    assert done.stderr.splitlines() == [
        "WARNING: skipped binary.md: binary file",
        "WARNING: skipped notes.txt: no front matter (the file must start with '---')",
    ]
    assert '"title": "Как оформить отпуск"' in done.stdout
    assert '"breadcrumb": ["hr"]' in done.stdout  # a sub-folder is the breadcrumb
