"""The one inbox worker: every channel's stored events through that channel's handler.

A channel's intake stores each event as an ``inbox`` row under the channel's id of it (the row's
key is the dedupe) before it acknowledges it (:meth:`InboxWorker.add`); the first event of a chat
with nothing pending is stored already claimed by this worker and handed to it when that commit
is done. This worker takes those, claims the other pending rows
(:func:`bot.storage.delivery.claim_updates`: one replica per chat), runs up to
:data:`CHATS_AT_ONCE` chats concurrently and each chat's rows in order, and retries a failed row
a few times before giving it up. A lone event thus costs two commits: its store, and the
transaction of its effects below.

An event given up still reaches an operator when it carries a person's message: the channel's
``hand_over`` (:data:`HandOver`) runs it through the engine's hand-off
(:func:`bot.delivery.pipeline.answer` with ``failed``), and the :func:`settle` of that
transaction records the give-up instead of marking the row done — conditional on the row being
still pending, so a second replica's or a restarted process's give-up of the same row rolls
back: one ticket, one notice. A hand-off that fails is logged and the row is given up as before.

One transaction per event: the handler's transaction that stores the event's effects (the
engine's turn, the outbox rows) calls :func:`settle`, which marks the row done in that very
commit, so a crash can neither lose the replies nor repeat them and no second "done" commit
follows. A row whose handler stored nothing through :func:`settle` (an unknown button, an
event the channel ignores) is marked done by the worker afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery import express
from bot.delivery.express import Express
from bot.delivery.policy import MAX_ATTEMPTS
from bot.errors import StorageError
from bot.storage import delivery, dialect, wakeup
from bot.storage.db import on_commit, reading
from bot.storage.faults import is_transient
from bot.storage.models import DeliveryStatus, InboxUpdate

log = logging.getLogger(__name__)

BATCH = 100
IDLE = 2.0  # longest nap between passes when nothing woke the worker, unless told (the server
# passes DELIVERY_IDLE_SECONDS): stores wake it (bot.storage.wakeup), and a look names when
# another replica's claim on a pending event runs out
HELD = 2.0  # nap while a pending event waits in a chat another replica holds
RETRY_SECONDS = 1.0  # a failed event waits this long times its attempts
CHATS_AT_ONCE = 8  # events handled at once (each holds a pooled connection for its turn): fewer
# than the pool's connections, so a webhook's store and the outbox never wait for all of them
PASSING_FIRST = 1.0  # seconds before an event is retried after a passing failure of the
PASSING_CAP = 60.0  # database (bot.storage.faults), doubled each time up to this
GIVE_UP_AFTER = 24 * 3600.0  # passing failures are retried this long from the event's arrival

Handle = Callable[[InboxUpdate], Awaitable[object]]
HandOver = Callable[[InboxUpdate, str], Awaitable[object]]
"""A channel's hand-off of an event given up (the row, its error's class): a person's message
goes to the operators through :func:`bot.delivery.pipeline.answer` (``failed``), whose settle
records the give-up; an event with nothing to relay is left alone (no settle)."""


@dataclass(frozen=True, slots=True)
class Arrival:
    """An event as an intake hands it over: the channel's id of it, its body, its chat (the
    events of one chat are processed in order; ``None``: on its own)."""

    key: str
    payload: dict[str, Any]
    chat: str | None


@dataclass(slots=True)
class _Processing:
    row_id: int
    settled: bool = False
    failed: dict[str, Any] | None = None  # being given up: settle records these columns


_current: ContextVar[_Processing | None] = ContextVar("inbox_row", default=None)


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


class InboxWorker:
    """Processes one channel's stored events through ``handle`` until :meth:`stop`."""

    def __init__(
        self,
        channel: str,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        handle: Handle,
        *,
        replica: str | None = None,
        give_up_after: float = GIVE_UP_AFTER,
        claim_seconds: float = 30.0,
        ready: asyncio.Event | None = None,
        express: Express | None = None,
        idle: float = IDLE,
        hand_over: HandOver | None = None,
    ) -> None:
        self.channel = channel
        self._hand_over = hand_over
        self._idle_nap = idle
        self._sessions = sessions
        self._clock = clock
        self._handle_row = handle
        self._replica = replica or delivery.default_replica()
        self._claim_seconds = claim_seconds
        self._give_up_after = give_up_after  # DELIVERY_GIVE_UP_AFTER, as the outbox's
        self.ready = ready or asyncio.Event()
        self._retry_at: dict[int, datetime] = {}
        self._passing: dict[int, int] = {}  # row id: passing failures in a row (for the backoff)
        self._handled = 0
        self._arriving: list[tuple[Sequence[Arrival], asyncio.Future[int]]] = []
        self._storing = asyncio.Lock()
        self._chats_at_once = asyncio.Semaphore(CHATS_AT_ONCE)
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._express = express  # the channel's outbox worker's, when it runs in this process
        self._hand: list[InboxUpdate] = []  # stored claimed by this worker, not yet taken
        self._quiet = False  # the last look found nothing to claim, and nothing was stored
        # unclaimed by this process since (see drain)

    def wake(self) -> None:
        self.ready.set()

    async def keep(self, arrivals: Sequence[Arrival]) -> int:
        """Store events durably; how many were new (a repeat is dropped). Then wake the worker.

        Group commit: events handed over while a store is committing (concurrent webhook
        calls) are stored together in the next transaction, one commit for all of them, and
        each caller returns once its own events are on disk (not after the ones that queued
        behind its own commit).
        """
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._arriving.append((arrivals, done))
        async with self._storing:  # FIFO: whoever gets it stores all that queued until then
            if not done.done():
                batch, self._arriving = self._arriving, []
                await self._store(batch)
        return await done

    async def add(
        self,
        session: AsyncSession,
        arrivals: Sequence[Arrival],
        now: datetime,
        *,
        serialised: bool = False,
    ) -> list[bool]:
        """Store events in the caller's transaction; for each, whether it was new (a repeat is
        dropped). An event that is the only pending one of its chat is stored claimed by this
        worker and handed to it once the transaction commits, up to :data:`CHATS_AT_ONCE` in
        hand: it is processed with no claim commit of its own (other replicas leave the chat
        alone while the claim holds). ``serialised``: the transaction took its turn with the
        channel's claims already (see below)."""
        if not serialised:  # PostgreSQL: one claimant per chat, whichever replica stores
            await dialect.serialise(session, f"inbox:{self.channel}")
        until = now + timedelta(seconds=self._claim_seconds)
        room = 0 if self._stopping else CHATS_AT_ONCE - len(self._hand)
        fresh: list[bool] = []
        mine: list[InboxUpdate] = []
        left = False
        for event in arrivals:
            # Only what this worker starts on soon: the rest is left to the claims of every
            # replica (one that stores a whole burst, the polling one, does not keep it all).
            replica = self._replica if len(mine) < room else None
            row = await delivery.keep_update(
                session, self.channel, event.key, event.payload, now, event.chat,
                replica=replica, hold_until=until,
            )  # fmt: skip
            fresh.append(row is not None)
            if row is None:
                log.info("duplicate event dropped channel=%s key=%s", self.channel, event.key)
            elif replica is not None and row.claimed_by == replica:
                mine.append(row)
            else:  # left to the claims: the next pass looks for it
                self._quiet = False
                left = True
        if mine:
            on_commit(session, lambda: self._hand.extend(mine), lambda: None)
        if left:  # other replicas may take them: wake theirs (this one is woken by keep)
            await wakeup.ring(session, f"inbox:{self.channel}")
        return fresh

    async def _store(self, batch: list[tuple[Sequence[Arrival], asyncio.Future[int]]]) -> None:
        now = self._clock.now()
        counts: list[int] = []
        try:
            async with self._sessions.begin() as session:
                await dialect.serialise(session, f"inbox:{self.channel}")  # once for the batch
                for arrivals, _ in batch:
                    fresh = await self.add(session, arrivals, now, serialised=True)
                    counts.append(sum(fresh))
        except Exception as exc:  # nothing stored: every caller of the batch hears why
            for _, waiting in batch:
                if not waiting.done():
                    waiting.set_exception(exc)
            return
        except BaseException:  # cancelled mid-commit: the callers cannot know, they fail
            for _, waiting in batch:
                waiting.cancel()
            raise
        for (_, waiting), new in zip(batch, counts, strict=True):
            if not waiting.done():  # a caller that gave up waiting (cancelled) hears nothing
                waiting.set_result(new)
        if any(counts):
            self.wake()

    async def run(self) -> None:
        """Process stored events until :meth:`stop` (or cancellation), woken by the stores of
        this channel's events (here: :meth:`keep`; elsewhere: :mod:`bot.storage.wakeup`)."""
        with wakeup.listening(self._sessions, f"inbox:{self.channel}", self.wake):
            await self._run()

    async def _run(self) -> None:
        while not self._stopping:
            self.ready.clear()
            self._idle.clear()
            try:
                delay = await self.drain()
            finally:
                self._idle.set()
            if delay > 0 and not self._stopping:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.ready.wait(), delay)

    async def stop(self, grace: float) -> None:
        """Finish the events in hand (up to ``grace`` seconds), then stop taking new ones."""
        self._stopping = True
        self.ready.set()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)

    async def drain(self) -> float:
        """Process what is pending; the seconds until the next pass is worth making."""
        now = self._clock.now()
        hand = self._take_hand(now)
        waiting = False
        if hand and self._quiet:
            # The last look found nothing and this process stored nothing unclaimed since: the
            # rows in hand go without a look, and the next pass looks (a lone event costs one
            # look, after its turn). Each row in hand is the only pending one of its chat.
            self._quiet = False
        else:
            async with reading(self._sessions) as session:  # no write lock without work
                due = await delivery.update_due(
                    session, self.channel, self._replica, now, besides=[row.id for row in hand]
                )
            waiting = due is not None and due <= now
            self._quiet = not waiting
            if not waiting:
                self._retry_at.clear()
                self._passing.clear()
                if not hand:  # until another replica's claim runs out, or the next wake
                    left = self._idle_nap if due is None else (due - now).total_seconds()
                    return max(min(left, self._idle_nap), 0.01)
        rows = hand
        claimed: list[InboxUpdate] = []
        if waiting:
            async with self._sessions.begin() as session:  # events of chats no other replica has
                claimed = await delivery.claim_updates(
                    session, self.channel, self._replica, now, BATCH, hold_for=self._claim_seconds
                )
            ids = {row.id for row in claimed}  # the rest may be another replica's now
            self._hand = [row for row in self._hand if row.id not in ids]  # stored meanwhile
            self._retry_at = {k: at for k, at in self._retry_at.items() if k in ids}
            self._passing = {k: n for k, n in self._passing.items() if k in ids}
            mine = {row.id: row for row in hand} | {row.id: row for row in claimed}
            rows = sorted(mine.values(), key=lambda row: row.id)
        handled = self._handled
        chats: dict[str, list[InboxUpdate]] = {}
        for row in rows:
            chats.setdefault(row.chat_key or f"event:{row.id}", []).append(row)
        async with asyncio.TaskGroup() as group:
            for chat_rows in chats.values():
                group.create_task(self._drain_chat(chat_rows))
        if len(rows) == BATCH or self._handled > handled:
            return 0.0  # look again at once: more may have been stored behind our chats
        now = self._clock.now()
        waits = [(at - now).total_seconds() for at in self._retry_at.values()]
        # A free event whose chat another replica holds (the look saw it, the claim left it):
        # that replica may let go of the chat at any time, and nothing will wake this one.
        longest = min(HELD, self._idle_nap) if waiting and not claimed else self._idle_nap
        return max(min(waits, default=longest), 0.01)

    def _take_hand(self, now: datetime) -> list[InboxUpdate]:
        """The events stored claimed by this worker since the last pass, whose claim holds long
        enough yet to handle them (the others are left to the claims)."""
        rows, self._hand = self._hand, []
        enough = now + timedelta(seconds=self._claim_seconds / 2)
        return [row for row in rows if row.claimed_until is not None and row.claimed_until > enough]

    async def _drain_chat(self, rows: list[InboxUpdate]) -> None:
        for row in rows:
            due = self._retry_at.get(row.id)
            if due is not None and due > self._clock.now():
                return  # keep the chat's order: later events wait for this one
            async with self._chats_at_once:
                processed = await self._process(row)
            if not processed:
                return
            self._handled += 1

    async def _process(self, row: InboxUpdate) -> bool:
        """Handle one event; ``False`` when it is to be retried later."""
        processing = _Processing(row.id)
        token = _current.set(processing)
        try:
            with express.reserving(self._express):
                await self._handle_row(row)
        except AlreadySettledError:
            log.warning(
                "event settled by another replica while handled here; this turn rolled back "
                "channel=%s key=%s", self.channel, row.external_id,
            )  # fmt: skip
            self._retry_at.pop(row.id, None)
            return True
        except Exception as exc:  # a handler bug must not stop the other events
            return await self._failed(row, exc)
        finally:
            _current.reset(token)
        if not processing.settled:  # nothing stored with it: done on its own
            try:
                await self._save(row.id, status=DeliveryStatus.DONE, processed_at=self._clock.now())
            except Exception as exc:  # the database went: it had no effects, run it again
                return await self._failed(row, exc)
        self._retry_at.pop(row.id, None)
        self._passing.pop(row.id, None)
        return True

    async def _failed(self, row: InboxUpdate, exc: Exception) -> bool:
        """Record a failed event: a passing failure of the database (:func:`is_transient`) is
        retried until the delivery window closes; anything else (a handler's bug) counts toward
        :data:`MAX_ATTEMPTS`. ``False``: the event is to be retried later."""
        now = self._clock.now()
        if is_transient(exc):
            return await self._passed(row, exc, now)
        attempts = row.attempts + 1
        give_up = attempts >= MAX_ATTEMPTS
        log.exception(
            "event failed channel=%s key=%s attempt=%d", self.channel, row.external_id, attempts
        )
        error = f"{type(exc).__name__}: {exc}"
        if give_up:
            unhanded = await self._handed(row, exc, attempts, error, now)
            if unhanded is None:
                return True
            error = unhanded + error
        try:
            saved = await self._save(
                row.id,
                attempts=attempts,
                error=error[:1000],
                status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
                processed_at=now if give_up else None,
            )
        except Exception as down:  # nothing recorded: the row stays pending, and claimed
            return self._later(row, "failure not recorded, kept pending", down, now)
        if not saved:
            log.warning("event failed after it was settled, kept so key=%s", row.external_id)
            self._retry_at.pop(row.id, None)
            return True  # its effects committed: running it again would repeat them
        row.attempts = attempts
        if give_up:
            log.warning(
                "event given up channel=%s key=%s attempts=%d",
                self.channel, row.external_id, attempts,
            )  # fmt: skip
            self._retry_at.pop(row.id, None)
            self._passing.pop(row.id, None)
            return True
        self._retry_at[row.id] = now + timedelta(seconds=RETRY_SECONDS * attempts)
        return False

    async def _passed(self, row: InboxUpdate, exc: Exception, now: datetime) -> bool:
        """A passing failure: no attempt counted, retried after a capped exponential backoff
        while the event is younger than the give-up window, then given up with a line."""
        deadline = row.created_at + timedelta(seconds=self._give_up_after)
        if now + timedelta(seconds=self._backoff(row.id)) <= deadline:
            return self._later(row, "retried after a passing failure", exc, now)
        log.warning(
            "event given up after %.0fs of passing failures channel=%s key=%s error=%s",
            self._give_up_after, self.channel, row.external_id, type(exc).__name__,
        )  # fmt: skip
        # The class alone, as in the log: a passing failure's text may hold a server's address
        # or a statement's parameters.
        error = f"given up after {self._give_up_after:.0f}s: {type(exc).__name__}"
        unhanded = await self._handed(row, exc, row.attempts, error, now)
        if unhanded is None:
            return True
        error = unhanded + error
        try:
            saved = await self._save(
                row.id, error=error[:1000], status=DeliveryStatus.FAILED, processed_at=now
            )
        except Exception as down:
            return self._later(row, "failure not recorded, kept pending", down, now)
        if not saved:
            log.warning("event failed after it was settled, kept so key=%s", row.external_id)
        self._retry_at.pop(row.id, None)
        self._passing.pop(row.id, None)
        return True

    async def _handed(
        self, row: InboxUpdate, exc: Exception, attempts: int, error: str, now: datetime
    ) -> str | None:
        """Hand a given-up event's person's message to the operators (the channel's
        ``hand_over``), its transaction recording the give-up (:func:`settle`); ``None`` when
        the row is done with (handed, or given up elsewhere meanwhile), else what to put before
        its error: ``""`` when there is nothing to hand over, why when the hand-off failed."""
        if self._hand_over is None:
            return ""
        failed = {"s_attempts": attempts, "s_now": now, "s_error": f"handed over; {error}"[:1000]}
        processing = _Processing(row.id, failed=failed)
        token = _current.set(processing)
        try:
            with express.reserving(self._express):
                await self._hand_over(row, type(exc).__name__)
        except AlreadySettledError:
            log.warning(
                "event given up elsewhere meanwhile channel=%s key=%s",
                self.channel, row.external_id,
            )  # fmt: skip
            return None
        except Exception as down:  # logged, and the row given up as it would be without it
            log.exception(
                "given-up event not handed over channel=%s key=%s error=%s",
                self.channel, row.external_id, type(down).__name__,
            )  # fmt: skip
            return f"hand-off failed: {type(down).__name__}; "
        finally:
            _current.reset(token)
        if not processing.settled:  # no person's message in it
            return ""
        log.warning(
            "event given up, handed over to operators channel=%s key=%s attempts=%d error=%s",
            self.channel, row.external_id, attempts, type(exc).__name__,
        )  # fmt: skip
        self._retry_at.pop(row.id, None)
        self._passing.pop(row.id, None)
        return None

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
        self._retry_at[row.id] = now + timedelta(seconds=wait)
        return False

    def _backoff(self, row_id: int) -> float:
        """Seconds before the next try of an event: 1 s after its first passing failure,
        doubled after each next one, up to :data:`PASSING_CAP`."""
        tries = self._passing.get(row_id, 0)
        return min(PASSING_CAP, PASSING_FIRST * 2.0 ** min(tries, 30))

    async def _save(self, row_id: int, **values: Any) -> bool:
        """Update the row while it is pending: one its handler settled, or another replica
        gave up (and handed over) meanwhile, is never undone; whether it was updated."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.id == row_id, InboxUpdate.status == DeliveryStatus.PENDING)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
        return bool(getattr(result, "rowcount", 1))
