"""Bitrix24 bot events (fetch-mode JSON or webhook-mode form fields) read into one ChatEvent.

Only what the channel acts on survives: ONIMBOTV2MESSAGEADD, ONIMBOTV2COMMANDADD (keyboard
presses) and ONIMBOTV2JOINCHAT; other event types read as ``None``. One of those without the
ids every such event carries (b24restdocs ``chat-bots-v2/imbot.v2/events/events.md``: ``bot``,
``message``, ``chat``, ``user`` on each) raises :class:`MalformedEvent`: without a message id it
cannot be told from a repeat (every such event would share one dedupe key), without the bot's
id the chat's owner (the bot) reads as an operator who took the chat. So does one whose dialog,
session or user id is longer than the column that keeps it: stored, it would fail three times
on PostgreSQL (SQLite does not check lengths). An event without its author is read (the
processor ignores it: it cannot tell the customer from an operator).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from bot.delivery.inbox import Arrival
from bot.storage.lengths import ID_LENGTH
from bot.storage.models import Contact
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.storage import chat_key

Kind = Literal["message", "command", "join"]

_KINDS: dict[str, Kind] = {
    "ONIMBOTV2MESSAGEADD": "message",
    "ONIMBOTV2COMMANDADD": "command",
    "ONIMBOTV2JOINCHAT": "join",
}
_KEY = re.compile(r"([^\[\]]+)|\[([^\[\]]*)\]")
# The longest id each column keeps (the dialog id is also the outbox rows' chat).
_ROOM: dict[str, int | None] = {
    name: getattr(column.type, "length", None)
    for name, column in (
        ("dialog", BitrixChat.__table__.c.dialog_id),
        ("session", BitrixChat.__table__.c.session_id),
        ("user", Contact.__table__.c.external_id),
    )
}


class MalformedEvent(ValueError):
    """An event the channel acts on, lacking an id it needs; the message names the field."""


@dataclass(frozen=True, slots=True)
class ChatEvent:
    """One event in a chat; ``key`` identifies it across repeated deliveries.

    ``session_id`` is the open-line session (``entityData1`` field 6); ``from_customer`` is true
    for the line's connector user (the website visitor), false for operators and bots;
    ``from_bot`` for a bot author. ``owner`` is the chat's owner when the event was written
    (``data.chat.owner``: the bot while it holds the session, 0 in the queue, else the operator),
    None when the portal did not say.
    """

    kind: Kind
    key: str
    bot_id: int
    chat_id: int
    dialog_id: str
    entity_type: str
    session_id: str
    user_id: str
    user_name: str
    from_customer: bool
    text: str = ""
    payload: str = ""
    owner: int | None = None
    from_bot: bool = False

    @property
    def in_open_line(self) -> bool:
        return self.entity_type == "LINES" and self.chat_id > 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ChatEvent:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def arrival(event: ChatEvent) -> Arrival:
    """The event as the inbox stores it: keyed by its id, in order within its chat."""
    payload = event.to_json()
    return Arrival(event.key, payload, chat_key(payload))


def from_fetch(event: Mapping[str, Any]) -> ChatEvent | None:
    """An ``imbot.v2.Event.get`` item (``{eventId, type, date, data}``)."""
    data = event.get("data")
    if not isinstance(data, Mapping):
        return None
    return _read(str(event.get("type", "")), data, f"ev{event.get('eventId', '')}")


def from_form(fields: Mapping[str, Any]) -> ChatEvent | None:
    """A webhook-mode POST, already un-bracketed with :func:`unflatten`."""
    data = fields.get("data")
    if not isinstance(data, Mapping):
        return None
    return _read(str(fields.get("event", "")), data, f"ts{fields.get('ts', '')}")


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """PHP ``http_build_query`` fields (``data[chat][id]=5``) back into nested dictionaries."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        parts = [m.group(1) or m.group(2) or "" for m in _KEY.finditer(name)]
        if not parts:
            continue
        node = root
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[parts[-1]] = value
    return root


def _read(event_type: str, data: Mapping[str, Any], delivery: str) -> ChatEvent | None:
    """``delivery`` tells one press from another of the same button (a command event repeats
    its message's id): the fetch queue's ``eventId``, or a webhook POST's ``ts``."""
    kind = _KINDS.get(event_type.upper())
    if kind is None:
        return None
    bot, chat, user = _map(data, "bot"), _map(data, "chat"), _map(data, "user")
    message, command = _map(data, "message"), _map(data, "command")
    chat_id = _int(chat.get("id") or message.get("chatId"))
    message_id = _int(message.get("id"))
    _require(kind, bot=_int(bot.get("id")), chat=chat_id, message=message_id)
    dialog_id = str(chat.get("dialogId") or data.get("dialogId") or f"chat{chat_id}")
    entity_id = str(chat.get("entityId") or "").split("|")
    customer_id = entity_id[3] if len(entity_id) > 3 else ""
    user_id = str(user.get("id") or "")
    _fits(kind, dialog=dialog_id, session=session_of(chat), user=user_id)
    connector = _flag(user.get("connector")) or (bool(customer_id) and user_id == customer_id)
    if kind == "join":
        key = f"join:{chat_id}:{session_of(chat)}"
    elif kind == "command":
        key = f"cmd:{delivery}:{message.get('id')}:{command.get('command')}"
    else:
        key = f"msg:{message.get('id')}"
    return ChatEvent(
        kind=kind,
        key=key[:ID_LENGTH],
        bot_id=_int(bot.get("id")),
        chat_id=chat_id,
        dialog_id=dialog_id,
        entity_type=str(chat.get("entityType") or ""),
        session_id=session_of(chat),
        user_id=user_id,
        user_name=str(user.get("name") or ""),
        from_customer=connector and not _flag(user.get("bot")),
        from_bot=_flag(user.get("bot")),
        owner=None if chat.get("owner") in (None, "") else _int(chat.get("owner")),
        text=str(message.get("text") or "") if kind == "message" else "",
        payload=str(command.get("params") or "") if kind == "command" else "",
    )


def _require(kind: Kind, **ids: int) -> None:
    """Raise :class:`MalformedEvent` for the first id ``kind`` needs that is not positive."""
    needed = ("bot", "chat") if kind == "join" else ("bot", "chat", "message")
    for name in needed:
        if ids[name] <= 0:
            raise MalformedEvent(f"{kind} event without {name} id")


def _fits(kind: Kind, **ids: str) -> None:
    """Raise :class:`MalformedEvent` for the first id longer than its column."""
    for name, value in ids.items():
        room = _ROOM[name]
        if room is not None and len(value) > room:
            raise MalformedEvent(f"{kind} event with a {name} id longer than {room}")


def _map(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _int(value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 0
    return number if -(2**31) < number < 2**31 else 0  # ids fit the INTEGER columns


def _flag(value: Any) -> bool:
    # JSON booleans in fetch mode; "1"/"0" (or "Y"/"N") strings in webhook mode.
    return value in (True, 1, "1", "Y", "y", "true", "True")


def session_of(chat: Mapping[str, Any]) -> str:
    """The open-line session id: field 6 of ``entityData1``."""
    fields = str(chat.get("entityData1") or "").split("|")
    return fields[5] if len(fields) > 5 else ""
