"""The whole path in a terminal: `helpbot chat` escalates, `helpbot operator` answers, closes."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from cli_process import run_main, sqlite_home

from bot.storage import migrate


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return sqlite_home(tmp_path, monkeypatch)


def test_question_escalation_operator_reply_and_close(
    database: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    newest = migrate.head()
    assert run_main(["db", "upgrade"], capsys)[:2] == (
        0,
        f"database at revision {newest} (newest {newest})\n",
    )
    monkeypatch.setattr("sys.stdin", io.StringIO("квантовая хромодинамика глюоны\n1\n/quit\n"))
    code, out, _ = run_main(["chat", "--person", "ion", "--name", "Ion"], capsys)
    assert code == 0 and "[1] Позвать оператора" in out and "обращение №1" in out

    code, out, _ = run_main(["operator", "list"], capsys)
    assert code == 0 and "#1 [waiting]" in out and "Ion (cli)" in out
    assert run_main(["operator", "--as", "anna", "take", "1"], capsys)[0] == 0
    code, _, err = run_main(["operator", "--as", "bob", "take", "1"], capsys)
    assert code == 1 and "already taken by anna" in err
    code, out, _ = run_main(
        ["operator", "--as", "anna", "reply", "1", "Это не про Битрикс24"], capsys
    )
    assert code == 0 and "Это не про Битрикс24" in out
    code, out, _ = run_main(["operator", "--as", "anna", "close", "1", "off-topic"], capsys)
    assert code == 0 and "[TicketClosed]" in out
    code, out, _ = run_main(["operator", "show", "1"], capsys)
    assert "Оператор anna: Это не про Битрикс24" in out and "Обращение №1 · закрыто" in out
    code, _, err = run_main(["operator", "close", "7"], capsys)
    assert code == 1 and "ticket 7: no such ticket" in err


def test_commands_refuse_an_unmigrated_database_with_advice(
    database: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(["operator", "--no-migrate", "list"], capsys)
    assert code == 2 and "helpbot db upgrade" in err
    assert (
        run_main(["db", "current"], capsys)[1]
        == f"database at revision none (newest {migrate.head()})\n"
    )
