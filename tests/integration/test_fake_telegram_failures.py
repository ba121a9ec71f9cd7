"""The fake Telegram Bot API's failures, checked over HTTP against their sources: flood control on
each scope, the server's own in-flight limit, 5xx and the front end's HTML page, a revoked token
and added latency (issue 12's failure policy).

SRV = tdlib/telegram-bot-api telegram-bot-api/Client.cpp (10.0); TD = tdlib/td; AIO = aiogram 3.31.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    RestartingTelegram,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from fake_telegram_fixtures import ann_fixture, bot_fixture, fake_fixture  # noqa: F401
from fake_telegram_helpers import call, make_bot
from fakes.telegram_server import FakeTelegram, FakeUser, RateLimits


async def test_a_forced_429_can_be_scoped_to_one_chat(fake: FakeTelegram, ann: FakeUser) -> None:
    """A 429 carries `parameters.retry_after` and `Retry-After` (SRV `Query.cpp`
    `set_retry_after_error`, l. 105-112) and names no scope: the scope only picks the calls."""
    bob = fake.add_user("Bob", started=True)
    fake.force_429(None, retry_after=7, chat=ann)

    refused = await call(fake, "sendMessage", chat_id=ann.id, text="x")
    other = await call(fake, "sendMessage", chat_id=bob.id, text="x")
    fake.clear_faults()
    again = await call(fake, "sendMessage", chat_id=ann.id, text="x")

    assert refused.status == 429 and refused.headers["Retry-After"] == "7"
    assert refused.body == {
        "ok": False,
        "error_code": 429,
        "description": "Too Many Requests: retry after 7",
        "parameters": {"retry_after": 7},
    }
    assert other.status == 200 and again.status == 200


async def test_a_429_may_come_only_after_a_silent_wait(fake: FakeTelegram, ann: FakeUser) -> None:
    """TDLib waits out a bot's flood waits up to 8 s in total before failing (TD
    net/NetQueryCreator.cpp l. 66-75, NetQueryDelayer.cpp l. 35-50): a 429 may take seconds."""
    fake.force_429(1, retry_after=3, hold=0.3)
    loop = asyncio.get_running_loop()
    started = loop.time()

    refused = await call(fake, "sendMessage", chat_id=ann.id, text="x")

    assert refused.status == 429 and loop.time() - started >= 0.3


async def test_flood_control_per_chat_per_group_and_for_the_whole_bot(fake: FakeTelegram) -> None:
    """The Bot API FAQ's limits (~1 msg/s per chat, 20/min per group, ~30/s overall), each a
    bucket of its own; the 429 names none of them, as on Telegram."""
    people = [fake.add_user(f"P{n}", started=True) for n in range(3)]
    group = fake.add_forum_group("Support")
    fake.set_rate_limits(
        RateLimits(per_chat_burst=2, per_group_per_minute=3, global_per_second=0.1, global_burst=6)
    )

    async def send(chat: int) -> int:
        return (await call(fake, "sendMessage", chat_id=chat, text="x")).status

    chat_limited = [await send(people[0].id) for _ in range(3)]
    other_chat = await send(people[1].id)
    group_limited = [await send(group.id) for _ in range(3)]  # burst 2 per chat hits first
    fake.set_rate_limits(RateLimits(per_chat_burst=10, per_group_per_minute=3))
    group_only = [await send(group.id) for _ in range(4)]
    fake.set_rate_limits(RateLimits(global_per_second=0.1, global_burst=2))
    whole_bot = [await send(p.id) for p in people]

    assert chat_limited == [200, 200, 429] and other_chat == 200
    assert group_limited == [200, 200, 429]
    assert group_only == [200, 200, 200, 429]
    assert whole_bot == [200, 200, 429]


async def test_the_default_limits_hold_a_burst_to_one_chat(fake: FakeTelegram) -> None:
    """RateLimits() as published: a burst to one chat is cut after a few messages; with
    `flood_wait_hold` (TDLib's silent wait) the same burst is slowed down instead."""
    person = fake.add_user("Ann", started=True)
    fake.set_rate_limits(RateLimits())
    strict = [
        (await call(fake, "sendMessage", chat_id=person.id, text="x")).status for _ in range(4)
    ]
    fake.set_rate_limits(RateLimits(flood_wait_hold=8.0, per_chat_per_second=20.0))
    patient = [
        (await call(fake, "sendMessage", chat_id=person.id, text="x")).status for _ in range(5)
    ]

    assert strict == [200, 200, 200, 429]
    assert patient == [200] * 5


async def test_too_many_requests_in_flight_get_429_retry_after_60() -> None:
    """SRV `Client::send` (l. 7963-7982): more than 1000 (+ updates per minute) requests in
    flight -> `fail_query_flood_limit_exceeded` (l. 16262-16269): 3 s later, 429 retry after 60.
    Not for a `--local` server, nor for local methods."""
    async with FakeTelegram(latency=0.3, time_scale=10.0, max_in_flight=2) as fake:
        person = fake.add_user("Ann", started=True)
        answers = await asyncio.gather(
            *(call(fake, "sendMessage", chat_id=person.id, text=str(n)) for n in range(4))
        )
    statuses = sorted(a.status for a in answers)

    assert statuses == [200, 200, 429, 429]
    assert {a.body["parameters"]["retry_after"] for a in answers if a.status == 429} == {60}


async def test_server_errors_as_the_server_and_its_front_end_write_them(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """SRV `get_closing_error` (l. 16294-16297): "Internal Server Error: restart" (AIO raises
    RestartingTelegram); the front end's JSON "Bad Gateway" (tdlib/telegram-bot-api#868) ->
    TelegramServerError; an outage lasts until cleared."""
    fake.force_error(1, 500)
    with pytest.raises(RestartingTelegram):
        await bot.send_message(ann.id, "x")
    fake.force_error(None, 502, method="sendMessage")
    for _ in range(3):
        with pytest.raises(TelegramServerError, match="Bad Gateway"):
            await bot.send_message(ann.id, "x")
    fake.clear_faults()

    assert (await bot.send_message(ann.id, "back")).text == "back"


async def test_the_front_ends_html_502_is_undecodable_for_aiogram(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """api.telegram.org's nginx has answered 502 as text/html (nickoala/telepot#31,
    php-telegram-bot/core#353); AIO `check_response` parses before it looks at the status:
    ClientDecodeError with the text, not TelegramServerError."""
    fake.force_error(1, 502, method="getUpdates", html=True)
    raw = await call(fake, "getUpdates")
    fake.force_error(1, 502, method="sendMessage", html=True)

    with pytest.raises(ClientDecodeError) as caught:
        await bot.send_message(ann.id, "x")

    assert (raw.status, raw.content_type) == (502, "text/html")
    assert "<title>502 Bad Gateway</title>" in raw.text
    assert isinstance(caught.value.data, str) and fake.bot_messages(ann) == []


async def test_a_revoked_token_gets_401_everywhere(fake: FakeTelegram, bot: Bot) -> None:
    """SRV `get_closing_error` (l. 16271-16292): after a revoke every call is `401
    Unauthorized`; a held long poll ends with it."""
    held = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: fake.is_polling, timeout=1)
    fake.revoke_token()

    with pytest.raises(TelegramUnauthorizedError):
        await asyncio.wait_for(held, timeout=1)
    answers = [await call(fake, method) for method in ("getMe", "getUpdates", "sendMessage")]
    async with aiohttp.ClientSession() as http:
        url = f"{fake.url}/file/bot{fake.token}/photos/file_1"
        async with http.get(url) as response:
            file_status = response.status
    fake.restore_token()

    assert {(a.status, a.description) for a in answers} == {(401, "Unauthorized")}
    assert file_status == 401 and (await bot.get_me()).id == fake.bot.id


async def test_latency_is_added_to_every_call_and_delays_to_some() -> None:
    """The latency knob (default 0): real seconds added to every Bot API call; `delay(method,
    s, n)` adds more to the next n calls of one method (a slow getChatMember)."""
    async with FakeTelegram(latency=0.1) as fake:
        bot = make_bot(fake)
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            await bot.get_me()
            plain = loop.time() - started
            fake.delay("getMe", 0.3, n=1)
            started = loop.time()
            await bot.get_me()
            slowed = loop.time() - started
            fake.latency = 0.0
            started = loop.time()
            await bot.get_me()
            fast = loop.time() - started
        finally:
            await bot.session.close()

    assert plain >= 0.1 and slowed >= 0.4 and fast < 0.1
