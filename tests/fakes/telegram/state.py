"""The fake server's state and the lookups every method shares (chats, threads, permissions)."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Awaitable, Callable
from typing import Any

from ..notify import Signal
from .clock import ServerClock
from .errors import (
    CHAT_NOT_FOUND,
    THREAD_NOT_FOUND,
    TOPIC_CLOSED,
    TOPIC_DELETED,
    ApiError,
    bad_request,
    forbidden,
)
from .faults import Delays, FaultInjector, ResultShaper
from .limits import MAX_IN_FLIGHT, RateLimiter, RateLimits
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
# SRV `get_button_style` (Client.cpp l. 9440-9456): lower-cased; "" and "default" mean none.
BUTTON_STYLES = frozenset({"primary", "danger", "success"})
# The user Telegram shows as the sender of an anonymous administrator's message: TD
# UserManager.cpp l. 3028 (id 1087968824) and l. 5014-5021 (is_bot, "Group", GroupAnonymousBot);
# SRV `create_message` (l. 18146-18160) puts it in `from` when `sender_chat` is the chat itself.
GROUP_ANONYMOUS_BOT_ID = 1087968824
# TD ForumTopicManager::get_forum_topic (l. 829-837) serves a bot from a cache fresher than 60 s,
# so a send right after a topic's deletion reaches the server and fails with TOPIC_DELETED; later
# SRV's `check_message_topic` says "message thread not found" (TdOnCheckForumTopicCallback).
TOPIC_CACHE_SECONDS = 60.0


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
        clock: ServerClock,
        local_mode: bool,
        latency: float,
        callback_answer_window: float,
    ) -> None:
        self.token = token
        self.revoked = False
        self.local_mode = local_mode  # a `telegram-bot-api --local` server, not api.telegram.org
        self.callback_answer_window = callback_answer_window
        self.clock = clock
        self.bot = FakeUser(
            int(token.split(":", 1)[0]), "Helpbot", username=bot_username, is_bot=True
        )
        self.anonymous_admin = FakeUser(
            GROUP_ANONYMOUS_BOT_ID, "Group", username="GroupAnonymousBot", is_bot=True
        )
        self.users: dict[int, FakeUser] = {self.anonymous_admin.id: self.anonymous_admin}
        self.chats: dict[int, FakeChat] = {}
        self.callbacks: dict[str, FakeCallbackQuery] = {}
        self.files: dict[str, StoredFile] = {}
        # setMyCommands lists by (scope, language_code), see commands.py.
        self.commands: dict[tuple[tuple[Any, ...], str], list[dict[str, Any]]] = {}
        self.calls: list[ApiCall] = []
        self.signal = Signal()
        self.queue = UpdateQueue(self.signal, clock, hold_scale=poll_hold_scale)
        self.delivery = WebhookDelivery(self.queue, self.signal, webhook_policy, self._no_reply)
        self.faults = FaultInjector()
        self.shaper = ResultShaper()
        self.delays = Delays(latency)
        self.limiter = RateLimiter(rate_limits) if rate_limits else None
        self.max_in_flight = MAX_IN_FLIGHT
        self.in_flight = 0
        self.next_set_webhook_at = -1e9  # server clock
        self._ids = itertools.count(1)

    async def _no_reply(self, content_type: str, body: bytes) -> None:
        """Replaced by the app, which executes a method found in a webhook reply."""

    def next_id(self) -> int:
        return next(self._ids)

    def now(self) -> int:
        """Unix time for message dates, on the server clock."""
        return self.clock.unix()

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
        """The topic a message goes to; unknown, deleted or General (1) ids are refused.

        SRV `check_message_topic` (l. 8256-8288): General (1) and any topic TDLib cannot find ->
        "message thread not found"; a topic deleted less than 60 s ago is still in TDLib's cache,
        so the server's TOPIC_DELETED comes through (TOPIC_CACHE_SECONDS).
        """
        if not thread_id or not chat.is_forum:
            return None
        topic = chat.topics.get(thread_id)
        if topic is not None and topic.deleted:
            recent = topic.deleted_at is not None and (
                self.clock.now() - topic.deleted_at < TOPIC_CACHE_SECONDS
            )
            raise bad_request(TOPIC_DELETED if recent else THREAD_NOT_FOUND)
        if topic is None:
            raise bad_request(THREAD_NOT_FOUND)
        return topic

    def check_topic_open(self, chat: FakeChat, topic: FakeTopic | None) -> None:
        """A closed topic refuses only those who may not manage it.

        TD `can_send_message_to_forum_topic` (ForumTopicManager.cpp l. 1245-1255): closed, not
        created by us, and no `can_manage_topics` -> refused; for bots the MTProto server applies
        the same rule (python-telegram-bot's live `test_close_and_reopen_forum_topic`: "bot will
        still be able to send a message to a closed topic"). Else 400 TOPIC_CLOSED.
        """
        if topic is None or not topic.closed:
            return
        if topic.created_by == self.bot.id or self.has_right(chat, "can_manage_topics"):
            return
        raise bad_request(TOPIC_CLOSED)

    def check_can_send(self, chat: FakeChat) -> None:
        """403s as the real server words them: blocked, never started, kicked, not a member;
        and the 400 with ``migrate_to_chat_id`` for a basic group upgraded to a supergroup
        (SRV ``Client::check_chat_access``, Client.cpp l. 8150-8156 at 01a3679: a write to an
        inactive group whose ``upgraded_to_supergroup_id`` is set)."""
        if chat.upgraded_to is not None:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                migrate_to_chat_id=chat.upgraded_to,
            )
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
        rows = markup.get("keyboard")
        if isinstance(rows, list):  # a reply keyboard: checked for styles, not kept
            for row in rows:
                for button in row if isinstance(row, list) else ():
                    if isinstance(button, dict):
                        _validate_style(button, "can't parse keyboard button")
            return None
        if any(key in markup for key in ("remove_keyboard", "force_reply")):
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
    _validate_style(button, "can't parse inline keyboard button")
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


def _validate_style(button: dict[str, Any], prefix: str) -> None:
    """Bot API 9.4 `style` (SRV `get_button_style`, l. 9440-9456; the error prefix l. 9752-9754).

    Kept lower-cased on the message; a default style is not echoed back (l. 3783-3796).
    """
    if "style" not in button:
        return
    style = button["style"]
    if not isinstance(style, str):
        raise bad_request(f'{prefix}: Field "style" must be of type String')
    lowered = style.lower()
    if lowered in ("", "default"):
        del button["style"]
    elif lowered in BUTTON_STYLES:
        button["style"] = lowered
    else:
        raise bad_request(f"{prefix}: invalid button style specified")


Handler = Callable[[World, Params], Awaitable[Any]]
