"""Which failures of the database are passing (worth retrying until they pass), in one place.

A PostgreSQL restart, a dropped or reset connection, a deadlock or a serialization failure, a
time-out, SQLite's "database is locked": the same statement works a moment later, so the event
being handled is not at fault. Anything else (a constraint, a syntax error, SQLite's "no such
table", a handler's own bug) fails the same way again: :func:`is_transient` says ``False``.
"""

from __future__ import annotations

import errno
import socket
import sqlite3

from sqlalchemy import exc as sa

# PostgreSQL SQLSTATEs that say "try again": the connection's class (08…), serialization failure,
# deadlock, too many connections, and the server shutting down or starting up (57P01-57P03).
_RETRY_STATES = frozenset({"40001", "40P01", "53300", "57P01", "57P02", "57P03"})
_NETWORK_ERRNOS = frozenset(
    {
        errno.ECONNREFUSED, errno.ECONNRESET, errno.ECONNABORTED, errno.EPIPE, errno.ETIMEDOUT,
        errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN,
    }
)  # fmt: skip
_SQLITE_BUSY = ("database is locked", "database table is locked", "database is busy")
_DEPTH = 8  # causes followed: a wrapped error is a few levels deep, never a long chain


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` (or what it wraps: SQLAlchemy's ``orig``, ``raise … from``) is a
    passing failure of the database or the network under it."""
    seen: BaseException | None = error
    for _ in range(_DEPTH):
        if seen is None:
            return False
        if _passing(seen):
            return True
        orig = seen.orig if isinstance(seen, sa.DBAPIError) else None
        seen = orig if isinstance(orig, BaseException) else seen.__cause__
    return False


def _passing(error: BaseException) -> bool:
    if isinstance(error, sa.DBAPIError) and error.connection_invalidated:
        return True  # SQLAlchemy saw the connection go (its dialect's is_disconnect)
    if isinstance(error, sa.TimeoutError | TimeoutError):  # the pool's, asyncio's, a socket's
        return True
    if isinstance(error, sqlite3.OperationalError):  # not "no such table", not a syntax error
        name = getattr(error, "sqlite_errorname", "")
        text = str(error).lower()
        return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or text.startswith(_SQLITE_BUSY)
    if isinstance(error, ConnectionError | socket.gaierror):
        return True
    if isinstance(error, OSError):  # a file's error is not the network's
        return error.errno in _NETWORK_ERRNOS
    state = getattr(error, "sqlstate", None)  # asyncpg's errors, and SQLAlchemy's adapter's
    return isinstance(state, str) and (state.startswith("08") or state in _RETRY_STATES)
