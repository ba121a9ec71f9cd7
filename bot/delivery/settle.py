"""The inbox row being processed, settled in the transaction that stores its effects.

One transaction per event: the handler's transaction that stores the event's effects (the
engine's turn, the outbox rows) calls :func:`settle`, which marks the row done in that very
commit, so a crash can neither lose the replies nor repeat them and no second "done" commit
follows. The inbox worker (:mod:`bot.delivery.inbox`) names the row it hands to a handler with
:func:`processing`; a row whose handler stored nothing through :func:`settle` (an unknown
button, an event the channel ignores) is marked done by the worker afterwards, in a
transaction of its own (:func:`update_pending`, as the failure policy records a failure).
The hand-off of an event given up (:mod:`bot.delivery.giveup`) names its row with the
give-up's columns: that transaction's settle records the give-up instead of marking the row
done.

Both are conditional on the row being still pending, so a second replica's or a restarted
process's settle of the same row raises :class:`AlreadySettledError`: its transaction rolls
back, and the event is answered once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.errors import StorageError
from bot.storage.models import DeliveryStatus, InboxUpdate


@dataclass(slots=True)
class Processing:
    """The row a handler is running for, and whether its transaction settled it."""

    row_id: int
    settled: bool = False
    failed: dict[str, Any] | None = None  # being given up: settle records these columns


_current: ContextVar[Processing | None] = ContextVar("inbox_row", default=None)


@contextmanager
def processing(row_id: int, *, failed: dict[str, Any] | None = None) -> Iterator[Processing]:
    """Name ``row_id`` as the event being processed (for :func:`settle`) within the block;
    ``failed``: the columns that record its give-up (``s_attempts``, ``s_now``, ``s_error``)."""
    current = Processing(row_id, failed=failed)
    token = _current.set(current)
    try:
        yield current
    finally:
        _current.reset(token)


async def settle(session: AsyncSession, now: datetime, *, note: str | None = None) -> None:
    """Mark the event being processed done in the caller's transaction, the one that stores its
    effects (``note``: why nothing was done, e.g. an ignored event). Outside the inbox worker
    (a terminal command, a timer) there is no event: nothing to do."""
    current = _current.get()
    if current is None:
        return
    if current.failed is not None:  # the hand-off of an event given up: the give-up is recorded
        result = await session.execute(
            _settling(failed=True), {"s_id": current.row_id, **current.failed}
        )
    else:
        result = await session.execute(
            _settling(), {"s_id": current.row_id, "s_now": now, "s_note": note}
        )
    if not getattr(result, "rowcount", 1):  # another replica took it after our claim lapsed
        raise AlreadySettledError(current.row_id)  # and settled it: roll back, answer once
    current.settled = True  # if the commit fails, the handler raises and the row is retried


@cache  # built once each: every event runs one
def _settling(failed: bool = False) -> Update:
    """:func:`settle`'s UPDATE (Core: no loaded row to bring up to date) of a pending row: done,
    with its note; ``failed``, for the hand-off of an event given up: failed, with its attempts
    and error (only while pending: the give-up happens once)."""
    table = InboxUpdate.__table__
    assert isinstance(table, Table)
    column = table.c
    values: dict[str, Any] = {
        "processed_at": bindparam("s_now", type_=column.processed_at.type),
        "status": DeliveryStatus.FAILED if failed else DeliveryStatus.DONE,
        "error": bindparam("s_error" if failed else "s_note", type_=column.error.type),
    }
    if failed:
        values["attempts"] = bindparam("s_attempts", type_=column.attempts.type)
    return (
        update(table)
        .where(column.id == bindparam("s_id"), column.status == DeliveryStatus.PENDING)
        .values(**values)
    )


class AlreadySettledError(StorageError):
    """The event was settled by someone else while this process handled it (its claim lapsed
    and another replica processed it): this turn's effects must not commit a second time."""

    def __init__(self, row_id: int) -> None:
        super().__init__(f"inbox row {row_id} was settled elsewhere")
        self.row_id = row_id


async def update_pending(
    sessions: async_sessionmaker[AsyncSession], row_id: int, **values: Any
) -> bool:
    """Update the inbox row while it is pending, in a transaction of its own (a failure
    recorded, a give-up, or the worker marking done a row whose handler stored nothing): one
    its handler settled, or another replica gave up (and handed over) meanwhile, is never
    undone; whether it was updated."""
    async with sessions.begin() as session:
        result = await session.execute(
            update(InboxUpdate)
            .where(InboxUpdate.id == row_id, InboxUpdate.status == DeliveryStatus.PENDING)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
    return bool(getattr(result, "rowcount", 1))
