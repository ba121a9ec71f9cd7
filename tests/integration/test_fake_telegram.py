"""The fake Telegram Bot API server, proved against the real aiogram 3 client."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiogram import Bot, Dispatcher, F, Router, html
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import CallbackQuery, Message
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from fake_telegram_fixtures import ann_fixture, bot_fixture, fake_fixture  # noqa: F401
from fake_telegram_helpers import FAST_WEBHOOK, Receiver, keyboard, make_bot
from fakes.telegram_server import SECRET_HEADER, FakeTelegram, FakeUser, RateLimits

# getMe, tokens, encodings ------------------------------------------------------------------


async def test_get_me_returns_the_bot_of_the_token(fake: FakeTelegram, bot: Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (fake.bot.id, True, "helpbot_test_bot")
    assert fake.calls("getMe")[0].ok


async def test_unknown_token_gets_401(fake: FakeTelegram) -> None:
    stranger = make_bot(fake, token="42:not-a-known-token")
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_methods_are_case_insensitive_and_accept_query_and_json(
    fake: FakeTelegram, ann: FakeUser
) -> None:
    base = f"{fake.url}/bot{fake.token}"
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base}/GETME") as response:
            assert (response.status, (await response.json())["ok"]) == (200, True)
        query = {"chat_id": str(ann.id), "text": "by query"}
        async with http.get(f"{base}/sendmessage", params=query) as response:
            assert response.status == 200
        body = {"chat_id": ann.id, "text": "by json", "reply_markup": {"inline_keyboard": []}}
        async with http.post(f"{base}/sendMessage", json=body) as response:
            assert response.status == 200
        async with http.post(f"{base}/noSuchMethod") as response:
            assert response.status == 404
            assert await response.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }

    assert [m.text for m in fake.bot_messages(ann)] == ["by query", "by json"]


# sendMessage and its errors -----------------------------------------------------------------


async def test_send_message_parses_html_into_text_and_entities(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    sent = await bot.send_message(ann.id, "<b>Hi</b> &amp; <a href='https://x.test'>bye</a>")

    assert sent.text == "Hi & bye"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 2),
        ("text_link", 5, 3),
    ]
    assert sent.from_user is not None and sent.from_user.id == fake.bot.id
    call = fake.calls("sendMessage")[0]
    assert (call.chat_id, call.param("parse_mode"), call.param("disable_web_page_preview")) == (
        ann.id,
        "HTML",
        True,
    )


@pytest.mark.parametrize(
    ("text", "detail"),
    [
        ("<p>x</p>", 'Unsupported start tag "p" at byte offset 0'),
        ("<b>bold", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("ё < 3", 'Unsupported start tag "" at byte offset 3'),
    ],
)
async def test_malformed_html_is_a_bad_request(
    bot: Bot, ann: FakeUser, text: str, detail: str
) -> None:
    with pytest.raises(TelegramBadRequest) as caught:
        await bot.send_message(ann.id, text)

    assert caught.value.message == f"Bad Request: can't parse entities: {detail}"


async def test_text_limits_empty_and_too_long(bot: Bot, ann: FakeUser) -> None:
    await bot.send_message(ann.id, "я" * 4096)
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(ann.id, "я" * 4097)
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(ann.id, "")
    with pytest.raises(TelegramBadRequest, match="text must be non-empty"):
        await bot.send_message(ann.id, "<b></b>")  # empty only after parsing: TDLib's text


async def test_unknown_chat_is_a_bad_request(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="chat not found"):
        await bot.send_message(777, "hello")


async def test_blocked_and_never_started_users_are_forbidden(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    stranger = fake.add_user("Bob")
    fake.block_bot(ann)

    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(ann.id, "hello")
    with pytest.raises(TelegramForbiddenError, match="bot can't initiate conversation"):
        await bot.send_message(stranger.id, "hello")
    updates = await bot.get_updates(allowed_updates=["message", "my_chat_member"])
    member = updates[-1].my_chat_member
    assert member is not None and member.new_chat_member.status == "kicked"


# flood control and injected failures --------------------------------------------------------


async def test_forced_429_raises_retry_after_then_clears(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    fake.force_429(1, retry_after=7)

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(ann.id, "first")
    await bot.send_message(ann.id, "second")

    assert caught.value.retry_after == 7
    assert [c.status for c in fake.calls("sendMessage")] == [429, 200]


async def test_rate_limiter_answers_429_after_the_burst(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    fake.set_rate_limits(RateLimits(per_chat_per_second=1.0, per_chat_burst=2))
    await bot.send_message(ann.id, "one")
    await bot.send_message(ann.id, "two")

    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(ann.id, "three")

    assert caught.value.retry_after >= 1


async def test_forced_502_raises_server_error(fake: FakeTelegram, bot: Bot, ann: FakeUser) -> None:
    fake.force_error(1, 502, method="sendMessage")

    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(ann.id, "hello")


# getUpdates ------------------------------------------------------------------------------


async def test_long_poll_is_held_until_a_user_writes(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda: fake.is_polling, timeout=1)
    assert not poll.done()

    sent = fake.user_sends(ann, "/start a_12")
    updates = await asyncio.wait_for(poll, timeout=1)

    message = updates[0].message
    assert message is not None and message.message_id == sent.message_id
    assert message.text == "/start a_12"
    assert message.entities is not None and message.entities[0].type == "bot_command"
    assert message.from_user is not None and message.from_user.id == ann.id


async def test_long_poll_returns_empty_when_nothing_arrives(bot: Bot) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()

    assert await bot.get_updates(timeout=2) == []  # held 2 s x poll_hold_scale 0.1
    assert 0.15 <= loop.time() - started < 0.9


async def test_offset_confirms_earlier_updates(fake: FakeTelegram, bot: Bot, ann: FakeUser) -> None:
    for text in ("one", "two", "three"):
        fake.user_sends(ann, text)

    first = await bot.get_updates()
    ids = [u.update_id for u in first]
    again = await bot.get_updates(offset=ids[-1])
    after = await bot.get_updates(offset=ids[-1] + 1)

    assert ids == sorted(ids) and len(ids) == 3 and ids[2] - ids[0] == 2
    assert [u.update_id for u in again] == [ids[-1]]
    assert after == [] and fake.pending_updates == []


async def test_negative_offset_keeps_only_the_last_updates(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    for text in ("one", "two", "three"):
        fake.user_sends(ann, text)

    updates = await bot.get_updates(offset=-1)

    assert [u.message.text for u in updates if u.message] == ["three"]


async def test_allowed_updates_filters_new_updates(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    fake.user_sends(ann, "not wanted")

    assert fake.pending_updates == []


async def test_a_second_poll_terminates_the_first_with_409(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await fake.wait_for(lambda: fake.is_polling, timeout=1)
    second = asyncio.create_task(bot.get_updates(offset=1, timeout=5))

    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates request"):
        await asyncio.wait_for(first, timeout=1)
    fake.user_sends(ann, "hi")
    assert len(await asyncio.wait_for(second, timeout=1)) == 1


async def test_get_updates_conflicts_with_a_webhook(bot: Bot) -> None:
    await bot.set_webhook("http://127.0.0.1:9/tg/webhook")

    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == []


# webhooks -------------------------------------------------------------------------------------


async def test_webhook_delivers_updates_with_the_secret_header(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    async with Receiver([]) as receiver:
        await bot.set_webhook(receiver.url, secret_token="s3cret_-token")
        sent = fake.user_sends(ann, "hello")

        await fake.wait_for(lambda: receiver.requests and not fake.pending_updates, timeout=2)
        info = await bot.get_webhook_info()
        await bot.delete_webhook()

    headers, body = receiver.requests[0]
    assert headers[SECRET_HEADER] == "s3cret_-token"
    assert body["message"]["message_id"] == sent.message_id
    assert (info.url, info.pending_update_count) == (receiver.url, 0)


async def test_webhook_retries_failures_and_records_the_error(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    async with Receiver([500, 401]) as receiver:
        await bot.set_webhook(receiver.url, secret_token="abc")
        fake.user_sends(ann, "hello")

        await fake.wait_for(lambda: len(receiver.requests) == 3, timeout=2)
        await fake.wait_for(lambda: not fake.pending_updates, timeout=2)
        info = await bot.get_webhook_info()
        await bot.delete_webhook()

    ids = {body["update_id"] for _headers, body in receiver.requests}
    assert len(ids) == 1
    assert info.last_error_message == "Wrong response from the webhook: 401 Unauthorized"


async def test_webhook_keeps_failing_updates_pending_until_given_up(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    async with Receiver([401] * 10) as receiver:
        await bot.set_webhook(receiver.url, secret_token="abc")
        fake.user_sends(ann, "hello")

        await fake.wait_for(lambda: fake.webhook_dropped, timeout=2)
        await bot.delete_webhook()

    assert len(receiver.requests) == FAST_WEBHOOK.max_attempts
    assert fake.pending_updates == []


async def test_webhook_reply_method_is_executed(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    reply = {"method": "sendMessage", "chat_id": ann.id, "text": "from the reply"}
    async with Receiver([], reply=reply) as receiver:
        await bot.set_webhook(receiver.url)
        fake.user_sends(ann, "hello")

        call = await fake.wait_for_call("sendMessage", timeout=2)
        await bot.delete_webhook()

    assert call.via_webhook_reply and call.ok
    assert fake.bot_messages(ann)[-1].text == "from the reply"


async def test_set_webhook_validates_url_and_secret(fake: FakeTelegram, bot: Bot) -> None:
    """SRV `do_set_webhook` (Client.cpp l. 16001-16024); every setWebhook with a URL counts for
    the 1-second limit, refused or not (`process_set_webhook_query`, l. 15733-15738)."""
    with pytest.raises(TelegramBadRequest, match="invalid webhook URL specified"):
        await bot.set_webhook("ftp://127.0.0.1/hook")
    fake.advance(1)
    with pytest.raises(TelegramBadRequest, match="secret token contains unallowed characters"):
        await bot.set_webhook("http://127.0.0.1:9/hook", secret_token="bad secret!")


# forum topics, members ------------------------------------------------------------------------


async def test_forum_topic_create_send_close_reopen_delete(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    operator = fake.add_user("Olga")
    group = fake.add_forum_group("Support", members=[operator])

    """A bot that manages topics may still post into a closed one (TD ForumTopicManager.cpp
    `can_send_message_to_forum_topic`, l. 1245-1255; python-telegram-bot's live
    `test_close_and_reopen_forum_topic`); a deleted topic is TOPIC_DELETED while TDLib's
    60-second cache holds it, then "message thread not found" (SRV `check_message_topic`)."""
    topic = await bot.create_forum_topic(group.id, "Ann: how to export?")
    sent = await bot.send_message(group.id, "ticket", message_thread_id=topic.message_thread_id)
    await bot.close_forum_topic(group.id, topic.message_thread_id)
    late = await bot.send_message(group.id, "late", message_thread_id=topic.message_thread_id)
    await bot.reopen_forum_topic(group.id, topic.message_thread_id)
    fake.delete_topic(group, topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="TOPIC_DELETED"):
        await bot.send_message(group.id, "gone", message_thread_id=topic.message_thread_id)
    fake.advance(61)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(group.id, "gone", message_thread_id=topic.message_thread_id)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_message(group.id, "general", message_thread_id=1)

    assert late.message_thread_id == topic.message_thread_id
    assert topic.name == "Ann: how to export?" and topic.message_thread_id > 1
    assert (sent.message_thread_id, sent.is_topic_message) == (topic.message_thread_id, True)
    root = sent.reply_to_message
    assert root is not None and root.forum_topic_created is not None


async def test_operator_message_in_a_topic_arrives_as_a_topic_update(
    fake: FakeTelegram, bot: Bot
) -> None:
    operator = fake.add_user("Olga")
    group = fake.add_forum_group("Support", members=[operator])
    topic = await bot.create_forum_topic(group.id, "ticket 1")

    fake.operator_sends(group, topic.message_thread_id, operator, "Здравствуйте!")
    updates = await bot.get_updates()

    created = updates[0].message  # the bot's own service message comes first (SRV l. 17411)
    assert created is not None and created.forum_topic_created is not None
    message = updates[1].message
    assert message is not None and message.chat.is_forum
    assert (message.message_thread_id, message.is_topic_message) == (topic.message_thread_id, True)
    assert message.reply_to_message is not None
    assert message.reply_to_message.message_id == topic.message_thread_id


async def test_create_forum_topic_needs_a_forum_and_rights(fake: FakeTelegram, bot: Bot) -> None:
    plain = fake.add_forum_group("Plain", is_forum=False)
    powerless = fake.add_forum_group("Powerless", bot_rights={"can_manage_topics": False})

    with pytest.raises(TelegramBadRequest, match="not a forum"):
        await bot.create_forum_topic(plain.id, "x")
    with pytest.raises(TelegramBadRequest, match="not enough rights"):
        await bot.create_forum_topic(powerless.id, "x")


async def test_get_chat_and_get_chat_member(fake: FakeTelegram, bot: Bot) -> None:
    operator, stranger = fake.add_user("Olga"), fake.add_user("Eve")
    group = fake.add_forum_group("Support", members=[operator])

    chat = await bot.get_chat(group.id)
    me = await bot.get_chat_member(group.id, fake.bot.id)
    member = await bot.get_chat_member(group.id, operator.id)
    outsider = await bot.get_chat_member(group.id, stranger.id)

    assert (chat.type, chat.is_forum, chat.title) == ("supergroup", True, "Support")
    assert me.status == "administrator" and getattr(me, "can_manage_topics", False)
    assert (member.status, outsider.status) == ("member", "left")


# keyboards, callbacks, edits, copies ------------------------------------------------------------


async def test_callback_data_over_64_bytes_is_rejected(bot: Bot, ann: FakeUser) -> None:
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(ann.id, "pick", reply_markup=keyboard("x" * 65))
    await bot.send_message(ann.id, "pick", reply_markup=keyboard("ж" * 32))


async def test_press_button_and_answer_callback_query(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    await bot.send_message(ann.id, "Did it help?", reply_markup=keyboard("fb:up:12", "fb:down:12"))
    message = await fake.wait_for_message(ann, lambda m: "fb:up:12" in m.callback_data)

    query = fake.press_button(ann, message, "fb:up:12")
    updates = await bot.get_updates(allowed_updates=["message", "callback_query"])
    callback = updates[0].callback_query
    assert callback is not None and callback.data == "fb:up:12"
    assert callback.message is not None and callback.message.message_id == message.message_id
    await bot.answer_callback_query(callback.id, text="Thanks!")
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(callback.id)
    with pytest.raises(ValueError, match="no button"):
        fake.press_button(ann, message, "fb:maybe:12")

    assert query.answered and query.answer is not None and query.answer["text"] == "Thanks!"


async def test_edits_and_message_is_not_modified(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    sent = await bot.send_message(ann.id, "Did it help?", reply_markup=keyboard("fb:up:1"))

    await bot.edit_message_reply_markup(chat_id=ann.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_reply_markup(chat_id=ann.id, message_id=sent.message_id)
    edited = await bot.edit_message_text("Thanks!", chat_id=ann.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text("Thanks!", chat_id=ann.id, message_id=sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=ann.id, message_id=999)

    assert not isinstance(edited, bool) and edited.edit_date is not None
    stored = fake.bot_messages(ann)[0]
    assert (stored.text, stored.reply_markup) == ("Thanks!", None)


async def test_copy_message_relays_a_photo_into_a_topic(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    group = fake.add_forum_group("Support")
    topic = await bot.create_forum_topic(group.id, "ticket")
    photo = fake.user_sends_photo(ann, caption="screenshot")

    copied = await bot.copy_message(
        group.id, ann.id, photo.message_id, message_thread_id=topic.message_thread_id
    )

    relayed = fake.bot_messages(group, thread_id=topic.message_thread_id)[-1]
    assert relayed.message_id == copied.message_id
    assert (relayed.caption, "photo" in relayed.media) == ("screenshot", True)
    with pytest.raises(TelegramBadRequest, match="message to copy not found"):
        await bot.copy_message(group.id, ann.id, 999)


async def test_chat_action_photo_and_document(fake: FakeTelegram, bot: Bot, ann: FakeUser) -> None:
    photo = fake.user_sends_photo(ann)
    file_id = photo.media["photo"][-1]["file_id"]

    assert await bot.send_chat_action(ann.id, "typing")
    sent = await bot.send_photo(ann.id, file_id, caption="<i>same</i>")
    document = await bot.send_document(ann.id, file_id)
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(ann.id, "dancing")

    assert sent.photo is not None and sent.caption == "same"
    assert document.document is not None
    stored = await bot.get_file(file_id)
    assert stored.file_path is not None
    downloaded = await bot.download_file(stored.file_path)
    assert downloaded is not None and len(downloaded.read()) == 2048


async def test_wait_for_times_out_with_the_recent_calls(fake: FakeTelegram, bot: Bot) -> None:
    await bot.get_me()

    with pytest.raises(TimeoutError, match=r"getMe\(None\) -> 200"):
        await fake.wait_for(lambda: fake.calls("sendMessage"), timeout=0.1)


# the real aiogram Dispatcher, in both modes -----------------------------------------------------


def _echo_dispatcher() -> Dispatcher:
    router = Router(name=__name__)

    @router.message(F.text)
    async def on_text(message: Message) -> None:
        await message.answer(f"echo: {html.quote(message.text or '')}", reply_markup=keyboard("ok"))

    @router.callback_query(F.data == "ok")
    async def on_ok(query: CallbackQuery) -> None:
        await query.answer("noted")

    dispatcher = Dispatcher()
    dispatcher.include_router(router)
    return dispatcher


async def test_aiogram_polling_round_trip(fake: FakeTelegram, bot: Bot, ann: FakeUser) -> None:
    dispatcher = _echo_dispatcher()
    polling = asyncio.create_task(
        dispatcher.start_polling(
            bot, polling_timeout=5, handle_signals=False, close_bot_session=False
        )
    )
    try:
        await fake.wait_for(lambda: fake.is_polling, timeout=2)
        fake.user_sends(ann, "2 < 3")
        reply = await fake.wait_for_message(ann, timeout=2)
        query = fake.press_button(ann, reply, "ok")
        await fake.wait_for(lambda: query.answered, timeout=2)
    finally:
        await dispatcher.stop_polling()
        await asyncio.wait_for(polling, timeout=2)

    assert reply.text == "echo: 2 < 3"
    assert query.answer is not None and query.answer["text"] == "noted"
    polls = fake.calls("getUpdates")
    assert polls[0].param("allowed_updates") == ["callback_query", "message"]


async def test_aiogram_webhook_round_trip(fake: FakeTelegram, bot: Bot, ann: FakeUser) -> None:
    dispatcher = _echo_dispatcher()
    app = web.Application()
    SimpleRequestHandler(dispatcher, bot, secret_token="hook-secret").register(app, "/tg")
    runner = web.AppRunner(app, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/tg"
        await bot.set_webhook(url, secret_token="hook-secret")
        fake.user_sends(ann, "hi")
        reply = await fake.wait_for_message(ann, timeout=2)
        await bot.delete_webhook()
        fake.advance(1)  # setWebhook again within 1 s is a 429 (SRV l. 15733-15738)
        await bot.set_webhook(url, secret_token="wrong-secret")
        fake.user_sends(ann, "lost")
        error = await fake.wait_for(lambda: fake.webhook_info()["last_error_message"], timeout=2)
        await bot.delete_webhook()
    finally:
        await runner.cleanup()

    assert reply.text == "echo: hi"
    assert error == "Wrong response from the webhook: 401 Unauthorized"
    assert fake.pending_updates[0]["message"]["text"] == "lost"
