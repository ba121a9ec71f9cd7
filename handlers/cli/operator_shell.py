"""The live shell of `helpbot operator`: commands from stdin while new tickets, and new messages
on the tickets the operator holds, are printed as they arrive (no refresh needed)."""

from __future__ import annotations

import asyncio
import shlex
import sys
import threading
from collections.abc import Awaitable, Callable
from zoneinfo import ZoneInfo

from bot import live
from bot.queue import OperatorQueue

POLL_SECONDS = 1.0  # how often the database is asked for news


async def shell(
    queue: OperatorQueue, me: str, command: Callable[[list[str]], Awaitable[int]]
) -> int:
    """Run commands until ``quit`` or the end of input, printing news between them."""
    print(f"helpbot operator as {me!r}; times in {queue.zone}; `help` lists commands", flush=True)
    zone = ZoneInfo(queue.zone)
    cursor = await live.start(queue.sessions)
    lines = _stdin_lines()
    while True:
        try:
            line = await asyncio.wait_for(lines.get(), POLL_SECONDS)
        except TimeoutError:
            line = ""
        else:
            if line is None:
                return 0
        cursor = await _show_news(queue, me, cursor, zone)
        if not line.strip():
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            print(f"error: {exc}", flush=True)
            continue
        if words[0] in ("quit", "exit"):
            return 0
        await command(words)
        sys.stdout.flush()


async def _show_news(
    queue: OperatorQueue, me: str, cursor: live.Cursor, zone: ZoneInfo
) -> live.Cursor:
    tickets, messages, cursor = await live.news(queue.sessions, cursor, me)
    for t in tickets:
        print(
            f"new ticket #{t.ticket_id} {t.created_at.astimezone(zone):%H:%M} {t.person} "
            f"({t.channel}): {t.question[:100]}",
            flush=True,
        )
    for m in messages:
        print(
            f"#{m.ticket_id} {m.created_at.astimezone(zone):%H:%M} {m.person}: {m.text[:300]}",
            flush=True,
        )
    return cursor


def _stdin_lines() -> asyncio.Queue[str | None]:
    """Lines of stdin, read by a daemon thread (a blocked read never holds up the exit);
    ``None`` at the end of input."""
    loop = asyncio.get_running_loop()
    lines: asyncio.Queue[str | None] = asyncio.Queue()

    def read() -> None:
        try:
            for line in sys.stdin:
                loop.call_soon_threadsafe(lines.put_nowait, line)
            loop.call_soon_threadsafe(lines.put_nowait, None)
        except RuntimeError:  # the shell has ended and its loop is closed: nobody reads on
            return

    threading.Thread(target=read, name="stdin", daemon=True).start()
    return lines
