"""Builds the short answer for an entry: its summary or the paragraphs nearest the question."""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache

from knowledge.analyzer import Analyzer
from knowledge.model import Answer, Entry, Link

MAX_ANSWER_CHARS = 600
MIN_TEXT = 160
_SENTENCE_MARKS = (".", "!", "?", "…", ":", ";")
MAX_STEPS = 5
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
# Steps often carry the numbers of the screenshots they came with ("1-2. Откройте…").
_LEADING_NUMBER = re.compile(r"^\s*\d+(?:\s*[-–]\s*\d+)?[.)]\s*")


def build_answer(entry: Entry, analyzer: Analyzer, question_keys: Collection[str] = ()) -> Answer:
    """At most about 600 characters of text, then the menu path and the deep link."""
    blocks: list[str] = []
    if entry.summary:
        blocks.append(_clip(entry.summary, MAX_ANSWER_CHARS))
    else:
        paragraph = _best_paragraph(entry, analyzer, question_keys)
        if paragraph:
            blocks.append(_clip(paragraph, MAX_ANSWER_CHARS))
    room = MAX_ANSWER_CHARS - sum(len(b) for b in blocks)
    if entry.steps and room > 80:
        steps = _steps_block(entry.steps, room)
        if steps:
            blocks.append(steps)
    if not blocks:
        blocks.append(entry.title)
    links = (Link(entry.title, entry.url),) if entry.url else ()
    return Answer(entry, tuple(blocks), entry.path, links)


def _best_paragraph(entry: Entry, analyzer: Analyzer, question_keys: Collection[str]) -> str:
    paragraphs = _paragraphs(entry, analyzer)
    if not paragraphs:
        return ""
    wanted = set(question_keys)
    best = max(range(len(paragraphs)), key=lambda n: (len(wanted & paragraphs[n][1]), -n))
    # A heading-like line ("Как администратору включить…") says what follows: take the text
    # under it too, until there is something to read.
    parts = [paragraphs[best][0]]
    n = best + 1
    while n < len(paragraphs) and (
        not parts[-1].rstrip().endswith(_SENTENCE_MARKS) or sum(map(len, parts)) < MIN_TEXT
    ):
        parts.append(paragraphs[n][0])
        n += 1
    text = parts[0]
    for part in parts[1:]:
        text += (" " if text.rstrip().endswith(_SENTENCE_MARKS) else ": ") + part
    return text


@lru_cache(maxsize=2048)
def _paragraphs(entry: Entry, analyzer: Analyzer) -> tuple[tuple[str, frozenset[str]], ...]:
    """An entry's paragraphs with their keys, computed once per entry."""
    texts = [p.strip() for p in re.split(r"\n\s*\n|\n(?=\S)", entry.body) if p.strip()]
    texts = [p for p in texts if len(p) >= 40] or texts
    return tuple((p, frozenset(analyzer.keys(p))) for p in texts)


def _steps_block(steps: tuple[str, ...], room: int) -> str:
    lines: list[str] = []
    used = 0
    for n, step in enumerate(steps[:MAX_STEPS], 1):
        line = f"{n}. {_clip(_LEADING_NUMBER.sub('', step), 160)}"
        if used + len(line) + 1 > room:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    """Whole sentences up to ``limit`` characters; a single long sentence is cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    out = ""
    for sentence in _SENTENCE_END.split(text):
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    if out:
        return out
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return f"{cut}…"
