"""The fake Telegram Bot API's newer features and message rules, checked over HTTP against their
sources: command menus per scope and language, reactions, button styles, ephemeral messages and
text limits (issue 13 points 9 and 10, "other findings").

SRV = tdlib/telegram-bot-api telegram-bot-api/Client.cpp (10.0); TD = tdlib/td td/telegram/;
DOC = the Bot API reference (10.2/10.3); AIO = aiogram 3.31.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiogram import Bot
from fake_telegram_fixtures import ann_fixture, bot_fixture, fake_fixture  # noqa: F401
from fake_telegram_helpers import call, keyboard
from fakes.telegram_server import FakeTelegram, FakeUser

HELP = [{"command": "help", "description": "Help"}]
CLOSE = [{"command": "close", "description": "Close the ticket"}]


async def test_commands_are_kept_per_scope_and_language(fake: FakeTelegram) -> None:
    """SRV `process_set_my_commands_query` (l. 12726-12739) passes scope and `language_code` to
    TD `set_commands` (BotCommand.cpp); getMyCommands answers exactly that pair, `[]` if unset."""
    group = fake.add_forum_group("Support")
    chat_scope = {"type": "chat", "chat_id": group.id}
    await call(fake, "setMyCommands", commands=HELP, language_code="ru")
    await call(fake, "setMyCommands", commands=CLOSE, scope=chat_scope)

    ru = (await call(fake, "getMyCommands", language_code="ru")).result
    default = (await call(fake, "getMyCommands")).result
    chat = (await call(fake, "getMyCommands", scope=chat_scope)).result
    bad = await call(fake, "setMyCommands", commands=HELP, language_code="ru-RU")

    assert (ru, default, chat) == (HELP, [], CLOSE)
    assert bad.description == "Bad Request: invalid language code specified"  # TD misc.cpp


@pytest.mark.parametrize(
    ("command", "text"),
    [
        ({"command": " /", "description": "x"}, "command must be non-empty"),
        ({"command": "a" * 33, "description": "x"}, "command length must not exceed 32"),
        ({"command": "help", "description": "  "}, "command description must be non-empty"),
        (
            {"command": "help", "description": "d" * 257},
            "command description length must not exceed 256",
        ),
    ],
)
async def test_command_texts_are_checked_as_tdlib_does(
    fake: FakeTelegram, command: dict[str, str], text: str
) -> None:
    """TD BotCommand.cpp `set_commands`: trimmed, a leading "/" stripped, lengths in
    characters; the texts lower-cased by SRV (`fail_query_with_error`, l. 193-200)."""
    answer = await call(fake, "setMyCommands", commands=[command])

    assert answer.description == f"Bad Request: {text}"


async def test_the_menu_falls_back_to_the_list_without_a_language(fake: FakeTelegram) -> None:
    """DOC setMyCommands `language_code`: "If empty, commands will be applied to all users from
    the given scope, for whose language there are no dedicated commands"; DOC BotCommandScope,
    "Determining list of commands": chat, all private chats, default (each with the user's
    language first); in groups chat member, administrators, chat, all group chats, default."""
    german = fake.add_user("Hans", language_code="de")
    russian = fake.add_user("Olga", language_code="ru")
    group = fake.add_forum_group("Support", admins=[russian])
    await call(fake, "setMyCommands", commands=HELP, language_code="ru")
    only_ru = fake.menu_for(german)
    await call(fake, "setMyCommands", commands=HELP, scope={"type": "all_private_chats"})
    await call(fake, "setMyCommands", commands=CLOSE, scope={"type": "chat", "chat_id": group.id})

    assert only_ru == []
    assert fake.menu_for(german) == ["help"] and fake.menu_for(russian) == ["help"]
    assert fake.menu_for(russian, group) == ["close"]


async def test_a_reaction_is_one_of_the_allowed_emoji_and_replaces_the_last(
    fake: FakeTelegram, ann: FakeUser
) -> None:
    """SRV `process_set_message_reaction_query` (l. 13487-13501) -> MTProto; an emoji outside
    ReactionTypeEmoji's list (AIO `reaction_type_emoji.py`) -> REACTION_INVALID passed through;
    "bots can set up to one reaction per message" (DOC): a new one replaces it, [] removes."""
    question = fake.user_sends(ann, "вопрос")

    async def react(*emoji: str) -> Any:
        reaction = [{"type": "emoji", "emoji": e} for e in emoji]
        return await call(
            fake,
            "setMessageReaction",
            chat_id=ann.id,
            message_id=question.message_id,
            reaction=reaction,
        )

    eyes = await react("👀")
    after_eyes = list(question.reactions)
    ok = await react("👌")
    refused = await react("✅")
    after_ok = list(question.reactions)
    removed = await react()

    assert (eyes.result, ok.result, removed.result) == (True, True, True)
    assert after_eyes == [{"type": "emoji", "emoji": "👀"}]
    assert after_ok == [{"type": "emoji", "emoji": "👌"}]
    assert refused.description == "Bad Request: REACTION_INVALID"
    assert question.reactions == []


async def test_reaction_requests_are_parsed_as_the_server_does(
    fake: FakeTelegram, ann: FakeUser
) -> None:
    """SRV `get_reaction_types`/`get_reaction_type` (l. 12086-12130) and `check_message(...,
    "message to react")`; a group's `available_reactions` narrows the list (DOC ChatFullInfo)."""
    question = fake.user_sends(ann, "вопрос")
    group = fake.add_forum_group("Support", available_reactions=["👍"])
    card = await call(fake, "sendMessage", chat_id=group.id, text="card")

    async def react(chat: int, message_id: int, reaction: str) -> str:
        answer = await call(
            fake, "setMessageReaction", chat_id=chat, message_id=message_id, reaction=reaction
        )
        return answer.description

    texts = [
        await react(ann.id, question.message_id, "[{"),
        await react(ann.id, question.message_id, json.dumps([{"type": "paid"}])),
        await react(ann.id, 999, json.dumps([{"type": "emoji", "emoji": "👀"}])),
        await react(group.id, card.result["message_id"], '[{"type":"emoji","emoji":"👀"}]'),
    ]

    assert texts == [
        "Bad Request: can't parse reaction types JSON object",
        "Bad Request: can't parse ReactionType: invalid reaction type specified",
        "Bad Request: message to react not found",
        "Bad Request: REACTION_INVALID",
    ]


async def test_button_styles_are_checked_and_kept(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """Bot API 9.4 `style`: SRV `get_button_style` (l. 9440-9456) lower-cases it, accepts ""
    and "default"; anything else -> "can't parse inline keyboard button: invalid button style
    specified" (prefix l. 9752-9754); the answer echoes it except the default (l. 3783-3796)."""
    rows = [
        [{"text": "Взять", "callback_data": "take", "style": "PRIMARY"}],
        [{"text": "Помогло", "callback_data": "up", "style": "default"}],
    ]
    sent = await call(
        fake, "sendMessage", chat_id=ann.id, text="card", reply_markup={"inline_keyboard": rows}
    )
    rows[0][0]["style"] = "green"
    refused = await call(
        fake, "sendMessage", chat_id=ann.id, text="card", reply_markup={"inline_keyboard": rows}
    )

    buttons = [b for row in sent.result["reply_markup"]["inline_keyboard"] for b in row]
    assert [b.get("style") for b in buttons] == ["primary", None]
    assert fake.bot_messages(ann)[0].buttons[0]["style"] == "primary"
    assert refused.description == (
        "Bad Request: can't parse inline keyboard button: invalid button style specified"
    )


def _ephemeral(receiver: FakeUser, query_id: str | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"receiver_user_id": receiver.id}
    if query_id is not None:
        params["callback_query_id"] = query_id
    return params


async def test_an_administrator_bot_sends_an_ephemeral_message_to_a_member(
    fake: FakeTelegram,
) -> None:
    """DOC "Ephemeral Messages and Commands": an administrator bot may send to any non-bot member
    at any time; AIO 3.31 `send_message.py` `ephemeral_message_parameters`; the Message has
    `message_id` 0, `ephemeral_message_id` and `receiver_user`. Seen by the receiver only."""
    olga = fake.add_user("Olga")
    group = fake.add_forum_group("Support", members=[olga])
    topic = (await call(fake, "createForumTopic", chat_id=group.id, name="t")).result
    thread = topic["message_thread_id"]

    sent = await call(
        fake,
        "sendMessage",
        chat_id=group.id,
        message_thread_id=thread,
        text="только участники",
        ephemeral_message_parameters=_ephemeral(olga),
    )

    message = sent.result
    assert (message["message_id"], message["receiver_user"]["id"]) == (0, olga.id)
    assert message["ephemeral_message_id"] >= 1 and message["message_thread_id"] == thread
    assert fake.bot_messages(group, thread_id=thread) == []
    assert [m.text for m in fake.ephemeral_messages(group, receiver=olga)] == ["только участники"]


async def test_ephemeral_messages_only_in_groups_to_members(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """DOC: "for group and supergroup chats only"; the receiver a non-bot member. The error
    texts are the fake's own (no source: the 10.2+ server is unpublished), marked so."""
    olga = fake.add_user("Olga")
    group = fake.add_forum_group("Support", members=[olga])
    outsider = fake.add_user("Eve")

    private = await call(
        fake, "sendMessage", chat_id=ann.id, text="x", ephemeral_message_parameters=_ephemeral(ann)
    )
    stranger = await call(
        fake,
        "sendMessage",
        chat_id=group.id,
        text="x",
        ephemeral_message_parameters=_ephemeral(outsider),
    )

    assert private.status == 400 and "(fake wording)" in private.description
    assert stranger.status == 400 and "(fake wording)" in stranger.description


async def test_a_bot_that_is_no_administrator_needs_a_fresh_callback_query(
    fake: FakeTelegram,
) -> None:
    """DOC: "Any bot can send an ephemeral message to a user within 15 seconds of the incoming
    eligible action" (its `callback_query_id`); 10.2's flat `receiver_user_id`/`callback_query_id`
    still work (AIO marks them deprecated in 10.3). Refusal texts: the fake's own."""
    olga = fake.add_user("Olga")
    group = fake.add_forum_group("Support", members=[olga], bot_status="member")
    card = await call(
        fake,
        "sendMessage",
        chat_id=group.id,
        text="card",
        reply_markup=keyboard("take").model_dump(exclude_none=True),
    )
    query = fake.press_button(olga, fake.history(group)[-1], "take")

    plain = await call(
        fake,
        "sendMessage",
        chat_id=group.id,
        text="x",
        ephemeral_message_parameters=_ephemeral(olga),
    )
    fresh = await call(
        fake,
        "sendMessage",
        chat_id=group.id,
        text="уже взято",
        receiver_user_id=olga.id,
        callback_query_id=query.id,
    )
    fake.advance(16)
    stale = await call(
        fake,
        "sendMessage",
        chat_id=group.id,
        text="x",
        ephemeral_message_parameters=_ephemeral(olga, query.id),
    )

    assert card.status == 200 and fresh.result["message_id"] == 0
    assert plain.status == 400 and stale.status == 400
    assert "(fake wording)" in stale.description


async def test_ephemeral_messages_are_edited_and_deleted_by_their_id(fake: FakeTelegram) -> None:
    """AIO 3.31 `edit_ephemeral_message_text.py`, `delete_ephemeral_message.py`: `chat_id`,
    `receiver_user_id`, `ephemeral_message_id`; `true` on success."""
    olga = fake.add_user("Olga")
    group = fake.add_forum_group("Support", members=[olga])
    sent = await call(
        fake,
        "sendMessage",
        chat_id=group.id,
        text="a",
        ephemeral_message_parameters=_ephemeral(olga),
    )
    key = {
        "chat_id": group.id,
        "receiver_user_id": olga.id,
        "ephemeral_message_id": sent.result["ephemeral_message_id"],
    }

    edited = await call(fake, "editEphemeralMessageText", **key, text="b")
    text = fake.ephemeral_messages(group)[0].text
    deleted = await call(fake, "deleteEphemeralMessage", **key)
    gone = await call(fake, "deleteEphemeralMessage", **key)

    assert (edited.result, text, deleted.result) == (True, "b", True)
    assert fake.ephemeral_messages(group) == [] and gone.status == 400


async def test_copy_message_has_no_ephemeral_parameters(fake: FakeTelegram, ann: FakeUser) -> None:
    """DOC 10.2 lists the ephemeral parameters on the send methods, not on copyMessage; the
    server ignores a parameter a method does not have: the copy is an ordinary message."""
    olga = fake.add_user("Olga")
    group = fake.add_forum_group("Support", members=[olga])
    question = fake.user_sends(ann, "вопрос")

    copied = await call(
        fake,
        "copyMessage",
        chat_id=group.id,
        from_chat_id=ann.id,
        message_id=question.message_id,
        ephemeral_message_parameters=_ephemeral(olga),
    )

    assert copied.result["message_id"] > 0
    assert fake.ephemeral_messages(group) == [] and len(fake.bot_messages(group)) == 1


async def test_text_length_counts_characters_and_emptiness_has_two_texts(
    fake: FakeTelegram, ann: FakeUser
) -> None:
    """TD MessageContent.cpp (l. 4664-4666): bots' texts are measured with `utf8_length` (code
    points), 4096 at most; SRV `get_input_message_text` (l. 11400-11402): an empty text ->
    "message text is empty"; TD MessageEntity.cpp (l. 4780): empty after parsing -> "text must
    be non-empty"; `parse_mode` "none" is no parsing (SRV `get_formatted_text`)."""
    emoji = await call(fake, "sendMessage", chat_id=ann.id, text="😀" * 4096)
    too_long = await call(fake, "sendMessage", chat_id=ann.id, text="😀" * 4097)
    blank = await call(fake, "sendMessage", chat_id=ann.id, text="   ")
    literal = await call(fake, "sendMessage", chat_id=ann.id, text="<b>x</b>", parse_mode="None")
    unknown = await call(fake, "sendMessage", chat_id=ann.id, text="x", parse_mode="bbcode")

    assert emoji.status == 200 and literal.result["text"] == "<b>x</b>"
    assert too_long.description == "Bad Request: message is too long"
    assert blank.description == "Bad Request: text must be non-empty"
    assert unknown.description == "Bad Request: unsupported parse_mode"
