"""Recognising and stripping scraped-page noise; the phrases themselves live in data/noise.txt."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "NAV_RUN",
    "NoiseRules",
    "cut_at_end",
    "drop_nav_runs",
    "is_noise",
    "is_placeholder",
    "parse_rules",
    "strip_noise",
]

# Fewer navigation items in a row than this are kept: a lone "Календарь" may be a real heading.
NAV_RUN = 3

_SECTIONS = ("line", "nav", "end", "pattern", "placeholder", "template")


def _key(line: str) -> str:
    return " ".join(line.split()).casefold()


@dataclass(frozen=True, slots=True)
class NoiseRules:
    """The parsed noise data file; build it with :func:`parse_rules`."""

    lines: frozenset[str] = frozenset()
    nav: frozenset[str] = frozenset()
    end_markers: tuple[str, ...] = ()
    patterns: tuple[re.Pattern[str], ...] = ()
    placeholders: frozenset[str] = frozenset()
    template_headings: frozenset[str] = frozenset()

    def phrases(self) -> tuple[str, ...]:
        """Every literal phrase that must never survive in a body (for tests and audits)."""
        return tuple(sorted(self.lines | self.placeholders))


def parse_rules(text: str) -> NoiseRules:
    """Parse the noise data file; an unknown section or a bad regular expression raises."""
    buckets: dict[str, list[str]] = {name: [] for name in _SECTIONS}
    section = "line"
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        header = re.fullmatch(r"\[(\w+)\]", line.strip())
        if header:
            if header.group(1) not in buckets:
                raise ValueError(f"noise rules line {number}: unknown section {line.strip()}")
            section = header.group(1)
            continue
        buckets[section].append(line if section == "pattern" else line.strip())
    try:
        patterns = tuple(re.compile(p) for p in buckets["pattern"])
    except re.error as exc:
        raise ValueError(f"noise rules: bad pattern: {exc}") from exc
    return NoiseRules(
        lines=frozenset(_key(x) for x in buckets["line"]),
        nav=frozenset(_key(x) for x in buckets["nav"]),
        end_markers=tuple(_key(x) for x in buckets["end"]),
        patterns=patterns,
        placeholders=frozenset(_key(x) for x in buckets["placeholder"]),
        template_headings=frozenset(_key(x) for x in buckets["template"]),
    )


def is_noise(line: str, rules: NoiseRules) -> bool:
    """True for a line that is never content: feedback, banners, cookies, image placeholders."""
    key = _key(line)
    if key in rules.lines:
        return True
    return any(p.fullmatch(line) for p in rules.patterns)


def is_placeholder(line: str, rules: NoiseRules) -> bool:
    """True for a line of the article template that carries no content ("1. ...")."""
    return _key(line) in rules.placeholders


def cut_at_end(lines: Sequence[str], rules: NoiseRules) -> list[str]:
    """The lines before the first end marker (feedback widget, footer), all of them if none."""
    for i, line in enumerate(lines):
        key = _key(line)
        if key and any(key.startswith(marker) for marker in rules.end_markers):
            return list(lines[:i])
    return list(lines)


def drop_nav_runs(lines: Sequence[str], rules: NoiseRules) -> list[str]:
    """Remove runs of NAV_RUN or more navigation items; blank and noise lines do not break a run."""
    keep = [True] * len(lines)
    run: list[int] = []
    nav_count = 0

    def close() -> None:
        nonlocal nav_count
        if nav_count >= NAV_RUN:
            for i in run:
                keep[i] = False
        run.clear()
        nav_count = 0

    for i, line in enumerate(lines):
        key = _key(line)
        if key in rules.nav:
            run.append(i)
            nav_count += 1
        elif not key or is_noise(line, rules):
            if run:
                run.append(i)
        else:
            close()
    close()
    return [line for line, k in zip(lines, keep, strict=True) if k]


def strip_noise(lines: Iterable[str], rules: NoiseRules) -> list[str]:
    """Drop navigation runs, noise lines and template placeholders; keep everything else."""
    kept = drop_nav_runs(list(lines), rules)
    return [x for x in kept if not is_noise(x, rules) and not is_placeholder(x, rules)]
