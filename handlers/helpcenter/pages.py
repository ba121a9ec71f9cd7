"""What each help-center page shows, as plain data for the templates: an entry's text in blocks,
its related entries, and the results of a search made exactly as the chat decides."""

from __future__ import annotations

import re
from dataclasses import dataclass

from handlers.helpcenter.contents import Contents, Crumb
from knowledge.base import KnowledgeBase
from knowledge.model import Action, Answer, Entry, Match

MAX_QUERY = 200  # characters of a search that are read; a longer one is cut (and says so)
RESULTS = 8  # entries listed on a search page
RELATED = 5  # similar entries listed on an entry page
SNIPPET = 180  # characters of an entry's text under its title in the results
_HEADING_MAX = 90
_SENTENCE_END = (".", "!", "?", "…", ":", ";", ",")
# Steps carry the numbers of the screenshots they came with ("1–2. Откройте…"); the list numbers.
_STEP_NUMBER = re.compile(r"^\s*\d+(?:\s*[-–]\s*\d+)?[.)]\s*")
_SAFE_LINK = re.compile(r"https?://[^\s\"'<>]+")


@dataclass(frozen=True, slots=True)
class Block:
    """A piece of an entry's text: a paragraph ``p``, a sub-heading ``h`` or a list of ``steps``."""

    kind: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class EntryPage:
    entry: Entry
    trail: tuple[Crumb, ...]
    summary: tuple[str, ...]
    blocks: tuple[Block, ...]
    original: str  # the helpdesk (or company) article the entry came from, or ""
    children: tuple[Entry, ...]
    related: tuple[Entry, ...]


@dataclass(frozen=True, slots=True)
class Result:
    entry: Entry
    trail: str
    snippet: str


@dataclass(frozen=True, slots=True)
class SearchPage:
    """``outcome``: empty (no query), answer, clarify, nearest (no answer, related entries) or
    nothing."""

    query: str
    cut: bool
    outcome: str
    best: Answer | None = None
    results: tuple[Result, ...] = ()


def entry_page(kb: KnowledgeBase, contents: Contents, entry: Entry) -> EntryPage:
    children = contents.children(entry)
    trail = contents.trail(entry)
    near = {entry.id, *(c.id for c in children), *(c.entry_id for c in trail if c.entry_id)}
    question = " ".join((entry.title, *entry.questions[:3]))
    related = [
        m.entry
        for m in kb.search(question, RELATED + len(near), near)
        if m.score >= kb.thresholds.related
    ][:RELATED]
    return EntryPage(
        entry,
        trail,
        tuple(line.strip() for line in entry.summary.splitlines() if line.strip()),
        text_blocks(entry),
        entry.url if _SAFE_LINK.fullmatch(entry.url) else "",
        children,
        tuple(related),
    )


def text_blocks(entry: Entry) -> tuple[Block, ...]:
    """The entry's body line by line: the parsed steps become numbered lists, a short line that
    introduces longer text a sub-heading, every other line a paragraph."""
    lines = [line.strip() for line in entry.body.splitlines()]
    steps = {s.strip() for s in entry.steps}
    blocks: list[Block] = []
    for n, line in enumerate(lines):
        if not line or line == entry.title:
            continue
        if line in steps:
            item = _STEP_NUMBER.sub("", line) or line
            if blocks and blocks[-1].kind == "steps":
                blocks[-1] = Block("steps", (*blocks[-1].lines, item))
            else:
                blocks.append(Block("steps", (item,)))
        elif _heading(line, lines[n + 1] if n + 1 < len(lines) else ""):
            blocks.append(Block("h", (line,)))
        else:
            blocks.append(Block("p", (line,)))
    return tuple(blocks)


def _heading(line: str, following: str) -> bool:
    """A short unpunctuated line directly followed by a sentence reads as a heading."""
    return (
        len(line) <= _HEADING_MAX
        and not line.endswith(_SENTENCE_END)
        and " > " not in line  # a menu path
        and line[:1].isupper()
        and (len(following) > _HEADING_MAX or following.endswith(_SENTENCE_END))
    )


def clean_query(raw: str) -> tuple[str, bool]:
    """Printable text with single spaces, at most :data:`MAX_QUERY` characters; and whether it
    was cut."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in raw).split())
    if len(text) <= MAX_QUERY:
        return text, False
    return text[:MAX_QUERY].rsplit(" ", 1)[0] or text[:MAX_QUERY], True


def search_page(kb: KnowledgeBase, contents: Contents, query: str, cut: bool) -> SearchPage:
    """The chat's decision for the query, as a page: the answer it would give, the choices it
    would offer, or the nearest entries when it would hand the question on."""
    if not query:
        return SearchPage(query, cut, "empty")
    decision = kb.decide(query)
    matches = list(decision.matches) or kb.search(query, RESULTS)
    best = decision.answer if decision.action is Action.ANSWER else None
    if best is not None:
        matches = [m for m in matches if m.entry.id != best.entry.id]
    results = tuple(_result(contents, m) for m in _relevant(kb, matches))
    if best is not None:
        outcome = "answer"
    elif decision.action is Action.CLARIFY and results:
        outcome = "clarify"
    else:
        outcome = "nearest" if results else "nothing"
    return SearchPage(query, cut, outcome, best, results)


def _relevant(kb: KnowledgeBase, matches: list[Match]) -> list[Match]:
    return [m for m in matches if m.score >= kb.thresholds.related][:RESULTS]


def _result(contents: Contents, match: Match) -> Result:
    entry = match.entry
    trail = " › ".join(c.title for c in contents.trail(entry))
    text = entry.summary or next(
        (p for p in entry.body.splitlines() if len(p.strip()) >= 40), entry.body
    )
    return Result(entry, trail, _clip(" ".join(text.split()), SNIPPET))


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rsplit(" ", 1)[0] + "…"
