"""The fake server's clock: Telegram's own time limits, scaled or moved on by tests.

Everything the platform times on its side — a callback query's answer window, how long an update
waits to be fetched, the ephemeral-message window, TDLib's 60-second topic cache, the 3-second
pause between 409 conflicts — reads this clock, so a test can make minutes pass in milliseconds
(`scale`) or jump (`advance`). Network latency and long-poll holds are not platform limits and
stay in real time.
"""

from __future__ import annotations

import asyncio
import time


class ServerClock:
    """Seconds on the server's side: real time multiplied by `scale`, plus what tests added."""

    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("scale must be positive")
        self.scale = scale
        self._origin = time.monotonic()
        self._unix_origin = time.time()
        self._advanced = 0.0

    def now(self) -> float:
        """Monotonic server seconds."""
        return (time.monotonic() - self._origin) * self.scale + self._advanced

    def unix(self) -> int:
        """Unix time on the server, for message dates (moves with `advance` and `scale`)."""
        return int(self._unix_origin + self.now())

    def advance(self, seconds: float) -> None:
        """Jump forward: whatever times out within `seconds` has timed out."""
        self._advanced += seconds

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of server time (shorter in real time when scaled up)."""
        if seconds > 0:
            await asyncio.sleep(seconds / self.scale)
