"""Long polling that persists before it acknowledges: a batch is stored, then the next getUpdates
(with offset = last id + 1) confirms it to Telegram.

With several replicas only the holder of a lease polls: two getUpdates end each other (409
Conflict). The others wait, logged once, and take over when the holder stops renewing.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from bot.storage.leases import LeaseKeeper
from handlers.telegram.envelope import EnvelopeError, RawGetUpdates, UpdateReader, update_id_ok
from handlers.telegram.inbox import Inbox

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0
LEASE = "telegram-polling"


class Poller:
    """One replica's long polling; :meth:`run` loops until cancelled."""

    def __init__(
        self,
        bot: Bot,
        inbox: Inbox,
        reader: UpdateReader,
        *,
        allowed_updates: list[str],
        hold: int,
        lease: LeaseKeeper | None = None,
    ) -> None:
        self._bot = bot
        self._inbox = inbox
        self._reader = reader
        self._allowed = allowed_updates
        self._hold = hold
        self._lease = lease
        self._offset: int | None = None
        self._failures = 0
        self._waiting = False

    async def run(self) -> None:
        try:
            while True:
                if await self._our_turn():
                    await self.poll_once()
                else:
                    assert self._lease is not None
                    await asyncio.sleep(self._lease.ttl / 3)
        finally:
            if self._lease is not None:
                with suppress(Exception):  # best effort: otherwise the lease simply expires
                    await asyncio.shield(self._lease.release())

    async def _our_turn(self) -> bool:
        if self._lease is None:
            return True
        held = await self._lease.hold()
        if not held and not self._waiting:
            log.info("telegram polling: another replica polls, this one waits lease=%s", LEASE)
            self._offset = None  # the holder confirms what it fetches
        self._waiting = not held
        return held

    async def poll_once(self) -> None:
        request = RawGetUpdates(
            offset=self._offset, timeout=self._hold, allowed_updates=self._allowed
        )
        try:
            updates = await self._bot(request, request_timeout=self._hold + 30)
        except TelegramRetryAfter as exc:
            log.warning("getUpdates flood control retry_after=%s", exc.retry_after)
            await asyncio.sleep(exc.retry_after)
            return
        except (TelegramNetworkError, TelegramServerError, TelegramConflictError) as exc:
            await self._back_off(exc.message)
            return
        except ClientDecodeError:  # the front end's HTML error page (502/504): try again
            await self._back_off("an answer that is not JSON")
            return
        self._failures = 0
        if updates:
            await self._inbox.store(readable(updates, self._reader))
            ids = [u["update_id"] for u in updates if update_id_ok(u.get("update_id"))]
            self._offset = max(ids) + 1 if ids else self._offset
            log.debug("updates stored count=%d next_offset=%s", len(updates), self._offset)

    async def _back_off(self, why: str) -> None:
        self._failures += 1
        delay = min(MAX_BACKOFF, 0.5 * 2**self._failures)
        log.warning("getUpdates failed attempt=%d retry_in=%.1fs: %s", self._failures, delay, why)
        await asyncio.sleep(delay)


def readable(updates: list[dict[str, Any]], reader: UpdateReader) -> list[dict[str, Any]]:
    """The updates that can be processed; a malformed one is logged and left behind."""
    kept = []
    for raw in updates:
        try:
            kept.append(reader.check(raw))
        except EnvelopeError as exc:
            log.warning("malformed update skipped update=%s: %s", raw.get("update_id"), exc)
    return kept
