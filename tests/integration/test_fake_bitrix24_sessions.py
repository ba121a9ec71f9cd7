"""FakeBitrix24 over plain HTTP: who holds an open-line session, and every connector on the line.

Each test names its source in ``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision 33).
"""

from __future__ import annotations

from typing import Any

import pytest
from fake_b24_http import Rest, fake_fixture, http_fixture, rest_fixture, types  # noqa: F401 (fixtures)
from fakes.bitrix24 import FakeBitrix24, FakeChat


async def last_chat(rest: Rest, bot_id: int) -> dict[str, Any]:
    return dict((await rest.events(bot_id))[-1]["data"]["chat"])


async def owner_seen_by_the_bot(rest: Rest, bot_id: int, chat: FakeChat) -> int:
    answer = await rest("imbot.v2.Chat.get", {"botId": bot_id, "dialogId": chat.dialog_id})
    return int(answer.result["chat"]["owner"])


async def test_the_bot_owns_the_chat_during_its_session(fake: FakeBitrix24, rest: Rest) -> None:
    """A session with the welcome bot: ``OPERATOR_ID`` and the chat's ``AUTHOR_ID`` are the bot
    (``imopenlines/lib/queue/queue.php:462-476``, ``session.php:958-960``); events carry it as
    ``chat.owner`` (``im/lib/V2/Chat.php:3606``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    assert (await last_chat(rest, bot_id))["owner"] == bot_id
    assert await owner_seen_by_the_bot(rest, bot_id, chat) == bot_id


@pytest.mark.parametrize(("bot_left", "stays"), [("queue", False), ("close", True)])
async def test_handing_to_the_queue_clears_the_owner(
    fake: FakeBitrix24, rest: Rest, bot_left: str, stays: bool
) -> None:
    """``imopenlines.bot.session.operator`` → ``endBotSession`` (``imopenlines/lib/chat.php:
    573-620``): the bot leaves unless ``WELCOME_BOT_LEFT=close``, where it stays a member and
    ``SetOwner(chat, 0)``."""
    bot_id = await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left=bot_left)
    chat = await fake.open_line_chat()
    assert (await rest("imopenlines.bot.session.operator", {"CHAT_ID": chat.id})).result is True
    assert (chat.owner, bot_id in chat.members) == (0, stays)


@pytest.mark.parametrize(("bot_left", "heard"), [("queue", []), ("close", [0])])
async def test_after_the_hand_off_the_bot_hears_the_customer_only_while_it_is_a_member(
    fake: FakeBitrix24, rest: Rest, bot_left: str, heard: list[int]
) -> None:
    """ONIMBOTV2MESSAGEADD "occurs when a user sends a message in a chat that the bot is part
    of" (b24restdocs ``chat-bots-v2/imbot.v2/events/events.md``; ``Bot::getBotsForMessage``
    takes the chat's member bots, ``im/lib/bot.php:2007-2086``): once the hand-off made it leave
    (``WELCOME_BOT_LEFT=queue``) nothing the customer writes to the line reaches the bot; a bot
    kept until the session closes hears it, with the queue (0) as the chat's owner."""
    bot_id = await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left=bot_left)
    chat = await fake.open_line_chat()
    before = len(await rest.events(bot_id))
    await rest("imopenlines.bot.session.operator", {"CHAT_ID": chat.id})
    await fake.customer_sends(chat, "Алло, есть кто?")
    events = (await rest.events(bot_id))[before:]
    assert [e["data"]["chat"]["owner"] for e in events] == heard
    assert types(events) == ["ONIMBOTV2MESSAGEADD"] * len(heard)


async def test_an_intercept_gives_the_chat_to_the_operator_and_the_bot_still_hears(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Chat::intercept`` → ``answer(op)`` (``chat.php:327-511``): the owner becomes the
    operator; the bot stays with ``WELCOME_BOT_LEFT=close``; system notices never reach bots
    (``im/lib/command.php:307``), so the next thing the bot sees is the customer's message,
    with ``chat.owner`` the operator (``im/lib/bot.php:2007-2086``)."""
    bot_id = await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left="close")
    chat = await fake.open_line_chat()
    operator = fake.add_operator()
    before = len(await rest.events(bot_id))
    assert await fake.intercept(chat, operator)
    await fake.customer_sends(chat, "Алло?")
    events = (await rest.events(bot_id))[before:]
    assert types(events) == ["ONIMBOTV2MESSAGEADD"]
    assert events[0]["data"]["chat"]["owner"] == operator.id
    assert bot_id in chat.members and chat.owner == operator.id


async def test_an_answer_with_bot_left_queue_removes_the_welcome_bot(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``answer()`` removes the line's welcome bot only when ``WELCOME_BOT_LEFT=queue``
    (``chat.php:399-404``), and every real operator but the one answering."""
    await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left="queue")
    chat = await fake.open_line_chat()
    first, second = fake.add_operator("A"), fake.add_operator("B")
    await fake.operator_joins(chat, first)
    assert await fake.operator_answers(chat, second)
    assert chat.members == {chat.customer.id, second.id}


async def test_a_joining_operator_leaves_the_owner_alone(fake: FakeBitrix24, rest: Rest) -> None:
    """``imopenlines.session.join`` → ``Chat::join`` (``operator.php:465-477``,
    ``chat.php:1209-1220``) adds a member only; writing then does not take the chat either while
    it has an owner (``session.php:527-537`` answers only when ``AUTHOR_ID == 0``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    operator = fake.add_operator()
    await fake.operator_joins(chat, operator)
    await fake.operator_sends(chat, "Я здесь", operator=operator)
    event = (await rest.events(bot_id))[-1]["data"]
    assert (event["user"]["id"], event["user"]["bot"], event["user"]["connector"]) == (
        operator.id,
        False,
        False,
    )
    assert (event["chat"]["owner"], chat.owner) == (bot_id, bot_id)


async def test_an_operator_writing_in_an_ownerless_chat_takes_it(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Session::update`` in ``MODE_OUTPUT`` (``session.php:527-537``): while ``AUTHOR_ID`` is 0
    the writing operator is answered in (``answer`` then ``join``)."""
    await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left="close")
    chat = await fake.open_line_chat()
    await rest("imopenlines.bot.session.operator", {"CHAT_ID": chat.id})
    operator = fake.add_operator()
    await fake.operator_sends(chat, "Слушаю", operator=operator)
    assert chat.owner == operator.id


async def test_the_queue_assigns_a_chat_after_the_bot_session_timed_out(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """WELCOME_BOT_TIME: the line ends the bot's session itself (``endBotSession``), then the
    queue waits for an operator: ``Chat::waitAnswer`` sets ``AUTHOR_ID`` (``chat.php:624-630``);
    with ``close`` the bot is still a member and hears the customer."""
    bot_id = await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left="close")
    chat = await fake.open_line_chat()
    assert await fake.bot_session_times_out(chat)
    operator = fake.add_operator()
    await fake.queue_assigns(chat, operator)
    await fake.customer_sends(chat, "Есть кто?")
    assert (await last_chat(rest, bot_id))["owner"] == operator.id


async def test_session_operator_needs_a_bot_holding_the_session(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``botSessionOperator`` (``imopenlines/lib/rest.php:754-777``): ``endBotSession`` acts only
    while the session's operator is a bot, else 400 ``WRONG_CHAT`` "Operator is not a bot"."""
    await rest.bot()
    chat = await fake.open_line_chat()
    await fake.intercept(chat, fake.add_operator())
    answer = await rest("imopenlines.bot.session.operator", {"chat_id": chat.id})
    assert (answer.status, answer.error) == (400, "WRONG_CHAT")


async def test_session_finish_takes_the_chat_from_an_operator_first(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``botSessionFinish`` (``rest.php:876-903``): ``answer(bot)`` then ``finish()`` with no
    ownership check — the operators are removed and the session closed; always ``true``."""
    bot_id = await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left="close")
    chat = await fake.open_line_chat()
    operator = fake.add_operator()
    await fake.intercept(chat, operator)
    finish = {"CHAT_ID": chat.id, "CLIENT_ID": rest.token}
    assert (await rest("imopenlines.bot.session.finish", finish)).result is True
    [record] = fake.transfers
    assert (record.kind, record.bot_id, record.stolen_from) == ("finish", bot_id, operator.id)
    assert chat.session.state == "closed" and operator.id not in chat.members


async def test_session_finish_and_transfer_name_the_bot_by_client_id(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """Over a webhook ``resolveClientId`` needs ``CLIENT_ID`` (403 ``ACCESS_DENIED`` "Client ID
    not specified"), then ``getBotIdByAppId`` takes the app's first bot (``BOT_ID_ERROR`` when
    none) (``rest.php:2393-2409``, ``im/lib/bot.php:2132-2153``)."""
    await rest.bot()
    chat = await fake.open_line_chat()
    missing = await rest("imopenlines.bot.session.finish", {"CHAT_ID": chat.id})
    assert (missing.status, missing.error) == (403, "ACCESS_DENIED")
    nobody = {"CHAT_ID": chat.id, "CLIENT_ID": "no-such-token"}
    answer = await rest("imopenlines.bot.session.finish", nobody)
    assert (answer.status, answer.error) == (400, "BOT_ID_ERROR")


async def test_session_transfer_reads_its_keys_as_given(fake: FakeBitrix24, rest: Rest) -> None:
    """``botSessionTransfer`` (``rest.php:799-874``) does not upper-case its keys:
    ``chat_id`` is no ``CHAT_ID``; a queue transfer sets the owner to 0 and keeps the bot
    (``Chat::transferToQueue``, ``chat.php:709-760``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    lower = await rest("imopenlines.bot.session.transfer", {"chat_id": chat.id, "QUEUE_ID": 1})
    assert (lower.status, lower.error) == (400, "CHAT_ID_EMPTY")
    moved = {"CHAT_ID": chat.id, "QUEUE_ID": 1, "CLIENT_ID": rest.token}
    assert (await rest("imopenlines.bot.session.transfer", moved)).result is True
    assert (chat.owner, bot_id in chat.members, fake.transfers[-1].target) == (0, True, "queue1")


async def test_chat_get_shows_owner_and_session_and_refuses_outsiders(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``imbot.v2.Chat.get`` (``imbot/lib/V2/Controller/Chat.php:110-118``): ``owner`` and
    ``entityData1`` (field 6 the session id, ``imopenlines/lib/chat.php:2358-2420``); a chat
    without the bot is ``ACCESS_DENIED`` (method page), HTTP 400."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat()
    got = (await rest("imbot.v2.Chat.get", {"botId": bot_id, "dialogId": chat.dialog_id})).result
    assert got["chat"]["entityData1"].split("|")[5] == str(chat.session.id)
    await rest("imopenlines.bot.session.operator", {"CHAT_ID": chat.id})
    gone = await rest("imbot.v2.Chat.get", {"botId": bot_id, "dialogId": chat.dialog_id})
    assert (gone.status, gone.error) == (400, "ACCESS_DENIED")


@pytest.mark.parametrize("connector", ["livechat", "telegrambot", "whatsappbyedna", "avito"])
async def test_the_entity_id_starts_with_the_connector_code(
    fake: FakeBitrix24, rest: Rest, connector: str
) -> None:
    """``entityId`` = ``connector|line|connectorChatId|userId`` (``Connector::getUserCode``,
    ``imopenlines/lib/connector.php:1207-1210``; ids from ``imconnector/lib/library.php:28-46``);
    the fourth field is the customer, a connector user either way."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat(connector=connector)
    await fake.customer_sends(chat, "Привет")
    data = (await rest.events(bot_id))[-1]["data"]
    code, line, _, user = data["chat"]["entityId"].split("|")
    assert (code, line, user) == (connector, "1", str(data["user"]["id"]))
    assert data["user"]["connector"] is True


async def test_a_bare_zero_reaches_the_bot_then_ends_its_session(
    fake: FakeBitrix24, rest: Rest
) -> None:
    """``Bot::onMessageAdd`` (``im/lib/bot.php:833-841``) delivers the message to the bots
    first, then a trimmed ``0`` in a LINES chat calls ``endBotSession`` (owner 0)."""
    bot_id = await rest.bot()
    fake.configure_line(1, welcome_bot="helpbot", bot_left="close")
    chat = await fake.open_line_chat(connector="telegrambot")
    await fake.customer_sends(chat, " 0 ")
    event = (await rest.events(bot_id))[-1]["data"]
    assert (event["message"]["text"], event["chat"]["owner"]) == ("0", bot_id)
    assert (chat.owner, chat.session.state) == (0, "queue")


async def test_a_typed_number_arrives_as_text(fake: FakeBitrix24, rest: Rest) -> None:
    """A connector customer's ``2`` is an ordinary ONIMBOTV2MESSAGEADD (no command, no vote:
    the vote rule needs a closed session waiting for a rating, ``connector.php:121-138``)."""
    bot_id = await rest.bot()
    chat = await fake.open_line_chat(connector="telegrambot")
    await fake.customer_sends(chat, "2")
    event = (await rest.events(bot_id))[-1]
    assert (event["type"], event["data"]["message"]["text"]) == ("ONIMBOTV2MESSAGEADD", "2")


@pytest.mark.parametrize(("connector", "text"), [("telegrambot", "[like]"), ("livechat", "1")])
async def test_a_one_after_the_session_is_a_vote_except_in_the_widget(
    fake: FakeBitrix24, rest: Rest, connector: str, text: str
) -> None:
    """``Connector::addMessage`` (``connector.php:121-138, 426-470``): on a connector not in
    ``$noVote = [livechat]``, ``1``/``0`` while the closed session waits for a rating is a vote
    and its text becomes ``[like]``/``[dislike]``."""
    await rest.bot()
    chat = await fake.open_line_chat(connector=connector)
    await fake.await_vote(chat)
    said = await fake.customer_sends(chat, "1")
    assert said.text == text


async def test_the_line_may_sign_the_bot_messages(fake: FakeBitrix24, rest: Rest) -> None:
    """With the line's signature on, a connector gets ``[b]<name>:[/b] [br]`` before the text
    (``isEnableSendMessageWithSignature``, ``connector.php:1800-1810``)."""
    bot_id = await rest.bot()
    fake.configure_line(1, signature=True)
    chat = await fake.open_line_chat(connector="telegrambot")
    await rest.send(bot_id, chat.dialog_id, message="Ответ")
    assert fake.customer_view(chat) == [("[b]Helpbot:[/b] [br]Ответ", [])]
