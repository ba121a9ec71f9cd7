"""Recognises messages that are not questions: small talk and requests for a human."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.resources import read_data_lines
from knowledge.text import fold, tokenize

# Small talk wins only when at most this many meaningful words are left around it; otherwise
# the greeting is dropped and the rest is read as a question.
SMALLTALK_MAX_REST = 1
OPERATOR = "operator"
_SMALLTALK_KINDS = ("bot", "greeting", "thanks", "bye", "ack")


@dataclass(frozen=True, slots=True)
class Intent:
    """``kind`` is "operator", a small-talk kind or "" (a question); ``rest`` the question part."""

    kind: str
    rest: str


def _load() -> dict[str, tuple[re.Pattern[str], ...]]:
    sections: dict[str, list[re.Pattern[str]]] = {}
    current = ""
    for line in read_data_lines("intents.txt"):
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1]
            sections[current] = []
        elif current:
            sections[current].append(re.compile(line))
        else:
            raise ValueError(f"intents.txt: pattern outside a section: {line!r}")
    return {name: tuple(patterns) for name, patterns in sections.items()}


class IntentReader:
    """Applies the patterns of ``knowledge/data/intents.txt``."""

    def __init__(self, stopwords: frozenset[str]) -> None:
        self._patterns = _load()
        self._stopwords = stopwords

    def read(self, text: str) -> Intent:
        folded = " ".join(fold(text).split())
        for pattern in self._patterns.get("bot", ()):
            if pattern.search(folded):
                return Intent("bot", self._strip_smalltalk(folded))
        for pattern in self._patterns.get(OPERATOR, ()):
            if pattern.search(folded):
                return Intent(OPERATOR, folded)
        rest = self._strip_smalltalk(folded)
        if rest == folded:
            # Nothing to strip: the question as written, capitals and all (they mark names).
            return Intent("", text)
        meaningful = [t for t in tokenize(rest) if t not in self._stopwords]
        if len(meaningful) <= SMALLTALK_MAX_REST:
            return Intent(self._first_kind(folded), rest)
        return Intent("", rest)

    def _strip_smalltalk(self, folded: str) -> str:
        for kind in _SMALLTALK_KINDS:
            for pattern in self._patterns.get(kind, ()):
                folded = pattern.sub(" ", folded)
        return " ".join(folded.split())

    def _first_kind(self, folded: str) -> str:
        for kind in _SMALLTALK_KINDS:
            if any(p.search(folded) for p in self._patterns.get(kind, ())):
                return kind
        return "greeting"
