"""The inbox's failure policy: an event that failed is retried, or given up and handed over.

A passing failure of the database (:func:`bot.storage.faults.is_transient`) costs no attempt:
the event is retried after a capped exponential backoff until the delivery window
(:data:`GIVE_UP_AFTER` from its arrival) closes. Anything else (a handler's bug) counts toward
:data:`MAX_ATTEMPTS`, a pause of :data:`RETRY_SECONDS` times its attempts between tries.

An event given up still reaches an operator when it carries a person's message: the channel's
``hand_over`` (:data:`HandOver`) runs it through the engine's hand-off
(:func:`bot.delivery.pipeline.answer` with ``failed``), and the settle of that transaction
(:func:`bot.delivery.settle.settle`) records the give-up instead of marking the row done —
conditional on the row being still pending, so a second replica's or a restarted process's
give-up of the same row rolls back: one ticket, one notice. A hand-off that fails passingly
(:func:`is_transient`, within the window) leaves the row pending: it is tried again after the
backoff (the handler first, then, failing again, the hand-off). Any other failure of the
hand-off is logged and the row is given up as before.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum, auto
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery import express
from bot.delivery.express import Express
from bot.delivery.policy import MAX_ATTEMPTS
from bot.delivery.settle import AlreadySettledError, processing, update_pending
from bot.storage.faults import is_transient
from bot.storage.models import DeliveryStatus, InboxUpdate

log = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # a failed event waits this long times its attempts
PASSING_FIRST = 1.0  # seconds before an event is retried after a passing failure of the
PASSING_CAP = 60.0  # database (bot.storage.faults), doubled each time up to this
GIVE_UP_AFTER = 24 * 3600.0  # passing failures are retried this long from the event's arrival

HandOver = Callable[[InboxUpdate, str], Awaitable[object]]
"""A channel's hand-off of an event given up (the row, its error's class): a person's message
goes to the operators through :func:`bot.delivery.pipeline.answer` (``failed``), whose settle
records the give-up; an event with nothing to relay is left alone (no settle)."""


class _Fate(Enum):
    """What a given-up event's hand-off leaves its row to."""

    DONE = auto()  # handed over, or given up elsewhere meanwhile: the row is done with
    LATER = auto()  # the hand-off failed passingly within the window: the row is tried again
    GIVE_UP = auto()  # nothing handed over: the caller records the give-up


@dataclass(frozen=True, slots=True)
class _HandOff:
    """:meth:`Failures._handed`'s result: the row's ``fate`` and, given up, ``why`` to put
    before its error ("" when there was nothing to hand over)."""

    fate: _Fate
    why: str = ""


_NOTHING = _HandOff(_Fate.GIVE_UP)  # no hand-off: the row is given up as it is


class Failures:
    """One channel's failed events: when each is tried again (:attr:`retry_at`), and the
    give-up of those past their attempts or their window."""

    def __init__(
        self,
        channel: str,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        give_up_after: float = GIVE_UP_AFTER,
        hand_over: HandOver | None = None,
        express: Express | None = None,
    ) -> None:
        self.channel = channel
        self._sessions = sessions
        self._clock = clock
        self._give_up_after = give_up_after  # DELIVERY_GIVE_UP_AFTER, as the outbox's
        self._hand_over = hand_over
        self._express = express  # the channel's outbox worker's, when it runs in this process
        self.retry_at: dict[int, datetime] = {}
        self._passing: dict[int, int] = {}  # row id: passing failures in a row (for the backoff)

    def forget(self, row_id: int) -> None:
        """The event is done with (handled, or given up): no retry, no backoff."""
        self.retry_at.pop(row_id, None)
        self._passing.pop(row_id, None)

    def keep_only(self, ids: Iterable[int]) -> None:
        """Forget every event but these (the others may be another replica's now)."""
        kept = set(ids)
        self.retry_at = {k: at for k, at in self.retry_at.items() if k in kept}
        self._passing = {k: n for k, n in self._passing.items() if k in kept}

    def clear(self) -> None:
        self.retry_at.clear()
        self._passing.clear()

    async def failed(self, row: InboxUpdate, exc: Exception, *, handled: bool = False) -> bool:
        """Record a failed event: a passing failure of the database (:func:`is_transient`) is
        retried until the delivery window closes; anything else (a handler's bug) counts toward
        :data:`MAX_ATTEMPTS`. ``False``: the event is to be retried later. ``handled``: the
        handler succeeded and only marking the row done failed — given up, it is never handed
        to the operators as one the bot failed on."""
        now = self._clock.now()
        if is_transient(exc):
            return await self._passed(row, exc, now, handled=handled)
        attempts = row.attempts + 1
        give_up = attempts >= MAX_ATTEMPTS
        log.exception(
            "event failed channel=%s key=%s attempt=%d", self.channel, row.external_id, attempts
        )
        error = f"{type(exc).__name__}: {exc}"
        if give_up and not handled:
            handed = await self._handed(row, exc, attempts, error, now)
            if handed.fate is not _Fate.GIVE_UP:
                return handed.fate is _Fate.DONE
            error = handed.why + error
        saved = await self._record(
            row,
            now,
            attempts=attempts,
            error=error[:1000],
            status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
            processed_at=now if give_up else None,
        )
        if saved is None:
            return False
        if not saved:
            return True  # its effects committed: running it again would repeat them
        row.attempts = attempts
        if give_up:
            log.warning(
                "event given up channel=%s key=%s attempts=%d",
                self.channel, row.external_id, attempts,
            )  # fmt: skip
            self.forget(row.id)
            return True
        self.retry_at[row.id] = now + timedelta(seconds=RETRY_SECONDS * attempts)
        return False

    async def _passed(
        self, row: InboxUpdate, exc: Exception, now: datetime, *, handled: bool
    ) -> bool:
        """A passing failure: no attempt counted, retried after a capped exponential backoff
        while the event is younger than the give-up window, then given up with a line."""
        if self._in_window(row, now):
            return self._later(row, "retried after a passing failure", exc, now)
        log.warning(
            "event given up after %.0fs of passing failures channel=%s key=%s error=%s",
            self._give_up_after, self.channel, row.external_id, type(exc).__name__,
        )  # fmt: skip
        # The class alone, as in the log: a passing failure's text may hold a server's address
        # or a statement's parameters.
        error = f"given up after {self._give_up_after:.0f}s: {type(exc).__name__}"
        handed = _NOTHING if handled else await self._handed(row, exc, row.attempts, error, now)
        if handed.fate is not _Fate.GIVE_UP:
            return handed.fate is _Fate.DONE
        error = handed.why + error
        values = {"error": error[:1000], "status": DeliveryStatus.FAILED, "processed_at": now}
        if await self._record(row, now, **values) is None:
            return False
        self.forget(row.id)
        return True

    async def _record(self, row: InboxUpdate, now: datetime, **values: Any) -> bool | None:
        """Record a failure on the pending row (:func:`~bot.delivery.settle.update_pending`):
        whether it was recorded (``False``: settled meanwhile, kept so), ``None`` when the
        database refused it (nothing recorded: the row stays pending, and claimed, and is tried
        again :meth:`_later`)."""
        try:
            saved = await update_pending(self._sessions, row.id, **values)
        except Exception as down:
            self._later(row, "failure not recorded, kept pending", down, now)
            return None
        if not saved:
            log.warning("event failed after it was settled, kept so key=%s", row.external_id)
            self.forget(row.id)
        return saved

    async def _handed(
        self, row: InboxUpdate, exc: Exception, attempts: int, error: str, now: datetime
    ) -> _HandOff:
        """Hand a given-up event's person's message to the operators (the channel's
        ``hand_over``), its transaction recording the give-up (the settle): ``DONE`` when the
        row is done with (handed, or given up elsewhere meanwhile), ``LATER`` when the hand-off
        failed passingly within the window (the row stays pending, tried again later), else
        ``GIVE_UP`` with why the hand-off failed for good ("" when there is nothing to hand
        over)."""
        if self._hand_over is None:
            return _NOTHING
        failed = {"s_attempts": attempts, "s_now": now, "s_error": f"handed over; {error}"[:1000]}
        with processing(row.id, failed=failed) as current:
            try:
                with express.reserving(self._express):
                    await self._hand_over(row, type(exc).__name__)
            except AlreadySettledError:
                log.warning(
                    "event given up elsewhere meanwhile channel=%s key=%s",
                    self.channel, row.external_id,
                )  # fmt: skip
                self.forget(row.id)
                return _HandOff(_Fate.DONE)
            except Exception as down:  # logged, and the row given up as it would be without it
                if is_transient(down) and self._in_window(row, now):
                    self._later(row, "not handed over after a passing failure", down, now)
                    return _HandOff(_Fate.LATER)
                log.exception(
                    "given-up event not handed over channel=%s key=%s error=%s",
                    self.channel, row.external_id, type(down).__name__,
                )  # fmt: skip
                return _HandOff(_Fate.GIVE_UP, f"hand-off failed: {type(down).__name__}; ")
        if not current.settled:  # no person's message in it
            return _NOTHING
        log.warning(
            "event given up, handed over to operators channel=%s key=%s attempts=%d error=%s",
            self.channel, row.external_id, attempts, type(exc).__name__,
        )  # fmt: skip
        self.forget(row.id)
        return _HandOff(_Fate.DONE)

    def _in_window(self, row: InboxUpdate, now: datetime) -> bool:
        """Whether the event's next try after :meth:`_backoff` is still within its window."""
        deadline = row.created_at + timedelta(seconds=self._give_up_after)
        return now + timedelta(seconds=self._backoff(row.id)) <= deadline

    def _later(self, row: InboxUpdate, why: str, error: Exception, now: datetime) -> bool:
        """Try the event again after :meth:`_backoff`, with one line (the error's class alone:
        its text may hold a server's address). A failure that could not be recorded (the
        database is down) leaves the row pending and claimed: this worker tries it again, or
        another replica once the claim runs out."""
        wait = self._backoff(row.id)
        self._passing[row.id] = self._passing.get(row.id, 0) + 1
        log.warning(
            "event %s channel=%s key=%s error=%s in=%.0fs",
            why, self.channel, row.external_id, type(error).__name__, wait,
        )  # fmt: skip
        self.retry_at[row.id] = now + timedelta(seconds=wait)
        return False

    def _backoff(self, row_id: int) -> float:
        """Seconds before the next try of an event: 1 s after its first passing failure,
        doubled after each next one, up to :data:`PASSING_CAP`."""
        tries = self._passing.get(row_id, 0)
        return min(PASSING_CAP, PASSING_FIRST * 2.0 ** min(tries, 30))
