"""The tests' one wait: re-check a condition (the fakes' records, the database, an HTTP probe)
until it holds or a deadline passes; no sleep stands in for synchronisation."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

POLL = 0.02  # seconds between looks when nothing wakes the wait earlier

Check = Callable[[], object | Awaitable[object]]


async def until(
    check: Check,
    what: str,
    seconds: float = 20.0,
    *,
    wake: Callable[[float], Awaitable[object]] | None = None,
    detail: Callable[[], str] | None = None,
) -> float:
    """Await ``check`` (sync or async) until it is truthy; returns when (``time.monotonic()``).

    ``wake(timeout)`` (a fake's ``changed``) ends a pause early when something may have changed;
    at the deadline the failure says ``what`` was awaited, plus ``detail()`` (a process's log).
    """
    end = time.monotonic() + seconds
    while True:
        result = check()
        if inspect.iscoroutine(result):  # an async check; a Task it returns is a value
            result = await result
        if result:
            return time.monotonic()
        if time.monotonic() > end:
            extra = detail() if detail is not None else ""
            raise AssertionError(f"not within {seconds:g}s: {what}{extra}")
        if wake is not None:
            await wake(POLL)
        else:
            await asyncio.sleep(POLL)
