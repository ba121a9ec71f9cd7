"""Keeping long-running workers alive: one restart policy for every channel and service, and the
record of which worker is down that ``/readyz`` reads.

Each worker's run is a task of its own under a supervising task: when the run ends by an error,
or is cancelled by anyone but its supervisor, the worker is *down* (named by
:meth:`Workers.problems`) until the restart after a pause doubling up to ``max_pause``. An
error of a ``fatal`` type (e.g. a rejected token) ends the worker for good: it stays down.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

FIRST_PAUSE = 1.0  # seconds before the first restart; doubled after each crash


@dataclass(eq=False)
class _Worker:
    name: str
    work: Callable[[], Awaitable[None]]
    max_pause: float
    fatal: tuple[type[BaseException], ...]
    quiet: tuple[type[BaseException], ...]
    down: str | None = None  # why it is not running now (None: running or starting)
    run: asyncio.Task[None] | None = None  # the current run of ``work``
    kick: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False  # its owner stops it: an end is expected, no restart follows


class Workers:
    """The app's supervised workers by name (``"telegram inbox"``); each owned task is cancelled
    and awaited by :meth:`stop`, so none is fire-and-forget."""

    def __init__(self) -> None:
        self._workers: dict[str, _Worker] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(
        self,
        name: str,
        work: Callable[[], Awaitable[None]],
        *,
        max_pause: float = 60.0,
        fatal: tuple[type[BaseException], ...] = (),
        quiet: tuple[type[BaseException], ...] = (),
    ) -> None:
        """Run ``work`` under the restart policy until :meth:`stop`; a ``quiet`` error is logged
        as a warning without its traceback (an outside service refusing, not a bug)."""
        if name in self._tasks:
            raise RuntimeError(f"worker {name!r} is already running")
        worker = _Worker(name, work, max_pause, fatal, quiet)
        self._workers[name] = worker
        self._tasks[name] = asyncio.create_task(_keep(worker), name=f"supervise {name}")

    def problems(self) -> dict[str, str]:
        """Each worker that is not running now, with why."""
        return {name: w.down for name, w in self._workers.items() if w.down is not None}

    def running(self, name: str) -> asyncio.Task[None] | None:
        """The task of the worker's current run (None while it is down)."""
        worker = self._workers.get(name)
        return worker.run if worker is not None and worker.down is None else None

    def names(self) -> list[str]:
        return sorted(self._workers)

    def kick(self, prefix: str = "") -> None:
        """End the restart pause of the workers whose name starts with ``prefix`` now:
        something they lacked (tokens) has arrived."""
        for name, worker in self._workers.items():
            if name.startswith(prefix):
                worker.kick.set()

    async def stop(self, prefix: str = "", grace: float = 0.0) -> None:
        """Stop the workers whose name starts with ``prefix``: those that end by themselves
        within ``grace`` seconds (their owner asked them to) end so, the rest are cancelled."""
        names = [name for name in self._tasks if name.startswith(prefix)]
        tasks = [self._tasks.pop(name) for name in names]
        for name in names:
            self._workers.pop(name).stopping = True
        if not tasks:
            return
        if grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _keep(worker: _Worker) -> None:
    """Run the worker, restarting it after a crash, until cancelled or it ends."""
    pause = FIRST_PAUSE
    while True:
        run = asyncio.create_task(_call(worker.work), name=worker.name)
        worker.run, worker.down = run, None
        try:
            await asyncio.wait([run])
        finally:  # our own cancellation: the run goes with us
            if not run.done():
                run.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await run
        if worker.stopping:
            return
        if run.cancelled():
            worker.down = "cancelled"
            log.error("worker killed worker=%s restart_in=%.0fs", worker.name, pause)
        elif (exc := run.exception()) is None:
            worker.down = "ended"
            log.warning("worker ended worker=%s", worker.name)
            return
        elif isinstance(exc, worker.fatal):
            worker.down = f"stopped: {type(exc).__name__}"
            log.critical("worker stops worker=%s: %s", worker.name, type(exc).__name__)
            return
        else:
            worker.down = f"crashed: {type(exc).__name__}"
            if isinstance(exc, worker.quiet):
                log.warning(
                    "worker stopped worker=%s restart_in=%.0fs: %s", worker.name, pause, exc
                )
            else:
                log.error(
                    "worker crashed worker=%s restart_in=%.0fs", worker.name, pause, exc_info=exc
                )
        worker.kick.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(worker.kick.wait(), pause)
        pause = min(pause * 2, worker.max_pause)


async def _call(work: Callable[[], Awaitable[None]]) -> None:
    await work()
