"""Text helpers shared by the parsers: URLs, menu paths, steps, markdown and fragment clean-up."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from knowledge.analyzer import fillers, product_names, stop_words
from knowledge.text import fold, is_infinitive

__all__ = [
    "HELPDESK_OPEN",
    "clean_markdown",
    "extract_path",
    "extract_steps",
    "find_open_urls",
    "join_body",
    "join_fragments",
    "normalise_url",
    "path_in",
    "strip_inline_markup",
]

HELPDESK_OPEN = "https://helpdesk.bitrix24.ru/open/{}/"

_OPEN_RE = re.compile(r"https?://(?:www\.)?helpdesk\.bitrix24\.ru/open/(\d+)", re.IGNORECASE)
_STEP_RE = re.compile(r"^\s*(\d{1,2}(?:\s*[–—-]\s*\d{1,2})?)(?:[.)]\s*|\s+)(?=\S)(?!\.\.)")
_RANGE_STEP_RE = re.compile(r"^\s*\d{1,2}\s*[–—-]\s*\d{1,2}\s")
_EXPLICIT_PATH_RE = re.compile(r"^\s*(?:\*\*)?Путь:(?:\*\*)?\s*(.*)$", re.IGNORECASE)
_GT_SPLIT = re.compile(r"\s*(?:>|›)\s*")
# An en dash or a hyphen between menu items; an em dash is a sentence's dash (and the joint of a
# table row's cells, «Цвет — Иконка — Значение»), never a menu's.
_DASH_SPLIT = re.compile(r"\s+[–-]\s*|\s*–\s+")
_CUT_LAST = re.compile(r"[.;!?:]|,\s|\s+(?:и|или|а|and|or)\s+(?=[a-zа-яё])")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_INLINE_MARKERS = re.compile(r"\[(?:image|bookmark):[^\]]*\]")
_TERMINAL = ".!?:;"
_MAX_SEGMENT_WORDS = 6
# Where a sentence goes on after the last menu item: a finite verb or a pronoun (Russian).
_VERB_OR_PRONOUN = re.compile(
    r"^(?:вы|мы|он|она|они|оно|я)$|[а-яё]{2,}(?:ется|ются|ится|ятся|ться|ть|ет|ут|ют|ит|ат|ят|ете|ите|йте)$"
)
# A line that is the path alone (a scraped page puts a bold label on its own line) ends where the
# label ends: its last item may be a long checkbox label («Разрешить блокировать документ …»).
_MAX_LAST_WORDS_ALONE = 8
# The numbered markers a page puts on its screenshot's callouts: «Настройки (2) > Инструменты (3)».
_CALLOUT = re.compile(r"\s*\((?:\d{1,2}|[a-zа-я])\)")
# Grammar, not content: a menu path starts at a place one can go to, never at an input control
# inside a form («Фильтр > Триггеры в Битрикс24» is a filter's choice).
_CONTROLS = frozenset({"фильтр", "поиск", "поле", "строка поиска"})


def find_open_urls(text: str) -> list[str]:
    """Every specific helpdesk URL in ``text``, normalised, in order of first appearance."""
    seen: dict[str, None] = {}
    for number in _OPEN_RE.findall(text):
        seen.setdefault(HELPDESK_OPEN.format(int(number)), None)
    return list(seen)


def normalise_url(url: str) -> str:
    """``https://helpdesk.bitrix24.ru/open/NNN/`` for a specific article link, else ``""``."""
    found = find_open_urls(url)
    return found[0] if found else ""


def strip_inline_markup(line: str) -> str:
    """Remove ``[image: …]`` and ``[bookmark: …]`` markers that converted documents leave inline."""
    return _INLINE_MARKERS.sub("", line).rstrip()


def clean_markdown(line: str) -> tuple[str, bool]:
    """One markdown line as plain text, and whether it was a heading.

    Table rows become cells joined by " — "; separator rows and rules become empty lines.
    """
    stripped = line.strip()
    heading = re.match(r"^#{1,6}\s+(.*)$", stripped)
    if heading:
        return _plain(heading.group(1)), True
    if re.fullmatch(r"\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?", stripped):
        return "", False
    if stripped.startswith("|") and stripped.endswith("|"):
        cells = [_plain(c) for c in stripped.strip("|").split("|")]
        return " — ".join(c for c in cells if c), False
    stripped = re.sub(r"^(?:>\s*)+", "", stripped)
    bullet = re.match(r"^[-*+]\s+(.*)$", stripped)
    if bullet and not re.fullmatch(r"[-*_]{3,}", stripped):
        return "• " + _plain(bullet.group(1)), False
    return _plain(stripped), False


def _plain(text: str) -> str:
    text = _MD_LINK.sub(r"\1", text)
    text = _MD_EMPHASIS.sub("", text)
    return " ".join(text.split())


def join_fragments(lines: Sequence[str]) -> list[str]:
    """Re-join a scraped page's lines that were split around links and bold UI labels.

    A line continues the previous one when it starts with a lower-case letter or punctuation,
    or when it is a short label ("Сохранить") after a fragment that stops mid-sentence
    ("… и нажмите"); a label never pulls in a second capitalised line.
    """
    out: list[str] = []
    fragment = ""
    after_label = False
    for raw in lines:
        line = raw.strip()
        if not line:
            out.append("")
            fragment, after_label = "", False
            continue
        how = _continuation(fragment, line, after_label) if out and out[-1] else None
        if how is None:
            out.append(line)
            after_label = False
        else:
            sep = "" if line[0] in ".,;:!?)»" else " "
            out[-1] = f"{out[-1]}{sep}{line}"
            after_label = how == "label"
        fragment = line
    return out


def _continuation(fragment: str, line: str, after_label: bool) -> str | None:
    """How ``line`` continues ``fragment`` ("text" or "label"), or None for a new line."""
    if _STEP_RE.match(line) and line[0].isdigit():
        return None
    if line[0].islower() or line[0] in ".,;:!?)»—–":
        return "text"
    if after_label or fragment[-1] in _TERMINAL or fragment[-1] in "»\"'":
        return None
    words = re.findall(r"\w+", _STEP_RE.sub("", fragment, count=1))
    if not words:
        return None
    mid_sentence = words[-1][0].islower() or len(words) <= 2 or fragment.endswith(">")
    return "label" if mid_sentence and len(re.findall(r"\w+", line)) <= 5 else None


def extract_steps(lines: Iterable[str]) -> tuple[str, ...]:
    """Numbered instruction lines ("1. …", "1–2. …", "3) …"), in order, as written."""
    steps: list[str] = []
    for line in lines:
        text = line.strip()
        if not text or not _STEP_RE.match(text) or text.endswith("..."):
            continue
        if not text[0].isdigit():
            continue
        plain_number = re.match(r"^\d{1,2}\s+\S", text) and not _RANGE_STEP_RE.match(text)
        if plain_number:  # "2 пользователя" is a quantity, not a step
            continue
        steps.append(text)
    return tuple(steps)


def extract_path(lines: Iterable[str], about: str = "") -> str:
    """The menu path a text gives: an explicit "Путь: …" line first, else the first path found.

    With ``about`` (the title of a page that covers several tasks), the path that names its
    subject wins over the first one: the page's own place, not a side task's («Как удалить
    Битрикс24»: «… > Удалить мой Битрикс24», not the firing of staff before it). The subject is
    the title's words without stop words and the product's name; the path naming most of it
    wins, and among those the one whose last item (the place it leads to) names most.
    """
    lines = list(lines)
    for i, line in enumerate(lines):
        explicit = _EXPLICIT_PATH_RE.match(line)
        if not explicit:
            continue
        rest = explicit.group(1).strip() or _next_nonblank(lines, i)
        found = _path_in(_plain(rest).lstrip("•- "))
        if found:
            return found
    paths = [p for p in (_path_in(_plain(line)) for line in lines) if p]
    if not paths or not about:
        return paths[0] if paths else ""
    subject = _subject(about)
    scores = [(len(_stems(p) & subject), len(_stems(p.split(" > ")[-1]) & subject)) for p in paths]
    best = max(range(len(paths)), key=lambda i: (scores[i], -i))
    return paths[best]


def _subject(title: str) -> set[str]:
    """What a title is about, as :func:`_stems`: without its stop words and fillers («как», «для»,
    «что») or the product's name («Битрикс24»), which any path may hold whatever its task."""
    unmeaning = stop_words() | fillers() | product_names()
    return _stems(
        " ".join(w for w in fold(title).split() if w.strip("«»\"'.,:;!?()") not in unmeaning)
    )


def _stems(text: str) -> set[str]:
    """Crude stems of a text's words («приложений», «Приложения» → «прило»), for overlap only."""
    return {w[:5] for w in re.findall(r"\w{3,}", text.casefold())}


def path_in(line: str) -> tuple[str, bool]:
    """The menu path one line gives, and whether the line declares it ("Путь: …")."""
    explicit = _EXPLICIT_PATH_RE.match(line)
    if explicit:
        return _path_in(_plain(explicit.group(1)).lstrip("•- ")), True
    return _path_in(_plain(line)), False


def _next_nonblank(lines: Sequence[str], i: int) -> str:
    return next((x for x in lines[i + 1 :] if x.strip()), "")


def _path_in(line: str) -> str:
    text = _STEP_RE.sub("", line, count=1) if line[:1].isdigit() else line
    text = _CALLOUT.sub("", text.strip().lstrip("•·-– ").strip())
    if not text:
        return ""
    if ">" in text or "›" in text:
        return _segments_to_path(_GT_SPLIT.split(text), minimum=2)
    if "–" in text or " - " in text:
        return _segments_to_path(_DASH_SPLIT.split(text), minimum=3)
    return ""


def _segments_to_path(parts: list[str], minimum: int) -> str:
    if len(parts) < minimum:
        return ""
    head = re.split(r"[(:]", parts[0])[-1]
    words = head.split()
    starts = [i for i, w in enumerate(words) if _menu_word(w)]
    if not starts:
        return ""
    first = " ".join(words[starts[-1] :])
    alone = first == parts[0].strip()
    last = _last_segment(parts[-1], alone)
    middle = [p.strip() for p in parts[1:-1]]
    segments = [first, *middle, last]
    if any(not s or not _menu_word(s) for s in segments):
        return ""
    if any(len(s.split()) > _MAX_SEGMENT_WORDS for s in [first, *middle]):
        return ""
    if any(re.search(r"[.,;!?]", s) for s in middle) or not _starts_at_a_place(first):
        return ""
    return " > ".join(segments)


def _starts_at_a_place(first: str) -> bool:
    """A menu path starts at a section or a setting, not at a button's action or a form's field.

    A path that starts with an infinitive is a click sequence of buttons («Открыть сайт > Открыть
    в новой вкладке»), not where something is in the menu; the dictionary tells the verb from a
    noun spelt like one («Печать > Настройки печати»).
    """
    words = first.casefold().lstrip("«\"'").split()
    return not (is_infinitive(words[0]) or " ".join(words) in _CONTROLS or words[0] in _CONTROLS)


def _menu_word(text: str) -> bool:
    """Menu items start with a capital, a digit or a bracket ("[Элемент]", "(⚙️)")."""
    first = text.lstrip("«\"'")[:1]
    return bool(first) and (first.isupper() or first.isdigit() or first in "[(")


def _last_segment(text: str, alone: bool = False) -> str:
    """The last item of a path inside a sentence: up to the sentence going on without it.

    When the path opened its line (``alone``), a long label is kept whole: up to a few more
    words, and an infinitive after the label's verb does not end it; a longer run is a sentence
    going on, cut as inside one.
    """
    text = _CUT_LAST.split(text, maxsplit=1)[0].strip().rstrip(",")
    if text.count(")") > text.count("("):
        text = text.replace(")", "")
    if text.count("(") > text.count(")"):
        text = text.split("(")[0].strip()
    if alone:
        kept = _label_words(text.split(), _MAX_LAST_WORDS_ALONE + 1, label_verbs=True)
        if len(kept) <= _MAX_LAST_WORDS_ALONE:
            return " ".join(kept)
    return " ".join(_label_words(text.split(), _MAX_SEGMENT_WORDS - 1, label_verbs=False))


def _label_words(words: list[str], cap: int, label_verbs: bool) -> list[str]:
    """The label at the start of ``words``: up to a verb or a pronoun, at most ``cap`` words."""
    kept: list[str] = []
    for word in words:
        folded = word.casefold()
        # «Разрешить блокировать документ …»: an infinitive after a verb is that label's own.
        own = label_verbs and kept and is_infinitive(folded) and is_infinitive(kept[-1].casefold())
        if kept and ((_VERB_OR_PRONOUN.search(folded) and not own) or len(kept) >= cap):
            break
        kept.append(word)
    return kept


def join_body(lines: Iterable[str]) -> str:
    """Lines joined with newlines, blank runs collapsed to one, ends trimmed."""
    out: list[str] = []
    for line in lines:
        text = line.rstrip()
        if not text.strip():
            if out and out[-1]:
                out.append("")
            continue
        out.append(text.strip())
    while out and not out[-1]:
        out.pop()
    return "\n".join(out)
