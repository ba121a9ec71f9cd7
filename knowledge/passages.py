"""An entry's body as passages: its lines with their keys, menu paths and roles, made once."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from knowledge.analyzer import Analyzer
from knowledge.model import Entry
from knowledge.parsing.common import path_in

END_MARKS = (".", "!", "?", "…", ";")
ITEM = re.compile(r"^\s*(?:[•·▪◦*–-]\s|\d{1,2}(?:\s*[-–]\s*\d{1,2})?[.)]\s)")
_HEADING_MAX = 90
# What a menu path needs ("A > B", "A – B – C", "Путь: …"): most lines have none of it.
_MAY_HOLD_PATH = re.compile(r"[>›–—]| - |путь", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Passage:
    """One line or paragraph of an entry."""

    text: str
    keys: frozenset[str]
    path: str  # the menu path it gives, or ""
    declared: bool  # ... in a "Путь: …" line of its own
    heading: bool  # a title-like line: what follows explains it
    item: bool  # a list item or a numbered step


@lru_cache(maxsize=4096)
def passages(
    entry: Entry, analyzer: Analyzer, line_keys: tuple[frozenset[str], ...] | None = None
) -> tuple[Passage, ...]:
    """An entry's lines with their keys and paths, computed once per entry. ``line_keys`` are
    the keys of each line of ``entry.body.split("\\n")`` when the index has them already."""
    out = []
    if line_keys is not None and len(line_keys) != entry.body.count("\n") + 1:
        line_keys = None  # not this body's lines: key them here
    for n, raw in enumerate(entry.body.split("\n")):
        text = " ".join(raw.split())
        if not text:
            continue
        path, declared = path_in(text) if _MAY_HOLD_PATH.search(text) else ("", False)
        item = bool(ITEM.match(text))
        heading = (
            not item
            and len(text) <= _HEADING_MAX
            and not text.endswith((*END_MARKS, ":"))
            and not path
        )
        keys = line_keys[n] if line_keys is not None else frozenset(analyzer.keys(text))
        out.append(Passage(text, keys, path, declared, heading, item))
    return tuple(out)
