"""render -> outbox rows -> settle, written once (bot/delivery/pipeline.py), with an in-memory
channel: its render is a pure function of the events, its events come through the one inbox
worker, and no platform is involved (nothing is sent)."""

from __future__ import annotations

from conftest import FakeClock
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.channel import Draft
from bot.delivery import pipeline
from bot.delivery.inbox import Arrival, InboxWorker
from bot.engine.events import Event, Resolved, Say
from bot.replies import Reply
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage

CHANNEL = "memory"


def render(event: Event) -> list[Draft]:
    """The in-memory channel's render: one call per text block of a reply, nothing for the rest."""
    if not isinstance(event, Say):
        return []
    return [Draft(event.conversation_id, "say", {"text": line}) for line in event.reply.blocks]


async def test_an_events_calls_commit_with_its_settle_and_a_failed_turn_leaves_neither(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """The rows are the render's calls in order, stored in the caller's transaction with the
    inbox row settled: a turn that fails after writing them rolls both back, and the retry's
    are written once: a failure after their commit does not run the event again."""
    tries: list[int] = []

    async def handle(row: InboxUpdate) -> None:
        tries.append(row.id)
        events = [
            Say(channel=CHANNEL, conversation_id="c1", reply=Reply(("one", "two"))),
            Resolved(channel=CHANNEL, conversation_id="c1", message_id=1),
            Say(channel=CHANNEL, conversation_id="c1", reply=Reply(("three",))),
        ]
        async with sessions.begin() as session:
            now = clock.now()
            rows = await pipeline.write(session, CHANNEL, events, pipeline.each(render), now)
            assert len(rows) == 3
            if len(tries) == 1:
                raise RuntimeError("the turn fails after writing its rows")
        raise RuntimeError("a late failure after the commit (e.g. a callback answer)")

    worker = InboxWorker(CHANNEL, sessions, clock, handle)
    assert await worker.keep([Arrival("u1", {"text": "hi"}, "c1")]) == 1
    await worker.drain()
    async with sessions() as session:
        assert (await session.scalars(select(OutboxMessage))).all() == []
        assert (await session.scalars(select(InboxUpdate))).one().status == DeliveryStatus.PENDING
    for _ in range(2):  # settled with its effects: the late failure does not run it again
        clock.advance(seconds=5)
        await worker.drain()

    assert len(tries) == 2
    async with sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id))).all()
        inbox_row = (await session.scalars(select(InboxUpdate))).one()
    assert [(r.channel, r.chat_id, r.method, r.params) for r in rows] == [
        (CHANNEL, "c1", "say", {"text": "one"}),
        (CHANNEL, "c1", "say", {"text": "two"}),
        (CHANNEL, "c1", "say", {"text": "three"}),
    ]
    assert {r.status for r in rows} == {DeliveryStatus.PENDING}
    assert inbox_row.status == DeliveryStatus.DONE


async def test_store_settles_nothing(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Calls that are no event's answer (a timer's, a channel's own notice) are stored with
    the event being processed left pending: it is settled by the transaction of its effects."""

    async def handle(row: InboxUpdate) -> None:
        async with sessions.begin() as session:
            await pipeline.store(session, CHANNEL, [Draft("c1", "note")], clock.now())
        raise RuntimeError("no effects stored yet")

    worker = InboxWorker(CHANNEL, sessions, clock, handle)
    await worker.keep([Arrival("u1", {}, "c1")])
    await worker.drain()
    async with sessions() as session:
        (row,) = (await session.scalars(select(OutboxMessage))).all()
        inbox_row = (await session.scalars(select(InboxUpdate))).one()
    assert (row.method, row.status) == ("note", DeliveryStatus.PENDING)
    assert (inbox_row.status, inbox_row.attempts) == (DeliveryStatus.PENDING, 1)
