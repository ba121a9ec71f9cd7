"""The Bitrix24 outbox sender: makes queued portal calls in order, through the client's limiter.

The client already retries throttling, 5xx and time-outs; a call that still fails with a
retryable error is tried again later (``MAX_ATTEMPTS`` in all) while the rest of that chat waits,
so one chat's messages never overtake each other. Other errors give the call up at once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.bitrix.api import Bitrix24Api
from bot.bitrix.errors import Bitrix24Error
from bot.clock import Clock
from bot.metrics import Metrics
from bot.storage import bitrix as repo
from bot.storage.delivery import default_replica
from bot.storage.models import DeliveryStatus, OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(seconds=5)
# The hand-off is moot when the session is no longer the bot's (an operator answered first).
_SETTLED = {("imopenlines.bot.session.operator", "WRONG_CHAT")}


class OutboxSender:
    """Sends the channel's pending outbox rows; claims keep one chat's calls with one replica."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: Bitrix24Api,
        clock: Clock,
        metrics: Metrics | None = None,
        replica: str | None = None,
        claim_seconds: float = 30.0,
    ) -> None:
        self._metrics = metrics or Metrics.create()
        self._replica = replica or default_replica()
        self._claim_seconds = claim_seconds
        self._sessions = sessions
        self._client = client
        self._clock = clock

    async def run_once(self, stopping: asyncio.Event, batch: int = 50) -> int:
        """Send what is due; returns how many calls were made or given up."""
        async with self._sessions.begin() as session:  # chats no other replica is sending to
            rows = await repo.claim_calls(
                session, self._replica, self._clock.now(), batch, hold_for=self._claim_seconds
            )
        waiting: set[str] = set()  # chats with a call that is not due yet
        done = 0
        for row in rows:
            if stopping.is_set():
                break
            if row.chat_id in waiting or row.not_before > self._clock.now():
                waiting.add(row.chat_id)
                continue
            if await self._send(row):
                done += 1
            else:
                waiting.add(row.chat_id)
        return done

    async def _send(self, row: OutboxMessage) -> bool:
        """Make one call; ``False`` when it stays pending for a later attempt."""
        try:
            result = await self._client.call(row.method, row.params)
        except Bitrix24Error as exc:
            return await self._failed(row, exc)
        async with self._sessions.begin() as session:
            stored = await session.get(OutboxMessage, row.id)
            if stored is not None:
                stored.status, stored.sent_at = DeliveryStatus.DONE, self._clock.now()
                stored.sent_id = _sent_id(result)
        self._metrics.messages_out.inc(channel=repo.CHANNEL)
        log.info(
            "bitrix call made outbox=%s kind=%s chat=%s ticket=%s",
            row.id, row.kind, row.chat_id, row.ticket_id,
        )  # fmt: skip
        return True

    async def _failed(self, row: OutboxMessage, exc: Bitrix24Error) -> bool:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            stored = await session.get(OutboxMessage, row.id)
            if stored is None:
                return True
            stored.attempts += 1
            stored.error = f"{exc.code}: {exc.description}"[:1000]
            if (row.method, exc.code) in _SETTLED:
                stored.status, stored.sent_at = DeliveryStatus.DONE, now
                log.info("bitrix call moot outbox=%s code=%s", row.id, exc.code)
                return True
            if exc.retryable and stored.attempts < MAX_ATTEMPTS:
                stored.not_before = now + RETRY_AFTER * stored.attempts
                self._metrics.send_retries.inc(channel=repo.CHANNEL)
                log.warning(
                    "bitrix call failed, will retry outbox=%s chat=%s code=%s attempt=%d",
                    row.id, row.chat_id, exc.code, stored.attempts,
                )  # fmt: skip
                return False
            stored.status = DeliveryStatus.FAILED
        log.error(
            "bitrix call given up outbox=%s kind=%s chat=%s code=%s",
            row.id, row.kind, row.chat_id, exc.code,
        )  # fmt: skip
        return True


def _sent_id(result: Any) -> str | None:
    if isinstance(result, dict) and "id" in result:
        return str(result["id"])[:64]
    return None
