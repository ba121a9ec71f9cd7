"""One data home (issue 16, item 1): every command finds the same database wherever it is run
from; HELPBOT_HOME, XDG_DATA_HOME and the configuration file are honoured; `--version -v` says
where everything is."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from bot import home
from bot.__main__ import main
from handlers.settings import Settings, load_settings


@pytest.fixture
def data_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data home of this test's own; the database and articles come only from it."""
    folder = tmp_path / "home"
    monkeypatch.setenv("HELPBOT_HOME", str(folder))
    for name in ("DATABASE_URL", "DATABASE_SQLITE_PATH", "KNOWLEDGE_DIR", "KNOWLEDGE_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    return folder


def _in(folder: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(folder)
    return folder


def test_every_command_uses_the_home_wherever_it_is_run_from(
    data_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Regression: the database was ./var/helpbot.db, so `operator list` run from another folder
    # said «0 ticket(s)» and silently created a second, empty database.
    _in(tmp_path / "project", monkeypatch)
    assert main(["db", "upgrade"]) == 0
    _in(tmp_path / "elsewhere", monkeypatch)
    monkeypatch.setattr("sys.stdin", io.StringIO("квантовая хромодинамика глюоны\n1\n/quit\n"))
    assert main(["chat", "--person", "ion", "--name", "Ion"]) == 0
    assert "обращение №1" in capsys.readouterr().out
    _in(tmp_path / "a" / "third" / "place", monkeypatch)
    assert main(["operator", "--as", "anna", "list"]) == 0
    out = capsys.readouterr().out
    assert "Ion" in out and "0 ticket" not in out
    assert (data_home / "helpbot.db").is_file()
    assert (data_home / "cache").is_dir()  # the index cache, built by `chat`
    assert not list(tmp_path.glob("**/var")), "nothing is written relative to the working folder"


def test_default_home_is_the_per_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HELPBOT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.home == tmp_path / "data" / "helpbot"
    assert settings.database.sqlite_path == tmp_path / "data" / "helpbot" / "helpbot.db"
    assert settings.knowledge_cache_dir == tmp_path / "data" / "helpbot" / "cache"
    assert settings.drafts_dir == tmp_path / "data" / "helpbot" / "drafts"
    monkeypatch.setenv("XDG_DATA_HOME", "relative/is/invalid")  # the XDG spec: ignore it
    assert home.default_home() == tmp_path / ".local" / "share" / "helpbot"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert home.default_home() == tmp_path / ".local" / "share" / "helpbot"


def test_relative_paths_lie_in_the_home_absolute_ones_stay(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _in(tmp_path / "cwd", monkeypatch)
    monkeypatch.setenv("DATABASE_SQLITE_PATH", "db/bot.db")
    monkeypatch.setenv("KNOWLEDGE_CACHE_DIR", "~/cache-of-mine")
    monkeypatch.setenv("HOME", str(tmp_path))
    settings = load_settings(_env_file=None)
    assert settings.database.sqlite_path == data_home / "db" / "bot.db"
    assert settings.knowledge_cache_dir == tmp_path / "cache-of-mine"
    monkeypatch.setenv("DATABASE_URL", "sqlite:///other.db")
    assert load_settings(_env_file=None).database.url == f"sqlite:///{data_home / 'other.db'}"
    monkeypatch.setenv("KNOWLEDGE_CACHE_DIR", "")
    assert load_settings(_env_file=None).knowledge_cache_dir is None  # empty: no cache


def test_the_config_file_is_found_from_any_folder(
    data_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    user_config = tmp_path / "xdg-config" / "helpbot" / "helpbot.env"
    user_config.parent.mkdir(parents=True)
    user_config.write_text("CONVERSATION_LANGUAGE=ro\n", encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    _in(tmp_path / "anywhere", monkeypatch)
    assert home.config_file() == user_config
    assert load_settings().conversation.language == "ro"
    project = _in(tmp_path / "project", monkeypatch)
    (project / ".env").write_text("CONVERSATION_LANGUAGE=en\n", encoding="utf-8")
    assert home.config_file() == project / ".env"  # a checkout's own .env comes first
    assert load_settings().conversation.language == "en"
    explicit = tmp_path / "etc" / "helpbot.env"
    monkeypatch.setenv("HELPBOT_CONFIG", str(explicit))
    with pytest.raises(Exception, match=f"HELPBOT_CONFIG={explicit}: no such file"):
        load_settings()
    explicit.parent.mkdir()
    explicit.write_text("CONVERSATION_LANGUAGE=ru\n", encoding="utf-8")
    assert load_settings().conversation.language == "ru"


def test_version_verbose_says_where_everything_is(
    data_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    articles = tmp_path / "articles"
    articles.mkdir()
    monkeypatch.setenv("KNOWLEDGE_DIR", str(articles))
    monkeypatch.setenv("DATABASE_URL", "postgres://helpbot:hunter2secret@db.internal/helpbot")
    _in(tmp_path / "cwd", monkeypatch)
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("helpbot 0.1.0 (Python ")
    assert main(["--version", "-v"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1:] == [
        f"data home:     {data_home} (not created yet)",
        "database:      postgresql+asyncpg://helpbot:***@db.internal/helpbot",
        f"knowledge dir: {articles}",
        f"index cache:   {data_home / 'cache'}",
        "config file:   none (environment only)",
    ]
    assert not data_home.exists(), "asking where things are creates nothing"


def test_version_verbose_names_a_bad_setting(
    data_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://helpbot:hunter2secret@db/helpbot")
    assert main(["-v", "--version"]) == 2
    out = capsys.readouterr().out
    assert "settings:      invalid configuration: DATABASE_URL" in out
    assert "hunter2secret" not in out


def test_doctor_on_a_fresh_machine_warns_and_points_at_an_old_database(
    data_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = _in(tmp_path / "project", monkeypatch)
    (project / "var").mkdir()
    (project / "var" / "helpbot.db").write_bytes(b"")  # where earlier versions kept it
    assert main(["doctor"]) == 0  # nothing is broken: the first `chat` makes the database
    lines = capsys.readouterr().out.splitlines()
    assert f"ok    data home    {data_home} (not created yet: made on first use)" in lines
    assert (
        f"warn  database     {project / 'var' / 'helpbot.db'} is an older database in this "
        f"folder, not the one in use; to keep it: mv {project / 'var' / 'helpbot.db'} "
        f"{data_home / 'helpbot.db'}"
    ) in lines
    assert any(
        line.startswith("warn  database     ") and "not created yet" in line for line in lines
    )
    assert not data_home.exists(), "the doctor only reads"
