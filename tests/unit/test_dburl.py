"""Database URLs as people have them (issue 16, item 2): each form maps to asyncpg or aiosqlite,
query options people paste are understood, anything else is one line naming what works."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import dburl
from bot.dburl import DatabaseUrlError
from bot.settings import SettingsError
from handlers.settings import load_settings

PG = "postgresql+asyncpg://helpbot:s3cret@db.example.com:5432/helpbot"


@pytest.mark.parametrize(
    "given",
    [
        "postgresql://helpbot:s3cret@db.example.com:5432/helpbot",
        "postgres://helpbot:s3cret@db.example.com:5432/helpbot",  # Heroku, Render, Fly …
        "postgresql+psycopg://helpbot:s3cret@db.example.com:5432/helpbot",
        "postgresql+psycopg2://helpbot:s3cret@db.example.com:5432/helpbot",
        "postgresql+asyncpg://helpbot:s3cret@db.example.com:5432/helpbot",
        "POSTGRES://helpbot:s3cret@db.example.com:5432/helpbot",
        "  postgres://helpbot:s3cret@db.example.com:5432/helpbot\n",
    ],
)
def test_postgres_forms_map_to_asyncpg(given: str) -> None:
    target = dburl.parse(given)
    assert target.backend == "postgresql"
    assert target.url.render_as_string(hide_password=False) == PG
    assert target.connect_args == {}


@pytest.mark.parametrize(
    ("given", "database"),
    [
        ("sqlite:///x.db", "x.db"),
        ("sqlite:////var/lib/helpbot/helpbot.db", "/var/lib/helpbot/helpbot.db"),
        ("sqlite+aiosqlite:////tmp/h.db", "/tmp/h.db"),
        ("sqlite+pysqlite:///h.db", "h.db"),
        ("sqlite://", None),
        ("sqlite+aiosqlite://", None),
    ],
)
def test_sqlite_forms_map_to_aiosqlite(given: str, database: str | None) -> None:
    target = dburl.parse(given)
    assert (target.backend, target.url.drivername) == ("sqlite", "sqlite+aiosqlite")
    assert target.url.database == database


def test_sslmode_becomes_asyncpgs_ssl() -> None:
    target = dburl.parse(
        "postgres://u:p@h/db?sslmode=require&sslrootcert=/etc/ssl/ca.pem"
        "&application_name=helpbot&connect_timeout=7&target_session_attrs=read-write"
    )
    assert dict(target.url.query) == {"ssl": "require"}
    # libpq's other options go to asyncpg as a DSN query, which it reads as libpq would.
    assert target.connect_args == {
        "timeout": 7.0,
        "dsn": "postgresql://?sslrootcert=%2Fetc%2Fssl%2Fca.pem&application_name=helpbot"
        "&target_session_attrs=read-write",
    }


@pytest.mark.parametrize(
    "mode", ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
)
def test_every_libpq_sslmode_is_accepted(mode: str) -> None:
    assert dict(dburl.parse(f"postgresql://h/db?sslmode={mode}").url.query) == {"ssl": mode}


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("mysql://u:s3cret@h/db", "unsupported database URL scheme 'mysql'"),
        ("mysql+aiomysql://u:s3cret@h/db", "unsupported database URL scheme 'mysql'"),
        ("mssql+pyodbc://u:s3cret@h/db", "unsupported database URL scheme 'mssql'"),
        ("db.example.com:5432/helpbot", "DATABASE_URL is not a URL"),
        ("helpbot.db", "DATABASE_URL is not a URL"),
        ("postgres://u:s3cret@h:port/db", "DATABASE_URL cannot be parsed"),
        ("postgres://u:s3cret@h/db?sslmode=yes", "sslmode='yes' is not one of disable, allow"),
        ("postgres://u:s3cret@h/db?connect_timeout=soon", "connect_timeout must be a number"),
    ],
)
def test_unusable_urls_are_one_line_naming_what_works(given: str, message: str) -> None:
    with pytest.raises(DatabaseUrlError) as info:
        dburl.parse(given)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and "s3cret" not in text
    if "scheme" in message or "URL" in message:
        assert text.endswith(dburl.SUPPORTED)


def test_an_unsupported_scheme_fails_when_the_settings_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "mysql://helpbot:s3cret@db/helpbot")
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert "DATABASE_URL" in str(info.value) and "'mysql'" in str(info.value)
    assert "s3cret" not in str(info.value)


def test_mask_hides_the_password_of_any_url() -> None:
    assert dburl.mask("postgres://helpbot:s3cret@h/db") == "postgresql+asyncpg://helpbot:***@h/db"
    assert dburl.mask("mysql://helpbot:s3cret@h/db") == "mysql://helpbot:***@h/db"
    assert dburl.mask("redis://:s3cret@h:6379/0") == "redis://:***@h:6379/0"
    assert dburl.mask("sqlite:////x.db") == "sqlite+aiosqlite:////x.db"


def test_relative_sqlite_paths_lie_in_the_base(tmp_path: Path) -> None:
    assert dburl.with_base("sqlite:///x.db", tmp_path) == f"sqlite:///{tmp_path / 'x.db'}"
    assert dburl.with_base("sqlite+aiosqlite:///d/x.db?timeout=3", tmp_path) == (
        f"sqlite+aiosqlite:///{tmp_path / 'd' / 'x.db'}?timeout=3"
    )
    for unchanged in ("sqlite:////abs/x.db", "sqlite://", "sqlite:///:memory:", PG):
        assert dburl.with_base(unchanged, tmp_path) == unchanged
