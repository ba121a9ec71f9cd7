"""`helpbot ask` and `helpbot kb` (issue 2, items 3 and 8): output formats and messy input.

Most tests call ``bot.__main__.main``; the batch and closed-pipe tests run ``python -m bot`` so
that real bytes go through a real pipe and the exit code is the process's own.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.__main__ import main
from bot.texts import phrase
from knowledge.loader import load_corpus
from knowledge.model import Entry

QUESTION = "Как включить двухфакторную аутентификацию"
MATCH_FIELDS = {"id", "title", "url", "breadcrumb", "score"}
ACTIONS = {"answer", "clarify", "escalate", "operator", "smalltalk"}
ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("no_cli_settings")


@pytest.fixture(scope="module")
def two_factor() -> Entry:
    """The shipped article that QUESTION is about."""
    entries = [e for e in load_corpus().entries if e.url and "двухфакторн" in e.title.casefold()]
    assert entries, "the shipped corpus has an article about two-factor authentication"
    return entries[0]


def run_module(
    *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        check=False,
        cwd=ROOT,
        env={**os.environ, "KNOWLEDGE_DIR": "", **(env or {})},
        timeout=120,
    )


def check_json_reply(obj: dict[str, Any]) -> None:
    assert obj["action"] in ACTIONS
    assert isinstance(obj["text"], str)
    assert obj["text"]
    assert isinstance(obj["matches"], list)
    for match in obj["matches"]:
        assert set(match) == MATCH_FIELDS
        assert isinstance(match["breadcrumb"], list)
        assert 0.0 <= match["score"] <= 1.0


# --- one question -----------------------------------------------------------------------------


def test_ask_prints_the_answer_as_text(
    capsys: pytest.CaptureFixture[str], two_factor: Entry
) -> None:
    assert main(["ask", QUESTION]) == 0
    out, err = capsys.readouterr()
    assert two_factor.url in out
    assert two_factor.title.upper() in out
    assert not out.lstrip().startswith("{")
    assert "Traceback" not in err


def test_ask_json_prints_one_object(capsys: pytest.CaptureFixture[str], two_factor: Entry) -> None:
    assert main(["ask", "--json", QUESTION]) == 0
    out, _ = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    check_json_reply(obj)
    assert obj["action"] == "answer"
    top = obj["matches"][0]
    assert (top["id"], top["title"], top["url"]) == (
        two_factor.id,
        two_factor.title,
        two_factor.url,
    )
    assert top["breadcrumb"] == list(two_factor.breadcrumb)
    assert two_factor.url in obj["text"]


def test_ask_empty_question_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--json", "  \t "]) == 1
    obj = json.loads(capsys.readouterr().out)
    check_json_reply(obj)
    assert obj["matches"] == []


# --- a batch from standard input ----------------------------------------------------------------

BATCH: list[tuple[str, bytes]] = [
    ("empty", b""),
    ("blank", b"   \t "),
    ("normal", QUESTION.encode()),
    ("100 KB", ("настройка сделок в CRM " * 4_400).encode()[:100_000]),
    ("binary junk", b"\xff\xfe\x00\x00\x80\x9f\xd0\x00\xc3\x28\x1b[31m\x07\x00"),
    ("NUL only", b"\x00\x00\x00"),
    ("CRLF", "привет\r".encode()),
    ("normal again", b"kak vklyuchit dvukhfaktornuyu autentifikatsiyu"),
]


@pytest.fixture(scope="module")
def batch_run() -> subprocess.CompletedProcess[bytes]:
    stdin = b"".join(line + b"\n" for _, line in BATCH)
    return run_module("ask", "--json", "-", stdin=stdin)


def test_batch_prints_one_json_line_per_input_line(
    batch_run: subprocess.CompletedProcess[bytes],
) -> None:
    assert batch_run.returncode == 0, batch_run.stderr.decode(errors="replace")
    assert b"Traceback" not in batch_run.stderr
    lines = batch_run.stdout.decode("utf-8").split("\n")
    assert lines[-1] == ""  # every reply ends its line
    replies = [json.loads(line) for line in lines[:-1]]
    assert len(replies) == len(BATCH)
    for reply in replies:
        check_json_reply(reply)


def test_batch_keeps_the_order(
    batch_run: subprocess.CompletedProcess[bytes], two_factor: Entry
) -> None:
    replies = [json.loads(line) for line in batch_run.stdout.decode().splitlines()]
    by_name = dict(zip((name for name, _ in BATCH), replies, strict=True))
    for name in ("empty", "blank", "NUL only"):
        assert by_name[name]["action"] == "escalate"
        assert by_name[name]["matches"] == []
    for name in ("normal", "normal again"):
        assert by_name[name]["action"] == "answer"
        assert by_name[name]["matches"][0]["id"] == two_factor.id
    assert by_name["CRLF"]["action"] == "smalltalk"
    assert by_name["binary junk"]["action"] in {"escalate", "clarify"}


def test_batch_of_nothing_prints_nothing() -> None:
    result = run_module("ask", "--json", "-")
    assert result.returncode == 0
    assert result.stdout == b""
    assert b"Traceback" not in result.stderr


def test_batch_reads_text_as_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(f"привет\n\n{QUESTION}".encode()), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert main(["ask", "-"]) == 0
    out = capsys.readouterr().out
    assert phrase("empty", "ru") in out
    assert "https://helpdesk.bitrix24.ru/open/17728602/" in out  # the answer, with its link


# --- the company's article folder ---------------------------------------------------------------


def test_missing_knowledge_dir_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # Issue 16: a misspelt folder used to warn and answer from the shipped articles alone.
    (tmp_path / "articles").mkdir()
    missing = tmp_path / "artciles"
    assert main(["ask", "--json", "--knowledge-dir", str(missing), QUESTION]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    near = tmp_path / "articles"
    assert err == f"error: --knowledge-dir={missing}: no such folder (did you mean {near}?)\n"


def test_knowledge_dir_that_is_a_file_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    not_a_folder = tmp_path / "articles.md"
    not_a_folder.write_text("# not a folder\n", encoding="utf-8")
    assert main(["ask", "--knowledge-dir", str(not_a_folder), QUESTION]) == 2
    out, err = capsys.readouterr()
    assert (out, err) == ("", f"error: --knowledge-dir={not_a_folder}: not a folder\n")


def test_unreadable_knowledge_dir_is_reported_and_the_corpus_still_answers(
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    two_factor: Entry,
) -> None:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "a.md").write_text("---\ntitle: A\n---\nText.\n", encoding="utf-8")
    folder.chmod(0)
    if os.access(folder, os.R_OK):  # root reads anything: have the OS refuse the listing
        real_rglob = Path.rglob

        def refuse(self: Path, pattern: str) -> Any:
            if self == folder:
                raise PermissionError(13, "Permission denied", str(self))
            return real_rglob(self, pattern)

        monkeypatch.setattr(Path, "rglob", refuse)
    try:
        assert main(["ask", "--json", "--knowledge-dir", str(folder), QUESTION]) == 0
    finally:
        folder.chmod(0o755)
    out, err = capsys.readouterr()
    assert "unreadable" in caplog.text  # the loader's warning (on stderr outside pytest)
    assert str(folder) in caplog.text
    assert "Traceback" not in err
    assert json.loads(out)["matches"][0]["id"] == two_factor.id


def test_broken_company_files_are_skipped_by_name(
    capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    (tmp_path / "binary.md").write_bytes(b"\xff\xfe\x00\x01garbage\x00")
    (tmp_path / "coffee.md").write_text(
        "---\ntitle: Как сварить кофе в офисе\nurl: https://example.com/coffee\n---\n"
        "Кофемашина стоит на кухне, кнопка включения справа.\n",
        encoding="utf-8",
    )
    assert main(["ask", "--json", "--knowledge-dir", str(tmp_path), "как сварить кофе"]) == 0
    out, _ = capsys.readouterr()
    assert "binary.md" in caplog.text
    assert "coffee.md" not in caplog.text
    obj = json.loads(out)
    assert obj["action"] == "answer"
    assert obj["matches"][0]["url"] == "https://example.com/coffee"


# --- kb -----------------------------------------------------------------------------------------


def test_kb_stats_prints_the_counts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "stats"]) == 0
    rows = dict(line.split() for line in capsys.readouterr().out.splitlines())
    counts = {name: int(value) for name, value in rows.items()}
    stats = load_corpus().stats()
    assert counts == stats
    assert counts["entries"] == counts["articles"] + counts["sections"] > 0
    assert counts["entries"] == counts["with_url"] + counts["without_url"]
    assert counts["sources"] == 5


def test_kb_show_prints_the_entry(capsys: pytest.CaptureFixture[str], two_factor: Entry) -> None:
    assert main(["kb", "show", two_factor.id]) == 0
    out = capsys.readouterr().out
    assert f"id:         {two_factor.id}" in out
    assert f"title:      {two_factor.title}" in out
    assert f"url:        {two_factor.url}" in out
    assert two_factor.body[:200] in out


def test_kb_show_unknown_id_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "show", "no-such-entry"]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert "no-such-entry" in err
    assert "kb list" in err


def test_kb_list_prints_every_entry(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["kb", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    entries = load_corpus().entries
    assert lines == [f"{e.id}\t{e.title}" for e in entries]


def test_kb_with_bad_settings_prints_the_setting_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CONVERSATION_MAX_TEXT", "not-a-number")
    assert main(["kb", "stats"]) == 2
    err = capsys.readouterr().err
    assert "CONVERSATION_MAX_TEXT" in err
    assert err.startswith("error: ")


def test_closed_pipe_ends_quietly() -> None:
    # `helpbot kb list | head -1`: the reader goes away before the writer is done.
    with subprocess.Popen(
        [sys.executable, "-m", "bot", "kb", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "KNOWLEDGE_DIR": ""},
    ) as proc:
        assert proc.stdout is not None
        assert proc.stderr is not None
        proc.stdout.close()
        err = proc.stderr.read()
        assert proc.wait(timeout=60) == 141
    assert err == b""


# What a command that does not use them must not import: each is ~0.2-3.5 s of CPU a process.
_HEAVY = ("aiogram", "aiohttp", "alembic", "sqlalchemy")
_LIGHT_RUNS = [
    ["--help"],
    ["--version"],
    *([name, "--help"] for name in ("ask", "kb", "chat", "operator", "db", "report", "bitrix")),
    *([name, "--help"] for name in ("serve", "doctor")),
    ["operator", "list", "--help"],
]
_IMPORTS_OF = """
import contextlib, io, json, sys
from bot.__main__ import _build_parser, main
heavy, seen = %r, {}
def loaded():
    return {m for m in sys.modules if m.split(".")[0] in heavy}
_build_parser(["ask", "x"])  # what `helpbot ask` imports before it reads the knowledge base
seen["ask x"] = sorted({m.split(".")[0] for m in loaded()})
for argv in %r:
    before = loaded()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        main(argv)
    seen[" ".join(argv)] = sorted({m.split(".")[0] for m in loaded() - before})
print(json.dumps(seen))
"""


def test_commands_import_no_channel_nor_database_they_do_not_use() -> None:
    # regression: every command imported aiogram, SQLAlchemy and Alembic at start-up, which
    # doubled the time of `helpbot ask`; then `helpbot --help` and every COMMAND --help still
    # imported bot.app (SQLAlchemy, Alembic, aiohttp: ~1 s of CPU a process)
    code = _IMPORTS_OF % (_HEAVY, _LIGHT_RUNS)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    seen = json.loads(out.stdout)
    assert len(seen) == len(_LIGHT_RUNS) + 1
    assert {run: modules for run, modules in seen.items() if modules} == {}
