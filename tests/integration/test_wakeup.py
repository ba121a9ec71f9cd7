"""Waking the workers (bot.storage.wakeup) instead of a tick: a row another process stores
wakes this one's worker at once (PostgreSQL: a notification; SQLite: the doorbell file), a
wake-up lost is covered by the longest nap, a dropped listening connection is opened again with
one look, and a row due later is sent when it is due with no looks meanwhile. Every worker here
naps an hour unless woken (a server: DELIVERY_IDLE_SECONDS, 60 s), far past any deadline here:
a row sent within one was woken for, however long a loaded machine took to send it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from conftest import pending_call
from counting import counting
from deadline import until
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from test_delivery_worker import MemoryChannel

from bot.clock import SystemClock
from bot.delivery import Call, Done, Outcome, Retry
from bot.delivery.worker import OutboxWorker
from bot.storage import delivery, wakeup
from bot.storage.db import create_engine, create_sessionmaker

NAP = 3600.0  # the workers' longest nap: nothing here may wait for it
SOON = 60.0  # seconds to wait for a send woken for (no bound in seconds of "at once": see NAP)
CLOCK = SystemClock()


@pytest.fixture
async def other(db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of a second engine on the same database: another process, as far as waking
    goes (its stores wake only through the database)."""
    engine = create_engine(db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def store(sessions: async_sessionmaker[AsyncSession], chat: str, *numbers: int) -> None:
    """Outbox rows as a channel stores them (through the storage's add_outbox: it rings)."""
    now = CLOCK.now()
    async with sessions.begin() as session:
        calls = [pending_call("memory", chat, "send", {"n": n}, now) for n in numbers]
        await delivery.add_outbox(session, calls)


@asynccontextmanager
async def serving(
    worker: OutboxWorker, db: AsyncEngine, *, check: float = NAP
) -> AsyncIterator[None]:
    """The worker and its process's follower of wake-ups, running for the block."""
    follow = asyncio.create_task(wakeup.follow(db, tick=0.1, check=check))
    run = asyncio.create_task(worker.run())
    try:
        await until(lambda: wakeup.following(db), "listening to the other processes")
        yield
    finally:
        await worker.stop(5.0)
        for task in (run, follow):
            task.cancel()
        await asyncio.gather(run, follow, return_exceptions=True)


async def sent(channel: MemoryChannel, chat: str, numbers: list[int], within: float = SOON) -> None:
    """Until ``chat`` was sent ``numbers`` (at most ``within`` seconds)."""
    await until(lambda: channel.sent_to(chat) == numbers, f"{numbers} sent to {chat}", within)


async def test_a_row_another_process_stores_is_sent_at_once(
    db: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    other: async_sessionmaker[AsyncSession],
) -> None:
    channel = MemoryChannel()
    worker = OutboxWorker(channel, sessions, CLOCK, idle=NAP)
    async with serving(worker, db):
        for chat in ("7", "8"):  # twice: a wake-up is not spent by the first
            await store(other, chat, 1, 2)
            await sent(channel, chat, [1, 2])


async def test_with_wake_ups_lost_the_longest_nap_still_delivers(
    db: AsyncEngine,
    sessions: async_sessionmaker[AsyncSession],
    other: async_sessionmaker[AsyncSession],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def lost(_session: AsyncSession, _topic: str) -> None:
        return None

    monkeypatch.setattr(wakeup, "ring", lost)  # no notification, no doorbell, no local wake
    channel = MemoryChannel()
    worker = OutboxWorker(channel, sessions, CLOCK, idle=1.5)
    async with serving(worker, db):
        await store(other, "7", 1)
        await sent(channel, "7", [1])  # nothing rang: the 1.5 s nap found it


async def test_a_dropped_listening_connection_is_opened_again_with_one_look(
    pg_db_url: str,
) -> None:
    db, elsewhere = create_engine(pg_db_url), create_engine(pg_db_url)
    other = create_sessionmaker(elsewhere)
    channel = MemoryChannel()
    worker = OutboxWorker(channel, create_sessionmaker(db), CLOCK, idle=NAP)
    try:
        async with serving(worker, db):
            async with other.begin() as session:  # the listener's backend killed
                killed = await session.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                    )
                )
            assert killed == 1
            await until(lambda: not wakeup.following(db), "the drop seen")
            await store(other, "7", 1)  # rung while nobody listens: the notification is lost
            # Listening again after a second, every worker looks once: the row is found.
            await sent(channel, "7", [1])
            await store(other, "8", 1)  # and the notifications reach it again
            await sent(channel, "8", [1])
    finally:
        await db.dispose()
        await elsewhere.dispose()


async def test_a_following_replica_tells_the_others_after_its_commits_a_burst_at_once(
    pg_db_url: str,
) -> None:
    """A server that follows (its listening connection up) tells the others from that
    connection once a transaction has committed, not with a ``pg_notify`` in it, and the
    commits of a burst share notifications (one every SPACING at most): the other replica
    still sends every row, the last one too, at once (its worker naps 60 s)."""
    db, storing = create_engine(pg_db_url), create_engine(pg_db_url)
    heard: list[str] = []
    wakeup._book(db).listeners.setdefault("outbox:memory", set()).add(lambda: heard.append("!"))
    channel = MemoryChannel()
    worker = OutboxWorker(channel, create_sessionmaker(db), CLOCK, idle=NAP)
    its_follow = asyncio.create_task(wakeup.follow(storing, check=NAP))
    try:
        await until(lambda: wakeup.following(storing), "the storing one listening")
        async with serving(worker, db):
            heard.clear()  # (the wake on listening)
            began = time.monotonic()
            with counting(storing.sync_engine) as counted:
                for n in range(1, 41):  # 40 commits one after the other, a row each
                    await store(create_sessionmaker(storing), "7", n)
            took = time.monotonic() - began
            await sent(channel, "7", list(range(1, 41)))
        assert counted.starting("SELECT pg_notify") == []
        assert len(counted.commits) == 40
        assert 1 <= len(heard) <= took / wakeup.SPACING + 2  # one a SPACING, not one a commit
    finally:
        its_follow.cancel()
        await asyncio.gather(its_follow, return_exceptions=True)
        await db.dispose()
        await storing.dispose()


async def test_a_retry_due_in_seconds_is_sent_then_with_no_looks_meanwhile(
    db: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    calls: list[float] = []

    def answer(_call: Call) -> Outcome:
        calls.append(time.monotonic())
        return Retry("busy", after=2.0) if len(calls) == 1 else Done()

    channel = MemoryChannel(answer=answer)
    worker = OutboxWorker(channel, sessions, CLOCK, idle=NAP)
    with counting(db.sync_engine) as counted:
        async with serving(worker, db):
            await store(sessions, "7", 1, 2)  # the second waits for the first, due now itself
            await until(lambda: len(calls) == 3, "the retry made, then the next", 6.0)
    assert channel.sent_to("7") == [1, 1, 2]
    first, second, _ = calls
    assert 1.9 <= second - first <= 2.6  # when it was due, not on a tick
    # After the first outcome is recorded (and one look says when the chat's first row is due),
    # nothing touches the database until the retry is due, 2 s after the first call (then the
    # worker looks and claims: on a loaded machine that can begin well before the send itself).
    meanwhile = [
        (round(t - first, 3), what)
        for t, what in zip(counted.times, counted.statements, strict=True)
        if first + 0.5 < t < min(second, first + 2.0) - 0.05
    ]
    assert meanwhile == []
