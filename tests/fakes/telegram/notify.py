"""A level-triggered change signal: waiters re-check their condition after every change."""

from __future__ import annotations

import asyncio
import contextlib


class Signal:
    """Wakes every waiter on `notify()`; waiters loop on their own predicate and deadline."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seconds: float) -> None:
        """Return after the next `notify()` or after `seconds`, whichever comes first."""
        if seconds <= 0:
            return
        event = self._event
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()
