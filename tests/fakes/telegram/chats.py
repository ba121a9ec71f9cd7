"""Bot and chat methods: getMe, getChat, getChatMember."""

from __future__ import annotations

from typing import Any

from .errors import bad_request
from .models import FakeUser
from .params import Params
from .state import Handler, World

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
    """A member's status; GroupAnonymousBot (who signs anonymous administrators' messages) is
    "left" everywhere: no source says what Telegram answers, "left" is the conservative model."""
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


HANDLERS: dict[str, Handler] = {
    "getMe": get_me,
    "getChat": get_chat,
    "getChatMember": get_chat_member,
}
