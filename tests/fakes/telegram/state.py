"""The fake server's state and the lookups every method shares (chats, threads, permissions)."""

from __future__ import annotations

import hashlib
import itertools
import time
from collections.abc import Awaitable, Callable
from typing import Any

from ..notify import Signal
from .errors import CHAT_NOT_FOUND, THREAD_NOT_FOUND, bad_request, forbidden
from .limits import FaultInjector, RateLimiter, RateLimits
from .models import (
    PRIVATE,
    ApiCall,
    FakeCallbackQuery,
    FakeChat,
    FakeMessage,
    FakeTopic,
    FakeUser,
    StoredFile,
)
from .params import Params
from .updates import UpdateQueue
from .webhook import WebhookDelivery, WebhookPolicy

_KEYBOARD_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)
MAX_BUTTONS = 100


class World:
    """Everything the fake knows: the bot, users, chats, files, the update queue and the records."""

    def __init__(
        self,
        token: str,
        *,
        bot_username: str,
        webhook_policy: WebhookPolicy,
        rate_limits: RateLimits | None,
        poll_hold_scale: float,
    ) -> None:
        self.token = token
        self.bot = FakeUser(
            int(token.split(":", 1)[0]), "Helpbot", username=bot_username, is_bot=True
        )
        self.users: dict[int, FakeUser] = {}
        self.chats: dict[int, FakeChat] = {}
        self.callbacks: dict[str, FakeCallbackQuery] = {}
        self.files: dict[str, StoredFile] = {}
        self.commands: list[dict[str, Any]] = []
        self.calls: list[ApiCall] = []
        self.signal = Signal()
        self.queue = UpdateQueue(self.signal, hold_scale=poll_hold_scale)
        self.delivery = WebhookDelivery(self.queue, self.signal, webhook_policy, self._no_reply)
        self.faults = FaultInjector()
        self.limiter = RateLimiter(rate_limits) if rate_limits else None
        self._ids = itertools.count(1)

    async def _no_reply(self, content_type: str, body: bytes) -> None:
        """Replaced by the app, which executes a method found in a webhook reply."""

    def next_id(self) -> int:
        return next(self._ids)

    def now(self) -> int:
        return int(time.time())

    def record(self, call: ApiCall) -> None:
        self.calls.append(call)
        self.signal.notify()

    # lookups -------------------------------------------------------------------------------

    def chat(self, chat_id: int | str) -> FakeChat:
        if isinstance(chat_id, str):
            name = chat_id.removeprefix("@").lower()
            for chat in self.chats.values():
                if chat.username and chat.username.lower() == name:
                    return chat
            raise bad_request(CHAT_NOT_FOUND)
        found = self.chats.get(chat_id)
        if found is None:
            raise bad_request(CHAT_NOT_FOUND)
        return found

    def private_chat(self, user: FakeUser) -> FakeChat:
        if user.id not in self.chats:
            self.chats[user.id] = FakeChat(user.id, PRIVATE, user=user)
        return self.chats[user.id]

    def message(self, chat: FakeChat, message_id: int | None, missing: str) -> FakeMessage:
        found = chat.messages.get(message_id or 0)
        if found is None or found.deleted:
            raise bad_request(missing)
        return found

    def thread(self, chat: FakeChat, thread_id: int | None) -> FakeTopic | None:
        """The topic a message goes to; unknown, deleted or General (1) ids are refused."""
        if not thread_id or not chat.is_forum:
            return None
        topic = chat.topics.get(thread_id)
        if topic is None or topic.deleted:
            raise bad_request(THREAD_NOT_FOUND)
        return topic

    def check_can_send(self, chat: FakeChat) -> None:
        """403s as the real server words them: blocked, never started, kicked, not a member."""
        user = chat.user
        if user is not None:
            if user.blocked:
                raise forbidden("bot was blocked by the user")
            if not user.started:
                raise forbidden("bot can't initiate conversation with a user")
            return
        kind = "supergroup chat" if chat.type == "supergroup" else f"{chat.type} chat"
        if chat.bot_status == "kicked":
            raise forbidden(f"bot was kicked from the {kind}")
        if chat.bot_status == "left":
            raise forbidden(f"bot is not a member of the {kind}")

    def has_right(self, chat: FakeChat, right: str) -> bool:
        if chat.bot_status == "creator":
            return True
        return chat.bot_status == "administrator" and chat.bot_rights.get(right, False)

    # message creation ----------------------------------------------------------------------

    def add_message(
        self,
        chat: FakeChat,
        sender: FakeUser | None,
        *,
        topic: FakeTopic | None = None,
        reply_to: FakeMessage | None = None,
        **fields: Any,
    ) -> FakeMessage:
        """Store a message with the chat's next id; topic messages reply to the topic root."""
        message_id = chat.next_message_id
        chat.next_message_id += 1
        if topic is not None and reply_to is None:
            reply_to = chat.messages.get(topic.thread_id)
        message = FakeMessage(
            chat,
            message_id,
            self.now(),
            sender,
            reply_to=reply_to,
            thread_id=topic.thread_id if topic else None,
            **fields,
        )
        chat.messages[message_id] = message
        self.signal.notify()
        return message

    def reply_target(
        self, chat: FakeChat, reply: Any, fallback_id: int | None, allow_missing: bool
    ) -> FakeMessage | None:
        """ReplyParameters, or the deprecated reply_to_message_id/allow_sending_without_reply."""
        message_id = fallback_id
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply", allow_missing))
            if reply.get("chat_id") is not None:
                chat = self.chat(reply["chat_id"])
        if not message_id:
            return None
        found = chat.messages.get(int(message_id))
        if (found is None or found.deleted) and not allow_missing:
            raise bad_request("message to be replied not found")
        return None if found is None or found.deleted else found

    def add_file(self, content: bytes, kind: str) -> StoredFile:
        digest = hashlib.sha1(content).hexdigest()[:16]
        number = self.next_id()
        stored = StoredFile(
            f"{kind[:3].upper()}{digest}{number:04d}",
            f"U{digest}{number}",
            content,
            f"{kind}s/file_{number}",
        )
        self.files[stored.file_id] = stored
        return stored

    def file(self, value: str | None, upload: bytes | None, kind: str) -> StoredFile:
        if upload is not None:
            return self.add_file(upload, kind)
        if value and value in self.files:
            return self.files[value]
        if value and value.startswith(("http://", "https://")):
            return self.add_file(value.encode(), kind)
        raise bad_request("wrong file identifier/HTTP URL specified")


def validate_reply_markup(markup: Any) -> dict[str, Any] | None:
    """Check a reply_markup object; only an inline keyboard is kept on the message."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        if any(key in markup for key in ("keyboard", "remove_keyboard", "force_reply")):
            return None
        raise bad_request("can't parse reply keyboard markup JSON object")
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request(
            "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
        )
    if sum(len(row) for row in rows) > MAX_BUTTONS:
        raise bad_request("reply markup is too long")
    for row in rows:
        for button in row:
            _validate_button(button)
    return {"inline_keyboard": rows}


def _validate_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str):
        raise bad_request(
            'can\'t parse inline keyboard button: Field "text" must be of type String'
        )
    actions = [key for key in _KEYBOARD_ACTIONS if key in button]
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(data.encode("utf-8")) if isinstance(data, str) else 0
        if not 1 <= size <= 64:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not button["url"]:
        raise bad_request("BUTTON_URL_INVALID")


Handler = Callable[[World, Params], Awaitable[Any]]
