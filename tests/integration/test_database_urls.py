"""Each DATABASE_URL form people have (issue 16, item 2) reaches a real database: SQLite files
anywhere, and PostgreSQL (when TEST_DATABASE_URL is set) whatever driver or options it names."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.__main__ import main
from bot.storage import db, migrate
from bot.storage.db import create_engine


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HELPBOT_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def _current(capsys: pytest.CaptureFixture[str]) -> str:
    capsys.readouterr()
    assert main(["db", "current"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize(
    ("url", "file"),
    [
        ("sqlite:///bot.db", "home/bot.db"),  # relative: inside the data home
        ("sqlite:///sub/bot.db", "home/sub/bot.db"),
        ("sqlite:///{tmp}/abs.db", "abs.db"),
        ("sqlite+aiosqlite:///{tmp}/abs.db", "abs.db"),
        ("sqlite+pysqlite:///{tmp}/abs.db", "abs.db"),
    ],
)
def test_sqlite_urls_as_people_write_them(
    home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    file: str,
) -> None:
    # Regression: sqlite:///x.db ended in «The asyncio extension requires an async driver».
    monkeypatch.setenv("DATABASE_URL", url.format(tmp=tmp_path))
    assert main(["db", "upgrade"]) == 0
    assert (tmp_path / file).is_file()
    head = migrate.head()
    assert _current(capsys) == f"database at revision {head} (newest {head})\n"


PG_FORMS = (
    "postgresql",
    "postgres",
    "postgresql+psycopg",
    "postgresql+psycopg2",
    "postgresql+asyncpg",
)


@pytest.mark.parametrize("scheme", PG_FORMS)
def test_postgres_urls_as_people_write_them(
    pg_database: str,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    scheme: str,
) -> None:
    # Regression: postgresql://u:p@host/db ended in a traceback: No module named 'psycopg'.
    url = make_url(pg_database).set(drivername=scheme).render_as_string(hide_password=False)
    monkeypatch.setenv("DATABASE_URL", url + "?sslmode=disable&connect_timeout=5")
    head = migrate.head()
    assert _current(capsys) == f"database at revision {head} (newest {head})\n"


async def test_libpq_options_reach_the_server(pg_database: str) -> None:
    url = make_url(pg_database).set(drivername="postgres").render_as_string(hide_password=False)
    engine = create_engine(
        url + "?sslmode=prefer&application_name=helpbot-doctor&connect_timeout=3"
    )
    try:
        async with engine.connect() as conn:
            name = await conn.scalar(text("SELECT current_setting('application_name')"))
    finally:
        await engine.dispose()
    assert name == "helpbot-doctor"


async def test_sslmode_require_asks_the_server_for_tls(pg_database: str) -> None:
    # This machine's server has no TLS: a required TLS connection must be refused, not made plain.
    url = make_url(pg_database).set(drivername="postgresql").render_as_string(hide_password=False)
    engine = create_engine(url + "?sslmode=require")
    try:
        with pytest.raises(Exception, match="SSL"):
            async with engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
    finally:
        await engine.dispose()


async def test_a_pooled_connection_that_died_while_idle_is_replaced_not_failed(
    pg_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL connection is pinged only after it idled (not before every transaction);
    one the server closed meanwhile (a restart, a firewall) is replaced by a fresh one."""
    engine = create_engine(pg_database)
    pings = 0
    ping = engine.dialect.do_ping

    def counted(dbapi_connection: object) -> bool:
        nonlocal pings
        pings += 1
        return ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        async with engine.connect() as conn:  # in use a moment ago: no ping
            assert await conn.scalar(text("SELECT pg_backend_pid()")) == first
        assert pings == 0
        admin = create_engine(pg_database)
        try:
            async with admin.connect() as conn:
                await conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        finally:
            await admin.dispose()
        monkeypatch.setattr(db, "PING_AFTER", 0.0)  # as if it had idled long enough
        async with engine.connect() as conn:
            fresh = await conn.scalar(text("SELECT pg_backend_pid()"))
        assert pings == 1 and fresh != first
    finally:
        await engine.dispose()
