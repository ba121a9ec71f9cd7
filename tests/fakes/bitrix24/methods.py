"""The fake portal's REST methods (imbot.v2.*, imopenlines.bot.session.*), each over a Portal."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .phpform import as_list
from .world import FakeApiError, FakeBot, FakeChat, Portal, Transfer

MAX_KEYBOARD_BYTES = 30 * 1024
MAX_TEXT = 20_000
BOT_TYPES = frozenset({"bot", "supervisor", "personal", "openline", "network"})


@dataclass(frozen=True)
class Caller:
    """Who is calling: a webhook (user id) or an OAuth application (client id)."""

    auth: Literal["webhook", "oauth"]
    user_id: int
    client_id: str = ""


Method = Callable[[Portal, Caller, dict[str, Any]], Any]


def _int(params: dict[str, Any], key: str, code: str) -> int:
    value = params.get(key)
    try:
        return int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise FakeApiError(code, f"{key} is required") from None


def _obj(params: dict[str, Any], key: str) -> dict[str, Any]:
    value = params.get(key)
    return value if isinstance(value, dict) else {}


def _truthy(value: Any) -> bool:
    return value in (True, 1, "1", "Y", "y", "true", "True")


def _owner(caller: Caller, token: Any) -> str:
    if caller.auth == "oauth":
        return f"app:{caller.client_id}"
    if not token:
        raise FakeApiError("BOT_TOKEN_NOT_SPECIFIED", "Bot token is not specified")
    return f"token:{token}"


def _bot(portal: Portal, caller: Caller, params: dict[str, Any]) -> FakeBot:
    owner = _owner(caller, params.get("botToken"))
    bot = portal.bots.get(_int(params, "botId", "BOT_ID_REQUIRED"))
    if bot is None:
        raise FakeApiError("BOT_NOT_FOUND", "Bot not found")
    if bot.owner != owner:
        raise FakeApiError("BOT_OWNERSHIP_ERROR", "Bot is registered by another application", 403)
    return bot


def _keyboard(value: Any) -> list[dict[str, Any]]:
    if value in (None, "", "N"):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise FakeApiError("KEYBOARD_ERROR", "Incorrect keyboard params") from None
    if len(json.dumps(value, ensure_ascii=False).encode()) > MAX_KEYBOARD_BYTES:
        raise FakeApiError("KEYBOARD_OVERSIZE", "You have exceeded the maximum allowable size")
    buttons = value.get("BUTTONS", value) if isinstance(value, dict) else value
    result = [b for b in as_list(buttons) if isinstance(b, dict)]
    for button in result:
        if button.get("TYPE") != "NEWLINE" and not button.get("TEXT"):
            raise FakeApiError("KEYBOARD_ERROR", "Incorrect keyboard params")
    return result


def bot_register(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    fields = _obj(params, "fields")
    # Documented as fields.botToken; the quick-start shows it top-level: accept both.
    owner = _owner(caller, fields.get("botToken") or params.get("botToken"))
    code = str(fields.get("code") or "")
    if not code:
        raise FakeApiError("BOT_CODE_REQUIRED", "Bot code is required")
    existing = next((b for b in portal.bots.values() if b.code == code), None)
    if existing is not None:
        if existing.owner != owner:
            raise FakeApiError("BOT_CODE_ALREADY_TAKEN", "Bot code is already taken")
        return {"bot": existing.entity(), "users": [portal.users[existing.id].entity()]}
    properties = _obj(fields, "properties")
    if not properties.get("name"):
        raise FakeApiError("BOT_PROPERTIES_REQUIRED", "Bot properties are required")
    bot_type = str(fields.get("type") or "bot")
    if bot_type not in BOT_TYPES:
        raise FakeApiError("BOT_INVALID_TYPE", "Invalid bot type")
    mode = str(fields.get("eventMode") or "fetch")
    if mode not in ("fetch", "webhook"):
        raise FakeApiError("BOT_INVALID_EVENT_MODE", "Invalid event mode")
    url = str(fields.get("webhookUrl") or "")
    if mode == "webhook" and not url:
        raise FakeApiError("BOT_WEBHOOK_URL_REQUIRED", "Webhook URL is required")
    user = portal.add_user(str(properties["name"]), "bot")
    bot = FakeBot(
        user.id, code, user.name, bot_type, mode, url, owner,
        _truthy(fields.get("isSupportOpenline")),
    )  # fmt: skip
    portal.bots[bot.id] = bot
    return {"bot": bot.entity(), "users": [user.entity()]}


def bot_unregister(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    bot = _bot(portal, caller, params)
    del portal.bots[bot.id]
    for chat in portal.chats.values():
        chat.members.discard(bot.id)
    return True


def bot_list(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    owner = _owner(caller, params.get("botToken"))
    mine = [b for b in portal.bots.values() if b.owner == owner]
    return {
        "bots": [b.entity() for b in mine],
        "users": [portal.users[b.id].entity() for b in mine],
        "hasNextPage": False,
    }


def command_register(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    bot = _bot(portal, caller, params)
    fields = _obj(params, "fields") or params
    name = str(fields.get("command") or "").lstrip("/")
    if not name:
        raise FakeApiError("COMMAND_REQUIRED", "Command is required")
    hidden = _truthy(fields.get("hidden"))
    if not hidden and not fields.get("title"):
        raise FakeApiError("COMMAND_TITLE_REQUIRED", "Command title is required")
    command_id = bot.commands.setdefault(name, portal.new_id())
    command = {
        "id": command_id, "botId": bot.id, "command": f"/{name}",
        "common": _truthy(fields.get("common")), "hidden": hidden, "extranetSupport": False,
    }  # fmt: skip
    bot.command_info[name] = command
    return {"command": command}


def command_list(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """imbot.v2.Command.list (b24restdocs chat-bots-v2/imbot.v2/commands/command-list.md): the
    bot's commands, for its owner only (BOT_OWNERSHIP_ERROR otherwise)."""
    bot = _bot(portal, caller, params)
    return {
        "commands": [
            {"title": "", "params": "", "category": "", "context": "", **bot.command_info[name]}
            for name in bot.commands
        ]
    }


def bot_get(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """imbot.v2.Bot.get (bots/bot-get.md): by ``botId`` or ``code``; botToken is required over
    a webhook; the owner sees the extended format, anyone else a brief one (the docs do not
    list its fields: id, code, type and isHidden here)."""
    owner = _owner(caller, params.get("botToken"))
    if params.get("botId") in (None, "") and not params.get("code"):
        raise FakeApiError("PARAMS_REQUIRED", "Required parameters are missing")
    if params.get("botId") not in (None, ""):
        bot = portal.bots.get(_int(params, "botId", "BOT_ID_REQUIRED"))
    else:
        bot = next((b for b in portal.bots.values() if b.code == str(params["code"])), None)
    if bot is None:
        raise FakeApiError("BOT_NOT_FOUND", "Bot not found")
    entity = bot.entity()
    if bot.owner != owner:
        entity = {k: entity[k] for k in ("id", "code", "type", "isHidden") if k in entity}
    return {"bot": entity, "users": [portal.users[bot.id].entity()]}


def profile(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``profile`` (common/users/profile.md): the calling user, with no scope needed."""
    user = portal.users.get(caller.user_id)
    first, _, last = (user.name if user else "Portal Admin").partition(" ")
    return {
        "ID": str(caller.user_id), "ADMIN": True, "NAME": first, "LAST_NAME": last,
        "PERSONAL_GENDER": "", "TIME_ZONE": "",
    }  # fmt: skip


def event_get(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """Events stay queued until an ``offset`` above their id acknowledges them."""
    bot = _bot(portal, caller, params)
    if params.get("offset") not in (None, ""):
        offset = int(params["offset"])
        bot.queue[:] = [e for e in bot.queue if e["eventId"] >= offset]
    limit = min(max(int(params.get("limit") or 100), 1), 1000)
    events = bot.queue[:limit]
    if events:
        next_offset = events[-1]["eventId"] + 1
    else:
        next_offset = int(params.get("offset") or 0) or (
            bot.queue[0]["eventId"] if bot.queue else 0
        )
    return {"events": events, "nextOffset": next_offset, "hasMore": len(bot.queue) > limit}


def message_send(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    bot = _bot(portal, caller, params)
    dialog_id = str(params.get("dialogId") or "")
    if not dialog_id:
        raise FakeApiError("DIALOG_ID_EMPTY", "Dialog ID can't be empty")
    chat = portal.chat_of(dialog_id)
    if chat is not None and bot.id not in chat.members:
        raise FakeApiError("ACCESS_DENIED", "Access denied", 403)
    if chat is None and not dialog_id.isdigit():
        raise FakeApiError("ACCESS_DENIED", "Access denied", 403)
    fields = _obj(params, "fields")
    text = str(fields.get("message") or "").strip()
    if not text and not fields.get("attach"):
        raise FakeApiError("EMPTY_MESSAGE", "Message is empty")
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT] + " (...)"
    keyboard = _keyboard(fields.get("keyboard"))
    uuid = str(fields.get("templateId") or "")
    kind: Literal["system", "bot"] = "system" if _truthy(fields.get("system")) else "bot"
    message = portal.post(dialog_id, bot.id, text, kind, keyboard, uuid=uuid)
    return {"id": message.id, "uuidMap": []}


def _session_chat(portal: Portal, params: dict[str, Any]) -> FakeChat:
    chat = portal.chats.get(_int(params, "CHAT_ID", "CHAT_ID_EMPTY"))
    if chat is None:
        raise FakeApiError("CHAT_ID_EMPTY", "Chat ID can't be empty")
    return chat


def _session_bot(portal: Portal, caller: Caller, chat: FakeChat, params: dict[str, Any]) -> int:
    """transfer/finish look the bot up by the calling app, or by CLIENT_ID over a webhook."""
    if caller.auth == "webhook" and not params.get("CLIENT_ID"):
        raise FakeApiError("ACCESS_DENIED", "Access denied! Client ID not specified", 403)
    owner = _owner(caller, params.get("CLIENT_ID"))
    bot_id = chat.session.bot_id
    if bot_id is None or bot_id not in portal.bots or portal.bots[bot_id].owner != owner:
        raise FakeApiError("BOT_ID_ERROR", "Bot not found")
    return bot_id


def _hand_off(
    portal: Portal, chat: FakeChat, kind: Literal["operator", "transfer"], to: str
) -> None:
    bot_id = chat.session.bot_id
    portal.transfers.append(Transfer(chat.id, chat.session.id, bot_id, kind, to))
    chat.session.state = "queue" if kind == "operator" else "operator"
    if bot_id is not None and portal.line(chat.line_id).welcome_bot_left == "queue":
        chat.members.discard(bot_id)
    portal.post(chat.dialog_id, 0, "The conversation was passed to the operators' queue", "system")


def session_operator(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    params = {k.upper(): v for k, v in params.items()}
    chat = _session_chat(portal, params)
    if chat.session.state != "bot":
        raise FakeApiError("WRONG_CHAT", "Operator is not a bot")
    _hand_off(portal, chat, "operator", "queue")
    return True


def session_transfer(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    # The core reads this method's keys as given (digest §10.1): no upper-casing here.
    chat = _session_chat(portal, params)
    _session_bot(portal, caller, chat, params)
    target = next(
        (f"{k}={params[k]}" for k in ("USER_ID", "QUEUE_ID", "TRANSFER_ID") if params.get(k)), ""
    )
    if not target:
        raise FakeApiError("TRANSFER_ID_EMPTY", "Queue ID or User ID can't be empty")
    if chat.session.state != "bot":
        raise FakeApiError("WRONG_CHAT", "Operator is not a bot")
    _hand_off(portal, chat, "transfer", target)
    return True


def session_finish(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    params = {k.upper(): v for k, v in params.items()}
    chat = _session_chat(portal, params)
    bot_id = _session_bot(portal, caller, chat, params)
    portal.transfers.append(Transfer(chat.id, chat.session.id, bot_id, "finish"))
    chat.session.state = "closed"
    chat.members.discard(bot_id)
    return True


METHODS: dict[str, Method] = {
    "imbot.v2.Bot.register": bot_register,
    "imbot.v2.Bot.unregister": bot_unregister,
    "imbot.v2.Bot.list": bot_list,
    "imbot.v2.Bot.get": bot_get,
    "imbot.v2.Command.register": command_register,
    "imbot.v2.Command.list": command_list,
    "profile": profile,
    "imbot.v2.Event.get": event_get,
    "imbot.v2.Chat.Message.send": message_send,
    "imopenlines.bot.session.operator": session_operator,
    "imopenlines.bot.session.transfer": session_transfer,
    "imopenlines.bot.session.finish": session_finish,
}
