"""The bot's update queue and getUpdates as the Bot API server serves it (SRV =
tdlib/telegram-bot-api, telegram-bot-api/Client.cpp): offset, limit, long poll, 409 conflicts
and how long an update waits."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..notify import Signal
from .clock import ServerClock
from .errors import (
    OTHER_POLL_CONFLICT,
    SET_WEBHOOK_CONFLICT,
    WEBHOOK_CONFLICT,
    ApiError,
    conflict,
)

# Kinds Telegram leaves out unless a bot lists them in allowed_updates.
OPT_IN_KINDS = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
# SRV keeps a message update until `message_date + 86400` (l. 17053) and does not queue one older
# than a day at all (l. 17447-17452); a callback query for 150 s (l. 17155-17158).
MESSAGE_TTL = 86400.0
CALLBACK_TTL = 150.0
MAX_POLL_TIMEOUT = 50  # LONG_POLL_MAX_TIMEOUT, Client.h l. 1610
CONFLICT_PAUSE = 3.0  # SRV `fail_query_conflict` (l. 16238-16251): at most one 409 per 3 s

__all__ = ["OTHER_POLL_CONFLICT", "SET_WEBHOOK_CONFLICT", "WEBHOOK_CONFLICT", "UpdateQueue"]


@dataclass(eq=False)
class PendingUpdate:
    """An update waiting to be confirmed (polling) or acknowledged (webhook)."""

    update_id: int
    kind: str
    payload: dict[str, Any]
    queue_key: int  # per-chat ordering key (per user for callback queries)
    expires_at: float  # on the server clock
    attempts: int = 0
    not_before: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"update_id": self.update_id, self.kind: self.payload}


@dataclass(eq=False)
class _Poll:
    conflict: str | None = None  # ended by a newer poll or setWebhook: a throttled 409
    error: ApiError | None = None  # ended otherwise (the token was revoked)


@dataclass
class _PollHistory:
    offset: int = 0
    at: float = field(default=-1e9)


class UpdateQueue:
    """Updates with increasing ids; `allowed_updates` filters at creation time and persists."""

    def __init__(
        self,
        signal: Signal,
        clock: ServerClock,
        *,
        first_update_id: int = 100_000,
        hold_scale: float = 1.0,
    ) -> None:
        self.signal = signal
        self.clock = clock
        self.pending: list[PendingUpdate] = []
        self.allowed: frozenset[str] | None = None
        self.webhook_active = False
        self.closing = False
        self.hold_scale = hold_scale  # tests may shrink long-poll holds; 1.0 is Telegram's
        self._next_id = first_update_id
        self._active_poll: _Poll | None = None
        self._history = _PollHistory()
        self._next_conflict_at = -1e9

    def set_allowed(self, kinds: Iterable[str] | None) -> None:
        """An empty list or None restores the default: every kind except the opt-in ones."""
        chosen = frozenset(kinds or ())
        self.allowed = chosen or None

    def accepts(self, kind: str) -> bool:
        if self.allowed is None:
            return kind not in OPT_IN_KINDS
        return kind in self.allowed

    def push(self, kind: str, payload: dict[str, Any], queue_key: int) -> PendingUpdate | None:
        """Queue an update; None when allowed_updates filters it out or it is a day old.

        A message-like update lives until its `date` + 1 day (SRV l. 17053), a callback query
        150 s (SRV l. 17155-17158), anything else a day from now.
        """
        if not self.accepts(kind):
            return None
        now = self.clock.now()
        if kind == "callback_query":
            ttl = CALLBACK_TTL
        elif isinstance(payload.get("date"), int):
            ttl = payload["date"] + MESSAGE_TTL - self.clock.unix()
            if ttl <= 0:
                return None  # SRV l. 17447-17452: older than a day, never queued
        else:
            ttl = MESSAGE_TTL
        update = PendingUpdate(self._next_id, kind, payload, queue_key, now + ttl)
        self._next_id += 1
        self.pending.append(update)
        self.signal.notify()
        return update

    def remove(self, update: PendingUpdate) -> None:
        if update in self.pending:
            self.pending.remove(update)
            self.signal.notify()

    def drop_all(self) -> None:
        self.pending.clear()
        self.signal.notify()

    def expire(self) -> None:
        now = self.clock.now()
        self.pending = [u for u in self.pending if u.expires_at > now]

    def confirm(self, offset: int) -> None:
        """A positive offset forgets every update below it; -N keeps only the last N."""
        if offset < 0:
            self.pending = self.pending[offset:]
        else:
            self.pending = [u for u in self.pending if u.update_id >= offset]

    @property
    def poll_active(self) -> bool:
        return self._active_poll is not None

    def terminate_poll(self, reason: str) -> None:
        """End the held getUpdates with a 409 (SRV `abort_long_poll`, l. 16225-16236)."""
        if self._active_poll is not None:
            self._active_poll.conflict = reason
            self._active_poll = None
            self.signal.notify()

    def fail_poll(self, error: ApiError) -> None:
        """End the held getUpdates with `error` at once (a revoked token: 401)."""
        if self._active_poll is not None:
            self._active_poll.error = error
            self._active_poll = None
            self.signal.notify()

    async def fail_conflict(self, text: str) -> ApiError:
        """A 409 as SRV `fail_query_conflict` sends it (l. 16238-16251): the first one at once,
        any other within 3 s of it only after a 3-second sleep."""
        now = self.clock.now()
        if now >= self._next_conflict_at:
            self._next_conflict_at = now + CONFLICT_PAUSE
        else:
            await self.clock.sleep(CONFLICT_PAUSE)
        return conflict(text)

    async def get_updates(self, *, offset: int | None, limit: int, hold: int) -> list[Any]:
        """SRV `process_get_updates_query` (l. 15700-15723) and `do_get_updates` (l. 16321-16404).

        Updates ready, or `timeout=0`: answered at once, and a poll held by someone else goes on.
        Nothing ready and a timeout: this request becomes the long poll and ends the one held
        before with 409 "terminated by other getUpdates request" (`abort_long_poll(false)`).
        """
        if self.webhook_active:
            raise await self.fail_conflict(WEBHOOK_CONFLICT)
        offset = offset or 0
        now = self.clock.now()
        if offset == self._history.offset:
            # SRV l. 15713-15719: the same offset again soon means a busy loop; slow it down.
            if now - self._history.at < 3 and hold < 3:
                hold = 3
            if now - self._history.at < 0.5:
                limit = 1
        self._history = _PollHistory(offset, now)
        if offset:
            self.confirm(offset)
        self.expire()
        ready = self.pending[:limit]
        if ready or hold <= 0 or self.closing:
            return [u.to_json() for u in ready]
        self.terminate_poll(OTHER_POLL_CONFLICT)
        poll = _Poll()
        self._active_poll = poll
        deadline = time.monotonic() + min(hold, MAX_POLL_TIMEOUT) * self.hold_scale
        try:
            while True:
                if poll.error is not None:
                    raise poll.error
                if poll.conflict is not None:
                    raise await self.fail_conflict(poll.conflict)
                self.expire()
                ready = self.pending[:limit]
                remaining = deadline - time.monotonic()
                if ready or self.closing or self.webhook_active or remaining <= 0:
                    return [u.to_json() for u in ready]
                await self.signal.wait(remaining)
        finally:
            if self._active_poll is poll:
                self._active_poll = None
