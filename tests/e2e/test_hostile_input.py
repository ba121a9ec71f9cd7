"""End to end, hostile input on both intakes: the longest text each platform carries, a text of
only emoji, only an entity or only invisible characters, an event with an id missing, the same
event twice. Each gets exactly one answer, or a refusal with a log line; never a crash, a
silence or a second answer.

Lengths are the platforms': Telegram carries at most 4096 characters in a text (the fake
refuses more, see ``FakeTelegram.user_sends``; a forged webhook body over WEB_MAX_BODY_BYTES is
a 413, ``test_fuzz_http``); a Bitrix24 customer may paste 1 MB, which the portal cuts to 20,000
characters (``Message::MESSAGE_MAX_LENGTH``, tests/fakes/bitrix24/world.py) before the bot
hears it.
"""

from __future__ import annotations

import logging

import aiohttp
import pytest
from bitrix24_scenes import handled, scene
from deadline import until
from fakes.telegram_server import FakeTelegram
from test_bitrix24 import inbox_settled, open_chat
from test_telegram import QUESTION, Mode, running
from test_telegram_platform import drained

from knowledge.base import KnowledgeBase

LONGEST = ("как восстановить пароль " * 200)[:4096]
MEGABYTE = "как восстановить пароль " * 45_000


@pytest.mark.parametrize("mode", ["polling", "webhook"])
@pytest.mark.parametrize(
    ("text", "entities"),
    [
        (LONGEST, []),
        ("👍🙏🔥", []),
        ("https://example.com", [{"type": "url", "offset": 0, "length": 19}]),
        ("\u200b\u200b", []),
    ],
    ids=["4096", "emoji", "only-an-entity", "zero-width"],
)
async def test_a_hostile_telegram_text_gets_exactly_one_answer(
    sqlite_db_url: str,
    kb: KnowledgeBase,
    mode: Mode,
    text: str,
    entities: list[dict[str, object]],
) -> None:
    async with running(sqlite_db_url, kb, mode) as w:
        ann = w.fake.add_user("Ann")
        w.fake.user_sends(ann, text, entities=entities)
        answer = await w.fake.wait_for_message(ann, lambda m: bool(m.text))
        await drained(w)  # nothing else is left to send
        assert w.fake.bot_messages(ann) == [answer]


def test_the_fake_refuses_a_text_telegram_would_not_carry() -> None:
    fake = FakeTelegram()
    with pytest.raises(ValueError, match="at most 4096"):
        fake.user_sends(fake.add_user("Ann"), "x" * 4097)


# -- Bitrix24 (webhook mode: the form POSTs can be replayed and changed) ------------------------


async def _repost(form: list[tuple[str, str]], url: str) -> int:
    """The portal's form POST again, as it was or changed (``Sqs::queryItem``'s encoding)."""
    async with aiohttp.ClientSession() as http, http.post(url, data=form) as response:
        await response.read()
        return response.status


@pytest.mark.parametrize("text", [MEGABYTE, "👍🙏🔥", "\u200b"], ids=["1MB", "emoji", "zero-width"])
async def test_a_hostile_bitrix_text_gets_exactly_one_answer(
    sqlite_db_url: str, kb: KnowledgeBase, text: str
) -> None:
    async with scene(sqlite_db_url, kb, "webhook") as (fake, services):
        chat = await open_chat(fake)
        before = len(fake.bot_messages(chat))
        message = await fake.customer_sends(chat, text)
        await handled(fake, services, message)
        (answer,) = fake.bot_messages(chat)[before:]
        assert answer.text


async def test_a_repeated_bitrix_event_is_answered_once(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with scene(sqlite_db_url, kb, "webhook") as (fake, services):
        chat = await open_chat(fake)
        before = len(fake.bot_messages(chat))
        message = await fake.customer_sends(chat, QUESTION)
        await handled(fake, services, message)
        delivery = fake.deliveries[-1]
        assert await _repost(delivery.form, delivery.url) == 200
        await until(lambda: inbox_settled(services), "the repeat worked off")
        assert len(fake.bot_messages(chat)) == before + 1
        assert f"bitrix event stored key=msg:{message.id} chat={chat.id} new=False" in caplog.text


@pytest.mark.parametrize("missing", ["[message]", "[message][id]", "[bot]"])
async def test_a_bitrix_event_without_an_id_it_needs_is_refused_with_a_log_line(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture, missing: str
) -> None:
    # Before: no message id stored the event under "msg:None" (every such event one key);
    # no bot id read the bot, the chat's owner, as an operator who took the chat (silence).
    caplog.set_level(logging.INFO)
    async with scene(sqlite_db_url, kb, "webhook") as (fake, services):
        chat = await open_chat(fake)
        message = await fake.customer_sends(chat, QUESTION)
        await handled(fake, services, message)
        before = len(fake.bot_messages(chat))
        delivery = fake.deliveries[-1]
        form = [
            (k, str(message.id + 1000) if k == "data[message][id]" else v)
            for k, v in delivery.form
            if not k.startswith(f"data{missing}")
        ]
        assert await _repost(form, delivery.url) == 400
        assert "bitrix event refused: message event without" in caplog.text
        await until(lambda: inbox_settled(services), "nothing left to do")
        assert len(fake.bot_messages(chat)) == before
        again = await fake.customer_sends(chat, QUESTION)  # the chat is still the bot's
        await handled(fake, services, again)
        assert len(fake.bot_messages(chat)) == before + 1


async def test_a_fetched_event_without_its_message_id_is_skipped_and_the_next_answered(
    sqlite_db_url: str, kb: KnowledgeBase, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with scene(sqlite_db_url, kb, "fetch") as (fake, services):
        chat = await open_chat(fake)
        before = len(fake.bot_messages(chat))
        data = {
            "chat": {"id": chat.id, "dialogId": chat.dialog_id, "entityType": "LINES"},
            "user": {"id": chat.customer.id},
            "message": {"chatId": chat.id, "text": QUESTION},
        }
        fake.portal.emit(fake.bot("helpbot"), "ONIMBOTV2MESSAGEADD", data)
        message = await fake.customer_sends(chat, QUESTION)
        await handled(fake, services, message)
        assert len(fake.bot_messages(chat)) == before + 1
        assert "bitrix event skipped: message event without message id" in caplog.text
