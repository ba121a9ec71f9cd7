"""What `helpbot doctor` prints: one line per check, its status first, secrets never shown."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Literal, TextIO

from handlers.cli.guard import redact

__all__ = ["Check", "Report", "fail", "ok", "warn"]

Status = Literal["ok", "warn", "FAIL"]


@dataclass(frozen=True, slots=True)
class Check:
    status: Status
    name: str
    detail: str

    def line(self) -> str:
        return f"{self.status:<5} {self.name:<12} {' '.join(self.detail.split())}"

    def redacted(self, secrets: Iterable[str]) -> Check:
        return replace(self, detail=redact(self.detail, secrets))


def ok(name: str, detail: str) -> Check:
    return Check("ok", name, detail)


def warn(name: str, detail: str) -> Check:
    """Worth knowing, not a failure: the exit status stays 0."""
    return Check("warn", name, detail)


def fail(name: str, detail: str) -> Check:
    return Check("FAIL", name, detail)


class Report:
    """Prints each check as it comes (slow network checks show progress) and counts failures."""

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self.checks: list[Check] = []
        self.secrets: tuple[str, ...] = ()  # masked in every line, beside what looks like one

    def add(self, check: Check) -> None:
        check = check.redacted(self.secrets)
        self.checks.append(check)
        print(check.line(), file=self._out, flush=True)

    def exit_code(self) -> int:
        failed = sum(1 for c in self.checks if c.status == "FAIL")
        if failed:
            print(f"{failed} check(s) failed", file=self._out)
        return 1 if failed else 0
