"""Telegram's side of the one inbox (:mod:`bot.delivery.inbox`): an update is keyed by its
``update_id`` and ordered within its chat (a forum topic counts as a chat of its own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery.express import Express
from bot.delivery.giveup import GIVE_UP_AFTER, HandOver
from bot.delivery.inbox import IDLE, Arrival, InboxWorker
from bot.storage.models import InboxUpdate
from handlers.telegram.calls import CHANNEL

Process = Callable[[dict[str, Any]], Awaitable[object]]


class Inbox(InboxWorker):
    """Stores raw updates and feeds them, stored, to ``process`` (the dispatcher)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        process: Process,
        *,
        replica: str | None = None,
        give_up_after: float = GIVE_UP_AFTER,
        claim_seconds: float = 30.0,
        express: Express | None = None,
        idle: float = IDLE,
        hand_over: HandOver | None = None,
    ) -> None:
        async def handle(row: InboxUpdate) -> object:
            return await process(row.payload)

        super().__init__(
            CHANNEL, sessions, clock, handle, replica=replica, give_up_after=give_up_after,
            claim_seconds=claim_seconds, express=express, idle=idle, hand_over=hand_over,
        )  # fmt: skip

    async def store(self, updates: Sequence[dict[str, Any]]) -> int:
        """Keep the updates in one transaction; returns how many were new."""
        return await self.keep(
            [Arrival(str(raw["update_id"]), raw, _chat_key(raw)) for raw in updates]
        )


def _chat_key(payload: dict[str, Any]) -> str:
    """Updates of one chat (or one person's presses) are processed in order; in a forum (the
    operators' group) each topic is a chat of its own, so one slow ticket holds no other."""
    for kind in ("message", "edited_message", "my_chat_member", "chat_member"):
        body = payload.get(kind)
        chat = _dig(body, "chat", "id")
        if chat is not None:
            return _key(chat, body)
    query = payload.get("callback_query")
    message = _dig(query, "message")
    chat = _dig(message, "chat", "id")
    if chat is None:
        chat = _dig(query, "from", "id")
    if chat is not None:
        return _key(chat, message if isinstance(message, dict) else {})
    return f"update:{payload.get('update_id')}"


def _key(chat_id: object, message: Any) -> str:
    thread = _dig(message, "message_thread_id")
    if _dig(message, "is_topic_message") is True and thread is not None:
        return f"chat:{chat_id}/{thread}"
    return f"chat:{chat_id}"


def _dig(node: Any, *keys: str) -> Any:
    """``node[k1][k2]…``, or None where a level is missing or not an object."""
    for key in keys:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node
