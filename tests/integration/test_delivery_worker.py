"""The one outbox worker (bot.delivery.worker) on a real SQLite database, with an in-memory
channel standing in for Telegram or Bitrix24: order per chat, sends in flight across chats,
pauses per scope, readiness and what a crash repeats."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest
from conftest import FakeClock, failing_once, pending_call
from counting import counting
from deadline import until
from lockwait import lock_awaited
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery import Call, Done, Failed, NotReady, Outcome, Policy, Retry, Scope, express
from bot.delivery.outcome import ANSWER
from bot.delivery.policy import MAX_ATTEMPTS
from bot.delivery.worker import OutboxWorker
from bot.storage import claims, delivery
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
    handed: list[tuple[int, str]] = field(default_factory=list)  # Channel.undelivered's calls

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

    async def undelivered(self, session: AsyncSession, call: Call, reason: str) -> None:
        self.handed.append((call.id, reason))

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


async def test_an_answer_given_up_is_handed_over_once_and_only_an_answer(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    refused = MemoryChannel(answer=lambda _call: Failed("400: refused"))
    now = clock.now()
    async with sessions.begin() as session:
        answer = pending_call("memory", "7", "send", {"n": 1}, now)
        answer.kind = ANSWER
        notice = pending_call("memory", GROUP, "send", {"n": 2}, now)  # the hand-off's own kind
        session.add_all([answer, notice])
    await OutboxWorker(refused, sessions, clock).drain()
    assert refused.handed == [(answer.id, "400: refused")]  # the notice's give-up: nothing
    assert await statuses(sessions) == [DeliveryStatus.FAILED, DeliveryStatus.FAILED]


async def test_an_answer_given_up_elsewhere_meanwhile_is_not_handed_over_again(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async def given_up_elsewhere(call: Call) -> Outcome:
        async with sessions.begin() as session:  # another replica recorded its give-up
            await session.execute(
                update(OutboxMessage).values(status=DeliveryStatus.FAILED, error="elsewhere")
            )
        return Failed("400: refused")

    channel = MemoryChannel()
    channel.send = given_up_elsewhere  # type: ignore[method-assign]
    async with sessions.begin() as session:
        row = pending_call("memory", "7", "send", {"n": 1}, clock.now())
        row.kind = ANSWER
        session.add(row)
    await OutboxWorker(channel, sessions, clock).drain()
    assert channel.handed == []
    async with sessions() as session:
        assert await session.scalar(select(OutboxMessage.error)) == "elsewhere"


def group_floods(call: Call) -> Outcome:
    """The operators' group answers 429 for five minutes; every other chat is sent to."""
    if call.chat_id == GROUP:
        return Retry("429", after=300.0, scope=Scope.chat(GROUP))
    return Done()


async def test_a_flood_reply_in_the_operators_group_does_not_delay_answers_to_people(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    channel = MemoryChannel(answer=group_floods)
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


async def test_a_flood_reply_for_the_whole_bot_holds_every_chat_and_counts_no_attempt(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    # The third scope after the chat and the group (a Bitrix24 QUERY_LIMIT_EXCEEDED): every
    # chat of the channel waits the time named, then each goes on in its order, none given up.
    def bot_floods(call: Call) -> Outcome:
        return Retry("429", after=60.0, scope=Scope.channel())

    channel = MemoryChannel(answer=bot_floods)
    await store(sessions, clock, "7", 1, 2)
    await store(sessions, clock, "8", 1)
    worker = OutboxWorker(channel, sessions, clock, in_flight=1)
    await worker.drain()
    await store(sessions, clock, "9", 1)  # stored during the pause
    await worker.drain()
    assert len(channel.made) == 1  # the one refused call; nothing else tried while paused
    clock.advance(seconds=59)
    await worker.drain()
    assert len(channel.made) == 1

    channel.answer = lambda _call: Done()
    clock.advance(seconds=2)
    await worker.drain()
    assert [channel.sent_to(chat) for chat in ("7", "8", "9")] in (
        [[1, 1, 2], [1], [1]],
        [[1, 2], [1, 1], [1]],
    )
    async with sessions() as session:
        rows = list(await session.scalars(select(OutboxMessage)))
    assert {row.status for row in rows} == {DeliveryStatus.DONE}
    assert sorted(row.attempts for row in rows) == [1, 1, 1, 1]  # the 429 counted no attempt


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


async def test_a_send_that_raises_is_given_up_after_max_attempts_and_the_chat_goes_on(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A bug in the channel's send (it raises instead of returning an outcome) fails the same
    way again: the call is given up on its MAX_ATTEMPTS-th try, its error recorded, and the
    chat's next call goes, as the inbox gives up an event. Before, it was retried until
    DELIVERY_GIVE_UP_AFTER (a day) with the chat's later calls waiting behind it."""

    def answer(call: Call) -> Outcome:
        if call.params["n"] == 1:
            raise KeyError("a bug")
        return Done()

    channel = MemoryChannel(answer=answer)
    await store(sessions, clock, "7", 1, 2)
    worker = OutboxWorker(channel, sessions, clock)
    for _ in range(MAX_ATTEMPTS + 1):
        await worker.drain()
        clock.advance(seconds=120)
    async with sessions() as session:
        first, second = await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))
    assert channel.sent_to("7") == [1] * MAX_ATTEMPTS + [2]
    assert (first.status, first.attempts, first.error) == (
        DeliveryStatus.FAILED, MAX_ATTEMPTS, "crashed: KeyError",
    )  # fmt: skip
    assert second.status == DeliveryStatus.DONE


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


# rows reserved by a turn (bot.delivery.express) ----------------------------------------------


async def reserve(
    sessions: async_sessionmaker[AsyncSession],
    worker: OutboxWorker,
    clock: FakeClock,
    *calls: tuple[str, int],
) -> dict[int, str | None]:
    """What a turn does: store rows while an event is handled, in one transaction; each row's
    ``n`` and who claimed it in its INSERT."""
    now = clock.now()
    rows = [pending_call("memory", chat, "send", {"n": n}, now) for chat, n in calls]
    with express.reserving(worker.express):
        async with sessions.begin() as session:
            await express.add_outbox(session, rows)
    return {int(row.params["n"]): row.claimed_by for row in rows}  # type: ignore[call-overload]


async def test_a_turns_rows_are_reserved_within_the_in_flight_bound_and_sent_in_chat_order(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    channel = MemoryChannel(latency=0.01)
    worker = OutboxWorker(channel, sessions, clock, in_flight=2, replica="here")
    claimed = await reserve(sessions, worker, clock, ("a", 1), ("b", 2), ("a", 3), ("c", 4))
    # the first row of two chats (the bound), never a chat's second row
    assert claimed == {1: "here", 2: "here", 3: None, 4: None}
    assert worker.express.room() == 0
    async with sessions() as session:
        marked = list(await session.scalars(select(OutboxMessage.sending_since)))
    assert [at is not None for at in marked] == [True, True, False, False]
    await worker.drain()
    assert (channel.sent_to("a"), channel.sent_to("b"), channel.sent_to("c")) == ([1, 3], [2], [4])
    assert channel.most_in_flight <= 2
    assert worker.express.room() == 2
    assert set(await statuses(sessions)) == {DeliveryStatus.DONE}
    assert "unknown outcome" not in caplog.text


async def test_a_reservation_is_released_on_every_path_its_transaction_can_end(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Regression: a reservation leaked when the step after it raised, and the bound filled up
    for good. A rollback, a failed INSERT and a session closed unfinished each give it back."""
    worker = OutboxWorker(MemoryChannel(), sessions, clock, in_flight=1)
    now = clock.now()
    with express.reserving(worker.express), pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await express.add_outbox(session, [pending_call("memory", "a", "send", {}, now)])
            assert worker.express.room() == 0
            raise RuntimeError("the turn failed after its rows")
    assert worker.express.room() == 1

    engine = sessions.kw["bind"]
    with (
        express.reserving(worker.express),
        failing_once(engine, "INSERT INTO outbox") as failed,
        pytest.raises(OSError),
    ):
        async with sessions.begin() as session:
            await express.add_outbox(session, [pending_call("memory", "a", "send", {}, now)])
    assert failed and worker.express.room() == 1

    with express.reserving(worker.express):
        async with sessions() as session:  # never committed nor rolled back by its owner
            await express.add_outbox(session, [pending_call("memory", "a", "send", {}, now)])
            assert worker.express.room() == 0
    assert worker.express.room() == 1
    assert worker.express.take() == []  # nothing handed over: nothing was committed

    channel = MemoryChannel()
    worker.channel = channel
    assert await reserve(sessions, worker, clock, ("a", 5)) == {5: worker._replica}
    await worker.drain()
    assert channel.sent_to("a") == [5]


async def test_a_reserved_row_that_may_not_go_now_is_handed_back_to_the_claims_unmarked(
    sessions: async_sessionmaker[AsyncSession],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Regression: rows handed from the reserved path to the claims were sent without the
    checks every other row gets. Here the send limit says wait: the row is not sent, its mark
    is cleared (no "unknown outcome" later) and the claims send it when the limit allows."""

    class Limited(MemoryChannel):
        waits: list[float] = [5.0]  # noqa: RUF012 (one test's script)

        async def pace(self, call: Call) -> float:
            return self.waits.pop(0) if self.waits else 0.0

    channel = Limited()
    worker = OutboxWorker(channel, sessions, clock)
    await reserve(sessions, worker, clock, ("a", 1))
    assert 0 < await worker.drain() <= 5.0
    assert channel.made == []
    async with sessions() as session:
        (row,) = await session.scalars(select(OutboxMessage))
    assert row.status == DeliveryStatus.PENDING and row.sending_since is None
    clock.advance(seconds=5)
    await worker.drain()
    assert channel.sent_to("a") == [1]
    assert set(await statuses(sessions)) == {DeliveryStatus.DONE}
    assert "unknown outcome" not in caplog.text


async def test_a_paused_chat_gets_no_reserved_row_and_keeps_waiting(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    channel = MemoryChannel(answer=group_floods)
    worker = OutboxWorker(channel, sessions, clock, replica="here")
    await store(sessions, clock, GROUP, 1)
    await worker.drain()  # the group answers 429: paused for 300 s
    assert await reserve(sessions, worker, clock, (GROUP, 2), ("7", 3)) == {2: None, 3: "here"}
    await worker.drain()
    assert (channel.sent_to(GROUP), channel.sent_to("7")) == ([1], [3])


async def test_a_reserved_row_whose_claim_ran_out_is_left_to_the_replica_holding_it_now(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    channel = MemoryChannel()
    worker = OutboxWorker(channel, sessions, clock, replica="a", claim_seconds=30.0)
    await reserve(sessions, worker, clock, ("7", 1))
    clock.advance(seconds=31)  # this replica stalled: its claim ran out, another took the chat
    async with sessions.begin() as session:
        taken = await claims.claim_outbox(session, "memory", "b", clock.now(), 10, hold_for=30)
    assert [row.claimed_by for row in taken] == ["b"]
    await worker.drain()
    assert channel.made == []
    async with sessions() as session:
        (row,) = await session.scalars(select(OutboxMessage))
    assert (row.status, row.claimed_by) == (DeliveryStatus.PENDING, "b")


async def test_two_turns_writing_to_one_chat_on_postgresql_commit_its_rows_in_id_order(
    pg_db_url: str, clock: FakeClock
) -> None:
    """Regression: on PostgreSQL two replicas' turns could add rows to one chat out of order
    (the later id committed and sent first) and both reserve them. The second waits for the
    chat's lock until the first commits, then sees its unsent row: not reserved, sent after."""
    engine = create_engine(pg_db_url)
    sessions = create_sessionmaker(engine)
    channel = MemoryChannel()
    worker = OutboxWorker(channel, sessions, clock, replica="a")
    now = clock.now()
    try:
        with express.reserving(worker.express):
            first = pending_call("memory", "7", "send", {"n": 1}, now)
            session = sessions()
            await session.begin()
            await express.add_outbox(session, [first])
            second = pending_call("memory", "7", "send", {"n": 2}, now)
            await _waits_for_the_first(sessions, session, express.add_outbox, second)
        assert first.id < second.id
        assert (first.claimed_by, second.claimed_by) == ("a", None)
        await worker.drain()
        assert channel.sent_to("7") == [1, 2]
    finally:
        await engine.dispose()


async def test_an_unreserved_rows_insert_takes_its_chats_lock_itself_and_keeps_id_order(
    pg_db_url: str, clock: FakeClock
) -> None:
    """A turn's rows for one chat, none reserved (a burst's): the chat's lock comes with the
    first row's INSERT, one statement, and is taken before that row's id is given: a second
    turn writing to the chat waits in its INSERT until the first commits, and gets the later
    id."""
    engine = create_engine(pg_db_url)
    sessions = create_sessionmaker(engine)
    now = clock.now()
    try:
        first = [pending_call("memory", "7", "send", {"n": n}, now) for n in (1, 2)]
        session = sessions()
        await session.begin()
        with counting(engine.sync_engine) as counted:
            await delivery.add_outbox(session, first)
        inserts = counted.starting("INSERT INTO outbox")
        assert len(inserts) == 2 and not counted.starting("SELECT pg_advisory"), counted
        second = pending_call("memory", "7", "send", {"n": 3}, now)
        await _waits_for_the_first(sessions, session, delivery.add_outbox, second)
        assert first[0].id < first[1].id < second.id
        async with sessions() as look:
            stored = await look.scalars(select(OutboxMessage.params).order_by(OutboxMessage.id))
            assert list(stored) == [{"n": 1}, {"n": 2}, {"n": 3}]
    finally:
        await engine.dispose()


async def _waits_for_the_first(
    sessions: async_sessionmaker[AsyncSession],
    first: AsyncSession,
    add: Callable[[AsyncSession, list[OutboxMessage]], Awaitable[object]],
    row: OutboxMessage,
) -> None:
    """A second turn adds ``row`` to the chat ``first`` (open, its rows added) wrote to: it
    waits for the chat's lock until ``first`` commits (and is closed), then commits."""

    async def later_turn() -> None:
        async with sessions.begin() as other:
            await add(other, [row])

    later = asyncio.create_task(later_turn())

    await lock_awaited(sessions, "the second turn waits for the chat's lock", 10)
    assert not later.done()
    await first.commit()
    await first.close()
    await asyncio.wait_for(later, 10)


async def test_a_recorded_rows_room_is_given_to_turns_only_once_its_record_commits(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """The bound holds for the rows marked in the database: while a wave's transaction records
    one outcome and marks the next row, a turn must not reserve the recorded row's room (a
    crash before that commit would leave both marked, one more than DELIVERY_IN_FLIGHT)."""
    rooms: list[int] = []

    class Watching(MemoryChannel):
        async def pace(self, call: Call) -> float:
            rooms.append(worker.express.room())  # what a turn would see now
            return 0.0

    channel = Watching()
    worker = OutboxWorker(channel, sessions, clock, in_flight=1)
    await reserve(sessions, worker, clock, ("a", 1))
    await store(sessions, clock, "b", 2)
    await worker.drain()
    assert (channel.sent_to("a"), channel.sent_to("b")) == ([1], [2])
    # a's row in hand (1 of 1), then b's head while a's outcome is being recorded: still 1 of 1
    assert rooms == [0, 0]
    assert worker.express.room() == 1


async def test_reserved_rows_are_handed_over_when_the_transaction_commits_not_a_savepoint(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Regression: SQLAlchemy's after_commit also fires when a savepoint is released, so rows
    were handed to the worker before their transaction committed — and sent although it then
    rolled back."""
    worker = OutboxWorker(MemoryChannel(), sessions, clock, in_flight=1)
    now = clock.now()
    with express.reserving(worker.express), pytest.raises(RuntimeError):
        async with sessions.begin() as session:
            await express.add_outbox(session, [pending_call("memory", "a", "send", {}, now)])
            async with session.begin_nested():  # e.g. a row created if it is missing
                await session.execute(text("SELECT 1"))
            assert worker.express.take() == []  # not committed: nothing to send yet
            raise RuntimeError("the turn fails after the savepoint")
    assert worker.express.take() == [] and worker.express.room() == 1
    async with sessions() as session:
        assert list(await session.scalars(select(OutboxMessage))) == []


async def test_rows_a_turn_stores_while_the_worker_is_in_a_pass_are_left_to_its_claims(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """In a burst the worker's waves claim many rows at a time: reserving each one as it comes
    only splits the waves (measured: more CPU a message). Reserved rows are for a worker that
    waits for work, which is where a lone message finds it."""
    claimed: list[dict[int, str | None]] = []

    class Busy(MemoryChannel):
        async def send(self, call: Call) -> Outcome:
            if not claimed:  # a turn commits while this send is in flight
                claimed.append(await reserve(sessions, worker, clock, ("b", 2)))
            return await super().send(call)

    channel = Busy()
    worker = OutboxWorker(channel, sessions, clock, replica="here")
    await store(sessions, clock, "a", 1)
    await worker.drain()
    assert claimed == [{2: None}]
    assert (channel.sent_to("a"), channel.sent_to("b")) == ([1], [2])
    assert await reserve(sessions, worker, clock, ("c", 3)) == {3: "here"}  # waiting again


async def test_a_wave_claims_no_more_rows_than_it_can_send_and_keeps_each_chats_order(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Regression: a wave claimed and loaded up to 200 rows to send at most ``in_flight``; it
    now claims the first due row of as many chats as it has room for, no more."""
    chats = [str(n) for n in range(1, 31)]
    for chat in chats:
        await store(sessions, clock, chat, 1, 2, 3)
    gate = asyncio.Event()

    async def held(call: Call) -> Outcome:
        await gate.wait()
        return Done()

    channel = MemoryChannel()
    channel.send = held  # type: ignore[method-assign]
    worker = OutboxWorker(channel, sessions, clock, in_flight=4, replica="a")
    draining = asyncio.create_task(worker.drain())

    async def claimed() -> int:
        async with sessions() as session:
            query = select(OutboxMessage).where(OutboxMessage.claimed_by == "a")
            return len(list(await session.scalars(query)))

    async def sending() -> bool:
        async with sessions() as session:
            query = select(OutboxMessage).where(OutboxMessage.sending_since.is_not(None))
            return len(list(await session.scalars(query))) == 4

    await until(sending, "the first wave in flight", 10)
    assert await claimed() == 4  # every claimed row is being sent: none waits in a claim
    gate.set()
    await draining
    assert await statuses(sessions) == [DeliveryStatus.DONE] * 90


async def test_a_paused_method_does_not_fill_the_waves_room(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Rows of a paused method are not claimed while it waits: the room goes to the rows that
    may be sent now (the claim is as large as the room, no larger)."""
    now = clock.now()
    async with sessions.begin() as session:
        session.add_all(pending_call("memory", str(n), "slow", {"n": n}, now) for n in range(8))
        session.add_all(pending_call("memory", str(n), "send", {"n": n}, now) for n in (8, 9))
    channel = MemoryChannel(
        answer=lambda call: (
            Retry("busy", after=60, scope=Scope.method("slow")) if call.method == "slow" else Done()
        )
    )
    worker = OutboxWorker(channel, sessions, clock, in_flight=2, replica="a")
    await worker.drain()
    assert sorted(c.params["n"] for c in channel.made if c.method == "send") == [8, 9]
    assert len([c for c in channel.made if c.method == "slow"]) == 2  # the first wave's only
