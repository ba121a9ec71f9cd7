"""Which failures of the database, or of an outside service a channel calls, are passing (worth
retrying until they pass), in one place: the inbox judges its handlers' errors so
(:mod:`bot.delivery.giveup`), and the outbox the errors a channel's send raised instead of
returning an outcome (:func:`bot.delivery.policy.crashed`) — hence the HTTP clients (aiohttp,
aiogram: Telegram's and Bitrix24's calls) among :data:`_CLIENTS`.

A PostgreSQL restart, a dropped or reset connection, a deadlock or a serialization failure, a
time-out, SQLite's "database is locked": the same statement works a moment later, so the event
being handled is not at fault. Anything else (a constraint, a syntax error, SQLite's "no such
table", a handler's own bug) fails the same way again: :func:`is_transient` says ``False``.

A bare ``TimeoutError``, ``ConnectionError`` or network ``OSError`` says nothing of whose it is:
a driver raises them for a server that does not answer, and our own code for a wait of its own
that a bug makes run out every time. Such an error is passing only when an outside service's
client (:data:`_CLIENTS`: the database's drivers, SQLAlchemy, Redis, HTTP, the sockets under
them) raised it — the innermost frame of its traceback that is not asyncio's scheduling (a
time-out, a task, a lock: they raise for whoever awaited them) is one of theirs. Raised in our
code it is a bug that repeats: the inbox gives its event up after a few attempts instead of
holding the chat until ``DELIVERY_GIVE_UP_AFTER``.

The rule follows: a time-out of our own wait — ``asyncio.timeout`` or ``asyncio.wait_for``
around an outside call — is raised in our frame (asyncio's own frames are skipped), so it
counts as ours, a bug, even when the service was only slow. Where a slow service must be
retried, give its client the time-out (its own raise is passing) or turn our time-out into an
outcome where it is caught (the outbox's send: ``Retry("timed out")``).
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
# The modules of outside services' clients and of the network under them; a frame of asyncio's
# transports counts as the network's, one of its scheduling as nobody's (see the docstring).
_CLIENTS = (
    "sqlalchemy", "asyncpg", "aiosqlite", "sqlite3", "redis", "aiohttp", "aiogram", "socket",
    "ssl", "asyncio.base_events", "asyncio.selector_events", "asyncio.proactor_events",
    "asyncio.sslproto", "asyncio.streams", "asyncio.unix_events",
)  # fmt: skip
_SCHEDULING = ("asyncio", "contextlib", "concurrent")
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
    if isinstance(error, sa.TimeoutError):  # the pool's: no connection free in time
        return True
    if isinstance(error, TimeoutError):
        return _raised_by_a_client(error)
    if isinstance(error, sqlite3.OperationalError):  # not "no such table", not a syntax error
        name = getattr(error, "sqlite_errorname", "")
        text = str(error).lower()
        return name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or text.startswith(_SQLITE_BUSY)
    if isinstance(error, ConnectionError | socket.gaierror):
        return _raised_by_a_client(error)
    if isinstance(error, OSError):  # a file's error is not the network's
        return error.errno in _NETWORK_ERRNOS and _raised_by_a_client(error)
    state = getattr(error, "sqlstate", None)  # asyncpg's errors, and SQLAlchemy's adapter's
    return isinstance(state, str) and (state.startswith("08") or state in _RETRY_STATES)


def _raised_by_a_client(error: BaseException) -> bool:
    """Whether the innermost frame of ``error``'s traceback that is not asyncio's scheduling
    belongs to an outside service's client (:data:`_CLIENTS`); ``False`` for one never raised."""
    theirs = False
    frame = error.__traceback__
    while frame is not None:
        module = frame.tb_frame.f_globals.get("__name__", "")
        if _within(module, _CLIENTS):
            theirs = True
        elif not _within(module, _SCHEDULING):
            theirs = False  # ours (or another library's): not a service's failure
        frame = frame.tb_next
    return theirs


def _within(module: str, packages: tuple[str, ...]) -> bool:
    return any(module == name or module.startswith(name + ".") for name in packages)
