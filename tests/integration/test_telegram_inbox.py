"""The Telegram inbox's own rules, with a recording handler in place of the dispatcher."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import FakeClock
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.delivery.settle import settle
from bot.storage.models import DeliveryStatus, InboxUpdate
from handlers.telegram.inbox import Inbox


async def test_an_update_that_fails_after_it_was_settled_is_not_run_again(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A handler that committed its effects with the update settled, then raised (a late
    answerCallbackQuery: "query is too old"): the row stays done and is never run again, or
    the take, the reply or the close would be repeated."""
    runs: list[dict[str, Any]] = []

    async def process(raw: dict[str, Any]) -> None:
        runs.append(raw)
        async with sessions.begin() as session:
            await settle(session, clock.now())
        raise RuntimeError("Bad Request: query is too old")

    inbox = Inbox(sessions, clock, process)
    await inbox.store([{"update_id": 9, "message": {"message_id": 1, "chat": {"id": 5}}}])
    for _ in range(3):
        await inbox.drain()
        clock.advance(seconds=5)

    assert len(runs) == 1
    async with sessions() as session:
        row = (await session.scalars(select(InboxUpdate))).one()
    assert (row.status, row.attempts) == (DeliveryStatus.DONE, 0)


async def test_an_update_taken_over_after_a_lapsed_claim_commits_its_effects_once(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """A slow handler outlives its claim; another replica claims the update, handles it and
    settles it. When the first handler commits, its settle finds the row done: its turn rolls
    back (the person is answered once) and the row is not retried."""
    committed: list[str] = []
    started, release = asyncio.Event(), asyncio.Event()

    def process_as(name: str, *, slow: bool) -> Any:
        async def process(raw: dict[str, Any]) -> None:
            if slow:
                started.set()
                await release.wait()
            async with sessions.begin() as session:
                await settle(session, clock.now())
            committed.append(name)

        return process

    first = Inbox(sessions, clock, process_as("a", slow=True), replica="a", claim_seconds=30)
    second = Inbox(sessions, clock, process_as("b", slow=False), replica="b", claim_seconds=30)
    await first.store([{"update_id": 11, "message": {"message_id": 1, "chat": {"id": 5}}}])
    slow = asyncio.create_task(first.drain())
    await started.wait()
    clock.advance(seconds=31)  # the first replica's claim has lapsed
    await second.drain()
    release.set()
    await slow

    assert committed == ["b"]
    async with sessions() as session:
        row = (await session.scalars(select(InboxUpdate))).one()
    assert (row.status, row.attempts) == (DeliveryStatus.DONE, 0)


async def test_an_update_that_fails_unsettled_is_left_to_retry(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """The other side of the rule: a failure before anything committed is retried."""
    runs: list[dict[str, Any]] = []

    async def process(raw: dict[str, Any]) -> None:
        runs.append(raw)
        raise RuntimeError("a transient failure")

    inbox = Inbox(sessions, clock, process)
    await inbox.store([{"update_id": 10, "message": {"message_id": 1, "chat": {"id": 5}}}])
    await inbox.drain()
    async with sessions() as session:
        row = (await session.scalars(select(InboxUpdate))).one()
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)  # to be run again


async def test_updates_arriving_together_are_stored_in_one_commit_each_caller_told_its_own(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    """Group commit: concurrent webhook calls store their updates together (one commit), and
    each call returns once its own update is on disk, with its own count (a repeat: 0)."""

    async def process(raw: dict[str, Any]) -> None:
        return None

    inbox = Inbox(sessions, clock, process)
    commits: list[object] = []
    engine = sessions.kw["bind"].sync_engine
    on_commit = commits.append
    event.listen(engine, "commit", on_commit)
    try:
        ids = [*range(1, 21), 7]  # update 7 twice: one of the two is a repeat
        stored = await asyncio.gather(
            *(inbox.store([{"update_id": n, "message": {"chat": {"id": n}}}]) for n in ids)
        )
    finally:
        event.remove(engine, "commit", on_commit)
    assert sorted(stored) == [0] + [1] * 20
    assert len(commits) <= 3  # the first call's own, then the ones that queued behind it
    async with sessions() as session:
        keys = set(await session.scalars(select(InboxUpdate.external_id)))
    assert keys == {str(n) for n in range(1, 21)}
