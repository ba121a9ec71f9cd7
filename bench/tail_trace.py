"""Where a reply's time goes, inside a helpbot process: per-message timestamps for the bench.

bench/counted.py installs this when BENCH_TRACE names a file (bench/load.py --trace sets it for
the steady run). It wraps a few of the bot's methods (their behaviour unchanged: each wrapper
notes the time and calls the original) and appends one JSON line per event to the file, ten
times a second from a daemon thread (the bench SIGKILLs the process). Times are
``time.monotonic()``, one clock for every process of the machine, so they line up with the fake
Bot API's own (bench/load.py). The events:

- ``recv`` / ``stored``: the webhook's store of an update began / returned (update id, chat);
- ``turn0`` / ``turn1``: the inbox worker began / ended handling it (update id);
- ``pass0`` / ``pass1``: an inbox pass began / ended (rows in hand);
- ``handed``: outbox rows a turn reserved, handed to the outbox worker at its commit;
- ``claimed``: outbox rows a wave claimed (inside its transaction, before its commit);
- ``send0`` / ``send1``: the outbox began / ended a call (row id, chat, method);
- ``wave0`` / ``wave1``: an outbox wave began / ended;
- ``commit``: a SQLite COMMIT, start and end, whether the database file changed meanwhile (a
  WAL checkpoint wrote it: in WAL mode only a checkpoint writes the main file), WAL size after;
- ``lock``: a ``BEGIN IMMEDIATE`` (the write lock), start and end, the connection, the bot's
  innermost coroutine that asked; ``rollback``: a writing transaction rolled back;
- ``checkpoint``: the server's own WAL checkpoint (bot/storage/checkpoints.py, where the code
  has it), start, end, SQLite's (busy, frames, copied);
- ``gc``: a collection, its generation, start and end;
- ``lag``: the event loop late by that many seconds for a 5 ms sleep (over 3 ms late).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

_events: list[list[Any]] = []
_db: Path | None = None
_lagging: list[asyncio.Task[None]] = []
LAG_TICK = 0.005
LAG_NOTED = 0.003


def note(*event: Any) -> None:
    _events.append(list(event))


def _flush(path: Path) -> None:
    written = 0
    with path.open("a", encoding="utf-8") as out:
        while True:
            time.sleep(0.1)
            end = len(_events)
            for event in _events[written:end]:
                out.write(json.dumps(event) + "\n")
            written = end
            out.flush()


def _mtime(path: Path | None) -> int:
    try:
        return 0 if path is None else path.stat().st_mtime_ns
    except OSError:
        return 0


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _wrap_async(owner: Any, name: str, before: Any, after: Any) -> None:
    original = getattr(owner, name)

    @functools.wraps(original)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        token = before(*args, **kwargs)
        result = await original(*args, **kwargs)
        after(token, result, *args, **kwargs)
        return result

    setattr(owner, name, wrapper)


async def _lag() -> None:
    while True:
        t = time.monotonic()
        await asyncio.sleep(LAG_TICK)
        late = time.monotonic() - t - LAG_TICK
        if late > LAG_NOTED:
            note("lag", t + LAG_TICK, late)


def _gc(phase: str, info: dict[str, Any], started: dict[str, float] = {}) -> None:  # noqa: B006
    if phase == "start":
        started["t"] = time.monotonic()
    else:
        note("gc", info["generation"], started.get("t", 0.0), time.monotonic())


def _holder(task: Any) -> str:
    """The bot's innermost function under way in ``task``'s coroutine chain (who takes the lock)."""
    where = "?"
    coro = task.get_coro() if task is not None else None
    while coro is not None:
        frame = getattr(coro, "cr_frame", None)
        if frame is not None and "/site-packages/" not in frame.f_code.co_filename:
            where = frame.f_code.co_qualname
        coro = getattr(coro, "cr_await", None)
    return where


def install(path: Path) -> None:
    global _db
    sqlite_path = os.environ.get("DATABASE_SQLITE_PATH")
    _db = Path(sqlite_path) if sqlite_path else None
    threading.Thread(target=_flush, args=(path,), daemon=True).start()
    gc.callbacks.append(_gc)

    from bot.delivery import express, inbox, worker
    from bot.storage import claims, sqlite
    from handlers.telegram import inbox as telegram_inbox

    def chat_of(raw: dict[str, Any]) -> Any:
        return ((raw.get("message") or {}).get("chat") or {}).get("id")

    def recv(_self: Any, updates: Any) -> float:
        t = time.monotonic()
        for raw in updates:
            note("recv", t, raw.get("update_id"), chat_of(raw))
        return t

    def stored(_t: float, _r: Any, _self: Any, updates: Any) -> None:
        t = time.monotonic()
        for raw in updates:
            note("stored", t, raw.get("update_id"))

    _wrap_async(telegram_inbox.Inbox, "store", recv, stored)

    def turn0(_self: Any, row: Any) -> None:
        note("turn0", time.monotonic(), row.external_id)

    def turn1(_t: Any, _r: Any, _self: Any, row: Any) -> None:
        note("turn1", time.monotonic(), row.external_id)

    _wrap_async(inbox.InboxWorker, "_process", turn0, turn1)

    def pass0(self: Any) -> None:
        note("pass0", time.monotonic(), len(self._hand))

    def pass1(_t: Any, _r: Any, _self: Any) -> None:
        note("pass1", time.monotonic())

    _wrap_async(inbox.InboxWorker, "drain", pass0, pass1)

    handed = express.Express._handed

    def handed_wrapper(self: Any, rows: list[Any]) -> None:
        note("handed", time.monotonic(), [[row.id, row.chat_id] for row in rows])
        handed(self, rows)

    express.Express._handed = handed_wrapper  # type: ignore[method-assign]

    def claim0(*_a: Any, **_k: Any) -> None:
        return None

    def claimed(_t: Any, rows: Any, *_a: Any, **_k: Any) -> None:
        note("claimed", time.monotonic(), [[row.id, row.chat_id] for row in rows])

    _wrap_async(claims, "claim_outbox", claim0, claimed)

    def send0(_self: Any, row: Any) -> None:
        note("send0", time.monotonic(), row.id, row.chat_id, row.method)

    def send1(_t: Any, _r: Any, _self: Any, row: Any) -> None:
        note("send1", time.monotonic(), row.id)

    _wrap_async(worker.OutboxWorker, "_send", send0, send1)

    def wave0(self: Any, sent: Any, **_k: Any) -> float:
        return time.monotonic()

    def wave1(t: float, result: Any, _self: Any, sent: Any, **_k: Any) -> None:
        note("wave", t, time.monotonic(), len(sent), len(result[1]))

    _wrap_async(worker.OutboxWorker, "_wave", wave0, wave1)

    commit = sqlite._Connection.commit

    def commit_wrapper(self: Any) -> None:
        before = _mtime(_db)
        t = time.monotonic()
        try:
            commit(self)
        finally:
            end = time.monotonic()
            wal = _size(Path(f"{_db}-wal")) if _db else 0
            note("commit", t, end, _mtime(_db) != before, wal, id(self))

    sqlite._Connection.commit = commit_wrapper  # type: ignore[method-assign]

    run = sqlite._Cursor._run

    async def run_wrapper(self: Any, fn: Any, operation: str) -> None:
        if not operation.startswith("BEGIN IMMEDIATE"):
            return await run(self, fn, operation)
        t = time.monotonic()
        task = asyncio.current_task()
        try:
            return await run(self, fn, operation)
        finally:
            name = _holder(task)
            note("lock", t, time.monotonic(), id(self._adapt_connection), name)

    rollback = sqlite._Connection.rollback

    def rollback_wrapper(self: Any) -> None:
        writing = self.writing
        rollback(self)
        if writing:
            note("rollback", time.monotonic(), id(self))

    sqlite._Connection.rollback = rollback_wrapper  # type: ignore[method-assign]
    sqlite._Cursor._run = run_wrapper  # type: ignore[method-assign]

    try:  # the server's own checkpoints (bot/storage/checkpoints.py), where the code has them
        from bot.storage import checkpoints
    except ImportError:
        checkpoints = None
    if checkpoints is not None:
        _wrap_async(
            checkpoints, "checkpoint", lambda *_a: time.monotonic(),
            lambda t, r, *_a: note("checkpoint", t, time.monotonic(), *r),
        )  # fmt: skip

    inbox_run = inbox.InboxWorker.run

    async def run_with_lag(self: Any) -> None:
        if _lagging:  # one monitor for the loop
            return await inbox_run(self)
        _lagging.append(asyncio.get_running_loop().create_task(_lag()))
        try:
            await inbox_run(self)
        finally:
            _lagging.pop().cancel()

    inbox.InboxWorker.run = run_with_lag  # type: ignore[method-assign]
