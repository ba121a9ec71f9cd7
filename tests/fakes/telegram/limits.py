"""Flood control: token buckets for Telegram's per-chat, per-group and whole-bot limits, and the Bot
API server's own limit on requests in flight."""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass

from .errors import too_many_requests

# Methods that deliver a message: the ones Telegram's flood limits are about.
SENDING_METHODS = frozenset(
    {
        "sendmessage",
        "copymessage",
        "forwardmessage",
        "sendphoto",
        "senddocument",
        "sendvoice",
        "sendvideonote",
        "sendsticker",
    }
)
# Methods SRV answers itself (`is_local_method`): never refused for requests in flight, and left
# alone by a forced failure that names no method, so the polling loop keeps working.
TRANSPORT_METHODS = frozenset(
    {"getupdates", "getme", "setwebhook", "deletewebhook", "getwebhookinfo", "close", "logout"}
)
# SRV `Client::send` (Client.cpp l. 7963-7982): more than 1000 (+ the bot's updates per minute)
# requests in flight -> `fail_query_flood_limit_exceeded` (l. 16262-16269): after a 3 s sleep,
# 429 "retry after 60". Only on api.telegram.org (not with --local), never for local methods.
MAX_IN_FLIGHT = 1000
IN_FLIGHT_SLEEP = 3.0
IN_FLIGHT_RETRY_AFTER = 60
# TDLib waits out a bot's flood waits silently up to 8 s in total before it gives up with a 429
# (TD net/NetQueryCreator.cpp l. 66-75 `total_timeout_limit = 8` for bots; NetQueryDelayer.cpp).
TDLIB_FLOOD_WAIT_LIMIT = 8.0


@dataclass(frozen=True)
class RateLimits:
    """Telegram's published limits (Bot API FAQ): ~1 msg/s per chat, 20/min per group, ~30/s for
    the whole bot. A 429 does not say which limit it hit, as on Telegram.

    `flood_wait_hold`: how long a send may be held before it succeeds instead of a 429 when a
    bucket is nearly full, as TDLib waits out flood waits up to 8 s for bots
    (TDLIB_FLOOD_WAIT_LIMIT); 0 answers 429 at once (the strictest reading, the default).
    """

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: int = 20
    global_per_second: float = 30.0
    global_burst: int = 30
    flood_wait_hold: float = 0.0


class _Bucket:
    def __init__(self, rate: float, capacity: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = time.monotonic()

    def wait_needed(self, now: float) -> float:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


class RateLimiter:
    """Answers 429 with `retry_after` (whole seconds, at least 1) when a bucket is empty.

    Scopes: the chat, the group (a negative id or @username: all its topics together) and the
    whole bot. Real time, not the server clock: the bot waits `retry_after` in real seconds.
    """

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._global = _Bucket(limits.global_per_second, limits.global_burst)
        self._chats: dict[int | str, _Bucket] = {}
        self._groups: dict[int | str, _Bucket] = {}

    async def admit(self, chat_id: int | str) -> None:
        """Let one send through, holding it up to `flood_wait_hold` s first, else 429."""
        held = 0.0
        while True:
            wait = self._wait(chat_id)
            if wait <= 0:
                self._take(chat_id)
                return
            if held + wait > self.limits.flood_wait_hold:
                raise too_many_requests(max(1, math.ceil(wait)))
            await asyncio.sleep(wait)
            held += wait

    def _buckets(self, chat_id: int | str) -> list[_Bucket]:
        limits = self.limits
        buckets = [self._global]
        buckets.append(
            self._chats.setdefault(
                chat_id, _Bucket(limits.per_chat_per_second, limits.per_chat_burst)
            )
        )
        if not isinstance(chat_id, int) or chat_id < 0:
            per_group = limits.per_group_per_minute
            buckets.append(self._groups.setdefault(chat_id, _Bucket(per_group / 60, per_group)))
        return buckets

    def _wait(self, chat_id: int | str) -> float:
        now = time.monotonic()
        return max(bucket.wait_needed(now) for bucket in self._buckets(chat_id))

    def _take(self, chat_id: int | str) -> None:
        for bucket in self._buckets(chat_id):
            bucket.take()
