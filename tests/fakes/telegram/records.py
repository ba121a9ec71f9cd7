"""What the bot did, as FakeTelegram shows it to tests: recorded calls, messages, topics, menus,
and waits that re-check those records on every change."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from ..notify import wait_until
from .commands import menu_for
from .errors import OTHER_POLL_CONFLICT
from .models import ApiCall, FakeChat, FakeMessage, FakeTopic, FakeUser
from .state import World

T = TypeVar("T")
ChatLike = FakeChat | FakeUser | int


class Records:
    """The read side of FakeTelegram (mixed into it)."""

    _world: World

    def chat_of(self, target: ChatLike) -> FakeChat:
        if isinstance(target, FakeChat):
            return target
        if isinstance(target, FakeUser):
            return self._world.private_chat(target)
        return self._world.chat(target)

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
        """Live non-service messages the bot sent to the chat, optionally to one topic;
        ephemeral ones are not among them (see `ephemeral_messages`)."""
        return [
            m
            for m in self.history(chat)
            if m.from_bot
            and not m.deleted
            and not m.service
            and (thread_id is None or m.thread_id == thread_id)
        ]

    def ephemeral_messages(
        self, chat: ChatLike, *, receiver: FakeUser | None = None
    ) -> list[FakeMessage]:
        """Live ephemeral messages the bot sent in the chat (to `receiver` only, if given)."""
        return [
            m
            for (user_id, _id), m in self.chat_of(chat).ephemeral.items()
            if not m.deleted and (receiver is None or user_id == receiver.id)
        ]

    def topics(self, group: FakeChat) -> list[FakeTopic]:
        return list(group.topics.values())

    def menu_for(self, user: FakeUser, chat: ChatLike | None = None) -> list[str]:
        """The commands `user` sees in the menu of `chat` (their private chat by default)."""
        where = self.chat_of(chat if chat is not None else user)
        return [c["command"] for c in menu_for(self._world, user, where)]

    @property
    def conflicts(self) -> int:
        """How many getUpdates were ended by another one with 409 (replicas polling at once)."""
        return sum(
            1
            for call in self.calls("getUpdates")
            if call.status == 409 and OTHER_POLL_CONFLICT in (call.description or "")
        )

    @property
    def is_polling(self) -> bool:
        """True while a getUpdates request is being held (the bot is long-polling)."""
        return self._world.queue.poll_active

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed or delivered (expired ones are gone, as on the server)."""
        self._world.queue.expire()
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
