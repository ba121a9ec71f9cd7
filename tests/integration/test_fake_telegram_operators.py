"""The fake Telegram Bot API on the operators' side, checked over HTTP against its sources: callback
answers that expire, anonymous administrators, forum topics (closed, deleted, rights), sends a
person refuses, protected content and copies (issue 13 point 8).

SRV = tdlib/telegram-bot-api telegram-bot-api/Client.cpp (10.0); TD = tdlib/td td/telegram/.
"""

from __future__ import annotations

import pytest
from aiogram import Bot
from fake_telegram_fixtures import ann_fixture, bot_fixture, fake_fixture  # noqa: F401
from fake_telegram_helpers import call, keyboard
from fakes.telegram_server import GROUP_ANONYMOUS_BOT_ID, FakeChat, FakeTelegram, FakeUser

QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"


@pytest.fixture
def group(fake: FakeTelegram) -> FakeChat:
    return fake.add_forum_group("Support", members=[fake.add_user("Olga")])


async def _topic(fake: FakeTelegram, group: FakeChat, name: str = "ticket") -> int:
    thread: int = (await call(fake, "createForumTopic", chat_id=group.id, name=name)).result[
        "message_thread_id"
    ]
    return thread


async def test_a_callback_query_answered_too_late_is_too_old(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """SRV `process_answer_callback_query_query` (l. 14319-14329) -> MTProto; a late answer is
    QUERY_ID_INVALID, rewritten by SRV (l. 146-148). The window is not published (~15 s
    reported): `callback_answer_window`, on the server clock."""
    await bot.send_message(ann.id, "pick", reply_markup=keyboard("a", "b"))
    message = fake.history(ann)[-1]
    in_time = fake.press_button(ann, message, "a")
    late = fake.press_button(ann, message, "b")
    answered = await call(fake, "answerCallbackQuery", callback_query_id=in_time.id)
    fake.advance(15.5)
    refused = await call(fake, "answerCallbackQuery", callback_query_id=late.id)

    assert answered.result is True
    assert (refused.status, refused.description) == (400, QUERY_TOO_OLD)
    assert not late.answered


async def test_a_second_answer_to_the_same_query_is_refused(
    fake: FakeTelegram, bot: Bot, ann: FakeUser
) -> None:
    """Not settled by the sources; reports say so (chelaxian/tg-ytdlp-bot#470): one answer only,
    the second gets SRV's QUERY_ID_INVALID text."""
    await bot.send_message(ann.id, "pick", reply_markup=keyboard("a"))
    query = fake.press_button(ann, fake.history(ann)[-1], "a")
    await call(fake, "answerCallbackQuery", callback_query_id=query.id, text="ok")
    again = await call(fake, "answerCallbackQuery", callback_query_id=query.id)

    assert again.description == QUERY_TOO_OLD


async def test_an_anonymous_administrator_posts_as_the_group(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """SRV `create_message` (l. 18146-18160): `sender_chat` = the group, `from` = GroupAnonymousBot
    (TD UserManager.cpp l. 3028, 5014-5021), `author_signature` the custom title; delivered to the
    bot (`need_skip_update_message` ignores the sender). getChatMember of that user: "left"
    (no source; the conservative model)."""
    thread = await _topic(fake, group)
    fake.anonymous_admin_sends(group, thread, "/close решено", signature="Olga (support)")
    updates = (await call(fake, "getUpdates")).result
    member = (
        await call(fake, "getChatMember", chat_id=group.id, user_id=GROUP_ANONYMOUS_BOT_ID)
    ).result

    message = updates[-1]["message"]
    assert message["from"] == {
        "id": GROUP_ANONYMOUS_BOT_ID,
        "is_bot": True,
        "first_name": "Group",
        "username": "GroupAnonymousBot",
    }
    assert message["sender_chat"]["id"] == group.id
    assert message["author_signature"] == "Olga (support)"
    assert (message["message_thread_id"], message["text"]) == (thread, "/close решено")
    assert message["entities"][0]["type"] == "bot_command"
    assert member["status"] == "left"


async def test_a_bot_that_manages_topics_posts_into_a_closed_topic(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """TD `can_send_message_to_forum_topic` (ForumTopicManager.cpp l. 1245-1255): closed
    topics refuse only those who neither created the topic nor may manage topics;
    python-telegram-bot's live test: "bot will still be able to send a message to a closed
    topic". Closed by a person here, as operators do."""
    thread = await _topic(fake, group)
    fake.close_topic(group, thread, by=fake.add_user("Ivan"))
    sent = await call(fake, "sendMessage", chat_id=group.id, message_thread_id=thread, text="late")
    action = await call(
        fake, "sendChatAction", chat_id=group.id, message_thread_id=thread, action="typing"
    )

    assert sent.result["message_thread_id"] == thread and action.result is True


async def test_a_closed_topic_refuses_a_bot_without_the_right(fake: FakeTelegram) -> None:
    """The same rule the other way: a topic a person created, a bot without can_manage_topics ->
    MTProto TOPIC_CLOSED (`400 Bad Request: TOPIC_CLOSED`)."""
    ivan = fake.add_user("Ivan")
    group = fake.add_forum_group("Support", members=[ivan], bot_rights={})
    topic = fake.add_topic(group, "chat", by=ivan)
    fake.close_topic(group, topic.thread_id, by=ivan)

    sent = await call(
        fake, "sendMessage", chat_id=group.id, message_thread_id=topic.thread_id, text="x"
    )

    assert sent.description == "Bad Request: TOPIC_CLOSED"


async def test_closing_a_closed_topic_is_topic_not_modified(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """TD `toggle_forum_topic_is_closed` (l. 937-951) checks no state; the server's
    TOPIC_NOT_MODIFIED is swallowed for users only (TD `EditForumTopicQuery::on_error`,
    l. 210-216), so a bot gets it, case kept (SRV `fail_query_with_error`, l. 193-200)."""
    thread = await _topic(fake, group)
    fake.close_topic(group, thread, by=fake.add_user("Ivan"))
    closed_again = await call(fake, "closeForumTopic", chat_id=group.id, message_thread_id=thread)
    await call(fake, "reopenForumTopic", chat_id=group.id, message_thread_id=thread)
    reopened_again = await call(
        fake, "reopenForumTopic", chat_id=group.id, message_thread_id=thread
    )

    assert closed_again.description == "Bad Request: TOPIC_NOT_MODIFIED"
    assert reopened_again.description == "Bad Request: TOPIC_NOT_MODIFIED"


async def test_a_deleted_topic_cannot_be_closed_reopened_or_deleted(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """Nothing in TDLib checks deletion (TD l. 937-951, 996-1018): the MTProto error passes
    through; TOPIC_ID_INVALID is what third-party code observes (not settled by source). A
    send is TOPIC_DELETED while TDLib's cache holds the topic (TD `get_forum_topic`,
    l. 829-837), then "message thread not found" (SRV `check_message_topic`, l. 8256-8288)."""
    thread = await _topic(fake, group)
    fake.delete_topic(group, thread)
    answers = [
        (await call(fake, method, chat_id=group.id, message_thread_id=thread)).description
        for method in ("closeForumTopic", "reopenForumTopic", "deleteForumTopic")
    ]
    soon = await call(fake, "sendMessage", chat_id=group.id, message_thread_id=thread, text="x")
    fake.advance(60)
    later = await call(fake, "sendMessage", chat_id=group.id, message_thread_id=thread, text="x")

    assert answers == ["Bad Request: TOPIC_ID_INVALID"] * 3
    assert soon.description == "Bad Request: TOPIC_DELETED"
    assert later.description == "Bad Request: message thread not found"


async def test_topic_rights_are_checked_per_action_and_not_for_the_bots_own_topics(
    fake: FakeTelegram,
) -> None:
    """TD ForumTopicManager.cpp: create without the right -> "not enough rights to create a topic"
    (l. 521-523); a topic not created by the bot -> "... to close or open the topic" (l. 937-951),
    "... to edit the topic" (l. 571-576), "... to delete the topic" (l. 1001-1007); a topic the
    bot created (`is_outgoing`) needs no right."""
    ivan = fake.add_user("Ivan")
    group = fake.add_forum_group("Support", members=[ivan])
    own = await _topic(fake, group)
    theirs = fake.add_topic(group, "theirs", by=ivan).thread_id
    group.bot_rights.clear()  # the rights are taken away afterwards

    def texts(*methods: str) -> list[tuple[str, dict[str, object]]]:
        return [(m, {"chat_id": group.id, "message_thread_id": theirs}) for m in methods]

    refused = [
        (await call(fake, method, **params, name="new name")).description
        for method, params in texts("closeForumTopic", "editForumTopic", "deleteForumTopic")
    ]
    created = await call(fake, "createForumTopic", chat_id=group.id, name="x")
    own_close = await call(fake, "closeForumTopic", chat_id=group.id, message_thread_id=own)

    assert refused == [
        "Bad Request: not enough rights to close or open the topic",
        "Bad Request: not enough rights to edit the topic",
        "Bad Request: not enough rights to delete the topic",
    ]
    assert created.description == "Bad Request: not enough rights to create a topic"
    assert own_close.result is True


async def test_a_long_topic_name_is_cut_and_an_empty_one_refused(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """TD `create_forum_topic`: `clean_name(title, MAX_FORUM_TOPIC_TITLE_LENGTH)` cuts to 128
    characters (l. 526), an empty name -> "name must be non-empty" (l. 527-529)."""
    long = await call(fake, "createForumTopic", chat_id=group.id, name="ж" * 200)
    empty = await call(fake, "createForumTopic", chat_id=group.id, name="   ")

    assert long.result["name"] == "ж" * 128
    assert empty.description == "Bad Request: name must be non-empty"


async def test_the_bot_receives_its_own_topic_service_messages(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """SRV `need_skip_update_message` (l. 17411-17441) skips outgoing messages except the
    forum-topic service messages ("don't skip")."""
    thread = await _topic(fake, group)
    await call(fake, "closeForumTopic", chat_id=group.id, message_thread_id=thread)
    await call(fake, "reopenForumTopic", chat_id=group.id, message_thread_id=thread)
    await call(fake, "editForumTopic", chat_id=group.id, message_thread_id=thread, name="new")

    messages = [u["message"] for u in (await call(fake, "getUpdates")).result]

    assert all(m["from"]["id"] == fake.bot.id for m in messages)
    events = [next(k for k in m if k.startswith("forum_topic_")) for m in messages]
    assert events == [
        "forum_topic_created",
        "forum_topic_closed",
        "forum_topic_reopened",
        "forum_topic_edited",
    ]


async def test_a_person_who_forbids_voice_messages_refuses_voice_and_video_notes(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """TD MessagesManager `process_send_message_fail_error` (l. 27590-27657) keeps 403 for a few
    codes only: VOICE_MESSAGES_FORBIDDEN is a 400 with the MTProto code (SRV l. 90-101, 193-200);
    the same for a copy of a voice note (the operator's relayed message)."""
    person = fake.add_user("Ann", started=True, voice_forbidden=True)
    olga = fake.add_user("Olga2")
    fake.add_member(group, olga)
    thread = await _topic(fake, group)
    voice = fake.user_sends_media(olga, "voice", chat=group, thread_id=thread)
    note = fake.user_sends_media(olga, "video_note", chat=group, thread_id=thread)
    text = fake.operator_sends(group, thread, olga, "текстом можно")

    copies = [
        await call(fake, "copyMessage", chat_id=person.id, from_chat_id=group.id, message_id=m)
        for m in (voice.message_id, note.message_id, text.message_id)
    ]
    file_id = voice.media["voice"]["file_id"]
    sent = await call(fake, "sendVoice", chat_id=person.id, voice=file_id)

    assert [c.status for c in copies] == [400, 400, 200]
    assert copies[0].description == "Bad Request: VOICE_MESSAGES_FORBIDDEN"
    assert sent.description == "Bad Request: VOICE_MESSAGES_FORBIDDEN"


async def test_copies_out_of_a_group_with_protected_content_are_refused(
    fake: FakeTelegram,
) -> None:
    """CHAT_FORWARDS_RESTRICTED -> TD "message has protected content and can't be forwarded"
    (MessagesManager l. 27622-27623): every copy or forward out of a group with "Restrict
    saving content" on."""
    olga = fake.add_user("Olga")
    person = fake.add_user("Ann", started=True)
    group = fake.add_forum_group("Support", members=[olga], protected_content=True)
    thread = await _topic(fake, group)
    reply = fake.operator_sends(group, thread, olga, "ответ")

    copied = await call(
        fake, "copyMessage", chat_id=person.id, from_chat_id=group.id, message_id=reply.message_id
    )
    forwarded = await call(
        fake,
        "forwardMessage",
        chat_id=person.id,
        from_chat_id=group.id,
        message_id=reply.message_id,
    )
    info = (await call(fake, "getChat", chat_id=group.id)).result

    expected = "Bad Request: message has protected content and can't be forwarded"
    assert copied.description == expected and forwarded.description == expected
    assert info["has_protected_content"] is True


async def test_copy_message_keeps_the_operators_formatting(
    fake: FakeTelegram, group: FakeChat
) -> None:
    """SRV `process_copy_message_query` (l. 13238-13260): text and entities are copied (TD drops
    only custom emoji the bot may not use); the answer is `{"message_id": N}` only
    (l. 12578-12579)."""
    olga = fake.add_user("Olga3")
    fake.add_member(group, olga)
    person = fake.add_user("Ann", started=True)
    thread = await _topic(fake, group)
    entities = [
        {"type": "bold", "offset": 0, "length": 5},
        {"type": "text_link", "offset": 6, "length": 6, "url": "https://helpdesk.example/a"},
    ]
    reply = fake.operator_sends(group, thread, olga, "Важно: ссылка", entities=entities)

    copied = await call(
        fake, "copyMessage", chat_id=person.id, from_chat_id=group.id, message_id=reply.message_id
    )

    assert set(copied.result) == {"message_id"}
    relayed = fake.bot_messages(person)[-1]
    assert (relayed.text, relayed.entities) == ("Важно: ссылка", entities)
