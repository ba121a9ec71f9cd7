"""End to end, the one delivery policy through platform outages (issue 12): the real app as
`helpbot serve` composes it against the fake Telegram or the fake Bitrix24 portal, on a clock a
test may scale.

An outage longer than the old give-up window (~15 s: 1+2+4+8 s) costs no reply and doubles
none; a flood reply (429) in the operators' group does not hold up the answers to people; a
channel worker that crashed is named by /readyz until the restart policy brings it back; Redis
stopped for ten seconds costs no update and leaves /readyz at 200, Redis named as degraded.
"""

from __future__ import annotations

import asyncio
import json
import os
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from bitrix24_scenes import SEND, ScaledClock, scene
from conftest import failing
from deadline import until
from serving import count_rows
from test_bitrix24 import inbox_settled, open_chat, portal_and_app
from test_telegram import QUESTION, _escalate, running

from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage
from knowledge.base import KnowledgeBase

SCALE = 10.0  # the app's clock runs ten times faster than real time
OLD_GIVE_UP = 15.0  # seconds of failures after which the old worker dropped a reply


async def test_a_send_message_outage_longer_than_the_old_window_loses_and_doubles_nothing(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    clock = ScaledClock(SCALE)
    async with running(sqlite_db_url, kb, clock=clock) as w:
        ann = w.fake.add_user("Ann")
        w.fake.force_error(None, 502, method="sendMessage")  # the outage begins
        began = clock.now()
        w.fake.user_sends(ann, QUESTION)
        await w.fake.wait_for_call("sendMessage", lambda c: c.chat_id == ann.id)
        await asyncio.sleep(2 * OLD_GIVE_UP / SCALE)  # 30 s of the app's time
        assert (clock.now() - began).total_seconds() > 2 * OLD_GIVE_UP
        assert await count_rows(w.services, OutboxMessage, status=DeliveryStatus.FAILED) == 0
        assert w.fake.bot_messages(ann) == []
        w.fake.clear_faults()  # the outage ends

        await w.said(ann, "пароль", timeout=10)

        async def drained() -> bool:
            return await count_rows(w.services, OutboxMessage, status=DeliveryStatus.PENDING) == 0

        await until(drained, "the outbox drained", 10, wake=w.fake.changed)
        assert len(w.fake.bot_messages(ann)) == 1
        assert len(w.fake.calls("sendMessage", chat=ann, ok=False)) >= 3  # retried meanwhile


async def test_a_revoked_token_keeps_the_replies_and_readyz_names_it_until_it_works_again(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    # Before the one policy, a 401 burned every pending row (each given up as failed).
    clock = ScaledClock(SCALE)  # the channel is checked again after 30 s of the app's time
    async with running(sqlite_db_url, kb, "webhook", clock=clock) as w:
        ann = w.fake.add_user("Ann")
        w.fake.force_error(None, 502, method="sendMessage")  # holds the reply in the outbox
        w.fake.user_sends(ann, QUESTION)
        await w.fake.wait_for_call("sendMessage", lambda c: c.chat_id == ann.id)
        w.fake.revoke_token()  # BotFather revoked it: every call is 401 from now on
        w.fake.clear_faults()  # (the fake records no call a revoked token makes)

        async def refused() -> str:
            status, body = await _readyz(w.url)
            return str(json.loads(body)["failed"].get("telegram", "")) if status == 503 else ""

        await until(refused, "/readyz names the refused token")
        assert "rejected the bot token" in await refused()
        assert w.fake.bot_messages(ann) == []
        assert await count_rows(w.services, OutboxMessage, status=DeliveryStatus.FAILED) == 0
        assert await count_rows(w.services, OutboxMessage, status=DeliveryStatus.PENDING) >= 1

        w.fake.restore_token()  # the token works again
        await w.said(ann, "пароль", timeout=20)
        await until(lambda: _ready(w.url), "/readyz 200 once the token works")
        await until(lambda: inbox_settled(w.services), "the outbox drained")
        assert len(w.fake.bot_messages(ann)) == 1


async def test_a_flood_reply_in_the_operators_group_does_not_delay_answers_to_people(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with running(sqlite_db_url, kb) as w:
        ann, bob = w.fake.add_user("Ann"), w.fake.add_user("Bob")
        thread, _card = await _escalate(w, ann)
        w.fake.force_429(None, retry_after=5, chat=w.group)  # the group is flooded
        w.fake.user_sends(ann, "Есть новости?")  # relayed to the topic: refused with 429
        await w.fake.wait_for_call("sendMessage", lambda c: c.chat_id == w.group.id and not c.ok)

        w.fake.user_sends(bob, QUESTION)
        await w.said(bob, "пароль", timeout=3)  # well inside the group's 5 s pause
        w.fake.clear_faults()
        await w.said(w.group, "Есть новости?", thread_id=thread, timeout=15)


async def test_a_portal_outage_longer_than_the_old_window_loses_and_doubles_nothing(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    clock = ScaledClock(SCALE)
    options: dict[str, Any] = {"clock": clock, "bitrix": {"max_attempts": 1}}
    async with scene(sqlite_db_url, kb, "fetch", **options) as (fake, services):
        chat = await open_chat(fake)
        before = len(fake.bot_messages(chat))  # the welcome
        fake.go_down(SEND)  # the portal's message sending is down
        began = clock.now()
        await fake.customer_sends(chat, QUESTION)
        await fake.wait_for(
            lambda: any(c.method == SEND and c.status == 503 for c in fake.calls), 20, "a try"
        )
        await asyncio.sleep(2 * OLD_GIVE_UP / SCALE)  # 30 s of the app's time
        assert (clock.now() - began).total_seconds() > 2 * OLD_GIVE_UP
        assert len(fake.bot_messages(chat)) == before
        assert await count_rows(services, OutboxMessage, status=DeliveryStatus.FAILED) == 0
        fake.come_back()

        await fake.wait_for(lambda: len(fake.bot_messages(chat)) > before, 20, "the answer")
        await until(lambda: inbox_settled(services), "the outbox drained")
        assert len(fake.bot_messages(chat)) == before + 1
        assert len([c for c in fake.calls if c.method == SEND and c.status == 503]) >= 3


async def test_a_crashed_bitrix24_sender_is_named_by_readyz_and_its_reply_still_goes(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    async with portal_and_app(sqlite_db_url, kb, "fetch") as (fake, services, settings):
        base = settings.bitrix.public_url
        chat = await open_chat(fake)
        before = len(fake.bot_messages(chat))
        await until(lambda: _ready(base), "/readyz 200")

        async def down() -> dict[str, str]:
            status, body = await _readyz(base)
            return dict(json.loads(body)["failed"]) if status == 503 else {}

        # The sender's claims meet a database error: the worker crashes (no mock of ours), and
        # again after each restart until the database is back, so /readyz is sure to see it.
        with failing(services.db, "UPDATE outbox") as failed:
            await fake.customer_sends(chat, QUESTION)
            await until(lambda: failed, "the sender's claim refused")
            await until(down, "/readyz says 503")
            assert (await down()) == {"bitrix24 sender": "crashed: OSError"}
        await fake.wait_for(lambda: len(fake.bot_messages(chat)) > before, 20, "the answer")
        await until(lambda: _ready(base), "/readyz 200 after the restart")
        await until(lambda: inbox_settled(services), "the outbox drained")
        assert len(fake.bot_messages(chat)) == before + 1


class RedisSwitch:
    """A loopback TCP relay to the real Redis that a test can switch off (Redis "stopped")."""

    def __init__(self, target: str) -> None:
        url = urlsplit(target)
        self._host, self._port = url.hostname or "127.0.0.1", url.port or 6379
        self._db = url.path or "/0"
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.StreamWriter] = set()
        self.port = 0
        self.relayed = 0  # bytes the app sent to Redis through the relay

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self._db}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._links:
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self._host, self._port)
        self._links |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, up: bool) -> None:
            with suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    self.relayed += len(data) if up else 0
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer, True), pipe(up_reader, writer, False))
        self._links -= {writer, up_writer}


async def test_redis_stopped_for_ten_seconds_loses_no_update(
    sqlite_db_url: str, kb: KnowledgeBase
) -> None:
    target = os.environ.get("TEST_REDIS_URL", "")
    if not target:
        pytest.skip("needs TEST_REDIS_URL=redis://host:port/db")
    switch = RedisSwitch(target)
    await switch.start()
    async with running(sqlite_db_url, kb, "webhook", redis_url=switch.url) as w:
        await until(lambda: _whole(w.url), "/readyz 200, nothing degraded, with Redis")
        before = w.fake.add_user("Before")
        w.fake.user_sends(before, QUESTION)
        await w.said(before, "пароль", timeout=10)
        assert switch.relayed > 0  # Redis was in use: the shared send limits, /readyz's ping
        people = [w.fake.add_user(f"P{n}") for n in range(3)]
        await switch.stop()  # Redis is gone for ten seconds
        for person in people:
            w.fake.user_sends(person, QUESTION)
        await asyncio.sleep(10)
        answered = [len(w.fake.bot_messages(p)) for p in people]  # while Redis is still away
        status, body = await _readyz(w.url)
        await switch.start()
        assert answered == [1, 1, 1]
        ready = json.loads(body)  # ready all along: Redis is off the path of an update
        assert status == 200 and ready["failed"] == {}, body
        assert ready["degraded"]["redis"].startswith("down (limits local)"), body
        assert await count_rows(w.services, InboxUpdate, status=DeliveryStatus.FAILED) == 0
        assert w.fake.webhook_info().get("pending_update_count", 0) == 0

        # Back: the app uses Redis again and answers as before.
        relayed, after = switch.relayed, w.fake.add_user("After")
        w.fake.user_sends(after, QUESTION)
        await w.said(after, "пароль", timeout=10)
        await until(lambda: _whole(w.url), "/readyz without a degraded Redis once it is back")
        assert switch.relayed > relayed
        assert [len(w.fake.bot_messages(p)) for p in [before, *people, after]] == [1] * 5
    await switch.stop()


async def _readyz(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(url + "/readyz") as response:
        return response.status, await response.text()


async def _ready(url: str) -> bool:
    return (await _readyz(url))[0] == 200


async def _whole(url: str) -> bool:
    status, body = await _readyz(url)
    return status == 200 and json.loads(body)["degraded"] == {}
