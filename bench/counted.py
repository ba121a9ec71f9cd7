"""Run a bot process with its database transactions counted: `python bench/counted.py FILE ...`.

    python bench/counted.py /tmp/counts -m bot serve        # helpbot, as `python -m bot serve`
    python bench/counted.py /tmp/counts bench/minimal_bot.py

A SQLAlchemy event listener on the Engine class (every engine the process makes, the bot's code
unchanged) counts `commit` events, statements (`before_cursor_execute`) and transactions begun
(`begin`, read-only ones included); a daemon thread writes "commits statements begins" to FILE ten
times a second, so bench/load.py reads the figures of a process it later SIGKILLs. Then the
process runs as it would have without the wrapper.
"""

from __future__ import annotations

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
    while True:
        # whole or not at all: a reader never sees the file emptied mid-write (an empty read was
        # skipped as a process's counts of 0, and a load's commits came out negative)
        part = path.with_name(f".{path.name}.part")  # (not matched by a glob of counts-*)
        part.write_text(f"{counts['commits']} {counts['statements']} {counts['begins']}\n")
        os.replace(part, path)
        time.sleep(0.1)  # the bench polls the file; a tenth of a second is fine-grained enough


def main() -> None:
    path, rest = Path(sys.argv[1]), sys.argv[2:]
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
