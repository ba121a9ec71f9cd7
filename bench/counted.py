"""Run a bot process with its database transactions counted: `python bench/counted.py FILE ...`.

    python bench/counted.py /tmp/counts -m bot serve        # helpbot, as `python -m bot serve`
    python bench/counted.py /tmp/counts bench/minimal_bot.py

A SQLAlchemy event listener on the Engine class (every engine the process makes, the bot's code
unchanged) counts `commit` events, statements (`before_cursor_execute`) and transactions begun
(`begin`, read-only ones included); a daemon thread writes "commits statements begins" to FILE ten
times a second, so bench/load.py reads the figures of a process it later SIGKILLs. Then the
process runs as it would have without the wrapper.

With BENCH_CALLS set (bench/load.py --calls), it also writes FILE.calls, a JSON object of counts
per kind: each SQL statement by its first words ("sql: …"), the delivery workers' looks and
claims and how many of them found nothing ("inbox claim", "inbox claim empty", …), and the
PostgreSQL notifications heard from other processes ("notified"). The workers' functions are
wrapped at their module (the bot's code unchanged); this costs CPU, so leave it off for the
figures of CPU per message.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

counts = {"commits": 0, "statements": 0, "begins": 0}
calls: dict[str, int] = {}
_kinds: dict[str, str] = {}  # a statement's text: its kind, "sql: <first words>"


@event.listens_for(Engine, "begin")
def _begin(_conn: Any) -> None:
    counts["begins"] += 1  # every transaction, the ones that end in a rollback (reads) too


@event.listens_for(Engine, "commit")
def _commit(_conn: Any) -> None:
    counts["commits"] += 1


@event.listens_for(Engine, "before_cursor_execute")
def _statement(*_args: Any) -> None:
    counts["statements"] += 1


def _write(path: Path) -> None:
    detail = path.with_name(path.name + ".calls") if calls_on else None
    while True:
        # whole or not at all: a reader never sees the file emptied mid-write (an empty read was
        # skipped as a process's counts of 0, and a load's commits came out negative)
        part = path.with_name(f".{path.name}.part")  # (not matched by a glob of counts-*)
        part.write_text(f"{counts['commits']} {counts['statements']} {counts['begins']}\n")
        os.replace(part, path)
        if detail is not None:
            detail.write_text(json.dumps(dict(calls)))
        time.sleep(0.1)  # the bench polls the file; a tenth of a second is fine-grained enough


def _kind(statement: str) -> str:
    kind = _kinds.get(statement)
    if kind is None:
        words = " ".join(statement.split())
        for cut in (" WHERE ", " VALUES ", " SET ", " ON CONFLICT"):
            words = words.split(cut, 1)[0]
        kind = _kinds[statement] = "sql: " + words[:70]
    return kind


def _count_calls() -> None:
    """Count the statements by kind, the workers' looks and claims, and notifications heard."""

    @event.listens_for(Engine, "before_cursor_execute")
    def _statement_kind(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        kind = _kind(statement)
        calls[kind] = calls.get(kind, 0) + 1

    from bot.storage import claims

    def wrap(name: str, label: str) -> None:
        inner = getattr(claims, name)

        async def counted(*args: Any, **kwargs: Any) -> Any:
            found = await inner(*args, **kwargs)
            calls[label] = calls.get(label, 0) + 1
            if found is None or found == []:
                calls[label + " empty"] = calls.get(label + " empty", 0) + 1
            return found

        setattr(claims, name, counted)

    wrap("claim_updates", "inbox claim")
    wrap("claim_outbox", "outbox claim")
    wrap("update_due", "inbox look")
    wrap("outbox_due", "outbox look")
    try:
        from asyncpg.connection import Connection
    except ImportError:
        return
    heard = Connection._process_notification

    from bot.storage import wakeup

    def notified(self: Any, pid: int, channel: str, payload: str) -> None:
        topic, _, sender = payload.rpartition(" ")
        mine = any(book.sender == sender for book in list(wakeup._books.values()))
        label = f"notified {topic} ({'own' if mine else 'other'})"
        calls[label] = calls.get(label, 0) + 1
        heard(self, pid, channel, payload)

    Connection._process_notification = notified  # type: ignore[method-assign]


calls_on = bool(os.environ.get("BENCH_CALLS"))


def main() -> None:
    path, rest = Path(sys.argv[1]), sys.argv[2:]
    if calls_on:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        _count_calls()
    threading.Thread(target=_write, args=(path,), daemon=True).start()
    trace = os.environ.get("BENCH_TRACE")
    if trace:  # per-message timestamps (bench/tail_trace.py)
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import tail_trace

        tail_trace.install(Path(trace))
    if rest[0] == "-m":
        sys.argv = [rest[1], *rest[2:]]
        runpy.run_module(rest[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = rest
        sys.path.insert(0, str(Path(rest[0]).resolve().parent))
        runpy.run_path(rest[0], run_name="__main__")


if __name__ == "__main__":
    main()
