"""The inbox's failure policy (bot/delivery/giveup.py ``Failures.failed``): a passing failure of the
database costs no attempt and is retried with a capped backoff until the delivery window
closes; a handler's bug is given up after MAX_ATTEMPTS; a failure that cannot be recorded leaves
the row pending and claimed. The events go through an in-memory channel (no platform)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import FakeClock
from sqlalchemy import exc as sa
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Draft
from bot.delivery import pipeline
from bot.delivery.inbox import Arrival, InboxWorker
from bot.delivery.policy import MAX_ATTEMPTS
from bot.engine.events import Say
from bot.replies import Reply
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage

CHANNEL = "memory"
SAY = Say(channel=CHANNEL, conversation_id="c1", reply=Reply(("hello",)))


def render(event: Any) -> list[Draft]:
    return [Draft(event.conversation_id, "say", {"text": line}) for line in event.reply.blocks]


def locked() -> sa.OperationalError:
    """What SQLAlchemy raises when SQLite's write lock is not had in time."""
    return sa.OperationalError("UPDATE inbox", {}, sqlite3.OperationalError("database is locked"))


def answering(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    fail: Callable[[AsyncSession, int], Awaitable[None]],
) -> tuple[Callable[[InboxUpdate], Awaitable[None]], list[int]]:
    """A handler whose turn writes the reply, then calls ``fail`` (the session, the try's
    number) inside the turn's transaction; and the list of its tries."""
    tries: list[int] = []

    async def handle(row: InboxUpdate) -> None:
        tries.append(row.id)
        async with sessions.begin() as session:
            await pipeline.write(session, CHANNEL, [SAY], pipeline.each(render), clock.now())
            await fail(session, len(tries))

    return handle, tries


async def drained(worker: InboxWorker, clock: FakeClock, passes: int) -> list[float]:
    """Run ``passes`` passes, moving the clock by each pass's answer (its next wake-up)."""
    waits = []
    for _ in range(passes):
        wait = await worker.drain()
        waits.append(wait)
        clock.advance(seconds=wait)
    return waits


async def rows(sessions: async_sessionmaker[AsyncSession]) -> tuple[InboxUpdate, list[str]]:
    async with sessions() as session:
        row = (await session.scalars(select(InboxUpdate))).one()
        sent = (await session.scalars(select(OutboxMessage.method))).all()
    return row, list(sent)


async def test_a_passing_database_failure_costs_no_attempt_and_the_event_is_answered_once(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Five "database is locked" in a row (more than MAX_ATTEMPTS), each after the turn wrote
    its reply: retried after 1, 2, 4, 8, 16 s, then handled once, one reply, no attempt
    counted, one warning a retry with the key and the error's class."""

    async def fail(session: AsyncSession, n: int) -> None:
        if n <= 5:
            raise locked()

    handle, tries = answering(sessions, clock, fail)
    worker = InboxWorker(CHANNEL, sessions, clock, handle)
    await worker.keep([Arrival("u1", {}, "c1")])
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        waits = await drained(worker, clock, 6)

    assert len(tries) == 6
    assert waits[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    row, sent = await rows(sessions)
    assert (row.status, row.attempts, sent) == (DeliveryStatus.DONE, 0, ["say"])
    retries = [r.getMessage() for r in caplog.records if "passing failure" in r.getMessage()]
    assert len(retries) == 5
    assert all("key=u1" in line and "error=OperationalError" in line for line in retries)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def _a_bug() -> None:
    raise KeyError("a bug")


async def _a_wait_of_its_own_that_runs_out() -> None:
    await asyncio.wait_for(asyncio.Event().wait(), 0)


@pytest.mark.parametrize(
    ("fails", "error"),
    [(_a_bug, "KeyError"), (_a_wait_of_its_own_that_runs_out, "TimeoutError")],
    ids=["a-bug", "a-wait-of-its-own-times-out"],
)
async def test_a_handler_bug_is_given_up_after_max_attempts(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    fails: Callable[[], Awaitable[None]],
    error: str,
) -> None:
    """Its error recorded. A wait of the handler's own that runs out every time is such a bug,
    not a passing failure of the database: before, a bare TimeoutError was passing, retried for
    DELIVERY_GIVE_UP_AFTER (a day) while the chat's later events waited behind it."""
    tries = 0

    async def handle(row: InboxUpdate) -> None:
        nonlocal tries
        tries += 1
        await fails()

    worker = InboxWorker(CHANNEL, sessions, clock, handle)
    await worker.keep([Arrival("u1", {}, "c1")])
    await drained(worker, clock, MAX_ATTEMPTS + 2)

    row, _ = await rows(sessions)
    assert tries == MAX_ATTEMPTS
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, MAX_ATTEMPTS)
    assert row.error is not None and row.error.startswith(error)


async def test_passing_failures_are_given_up_once_the_delivery_window_closes(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The window runs from the event's arrival (here 100 s; DELIVERY_GIVE_UP_AFTER, a day by
    default): the retry that would pass it is not made, the row fails with a log line."""
    tries = 0

    async def handle(row: InboxUpdate) -> None:
        nonlocal tries
        tries += 1
        raise locked()

    worker = InboxWorker(CHANNEL, sessions, clock, handle, give_up_after=100.0)
    await worker.keep([Arrival("u1", {}, "c1")])
    arrived = clock.now()
    with caplog.at_level(logging.WARNING, logger="bot.delivery"):
        await drained(worker, clock, 12)

    row, _ = await rows(sessions)
    assert tries == 7  # at 0, 1, 3, 7, 15, 31, 63 s; the next (127 s) would be past 100 s
    assert (row.status, row.attempts) == (DeliveryStatus.FAILED, 0)
    assert row.error is not None and row.error.startswith("given up after 100s: OperationalError")
    assert row.processed_at is not None and (row.processed_at - arrived).total_seconds() == 63
    given_up = [r.getMessage() for r in caplog.records if "given up" in r.getMessage()]
    assert len(given_up) == 1 and "key=u1" in given_up[0]


class Outage:
    """The worker's sessions, whose database can be switched off (the handler's are not)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.down = False

    def _check(self) -> None:
        if self.down:
            raise sa.OperationalError("BEGIN", {}, ConnectionRefusedError(111, "refused"))

    def __call__(self, **kw: Any) -> AsyncSession:
        self._check()
        return self.sessions(**kw)

    def begin(self) -> Any:
        self._check()
        return self.sessions.begin()


async def test_a_failure_that_cannot_be_recorded_leaves_the_row_pending_and_claimed(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A handler bug while the database goes away: nothing is recorded, the worker keeps going,
    the row stays pending and claimed (no attempt), and another replica runs it once the claim
    lapses — one reply in all."""
    outage = Outage(sessions)
    tries: list[str] = []

    def handle_as(name: str) -> Any:
        async def handle(row: InboxUpdate) -> None:
            tries.append(name)
            if name == "a":
                outage.down = True
                raise KeyError("a bug, then the database goes")
            async with sessions.begin() as session:
                await pipeline.write(session, CHANNEL, [SAY], pipeline.each(render), clock.now())

        return handle

    first = InboxWorker(
        CHANNEL,
        outage,
        clock,
        handle_as("a"),
        replica="a",
        claim_seconds=30,
    )
    second = InboxWorker(CHANNEL, sessions, clock, handle_as("b"), replica="b", claim_seconds=30)
    await first.keep([Arrival("u1", {}, "c1")])
    assert await first.drain() == 1.0  # no exception out of the worker: a retry in 1 s
    row, sent = await rows(sessions)
    assert (row.status, row.attempts, row.claimed_by, sent) == (DeliveryStatus.PENDING, 0, "a", [])
    await second.drain()
    assert tries == ["a"]  # the chat is still the first replica's
    clock.advance(seconds=31)
    await second.drain()

    row, sent = await rows(sessions)
    assert tries == ["a", "b"]
    assert (row.status, row.attempts, sent) == (DeliveryStatus.DONE, 0, ["say"])


async def test_a_postgresql_connection_killed_mid_turn_is_retried_not_counted(
    pg_db_url: str, clock: FakeClock
) -> None:
    """The real thing on PostgreSQL: the turn's own server process is terminated (as by a
    restart) four times, past MAX_ATTEMPTS; the pool reconnects and the event is answered once."""
    engine = create_engine(pg_db_url)
    sessions = create_sessionmaker(engine)
    errors: list[BaseException] = []

    async def fail(session: AsyncSession, n: int) -> None:
        if n <= 4:
            try:
                await session.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
            except Exception as exc:
                errors.append(exc)
                raise

    handle, tries = answering(sessions, clock, fail)
    try:
        worker = InboxWorker(CHANNEL, sessions, clock, handle)
        await worker.keep([Arrival("u1", {}, "c1")])
        await drained(worker, clock, 5)
        row, sent = await rows(sessions)
    finally:
        await engine.dispose()
    assert len(errors) == 4
    assert (len(tries), row.status, row.attempts, sent) == (5, DeliveryStatus.DONE, 0, ["say"])
