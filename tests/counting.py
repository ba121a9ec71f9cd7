"""The tests' one way to count what a piece of work costs the database: the statements run and
the commits made on an engine while a ``with counting(engine)`` block is open."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event


@dataclass
class Counted:
    """``statements``: each statement's first four words, in order, and ``times``: when each
    ran (``time.monotonic()``); ``commits``: for each commit, the last statement before it
    (what the transaction ended with)."""

    statements: list[str] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    commits: list[str] = field(default_factory=list)

    def starting(self, prefix: str) -> list[str]:
        return [s for s in self.statements if s.startswith(prefix)]


@contextmanager
def counting(engine: Engine) -> Iterator[Counted]:
    counted = Counted()

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        counted.statements.append(" ".join(statement.split()[:4]))
        counted.times.append(time.monotonic())

    def on_commit(_conn: Any) -> None:
        counted.commits.append(counted.statements[-1] if counted.statements else "")

    event.listen(engine, "before_cursor_execute", on_statement)
    event.listen(engine, "commit", on_commit)
    try:
        yield counted
    finally:
        event.remove(engine, "before_cursor_execute", on_statement)
        event.remove(engine, "commit", on_commit)
