"""FakeTelegram: the loopback Bot API server's life cycle and the API tests drive it with."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from ..notify import wait_until
from .app import create_app
from .limits import RateLimiter, RateLimits
from .models import (
    SUPERGROUP,
    ApiCall,
    FakeCallbackQuery,
    FakeChat,
    FakeMessage,
    FakeTopic,
    FakeUser,
)
from .people import find_topic, media_fields, set_blocked, user_message
from .state import World
from .webhook import WebhookPolicy

T = TypeVar("T")
ChatLike = FakeChat | FakeUser | int

DEFAULT_TOKEN = "123456789:AAHfakeTelegramTokenForHelpbotTests01"
DEFAULT_BOT_RIGHTS = {
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_invite_users": True,
    "can_pin_messages": True,
    "can_manage_topics": True,
}


class FakeTelegram:
    """A Telegram Bot API server on 127.0.0.1 for one bot token; `async with` starts it."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "helpbot_test_bot",
        rate_limits: RateLimits | None = None,
        webhook_policy: WebhookPolicy | None = None,
        poll_hold_scale: float = 1.0,
    ) -> None:
        self._world = World(
            token,
            bot_username=bot_username,
            webhook_policy=webhook_policy or WebhookPolicy(),
            rate_limits=rate_limits,
            poll_hold_scale=poll_hold_scale,
        )
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._next_user_id = 100_000_001
        self._next_group_id = 1_000_000_001

    # life cycle ----------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        runner = web.AppRunner(
            create_app(self._world),
            handler_cancellation=True,
            shutdown_timeout=1.0,
            access_log=None,  # access lines would carry the bot token in the path
        )
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self._runner = runner
        port = runner.addresses[0][1]
        self._url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._world.queue.closing = True
        self._world.signal.notify()
        await self._world.delivery.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        """The base URL for `TelegramAPIServer.from_base(...)` / TELEGRAM_API_URL."""
        if self._url is None:
            raise RuntimeError("FakeTelegram is not running; use `async with FakeTelegram()`")
        return self._url

    @property
    def token(self) -> str:
        return self._world.token

    @property
    def bot(self) -> FakeUser:
        return self._world.bot

    # the world -----------------------------------------------------------------------------

    def add_user(
        self,
        first_name: str = "Ann",
        *,
        user_id: int | None = None,
        username: str | None = None,
        last_name: str | None = None,
        language_code: str | None = "ru",
        started: bool = False,
        is_bot: bool = False,
    ) -> FakeUser:
        """A Telegram account. `started=False`: the bot may not write first (403)."""
        if user_id is None:
            user_id, self._next_user_id = self._next_user_id, self._next_user_id + 1
        user = FakeUser(user_id, first_name, last_name, username, language_code, is_bot, started)
        self._world.users[user.id] = user
        self._world.private_chat(user)
        return user

    def add_forum_group(
        self,
        title: str = "Support",
        *,
        members: Iterable[FakeUser] = (),
        admins: Iterable[FakeUser] = (),
        owner: FakeUser | None = None,
        chat_id: int | None = None,
        username: str | None = None,
        is_forum: bool = True,
        bot_status: str = "administrator",
        bot_rights: Mapping[str, bool] | None = None,
    ) -> FakeChat:
        """A supergroup with topics; the bot is an admin with can_manage_topics by default."""
        if chat_id is None:
            chat_id = -(10**12 + self._next_group_id)
            self._next_group_id += 1
        rights = dict(DEFAULT_BOT_RIGHTS if bot_rights is None else bot_rights)
        chat = FakeChat(
            chat_id,
            SUPERGROUP,
            title=title,
            username=username,
            is_forum=is_forum,
            bot_status=bot_status,
            bot_rights=rights,
        )
        # Message 1 is the General topic's root, so created topics start at 2 as in Telegram.
        chat.next_message_id = 2
        self._world.chats[chat.id] = chat
        for user in members:
            self.add_member(chat, user)
        for user in admins:
            self.add_member(chat, user, "administrator")
        if owner is not None:
            self.add_member(chat, owner, "creator")
        return chat

    def add_member(self, group: FakeChat, user: FakeUser, status: str = "member") -> None:
        self._world.users.setdefault(user.id, user)
        group.members[user.id] = status

    def chat_of(self, target: ChatLike) -> FakeChat:
        if isinstance(target, FakeChat):
            return target
        if isinstance(target, FakeUser):
            return self._world.private_chat(target)
        return self._world.chat(target)

    # what users do -------------------------------------------------------------------------

    def user_sends(
        self,
        user: FakeUser,
        text: str,
        *,
        chat: FakeChat | None = None,
        thread_id: int | None = None,
        reply_to: FakeMessage | None = None,
    ) -> FakeMessage:
        """A text message from `user` (private chat unless `chat`), queued as an update."""
        entities = []
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities.append({"type": "bot_command", "offset": 0, "length": len(command)})
        return user_message(
            self._world, user, chat, thread_id, reply_to, text=text, entities=entities
        )

    def user_sends_photo(
        self,
        user: FakeUser,
        *,
        caption: str | None = None,
        chat: FakeChat | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        return self.user_sends_media(user, "photo", caption=caption, chat=chat, thread_id=thread_id)

    def user_sends_media(
        self,
        user: FakeUser,
        kind: str,
        *,
        caption: str | None = None,
        chat: FakeChat | None = None,
        thread_id: int | None = None,
    ) -> FakeMessage:
        """kind: photo, document, voice or sticker; the file is stored for getFile."""
        fields = media_fields(self._world, kind)
        return user_message(
            self._world,
            user,
            chat,
            thread_id,
            None,
            media=fields,
            caption=caption if kind != "sticker" else None,
        )

    def operator_sends(
        self, group: FakeChat, thread_id: int, user: FakeUser, text: str
    ) -> FakeMessage:
        """A member's message inside a topic (with the implicit reply to the topic root)."""
        return self.user_sends(user, text, chat=group, thread_id=thread_id)

    def press_button(
        self, user: FakeUser, message: FakeMessage, callback_data: str
    ) -> FakeCallbackQuery:
        """A tap on an inline button of `message`; the button must be on it."""
        if callback_data not in message.callback_data:
            raise ValueError(
                f"no button {callback_data!r} on message {message.message_id}; "
                f"buttons: {message.callback_data}"
            )
        query = FakeCallbackQuery(
            str(secrets.randbits(62)), user, message, callback_data, time.monotonic()
        )
        self._world.callbacks[query.id] = query
        self._world.queue.push("callback_query", query.to_json(), user.id)
        return query

    def block_bot(self, user: FakeUser) -> None:
        """The user blocks the bot: sends then fail with 403; a my_chat_member update is queued."""
        set_blocked(self._world, user, True)

    def delete_topic(self, group: FakeChat, thread_id: int) -> None:
        """An operator deletes a topic: later sends to it get `message thread not found`."""
        topic = find_topic(group, thread_id)
        topic.deleted = True
        for message in group.messages.values():
            if message.thread_id == thread_id:
                message.deleted = True
        self._world.signal.notify()

    def close_topic(self, group: FakeChat, thread_id: int, by: FakeUser) -> FakeMessage:
        """An operator closes a topic; the forum_topic_closed service message is an update."""
        topic = find_topic(group, thread_id)
        topic.closed = True
        message = self._world.add_message(
            group, by, topic=topic, service={"forum_topic_closed": {}}
        )
        self._world.queue.push("message", message.to_json(), group.id)
        return message

    # failures and limits -------------------------------------------------------------------

    def force_429(self, n: int = 1, retry_after: int = 1, *, method: str | None = None) -> None:
        """The next n calls (to `method`, or to any non-polling method) get 429 retry_after."""
        self._world.faults.add(
            n,
            429,
            f"Too Many Requests: retry after {retry_after}",
            retry_after=retry_after,
            method=method,
        )

    def force_error(
        self,
        n: int = 1,
        status: int = 502,
        *,
        method: str | None = None,
        description: str | None = None,
    ) -> None:
        """The next n matching calls fail with `status` (502 Bad Gateway by default)."""
        default = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        text = description or default.get(status, f"Error {status}")
        self._world.faults.add(n, status, text, method=method)

    def set_rate_limits(self, limits: RateLimits | None) -> None:
        """Switch Telegram-like flood control on (fresh buckets) or off (None)."""
        self._world.limiter = RateLimiter(limits) if limits else None

    # what the bot did ----------------------------------------------------------------------

    def calls(
        self, method: str | None = None, *, chat: ChatLike | None = None, ok: bool | None = None
    ) -> list[ApiCall]:
        chat_id = self.chat_of(chat).id if chat is not None else None
        return [
            call
            for call in self._world.calls
            if (method is None or call.method.lower() == method.lower())
            and (chat_id is None or call.chat_id == chat_id)
            and (ok is None or call.ok == ok)
        ]

    def history(self, chat: ChatLike) -> list[FakeMessage]:
        """Every message of the chat (users' and the bot's), oldest first, deleted ones too."""
        return list(self.chat_of(chat).messages.values())

    def bot_messages(self, chat: ChatLike, *, thread_id: int | None = None) -> list[FakeMessage]:
        """Live non-service messages the bot sent to the chat, optionally to one topic."""
        return [
            m
            for m in self.history(chat)
            if m.from_bot
            and not m.deleted
            and not m.service
            and (thread_id is None or m.thread_id == thread_id)
        ]

    def topics(self, group: FakeChat) -> list[FakeTopic]:
        return list(group.topics.values())

    @property
    def is_polling(self) -> bool:
        """True while a getUpdates request is being held (the bot is long-polling)."""
        return self._world.queue.poll_active

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        return [u.to_json() for u in self._world.queue.pending]

    @property
    def webhook_dropped(self) -> list[dict[str, Any]]:
        """Updates given up after WebhookPolicy.max_attempts failed deliveries."""
        return self._world.delivery.dropped

    def webhook_info(self) -> dict[str, Any]:
        config = self._world.delivery.config
        return {
            "url": config.url if config else "",
            "secret_token": config.secret_token if config else None,
            "pending_update_count": len(self._world.queue.pending),
            "last_error_message": config.last_error_message if config else None,
        }

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for polling records, not a scope)
    ) -> T:
        """Re-check `predicate` on every change (and every 50 ms) until truthy or the deadline."""

        def timed_out() -> TimeoutError:
            return TimeoutError(f"condition not met within {timeout} s; {self._recent()}")

        return await wait_until(predicate, self._world.signal, timeout, timed_out)

    async def changed(self, timeout: float) -> None:  # noqa: ASYNC109 (an upper bound, not a scope)
        """Return after the fake's next change (a call, an update, a delivery) or `timeout` s."""
        await self._world.signal.wait(timeout)

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[ApiCall], bool] | None = None,
        *,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for polling records, not a scope)
    ) -> ApiCall:
        def found() -> ApiCall | None:
            return next((c for c in self.calls(method) if predicate is None or predicate(c)), None)

        return await self.wait_for(found, timeout)

    async def wait_for_message(
        self,
        chat: ChatLike,
        predicate: Callable[[FakeMessage], bool] | None = None,
        *,
        thread_id: int | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 (a deadline for polling records, not a scope)
    ) -> FakeMessage:
        """The first live bot message in the chat (or topic) that matches `predicate`."""

        def found() -> FakeMessage | None:
            messages = self.bot_messages(chat, thread_id=thread_id)
            return next((m for m in messages if predicate is None or predicate(m)), None)

        return await self.wait_for(found, timeout)

    # internals -----------------------------------------------------------------------------

    def _recent(self) -> str:
        tail = [
            f"{c.method}({c.chat_id}) -> {c.status}"
            + (f" {c.description}" if c.description else "")
            for c in self._world.calls[-10:]
        ]
        return "last calls: " + ("; ".join(tail) or "none")
