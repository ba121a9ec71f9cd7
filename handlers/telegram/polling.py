"""Long polling that persists before it acknowledges: a batch is stored, then the next getUpdates
(with offset = last id + 1) confirms it to Telegram."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from aiogram import Bot
from aiogram.exceptions import (
    TelegramConflictError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import GetUpdates
from aiogram.types import Update

from handlers.telegram.inbox import Inbox

log = logging.getLogger(__name__)

MAX_BACKOFF = 30.0


async def poll(bot: Bot, inbox: Inbox, *, allowed_updates: list[str], hold: int) -> None:
    """Fetch updates until cancelled; transient errors back off, flood control is honoured."""
    offset: int | None = None
    failures = 0
    while True:
        request = GetUpdates(offset=offset, timeout=hold, allowed_updates=allowed_updates)
        try:
            updates = await bot(request, request_timeout=hold + 30)
        except TelegramRetryAfter as exc:
            log.warning("getUpdates flood control retry_after=%s", exc.retry_after)
            await asyncio.sleep(exc.retry_after)
            continue
        except (TelegramNetworkError, TelegramServerError, TelegramConflictError) as exc:
            failures += 1
            delay = min(MAX_BACKOFF, 0.5 * 2**failures)
            log.warning("getUpdates failed attempt=%d retry_in=%.1fs: %s", failures, delay, exc)
            await asyncio.sleep(delay)
            continue
        failures = 0
        if updates:
            await inbox.store([raw_update(update) for update in updates])
            offset = updates[-1].update_id + 1
            log.debug("updates stored count=%d next_offset=%s", len(updates), offset)


def raw_update(update: Update) -> dict[str, Any]:
    """The update as Bot API JSON, to store and to parse again later."""
    return update.model_dump(mode="json", by_alias=True, exclude_none=True)
