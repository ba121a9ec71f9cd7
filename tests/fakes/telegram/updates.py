"""The bot's update queue and getUpdates semantics (offset, limit, long poll, 409 conflicts)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..notify import Signal
from .errors import conflict

# Kinds Telegram leaves out unless a bot lists them in allowed_updates.
OPT_IN_KINDS = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
MESSAGE_TTL = 86400.0
CALLBACK_TTL = 150.0
MAX_POLL_TIMEOUT = 50

WEBHOOK_CONFLICT = (
    "can't use getUpdates method while webhook is active; use deleteWebhook to delete the "
    "webhook first"
)
OTHER_POLL_CONFLICT = (
    "terminated by other getUpdates request; make sure that only one bot instance is running"
)
SET_WEBHOOK_CONFLICT = "terminated by setWebhook request"


@dataclass(eq=False)
class PendingUpdate:
    """An update waiting to be confirmed (polling) or acknowledged (webhook)."""

    update_id: int
    kind: str
    payload: dict[str, Any]
    queue_key: int  # per-chat ordering key (per user for callback queries)
    expires_at: float
    attempts: int = 0
    not_before: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"update_id": self.update_id, self.kind: self.payload}


@dataclass(eq=False)
class _Poll:
    terminated: str | None = None


@dataclass
class _PollHistory:
    offset: int | None = None
    at: float = field(default=-1e9)


class UpdateQueue:
    """Updates with increasing ids; `allowed_updates` filters at creation time and persists."""

    def __init__(
        self,
        signal: Signal,
        *,
        first_update_id: int = 100_000,
        hold_scale: float = 1.0,
    ) -> None:
        self.signal = signal
        self.pending: list[PendingUpdate] = []
        self.allowed: frozenset[str] | None = None
        self.webhook_active = False
        self.closing = False
        self.hold_scale = hold_scale  # tests may shrink long-poll holds; 1.0 is Telegram's
        self._next_id = first_update_id
        self._active_poll: _Poll | None = None
        self._history = _PollHistory()

    def set_allowed(self, kinds: Iterable[str] | None) -> None:
        """An empty list or None restores the default: every kind except the opt-in ones."""
        chosen = frozenset(kinds or ())
        self.allowed = chosen or None

    def accepts(self, kind: str) -> bool:
        if self.allowed is None:
            return kind not in OPT_IN_KINDS
        return kind in self.allowed

    def push(self, kind: str, payload: dict[str, Any], queue_key: int) -> PendingUpdate | None:
        """Queue an update; None when allowed_updates filters it out (it is never queued)."""
        if not self.accepts(kind):
            return None
        ttl = CALLBACK_TTL if kind == "callback_query" else MESSAGE_TTL
        update = PendingUpdate(self._next_id, kind, payload, queue_key, time.monotonic() + ttl)
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
        now = time.monotonic()
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
        if self._active_poll is not None:
            self._active_poll.terminated = reason
            self._active_poll = None
            self.signal.notify()

    async def get_updates(self, *, offset: int | None, limit: int, hold: int) -> list[Any]:
        """Hold the request up to `hold` s (getUpdates `timeout`) until an update is pending.

        A newer getUpdates, or setWebhook, ends the held request with 409.
        """
        if self.webhook_active:
            raise conflict(WEBHOOK_CONFLICT)
        self.terminate_poll(OTHER_POLL_CONFLICT)
        poll = _Poll()
        self._active_poll = poll
        now = time.monotonic()
        if offset == self._history.offset:
            # telegram-bot-api: the same offset again soon means a busy loop; slow it down.
            if now - self._history.at < 3 and hold < 3:
                hold = 3
            if now - self._history.at < 0.5:
                limit = 1
        self._history = _PollHistory(offset, now)
        if offset is not None:
            self.confirm(offset)
        deadline = now + min(max(hold, 0), MAX_POLL_TIMEOUT) * self.hold_scale
        try:
            while True:
                if poll.terminated is not None:
                    raise conflict(poll.terminated)
                self.expire()
                ready = self.pending[:limit]
                remaining = deadline - time.monotonic()
                if ready or self.closing or self.webhook_active or remaining <= 0:
                    return [u.to_json() for u in ready]
                await self.signal.wait(remaining)
        finally:
            if self._active_poll is poll:
                self._active_poll = None
