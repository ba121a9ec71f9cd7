"""The fake portal's imbot.v2 bot, command, event and revision methods, and the method table.

Sources: ``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision 33) and, for revision 32,
``8c347630``; the change log is ``bitrix24/b24restdocs``
``api-reference/chat-bots/chat-bots-v2/change-log.md``.
"""

from __future__ import annotations

from typing import Any

from .access import Caller, Method, caller_app, flag, owned_bot, param, token_of
from .chatmethods import CHAT_METHODS
from .entities import FakeApiError, FakeBot, FakeCommand, binder_error
from .world import EVENT_TTL, Portal

BOT_TYPES = frozenset({"bot", "supervisor", "personal", "openline", "network"})
BOT_LIMIT = 100  # Bot::BOT_LIMIT_DEFAULT (imbot/lib/V2/Controller/Bot.php:21)


def _obj(params: dict[str, Any], *keys: str) -> dict[str, Any]:
    value = next((params[k] for k in keys if k in params), None)
    return value if isinstance(value, dict) else {}


def _bot_result(portal: Portal, bot: FakeBot, owner: str) -> dict[str, Any]:
    mine = bot.owner == owner
    return {
        "bot": bot.entity(owner_format=mine, revision=portal.revision),
        "users": [portal.users[bot.id].entity()],
    }


def bot_register(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Bot::registerAction`` (``Bot.php:62-200``): the same code from the same app returns the
    existing bot unchanged (106-125), another app's code is ``BOT_CODE_ALREADY_TAKEN``."""
    fields = _obj(params, "fields", "FIELDS")
    owner = caller_app(portal, caller, token_of(params) or param(fields, "botToken", "BOT_TOKEN"))
    code = str(fields.get("code") or "")
    if not code:
        raise FakeApiError("BOT_CODE_REQUIRED", "Bot code is required")
    existing = next((b for b in portal.bots.values() if b.code == code), None)
    if existing is not None:
        if existing.owner != owner:
            raise FakeApiError("BOT_CODE_ALREADY_TAKEN", "Bot with this code already exists")
        return _bot_result(portal, existing, owner)
    properties = _obj(fields, "properties")
    if not properties.get("name"):
        raise FakeApiError("BOT_PROPERTIES_REQUIRED", "Bot properties are required")
    mode = str(fields.get("eventMode") or "fetch").lower()
    if mode not in ("fetch", "webhook"):
        raise FakeApiError("BOT_INVALID_EVENT_MODE", "Invalid event mode")
    url = str(fields.get("webhookUrl") or "")
    if mode == "webhook" and not url:
        raise FakeApiError(
            "BOT_WEBHOOK_URL_REQUIRED", "Webhook URL is required for webhook event mode"
        )
    if sum(b.owner == owner for b in portal.bots.values()) >= BOT_LIMIT:
        raise FakeApiError("BOT_LIMIT_EXCEEDED", "Bot registration limit exceeded")
    bot_type = str(fields.get("type") or "bot")
    if bot_type not in BOT_TYPES:
        raise FakeApiError("BOT_INVALID_TYPE", "Invalid bot type")
    user = portal.add_user(str(properties["name"]), "bot")
    bot = FakeBot(
        user.id, code, user.name, bot_type, mode, url, owner,
        flag(fields.get("isSupportOpenline", "N")),
    )  # fmt: skip
    portal.bots[bot.id] = bot
    return _bot_result(portal, bot, owner)


def bot_update(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Bot::updateAction`` (``Bot.php:238-330``): ``eventMode``, ``webhookUrl`` (re-bound when
    the mode is webhook), ``isSupportOpenline``, the name; ``BOT_INVALID_EVENT_MODE``."""
    bot = owned_bot(portal, caller, params)
    fields = _obj(params, "fields")
    if "eventMode" in fields:
        mode = str(fields["eventMode"]).lower()
        if mode not in ("fetch", "webhook"):
            raise FakeApiError("BOT_INVALID_EVENT_MODE", "Invalid event mode")
        bot.event_mode = mode
    if "isSupportOpenline" in fields:
        bot.is_support_openline = flag(fields["isSupportOpenline"])
    name = _obj(fields, "properties").get("name")
    if name:
        bot.name = portal.users[bot.id].name = str(name)
    if bot.event_mode == "webhook" and fields.get("webhookUrl"):
        bot.webhook_url = str(fields["webhookUrl"])
    return {"bot": bot.entity(revision=portal.revision)}


def bot_unregister(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Bot::unregisterAction``: ``{"result": true}`` wrapped like every v2 answer."""
    bot = owned_bot(portal, caller, params)
    del portal.bots[bot.id]
    for chat in portal.chats.values():
        chat.members.discard(bot.id)
    return {"result": True}


def bot_list(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Bot::listAction`` (``Bot.php:350-390``): the caller's bots only, ``limit`` 50 by
    default from ``offset``, ``hasNextPage`` when the page is full (``count == limit``)."""
    owner = caller_app(portal, caller, token_of(params))
    try:
        limit, offset = int(params.get("limit", 50)), int(params.get("offset", 0))
    except (TypeError, ValueError):
        raise binder_error("Invalid value to match with parameter {limit}.") from None
    wanted = _obj(params, "filter").get("type")
    mine = sorted(
        (b for b in portal.bots.values() if b.owner == owner and wanted in (None, "", b.type)),
        key=lambda b: b.id,
    )
    page = mine[offset : offset + limit] if limit > 0 else []
    return {
        "bots": [b.entity(revision=portal.revision) for b in page],
        "users": [portal.users[b.id].entity() for b in page],
        "hasNextPage": len(page) == limit,
    }


def bot_get(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Bot::getAction`` via ``resolveFlexibleBot`` (``Bot.php:332-435``): by ``botId``, or by
    ``code`` alone (any app's bot, in the brief format when not the caller's);
    ``PARAMS_REQUIRED`` without either."""
    owner = caller_app(portal, caller, token_of(params))
    bot_id = param(params, "botId", "BOT_ID")
    code = param(params, "code", "CODE")
    if bot_id is not None and int(bot_id) > 0:
        bot = portal.bots.get(int(bot_id))
    elif code is not None:
        bot = next((b for b in portal.bots.values() if b.code == str(code)), None)
    else:
        raise FakeApiError("PARAMS_REQUIRED", "botId or code is required")
    if bot is None:
        raise FakeApiError("BOT_NOT_FOUND", "Bot not found")
    return _bot_result(portal, bot, owner)


def _langs(value: Any) -> dict[str, str]:
    """A ``{lang: text}`` map as ``foreach`` sees it; a string yields nothing (a PHP warning)."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return {str(i): str(v) for i, v in enumerate(value)}
    return {}


def _flat_register(portal: Portal, params: dict[str, Any]) -> dict[str, Any]:
    """The legacy flat parameters, bound by type as ``Binder::getParameterValue`` does
    (``?string $command``, ``?array $title``, ``?array $params``; revision 32 also types the
    flags as ``string`` and requires ``command``)."""
    if portal.revision < 33 and "command" not in params:
        raise binder_error("Could not find value for parameter {command}")
    typed: dict[str, tuple[type, ...]] = {"command": (str,), "title": (dict, list)}
    typed["params"] = (dict, list)
    if portal.revision < 33:
        typed.update(common=(str,), hidden=(str,), extranetSupport=(str,))
    for name, kinds in typed.items():
        value = params.get(name)
        if value is not None and not isinstance(value, kinds):
            wanted = "string" if kinds == (str,) else "array"
            raise binder_error(
                f"Invalid value {{{value}}} to match with parameter {{{name}}}. "
                f"Should be value of type {wanted}."
            )
    return {k: params.get(k, "N") for k in ("common", "hidden", "extranetSupport")} | {
        k: params.get(k) for k in ("command", "title", "params")
    }


def command_register(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Command::registerAction`` (``imbot/lib/V2/Controller/Command.php:20-137``).

    From revision 33 a non-empty ``fields`` is the request (BOT-BC-0330-1), else the flat keys;
    revision 32 reads only the flat keys (``8c347630``). The same ``(bot, command, app)`` returns
    the existing command **unchanged** (63-74: only ``Command.update`` changes one). ``title`` is
    ``{lang: text}`` with lower-cased keys; a visible command without one is
    ``COMMAND_TITLE_REQUIRED`` (rev 33); ``EXTRANET_SUPPORT`` defaults to N (120).
    """
    bot = owned_bot(portal, caller, params)
    fields = params.get("fields")
    if portal.revision >= 33 and isinstance(fields, dict) and fields:
        data = fields
    else:
        data = _flat_register(portal, params)
    name = data.get("command")
    if name is not None and not isinstance(name, str):
        raise FakeApiError("COMMAND_NAME_INVALID", "Command name must be a string")
    name = (name or "").removeprefix("/")
    if not name:
        raise FakeApiError("COMMAND_REQUIRED", "Command is required")
    existing = bot.commands.get(name)
    if existing is not None and existing.app == bot.owner:
        return {"command": existing.entity()}
    titles = _langs(data.get("title"))
    hidden = flag(data.get("hidden", "N"))
    if portal.revision >= 33:
        titles = {k.lower(): v for k, v in titles.items()}
        if not hidden and not titles:
            raise FakeApiError("COMMAND_TITLE_REQUIRED", "Title is required for visible commands")
    command = FakeCommand(
        portal.new_id(), bot.id, name, bot.owner,
        common=flag(data.get("common", "N")), hidden=hidden,
        extranet_support=flag(data.get("extranetSupport", "N")),
        titles=titles, params=_langs(data.get("params")),
    )  # fmt: skip
    bot.commands[name] = command
    return {"command": command.entity()}


def command_update(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Command::updateAction`` (``Command.php:200-343``, also at revision 32): the command must
    be this bot's (``COMMAND_NOT_FOUND``); a rename checks ``COMMAND_NAME_*`` and
    ``COMMAND_ALREADY_EXISTS``; a non-object ``title`` is ``COMMAND_TITLE_INVALID``; a ``null``
    translation deletes it."""
    bot = owned_bot(portal, caller, params)
    if params.get("commandId") in (None, ""):
        raise binder_error("Could not find value for parameter {commandId}")
    command_id = int(params["commandId"])
    command = next((c for c in bot.commands.values() if c.id == command_id), None)
    if command is None or command.app != bot.owner:
        raise FakeApiError("COMMAND_NOT_FOUND", "Command not found")
    fields = _obj(params, "fields")
    if "command" in fields and fields["command"] is not None:
        if not isinstance(fields["command"], str):
            raise FakeApiError("COMMAND_NAME_INVALID", "Command name must be a string")
        name = fields["command"].removeprefix("/")
        if not name:
            raise FakeApiError("COMMAND_NAME_EMPTY", "Command name cannot be empty")
        if name in bot.commands and bot.commands[name] is not command:
            raise FakeApiError("COMMAND_ALREADY_EXISTS", "Command with this name already exists")
        del bot.commands[command.name]
        command.name = name
        bot.commands[name] = command
    for key, attr in (("common", "common"), ("hidden", "hidden")):
        if fields.get(key) is not None:
            setattr(command, attr, flag(fields[key]))
    if fields.get("extranetSupport") is not None:
        command.extranet_support = flag(fields["extranetSupport"])
    if fields.get("title") is not None:
        if not isinstance(fields["title"], dict):
            raise FakeApiError(
                "COMMAND_TITLE_INVALID", "Title must be an object with language keys"
            )
        for lang, text in fields["title"].items():
            if text is None:
                command.titles.pop(str(lang).lower(), None)
            else:
                command.titles[str(lang).lower()] = str(text)
    return {"command": command.entity()}


def command_list(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Command::listAction`` through ``Entity\\Command\\Command::toRestFormat``
    (``im/lib/V2/Entity/Command/Command.php:119-140``): ``common``/``extranet`` as ``"Y"``/``"N"``
    strings, no ``hidden`` — not what the method page shows."""
    bot = owned_bot(portal, caller, params)
    return {
        "commands": [
            {
                "id": c.id, "botId": bot.id, "command": f"/{c.name}",
                "common": "Y" if c.common else "N", "extranet": "Y" if c.extranet_support else "N",
                "title": c.titles.get("ru", ""), "params": c.params.get("ru", ""),
            }
            for c in bot.commands.values()
        ]
    }  # fmt: skip


def event_get(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Event::getAction`` → ``EventService::fetchEventsForRest`` (``im/lib/V2/EventLog/
    EventService.php:22-113``): an ``offset`` > 0 deletes the bot's events below it; the page is
    the oldest ``limit`` (1..1000, default 100) from there; ``nextOffset = max(offset, last+1)``,
    so an empty page gives back the offset sent; ``hasMore = count >= limit``. Events older than
    24 h are gone (``cleanAgent``).

    Before BOT-BC-0325-1 (revision < 32 here) the answer had ``lastEventId`` instead. What it was
    on an empty page is not known: this fake answers ``offset - 1`` (0 without an offset).
    """
    bot = owned_bot(portal, caller, params)
    now = portal.now()
    bot.queue[:] = [e for e in bot.queue if now - bot.queued_at[e["eventId"]] <= EVENT_TTL]
    try:
        offset = max(0, int(params.get("offset") or 0))
        limit = min(1000, max(1, int(params.get("limit") or 100)))
    except (TypeError, ValueError):
        raise binder_error("Invalid value to match with parameter {offset}.") from None
    if offset > 0:
        bot.queue[:] = [e for e in bot.queue if e["eventId"] >= offset]
    page = bot.queue[:limit]
    has_more = len(page) >= limit
    if portal.event_format == "lastEventId":
        last = page[-1]["eventId"] if page else max(offset - 1, 0)
        return {"events": page, "lastEventId": last, "hasMore": has_more}
    next_offset = max([offset, *(e["eventId"] + 1 for e in page)])
    return {"events": page, "nextOffset": next_offset, "hasMore": has_more}


def revision_get(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Revision::getAction`` (``imbot/lib/V2/Controller/Revision.php``, no bot or token needed)
    returns ``Im\\Revision::get()`` (``im/lib/revision.php``); added in REST revision 33
    (BOT-NEW-0402-1)."""
    return {"rest": portal.revision, "web": 130, "mobile": 23, "desktop": 6}


def profile(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``profile`` (docs ``api-reference/common/users/profile.md``): the calling user, no scope
    needed (the webhook's user, or the user who installed the app)."""
    user = portal.users.get(caller.user_id)
    first, _, last = (user.name if user else "Portal Admin").partition(" ")
    return {
        "ID": str(caller.user_id), "ADMIN": True, "NAME": first, "LAST_NAME": last,
        "PERSONAL_GENDER": "", "TIME_ZONE": "",
    }  # fmt: skip


# Method -> (handler, first REST revision that has it). Names are matched in lower case, as
# CRestServer lower-cases them (rest/classes/general/rest.php:87).
METHODS: dict[str, tuple[Method, int]] = {
    "imbot.v2.Bot.register": (bot_register, 0),
    "imbot.v2.Bot.update": (bot_update, 0),
    "imbot.v2.Bot.unregister": (bot_unregister, 0),
    "imbot.v2.Bot.list": (bot_list, 0),
    "imbot.v2.Bot.get": (bot_get, 0),
    "imbot.v2.Command.register": (command_register, 0),
    "imbot.v2.Command.update": (command_update, 0),
    "imbot.v2.Command.list": (command_list, 0),
    "imbot.v2.Event.get": (event_get, 0),
    "imbot.v2.Revision.get": (revision_get, 33),
    "profile": (profile, 0),
    **{name: (handler, 0) for name, handler in CHAT_METHODS.items()},
}
_BY_NAME = {name.lower(): entry for name, entry in METHODS.items()}


def find_method(name: str, revision: int) -> Method | None:
    """The handler of ``name`` (any case) on a portal at ``revision``; None: not found (404)."""
    entry = _BY_NAME.get(name.lower())
    if entry is None or revision < entry[1]:
        return None
    return entry[0]
