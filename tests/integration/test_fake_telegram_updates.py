"""The fake Telegram Bot API's update transport, checked over HTTP against its sources: updates of a
newer Bot API, unreadable answers, getUpdates conflicts, update lifetimes and webhook URL rules
(issue 13 points 7 and 9).

SRV = tdlib/telegram-bot-api telegram-bot-api/Client.cpp (10.0); AIO = aiogram 3.31.
"""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.exceptions import ClientDecodeError, TelegramConflictError
from fake_telegram_fixtures import ann_fixture, bot_fixture, fake_fixture  # noqa: F401
from fake_telegram_helpers import Receiver, call, keyboard, make_bot
from fakes.telegram_server import FUTURE_ORIGIN_TYPE, FakeTelegram, FakeUser


async def test_a_newer_tagged_union_value_makes_aiogram_reject_the_whole_batch(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """AIO `BaseSession.check_response` validates `list[Update]` at once; MessageOriginUnion is a
    discriminated union (`message_origin_union.py`), so an unknown `type` fails the batch, while
    the server sends the update as it is."""
    fake.user_sends(ann, "first", extra={"forward_origin": fake.future_origin()})
    fake.user_sends(ann, "second")

    with pytest.raises(ClientDecodeError) as caught:
        await bot.get_updates()
    fake.advance(1)  # the same offset again within 0.5 s would get limit=1 (SRV l. 15717)
    raw = await call(fake, "getUpdates")

    assert isinstance(caught.value.data, dict) and caught.value.data["ok"] is True
    updates = raw.result
    assert [u["message"]["text"] for u in updates] == ["first", "second"]
    assert updates[0]["message"]["forward_origin"]["type"] == FUTURE_ORIGIN_TYPE


async def test_a_newer_tagged_union_value_reaches_the_webhook_as_sent(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """The same update in webhook mode: POSTed verbatim (SRV `WebhookActor` sends the queued
    JSON); whether the receiver can parse it is the bot's business."""
    async with Receiver([]) as receiver:
        await bot.set_webhook(receiver.url)
        fake.user_sends(ann, "hello", extra={"forward_origin": fake.future_origin()})
        await fake.wait_for(lambda: receiver.requests and not fake.pending_updates, timeout=2)
        await bot.delete_webhook()

    _headers, body = receiver.requests[0]
    assert body["message"]["forward_origin"]["type"] == FUTURE_ORIGIN_TYPE
    assert body["message"]["text"] == "hello"


async def test_push_raw_update_queues_any_update_as_given(fake: FakeTelegram) -> None:
    """An update kind newer than the client: queued and served like any other."""
    update_id = fake.push_raw_update("future_update", {"chat": {"id": 5}, "payload": 1})

    updates = (await call(fake, "getUpdates")).result

    assert updates == [{"update_id": update_id, "future_update": {"chat": {"id": 5}, "payload": 1}}]


async def test_an_unknown_tag_in_a_successful_result_is_still_a_send(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """`next_result(..., "unknown_tag")`: the message is sent, but AIO `check_response` cannot
    validate the result and raises ClientDecodeError with the decoded dict (`ok: true`)."""
    fake.next_result("sendMessage", "unknown_tag")

    with pytest.raises(ClientDecodeError) as caught:
        await bot.send_message(ann.id, "hello")
    await bot.send_message(ann.id, "again")

    data = caught.value.data
    assert isinstance(data, dict) and data["ok"] is True
    assert data["result"]["forward_origin"]["type"] == FUTURE_ORIGIN_TYPE
    assert [m.text for m in fake.bot_messages(ann)] == ["hello", "again"]
    assert fake.calls("sendMessage")[0].shaped == "unknown_tag"


async def test_a_truncated_successful_body_is_undecodable_but_sent(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """`next_result(..., "not_json")`: 200 with a cut body; AIO raises ClientDecodeError with the
    text (`Failed to decode object`): nothing tells the bot the message went out."""
    fake.next_result("sendMessage", "not_json")

    with pytest.raises(ClientDecodeError) as caught:
        await bot.send_message(ann.id, "hello")

    assert isinstance(caught.value.data, str)
    assert [m.text for m in fake.bot_messages(ann)] == ["hello"]


async def test_an_answer_that_is_ready_leaves_the_held_poll_alone(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """SRV `do_get_updates` (l. 16382-16392): only a request that itself goes to long poll
    (`timeout != 0 && updates.size() == 0`) calls `abort_long_poll`."""
    held = asyncio.create_task(bot.get_updates(timeout=10))
    await fake.wait_for(lambda: fake.is_polling, timeout=1)

    assert await bot.get_updates(offset=1, timeout=0) == []
    await asyncio.sleep(0.05)
    assert not held.done() and fake.is_polling
    fake.user_sends(ann, "hi")
    assert len(await asyncio.wait_for(held, timeout=1)) == 1
    assert fake.conflicts == 0


async def test_conflicts_come_at_most_one_per_three_seconds() -> None:
    """SRV `fail_query_conflict` (l. 16238-16251): a 409 within 3 s of the previous one is only
    sent after a 3-second sleep; the text names the cause (`abort_long_poll`, l. 16229-16233)."""
    async with FakeTelegram(poll_hold_scale=0.1, time_scale=10.0) as fake:
        bot = make_bot(fake)
        try:
            first = asyncio.create_task(bot.get_updates(timeout=30))
            await fake.wait_for(lambda: fake.is_polling, timeout=1)
            second = asyncio.create_task(bot.get_updates(offset=1, timeout=30))
            with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
                await asyncio.wait_for(first, timeout=1)
            loop = asyncio.get_running_loop()
            started = loop.time()
            third = asyncio.create_task(bot.get_updates(offset=2, timeout=30))
            with pytest.raises(TelegramConflictError, match="only one bot instance is running"):
                await asyncio.wait_for(second, timeout=2)
            waited = loop.time() - started
            third.cancel()
        finally:
            await bot.session.close()

    assert waited >= 0.25  # 3 s of server time at time_scale 10
    assert fake.conflicts == 2


async def test_a_message_update_lives_a_day_from_its_date_a_press_150_seconds(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """SRV l. 17053 (`message_date + 86400 - now`) and l. 17155-17158 (callback queries, 150 s);
    a message older than a day is never queued (l. 17447-17452)."""
    card = await bot.send_message(ann.id, "pick", reply_markup=keyboard("a"))
    fake.press_button(ann, fake.history(ann)[-1], "a")
    question = fake.user_sends(ann, "question")
    fake.advance(151)
    kinds = [next(k for k in u if k != "update_id") for u in fake.pending_updates]
    fake.advance(86_400)
    left = fake.pending_updates
    stale = {"message_id": 99, "date": question.date - 86_401, "chat": {"id": ann.id}}

    assert card.message_id > 0 and kinds == ["message"]
    assert left == []
    assert fake.push_raw_update("message", stale) is None


async def test_outside_local_mode_a_webhook_must_be_public_https_on_allowed_ports() -> None:
    """SRV `WebhookActor::start_up` (WebhookActor.cpp l. 705-716) and `check_ip_address`
    (l. 772-786), reported as `Bad Request: bad webhook: ...` (`on_webhook_closed`,
    Client.cpp l. 15959-15962); skipped by a `--local` server."""
    async with FakeTelegram() as fake:
        refusals = []
        for url in (
            "http://bot.example.com/hook",
            "https://bot.example.com:8080/hook",
            "https://127.0.0.1/hook",
        ):
            refusals.append((await call(fake, "setWebhook", url=url)).description)
            fake.advance(1)
        accepted = await call(fake, "setWebhook", url="https://bot.example.com:8443/hook")
        fake.user_sends(fake.add_user("Ann", started=True), "waits: nobody is contacted")
        info = (await call(fake, "getWebhookInfo")).result

    assert refusals == [
        "Bad Request: bad webhook: An HTTPS URL must be provided for webhook",
        "Bad Request: bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443",
        "Bad Request: bad webhook: IP address 127.0.0.1 is reserved",
    ]
    assert accepted.result is True
    assert (info["url"], info["pending_update_count"]) == ("https://bot.example.com:8443/hook", 1)


async def test_set_webhook_twice_within_a_second_is_flood_controlled(fake: FakeTelegram) -> None:
    """SRV `process_set_webhook_query` (l. 15733-15738): any setWebhook with a URL within 1 s of
    the previous one -> 429 retry after 1; the same parameters again -> true, nothing changed
    (l. 15757-15770)."""
    url = "http://127.0.0.1:9/hook"
    first = await call(fake, "setWebhook", url=url)
    again = await call(fake, "setWebhook", url=url)
    fake.advance(1)
    same = await call(fake, "setWebhook", url=url)

    assert first.result is True and same.result is True
    assert (again.status, again.headers["Retry-After"]) == (429, "1")
    assert again.body["parameters"] == {"retry_after": 1}
