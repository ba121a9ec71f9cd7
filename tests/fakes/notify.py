"""Change signals for the fakes, and the wait that re-checks a predicate on every change."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import TypeVar

from deadline import value_of

T = TypeVar("T")
POLL_S = 0.05  # re-check at least this often, for state outside the fake (the app's database)


class Signal:
    """Level-triggered: wakes every waiter on `notify()`; waiters loop on their own predicate."""

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


async def wait_until(
    predicate: Callable[[], T | None],
    signal: Signal,
    timeout: float,  # noqa: ASYNC109 (a deadline for polling records, not a scope)
    on_timeout: Callable[[], BaseException],
) -> T:
    """Re-check `predicate` on every change (and every POLL_S) until truthy: the tests' one
    deadline (``tests/deadline.py``), woken by `signal`.

    At the deadline, raise what `on_timeout()` builds: each fake keeps its own exception type.
    """
    return await value_of(predicate, timeout, wake=signal.wait, fail=on_timeout, poll=POLL_S)
