"""Ephemeral messages (Bot API 10.2, 2026-07-14; reshaped in 10.3, 2026-08-24): a message in a
group that one member sees, and the methods that edit or delete it.

Sources: the Bot API reference ("Ephemeral Messages and Commands"; sendMessage and the other send
methods), aiogram 3.31 (`types/ephemeral_message_parameters.py`, `methods/send_message.py`,
`methods/edit_ephemeral_message_*.py`, `methods/delete_ephemeral_message.py`). The server source
for 10.2+ is not published (tdlib/telegram-bot-api is at 10.0), so:
- the rules come from the documentation: group and supergroup chats only; the receiver a non-bot
  member; an administrator bot may send at any time, any bot within 15 s of the receiver's
  callback query (its `callback_query_id`); `message_id` is 0 and `ephemeral_message_id` names
  the message; `copyMessage` has no such parameters (ignored, as the server ignores any unknown
  parameter);
- every error text here is NOT from the sources (errors.py, "fake wording"); a stale or foreign
  `callback_query_id` is refused even for an administrator bot (the docs do not say; the stricter
  reading, so a bot that falls back on any error is what the tests reward);
- `reply_parameters.ephemeral_message_id` (answering a user's ephemeral message) is not modelled:
  users of the fake do not send ephemeral messages.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import (
    EPHEMERAL_NOT_A_GROUP,
    EPHEMERAL_NOT_ALLOWED,
    EPHEMERAL_NOT_FOUND,
    EPHEMERAL_RECEIVER_INVALID,
    bad_request,
)
from .formatting import CAPTION_LIMIT, TEXT_LIMIT, format_text
from .models import FakeChat, FakeMessage, FakeTopic, FakeUser
from .params import Params
from .state import Handler, World, validate_reply_markup

EPHEMERAL_WINDOW = 15.0  # "within 15 seconds of the incoming eligible action"
_MEMBER = ("creator", "administrator", "member", "restricted")


@dataclass(frozen=True)
class EphemeralRequest:
    receiver: FakeUser
    callback_query_id: str | None
    replace_callback_query_message: bool


def ephemeral_request(world: World, p: Params, chat: FakeChat) -> EphemeralRequest | None:
    """The send's ephemeral parameters (10.3 object, or 10.2's flat pair), checked; else None."""
    params = p.get_json("ephemeral_message_parameters")
    if params is None and p.has("receiver_user_id"):  # Bot API 10.2, deprecated in 10.3
        params = {
            "receiver_user_id": p.get_int("receiver_user_id"),
            "callback_query_id": p.get_str("callback_query_id"),
        }
    if params is None:
        return None
    if not isinstance(params, dict):
        raise bad_request("can't parse ephemeral_message_parameters JSON object (fake wording)")
    if chat.is_private:
        raise bad_request(EPHEMERAL_NOT_A_GROUP)
    try:
        receiver_id = int(params.get("receiver_user_id") or 0)
    except (TypeError, ValueError):
        receiver_id = 0
    receiver = world.users.get(receiver_id)
    if receiver is None or receiver.is_bot or chat.members.get(receiver_id) not in _MEMBER:
        raise bad_request(EPHEMERAL_RECEIVER_INVALID)
    query_id = params.get("callback_query_id")
    if query_id:
        query = world.callbacks.get(str(query_id))
        if (
            query is None
            or query.user is not receiver
            or world.clock.now() - query.created > EPHEMERAL_WINDOW
        ):
            raise bad_request(EPHEMERAL_NOT_ALLOWED)
    elif chat.bot_status not in ("administrator", "creator"):
        raise bad_request(EPHEMERAL_NOT_ALLOWED)
    replace = bool(params.get("replace_callback_query_message"))
    return EphemeralRequest(receiver, str(query_id) if query_id else None, replace)


def add_ephemeral(
    world: World,
    chat: FakeChat,
    request: EphemeralRequest,
    topic: FakeTopic | None,
    **fields: Any,
) -> FakeMessage:
    """Store an ephemeral message (seen by `request.receiver` only); its message_id is 0."""
    ephemeral_id = chat.next_ephemeral_id
    chat.next_ephemeral_id += 1
    message = FakeMessage(
        chat,
        0,
        world.now(),
        world.bot,
        thread_id=topic.thread_id if topic else None,
        receiver=request.receiver,
        ephemeral_id=ephemeral_id,
        **fields,
    )
    chat.ephemeral[(request.receiver.id, ephemeral_id)] = message
    world.signal.notify()
    return message


def _ephemeral(world: World, p: Params) -> FakeMessage:
    chat = world.chat(p.chat_id())
    key = (p.required_int("receiver_user_id"), p.required_int("ephemeral_message_id"))
    message = chat.ephemeral.get(key)
    if message is None or message.deleted:
        raise bad_request(EPHEMERAL_NOT_FOUND)
    return message


def _edited(world: World, message: FakeMessage) -> bool:
    message.edit_date = world.now()
    world.signal.notify()
    return True


async def edit_ephemeral_text(world: World, p: Params) -> Any:
    message = _ephemeral(world, p)
    message.text, message.entities = format_text(
        p.get_str("text"), p.get_str("parse_mode"), p.get_json("entities"), limit=TEXT_LIMIT
    )
    message.reply_markup = validate_reply_markup(p.get_json("reply_markup"))
    return _edited(world, message)


async def edit_ephemeral_caption(world: World, p: Params) -> Any:
    message = _ephemeral(world, p)
    message.caption, message.caption_entities = format_text(
        p.get_str("caption"),
        p.get_str("parse_mode"),
        p.get_json("caption_entities"),
        limit=CAPTION_LIMIT,
        caption=True,
    )
    message.reply_markup = validate_reply_markup(p.get_json("reply_markup"))
    return _edited(world, message)


async def edit_ephemeral_reply_markup(world: World, p: Params) -> Any:
    message = _ephemeral(world, p)
    message.reply_markup = validate_reply_markup(p.get_json("reply_markup"))
    return _edited(world, message)


async def edit_ephemeral_media(world: World, p: Params) -> Any:
    """The new media is recorded as given (InputMedia JSON); files are not resolved."""
    message = _ephemeral(world, p)
    media = p.get_json("media")
    if not isinstance(media, dict) or not isinstance(media.get("type"), str):
        raise bad_request("can't parse InputMedia JSON object")
    message.media = {media["type"]: media}
    message.reply_markup = validate_reply_markup(p.get_json("reply_markup"))
    return _edited(world, message)


async def delete_ephemeral(world: World, p: Params) -> Any:
    _ephemeral(world, p).deleted = True
    world.signal.notify()
    return True


HANDLERS: dict[str, Handler] = {
    "editEphemeralMessageText": edit_ephemeral_text,
    "editEphemeralMessageCaption": edit_ephemeral_caption,
    "editEphemeralMessageMedia": edit_ephemeral_media,
    "editEphemeralMessageReplyMarkup": edit_ephemeral_reply_markup,
    "deleteEphemeralMessage": delete_ephemeral,
}
