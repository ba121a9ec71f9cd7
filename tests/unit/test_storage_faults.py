"""Which failures are passing (bot/storage/faults.py): the database's and the network's that
work a moment later, not the ones that fail the same way again."""

from __future__ import annotations

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


def test_network_and_time_outs_are_passing_a_files_error_and_a_bug_are_not() -> None:
    assert is_transient(ConnectionResetError(104, "reset by peer"))
    assert is_transient(ConnectionRefusedError(111, "refused"))
    assert is_transient(OSError(101, "Network is unreachable"))
    assert is_transient(TimeoutError())
    assert is_transient(sa.TimeoutError("QueuePool limit reached"))
    assert not is_transient(FileNotFoundError(2, "No such file"))
    assert not is_transient(PermissionError(13, "denied"))
    assert not is_transient(KeyError("a bug"))
    try:
        try:
            raise ConnectionResetError(104, "reset")
        except ConnectionResetError as cause:
            raise RuntimeError("wrapped by a handler") from cause
    except RuntimeError as wrapped:
        assert is_transient(wrapped)
    context_only = ValueError("a bug while handling another error")
    context_only.__context__ = TimeoutError()
    assert not is_transient(context_only)
