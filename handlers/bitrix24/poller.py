"""Fetch mode: read the bot's events with ``imbot.v2.Event.get``, store them, then acknowledge.

A page of events and the offset after it are committed together; only the next ``Event.get``
passes that offset, which is what acknowledges the page on the portal (:func:`offset_after`).
A crash before the commit repeats the page (the inbox dedupes it), a crash after it repeats
nothing: no event is dropped. With several replicas only the holder of the ``bitrix24-fetch``
lease polls (:func:`poll_while_leased`); a brief overlap when a lease changes hands is harmless
for the same reason.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextlib import suppress
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.delivery.inbox import InboxWorker
from bot.storage.leases import LeaseKeeper
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.events import MalformedEvent, arrival, from_fetch
from handlers.bitrix24.rest.api import Bitrix24Api
from handlers.bitrix24.rest.errors import Bitrix24Error

log = logging.getLogger(__name__)

PAGE = 100
LEASE = "bitrix24-fetch"


class EventPoller:
    """Polls one bot's event queue into ``inbox`` (the processor's)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        client: Bitrix24Api,
        clock: Clock,
        bot_id: int,
        inbox: InboxWorker,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._clock = clock
        self._bot_id = bot_id
        self._inbox = inbox
        self._state_key = f"fetch_offset:{bot_id}"
        self._offset: int | None = None
        self._loaded = False

    def reload(self) -> None:
        """Read the offset from the database again (another replica may have moved it)."""
        self._loaded = False

    async def poll_once(self) -> bool:
        """One ``Event.get``; ``True`` when events came (poll again soon)."""
        if not self._loaded:
            async with self._sessions() as session:
                stored = await repo.get_state(session, self._state_key)
            self._offset = int(stored) if stored else None
            self._loaded = True
        params: dict[str, Any] = {"botId": self._bot_id, "limit": PAGE}
        if self._offset is not None:
            params["offset"] = self._offset
        result = await self._client.call("imbot.v2.Event.get", params)
        events = result.get("events") or [] if isinstance(result, dict) else []
        next_offset = offset_after(result, events)
        if not events:
            return False
        now = self._clock.now()
        arrivals = []
        for item in events:
            try:
                event = from_fetch(item)
            except MalformedEvent as exc:  # skipped: a repeat of the page cannot mend it
                log.warning("bitrix event skipped: %s event=%s", exc, _event_id(item))
                continue
            if event is not None:  # else an event type the channel does not act on
                arrivals.append(arrival(event))
        async with self._sessions.begin() as session:
            fresh = sum(await self._inbox.add(session, arrivals, now))
            if next_offset:
                await repo.set_state(session, self._state_key, str(next_offset), now)
        if next_offset:
            self._offset = next_offset
        log.info(
            "bitrix events fetched bot=%s count=%d new=%d offset=%s",
            self._bot_id, len(events), fresh, self._offset,
        )  # fmt: skip
        if fresh:
            self._inbox.wake()
        return True


def _event_id(item: Any) -> str:
    return str(item.get("eventId", "?"))[:32] if isinstance(item, dict) else "?"


def offset_after(result: Any, events: list[Any]) -> int:
    """The offset that acknowledges a page; 0 for an empty page (keep the offset sent).

    ``nextOffset`` since change BOT-BC-0325-1; older portals answer ``lastEventId`` (the docs of
    the time: "compute ``lastEventId + 1``"); failing both, the largest ``eventId`` + 1. What
    ``lastEventId`` says on an empty page is not documented, so an empty page never moves it.
    """
    if not events or not isinstance(result, dict):
        return 0
    for key, step in (("nextOffset", 0), ("lastEventId", 1)):
        value = _int(result.get(key))
        if value > 0:
            return value + step
    ids = [_int(e.get("eventId")) for e in events if isinstance(e, dict)]
    return max(ids, default=0) + 1 if any(ids) else 0


async def report_revision(client: Bitrix24Api) -> int | None:
    """Log the portal's REST revision (``imbot.v2.Revision.get``, revision 33 and later)."""
    try:
        result = await client.call("imbot.v2.Revision.get", {})
    except Bitrix24Error as exc:
        log.info("bitrix portal revision unknown (%s): older than REST 33", exc.code)
        return None
    rest = _int(result.get("rest")) if isinstance(result, dict) else 0
    log.info("bitrix portal revision rest=%s answer=%s", rest or "?", result)
    return rest or None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


async def poll_while_leased(
    poller: EventPoller,
    lease: LeaseKeeper,
    stopping: asyncio.Event,
    *,
    interval: float,
    busy_interval: float,
) -> None:
    """Poll while this replica holds ``lease``, renewing it every third of its life.

    A replica without the lease tries to take it as often; a clean stop releases it at once,
    a dead replica's lease expires.
    """
    renew = lease.ttl / 3
    due = 0.0
    while not stopping.is_set():
        had = lease.held
        if await lease.hold():
            if not had:
                poller.reload()
                due = 0.0
            if time.monotonic() >= due:
                busy = await poller.poll_once()
                due = time.monotonic() + (busy_interval if busy else interval)
            pause = min(renew, max(due - time.monotonic(), 0.0))
        else:
            pause = renew
        with suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), pause)
    await lease.release()
