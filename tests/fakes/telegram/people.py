"""What people do in the fake: messages, media, topic events and block/unblock, as updates."""

from __future__ import annotations

import secrets
from typing import Any

from .models import FakeChat, FakeMessage, FakeTopic, FakeUser
from .state import World

_MEDIA_SIZE = 2048


def find_topic(group: FakeChat, thread_id: int) -> FakeTopic:
    topic = group.topics.get(thread_id)
    if topic is None or topic.deleted:
        raise ValueError(f"no topic {thread_id} in chat {group.id}")
    return topic


def media_fields(world: World, kind: str) -> dict[str, Any]:
    """Message fields for a user-sent photo, document, voice, video note or sticker (stored for
    getFile)."""
    stored = world.add_file(secrets.token_bytes(_MEDIA_SIZE), kind)
    base = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": _MEDIA_SIZE,
    }
    if kind == "photo":
        sizes = [{**base, "width": 90, "height": 67}, {**base, "width": 800, "height": 600}]
        return {"photo": sizes}
    if kind == "document":
        return {"document": {**base, "file_name": "report.pdf", "mime_type": "application/pdf"}}
    if kind == "voice":
        return {"voice": {**base, "duration": 3, "mime_type": "audio/ogg"}}
    if kind == "video_note":
        return {"video_note": {**base, "length": 240, "duration": 3}}
    if kind == "sticker":
        sticker = {
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": "👍",
        }
        return {"sticker": {**base, **sticker}}
    raise ValueError(f"unsupported media kind {kind!r}")


def user_message(
    world: World,
    user: FakeUser,
    chat: FakeChat | None,
    thread_id: int | None,
    reply_to: FakeMessage | None,
    **fields: Any,
) -> FakeMessage:
    """Store a message from `user` and queue it as an update if the bot may see it."""
    if chat is None or chat.is_private:
        if user.blocked:
            set_blocked(world, user, False)  # writing to a blocked bot means restarting it first
        user.started = True
        target = world.private_chat(user)
        topic = None
    else:
        target = chat
        if target.members.get(user.id, "left") in ("left", "kicked"):
            raise ValueError(f"user {user.id} is not a member of chat {target.id}")
        topic = find_topic(target, thread_id) if thread_id and target.is_forum else None
        if topic is not None and topic.closed and not _may_post_closed(target, topic, user):
            raise ValueError(f"user {user.id} may not post in closed topic {topic.thread_id}")
    message = world.add_message(target, user, topic=topic, reply_to=reply_to, **fields)
    if bot_sees(world, target, message):
        world.queue.push("message", message.to_json(), target.id)
    return message


def _may_post_closed(chat: FakeChat, topic: FakeTopic, user: FakeUser) -> bool:
    """TD `can_send_message_to_forum_topic` (ForumTopicManager.cpp l. 1245-1255), for people:
    a closed topic takes messages from its creator and from those who may manage topics (here:
    the group's administrators and creator)."""
    status = chat.members.get(user.id)
    return topic.created_by == user.id or status in ("administrator", "creator")


def anonymous_admin_message(
    world: World,
    group: FakeChat,
    thread_id: int | None,
    signature: str | None,
    **fields: Any,
) -> FakeMessage:
    """A message an anonymous administrator posts on behalf of the group, queued as an update.

    SRV `create_message` (Client.cpp l. 18146-18160): `sender_chat` = the group and, because
    it is the chat itself, `from` = GroupAnonymousBot (TD UserManager.cpp l. 3028, 5014-5021);
    `author_signature` is the administrator's custom title when one is set (`JsonMessage::store`,
    l. 4112-4120). Such messages reach the bot: `need_skip_update_message` (l. 17399-17520) does
    not look at the sender.
    """
    topic = find_topic(group, thread_id) if thread_id and group.is_forum else None
    message = world.add_message(
        group,
        world.anonymous_admin,
        topic=topic,
        sender_chat=group,
        author_signature=signature,
        **fields,
    )
    if bot_sees(world, group, message):
        world.queue.push("message", message.to_json(), group.id)
    return message


def bot_sees(world: World, chat: FakeChat, message: FakeMessage) -> bool:
    """Bots never see other bots (but do see an anonymous administrator, whose `from` is
    GroupAnonymousBot); a non-admin bot in privacy mode sees only commands, replies to itself
    and mentions."""
    on_behalf_of_chat = message.sender_chat is not None and message.sender_chat.id == chat.id
    if message.sender is not None and message.sender.is_bot and not on_behalf_of_chat:
        return False
    if chat.is_private or chat.bot_status in ("administrator", "creator"):
        return True
    if chat.bot_status in ("left", "kicked"):
        return False
    text = message.text or message.caption or ""
    replied = message.reply_to
    return (
        text.startswith("/")
        or f"@{world.bot.username}" in text
        or (replied is not None and replied.from_bot and not replied.service)
    )


def set_blocked(world: World, user: FakeUser, blocked: bool) -> None:
    """Block or unblock the bot; the bot hears of it through a my_chat_member update."""
    if user.blocked == blocked:
        return
    user.blocked = blocked
    old, new = ("member", "kicked") if blocked else ("kicked", "member")
    chat = world.private_chat(user)
    payload = {
        "chat": chat.to_json(),
        "from": user.to_json(),
        "date": world.now(),
        "old_chat_member": _bot_member(world, old),
        "new_chat_member": _bot_member(world, new),
    }
    world.queue.push("my_chat_member", payload, chat.id)


def _bot_member(world: World, status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"status": status, "user": world.bot.to_json()}
    if status == "kicked":
        member["until_date"] = 0
    return member
