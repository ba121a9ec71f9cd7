"""Builds the short answer for an entry: the passage that answers the question, whole, and its path.

A general question (one that names little beyond the entry's title) gets the entry's summary or
its opening; a specific one gets the run of lines that holds most of what it asks about, from the
heading or the lead-in that introduces it to the end of its sentences or list, never stopping at
a «…:» that promises more. A summary loses its asides (advice less about the question than its
other lines). The menu path shown is the one that belongs to the text shown.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from knowledge.analyzer import Analyzer
from knowledge.model import Answer, Entry, Link
from knowledge.parsing.common import path_in
from knowledge.passages import END_MARKS, ITEM, Passage, passages
from knowledge.sentences import (
    LABEL_WORDS,
    ROW_MAX,
    STEP_START,
    as_sentence,
    clip,
    clip_lines,
    finish,
    first_sentence,
    promise_not_kept,
)
from knowledge.text import detect_lang, fold, written_language

MAX_ANSWER_CHARS = 600
# Less than this is not yet an answer: the lines after it are taken too.
MIN_TEXT = 160
# Every line of an entry is about its title in a way, so the title's own words say little
# about which line answers; the question's other words decide.
TITLE_KEY_FACTOR = 0.3


def build_answer(
    entry: Entry,
    analyzer: Analyzer,
    question: Mapping[str, float] | None = None,
    lang: str | None = None,
    line_keys: tuple[frozenset[str], ...] | None = None,
    reads: EntryReads | None = None,
) -> Answer:
    """At most about 600 characters of text, then the menu path and the deep link.

    ``question`` maps the question's keys to how much each says (rarity x how surely it was
    read); without it the answer is the entry's summary or opening. ``lang`` is the entry's
    language and ``line_keys`` the keys of its body's lines, when the index has them already.
    ``reads`` (from :func:`entry_reads`, held by the caller) keeps the entries read once.
    """
    read = (reads or _read)(entry, analyzer, lang or "ru", line_keys)
    units, title_keys = read.units, read.title_keys
    wanted = {
        k: w * (TITLE_KEY_FACTOR if k in title_keys else 1.0) for k, w in (question or {}).items()
    }
    summary = _summary(entry.summary, read.summary_lines, wanted) if entry.summary else ""
    window = _best_window(units, wanted)
    text, path = "", ""
    # The passage wins over the summary by what the question asks beyond the title.
    specific = {k: w for k, w in wanted.items() if k not in title_keys}
    summary_gain = _gain(read.summary_keys, specific) if summary else 0.0
    if window is not None and _gain(_window_keys(units, window), specific) > summary_gain:
        text = _render(units, window)
        path = _window_path(units, window, wanted)
    elif summary:
        text = summary
        path = _declared_path(entry, units, summary)
    elif units:
        window = _extend(units, 0)
        text = _render(units, window)
        path = _window_path(units, window, wanted) or _declared_path(entry, units, text)
    if not any(unit.path == entry.path for unit in units) and entry.path:
        path = entry.path  # given with the entry (front matter), not found in its text
    blocks = [text or entry.title]
    room = MAX_ANSWER_CHARS - len(blocks[0])
    if entry.steps and text == summary and room > 80 and not _steps_in_body(entry):
        steps = _steps_block(entry.steps, room)
        if steps:
            blocks.append(steps)
    links = (Link(entry.title, entry.url),) if entry.url else ()
    crumbs = entry.breadcrumb if entry.kind == "section" else ()
    language = written_language(lang) if lang else entry_language(entry)
    return Answer(entry, tuple(blocks), path, links, crumbs, language)


def gives_path(answer: Answer) -> bool:
    """The answer's text gives its menu path already, however it writes it there: «A > B > C»
    or «A – B – C» (a channel need not repeat it under the text)."""
    lines = [line for block in answer.blocks for line in block.split("\n")]
    return bool(answer.path) and any(
        answer.path in line or path_in(line)[0] == answer.path for line in lines
    )


@dataclass(frozen=True, slots=True)
class _Read:
    """What an answer needs of an entry whatever the question: its lines that say something
    (:func:`_content`), its title's keys, its summary's lines with their keys, and the
    summary's keys."""

    units: tuple[Passage, ...]
    title_keys: frozenset[str]
    summary_lines: tuple[tuple[str, frozenset[str]], ...]
    summary_keys: frozenset[str]


def _read(
    entry: Entry, analyzer: Analyzer, lang: str, line_keys: tuple[frozenset[str], ...] | None
) -> _Read:
    """An entry read for answers, whatever the question (its passages among it)."""
    lines = [" ".join(line.split()) for line in entry.summary.split("\n") if line.strip()]
    return _Read(
        _content(passages(entry, analyzer, line_keys), entry.title),
        frozenset(analyzer.keys(entry.title, lang)),
        tuple((line, frozenset(analyzer.keys(line, lang))) for line in lines),
        frozenset(analyzer.keys(entry.summary, lang)) if entry.summary else frozenset(),
    )


EntryReads = Callable[[Entry, Analyzer, str, tuple[frozenset[str], ...] | None], _Read]


def entry_reads(maxsize: int = 4096) -> EntryReads:
    """A cache of entries read for answers, each once, not for each question it answers: for a
    knowledge base to hold, so that a reload frees the old entries, passages and analyzer."""
    return lru_cache(maxsize=maxsize)(_read)


@lru_cache(maxsize=4096)
def entry_language(entry: Entry) -> str:
    """'ru', 'en' or 'ro': the language the entry is written in."""
    return written_language(detect_lang(f"{entry.title}\n{entry.body[:2000]}"))


def _content(units: Sequence[Passage], title: str) -> tuple[Passage, ...]:
    """The lines that say something: neither a scraped link to another page closing a
    paragraph nor a line that only repeats the entry's title (shown above the text anyway)."""
    own = fold(title).rstrip("?.! ")
    return tuple(u for u in units if not u.trailer and fold(u.text).rstrip("?.! ") != own)


def _summary(
    text: str, keyed: Sequence[tuple[str, frozenset[str]]], wanted: Mapping[str, float]
) -> str:
    """The entry's summary for the question, its lines in their order less its asides: a line
    of advice («Используйте для хранения паролей специальные сервисы.», in the imperative and
    not an item of a list) that holds less of the question than the summary's best line, when
    the other lines make an answer of their own. ``keyed``: the summary's non-blank lines,
    spaces squeezed, with their keys."""
    lines = [line for line, _ in keyed]
    gains = [_gain(keys, wanted) for _, keys in keyed]
    best = max(gains, default=0.0)
    kept = [
        line
        for line, gain in zip(lines, gains, strict=True)
        if gain >= best or not STEP_START.match(line) or ITEM.match(line) or path_in(line)[0]
    ]
    if len(kept) < len(lines) and len("\n".join(kept)) >= MIN_TEXT:
        text = "\n".join(kept)
    return clip_lines(text, MAX_ANSWER_CHARS)


def _gain(keys: frozenset[str], wanted: Mapping[str, float]) -> float:
    return sum(w for k, w in wanted.items() if k in keys)


def _window_keys(units: Sequence[Passage], window: range) -> frozenset[str]:
    return frozenset().union(*(units[i].keys for i in window))


def _best_window(units: Sequence[Passage], wanted: Mapping[str, float]) -> range | None:
    """The passage around the line that holds most of what the question asks, with the heading
    that introduces it (the earliest of equals), or None when no line has any of it."""
    best: tuple[float, int] | None = None
    for i, unit in enumerate(units):
        gain = _gain(unit.keys, wanted)
        if gain <= 0:
            continue
        start = _lead_in(units, i)
        if start < i:
            gain = _gain(unit.keys | units[start].keys, wanted)
        if best is None or gain > best[0]:
            best = (gain, start)
    return _extend(units, best[1]) if best else None


def _lead_in(units: Sequence[Passage], i: int) -> int:
    """Where a passage around line ``i`` starts: the first item of its list, and the heading
    or the «…:» line that introduces it."""
    while i > 0 and units[i].item and units[i - 1].item:
        i -= 1
    if i > 0 and (units[i - 1].heading or units[i - 1].text.endswith(":")):
        i -= 1
    return i


def _extend(units: Sequence[Passage], start: int) -> range:
    """Lines from ``start`` while they fit and the text is not yet whole: it is short, ends
    in a heading or a «…:», or is in the middle of a list (a list item too long to fit counts
    by its first sentence, to which :func:`_render` shortens it). A passage still short at
    the end of its topic takes the paragraph before it, which it usually goes on from."""
    end = start + 1
    # What each line taken adds to the text's size (a line's own size, or its first sentence's),
    # so that the size is still right after the trims below.
    costs = [len(units[start].text)]
    size = costs[0]
    # The passage's first lead-in («Что сообщить в поддержку:», not a label such as «Без
    # CoPilot:») promises the rows after it in its paragraph, with bullets or without.
    promised = kept = False
    while end < len(units):
        last, following = units[end - 1], units[end]
        if following.heading and not (last.heading or last.text.endswith(":")):
            break  # the next topic
        if not kept and _lead_in_line(last):
            promised = kept = True
        promised = promised and not following.opens
        unfinished = (
            size < MIN_TEXT
            or last.heading
            or last.text.endswith(":")
            or (last.item and following.item)
            or promised
        )
        cost = len(following.text)
        if unfinished and following.item and size + 1 + cost > MAX_ANSWER_CHARS:
            cost = len(first_sentence(following.text))
        if not unfinished or size + 1 + cost > MAX_ANSWER_CHARS:
            break
        costs.append(1 + cost)
        size += 1 + cost
        end += 1
    # Never end on the title of an item whose text did not fit («• Экспертная оценка», then
    # «• Рекомендуется для …» in a list of titles and descriptions), nor on a heading or a
    # lead-in whose continuation did not fit.
    if end - start > 1 and _item_title(units, end - 1):
        end -= 1
    while end - start > 1 and (units[end - 1].heading or units[end - 1].text.endswith(":")):
        end -= 1
    # ... and a passage that is short without them takes the steps it is the outcome of.
    size = sum(costs[: end - start])
    if size < MIN_TEXT and start > 0 and units[start - 1].item and not units[start].heading:
        start = _procedure(units, start, end)
    return range(start, end)


def _item_title(units: Sequence[Passage], i: int) -> bool:
    """Line ``i`` is a list item that names what the next line describes, in a list of
    titles and descriptions: short, without a stop, not a step, between two lines of prose."""
    unit = units[i]
    if i == 0 or i + 1 == len(units):
        return False
    return (
        unit.item
        and len(unit.text) <= ROW_MAX
        and not unit.text.endswith((*END_MARKS, ":", ","))
        and not STEP_START.match(ITEM.sub("", unit.text))
        and all(_prose(units[j]) for j in (i - 1, i + 1))
    )


def _prose(unit: Passage) -> bool:
    return unit.text.endswith(END_MARKS) and len(unit.text) > ROW_MAX


def _lead_in_line(unit: Passage) -> bool:
    return unit.text.endswith(":") and not unit.item and len(unit.text.split()) > LABEL_WORDS


def _procedure(units: Sequence[Passage], start: int, end: int) -> int:
    """A short line right after the steps of a lead-in («Чтобы …:», steps, «После этого …») is
    their outcome: it starts with that lead-in when the whole fits, else stays as it is."""
    begin = start - 1
    while begin > 0 and not units[begin].opens:
        begin -= 1
    lead = units[begin].text.endswith(":") and not units[begin].item
    size = sum(len(units[i].text) + 1 for i in range(begin, end)) - 1
    return begin if lead and size <= MAX_ANSWER_CHARS else start


def _render(units: Sequence[Passage], window: range) -> str:
    lines = [units[i].text for i in window]
    if len(lines) == 1:
        return finish(clip(lines[0], MAX_ANSWER_CHARS))
    # List items that did not fit whole keep their first sentence, the last ones first.
    for n in reversed(range(len(lines))):
        if len("\n".join(lines)) <= MAX_ANSWER_CHARS:
            break
        if units[window[n]].item:
            lines[n] = first_sentence(lines[n])
    for n in range(len(lines) - 1):
        if _alone(units, window[n + 1]) and promise_not_kept(lines[n], lines[n + 1]):
            lines[n] = as_sentence(lines[n])
    return finish("\n".join(lines))


def _alone(units: Sequence[Passage], i: int) -> bool:
    """Line ``i`` is not a row of a list without bullets: it opens a paragraph, or it is the
    paragraph's last line (a list has rows after its first)."""
    return units[i].opens or i + 1 == len(units) or units[i + 1].opens


def _window_path(units: Sequence[Passage], window: range, wanted: Mapping[str, float]) -> str:
    """The path given in the passage (on the line most about the question, when it gives
    several), else the nearest one declared ("Путь: …") before it."""
    given = [i for i in window if units[i].path]
    if given:
        best = max(given, key=lambda i: (_gain(units[i].keys, wanted), -i))
        return units[best].path
    for i in range(window.start - 1, -1, -1):
        if units[i].declared and units[i].path:
            return units[i].path
    return ""


def _declared_path(entry: Entry, units: Sequence[Passage], text: str) -> str:
    """For an answer from the summary or the opening: a path in that text, else the one the
    entry declares ("Путь: …"); a path mentioned in passing elsewhere belongs elsewhere."""
    for line in text.split("\n"):
        found, _ = path_in(line)
        if found:
            return found
    return next((u.path for u in units if u.declared and u.path), "")


def _steps_in_body(entry: Entry) -> bool:
    """The steps were found in the body: they are passages like any other there."""
    return any(" ".join(step.split()) in entry.body for step in entry.steps[:1])


MAX_STEPS = 5
# Steps often carry the numbers of the screenshots they came with ("1-2. Откройте…").
_LEADING_NUMBER = re.compile(r"^\s*\d+(?:\s*[-–]\s*\d+)?[.)]\s*")


def _steps_block(steps: tuple[str, ...], room: int) -> str:
    lines: list[str] = []
    used = 0
    for n, step in enumerate(steps[:MAX_STEPS], 1):
        line = f"{n}. {clip(_LEADING_NUMBER.sub('', step), 160)}"
        if used + len(line) + 1 > room:
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)
