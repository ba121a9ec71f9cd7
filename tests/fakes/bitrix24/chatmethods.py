"""The fake portal's chat methods: imbot.v2.Chat.get, Chat.Message.send/update, keyboards, and
imopenlines.bot.session.operator/transfer/finish.

Sources: ``yuliai/bitrix-modules`` at ``a3a2a579`` (REST revision 33), cited as ``file:line``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from .access import Caller, flag, owned_bot
from .entities import FakeApiError, FakeBot, FakeChat, FakeMessage, Transfer, binder_error
from .phpform import as_list
from .world import Deferred, Portal

KEYBOARD_JSON_LIMIT = 60_000  # Keyboard::getJson: the JSON must stay under this many characters
ACTIONS = frozenset({"PUT", "SEND", "COPY", "CALL", "DIALOG", "LIVECHAT", "HELP"})
_SEND_FLAGS = {
    "system": "system", "urlPreview": "url_preview", "skipConnector": "skip_connector",
    "silentConnector": "silent_connector",
}  # fmt: skip


def _button(raw: dict[str, Any], bot_id: int) -> dict[str, Any] | None:
    """``Im\\Bot\\Keyboard::addButton`` (``im/lib/bot/keyboard.php:60-190``): a blank ``TEXT``
    drops the button; so does a button that is none of LINK (``^(/|https?://)``), FUNCTION,
    APP_ID, ACTION (+ACTION_VALUE) or COMMAND — and a COMMAND only counts when the keyboard's
    ``BOT_ID`` is above 0."""
    text = raw.get("TEXT")
    if not isinstance(text, str) or not text.strip():
        return None
    button: dict[str, Any] = {"BOT_ID": bot_id, "TYPE": "BUTTON"}
    link, command = raw.get("LINK"), raw.get("COMMAND")
    if isinstance(link, str) and link.startswith(("/", "http://", "https://")):
        button["LINK"] = link
    elif isinstance(raw.get("FUNCTION"), str) and raw["FUNCTION"]:
        button["FUNCTION"] = raw["FUNCTION"]
    elif raw.get("APP_ID"):
        button["APP_ID"] = int(raw["APP_ID"])
    elif raw.get("ACTION") in ACTIONS and str(raw.get("ACTION_VALUE") or "").strip():
        button.update(ACTION=raw["ACTION"], ACTION_VALUE=raw["ACTION_VALUE"])
    elif bot_id > 0 and isinstance(command, str) and command.strip():
        params = raw.get("COMMAND_PARAMS")
        button["COMMAND"] = command.removeprefix("/")
        button["COMMAND_PARAMS"] = params if isinstance(params, str) and params.strip() else ""
    else:
        return None
    button.update(
        TEXT=text.strip(),
        BLOCK="Y" if raw.get("BLOCK") == "Y" else "N",
        DISABLED="Y" if raw.get("DISABLED") == "Y" else "N",
        DISPLAY=raw.get("DISPLAY") if raw.get("DISPLAY") in ("BLOCK", "LINE") else "BLOCK",
    )
    if raw.get("BG_COLOR_TOKEN"):
        button["BG_COLOR_TOKEN"] = raw["BG_COLOR_TOKEN"]
    return button


def keyboard(value: Any, bot_id: int) -> list[dict[str, Any]]:
    """``Keyboard::getKeyboardByJson`` (``keyboard.php:200-240``): ``{BUTTONS: [...]}`` or a bare
    list, a JSON string too. Invalid buttons are dropped; a keyboard left empty, or whose JSON is
    60,000 characters or more, is ``PARAM_KEYBOARD_ERROR`` "Incorrect keyboard params"
    (``FieldsValidationService::checkKeyboard``, ``Param/Keyboard.php:isValid``)."""
    if value in (None, "", [], {}):
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    buttons = value.get("BUTTONS", value) if isinstance(value, dict) else value
    out: list[dict[str, Any]] = []
    for raw in as_list(buttons):
        if isinstance(raw, dict) and raw.get("TYPE") == "NEWLINE":
            out.append({"TYPE": "NEWLINE"})
        elif isinstance(raw, dict) and not raw.get("FUNCTION"):  # FUNCTION: REST disables it
            button = _button(raw, bot_id)
            if button is not None:
                out.append(button)
    if not out or len(json.dumps(out, ensure_ascii=False)) >= KEYBOARD_JSON_LIMIT:
        raise FakeApiError("PARAM_KEYBOARD_ERROR", "Incorrect keyboard params")
    return out


def _member_chat(portal: Portal, bot: FakeBot, dialog_id: str) -> FakeChat | None:
    """``CheckActionAccess``: a LINES chat the bot is not a member of (or no such chat) is
    ``ACCESS_DENIED`` (``im/lib/V2/Controller/Filter/CheckActionAccess.php``)."""
    if not dialog_id:
        raise binder_error("Could not find value for parameter {dialogId}")
    chat = portal.chat_of(dialog_id)
    if (chat is None and not dialog_id.isdigit()) or (chat and bot.id not in chat.members):
        raise FakeApiError("ACCESS_DENIED", "Access denied")
    return chat


def chat_get(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``imbot.v2.Chat.get`` (``imbot/lib/V2/Controller/Chat.php:110-118``): the chat with its
    ``owner`` and ``entityData1``; a chat without the bot is ``ACCESS_DENIED`` (method page)."""
    bot = owned_bot(portal, caller, params)
    chat = _member_chat(portal, bot, str(params.get("dialogId") or ""))
    if chat is None:
        raise FakeApiError("ACCESS_DENIED", "Access denied")
    return {"chat": chat.entity()}


def _send_flags(portal: Portal, fields: dict[str, Any]) -> dict[str, bool]:
    """``Message::sendAction`` normalises the four flags (``Chat/Message.php:142-148``); JSON
    booleans count only from revision 33 (BOT-FIX-0402-2), before it only ``"Y"``."""
    out = {}
    for key, name in _SEND_FLAGS.items():
        value = fields.get(key)
        out[name] = flag(value) if portal.revision >= 33 else value == "Y"
    return out


def message_send(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``imbot.v2.Chat.Message.send`` (``imbot/lib/V2/Controller/Chat/Message.php:123-190``):
    the keyboard's ``BOT_ID`` is always the calling bot (``FieldsValidationService.php:264``);
    ``templateId`` is the message uuid (``im/lib/V2/Message.php:1520``); the answer is
    ``{"id", "uuidMap": []}``. Its refusals are the method page's (bitrix24/b24restdocs
    ``api-reference/chat-bots/chat-bots-v2/imbot.v2/messages/chat-message-send.md`` at
    ``5988ed1``, "Possible Error Codes"): ``ACCESS_DENIED`` "Bot is not a participant in the
    chat" and ``EMPTY_MESSAGE``, which sending again cannot cure, and ``SENDING_FAILED``
    (:meth:`Portal.post`), which it may; the bot's own ones come from :func:`owned_bot`."""
    bot = owned_bot(portal, caller, params)
    dialog_id = str(params.get("dialogId") or "")
    _member_chat(portal, bot, dialog_id)
    fields = params.get("fields") if isinstance(params.get("fields"), dict) else {}
    text = str(fields.get("message") or "")
    flags = _send_flags(portal, fields)
    if not text.strip() and not fields.get("attach"):
        raise FakeApiError("EMPTY_MESSAGE", "Message can't be empty")
    buttons = keyboard(fields.get("keyboard"), bot.id)
    kind: Literal["system", "bot"] = "system" if flags["system"] else "bot"
    uuid = str(fields.get("templateId") or "")

    def answer(message: FakeMessage) -> dict[str, Any]:
        message.skip_connector = message.skip_connector or flags["skip_connector"]
        message.silent_connector = message.silent_connector or flags["silent_connector"]
        return {"id": message.id, "uuidMap": []}

    try:
        return answer(portal.post(dialog_id, bot.id, text, kind, buttons, uuid=uuid))
    except Deferred as pending:  # still running: the wire answers when it completes
        posting = pending.finish
        raise Deferred(pending.delay, lambda: answer(posting())) from None


def message_update(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``imbot.v2.Chat.Message.update`` (``Chat/Message.php:197-230``): the bot's own message;
    the keyboard goes through ``Message::setKeyboard``, which fills ``BOT_ID`` from the
    message's bot only *if set* (``im/lib/V2/Message.php:517-539``). Unsettled, so by default the
    safe reading: a keyboard without ``BOT_ID`` loses its COMMAND buttons (the method page warns
    the press "may not be routed"); ``portal.update_fills_keyboard_bot_id`` switches it."""
    bot = owned_bot(portal, caller, params)
    message = portal.messages.get(int(params.get("messageId") or 0))
    if message is None:
        raise FakeApiError("MESSAGE_NOT_FOUND", "Message not found")
    if message.author_id != bot.id:
        raise FakeApiError("MESSAGE_ACCESS_DENIED", "You do not have access to this message")
    fields = params.get("fields") if isinstance(params.get("fields"), dict) else {}
    if fields.get("message") is not None:
        message.text = str(fields["message"])
    if "keyboard" in fields:
        raw = fields["keyboard"]
        given = raw.get("BOT_ID") if isinstance(raw, dict) else None
        filled = bot.id if portal.update_fills_keyboard_bot_id else 0
        message.keyboard = keyboard(raw, int(given or filled)) if raw else []
    return {"result": True}


def _session_chat(portal: Portal, params: dict[str, Any]) -> tuple[int, FakeChat | None]:
    try:
        chat_id = int(params.get("CHAT_ID") or 0)
    except (TypeError, ValueError):
        chat_id = 0
    if chat_id <= 0:
        raise FakeApiError("CHAT_ID_EMPTY", "Chat ID can't be empty")
    return chat_id, portal.chats.get(chat_id)


def _app_bot(portal: Portal, caller: Caller, params: dict[str, Any]) -> int:
    """``Rest::resolveClientId`` then ``Bot::getBotIdByAppId`` (``imopenlines/lib/rest.php:
    2393-2409``, ``im/lib/bot.php:2132-2153``): the app's *first* bot, whatever chat; over a
    webhook ``CLIENT_ID`` names it, else 403 ``ACCESS_DENIED``."""
    upper = {k.upper(): v for k, v in params.items()}
    if caller.auth == "oauth":
        owner = f"app:{caller.client_id}"
    elif upper.get("CLIENT_ID") in (None, ""):
        raise FakeApiError("ACCESS_DENIED", "Access denied! Client ID not specified.", 403)
    else:
        owner = f"token:{upper['CLIENT_ID']}"
    mine = sorted(b.id for b in portal.bots.values() if b.owner == owner)
    if not mine:
        raise FakeApiError("BOT_ID_ERROR", "Bot not found")
    return mine[0]


def session_operator(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Rest::botSessionOperator`` (``imopenlines/lib/rest.php:754-777``): ``endBotSession``,
    which acts only while the session's operator is a bot — any bot — else ``WRONG_CHAT``
    "Operator is not a bot". No ``CLIENT_ID`` needed."""
    params = {k.upper(): v for k, v in params.items()}
    _, chat = _session_chat(portal, params)
    if chat is None:
        raise FakeApiError("WRONG_CHAT", "Operator is not a bot")
    session, bot_id = chat.session, chat.session.operator_id
    if not portal.end_bot_session(chat):
        raise FakeApiError("WRONG_CHAT", "Operator is not a bot")
    portal.transfers.append(Transfer(chat.id, session.id, bot_id, "operator", "queue"))
    return True


def session_transfer(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Rest::botSessionTransfer`` (``rest.php:799-874``): keys read *as given* (no
    upper-casing); ``TRANSFER_ID`` (``queueN`` or a user), else ``USER_ID``, else ``QUEUE_ID``;
    no ownership check; ``OPERATOR_WRONG`` when the chat cannot be moved."""
    _, chat = _session_chat(portal, params)
    target = params.get("TRANSFER_ID")
    if target not in (None, ""):
        target = str(target)
    elif params.get("USER_ID") not in (None, ""):
        if int(params["USER_ID"]) <= 0:
            raise FakeApiError("USER_ID_EMPTY", "User ID can't be empty")
        target = str(int(params["USER_ID"]))
    elif params.get("QUEUE_ID") not in (None, ""):
        if int(params["QUEUE_ID"]) <= 0:
            raise FakeApiError("QUEUE_ID_EMPTY", "QUEUE ID can't be empty")
        target = f"queue{int(params['QUEUE_ID'])}"
    else:
        raise FakeApiError("TRANSFER_ID_EMPTY", "Queue ID or User ID can't be empty")
    bot_id = _app_bot(portal, caller, params)
    if chat is None or chat.session.state == "closed":
        raise FakeApiError("OPERATOR_WRONG", "You can not redirect to this operator")
    session = chat.session
    if not portal.transfer(chat, bot_id, target, params.get("LEAVE") != "N"):
        raise FakeApiError("OPERATOR_WRONG", "You can not redirect to this operator")
    portal.transfers.append(Transfer(chat.id, session.id, bot_id, "transfer", target))
    portal.system_message(chat, "The conversation was transferred")
    return True


def session_finish(portal: Portal, caller: Caller, params: dict[str, Any]) -> Any:
    """``Rest::botSessionFinish`` (``rest.php:876-903``): ``answer(bot)`` then ``finish()``, with
    **no ownership check** — on a chat an operator (or the queue) holds, the bot takes it first
    (operators removed, "took the dialog" posted), then closes it. Always ``true``; the record's
    ``stolen_from`` names whoever held it when that was not the bot."""
    params = {k.upper(): v for k, v in params.items()}
    _, chat = _session_chat(portal, params)
    bot_id = _app_bot(portal, caller, params)
    if chat is None or chat.session.state == "closed":
        return True
    holder, session = chat.owner, chat.session
    portal.answer(chat, bot_id)
    stolen = None if holder == bot_id else holder
    portal.transfers.append(Transfer(chat.id, session.id, bot_id, "finish", stolen_from=stolen))
    portal.finish_session(chat)
    return True


CHAT_METHODS = {
    "imbot.v2.Chat.get": chat_get,
    "imbot.v2.Chat.Message.send": message_send,
    "imbot.v2.Chat.Message.update": message_update,
    "imopenlines.bot.session.operator": session_operator,
    "imopenlines.bot.session.transfer": session_transfer,
    "imopenlines.bot.session.finish": session_finish,
}
