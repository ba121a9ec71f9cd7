"""SQLite: the WAL copied back into the database file by a background task, off the commits.

In WAL mode SQLite copies the log back into the database file (a checkpoint) once the log holds
``wal_autocheckpoint`` pages, inside the COMMIT that crossed the line: with ``synchronous=FULL``
that commit also writes and syncs the database file before it returns, and every writer of the
process waits its turn behind it (:mod:`bot.storage.sqlite`). A traced steady load showed such
commits taking 2-160 ms where a commit takes ~1 ms (docs/load.md, round 16).

So a server runs :func:`checkpoints`: after commits, at most once every ``every`` seconds, a
PASSIVE checkpoint on a connection of its own (on the driver's thread: the event loop goes on;
a passive checkpoint takes no write lock, so writers go on too, and it copies only what no
reader still needs), then a second one for what they wrote meanwhile, in a write turn of the
process (:func:`bot.storage.sqlite.write_turn`): short, and it leaves the log all copied, so
the next writer starts the log again from its beginning instead of growing it. Every SQLite
connection's own automatic checkpoint is raised to
:data:`BACKSTOP` pages (``db.py``): it fires only if this task falls that far behind, or in a
process that runs no server (the CLI), whose last connection's close checkpoints anyway. Nothing
about durability changes: commits still sync the log (``synchronous=FULL``), and the checkpoint
syncs the database file as before, only elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.storage.sqlite import write_turn

log = logging.getLogger(__name__)

BACKSTOP = 10_000  # pages (~40 MB of log at 4 KiB) before a commit checkpoints on its own
EVERY = 1.0  # seconds: the longest a commit waits for the next checkpoint after it


async def checkpoints(engine: AsyncEngine, *, every: float = EVERY) -> None:
    """Until cancelled, a passive checkpoint of ``engine``'s SQLite file ``every`` seconds while
    commits come (none when idle: the task waits for a commit). Other databases: nothing."""
    database = engine.url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:"):
        await asyncio.Event().wait()  # nothing to do; until cancelled
        return
    committed = asyncio.Event()

    def on_commit(_conn: Any) -> None:
        committed.set()

    event.listen(engine.sync_engine, "commit", on_commit)
    try:
        while True:
            await committed.wait()
            await asyncio.sleep(every)  # the commits of that time, copied in one go
            committed.clear()
            await checkpoint(engine)  # the bulk, beside the writers
            # What they added meanwhile, in a write turn: the log is then copied whole, and
            # the next writer starts it again from its beginning (SQLite restarts the log
            # only when a writer finds it all copied; without this it grew to the backstop).
            await checkpoint(engine, in_turn=True)
    finally:
        event.remove(engine.sync_engine, "commit", on_commit)


async def checkpoint(engine: AsyncEngine, *, in_turn: bool = False) -> tuple[int, int, int]:
    """One PASSIVE checkpoint on a pooled connection, outside any transaction (no BEGIN: it
    neither waits for the write lock nor takes it); SQLite's (busy, frames in the log, frames
    copied). ``in_turn``: in the process's write turn, taken only once the connection is out
    of the pool (writers waiting for the turn hold connections: taken the other way round, an
    emptied pool would keep the checkpoint and every writer waiting until TURN_WAIT)."""
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver: Any = raw.driver_connection  # aiosqlite's: the call runs on its thread
        turn = write_turn(engine) if in_turn else contextlib.nullcontext()
        async with turn, driver.execute("PRAGMA wal_checkpoint(PASSIVE)") as cursor:
            row = await cursor.fetchone()
    busy, frames, copied = (int(x) for x in row) if row else (0, 0, 0)
    log.debug("wal checkpoint busy=%d frames=%d copied=%d", busy, frames, copied)
    return busy, frames, copied
