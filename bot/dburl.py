"""Database URLs as people have them (a hosting provider's ``postgres://``, psycopg's options,
``sqlite:///x.db``) mapped to the async drivers helpbot ships: asyncpg and aiosqlite."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode

from bot.errors import StorageError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

__all__ = [
    "SUPPORTED",
    "DatabaseTarget",
    "DatabaseUrlError",
    "check_scheme",
    "mask",
    "parse",
    "with_base",
]

SUPPORTED = "PostgreSQL (postgresql://host/db, asyncpg) or SQLite (sqlite:///file.db, aiosqlite)"
_POSTGRES = re.compile(r"postgres(ql)?(\+\w+)?")
_SQLITE = re.compile(r"sqlite(\+\w+)?")
# libpq's sslmode values, which asyncpg's ``ssl`` accepts as they are.
_SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
# Options asyncpg.connect takes as numbers: a URL carries text.
_SECONDS = {
    "connect_timeout": "timeout",
    "timeout": "timeout",
    "command_timeout": "command_timeout",
}
# Options SQLAlchemy's asyncpg dialect passes through to asyncpg.connect as they are.
_NATIVE = frozenset({"ssl", "prepared_statement_cache_size", "direct_tls"})
_SCHEME = re.compile(r"([a-z][\w+.-]*)://", re.IGNORECASE)
_SQLITE_FILE = re.compile(r"(?P<scheme>sqlite(\+\w+)?):///(?P<path>[^?]+)(?P<query>\?.*)?", re.I)
_PASSWORD = re.compile(r"(?P<head>[a-z][\w+.-]*://[^/@\s]*?:)[^@\s]*(?=@)", re.IGNORECASE)


class DatabaseUrlError(StorageError):
    """DATABASE_URL cannot be used; the message names what is supported and never the password."""


@dataclass(frozen=True, slots=True)
class DatabaseTarget:
    """A parsed database URL: SQLAlchemy's URL with the async driver, and extra connect args."""

    url: URL
    backend: Literal["postgresql", "sqlite"]
    connect_args: dict[str, Any] = field(default_factory=dict)

    def masked(self) -> str:
        """The URL with the password replaced by ``***`` (extra connect args are not shown)."""
        return self.url.render_as_string(hide_password=True)


def check_scheme(raw: str) -> Literal["postgresql", "sqlite"]:
    """The backend ``raw`` names, or :class:`DatabaseUrlError` naming what is supported.

    Cheap (no SQLAlchemy import): the settings call it, and `helpbot ask` must start fast.
    """
    found = _SCHEME.match(raw.strip())
    if found is None:
        raise DatabaseUrlError(f"DATABASE_URL is not a URL; use {SUPPORTED}")
    scheme = found.group(1).lower()
    if _POSTGRES.fullmatch(scheme):
        return "postgresql"
    if _SQLITE.fullmatch(scheme):
        return "sqlite"
    raise DatabaseUrlError(
        f"unsupported database URL scheme {scheme.split('+')[0]!r}: use {SUPPORTED}"
    )


def parse(raw: str) -> DatabaseTarget:
    """Map ``raw`` to an asyncpg or aiosqlite URL; raises :class:`DatabaseUrlError`."""
    from sqlalchemy.engine import make_url

    backend = check_scheme(raw)
    try:
        url = make_url(raw.strip())
    except Exception:  # ArgumentError, or ValueError for a bad port: the text may hold a password
        raise DatabaseUrlError(f"DATABASE_URL cannot be parsed; use {SUPPORTED}") from None
    if backend == "postgresql":
        return _postgres(url)
    return DatabaseTarget(url.set(drivername="sqlite+aiosqlite"), "sqlite")


def _postgres(url: URL) -> DatabaseTarget:
    query: dict[str, str] = {}
    for key, value in url.query.items():
        # A repeated key (``?a=1&a=2``) arrives as a tuple: as in libpq, the last one counts.
        query[key] = value[-1] if isinstance(value, tuple) else value
    kept: dict[str, str] = {}
    connect_args: dict[str, Any] = {}
    libpq: dict[str, str] = {}
    for key, value in query.items():
        if key == "sslmode":
            if value not in _SSL_MODES:
                raise DatabaseUrlError(
                    f"DATABASE_URL: sslmode={value!r} is not one of {', '.join(_SSL_MODES)}"
                )
            kept.setdefault("ssl", value)
        elif key in _SECONDS:
            try:
                connect_args[_SECONDS[key]] = float(value)
            except ValueError:
                raise DatabaseUrlError(f"DATABASE_URL: {key} must be a number of seconds") from None
        elif key in _NATIVE:
            kept[key] = value
        else:
            # libpq's own options (sslrootcert, sslcert, target_session_attrs, application_name,
            # options …): asyncpg reads them from a DSN's query, as libpq would.
            libpq[key] = value
    if libpq:
        connect_args["dsn"] = "postgresql://?" + urlencode(libpq)
    target = url.set(drivername="postgresql+asyncpg", query=kept)
    return DatabaseTarget(target, "postgresql", connect_args)


def with_base(raw: str, base: Path) -> str:
    """A SQLite URL with a relative file path made relative to ``base``; anything else as is."""
    found = _SQLITE_FILE.fullmatch(raw.strip())
    if found is None:
        return raw
    database = found["path"]
    if database == ":memory:" or database.startswith("file:"):  # memory, or an SQLite URI
        return raw
    path = Path(database).expanduser()
    if not path.is_absolute():
        path = base / path
    return f"{found['scheme']}:///{path}{found['query'] or ''}"


def mask(raw: str) -> str:
    """``raw`` with any URL password replaced by ``***``; never raises, whatever the text."""
    try:
        return parse(raw).masked()
    except DatabaseUrlError:
        return _PASSWORD.sub(r"\g<head>***", raw)
