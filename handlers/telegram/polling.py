"""Long polling that persists before it acknowledges: a batch is stored, then the next getUpdates
(with offset = last id + 1) confirms it to Telegram."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)

from handlers.telegram.envelope import EnvelopeError, RawGetUpdates, check_update, update_id_ok
from handlers.telegram.inbox import Inbox

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


async def poll(bot: Bot, inbox: Inbox, *, allowed_updates: list[str], hold: int) -> None:
    """Fetch updates until cancelled; transient errors back off, flood control is honoured."""
    offset: int | None = None
    failures = 0
    while True:
        request = RawGetUpdates(offset=offset, timeout=hold, allowed_updates=allowed_updates)
        try:
            updates = await bot(request, request_timeout=hold + 30)
        except TelegramRetryAfter as exc:
            log.warning("getUpdates flood control retry_after=%s", exc.retry_after)
            await asyncio.sleep(exc.retry_after)
            continue
        except (TelegramNetworkError, TelegramServerError, TelegramConflictError) as exc:
            failures += 1
            await _back_off(failures, exc.message)
            continue
        except ClientDecodeError:  # the front end's HTML error page (502/504): try again
            failures += 1
            await _back_off(failures, "an answer that is not JSON")
            continue
        failures = 0
        if updates:
            await inbox.store(readable(updates))
            ids = [u["update_id"] for u in updates if update_id_ok(u.get("update_id"))]
            offset = max(ids) + 1 if ids else offset
            log.debug("updates stored count=%d next_offset=%s", len(updates), offset)


def readable(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The updates that can be processed; a malformed one is logged and left behind."""
    kept = []
    for raw in updates:
        try:
            kept.append(check_update(raw))
        except EnvelopeError as exc:
            log.warning("malformed update skipped update=%s: %s", raw.get("update_id"), exc)
    return kept


async def _back_off(failures: int, why: str) -> None:
    delay = min(MAX_BACKOFF, 0.5 * 2**failures)
    log.warning("getUpdates failed attempt=%d retry_in=%.1fs: %s", failures, delay, why)
    await asyncio.sleep(delay)
