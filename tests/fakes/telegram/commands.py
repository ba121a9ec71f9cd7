"""The bot's command menus: setMyCommands, getMyCommands and deleteMyCommands, one list per scope
and language, and the list a user is shown (`menu_for`).

SRV (tdlib/telegram-bot-api, Client.cpp): `get_bot_command_scope` (l. 10576-10636),
`get_bot_commands` (l. 10652-10676), `process_set_my_commands_query` (l. 12726-12739); TD
(tdlib/td, td/telegram/BotCommand.cpp) `set_commands` trims, strips a leading "/", checks lengths;
TD misc.cpp `validate_bot_language_code`: "" or two lower-case ASCII letters. Which list a user
sees: the Bot API's "Determining list of commands" (BotCommandScope), first match wins.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import bad_request
from .models import FakeChat, FakeUser
from .params import Params
from .state import Handler, World

Scope = tuple[Any, ...]
DEFAULT: Scope = ("default",)
_GLOBAL_SCOPES = {"default", "all_private_chats", "all_group_chats", "all_chat_administrators"}
_CHAT_SCOPES = {"chat", "chat_administrators", "chat_member"}


def _scope(world: World, p: Params) -> Scope:
    raw = p.values.get("scope")
    if raw is None or raw == "":
        return DEFAULT
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise bad_request("can't parse BotCommandScope JSON object") from None
    prefix = "can't parse BotCommandScope: "
    if not isinstance(value, dict):
        raise bad_request(prefix + "BotCommandScope must be an Object")
    kind = value.get("type")
    if kind in _GLOBAL_SCOPES:
        return (kind,)
    if kind not in _CHAT_SCOPES:
        raise bad_request(prefix + "Unsupported type specified")
    chat_id = str(value.get("chat_id", "")).strip()
    if not chat_id:
        raise bad_request(prefix + "Empty chat_id specified")
    chat = world.chat(chat_id if chat_id.startswith("@") else _int(chat_id))
    if kind != "chat_member":
        return (kind, chat.id)
    user_id = _int(str(value.get("user_id", "0")))
    if user_id <= 0:
        raise bad_request(prefix + "Invalid user_id specified")
    return (kind, chat.id, user_id)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad_request("chat not found") from None


def _language(p: Params) -> str:
    code = p.get_str("language_code") or ""
    if code and not (len(code) == 2 and code.isascii() and code.isalpha() and code.islower()):
        raise bad_request("invalid language code specified")
    return code


def _commands(p: Params) -> list[dict[str, Any]]:
    raw = p.values.get("commands")
    if raw is None or raw == "":
        return []
    try:
        value = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        raise bad_request("can't parse commands JSON object") from None
    if not isinstance(value, list):
        raise bad_request("expected an Array of BotCommand")
    if len(value) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")  # MTProto, passed through
    commands = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("command"), str):
            raise bad_request('can\'t parse BotCommand: Field "command" must be of type String')
        if not isinstance(item.get("description"), str):
            raise bad_request('can\'t parse BotCommand: Field "description" must be of type String')
        command = item["command"].strip().removeprefix("/")
        description = item["description"].strip()
        if not command:
            raise bad_request("command must be non-empty")
        if len(command) > 32:
            raise bad_request("command length must not exceed 32")
        if not description:
            raise bad_request("command description must be non-empty")
        if len(description) > 256:
            raise bad_request("command description length must not exceed 256")
        if not all(c.islower() or c.isdigit() or c == "_" for c in command):
            raise bad_request("BOT_COMMAND_INVALID")  # MTProto, passed through
        kept = {"command": command, "description": description}
        if item.get("is_ephemeral"):  # Bot API 10.2: the user's command is seen by nobody else
            kept["is_ephemeral"] = True
        commands.append(kept)
    return commands


async def set_my_commands(world: World, p: Params) -> Any:
    commands = _commands(p)
    key = (_scope(world, p), _language(p))
    if commands:
        world.commands[key] = commands
    else:
        world.commands.pop(key, None)
    return True


async def get_my_commands(world: World, p: Params) -> Any:
    """Exactly the list of that scope and language; `[]` when none was set (no fallback)."""
    return world.commands.get((_scope(world, p), _language(p)), [])


async def delete_my_commands(world: World, p: Params) -> Any:
    world.commands.pop((_scope(world, p), _language(p)), None)
    return True


def menu_for(world: World, user: FakeUser, chat: FakeChat) -> list[dict[str, Any]]:
    """The commands `user` is shown in `chat`: the first scope (with the user's language, then
    without) that has a list, in the order the Bot API documents (BotCommandScope)."""
    if chat.is_private:
        scopes: list[Scope] = [("chat", chat.id), ("all_private_chats",), DEFAULT]
    else:
        admin = chat.members.get(user.id) in ("administrator", "creator")
        scopes = [("chat_member", chat.id, user.id)]
        if admin:
            scopes.append(("chat_administrators", chat.id))
        scopes.append(("chat", chat.id))
        if admin:
            scopes.append(("all_chat_administrators",))
        scopes += [("all_group_chats",), DEFAULT]
    language = (user.language_code or "")[:2].lower()
    for scope in scopes:
        for code in dict.fromkeys((language, "")):
            found = world.commands.get((scope, code))
            if found:
                return found
    return []


HANDLERS: dict[str, Handler] = {
    "setMyCommands": set_my_commands,
    "getMyCommands": get_my_commands,
    "deleteMyCommands": delete_my_commands,
}
