"""Parsing long plain-text documents (seeds 001-004) into sections at every heading level."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from knowledge.model import Entry
from knowledge.noise import NoiseRules, cut_at_end, drop_nav_runs, is_noise, is_placeholder
from knowledge.parsing.common import extract_path, extract_steps, join_body, strip_inline_markup

__all__ = ["Heading", "Layout", "detect_layout", "find_headings", "parse_document"]

_NUMBERED = re.compile(
    r"^(?:(?:Глава|Часть|Раздел|Chapter|Capitolul)\s+)?(\d{1,3}(?:\.\d{1,3})*)\.?\s+(?=\S)",
    re.IGNORECASE,
)
_NUMBER_WITH_DOT = re.compile(r"^\d{1,3}(?:\.\d{1,3})*\.\s+\S")
_CHAPTER_WORD = re.compile(r"^(?:Глава|Часть|Раздел|Chapter|Capitolul)\s+\d", re.IGNORECASE)
_BULLETS = "•·-–—*>|[(\"'"
_NOT_FINAL = ".,;:…!"
_MAX_WORDS = 12
_MAX_QUESTION_WORDS = 20
_MAX_DENSE_WORDS = 10
_MAX_CHARS = 140
_TITLE_LINES = 3
# Grammar, not content: a heading does not open with a conjunction or carry an imperative verb.
_CONJUNCTIONS = frozenset(
    {"и", "или", "но", "а", "также", "либо", "and", "or", "but", "sau", "dar"}
)
_IMPERATIVE = re.compile(r"^[а-яё]{3,}(?:ите|йте)$")


class Layout(Enum):
    """How a document separates its paragraphs, which decides what a heading looks like."""

    BLANK_SEPARATED = "blank"  # every paragraph is one line between blank lines
    DENSE = "dense"  # paragraphs and headings follow each other without blank lines


@dataclass(frozen=True, slots=True)
class Heading:
    """A heading line: its index in the cleaned lines, text as written, level (1 = top)."""

    index: int
    text: str
    level: int


def parse_document(text: str, source: str, rules: NoiseRules) -> tuple[Entry, ...]:
    """Sections of one long document; the document title is an entry too when it has intro text."""
    lines = _clean_lines(text, rules)
    title, start = _document_title(lines)
    headings = find_headings(lines, start, detect_layout(lines[start:]))
    headings = _fold_repeated(headings)
    drafts: list[Entry] = []
    stack: list[Heading] = []
    intro_end = headings[0].index if headings else len(lines)
    intro = lines[start:intro_end]
    if title and join_body(intro):
        drafts.append(_section(title, (), intro, source))
    for n, heading in enumerate(headings):
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        end = headings[n + 1].index if n + 1 < len(headings) else len(lines)
        own = lines[heading.index + 1 : end]
        has_children = n + 1 < len(headings) and headings[n + 1].level > heading.level
        breadcrumb = tuple(x for x in (title, *(h.text for h in stack)) if x)
        if join_body(own) or has_children:
            drafts.append(_section(heading.text, breadcrumb, own, source))
        stack.append(heading)
    return tuple(drafts)  # ids come from the loader, over the whole corpus


def _section(title: str, breadcrumb: tuple[str, ...], lines: Sequence[str], source: str) -> Entry:
    body_lines = [_tidy(x) for x in lines]
    return Entry(
        id="",
        title=title,
        source=source,
        kind="section",
        breadcrumb=breadcrumb,
        path=extract_path(body_lines),
        steps=extract_steps(body_lines),
        body=join_body(body_lines),
    )


def _tidy(line: str) -> str:
    text = line.strip()
    if text and (text[0] in "·•" or line.startswith("\t")):
        text = "• " + text.lstrip("·• \t")
    return text


def _clean_lines(text: str, rules: NoiseRules) -> list[str]:
    """Lines with noise blanked out (blank, not removed: blank lines carry the layout)."""
    raw = [strip_inline_markup(x.replace("\ufeff", "")) for x in text.splitlines()]
    raw = cut_at_end(raw, rules)
    kept = set(map(id, drop_nav_runs(raw, rules)))
    out: list[str] = []
    for line in raw:
        noise = id(line) not in kept or is_noise(line, rules) or is_placeholder(line, rules)
        out.append("" if noise else line)
    return out


def _document_title(lines: Sequence[str]) -> tuple[str, int]:
    """The first block of at most a few short lines, joined, and the index after it."""
    i = 0
    while i < len(lines) and not lines[i].strip():
        i += 1
    block: list[str] = []
    while i < len(lines) and lines[i].strip() and len(block) <= _TITLE_LINES:
        block.append(lines[i].strip())
        i += 1
    if not block or len(block) > _TITLE_LINES or any(len(x) > _MAX_CHARS for x in block):
        return "", 0
    return " ".join(block), i


def detect_layout(lines: Sequence[str]) -> Layout:
    """BLANK_SEPARATED when most text lines stand alone between blank lines."""
    text_lines = [i for i, x in enumerate(lines) if x.strip()]
    if not text_lines:
        return Layout.BLANK_SEPARATED
    alone = sum(1 for i in text_lines if i + 1 >= len(lines) or not lines[i + 1].strip())
    return Layout.BLANK_SEPARATED if alone / len(text_lines) >= 0.5 else Layout.DENSE


def find_headings(lines: Sequence[str], start: int, layout: Layout) -> list[Heading]:
    """Heading lines after ``start`` with their levels; general signals only, no known titles."""
    found: list[tuple[int, str, int, bool]] = []  # index, text, blank lines before, after a run
    last_number: tuple[int, ...] = ()
    for i in range(start, len(lines)):
        line = lines[i]
        text = line.strip()
        if not _heading_shape(line, layout):
            continue
        if layout is Layout.BLANK_SEPARATED:
            alone = (i == 0 or not lines[i - 1].strip()) and (
                i + 1 >= len(lines) or not lines[i + 1].strip()
            )
            if not alone:
                continue
        elif i > 0 and lines[i - 1].rstrip().endswith(":") and not text.endswith("?"):
            continue  # an item of the list the line above announces
        if _next_text(lines, i) is None:
            continue
        if found and found[-1][1] == text and _only_blank_between(lines, found[-1][0], i):
            continue  # the same heading written twice in a row: the first one counts
        number = _number_of(text)
        if number is not None:
            if _in_numbered_list(lines, i) or not _continues_numbering(last_number, number):
                continue
            last_number = number
        found.append((i, text, _blank_before(lines, i), _after_run(lines, i)))
    return _assign_levels(found)


def _heading_shape(line: str, layout: Layout) -> bool:
    text = line.strip()
    if not text or line[:1].isspace() or len(text) > _MAX_CHARS:
        return False
    if text[-1] in _NOT_FINAL or text[0] in _BULLETS:
        return False
    first = text.lstrip("«")[:1]
    if not (first.isupper() or first.isdigit()):
        return False
    if "http" in text or ">" in text or text.replace(" ", "").isdigit():
        return False
    words = len(text.split())
    first_word = text.split()[0].casefold()
    if first_word in _CONJUNCTIONS or any(_IMPERATIVE.search(w) for w in text.split()[1:]):
        return False  # a sentence that lost its full stop, not a heading
    if text.endswith("?"):
        return words <= _MAX_QUESTION_WORDS
    if first.isdigit() and not _NUMBER_WITH_DOT.match(text):
        return False
    if layout is Layout.DENSE:
        return words <= _MAX_DENSE_WORDS and " - " not in text and " – " not in text
    return words <= _MAX_WORDS


def _next_text(lines: Sequence[str], i: int) -> str | None:
    for j in range(i + 1, len(lines)):
        if lines[j].strip():
            return lines[j].strip()
    return None


def _only_blank_between(lines: Sequence[str], a: int, b: int) -> bool:
    return all(not x.strip() for x in lines[a + 1 : b])


def _blank_before(lines: Sequence[str], i: int) -> int:
    n = 0
    while i - n - 1 >= 0 and not lines[i - n - 1].strip():
        n += 1
    return n


def _after_run(lines: Sequence[str], i: int) -> bool:
    """True when the text above line ``i`` (past its blanks) ends a run of lines with no blank
    between them: a table or a list converted to text."""
    above = i - _blank_before(lines, i) - 1
    return above >= 1 and bool(lines[above].strip()) and bool(lines[above - 1].strip())


def _number_of(text: str) -> tuple[int, ...] | None:
    if not (_NUMBER_WITH_DOT.match(text) or _CHAPTER_WORD.match(text)):
        return None
    m = _NUMBERED.match(text)
    return tuple(int(x) for x in m.group(1).split(".")) if m else None


def _in_numbered_list(lines: Sequence[str], i: int) -> bool:
    """True when the line above or below carries the neighbouring list number (1., 2., 3. …)."""
    own = _item_number(lines[i])
    if own is None:
        return False
    above = _item_number(lines[i - 1]) if i > 0 else None
    below = _item_number(lines[i + 1]) if i + 1 < len(lines) else None
    return above == own - 1 or below == own + 1


def _item_number(line: str) -> int | None:
    m = re.match(r"^\s*(\d{1,3})[.)]\s", line)
    return int(m.group(1)) if m else None


def _continues_numbering(last: tuple[int, ...], number: tuple[int, ...]) -> bool:
    """Chapter numbers must follow on: 1, 2, 2.1, 2.2, 3 … (a "1." list item does not)."""
    if not last:
        return number[0] == 1 and all(x == 1 for x in number[1:])
    for depth in range(min(len(last), len(number))):
        if number[:depth] != last[:depth]:
            return False
        if number[depth] == last[depth] + 1 and all(x == 1 for x in number[depth + 1 :]):
            return True
        if number[depth] != last[depth]:
            return False
    return len(number) == len(last) + 1 and number[-1] == 1


def _assign_levels(found: list[tuple[int, str, int, bool]]) -> list[Heading]:
    """Levels from the document's own conventions: numbering, questions or spacing.

    Spacing: where chapters stand behind two blank lines and sections behind one, a table (or
    a list) converted to text has no blank of its own after its last row, so the one blank after
    it is the next heading's and counts as two («Ошибки при внедрении …» right after a table is a
    chapter). A document that spaces nothing so is read as it is.
    """
    numbers = {i: _number_of(text) for i, text, _, _ in found}
    numbered_depth = max((len(n) for n in numbers.values() if n), default=0)
    questions = sum(1 for _, text, _, _ in found if text.endswith("?"))
    faq = bool(found) and questions / len(found) >= 0.4 and questions < len(found)
    spacings = {blank >= 2 for _, _, blank, _ in found}
    spaced = len(spacings) == 2
    out: list[Heading] = []
    for i, text, blank, after_run in found:
        number = numbers[i]
        if numbered_depth:
            level = len(number) if number else numbered_depth + 1
        elif faq:
            level = 2 if text.endswith("?") else 1
        elif spaced:
            level = 1 if blank + (1 if after_run and blank else 0) >= 2 else 2
        else:
            level = 1
        out.append(Heading(i, text, level))
    return out


def _fold_repeated(headings: list[Heading]) -> list[Heading]:
    """A heading repeated within one document ("Как это работает?" in every chapter) does not
    name anything by itself: its text stays in the section above it, as a line of that body."""
    counts = Counter(h.text.casefold() for h in headings)
    return [h for h in headings if counts[h.text.casefold()] == 1]
