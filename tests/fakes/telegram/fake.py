"""FakeTelegram: the loopback Bot API server's life cycle and the API tests drive it with."""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Self, TypeVar

from aiohttp import web

from .app import create_app
from .clock import ServerClock
from .controls import Controls
from .formatting import TEXT_LIMIT
from .limits import MAX_IN_FLIGHT, RateLimits
from .models import (
    GROUP,
    SUPERGROUP,
    FakeCallbackQuery,
    FakeChat,
    FakeMessage,
    FakeTopic,
    FakeUser,
)
from .people import (
    anonymous_admin_message,
    find_topic,
    media_fields,
    set_blocked,
    user_message,
)
from .records import Records
from .state import World
from .topics import TOPIC_COLORS, remove_topic
from .webhook import WebhookPolicy

T = TypeVar("T")

DEFAULT_TOKEN = "123456789:AAHfakeTelegramTokenForHelpbotTests01"
DEFAULT_BOT_RIGHTS = {
    "can_manage_chat": True,
    "can_delete_messages": True,
    "can_invite_users": True,
    "can_pin_messages": True,
    "can_manage_topics": True,
}


class FakeTelegram(Controls, Records):
    """A Telegram Bot API server on 127.0.0.1 for one bot token; `async with` starts it.

    By default it is api.telegram.org: webhooks only on public HTTPS URLs, ports 443/80/88/8443
    (the fake then records the webhook and never contacts it). `local_mode=True` is a
    `telegram-bot-api --local` server: any http(s) URL, loopback included, and deliveries.
    `latency`: seconds added to every Bot API call (real time). `callback_answer_window`: how
    long a callback query may be answered (not published; ~15 s reported). `time_scale`: how
    fast the server's clock runs (the platform's own time limits, clock.py). `max_in_flight`:
    requests in flight before api.telegram.org answers 429 retry after 60 (limits.py).
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        *,
        bot_username: str = "helpbot_test_bot",
        rate_limits: RateLimits | None = None,
        webhook_policy: WebhookPolicy | None = None,
        poll_hold_scale: float = 1.0,
        latency: float = 0.0,
        local_mode: bool = False,
        callback_answer_window: float = 15.0,
        time_scale: float = 1.0,
        max_in_flight: int = MAX_IN_FLIGHT,
    ) -> None:
        self._world = World(
            token,
            bot_username=bot_username,
            webhook_policy=webhook_policy or WebhookPolicy(),
            rate_limits=rate_limits,
            poll_hold_scale=poll_hold_scale,
            clock=ServerClock(time_scale),
            local_mode=local_mode,
            latency=latency,
            callback_answer_window=callback_answer_window,
        )
        self._world.max_in_flight = max_in_flight
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
    def local_mode(self) -> bool:
        """A `telegram-bot-api --local` server (TELEGRAM_LOCAL_SERVER), not api.telegram.org."""
        return self._world.local_mode

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
        voice_forbidden: bool = False,
    ) -> FakeUser:
        """A Telegram account. `started=False`: the bot may not write first (403).
        `voice_forbidden`: voice and video notes to them fail (VOICE_MESSAGES_FORBIDDEN)."""
        if user_id is None:
            user_id, self._next_user_id = self._next_user_id, self._next_user_id + 1
        user = FakeUser(
            user_id,
            first_name,
            last_name,
            username,
            language_code,
            is_bot,
            started,
            voice_forbidden=voice_forbidden,
        )
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
        protected_content: bool = False,
        available_reactions: Iterable[str] | None = None,
    ) -> FakeChat:
        """A supergroup with topics; the bot is an admin with can_manage_topics by default.

        `protected_content`: "Restrict saving content" (copies out of it are refused);
        `available_reactions`: the emoji reactions allowed in it (None: all).
        """
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
            protected_content=protected_content,
            available_reactions=None if available_reactions is None else list(available_reactions),
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

    def add_upgraded_group(self, supergroup: FakeChat, title: str = "Support") -> FakeChat:
        """The basic group ``supergroup`` was before it was upgraded (turning topics on in a
        basic group upgrades it): its old id answers every send with the upgrade's 400 and
        ``migrate_to_chat_id`` (see :meth:`World.check_can_send`)."""
        chat_id = -(10**9 + self._next_group_id)  # a basic group's id: no -100 prefix
        self._next_group_id += 1
        chat = FakeChat(chat_id, GROUP, title=title, upgraded_to=supergroup.id)
        chat.members = dict(supergroup.members)
        self._world.chats[chat.id] = chat
        return chat

    def add_member(self, group: FakeChat, user: FakeUser, status: str = "member") -> None:
        self._world.users.setdefault(user.id, user)
        group.members[user.id] = status

    def add_topic(self, group: FakeChat, name: str, *, by: FakeUser) -> FakeTopic:
        """A topic a person created (not the bot: TDLib's `is_outgoing` is false for it)."""
        topic = FakeTopic(group.id, group.next_message_id, name, TOPIC_COLORS[0], created_by=by.id)
        group.topics[topic.thread_id] = topic
        created = {"name": name, "icon_color": topic.icon_color}
        message = self._world.add_message(
            group, by, topic=topic, service={"forum_topic_created": created}
        )
        self._world.queue.push("message", message.to_json(), group.id)
        return topic

    def forbid_voice(self, user: FakeUser, forbidden: bool = True) -> None:
        """The person (Premium) forbids voice and video-note messages, or allows them again."""
        user.voice_forbidden = forbidden

    # what users do -------------------------------------------------------------------------

    def user_sends(
        self,
        user: FakeUser,
        text: str,
        *,
        chat: FakeChat | None = None,
        thread_id: int | None = None,
        reply_to: FakeMessage | None = None,
        entities: Iterable[Mapping[str, Any]] = (),
        extra: Mapping[str, Any] | None = None,
    ) -> FakeMessage:
        """A text message from `user` (private chat unless `chat`), queued as an update.

        `entities`: formatting (bold, text_link ...) besides the leading bot_command, which is
        added for a text starting with "/". `extra`: fields merged into the update's message as
        a newer Bot API would send them, e.g. `{"forward_origin": fake.future_origin()}` (a
        tagged-union value aiogram does not know); delivered by getUpdates and by the webhook.
        """
        if len(text) > TEXT_LIMIT:
            # No Telegram message holds more: TDLib refuses a longer text ("Message is too
            # long", MessagesManager, 1-getOption("message_text_length_max") = 4096 code points)
            # and the apps split it before sending.
            raise ValueError(f"a Telegram text holds at most {TEXT_LIMIT} characters")
        found = [dict(entity) for entity in entities]
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            found.insert(0, {"type": "bot_command", "offset": 0, "length": len(command)})
        return user_message(
            self._world,
            user,
            chat,
            thread_id,
            reply_to,
            text=text,
            entities=found,
            extra=dict(extra or {}),
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
        self,
        group: FakeChat,
        thread_id: int,
        user: FakeUser,
        text: str,
        *,
        entities: Iterable[Mapping[str, Any]] = (),
    ) -> FakeMessage:
        """A member's message inside a topic (with the implicit reply to the topic root)."""
        return self.user_sends(user, text, chat=group, thread_id=thread_id, entities=entities)

    def anonymous_admin_sends(
        self,
        group: FakeChat,
        thread_id: int | None,
        text: str,
        *,
        signature: str | None = None,
        entities: Iterable[Mapping[str, Any]] = (),
    ) -> FakeMessage:
        """An administrator posting anonymously (as the group): `from` is GroupAnonymousBot,
        `sender_chat` the group, `author_signature` the custom title if any (people.py)."""
        if len(text) > TEXT_LIMIT:
            # No Telegram message holds more: TDLib refuses a longer text ("Message is too
            # long", MessagesManager, 1-getOption("message_text_length_max") = 4096 code points)
            # and the apps split it before sending.
            raise ValueError(f"a Telegram text holds at most {TEXT_LIMIT} characters")
        found = [dict(entity) for entity in entities]
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            found.insert(0, {"type": "bot_command", "offset": 0, "length": len(command)})
        return anonymous_admin_message(
            self._world, group, thread_id, signature, text=text, entities=found
        )

    def push_raw_update(
        self, kind: str, payload: Mapping[str, Any], queue_key: int | None = None
    ) -> int | None:
        """Queue any update as given (e.g. a kind or a field of a newer Bot API); its update_id.

        `queue_key` orders webhook deliveries (the chat id for messages, as SRV does); by
        default the payload's chat id, else 0.
        """
        body = dict(payload)
        if queue_key is None:
            chat = body.get("chat")
            queue_key = chat.get("id", 0) if isinstance(chat, dict) else 0
        update = self._world.queue.push(kind, body, queue_key)
        return None if update is None else update.update_id

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
            str(secrets.randbits(62)), user, message, callback_data, self._world.clock.now()
        )
        self._world.callbacks[query.id] = query
        self._world.queue.push("callback_query", query.to_json(), user.id)
        return query

    def block_bot(self, user: FakeUser) -> None:
        """The user blocks the bot: sends then fail with 403; a my_chat_member update is queued."""
        set_blocked(self._world, user, True)

    def delete_topic(self, group: FakeChat, thread_id: int) -> None:
        """An operator deletes a topic: sends to it get TOPIC_DELETED for a minute (TDLib's
        cache), then `message thread not found`; closing it, TOPIC_ID_INVALID (topics.py)."""
        remove_topic(self._world, group, find_topic(group, thread_id))

    def close_topic(self, group: FakeChat, thread_id: int, by: FakeUser) -> FakeMessage:
        """An operator closes a topic; the forum_topic_closed service message is an update."""
        topic = find_topic(group, thread_id)
        topic.closed = True
        message = self._world.add_message(
            group, by, topic=topic, service={"forum_topic_closed": {}}
        )
        self._world.queue.push("message", message.to_json(), group.id)
        return message
