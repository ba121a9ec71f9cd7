"""The one outbox worker (bot.delivery.worker) on a real SQLite database, with an in-memory
channel standing in for Telegram or Bitrix24: order per chat, sends in flight across chats,
pauses per scope, readiness and what a crash repeats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from conftest import FakeClock, pending_call
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import Call, Done, NotReady, Outcome, Policy, Retry, Scope
from bot.delivery.worker import OutboxWorker
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.models import DeliveryStatus, OutboxMessage

GROUP = "-1001"


@dataclass
class MemoryChannel:
    """Records every call; ``answer`` decides each one's outcome."""

    name: str = "memory"
    latency: float = 0.0
    answer: Callable[[Call], Outcome] = lambda _call: Done()
    made: list[Call] = field(default_factory=list)
    in_flight: int = 0
    most_in_flight: int = 0

    async def pace(self, call: Call) -> float:
        return 0.0

    async def send(self, call: Call) -> Outcome:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            self.made.append(call)
            return self.answer(call)
        finally:
            self.in_flight -= 1

    async def unreachable(self, session: AsyncSession, ticket_id: int) -> None:
        return None

    def sent_to(self, chat: str) -> list[object]:
        return [c.params["n"] for c in self.made if c.chat_id == chat]


@pytest.fixture
async def sessions(sqlite_db_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(sqlite_db_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def store(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock, chat: str, *numbers: int
) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        session.add_all(pending_call("memory", chat, "send", {"n": n}, now) for n in numbers)


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxMessage.status).order_by(OutboxMessage.id)))


async def test_chats_are_sent_at_once_and_each_keeps_its_order(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    channel = MemoryChannel(latency=0.05)
    chats = [str(n) for n in range(20)]
    for chat in chats:
        await store(sessions, clock, chat, 1, 2, 3)
    worker = OutboxWorker(channel, sessions, clock, in_flight=8)
    assert await worker.drain() > 0
    assert all(channel.sent_to(chat) == [1, 2, 3] for chat in chats)
    assert channel.most_in_flight == 8
    assert set(await statuses(sessions)) == {DeliveryStatus.DONE}


async def test_a_flood_reply_in_the_operators_group_does_not_delay_answers_to_people(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    def answer(call: Call) -> Outcome:
        if call.chat_id == GROUP:
            return Retry("429", after=300.0, scope=Scope.chat(GROUP))
        return Done()

    channel = MemoryChannel(answer=answer)
    await store(sessions, clock, GROUP, 1, 2)
    await store(sessions, clock, "7", 1, 2)
    await store(sessions, clock, "8", 1)
    worker = OutboxWorker(channel, sessions, clock)
    await worker.drain()
    assert (channel.sent_to("7"), channel.sent_to("8"), channel.sent_to(GROUP)) == (
        [1, 2],
        [1],
        [1],
    )

    await store(sessions, clock, "9", 1)  # a person's answer stored during the group's pause
    await worker.drain()
    assert channel.sent_to("9") == [1]
    assert channel.sent_to(GROUP) == [1]  # still paused
    clock.advance(seconds=301)
    channel.answer = lambda _call: Done()
    await worker.drain()
    assert channel.sent_to(GROUP) == [1, 1, 2]
    assert set(await statuses(sessions)) == {DeliveryStatus.DONE}


async def test_a_refused_token_keeps_every_row_and_says_why_until_a_send_succeeds(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    channel = MemoryChannel(answer=lambda _call: NotReady("token refused"))
    await store(sessions, clock, "7", 1, 2)
    await store(sessions, clock, "8", 1)
    worker = OutboxWorker(channel, sessions, clock, policy=Policy(recheck_after=30.0))
    await worker.drain()
    await worker.drain()  # paused: nothing more is tried
    assert len(channel.made) == 2
    assert worker.problem == "token refused"
    assert set(await statuses(sessions)) == {DeliveryStatus.PENDING}

    channel.answer = lambda _call: Done()
    clock.advance(seconds=31)
    await worker.drain()
    assert worker.problem is None
    assert (channel.sent_to("7"), channel.sent_to("8")) == ([1, 1, 2], [1, 1])
    assert set(await statuses(sessions)) == {DeliveryStatus.DONE}


async def test_a_crash_mid_send_repeats_only_the_call_in_flight_and_logs_it(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await store(sessions, clock, "7", 1, 2)
    async with sessions.begin() as session:  # what a process killed mid-call leaves behind
        first = await session.scalar(select(OutboxMessage.id).order_by(OutboxMessage.id))
        await session.execute(
            update(OutboxMessage).where(OutboxMessage.id == first).values(sending_since=clock.now())
        )
    channel = MemoryChannel()
    caplog.set_level(logging.WARNING)
    await OutboxWorker(channel, sessions, clock).drain()
    assert channel.sent_to("7") == [1, 2]
    repeated = [r.getMessage() for r in caplog.records if "unknown outcome" in r.getMessage()]
    assert len(repeated) == 1 and f"outbox={first}" in repeated[0]


async def test_a_send_that_outlives_its_share_of_the_claim_is_cut_and_retried(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A call that hangs is not left running past the chat's claim (another replica would claim
    the chat and send it again beside it): it is cut, recorded as an unknown outcome and tried
    again; the other chats' calls of the same wave are recorded as sent."""
    hang = asyncio.Event()

    class Hanging(MemoryChannel):
        async def send(self, call: Call) -> Outcome:
            if call.chat_id == "slow" and not hang.is_set():
                await asyncio.Event().wait()  # never answers
            return await super().send(call)

    channel = Hanging()
    await store(sessions, clock, "slow", 1)
    await store(sessions, clock, "fast", 2)
    worker = OutboxWorker(channel, sessions, clock, claim_seconds=0.5)
    await asyncio.wait_for(worker.drain(), timeout=10)
    async with sessions() as session:
        rows = {row.chat_id: row for row in await session.scalars(select(OutboxMessage))}
    assert rows["fast"].status == DeliveryStatus.DONE
    assert (rows["slow"].status, rows["slow"].attempts) == (DeliveryStatus.PENDING, 1)
    hang.set()
    clock.advance(seconds=120)
    await asyncio.wait_for(worker.drain(), timeout=10)
    assert channel.sent_to("slow") == [1]
    assert set(await statuses(sessions)) == {DeliveryStatus.DONE}
