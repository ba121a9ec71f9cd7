"""Bot, chat and forum-topic methods: getMe, getChat, getChatMember, *ForumTopic, commands."""

from __future__ import annotations

from typing import Any

from .errors import THREAD_NOT_FOUND, bad_request
from .models import SUPERGROUP, FakeChat, FakeTopic, FakeUser
from .params import Params
from .state import Handler, World

TOPIC_COLORS = (7322096, 16766590, 13338331, 9367192, 16749490, 16478047)
_ADMIN_FLAGS = (
    "can_be_edited",
    "is_anonymous",
    "can_manage_chat",
    "can_delete_messages",
    "can_manage_video_chats",
    "can_restrict_members",
    "can_promote_members",
    "can_change_info",
    "can_invite_users",
    "can_post_stories",
    "can_edit_stories",
    "can_delete_stories",
    "can_send_welcome_messages",
    "can_pin_messages",
    "can_manage_topics",
)


async def get_me(world: World, p: Params) -> Any:
    data = world.bot.to_json()
    data.update(
        can_join_groups=True,
        can_read_all_group_messages=False,
        supports_inline_queries=False,
        can_connect_to_business=False,
        has_main_web_app=False,
    )
    return data


async def get_chat(world: World, p: Params) -> Any:
    return world.chat(p.chat_id()).full_info()


def chat_member_json(user: FakeUser, status: str, rights: dict[str, bool] | None = None) -> Any:
    """A ChatMember of the given status with every field aiogram's model requires."""
    data: dict[str, Any] = {"status": status, "user": user.to_json()}
    if status == "creator":
        data["is_anonymous"] = False
    elif status == "administrator":
        granted = rights or {}
        data.update({flag: granted.get(flag, False) for flag in _ADMIN_FLAGS})
    elif status == "kicked":
        data["until_date"] = 0
    return data


async def get_chat_member(world: World, p: Params) -> Any:
    chat = world.chat(p.chat_id())
    user_id = p.required_int("user_id")
    if user_id == world.bot.id:
        return chat_member_json(world.bot, chat.bot_status, chat.bot_rights)
    user = world.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    if chat.user is not None:
        status = "member" if user is chat.user else "left"
    else:
        status = chat.members.get(user_id, "left")
    return chat_member_json(user, status)


def _forum(world: World, p: Params, right: str) -> FakeChat:
    chat = world.chat(p.chat_id())
    world.check_can_send(chat)
    if chat.type != SUPERGROUP or not chat.is_forum:
        raise bad_request("the chat is not a forum")  # unverified wording (digest, section 7)
    if not world.has_right(chat, right):
        raise bad_request("not enough rights to manage topics")  # unverified wording
    return chat


def _topic(world: World, p: Params, right: str = "can_manage_topics") -> tuple[FakeChat, FakeTopic]:
    chat = _forum(world, p, right)
    thread_id = p.get_int("message_thread_id")
    topic = chat.topics.get(thread_id or 0)
    if topic is None or topic.deleted:
        raise bad_request(THREAD_NOT_FOUND)
    return chat, topic


async def create_forum_topic(world: World, p: Params) -> Any:
    chat = _forum(world, p, "can_manage_topics")
    name = p.required_str("name")
    if len(name) > 128:
        raise bad_request("TOPIC_TITLE_INVALID")
    color = p.get_int("icon_color", TOPIC_COLORS[0])
    if color not in TOPIC_COLORS:
        raise bad_request("TOPIC_ICON_COLOR_INVALID")
    emoji = p.get_str("icon_custom_emoji_id") or None
    topic = FakeTopic(chat.id, chat.next_message_id, name, color or TOPIC_COLORS[0], emoji)
    chat.topics[topic.thread_id] = topic
    created: dict[str, Any] = {"name": name, "icon_color": topic.icon_color}
    if emoji:
        created["icon_custom_emoji_id"] = emoji
    world.add_message(chat, world.bot, topic=topic, service={"forum_topic_created": created})
    return topic.to_json()


async def edit_forum_topic(world: World, p: Params) -> Any:
    chat, topic = _topic(world, p)
    name = p.get_str("name")
    emoji = p.get_str("icon_custom_emoji_id")
    if name is not None and len(name) > 128:
        raise bad_request("TOPIC_TITLE_INVALID")
    edited: dict[str, Any] = {}
    if name and name != topic.name:
        topic.name = edited["name"] = name
    if emoji is not None and (emoji or None) != topic.icon_custom_emoji_id:
        topic.icon_custom_emoji_id = emoji or None
        edited["icon_custom_emoji_id"] = emoji
    if not edited:
        raise bad_request("TOPIC_NOT_MODIFIED")
    world.add_message(chat, world.bot, topic=topic, service={"forum_topic_edited": edited})
    return True


async def _set_closed(world: World, p: Params, closed: bool) -> Any:
    chat, topic = _topic(world, p)
    if topic.closed == closed:
        raise bad_request("TOPIC_NOT_MODIFIED")
    topic.closed = closed
    event = "forum_topic_closed" if closed else "forum_topic_reopened"
    world.add_message(chat, world.bot, topic=topic, service={event: {}})
    return True


async def close_forum_topic(world: World, p: Params) -> Any:
    return await _set_closed(world, p, True)


async def reopen_forum_topic(world: World, p: Params) -> Any:
    return await _set_closed(world, p, False)


async def delete_forum_topic(world: World, p: Params) -> Any:
    chat, topic = _topic(world, p, "can_delete_messages")
    topic.deleted = True
    for message in chat.messages.values():
        if message.thread_id == topic.thread_id:
            message.deleted = True
    world.signal.notify()
    return True


async def set_my_commands(world: World, p: Params) -> Any:
    commands = p.get_json("commands")
    if not isinstance(commands, list) or len(commands) > 100:
        raise bad_request(
            "BOT_COMMANDS_TOO_MUCH"
            if isinstance(commands, list)
            else "can't parse commands JSON object"
        )
    for command in commands:
        name = str(command.get("command", "")) if isinstance(command, dict) else ""
        if not (1 <= len(name) <= 32) or not all(
            c.islower() or c.isdigit() or c == "_" for c in name.lstrip("/")
        ):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", ""))) <= 256:
            raise bad_request("command description must be non-empty")
    world.commands = list(commands)
    return True


async def get_my_commands(world: World, p: Params) -> Any:
    return world.commands


async def delete_my_commands(world: World, p: Params) -> Any:
    world.commands = []
    return True


HANDLERS: dict[str, Handler] = {
    "getMe": get_me,
    "getChat": get_chat,
    "getChatMember": get_chat_member,
    "createForumTopic": create_forum_topic,
    "editForumTopic": edit_forum_topic,
    "closeForumTopic": close_forum_topic,
    "reopenForumTopic": reopen_forum_topic,
    "deleteForumTopic": delete_forum_topic,
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
}
