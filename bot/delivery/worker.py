"""The one outbox worker: sends every channel's stored calls through :class:`Channel`.

Each wave is one commit: it records the previous wave's outcomes (through
:func:`bot.delivery.policy.settlement_for`), claims the first due row of as many chats as the
wave has room for (``in_flight`` less the rows in hand; :func:`bot.storage.delivery.claim_outbox`,
no chat with a row in flight, no paused chat or method) and marks them as being sent; then it
sends them concurrently (one per chat, so each chat keeps its order), with the rows a turn
reserved for it (:mod:`bot.delivery.express`: already claimed and marked, checked here as the
others are). A pass repeats waves until every chat's next row has to wait; the look for work
before a pass is a read (no commit, no write lock), and a wave with nothing to record and only
reserved rows to send neither looks nor commits (the wave that records their outcomes claims
what else is due): a lone message's reply costs one commit here, the one that records its
outcome.

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
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, Protocol

from sqlalchemy import BindParameter, Table, Update, bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery.express import Express
from bot.delivery.outcome import ANSWER, Call, Done, NotReady, Outcome, Retry, Scope, Unreachable
from bot.delivery.policy import Policy, Settlement, crashed, settlement_for
from bot.metrics import Metrics
from bot.storage import delivery, wakeup
from bot.storage.db import reading
from bot.storage.faults import is_transient
from bot.storage.models import DeliveryStatus, OutboxMessage

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


class Channel(Protocol):
    """What the worker needs of a channel: its name, pacing, the send itself."""

    @property
    def name(self) -> str: ...

    async def pace(self, call: Call) -> float:
        """Seconds until ``call`` may go (its chat's and the bot's send limits); 0.0 takes a
        slot for it now."""
        ...

    async def send(self, call: Call) -> Outcome:
        """Make the call and map the platform's answer; raises only on a bug."""
        ...

    async def unreachable(self, session: AsyncSession, ticket_id: int) -> None:
        """The person of ``ticket_id`` was just found unreachable: store what tells the
        operators in ``session``, the transaction that marks it (so neither is lost alone)."""
        ...

    async def undelivered(self, session: AsyncSession, call: Call, reason: str) -> None:
        """``call`` answered a person and was given up for good (not ``Unreachable``): store
        what tells the operators in ``session``, the transaction that records the give-up
        (once: only the transaction that moved the row from pending calls this)."""
        ...


@dataclass(frozen=True, slots=True)
class _Sent:
    row: OutboxMessage
    outcome: Outcome | None  # None: a reserved row not sent, handed back to the claims
    result: Settlement | None = None


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
        self._policy = policy or Policy()
        self.ready = ready or asyncio.Event()
        self._in_flight = max(in_flight, 1)
        self._slots = asyncio.Semaphore(self._in_flight)
        self._metrics = metrics or Metrics.create()
        self._replica = replica or delivery.default_replica()
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
        self.problem: str | None = None  # why the channel is not ready (its token refused)
        self._stopping = False  # stop() asked: no new wave; the wave in hand records its outcomes
        self._idle = asyncio.Event()  # set while no run() is under way
        self._idle.set()

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
            sent: list[_Sent] = []
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

    async def _wave(self, sent: list[_Sent], *, claim: bool = True) -> tuple[float, list[_Sent]]:
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
                    await self._record(session, settled, now)
                    if claim and look <= 0:
                        rows, wait = await self._claim(session, now, recorded)
                        heads, wait = await self._heads(rows, now, recorded, wait)
                        if heads:
                            self.express.mark(heads)
                            await self._mark_sending(session, heads, now)
        except BaseException:  # nothing of it committed
            self.express.unmark([row.id for row in heads])  # not sent: not in flight
            self.express.unmark([item.row.id for item in sent])  # their outcomes: unknown
            self.express.give_back(express + [item.row for item in deferred])  # still marked
            raise
        self.express.unmark(recorded)  # only now: the bound holds for the rows in the database
        for item in settled:
            self._observe(item)
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
        rows = await delivery.claim_outbox(
            session, self._name, self._replica, now, room, hold_for=self._claim_seconds,
            heads=True, skip_chats=chats, skip_methods=methods,
        )  # fmt: skip
        wait = min([self._nap, *((until - now).total_seconds() for until in paused.values())])
        return rows, wait

    def _known(self, settled: list[_Sent], now: datetime) -> float | None:
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
            due = await delivery.outbox_due(
                session, self._name, self._replica, now, besides=self.express.marked(),
                heads=heads,
            )  # fmt: skip
        self._due = due
        if due is None:  # nothing at all: a store (here or elsewhere) wakes it
            return self._nap
        if due > now:  # sleep until then, unless a store wakes it first
            return min((due - now).total_seconds(), self._nap)
        return 0.0

    async def _from_hand(self, now: datetime) -> tuple[list[OutboxMessage], list[_Sent]]:
        """The reserved rows handed over, checked as any claimed row is (:meth:`_heads`), and
        their claim too: those that may go now, and the others handed back to the claims
        (their marks cleared)."""
        ready: list[OutboxMessage] = []
        back: list[_Sent] = []
        for row in self.express.take():
            if row.claimed_until is None or row.claimed_until <= now:
                self.express.unmark([row.id])  # the claim ran out: maybe another replica's now
                log.warning("reserved outbox row left to the claims outbox=%s", row.id)
                continue
            until = self._until(row, now)
            if until <= now and self._send_limit(row, now) >= self._claim_seconds * SEND_SHARE / 2:
                pace = await self.channel.pace(_call(row))
                if pace <= 0:
                    ready.append(row)
                    continue
                until = now + timedelta(seconds=pace)
            back.append(_Sent(row, None, Settlement("pending", row.attempts, not_before=until)))
        return ready, back

    def _hand_back(self) -> list[_Sent]:
        """On a stop, the reserved rows in hand, not sent: their marks cleared with the wave
        that records the last outcomes, so that no restart reports them as of unknown fate."""
        if not self._stopping:
            return []
        return [
            _Sent(row, None, Settlement("pending", row.attempts, not_before=row.not_before))
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
            pace = await self.channel.pace(_call(row))
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

    async def _mark_sending(
        self, session: AsyncSession, heads: list[OutboxMessage], now: datetime
    ) -> None:
        """Note the calls about to be made; a mark left from before means a fate unknown."""
        for row in heads:
            if row.sending_since is not None:
                self._metrics.unknown_outcomes.inc(channel=self._name)
                log.warning(
                    "outbox row sent again after an unknown outcome channel=%s outbox=%s "
                    "chat=%s since=%s",
                    self._name, row.id, row.chat_id, row.sending_since.isoformat(),
                )  # fmt: skip
        await session.execute(_marking(), {"o_ids": [row.id for row in heads], "o_now": now})

    async def _send(self, row: OutboxMessage) -> _Sent:
        limit = self._send_limit(row, self._clock.now())
        async with self._slots:
            try:
                async with asyncio.timeout(max(limit, 0.0)):
                    outcome = await self.channel.send(_call(row))
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
        return _Sent(row, outcome)

    def _settled(self, item: _Sent, now: datetime) -> _Sent:
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
        return _Sent(row, outcome, result)

    async def _record(self, session: AsyncSession, settled: list[_Sent], now: datetime) -> None:
        """Store the outcomes; a person just found unreachable is marked on their ticket and
        the operators' notice stored with the mark."""
        shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for item in settled:
            if _answer_given_up(item):
                await self._undelivered(session, item, now)
            elif item.result is not None:
                values = _values(item.result, now, item.row)
                bound = {f"v_{name}": value for name, value in values.items()}
                shapes.setdefault(tuple(values), []).append({"o_id": item.row.id, **bound})
        for columns, rows in shapes.items():  # by primary key: one executemany per shape
            await session.execute(_recording(columns), rows)
        for item in settled:
            if isinstance(item.outcome, Unreachable):
                ticket = await self._unreachable(session, item.row, item.outcome)
                if ticket is not None:
                    await self.channel.unreachable(session, ticket)

    async def _undelivered(self, session: AsyncSession, item: _Sent, now: datetime) -> None:
        """Give up a person's answer on the condition that its row is still pending (a second
        replica's or a restarted process's give-up of it changes nothing), and only then hand
        it to the operators, in this transaction: one hand-off per row."""
        assert item.result is not None
        values = _values(item.result, now, item.row)
        statement = _recording(tuple(values)).where(_table().c.status == DeliveryStatus.PENDING)
        bound = {f"v_{name}": value for name, value in values.items()}
        done = await session.execute(statement, {"o_id": item.row.id, **bound})
        if getattr(done, "rowcount", 0) != 1:
            log.warning("outbox row given up elsewhere meanwhile outbox=%s", item.row.id)
            return
        reason = item.result.error or ""
        await self.channel.undelivered(session, _call(item.row), reason)
        log.warning(
            "answer given up, handed to operators outbox=%s chat=%s ticket=%s: %s",
            item.row.id, item.row.chat_id, item.row.ticket_id, reason,
        )  # fmt: skip

    async def _unreachable(
        self, session: AsyncSession, row: OutboxMessage, outcome: Unreachable
    ) -> int | None:
        error = f"unreachable: {outcome.reason}"[:1000]
        given_up = await delivery.fail_pending_for_chat(session, self._name, row.chat_id, error)
        ticket = await delivery.set_person_blocked(
            session, self._name, outcome.person, self._clock.now()
        )
        log.warning(
            "person unreachable chat=%s rows_given_up=%d: %s",
            row.chat_id, given_up + 1, outcome.reason,
        )  # fmt: skip
        return None if ticket is None else ticket.id

    def _observe(self, item: _Sent) -> None:
        """Readiness, metrics and the log line of one outcome (after it is stored)."""
        row, outcome, result = item.row, item.outcome, item.result
        assert result is not None
        if outcome is None:
            return
        if isinstance(outcome, Done):
            self.problem = None
            self._metrics.messages_out.inc(channel=self._name)
            return
        if isinstance(outcome, NotReady):
            if self.problem is None:
                log.critical("channel not ready channel=%s: %s", self._name, outcome.reason)
            self.problem = outcome.reason
        elif isinstance(outcome, Retry) and result.status == DeliveryStatus.PENDING:
            self._metrics.send_retries.inc(channel=self._name)
            log.warning(
                "outbox retry outbox=%s chat=%s attempt=%d scope=%s: %s",
                row.id, row.chat_id, result.attempts, outcome.scope.name, outcome.reason,
            )  # fmt: skip
        elif result.status == DeliveryStatus.FAILED and not isinstance(outcome, Unreachable):
            log.error("outbox row given up outbox=%s method=%s: %s", row.id, row.method,
                      result.error)  # fmt: skip


@cache  # one per shape of outcome (sent, retried, given up ...), built once
def _recording(columns: tuple[str, ...]) -> Update:
    """The UPDATE of one row's outcome: ``columns`` (bound as ``v_<name>``) where ``o_id``."""
    table = _table()
    values = {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}
    return update(table).where(table.c.id == bindparam("o_id")).values(values)


@cache
def _marking() -> Update:
    """Rows ``o_ids`` marked as being sent since ``o_now``."""
    table = _table()
    since = bindparam("o_now", type_=table.c.sending_since.type)
    ids: BindParameter[int] = bindparam("o_ids", expanding=True)
    return update(table).where(table.c.id.in_(ids)).values(sending_since=since)


def _table() -> Table:
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    return table


def _values(result: Settlement, now: datetime, row: OutboxMessage) -> dict[str, Any]:
    values: dict[str, Any] = {"status": result.status, "attempts": result.attempts}
    if not result.keep_sending_mark:
        values["sending_since"] = None
    if result.not_before is not None:
        values["not_before"] = result.not_before
    if result.error is not None:
        values["error"] = result.error[:1000]
    if result.status == DeliveryStatus.DONE:
        values["sent_at"] = now
        values["sent_id"] = None if result.sent_id is None else result.sent_id[:64]
    return values


def _answer_given_up(item: _Sent) -> bool:
    """A row that answers a person, given up for good by a failure of ours or the platform's
    refusal (``Unreachable`` has its own hand-off: the person blocked the bot)."""
    result = item.result
    return (
        result is not None
        and result.status == DeliveryStatus.FAILED
        and item.row.kind == ANSWER
        and not isinstance(item.outcome, Unreachable)
    )


def _call(row: OutboxMessage) -> Call:
    return Call(
        id=row.id, chat_id=row.chat_id, method=row.method, params=dict(row.params),
        ticket_id=row.ticket_id, to_topic=row.to_topic, kind=row.kind, attempts=row.attempts,
        created_at=row.created_at,
    )  # fmt: skip
