"""The one inbox worker: every channel's stored events through that channel's handler.

A channel's intake stores each event as an ``inbox`` row under the channel's id of it (the row's
key is the dedupe) before it acknowledges it (:meth:`InboxWorker.add`); the first event of a chat
with nothing pending is stored already claimed by this worker and handed to it when that commit
is done. This worker takes those, claims the other pending rows
(:func:`bot.storage.claims.claim_updates`: one replica per chat), runs up to
:data:`CHATS_AT_ONCE` chats concurrently and each chat's rows in order, and retries a failed row
a few times before giving it up (:mod:`bot.delivery.giveup`: the failure policy, and the
hand-off of a given-up event's person's message to the operators). A lone event thus costs two
commits: its store, and the transaction of its effects.

One transaction per event: the handler's transaction that stores the event's effects calls
:func:`bot.delivery.settle.settle`, which marks the row done in that very commit. A row whose
handler stored nothing through it (an unknown button, an event the channel ignores) is marked
done by the worker afterwards.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery import express
from bot.delivery.express import Express
from bot.delivery.giveup import GIVE_UP_AFTER, Failures, HandOver
from bot.delivery.settle import AlreadySettledError, processing, update_pending
from bot.storage import claims, delivery, dialect, wakeup
from bot.storage.db import on_commit, reading
from bot.storage.models import DeliveryStatus, InboxUpdate

log = logging.getLogger(__name__)

BATCH = 100
IDLE = 2.0  # longest nap between passes when nothing woke the worker, unless told (the server
# passes DELIVERY_IDLE_SECONDS): stores wake it (bot.storage.wakeup), and a look names when
# another replica's claim on a pending event runs out
HELD = 2.0  # nap while a pending event waits in a chat another replica holds
CHATS_AT_ONCE = 8  # events handled at once (each holds a pooled connection for its turn): fewer
# than the pool's connections, so a webhook's store and the outbox never wait for all of them

Handle = Callable[[InboxUpdate], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Arrival:
    """An event as an intake hands it over: the channel's id of it, its body, its chat (the
    events of one chat are processed in order; ``None``: on its own)."""

    key: str
    payload: dict[str, Any]
    chat: str | None


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
        self._idle_nap = idle
        self._sessions = sessions
        self._clock = clock
        self._handle_row = handle
        self._replica = replica or claims.default_replica()
        self._claim_seconds = claim_seconds
        self.ready = ready or asyncio.Event()
        self._failures = Failures(
            channel, sessions, clock,
            give_up_after=give_up_after, hand_over=hand_over, express=express,
        )  # fmt: skip
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
                due = await claims.update_due(
                    session, self.channel, self._replica, now, besides=[row.id for row in hand]
                )
            waiting = due is not None and due <= now
            self._quiet = not waiting
            if not waiting:
                self._failures.clear()
                if not hand:  # until another replica's claim runs out, or the next wake
                    left = self._idle_nap if due is None else (due - now).total_seconds()
                    return max(min(left, self._idle_nap), 0.01)
        rows = hand
        claimed: list[InboxUpdate] = []
        if waiting:
            async with self._sessions.begin() as session:  # events of chats no other replica has
                claimed = await claims.claim_updates(
                    session, self.channel, self._replica, now, BATCH, hold_for=self._claim_seconds
                )
            ids = {row.id for row in claimed}  # the rest may be another replica's now
            self._hand = [row for row in self._hand if row.id not in ids]  # stored meanwhile
            self._failures.keep_only(ids)
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
        waits = [(at - now).total_seconds() for at in self._failures.retry_at.values()]
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
            due = self._failures.retry_at.get(row.id)
            if due is not None and due > self._clock.now():
                return  # keep the chat's order: later events wait for this one
            async with self._chats_at_once:
                processed = await self._process(row)
            if not processed:
                return
            self._handled += 1

    async def _process(self, row: InboxUpdate) -> bool:
        """Handle one event; ``False`` when it is to be retried later."""
        with processing(row.id) as current:
            try:
                with express.reserving(self._express):
                    await self._handle_row(row)
            except AlreadySettledError:
                log.warning(
                    "event settled by another replica while handled here; this turn rolled back "
                    "channel=%s key=%s", self.channel, row.external_id,
                )  # fmt: skip
                self._failures.forget(row.id)
                return True
            except Exception as exc:  # a handler bug must not stop the other events
                return await self._failures.failed(row, exc)
        if not current.settled:  # nothing stored with it: done on its own
            try:
                now = self._clock.now()
                await update_pending(
                    self._sessions, row.id, status=DeliveryStatus.DONE, processed_at=now
                )
            except Exception as exc:  # the database went: it had no effects, run it again
                return await self._failures.failed(row, exc, handled=True)
        self._failures.forget(row.id)
        return True
