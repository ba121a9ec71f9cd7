"""Which failures are passing (bot/storage/faults.py): the database's and the network's that
work a moment later, not the ones that fail the same way again."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy import exc as sa

from bot.storage.faults import is_transient


def _wrapped(orig: BaseException) -> sa.DBAPIError:
    return sa.DBAPIError("UPDATE inbox", {}, orig)


def _sqlite_locked(tmp_path: Path) -> sqlite3.OperationalError:
    """A real "database is locked": a second connection's write while the first holds it."""
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        return exc
    finally:
        other.close()
        holder.close()
    raise AssertionError("the second writer was not refused")


def test_sqlite_busy_is_passing_and_its_other_operational_errors_are_not(tmp_path: Path) -> None:
    locked = _sqlite_locked(tmp_path)
    assert is_transient(locked)
    assert is_transient(sa.OperationalError("BEGIN", {}, locked))
    missing = sqlite3.connect(":memory:")
    with pytest.raises(sqlite3.OperationalError) as no_table:
        missing.execute("SELECT * FROM nowhere")
    assert not is_transient(sa.OperationalError("SELECT", {}, no_table.value))
    assert not is_transient(sa.IntegrityError("INSERT", {}, sqlite3.IntegrityError("UNIQUE")))


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.exceptions.SerializationError("could not serialize access"),
        asyncpg.exceptions.DeadlockDetectedError("deadlock detected"),
        asyncpg.exceptions.AdminShutdownError("terminating connection"),
        asyncpg.exceptions.CannotConnectNowError("the database system is starting up"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed"),
        asyncpg.exceptions.TooManyConnectionsError("too many clients"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_postgresqls_retry_states_are_passing_as_raised_and_as_wrapped(error: Exception) -> None:
    assert is_transient(error)
    adapted = RuntimeError("the adapter's error")
    adapted.__cause__ = error  # SQLAlchemy's asyncpg adapter raises its own `from` asyncpg's
    assert is_transient(_wrapped(adapted))


def test_postgresqls_other_errors_are_not_passing() -> None:
    for error in (
        asyncpg.exceptions.UniqueViolationError("duplicate key"),
        asyncpg.exceptions.UndefinedTableError("no such relation"),
        asyncpg.exceptions.StringDataRightTruncationError("value too long"),
    ):
        assert not is_transient(error)
        assert not is_transient(_wrapped(error))


def test_a_connection_sqlalchemy_saw_go_is_passing() -> None:
    gone = _wrapped(RuntimeError("connection is closed"))
    assert not is_transient(gone)
    gone.connection_invalidated = True
    assert is_transient(gone)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_time_out_or_a_network_error_a_client_raised_is_passing() -> None:
    """Raised by the database's driver (a server that accepts and never answers) or by the
    network under a client (a refused connection), directly or as a handler's error's cause."""
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", 0))
        hanging.listen()
        host, port = hanging.getsockname()
        with pytest.raises(TimeoutError) as hung:
            await asyncpg.connect(host=host, port=port, user="helpbot", timeout=0.05, ssl=False)
    assert is_transient(hung.value)
    with pytest.raises(ConnectionRefusedError) as refused:
        await asyncio.open_connection("127.0.0.1", _closed_port())
    assert is_transient(refused.value)
    try:
        raise RuntimeError("wrapped by a handler") from refused.value
    except RuntimeError as wrapped:
        assert is_transient(wrapped)
    assert is_transient(sa.TimeoutError("QueuePool limit reached"))  # the pool's, by its class


async def test_the_same_errors_raised_by_our_own_code_are_a_bug_not_passing() -> None:
    """A wait of our own that runs out, or such an error raised (or never raised) by our code,
    fails the same way again: before, any bare one was passing, and a handler that always
    timed out held its chat for the whole delivery window."""
    with pytest.raises(TimeoutError) as waited:
        await asyncio.wait_for(asyncio.Event().wait(), 0)
    assert not is_transient(waited.value)
    for error in (
        TimeoutError(),
        ConnectionResetError(104, "reset by peer"),
        OSError(101, "Network is unreachable"),
    ):
        assert not is_transient(error)
        with pytest.raises(OSError) as raised:
            raise error
        assert not is_transient(raised.value)
    assert not is_transient(FileNotFoundError(2, "No such file"))
    assert not is_transient(PermissionError(13, "denied"))
    assert not is_transient(KeyError("a bug"))
    context_only = ValueError("a bug while handling another error")
    context_only.__context__ = TimeoutError()
    assert not is_transient(context_only)
