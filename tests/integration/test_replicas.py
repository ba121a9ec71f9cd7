"""Several replicas on one database: rows claimed by one replica at a time, one leased poller.

The two-replica tests use two engines and sessionmakers on one PostgreSQL database, as two
`helpbot serve` processes would; the outside world is FakeTelegram or a recording Bitrix24 fake.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from conftest import FakeClock, pending_call
from deadline import until
from fakes.telegram_server import FakeTelegram
from redis.asyncio import Redis
from serving import telegram_settings
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import SystemClock
from bot.delivery.inbox import InboxWorker
from bot.delivery.worker import OutboxWorker
from bot.storage import claims, delivery
from bot.storage.db import create_engine, create_sessionmaker
from bot.storage.leases import LeaseKeeper, release_lease, take_lease
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage
from handlers.bitrix24.poller import EventPoller, poll_while_leased
from handlers.telegram.delivery import Deliverer
from handlers.telegram.inbox import Inbox
from handlers.telegram.sender import TelegramSender
from handlers.telegram.sendlimits import SharedSendLimits

CLAIM = 30.0


def _row(chat_id: str, text: str, now: datetime) -> OutboxMessage:
    return pending_call("telegram", chat_id, "sendMessage", {"text": text}, now)


# claims --------------------------------------------------------------------------------------


async def test_a_chat_held_by_a_live_replica_is_left_to_it_until_its_claim_expires(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        await delivery.add_outbox(
            session, [_row("1", "x1", now), _row("2", "y1", now), _row("1", "x2", now)]
        )
        await delivery.add_outbox(session, [_row("1", "x3", now), _row("2", "y2", now)])

    async def claim(replica: str, limit: int = 10) -> list[str]:
        async with sessions.begin() as session:
            rows = await claims.claim_outbox(
                session, "telegram", replica, clock.now(), limit, hold_for=CLAIM
            )
        return [str(row.params["text"]) for row in rows]

    assert await claim("a", 2) == ["x1", "y1"]
    assert await claim("b") == []  # both chats have a row in a's hands
    assert await claim("a", 2) == ["x1", "y1"]  # a renews its own claims
    async with sessions.begin() as session:
        x1 = await session.scalar(select(OutboxMessage).where(OutboxMessage.id == 1))
        assert x1 is not None
        x1.status = DeliveryStatus.DONE
    assert await claim("b") == ["x2", "x3"]  # chat 1 is free again once a's row is sent
    clock.advance(seconds=CLAIM + 1)  # a died: its claim on chat 2 runs out
    assert await claim("b") == ["y1", "x2", "x3", "y2"]  # each chat's first, then second
    assert await claim("a") == []


async def test_inbox_updates_of_a_held_chat_wait_for_its_replica(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    now = clock.now()
    async with sessions.begin() as session:
        for n, key in enumerate(["chat:1", "chat:2", "chat:1", None]):
            await delivery.keep_update(
                session, "telegram", str(n), {"n": n}, now, key, replica=None, hold_until=now
            )

    async def claim(replica: str, limit: int = 10) -> list[object]:
        async with sessions.begin() as session:
            rows = await claims.claim_updates(
                session, "telegram", replica, clock.now(), limit, hold_for=CLAIM
            )
        return [row.payload["n"] for row in rows]

    assert await claim("a", 1) == [0]
    assert await claim("b") == [1, 3]  # chat 1 stays with a, in order
    assert await claim("a") == [0, 2]
    clock.advance(seconds=CLAIM + 1)
    assert await claim("b") == [0, 1, 2, 3]


# two outbox workers --------------------------------------------------------------------------


@asynccontextmanager
async def _replica(db_url: str, fake: FakeTelegram, name: str) -> AsyncIterator[OutboxWorker]:
    engine = create_engine(db_url)
    sessions = create_sessionmaker(engine)
    bot = Bot(fake.token, session=AiohttpSession(api=TelegramAPIServer.from_base(fake.url)))
    clock = SystemClock()
    ready = asyncio.Event()
    settings = telegram_settings(fake, chat_per_second=1000.0, global_per_second=1000.0)
    deliverer = Deliverer(
        sessions, clock, None, operator_chat_id=None, operator_language="ru", wake=ready.set
    )
    sender = TelegramSender(bot, settings, topics=None, deliverer=deliverer)
    worker = OutboxWorker(sender, sessions, clock, ready=ready, replica=name, claim_seconds=CLAIM)
    try:
        yield worker
    finally:
        await bot.session.close()
        await engine.dispose()


async def test_two_replicas_send_every_outbox_row_exactly_once_in_chat_order(
    pg_db_url: str,
) -> None:
    # Many more chats than one wave claims (its room, at most DELIVERY_IN_FLIGHT): whichever
    # replica claims first cannot hold every chat, so the other has work from its first pass on.
    chats, per_chat = 300, 3
    async with FakeTelegram() as fake:
        people = [fake.add_user(f"P{n}", started=True) for n in range(chats)]
        engine = create_engine(pg_db_url)
        sessions = create_sessionmaker(engine)
        now = SystemClock().now()
        async with sessions.begin() as session:
            await delivery.add_outbox(
                session,
                [
                    _row(str(person.id), f"{person.id}:{n}", now)
                    for n in range(per_chat)
                    for person in people
                ],
            )

        async def unsent() -> bool:
            async with sessions() as session:
                count = await session.scalar(
                    select(func.count()).where(OutboxMessage.status != DeliveryStatus.DONE)
                )
            return count == 0

        async with _replica(pg_db_url, fake, "a") as a, _replica(pg_db_url, fake, "b") as b:
            tasks = [asyncio.create_task(worker.run()) for worker in (a, b)]
            try:
                await until(unsent, "every row sent", 60)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        async with sessions() as session:
            senders = Counter(await session.scalars(select(OutboxMessage.claimed_by)))
        await engine.dispose()

    texts = [str(call.params["text"]) for call in fake.calls("sendMessage", ok=True)]
    assert len(texts) == chats * per_chat
    assert Counter(texts).most_common(1)[0][1] == 1  # nothing sent twice
    for person in people:
        mine = [t for t in texts if t.startswith(f"{person.id}:")]
        assert mine == [f"{person.id}:{n}" for n in range(per_chat)]  # in the stored order
    assert set(senders) == {"a", "b"} and min(senders.values()) > 0  # both replicas sent


@pytest.mark.parametrize("stored", ["before, by one", "meanwhile, by either"])
async def test_two_replicas_process_every_inbox_update_exactly_once_in_chat_order(
    pg_db_url: str, stored: str
) -> None:
    """Every update is processed once, each chat's in order and never by both replicas at once:
    the updates stored by one replica before both run, or (as behind a round-robin balancer)
    each by either replica while both process."""
    chats, per_chat = (200, 3) if stored.startswith("before") else (40, 6)
    engines = [create_engine(pg_db_url) for _ in range(2)]
    seen: list[tuple[str, int, int]] = []  # (replica, chat, n)
    busy: set[int] = set()
    overlaps: list[int] = []

    def recorder(name: str) -> Callable[[dict[str, Any]], Any]:
        async def process(raw: dict[str, Any]) -> None:
            message = raw["message"]
            chat = message["chat"]["id"]
            if chat in busy:
                overlaps.append(chat)
            busy.add(chat)
            seen.append((name, chat, message["message_id"]))
            await asyncio.sleep(0.002)  # let the other replica run in between
            busy.discard(chat)

        return process

    inboxes = [
        Inbox(create_sessionmaker(engine), SystemClock(), recorder(name), replica=name)
        for name, engine in zip("ab", engines, strict=True)
    ]

    def update(chat: int, n: int) -> dict[str, Any]:
        return {"update_id": n * chats + chat, "message": {"message_id": n, "chat": {"id": chat}}}

    async def send(chat: int) -> None:  # a chat's updates in order, each to either replica
        for n in range(per_chat):
            assert await inboxes[(chat + n) % 2].store([update(chat, n)]) == 1

    if stored.startswith("before"):
        await inboxes[0].store(
            [update(chat, n) for n in range(per_chat) for chat in range(1, chats + 1)]
        )
    tasks = [asyncio.create_task(inbox.run()) for inbox in inboxes]
    try:
        if not stored.startswith("before"):
            await asyncio.gather(*(send(chat) for chat in range(1, chats + 1)))
        await until(lambda: len(seen) >= chats * per_chat, "every update processed", 30)
        await asyncio.gather(*(inbox.stop(5) for inbox in inboxes))
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for engine in engines:
            await engine.dispose()
    assert len(seen) == chats * per_chat == len({(chat, n) for _, chat, n in seen})
    for chat in range(1, chats + 1):
        assert [n for _, c, n in seen if c == chat] == list(range(per_chat))
    assert overlaps == []
    assert {name for name, _, _ in seen} == {"a", "b"}


# the leased poller ---------------------------------------------------------------------------


async def test_a_lease_has_one_holder_until_it_expires_or_is_released(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    async def take(holder: str) -> bool:
        async with sessions.begin() as session:
            return await take_lease(session, "job", holder, clock.now(), 10)

    assert await take("a") and not await take("b")
    clock.advance(seconds=9)
    assert await take("a") and not await take("b")  # renewed: ten more seconds
    clock.advance(seconds=11)
    assert await take("b") and not await take("a")  # a stopped renewing: b took it over
    async with sessions.begin() as session:
        await release_lease(session, "job", "b", clock.now())
    assert await take("a")


class RecordingBitrix:
    """The portal's Event.get, recording each call: an empty queue."""

    def __init__(self) -> None:
        self.calls: list[float] = []

    async def call(self, method: str, params: Mapping[str, Any] | None = None) -> Any:
        assert method == "imbot.v2.Event.get"
        self.calls.append(time.monotonic())
        return {"events": [], "nextOffset": 0}

    async def batch(self, calls: Any, *, halt: bool = False) -> Any:
        raise NotImplementedError


async def _never(row: InboxUpdate) -> None:
    raise AssertionError("the pollers' events are not processed here")


async def test_one_replica_polls_and_another_takes_over_after_the_holder_dies(
    pg_db_url: str,
) -> None:
    ttl = 1.0
    engines = [create_engine(pg_db_url) for _ in range(2)]
    portals = [RecordingBitrix(), RecordingBitrix()]
    stopping = asyncio.Event()
    tasks = []
    for n, (engine, portal) in enumerate(zip(engines, portals, strict=True)):
        sessions = create_sessionmaker(engine)
        poller = EventPoller(
            sessions=sessions,
            client=portal,
            clock=SystemClock(),
            bot_id=7,
            inbox=InboxWorker("bitrix24", sessions, SystemClock(), _never, replica=f"r{n}"),
        )
        lease = LeaseKeeper(sessions, SystemClock(), "bitrix24-fetch", f"replica-{n}", ttl)
        run = poll_while_leased(poller, lease, stopping, interval=0.05, busy_interval=0.05)
        tasks.append(asyncio.create_task(run))
    try:
        await until(lambda: any(len(p.calls) >= 10 for p in portals), "ten polls", 10)
        holder = 0 if portals[0].calls else 1
        other = 1 - holder
        assert portals[other].calls == []  # exactly one replica polls
        tasks[holder].cancel()  # the holder dies: no release
        await asyncio.gather(tasks[holder], return_exceptions=True)
        died = time.monotonic()
        await until(lambda: portals[other].calls, "the other replica polls", ttl * 3)
        taken_after = portals[other].calls[0] - died
        assert ttl / 2 <= taken_after <= ttl * 2  # after the lease ran out, within seconds
        polls = len(portals[holder].calls)
        await until(lambda: len(portals[other].calls) >= 5, "it keeps polling", 5)
        assert len(portals[holder].calls) == polls
    finally:
        stopping.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for engine in engines:
            await engine.dispose()


# send limits shared through Redis ------------------------------------------------------------


async def test_two_replicas_share_one_send_limit_through_redis() -> None:
    url = os.environ.get("TEST_REDIS_URL", "")
    if not url:
        pytest.skip("needs TEST_REDIS_URL=redis://host:port/db")
    prefix = f"helpbot-test-{secrets.token_hex(4)}"
    clients = [Redis.from_url(url), Redis.from_url(url)]
    limits = [SharedSendLimits(client, prefix) for client in clients]
    chat, overall = (10.0, 5.0), (1000.0, 1000.0)  # 5 at once, then 10 a second
    taken: list[float] = []

    async def replica(mine: SharedSendLimits) -> None:
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            wait = await mine.take("42", chat, overall)
            if wait == 0:
                taken.append(time.monotonic())
            else:
                assert 0 < wait <= 0.1 + 1e-6
                await asyncio.sleep(wait)

    try:
        started = time.monotonic()
        await asyncio.gather(*(replica(mine) for mine in limits))
        elapsed = time.monotonic() - started
        assert 5 + 10 * 0.4 <= len(taken) <= 5 + 10 * elapsed + 1  # the two together, not each
        assert await limits[0].take("other", chat, overall) == 0  # chats have their own buckets
    finally:
        keys = [key async for key in clients[0].scan_iter(f"{prefix}:*")]
        if keys:
            await clients[0].delete(*keys)
        for client in clients:
            await client.aclose()


async def test_without_redis_the_shared_limit_steps_aside_for_the_local_one() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)  # nobody there
    try:
        assert await SharedSendLimits(client, "x").take("42", (1.0, 1.0), (1.0, 1.0)) == 0.0
    finally:
        await client.aclose()


async def test_an_idle_inbox_looks_again_soon_after_a_dead_replicas_claim_runs_out(
    sessions: async_sessionmaker[AsyncSession], clock: FakeClock
) -> None:
    handled: list[dict[str, Any]] = []

    async def process(raw: dict[str, Any]) -> None:
        handled.append(raw)

    inbox = Inbox(sessions, clock, process, replica="b", claim_seconds=CLAIM, idle=60.0)
    async with sessions.begin() as session:  # stored and claimed by replica a, which then died
        await delivery.keep_update(
            session, "telegram", "7", {"update_id": 7}, clock.now(), None,
            replica=None, hold_until=clock.now(),
        )  # fmt: skip
        await claims.claim_updates(session, "telegram", "a", clock.now(), 10, hold_for=2.0)
    delay = await inbox.drain()
    # Nothing will wake b for it: b sleeps until a's claim runs out, not its longest nap.
    assert handled == [] and delay == pytest.approx(2.0)
    clock.advance(seconds=2.5)
    await inbox.drain()
    assert handled == [{"update_id": 7}]
