"""Express sends: a turn's outbox rows reserved for this process's outbox worker in the turn's own
transaction, so that a lone message is sent with no claim commit of its own.

While the inbox worker handles an event (:func:`reserving`) and the outbox worker waits for
work (in a pass, its waves claim many rows at a time anyway), :func:`add_outbox` stores the rows
of each chat that has nothing else unsent with the first of them *reserved*: claimed by this
replica and marked as being sent (``sending_since``) in its INSERT. Once the transaction commits,
the row is handed to the outbox worker in memory, which sends it in its next wave after the same
checks as any row it claims (the claim still holds, no pause of the chat, method or channel, the
send limits); a row that may not go now is handed back to the claims, its mark cleared. On
PostgreSQL the chats' outbox locks (:func:`bot.storage.delivery.lock_chats`) come first, so that
the look "nothing unsent" stays true until the commit and a chat's rows commit in id order.

The in-flight bound (``DELIVERY_IN_FLIGHT``) counts every row this process has marked as being
sent and not yet recorded, reserved rows included: a reservation is counted when it is made, with
no wait between the count and the decision, and released on every path — the transaction commits
(the row is handed over), rolls back, or ends some other way (the handler's scope ends).

What a crash may then repeat is unchanged: at most the one call per chat marked as being sent.
A reserved row whose transaction committed but which was not sent when the process died is
reported as of unknown outcome when it is next claimed (it may not have been sent at all).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.clock import Clock
from bot.storage import delivery
from bot.storage.db import on_commit
from bot.storage.models import OutboxMessage

log = logging.getLogger(__name__)


class Reservation:
    """Rows counted against the bound before their transaction commits; :meth:`committed` or
    :meth:`undo` settles it, once."""

    def __init__(self, book: Express, rows: list[OutboxMessage]) -> None:
        self._book = book
        self.rows = rows
        self.open = True

    def committed(self) -> None:
        if self.open:
            self.open = False
            self._book._handed(self.rows)

    def keep(self, rows: list[OutboxMessage]) -> None:
        """Only ``rows`` were reserved after all (the others' chats had unsent rows): the rest
        of the count is released at once."""
        if self.open:
            self._book._reserved -= len(self.rows) - len(rows)
            self.rows = rows

    def undo(self) -> None:
        if self.open:
            self.open = False
            self._book._reserved -= len(self.rows)


class Express:
    """One outbox worker's book: the rows this process marked as being sent and has not yet
    recorded (in flight, or in hand), the reservations of turns not yet committed, and the one
    bound on all of them."""

    def __init__(
        self,
        channel: str,
        limit: int,
        *,
        clock: Clock,
        replica: str,
        claim_seconds: float,
        may_go: Callable[[OutboxMessage, datetime], bool],
        wake: Callable[[], None],
    ) -> None:
        self.channel = channel
        self.limit = max(limit, 1)
        self._clock = clock
        self._replica = replica
        self._claim_seconds = claim_seconds
        self._may_go = may_go
        self._wake = wake
        self._marked: dict[int, str] = {}  # row id -> its chat
        self._reserved = 0
        self._hand: list[OutboxMessage] = []
        self.draining = False  # the worker is in a pass: its next wave claims what is stored

    def room(self, besides: Collection[int] = ()) -> int:
        """Rows that may still be marked as being sent (``besides``: marked rows whose marks the
        caller's transaction clears as it marks others, so that both commit together)."""
        marked = sum(1 for row_id in self._marked if row_id not in besides)
        return self.limit - marked - self._reserved

    def marked(self) -> list[int]:
        return list(self._marked)

    def busy(self, besides: Collection[int] = ()) -> set[str]:
        """Chats with a row marked (``besides`` aside): their next row waits for its outcome."""
        return {chat for row_id, chat in self._marked.items() if row_id not in besides}

    def mark(self, rows: Sequence[OutboxMessage]) -> None:
        self._marked.update((row.id, row.chat_id) for row in rows)

    def unmark(self, ids: Sequence[int]) -> None:
        for row_id in ids:
            self._marked.pop(row_id, None)

    def take(self) -> list[OutboxMessage]:
        """The reserved rows handed over since the last take (still marked)."""
        rows, self._hand = self._hand, []
        return rows

    def give_back(self, rows: Sequence[OutboxMessage]) -> None:
        """Rows taken but not sent (the wave failed first): marked and in hand again, first."""
        self.mark(rows)
        self._hand[:0] = rows

    def _handed(self, rows: list[OutboxMessage]) -> None:
        self._reserved -= len(rows)
        self.mark(rows)
        self._hand.extend(rows)
        self._wake()

    async def stage(
        self, session: AsyncSession, rows: Sequence[OutboxMessage]
    ) -> Reservation | None:
        """Add ``rows`` in the caller's transaction, the first row of every chat with nothing
        unsent reserved while the bound has room and the worker waits for work (in a burst its
        waves claim rows many at a time anyway); the reservation, if any (see the module)."""
        now = self._clock.now()
        firsts: dict[str, OutboxMessage] = {}
        for row in rows:
            if row.channel == self.channel and row.chat_id not in firsts:
                firsts[row.chat_id] = row
        if not firsts or self.draining or self.room() <= 0 or session.in_nested_transaction():
            await delivery.add_outbox(session, rows)
            return None
        free = [row for row in firsts.values() if self._may_go(row, now)]
        chosen = free[: max(self.room(), 0)]  # counted now, no await between count and use
        if not chosen:
            await delivery.add_outbox(session, rows)
            return None
        self._reserved += len(chosen)
        reservation = Reservation(self, chosen)
        try:
            for channel in sorted({row.channel for row in rows}):
                chats = (row.chat_id for row in rows if row.channel == channel)
                await delivery.lock_chats(session, channel, chats)
            until = now + timedelta(seconds=self._claim_seconds)
            for row in chosen:
                row.claimed_by, row.claimed_until, row.sending_since = self._replica, until, now
            places = {id(row) for row in chosen}
            reserving = [place for place, row in enumerate(rows) if id(row) in places]
            await delivery.add_outbox(session, rows, locked=True, reserving=reserving)
            reservation.keep([row for row in chosen if row.claimed_by is not None])
            on_commit(session, reservation.committed, reservation.undo)
        except BaseException:
            reservation.undo()
            raise
        return reservation


@dataclass
class _Scope:
    express: Express
    reservations: list[Reservation] = field(default_factory=list)


_scope: ContextVar[_Scope | None] = ContextVar("express_scope", default=None)


@contextmanager
def reserving(express: Express | None) -> Iterator[None]:
    """While an event is handled: the outbox rows its transactions add may be reserved for
    ``express``'s worker. Whatever was reserved and neither handed over nor undone by the end
    (a session closed without commit or rollback) is undone then."""
    if express is None:
        yield
        return
    scope = _Scope(express)
    token = _scope.set(scope)
    try:
        yield
    finally:
        _scope.reset(token)
        for reservation in scope.reservations:
            reservation.undo()


async def add_outbox(session: AsyncSession, rows: Sequence[OutboxMessage]) -> None:
    """Add outbox rows in the caller's transaction: the one way a channel stores its calls
    (reserved for this process's outbox worker where the module says)."""
    scope = _scope.get()
    if scope is None or not rows:
        await delivery.add_outbox(session, rows)
        return
    reservation = await scope.express.stage(session, rows)
    if reservation is not None:
        scope.reservations.append(reservation)
