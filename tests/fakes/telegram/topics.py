"""Forum-topic methods: create, edit, close, reopen and delete, as the Bot API server passes them to
TDLib (TD = tdlib/td td/telegram/ForumTopicManager.cpp) and on to the MTProto server.

TDLib checks only the forum, the id and the bot's rights — and no rights at all for a topic the
bot created (`is_outgoing`). The current state (already closed, deleted) is left to the MTProto
server, whose codes reach the bot unchanged: `400 Bad Request: TOPIC_NOT_MODIFIED` (TD
`EditForumTopicQuery::on_error`, l. 210-216, swallows it for users only), and for a deleted topic
`TOPIC_ID_INVALID` (observed by third-party code; not settled by any source, see
/work/notes/research-telegram.md 8d). The bot receives its own topic service messages as updates
(SRV `need_skip_update_message`, Client.cpp l. 17411-17441: "don't skip").
"""

from __future__ import annotations

from typing import Any

from .errors import (
    NOT_A_FORUM,
    TOPIC_ID_INVALID,
    TOPIC_NOT_MODIFIED,
    bad_request,
)
from .models import SUPERGROUP, FakeChat, FakeTopic
from .params import Params
from .state import Handler, World

TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
MAX_TITLE = 128  # MAX_FORUM_TOPIC_TITLE_LENGTH: longer names are cut, not refused


def _forum(world: World, p: Params) -> FakeChat:
    chat = world.chat(p.chat_id())
    world.check_can_send(chat)
    if chat.type != SUPERGROUP or not chat.is_forum:
        raise bad_request(NOT_A_FORUM)  # TD ForumTopicManager.cpp l. 1219
    return chat


def _clean_name(name: str | None) -> str:
    """TD `clean_name(title, MAX_FORUM_TOPIC_TITLE_LENGTH)` (misc.cpp): cut to 128 characters,
    surrounding blanks stripped."""
    return (name or "").strip()[:MAX_TITLE].rstrip()


def _managed(world: World, p: Params, right: str, refusal: str) -> tuple[FakeChat, FakeTopic]:
    """The topic a close/reopen/edit/delete names, after TDLib's own checks.

    TD `can_be_forum_topic_id`: a non-positive id -> "invalid forum topic identifier specified";
    without `right`, a topic the bot did not create -> `refusal` (TD l. 571-576, 937-951,
    1001-1007). A deleted or unknown topic then fails on the server: TOPIC_ID_INVALID.
    """
    chat = _forum(world, p)
    thread_id = p.get_int("message_thread_id") or 0
    if thread_id <= 0:
        raise bad_request("invalid forum topic identifier specified")
    topic = chat.topics.get(thread_id)
    live = topic is not None and not topic.deleted
    ours = topic is not None and topic.created_by == world.bot.id
    if live and not ours and not world.has_right(chat, right):
        raise bad_request(refusal)
    if topic is None or not live:
        raise bad_request(TOPIC_ID_INVALID)
    return chat, topic


def _service(world: World, chat: FakeChat, topic: FakeTopic, event: dict[str, Any]) -> None:
    """The bot's own topic service message, stored and queued as a `message` update."""
    message = world.add_message(chat, world.bot, topic=topic, service=event)
    world.queue.push("message", message.to_json(), chat.id)


async def create_forum_topic(world: World, p: Params) -> Any:
    """TD `create_forum_topic` (l. 515-545): rights, then the name (cut, never too long)."""
    chat = _forum(world, p)
    if not world.has_right(chat, "can_manage_topics"):
        raise bad_request("not enough rights to create a topic")  # TD l. 521-523
    name = _clean_name(p.get_str("name"))
    if not name:
        raise bad_request("name must be non-empty")  # TD l. 527-529
    color = p.get_int("icon_color", TOPIC_COLORS[0])
    if color not in TOPIC_COLORS:
        raise bad_request("TOPIC_ICON_COLOR_INVALID")
    emoji = p.get_str("icon_custom_emoji_id") or None
    topic = FakeTopic(
        chat.id,
        chat.next_message_id,
        name,
        color or TOPIC_COLORS[0],
        emoji,
        created_by=world.bot.id,
    )
    chat.topics[topic.thread_id] = topic
    created: dict[str, Any] = {"name": name, "icon_color": topic.icon_color}
    if emoji:
        created["icon_custom_emoji_id"] = emoji
    _service(world, chat, topic, {"forum_topic_created": created})
    return topic.to_json()


async def edit_forum_topic(world: World, p: Params) -> Any:
    chat, topic = _managed(world, p, "can_manage_topics", "not enough rights to edit the topic")
    name = _clean_name(p.get_str("name"))  # empty: keep the current name (Bot API docs)
    emoji = p.get_str("icon_custom_emoji_id")
    edited: dict[str, Any] = {}
    if name and name != topic.name:
        topic.name = edited["name"] = name
    if emoji is not None and (emoji or None) != topic.icon_custom_emoji_id:
        topic.icon_custom_emoji_id = emoji or None
        edited["icon_custom_emoji_id"] = emoji
    if not edited:
        raise bad_request(TOPIC_NOT_MODIFIED)
    _service(world, chat, topic, {"forum_topic_edited": edited})
    return True


async def _set_closed(world: World, p: Params, closed: bool) -> Any:
    """TD `toggle_forum_topic_is_closed` (l. 937-951) checks no state: the server answers
    TOPIC_NOT_MODIFIED for a topic already so, TOPIC_ID_INVALID for a deleted one."""
    refusal = "not enough rights to close or open the topic"
    chat, topic = _managed(world, p, "can_manage_topics", refusal)
    if topic.closed == closed:
        raise bad_request(TOPIC_NOT_MODIFIED)
    topic.closed = closed
    _service(world, chat, topic, {"forum_topic_closed" if closed else "forum_topic_reopened": {}})
    return True


async def close_forum_topic(world: World, p: Params) -> Any:
    return await _set_closed(world, p, True)


async def reopen_forum_topic(world: World, p: Params) -> Any:
    return await _set_closed(world, p, False)


async def delete_forum_topic(world: World, p: Params) -> Any:
    """TD `delete_forum_topic` (l. 996-1018): rights unless ours; a deleted topic -> the server's
    error, assumed TOPIC_ID_INVALID (not settled by source)."""
    chat, topic = _managed(world, p, "can_delete_messages", "not enough rights to delete the topic")
    remove_topic(world, chat, topic)
    return True


def remove_topic(world: World, chat: FakeChat, topic: FakeTopic) -> None:
    """A topic and its messages are gone; TDLib keeps it cached for a minute (state.py)."""
    topic.deleted = True
    topic.deleted_at = world.clock.now()
    for message in chat.messages.values():
        if message.thread_id == topic.thread_id:
            message.deleted = True
    world.signal.notify()


HANDLERS: dict[str, Handler] = {
    "createForumTopic": create_forum_topic,
    "editForumTopic": edit_forum_topic,
    "closeForumTopic": close_forum_topic,
    "reopenForumTopic": reopen_forum_topic,
    "deleteForumTopic": delete_forum_topic,
}
