"""The client-side leaky bucket that keeps every call to one portal under its request-rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["LeakyBucket"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class LeakyBucket:
    """Bitrix24's model mirrored on our side: each call adds 1, the level drains ``rate`` a second.

    A call goes at once while the level stays within ``burst``; otherwise it waits until enough has
    drained. Each caller reserves its place before sleeping, so concurrent callers queue in arrival
    order without a lock and the sent calls never exceed ``burst + rate * t`` over any window.
    A cancelled waiter keeps its reservation, which errs on the safe side.
    """

    def __init__(
        self,
        burst: int = 50,
        rate: float = 2.0,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if burst < 1:
            raise ValueError("burst must be at least 1")
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.burst = burst
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._level = 0.0
        self._updated = clock()

    @property
    def level(self) -> float:
        """The current fill, drained up to now (reservations not yet sent included)."""
        self._drain()
        return self._level

    def delay(self) -> float:
        """Seconds a call arriving now would wait; does not reserve."""
        self._drain()
        return max(0.0, (self._level + 1 - self.burst) / self.rate)

    async def acquire(self) -> float:
        """Wait for a slot and take it; returns the seconds waited."""
        self._drain()
        self._level += 1
        wait = max(0.0, (self._level - self.burst) / self.rate)
        if wait > 0:
            await self._sleep(wait)
        return wait

    def saturate(self) -> None:
        """The portal said it is full: assume a full bucket, so the next calls wait for a drain."""
        self._drain()
        self._level = max(self._level, float(self.burst))

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._updated) * self.rate)
        self._updated = now
