"""The inbox: updates are stored (deduplicated by update_id) before they are acknowledged, then a
worker processes them, in order within a chat and concurrently across chats."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.storage import delivery
from bot.storage.models import DeliveryStatus, InboxUpdate
from handlers.telegram.calls import CHANNEL

log = logging.getLogger(__name__)

BATCH = 100
IDLE = 2.0  # seconds between passes when nothing woke the worker: updates another replica
# stored and then died holding are found soon after its claim expires
MAX_ATTEMPTS = 3
RETRY_SECONDS = 1.0

Process = Callable[[dict[str, Any]], Awaitable[object]]


class Inbox:
    """Stores raw updates and runs the worker that feeds them to the dispatcher."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        process: Process,
        *,
        replica: str | None = None,
        claim_seconds: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._replica = replica or delivery.default_replica()
        self._claim_seconds = claim_seconds
        self._clock = clock
        self._process = process
        self._ready = asyncio.Event()
        self._retry_at: dict[int, float] = {}
        self._handled = 0
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def store(self, updates: Sequence[dict[str, Any]]) -> int:
        """Keep the updates in one transaction; returns how many were new. Then wake the worker."""
        new = 0
        now = self._clock.now()
        async with self._sessions.begin() as session:
            for raw in updates:
                update_id = str(raw["update_id"])
                key = _chat_key(raw)
                if await delivery.store_update(session, CHANNEL, update_id, raw, now, key):
                    new += 1
                else:
                    log.info("duplicate update dropped update=%s", update_id)
        if new:
            self._ready.set()
        return new

    async def run(self) -> None:
        """Process stored updates until :meth:`stop` (or cancellation)."""
        while not self._stopping:
            self._ready.clear()
            self._idle.clear()
            try:
                delay = await self.drain()
            finally:
                self._idle.set()
            if delay > 0 and not self._stopping:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._ready.wait(), delay)

    async def stop(self, grace: float) -> None:
        """Finish the updates in hand (up to ``grace`` seconds), then stop taking new ones.

        An update cut off between the engine's commit and the outbox would lose its replies.
        """
        self._stopping = True
        self._ready.set()
        with suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), grace)

    async def drain(self) -> float:
        """Process what is pending; the seconds until the next pass is worth making."""
        async with self._sessions.begin() as session:  # updates of chats no other replica has
            rows = await delivery.claim_updates(
                session, CHANNEL, self._replica, self._clock.now(), BATCH,
                hold_for=self._claim_seconds,
            )  # fmt: skip
        claimed = {row.id for row in rows}  # the rest may be another replica's now
        self._retry_at = {k: at for k, at in self._retry_at.items() if k in claimed}
        handled = self._handled
        chats: dict[str, list[InboxUpdate]] = {}
        for row in rows:
            chats.setdefault(row.chat_key or _chat_key(row.payload), []).append(row)
        async with asyncio.TaskGroup() as group:
            for chat_rows in chats.values():
                group.create_task(self._drain_chat(chat_rows))
        waits = [at - time.monotonic() for at in self._retry_at.values()]
        if len(rows) == BATCH or self._handled > handled:
            return 0.0  # look again at once: another replica may have stored behind our chats
        return max(min(waits, default=IDLE), 0.01)

    async def _drain_chat(self, rows: list[InboxUpdate]) -> None:
        for row in rows:
            if self._retry_at.get(row.id, 0.0) > time.monotonic():
                return  # keep the chat's order: later updates wait for this one
            if not await self._handle(row):
                return
            self._handled += 1

    async def _handle(self, row: InboxUpdate) -> bool:
        """Process one update; ``False`` when it is to be retried later."""
        try:
            await self._process(row.payload)
        except Exception as exc:  # a handler bug must not stop the other updates
            attempts = row.attempts + 1
            give_up = attempts >= MAX_ATTEMPTS
            log.exception("update failed update=%s attempt=%d", row.external_id, attempts)
            if not await self._save(
                row.id,
                attempts=attempts,
                error=repr(exc)[:1000],
                status=DeliveryStatus.FAILED if give_up else DeliveryStatus.PENDING,
            ):
                log.warning(
                    "update failed after it was settled, kept done update=%s", row.external_id
                )
                self._retry_at.pop(row.id, None)
                return True  # its effects committed: running it again would repeat them
            row.attempts = attempts
            if give_up:
                self._retry_at.pop(row.id, None)
                return True
            self._retry_at[row.id] = time.monotonic() + RETRY_SECONDS * attempts
            return False
        self._retry_at.pop(row.id, None)
        await self._save(
            row.id, status=DeliveryStatus.DONE, processed_at=self._clock.now(), error=None
        )
        return True

    async def _save(self, row_id: int, **values: Any) -> bool:
        """Update the row unless the handler settled it already (a settled row is never undone);
        whether it was updated."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(InboxUpdate)
                .where(InboxUpdate.id == row_id, InboxUpdate.status != DeliveryStatus.DONE)
                .values(**values)
            )
        return bool(getattr(result, "rowcount", 1))


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
