"""The tests' one wait: re-check a condition (the fakes' records, the database, an HTTP probe)
until it holds or a deadline passes; no sleep stands in for synchronisation."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
POLL = 0.02  # seconds between looks when nothing wakes the wait earlier

Check = Callable[[], object | Awaitable[object]]


async def until(
    check: Check,
    what: str,
    seconds: float = 20.0,
    *,
    wake: Callable[[float], Awaitable[object]] | None = None,
    detail: Callable[[], str] | None = None,
    fail: Callable[[], BaseException] | None = None,
    poll: float = POLL,
) -> float:
    """Await ``check`` (sync or async) until it is truthy; returns when (``time.monotonic()``).

    ``wake(timeout)`` (a fake's ``changed``) ends a pause early when something may have changed;
    at the deadline the failure says ``what`` was awaited, plus ``detail()`` (a process's log),
    or is what ``fail()`` builds (a fake's own exception).
    """
    return (await _first(check, what, seconds, wake, detail, fail, poll))[0]


async def value_of(
    check: Callable[[], T | None],
    seconds: float,
    *,
    wake: Callable[[float], Awaitable[object]],
    fail: Callable[[], BaseException],
    poll: float = POLL,
) -> T:
    """:func:`until` for the fakes' ``wait_for``: the first truthy value of ``check``."""
    return (await _first(check, "", seconds, wake, None, fail, poll))[1]  # type: ignore[return-value]


async def _first(
    check: Check,
    what: str,
    seconds: float,
    wake: Callable[[float], Awaitable[object]] | None,
    detail: Callable[[], str] | None,
    fail: Callable[[], BaseException] | None,
    poll: float,
) -> tuple[float, object]:
    end = time.monotonic() + seconds
    while True:
        result = check()
        if inspect.iscoroutine(result):  # an async check; a Task it returns is a value
            result = await result
        if result:
            return time.monotonic(), result
        left = end - time.monotonic()
        if left <= 0:
            if fail is not None:
                raise fail()
            extra = detail() if detail is not None else ""
            raise AssertionError(f"not within {seconds:g}s: {what}{extra}")
        if wake is not None:
            await wake(min(left, poll))
        else:
            await asyncio.sleep(min(left, poll))
