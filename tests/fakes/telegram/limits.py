"""Flood control and fault injection: token buckets like Telegram's limits, forced 429s and 5xx."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .errors import ApiError, too_many_requests

# Methods that deliver a message: the ones Telegram's flood limits are about.
SENDING_METHODS = frozenset(
    {
        "sendmessage",
        "copymessage",
        "forwardmessage",
        "sendphoto",
        "senddocument",
        "sendvoice",
        "sendsticker",
    }
)
# Methods a forced failure with no method named leaves alone, so the polling loop keeps working.
_TRANSPORT_METHODS = frozenset(
    {"getupdates", "getme", "setwebhook", "deletewebhook", "getwebhookinfo"}
)


@dataclass(frozen=True)
class RateLimits:
    """Telegram's published limits: ~1 msg/s per chat, 20/min per group, ~30/s overall."""

    per_chat_per_second: float = 1.0
    per_chat_burst: int = 3
    per_group_per_minute: int = 20
    global_per_second: float = 30.0
    global_burst: int = 30


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
    """Answers 429 with `retry_after` (whole seconds, at least 1) when a bucket is empty."""

    def __init__(self, limits: RateLimits) -> None:
        self.limits = limits
        self._global = _Bucket(limits.global_per_second, limits.global_burst)
        self._chats: dict[int | str, _Bucket] = {}
        self._groups: dict[int | str, _Bucket] = {}

    def check(self, chat_id: int | str) -> None:
        now = time.monotonic()
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
        wait = max(bucket.wait_needed(now) for bucket in buckets)
        if wait > 0:
            raise too_many_requests(max(1, math.ceil(wait)))
        for bucket in buckets:
            bucket.take()


@dataclass
class _Fault:
    remaining: int
    status: int
    description: str
    retry_after: int | None
    method: str | None  # lower-cased; None means every method except the transport ones


class FaultInjector:
    """Deterministic failures for tests: the next N matching calls fail with a given status."""

    def __init__(self) -> None:
        self._faults: list[_Fault] = []

    def add(
        self,
        count: int,
        status: int,
        description: str,
        *,
        retry_after: int | None = None,
        method: str | None = None,
    ) -> None:
        lowered = method.lower() if method else None
        self._faults.append(_Fault(count, status, description, retry_after, lowered))

    def take(self, method: str) -> ApiError | None:
        lowered = method.lower()
        for fault in self._faults:
            if fault.remaining <= 0:
                continue
            matches = fault.method == lowered if fault.method else lowered not in _TRANSPORT_METHODS
            if matches:
                fault.remaining -= 1
                return ApiError(fault.status, fault.description, retry_after=fault.retry_after)
        return None
