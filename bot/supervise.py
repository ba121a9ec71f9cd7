"""Keeping a long-running worker alive: one restart policy for every channel and service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def supervise(
    name: str,
    work: Callable[[], Awaitable[None]],
    *,
    max_pause: float = 60.0,
    fatal: tuple[type[BaseException], ...] = (),
) -> None:
    """Run a worker; restart it after an unexpected error, with a pause doubling up to
    ``max_pause``. An error of a ``fatal`` type (e.g. a rejected token) ends it instead."""
    delay = 1.0
    while True:
        try:
            await work()
            return
        except fatal as exc:
            log.critical("worker stops worker=%s: %s", name, type(exc).__name__)
            raise
        except Exception:
            log.exception("worker crashed worker=%s restart_in=%.0fs", name, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, max_pause)
