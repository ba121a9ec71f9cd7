"""The one outbox worker: sends every channel's stored calls through
:class:`~bot.delivery.outcome.Channel`.

Each wave is one commit: it records the previous wave's outcomes (settled by
:func:`bot.delivery.policy.settlement_for`, stored by :mod:`bot.delivery.recorder`), claims the
first due row of as many chats as the wave has room for (``in_flight`` less the rows in hand;
:func:`bot.storage.claims.claim_outbox`, no chat with a row in flight, no paused chat or
method) and marks them as being sent; then it sends them concurrently (one per chat, so each
chat keeps its order), with the rows a turn reserved for it (:mod:`bot.delivery.express`:
already claimed and marked, checked here as the others are). A pass repeats waves until every
chat's next row has to wait; the look for work before a pass is a read (no commit, no write
lock), and a wave with nothing to record and only reserved rows to send neither looks nor
commits (the wave that records their outcomes claims what else is due): a lone message's reply
costs one commit here, the one that records its outcome.

What a crash may repeat: at most the one call per chat that was in flight (``in_flight`` calls
at the most, reserved rows counted). Its row still carries ``sending_since`` when it is next
claimed; the worker then counts and logs an unknown outcome and sends it again (the Bot API
takes no idempotency key; Bitrix24 calls carry a ``templateId`` the portal dedupes).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection, Iterable
from contextlib import suppress
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery.express import Express
from bot.delivery.outcome import Channel, Done, Retry, Scope
from bot.delivery.policy import Policy, Settlement, crashed, settlement_for
from bot.delivery.recorder import Recorder, Sent, call_of
from bot.metrics import Metrics
from bot.storage import claims, wakeup
from bot.storage.db import reading
from bot.storage.faults import is_transient
from bot.storage.models import OutboxMessage

log = logging.getLogger(__name__)

WAVES = 50  # waves per pass before the loop yields to a fresh look (and to other tasks)
SEND_SHARE = 0.8  # a send is cut after this share of the claim: the wave records its outcome
# (unknown: retried, logged) while this replica still holds the chat, instead of another replica
# claiming the chat and sending the same call again beside it
BLOCKED = 1.0  # nap while a row is due but not claimable (its chat has one in flight or another
# replica's, its chat's first row is not due, a send limit), unless a pause says how long
IDLE = 1.0  # longest nap between passes unless told (the server passes DELIVERY_IDLE_SECONDS):
# the worker sleeps until the earliest row is due (a retry, a pause, another replica's claim
# running out) or a store wakes it (here or in another process: bot.storage.wakeup); this is
# the safety net for a wake-up missed, and how often a clock a test steps is looked at again


class OutboxWorker:
    """Drains one channel's outbox; :meth:`run` loops until :meth:`stop` (or cancelled), woken
    by ``ready``."""

    def __init__(
        self,
        channel: Channel,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        policy: Policy | None = None,
        ready: asyncio.Event | None = None,
        in_flight: int = 16,
        metrics: Metrics | None = None,
        replica: str | None = None,
        claim_seconds: float = 30.0,
        idle: float = IDLE,
    ) -> None:
        self.channel = channel
        self._name = channel.name
        self._sessions = sessions
        self._clock = clock
        self._recorder = Recorder(channel, clock, metrics or Metrics.create())
        self._policy = policy or Policy()
        self.ready = ready or asyncio.Event()
        self._in_flight = max(in_flight, 1)
        self._slots = asyncio.Semaphore(self._in_flight)
        self._replica = replica or claims.default_replica()
        self._claim_seconds = claim_seconds
        self.express = Express(
            self._name, self._in_flight, clock=clock, replica=self._replica,
            claim_seconds=claim_seconds, may_go=self._may_go, wake=self.wake,
        )  # fmt: skip
        self._nap = idle  # the longest
        # What the last look found: when the earliest row is due (None: there is none), while
        # nothing may have changed that (a store elsewhere, an outcome other than Done).
        self._due: datetime | None = None
        self._due_known = False
        self._paused: dict[Scope, datetime] = {}
        self._stopping = False  # stop() asked: no new wave; the wave in hand records its outcomes
        self._idle = asyncio.Event()  # set while no run() is under way
        self._idle.set()

    @property
    def problem(self) -> str | None:
        """Why the channel is not ready (its token refused); None while it is."""
        return self._recorder.problem

    async def run(self) -> None:
        """Drain, then wait for ``ready`` (or the next due row), until :meth:`stop`; a store of
        this channel's rows elsewhere sets ``ready`` too (:mod:`bot.storage.wakeup`)."""
        self._idle.clear()
        try:
            with wakeup.listening(self._sessions, f"outbox:{self._name}", self._stored):
                await self._run()
        finally:
            self._stopping = False  # a run started again (the channel restarted) drains again
            self._idle.set()

    async def _run(self) -> None:
        while not self._stopping:
            self.ready.clear()
            delay = await self.drain()
            if delay > 0 and not self._stopping:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self.ready.wait(), delay)

    async def stop(self, grace: float) -> bool:
        """Take no new wave; let the wave in hand finish its sends and record their outcomes,
        waiting up to ``grace`` seconds for :meth:`run` to end. False when it did not: its owner
        then cancels it, and the calls still in flight are of unknown outcome (sent again, and
        logged so, after a restart). The rows handed to the worker (express) and not yet sent
        are handed back to the claims, unmarked."""
        if self._idle.is_set():  # not running (a run not yet begun is cancelled before it does)
            return True
        self._stopping = True
        self.wake()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)
        return self._idle.is_set()

    def wake(self) -> None:
        self.ready.set()

    def _stored(self) -> None:
        """Rows were stored (here or elsewhere): what the last look found may be out of date."""
        self._due_known = False
        self.wake()

    async def drain(self) -> float:
        """Send until every chat's next row must wait; the seconds until one may go."""
        self.express.draining = True
        try:
            sent: list[Sent] = []
            for _ in range(WAVES):
                if self._stopping:
                    break
                wait, sent = await self._wave(sent)
                if wait > 0:
                    return wait
            # The last wave's outcomes (an error on the way leaves them unknown); on a stop,
            # with them the rows in hand handed back (:meth:`_hand_back`).
            if sent or self._stopping:
                await self._wave(sent, claim=False)
            return 0.0
        finally:
            self.express.draining = False

    async def _wave(self, sent: list[Sent], *, claim: bool = True) -> tuple[float, list[Sent]]:
        """Record the previous wave's outcomes, claim and send the due head of every chat (and
        the rows reserved for this worker, :mod:`bot.delivery.express`), in one transaction;
        (0.0, outcomes) when some were sent, else (seconds to wait, [])."""
        now = self._clock.now()
        express, deferred = await self._from_hand(now) if claim else ([], self._hand_back())
        settled = [self._settled(item, now) for item in sent] + deferred
        look = 0.0
        if not settled and not claim:
            return self._nap, []
        if not settled and express:  # the reserved rows go at once, with no look: the wave
            look = IDLE  # that records their outcomes claims what else is due
        elif not settled:  # a read first: no write lock while nothing is due
            look = await self._look(now)
            if look > 0:
                return look, []
        heads: list[OutboxMessage] = []
        wait = self._nap
        recorded = [item.row.id for item in settled]  # marks cleared by this wave's commit
        try:
            if settled or (claim and look <= 0):
                async with self._sessions.begin() as session:
                    await self._recorder.record(session, settled, now)
                    if claim and look <= 0:
                        rows, wait = await self._claim(session, now, recorded)
                        heads, wait = await self._heads(rows, now, recorded, wait)
                        if heads:
                            self.express.mark(heads)
                            await self._recorder.mark_sending(session, heads, now)
        except BaseException:  # nothing of it committed
            self.express.unmark([row.id for row in heads])  # not sent: not in flight
            self.express.unmark([item.row.id for item in sent])  # their outcomes: unknown
            self.express.give_back(express + [item.row for item in deferred])  # still marked
            raise
        self.express.unmark(recorded)  # only now: the bound holds for the rows in the database
        for item in settled:
            self._recorder.observe(item)
        heads = express + heads
        if not heads:
            if claim and look <= 0:  # nothing claimed: until the earliest chat's first row is
                due = self._known(settled, now)  # due, or a store wakes the worker
                if due is None:
                    due = await self._look(now, heads=True)
                if due > 0:
                    wait = min(wait, due)
                elif wait >= self._nap:  # one is due yet was not claimed, and no pause or send
                    wait = BLOCKED  # limit says how long: its chat is busy, look again soon
            return max(wait, 0.001), []
        try:
            return 0.0, list(await asyncio.gather(*(self._send(row) for row in heads)))
        except BaseException:  # cancelled mid-send: the marks stay, their outcomes unknown
            self.express.unmark([row.id for row in heads])
            raise

    async def _claim(
        self, session: AsyncSession, now: datetime, recorded: Collection[int]
    ) -> tuple[list[OutboxMessage], float]:
        """Claim what this wave may send: the due first row of as many chats as it has room
        for, none of a chat with a row in flight or of a paused chat or method; and the seconds
        until the earliest of those pauses ends (at most the longest nap)."""
        room = self.express.room(besides=recorded)
        if room <= 0:
            return [], self._nap
        paused = {scope: until for scope, until in self._paused.items() if until > now}
        chats = self.express.busy(besides=recorded)
        chats.update(scope.key for scope in paused if scope.kind == "chat")
        methods = [scope.key for scope in paused if scope.kind == "method"]
        rows = await claims.claim_outbox(
            session, self._name, self._replica, now, room, hold_for=self._claim_seconds,
            heads=True, skip_chats=chats, skip_methods=methods,
        )  # fmt: skip
        wait = min([self._nap, *((until - now).total_seconds() for until in paused.values())])
        return rows, wait

    def _known(self, settled: list[Sent], now: datetime) -> float | None:
        """The seconds until the earliest row is due, as the last look found it, when nothing
        since can have made it sooner (no store woke the worker, every outcome since is Done:
        no retry, no pause); else None (a look is needed). A lone message's reply thus costs
        no look after its outcome is recorded."""
        if not self._due_known or not all(isinstance(item.outcome, Done) for item in settled):
            return None
        if self._due is None:
            return self._nap
        if self._due <= now:  # due, yet not claimed: look what holds it
            return None
        return min((self._due - now).total_seconds(), self._nap)

    async def _look(self, now: datetime, *, heads: bool = False) -> float:
        """0.0 when a row besides those in hand is due now, else the seconds until one is (at
        most the longest nap); ``heads``: only each chat's first unsent row counts."""
        self._due_known = True  # unless a store wakes the worker while it looks
        async with reading(self._sessions) as session:
            due = await claims.outbox_due(
                session, self._name, self._replica, now, besides=self.express.marked(),
                heads=heads,
            )  # fmt: skip
        self._due = due
        if due is None:  # nothing at all: a store (here or elsewhere) wakes it
            return self._nap
        if due > now:  # sleep until then, unless a store wakes it first
            return min((due - now).total_seconds(), self._nap)
        return 0.0

    async def _from_hand(self, now: datetime) -> tuple[list[OutboxMessage], list[Sent]]:
        """The reserved rows handed over, checked as any claimed row is (:meth:`_heads`), and
        their claim too: those that may go now, and the others handed back to the claims
        (their marks cleared)."""
        ready: list[OutboxMessage] = []
        back: list[Sent] = []
        for row in self.express.take():
            if row.claimed_until is None or row.claimed_until <= now:
                self.express.unmark([row.id])  # the claim ran out: maybe another replica's now
                log.warning("reserved outbox row left to the claims outbox=%s", row.id)
                continue
            until = self._until(row, now)
            if until <= now and self._send_limit(row, now) >= self._claim_seconds * SEND_SHARE / 2:
                pace = await self.channel.pace(call_of(row))
                if pace <= 0:
                    ready.append(row)
                    continue
                until = now + timedelta(seconds=pace)
            back.append(Sent(row, None, Settlement("pending", row.attempts, not_before=until)))
        return ready, back

    def _hand_back(self) -> list[Sent]:
        """On a stop, the reserved rows in hand, not sent: their marks cleared with the wave
        that records the last outcomes, so that no restart reports them as of unknown fate."""
        if not self._stopping:
            return []
        return [
            Sent(row, None, Settlement("pending", row.attempts, not_before=row.not_before))
            for row in self.express.take()
        ]

    def _send_limit(self, row: OutboxMessage, now: datetime) -> float:
        """Seconds a send of ``row`` may take: its share of a claim, and less when the row's
        claim (one made with a turn's commit) runs out sooner, so that the outcome is recorded
        while this replica still holds the chat."""
        limit = self._claim_seconds * SEND_SHARE
        if row.claimed_until is None:
            return limit
        left = (row.claimed_until - now).total_seconds() - self._claim_seconds * (1 - SEND_SHARE)
        return min(limit, left)

    async def _heads(
        self,
        rows: Iterable[OutboxMessage],
        now: datetime,
        recorded: Collection[int] = (),
        wait: float | None = None,
    ) -> tuple[list[OutboxMessage], float]:
        """The first row of every chat that may be sent now, and the seconds until the
        earliest of the others may. A chat with a row marked (in flight, or in hand) waits,
        unless the caller's transaction records that row's outcome (``recorded``)."""
        wait = self._nap if wait is None else wait
        seen = self.express.busy(besides=recorded)
        room = self.express.room(besides=recorded)
        heads: list[OutboxMessage] = []
        for row in rows:
            if row.chat_id in seen or len(heads) >= room:
                continue  # marked rows are all in flight: a crash repeats no more than those
            seen.add(row.chat_id)
            until = self._until(row, now)
            if until > now:
                wait = min(wait, (until - now).total_seconds())
                continue
            pace = await self.channel.pace(call_of(row))
            if pace > 0:
                wait = min(wait, pace)
                continue
            heads.append(row)
        return heads, max(wait, 0.001)

    def _until(self, row: OutboxMessage, now: datetime) -> datetime:
        """When ``row`` may go: its own time, and the pauses of its chat, method and channel."""
        return max(
            [row.not_before, *(self._pause_of(s, now) for s in self._scopes(row))], default=now
        )

    def _may_go(self, row: OutboxMessage, now: datetime) -> bool:
        return self._until(row, now) <= now

    def _scopes(self, row: OutboxMessage) -> tuple[Scope, ...]:
        return (Scope.channel(), Scope.chat(row.chat_id), Scope.method(row.method))

    def _pause_of(self, scope: Scope, now: datetime) -> datetime:
        until = self._paused.get(scope)
        if until is not None and until <= now:
            del self._paused[scope]
            return now
        return until or now

    async def _send(self, row: OutboxMessage) -> Sent:
        limit = self._send_limit(row, self._clock.now())
        async with self._slots:
            try:
                async with asyncio.timeout(max(limit, 0.0)):
                    outcome = await self.channel.send(call_of(row))
            except TimeoutError:  # its claim runs out soon: another replica would send it again
                log.warning(
                    "outbox send outlived its share of the claim, outcome unknown outbox=%s "
                    "channel=%s", row.id, self._name,
                )  # fmt: skip
                outcome = Retry("timed out", unknown=True)
            except Exception as exc:  # a bug in the channel, unless an outside call's failure
                log.exception("outbox send crashed outbox=%s channel=%s", row.id, self._name)
                reason, passing = f"crashed: {type(exc).__name__}", is_transient(exc)
                outcome = crashed(reason, passing=passing, attempts=row.attempts)
        return Sent(row, outcome)

    def _settled(self, item: Sent, now: datetime) -> Sent:
        """The policy's verdict on one outcome; a pause it names applies at once."""
        row, outcome = item.row, item.outcome
        assert outcome is not None
        result = settlement_for(
            outcome, attempts=row.attempts, created_at=row.created_at, now=now,
            policy=self._policy,
        )  # fmt: skip
        if result.pause is not None:
            scope, until = result.pause
            self._paused[scope] = max(until, self._paused.get(scope, until))
        return Sent(row, outcome, result)
