"""An entry's body as passages: its lines with their keys, menu paths and roles, made once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.analyzer import Analyzer
from knowledge.model import Entry
from knowledge.parsing.common import path_in
from knowledge.text import Morphology, fold

END_MARKS = (".", "!", "?", "…", ";")
ITEM = re.compile(r"^\s*(?:[•·▪◦*–-]\s|\d{1,2}(?:\s*[-–]\s*\d{1,2})?[.)]\s)")
_HEADING_MAX = 90
# What a menu path needs ("A > B", "A – B – C", "Путь: …"): most lines have none of it.
_MAY_HOLD_PATH = re.compile(r"[>›–—]| - |путь", re.IGNORECASE)
# A scraped list whose bullets were lost keeps their dots: ". перейти на страницу …".
_LOST_BULLET = re.compile(r"^\.\s+(?=\w)")
# A sentence that ends a paragraph's prose (not "…", which trails off, nor "?", which asks).
_SENTENCE_DONE = (".", "!")
# The polite imperative ("Нажмите", "Откройте", "Укажите") starts a step, not a page title.
_IMPERATIVE = re.compile(r"^\W*\w+(?:и|й|ь)те\b", re.IGNORECASE)
# A scraped page puts a button's or a menu's name, bold on the page, on a line of its own:
# «Укажите пароль и нажмите» / «Сохранить», «В блоке» / «Реквизиты» / «, нажмите». A line that
# stops on a word wanting its object (a polite imperative, a preposition, a place in the
# interface) has not ended its sentence: it takes the line after it (unless that is a list's
# item), and a line opening with «,» «;» «)» goes on the line before it. A word spelt like a
# polite imperative is a noun after a preposition («на сайте», «pentru clienți»), and a Russian
# one also when the dictionary reads it only so («на нашем сайте»).
_IMPERATIVE_END = re.compile(r"\w+(?:[ийь]те|ți)", re.IGNORECASE)
_WANTS_OBJECT = re.compile(
    r"в|во|на|из|через|по|для|от|к|с|кнопк[уе]|блоке|вкладк[уе]|разделе|пункт|меню|поле|"
    r"în|pe|la|din|butonul|meniul|secțiunea",
    re.IGNORECASE,
)
_GOES_ON = re.compile(r"^[,;)]")
# What may close a sentence after its last word: a quotation mark or a bracket.
_CLOSERS = "»”\"')"
_PREPOSITION = re.compile(
    r"в|во|на|о|об|при|из|по|для|от|к|с|"
    r"în|pe|la|din|de|cu|pentru|despre|prin|după|fără|către|între|spre|sub|până",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Passage:
    """One line or paragraph of an entry."""

    text: str
    keys: frozenset[str]
    path: str  # the menu path it gives, or ""
    declared: bool  # ... in a "Путь: …" line of its own
    heading: bool  # a title-like line (or a short question): what follows explains it
    item: bool  # a list item or a numbered step
    opens: bool = False  # the first line of a paragraph (after a blank line, or the body's first)
    trailer: bool = False  # a title closing a paragraph: a scraped link to another page


def passages(
    entry: Entry, analyzer: Analyzer, line_keys: tuple[frozenset[str], ...] | None = None
) -> tuple[Passage, ...]:
    """An entry's lines with their keys and paths (kept, read once per entry, by the knowledge
    base's :func:`knowledge.answer.entry_reads`). ``line_keys`` are
    the keys of each line of ``entry.body.split("\\n")`` when the index has them already."""
    out = []
    raw_lines = entry.body.split("\n")
    if line_keys is not None and len(line_keys) != len(raw_lines):
        line_keys = None  # not this body's lines: key them here
    previous = ""
    n = -1
    while n + 1 < len(raw_lines):
        n += 1
        text = " ".join(raw_lines[n].split())
        if not text:
            previous = ""
            continue
        keys = line_keys[n] if line_keys is not None else None
        joined = n
        while joined + 1 < len(raw_lines) and _goes_on(text, raw_lines[joined + 1], analyzer.morph):
            joined += 1
            more = " ".join(raw_lines[joined].split())
            text = f"{text}{'' if _GOES_ON.match(more) else ' '}{more}"
            if keys is not None and line_keys is not None:
                keys = keys | line_keys[joined]
        if joined > n:
            text = with_stop(text)
        n = joined
        closes = n + 1 == len(raw_lines) or not raw_lines[n + 1].strip()
        path, declared = path_in(text) if _MAY_HOLD_PATH.search(text) else ("", False)
        item = bool(ITEM.match(text))
        # Shown as the bullet it was, yet not an item: such lists mix steps, notes and captions.
        text = _LOST_BULLET.sub("• ", text)
        title_like = len(text) <= _HEADING_MAX and not path
        trailer = (
            title_like
            and closes
            and previous.endswith(_SENTENCE_DONE)
            and not previous.endswith("..")
            and not text.endswith((*END_MARKS, ":", ","))
            and not _IMPERATIVE.match(text)
        )
        heading = (
            title_like
            and not item
            and not trailer
            and (text.endswith("?") or not text.endswith((*END_MARKS, ":", ",")))
        )
        keys = keys if keys is not None else frozenset(analyzer.keys(text))
        out.append(Passage(text, keys, path, declared, heading, item, not previous, trailer))
        previous = text
    return tuple(out)


def with_stop(text: str) -> str:
    """``text`` as a finished sentence: a full stop after its last word, or after the quote or
    the bracket closing it («… нажмите «Готово»»), unless it ends in a stop, «:» or «,» already
    (or in no word at all)."""
    return f"{text}." if text.rstrip(_CLOSERS)[-1:].isalnum() else text


def _goes_on(text: str, following: str, morph: Morphology) -> bool:
    """``following`` is the rest of ``text``'s sentence, split off it by the page's markup."""
    following = " ".join(following.split())
    if not following or ITEM.match(following):
        return False
    if text.endswith((*END_MARKS, ":", ",")):
        return False  # a finished sentence takes nothing, not even a line opening with «,»
    if _GOES_ON.match(following):
        return True
    words = text.split()
    if _WANTS_OBJECT.fullmatch(words[-1]):
        return True
    # «на сайте», «о защите»: a word after a preposition is a noun, however it ends.
    return (
        bool(_IMPERATIVE_END.fullmatch(words[-1]))
        and not (len(words) > 1 and _PREPOSITION.fullmatch(words[-2]))
        and morph.may_be_imperative(fold(words[-1]))
    )
