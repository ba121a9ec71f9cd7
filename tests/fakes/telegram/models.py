"""The fake's world: users, chats, topics, messages, callback queries and recorded calls.

Each object renders itself in the Bot API's JSON shape (field tables of Bot API 10.x), so
aiogram parses what the fake sends into its own types without errors.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

PRIVATE, GROUP, SUPERGROUP = "private", "group", "supergroup"


@dataclass(eq=False)
class FakeUser:
    """A Telegram account; `started`/`blocked` describe its private chat with the bot.

    `voice_forbidden`: a (Premium) person who forbids voice and video-note messages; sends of
    those to them fail with 400 VOICE_MESSAGES_FORBIDDEN (TD MessagesManager
    `process_send_message_fail_error`; TD MessageContent.cpp `can_send_message_content`).
    """

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    started: bool = False
    blocked: bool = False
    voice_forbidden: bool = False

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass(eq=False)
class FakeTopic:
    """A forum topic; its id is the message_id of its `forum_topic_created` service message."""

    chat_id: int
    thread_id: int
    name: str
    icon_color: int
    icon_custom_emoji_id: str | None = None
    closed: bool = False
    deleted: bool = False
    created_by: int | None = None  # user id; the bot's own topics are `is_outgoing` in TDLib
    deleted_at: float | None = None  # server clock

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_thread_id": self.thread_id,
            "name": self.name,
            "icon_color": self.icon_color,
        }
        if self.icon_custom_emoji_id:
            data["icon_custom_emoji_id"] = self.icon_custom_emoji_id
        return data


@dataclass(eq=False)
class FakeChat:
    """A private chat, group or (forum) supergroup, with its own message-id counter."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    user: FakeUser | None = None  # the other side of a private chat
    is_forum: bool = False
    members: dict[int, str] = field(default_factory=dict)  # user id -> ChatMember status
    bot_status: str = "member"
    bot_rights: dict[str, bool] = field(default_factory=dict)
    topics: dict[int, FakeTopic] = field(default_factory=dict)
    messages: dict[int, FakeMessage] = field(default_factory=dict)
    next_message_id: int = 1
    # "Restrict saving content": copies and forwards out of the chat are refused.
    protected_content: bool = False
    # ChatFullInfo.available_reactions; None = every emoji reaction is allowed.
    available_reactions: list[str] | None = None
    # Ephemeral messages (Bot API 10.2) by (receiver id, ephemeral_message_id).
    ephemeral: dict[tuple[int, int], FakeMessage] = field(default_factory=dict)
    next_ephemeral_id: int = 1
    # A basic group upgraded to a supergroup (turning topics on does it): the new chat's id.
    upgraded_to: int | None = None

    @property
    def is_private(self) -> bool:
        return self.type == PRIVATE

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "type": self.type}
        if self.user is not None:
            data["first_name"] = self.user.first_name
            if self.user.last_name:
                data["last_name"] = self.user.last_name
            if self.user.username:
                data["username"] = self.user.username
        else:
            data["title"] = self.title or ""
            if self.username:
                data["username"] = self.username
        if self.is_forum:
            data["is_forum"] = True
        return data

    def full_info(self) -> dict[str, Any]:
        """ChatFullInfo, as getChat returns it (with the fields aiogram requires)."""
        data = self.to_json()
        data.update(
            accent_color_id=0,
            max_reaction_count=11,
            accepted_gift_types={
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        )
        if self.protected_content:
            data["has_protected_content"] = True
        if self.available_reactions is not None:
            data["available_reactions"] = [
                {"type": "emoji", "emoji": emoji} for emoji in self.available_reactions
            ]
        return data


@dataclass(eq=False)
class FakeMessage:
    """A message in a chat, from a user or from the bot; edits change it in place.

    `sender_chat` is set for a message an anonymous group administrator posted on behalf of the
    group (then `sender` is GroupAnonymousBot); `receiver` for an ephemeral message, visible to
    that user only; `extra` holds fields of a newer Bot API than the client knows.
    """

    chat: FakeChat
    message_id: int
    date: int
    sender: FakeUser | None
    text: str | None = None
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    media: dict[str, Any] = field(default_factory=dict)  # e.g. {"photo": [PhotoSize, ...]}
    thread_id: int | None = None
    reply_to: FakeMessage | None = None
    reply_markup: dict[str, Any] | None = None
    service: dict[str, Any] = field(default_factory=dict)  # e.g. {"forum_topic_closed": {}}
    forward_origin: dict[str, Any] | None = None
    edit_date: int | None = None
    deleted: bool = False
    sender_chat: FakeChat | None = None
    author_signature: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    protected: bool = False
    reactions: list[dict[str, Any]] = field(default_factory=list)  # the bot's own reaction
    receiver: FakeUser | None = None
    ephemeral_id: int | None = None

    @property
    def from_bot(self) -> bool:
        """Sent by a bot (ours): not by an anonymous administrator, whose `from` is a bot too."""
        return self.sender is not None and self.sender.is_bot and self.sender_chat is None

    @property
    def is_ephemeral(self) -> bool:
        return self.receiver is not None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """Every inline button of the message, row by row."""
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]

    def to_json(self, *, with_reply: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {"message_id": self.message_id}
        if self.thread_id is not None:
            data["message_thread_id"] = self.thread_id
        if self.sender is not None:
            data["from"] = self.sender.to_json()
        if self.author_signature is not None:
            data["author_signature"] = self.author_signature
        if self.sender_chat is not None:
            data["sender_chat"] = self.sender_chat.to_json()
        if self.receiver is not None:
            data["receiver_user"] = self.receiver.to_json()
            data["ephemeral_message_id"] = self.ephemeral_id
        data["date"] = self.date
        data["chat"] = self.chat.to_json()
        if self.forward_origin is not None:
            data["forward_origin"] = self.forward_origin
        if self.thread_id is not None:
            data["is_topic_message"] = True
        if with_reply and self.reply_to is not None:
            data["reply_to_message"] = self.reply_to.to_json(with_reply=False)
        if self.edit_date is not None:
            data["edit_date"] = self.edit_date
        if self.protected:
            data["has_protected_content"] = True
        if self.text is not None:
            data["text"] = self.text
            if self.entities:
                data["entities"] = self.entities
        data.update(self.media)
        if self.caption is not None:
            data["caption"] = self.caption
            if self.caption_entities:
                data["caption_entities"] = self.caption_entities
        data.update(self.service)
        if self.reply_markup is not None:
            data["reply_markup"] = self.reply_markup
        data.update(self.extra)
        return data


@dataclass(eq=False)
class FakeCallbackQuery:
    """A button press; `answered`/`answer` record what answerCallbackQuery said."""

    id: str
    user: FakeUser
    message: FakeMessage
    data: str
    created: float  # server clock
    answered: bool = False
    answer: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        message = self.message
        shown = (
            {"chat": message.chat.to_json(), "message_id": message.message_id, "date": 0}
            if message.deleted
            else message.to_json()
        )
        return {
            "id": self.id,
            "from": self.user.to_json(),
            "message": shown,
            "chat_instance": str(abs(message.chat.id) * 7919 % 10**18),
            "data": self.data,
        }


@dataclass(eq=False)
class StoredFile:
    """An uploaded or user-sent file that getFile and /file/bot<token>/<path> can serve."""

    file_id: str
    file_unique_id: str
    content: bytes
    path: str


@dataclass(frozen=True)
class ApiCall:
    """One request the bot made, as the fake received it, with the outcome."""

    method: str  # canonical camelCase name
    params: dict[str, Any]  # as received: form values are strings, nested objects JSON text
    time: float  # time.monotonic() on arrival
    status: int
    result: Any = None
    description: str | None = None
    via_webhook_reply: bool = False
    shaped: str | None = None  # "unknown_tag" / "not_json" result, or "html" error page

    @property
    def ok(self) -> bool:
        return self.status == 200

    def param(self, name: str) -> Any:
        """A parameter with JSON text decoded and integer strings turned into ints."""
        value = self.params.get(name)
        if not isinstance(value, str):
            return value
        stripped = value.strip()
        if stripped[:1] in ("{", "[", '"') or stripped in ("true", "false", "null"):
            try:
                return json.loads(stripped)
            except ValueError:
                return value
        if stripped.lstrip("-").isdigit():
            return int(stripped)
        return value

    @property
    def chat_id(self) -> int | str | None:
        value = self.param("chat_id")
        return value if isinstance(value, int | str) else None

    @property
    def thread_id(self) -> int | None:
        value = self.param("message_thread_id")
        return value if isinstance(value, int) else None

    @property
    def text(self) -> str | None:
        value = self.params.get("text")
        return value if isinstance(value, str) else None
