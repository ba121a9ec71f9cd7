"""Makes an answer's lines read as whole sentences: a stop where the page lost one, a dangling
tail or an unkept «…:» promise dropped, and text clipped at a sentence or a line."""

from __future__ import annotations

import re

from knowledge.passages import END_MARKS, ITEM, with_stop

# A sentence ends at its stop, or at the quotation mark closing right after it.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"»”]))\s+")
_DANGLING_WORDS = 3
# A «…:» line before a sentence of its own promised what the page showed there (a screenshot,
# a form): its last sentence goes when it is this short («Форма выглядит так:»), else «:» → «.».
_PROMISE_WORDS = 5
# A table's row or a list's line is shorter than this; a sentence may not end in a stop when
# its screenshot followed it.
ROW_MAX = 90
# «Без CoPilot:» and the like label what follows; they are not promises.
LABEL_WORDS = 3
# A step starts with a polite imperative: «Откройте», «Нажмите»; «Accesați», «Faceți».
STEP_START = re.compile(r"^\W*\w+(?:[иийь]те|ți)\b", re.IGNORECASE)
_NOTHING_AFTER_COLON = re.compile(r"\s*:\s*([.;,])")


def finish(text: str) -> str:
    """Whole sentences: a scraped line's dangling tail («… профиль. Нажмите», its button lost
    with the page's markup) is dropped; a lone lead-in («Можно включить настройки:») reads as
    a sentence; a sentence the page left without its stop, after the button or the path that
    closed it («… Нажмите Удалить мой Битрикс24», «… в разделе Сотрудники > Права доступа»),
    gets one."""
    text = "\n".join(_stopped(_drop_dangling(line)) for line in text.split("\n"))
    text = _NOTHING_AFTER_COLON.sub(r"\1", text)
    return text[:-1] + "." if text.endswith(":") else text


def _stopped(line: str) -> str:
    """A line of prose (longer than a heading or a table's row, or a step) that ends on a word
    ends its sentence there (or a quote or a bracket after it does): it gets its stop. Items,
    headings and paths stay as they are."""
    if ITEM.match(line):
        return line
    last = _sentences(line)[-1]
    if len(line) > ROW_MAX or (STEP_START.match(last) and len(last.split()) > 1):
        return with_stop(line)
    return line


def promise_not_kept(line: str, following: str) -> bool:
    """«Откроется страница списка полей:» followed, in the next paragraph or as the one line
    left of its own, by a sentence that is not its content (the screenshot it announced is
    gone): not a list, a table row or the steps of a lead-in. A list without bullets goes on
    in the same paragraph, row after row."""
    return (
        line.endswith(":")
        and len(line.split()) > LABEL_WORDS
        and (following.endswith((*END_MARKS, ":")) or len(following) > ROW_MAX)
        and following[:1].isupper()
        and not ITEM.match(following)
        and not STEP_START.match(following)
    )


def as_sentence(line: str) -> str:
    sentences = _sentences(line)
    if len(sentences) > 1 and len(sentences[-1].split()) <= _PROMISE_WORDS:
        return " ".join(sentences[:-1])
    return line[:-1].rstrip() + "."


def first_sentence(item: str) -> str:
    """A list item's first sentence, with its marker («2. », «• »)."""
    marker = ITEM.match(item)
    head = marker.group() if marker else ""
    return head + _sentences(item[len(head) :])[0]


def clip_lines(text: str, limit: int) -> str:
    """Whole lines up to ``limit`` characters (a first line too long is clipped itself)."""
    lines = [" ".join(line.split()) for line in text.split("\n") if line.strip()]
    out: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            break
        out.append(line)
        size += len(line) + 1
    if not out and lines:
        return clip(lines[0], limit)
    while len(out) > 1 and out[-1].endswith(":"):
        out.pop()
    return finish("\n".join(out))


def clip(text: str, limit: int) -> str:
    """Whole sentences up to ``limit`` characters; a single long sentence is cut at a word."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    out = ""
    for sentence in _sentences(text):
        if len(out) + len(sentence) + 1 > limit:
            break
        out = f"{out} {sentence}".strip()
    if out:
        return out
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return f"{cut}…"


def _sentences(text: str) -> list[str]:
    """Sentences of a line; a full stop inside quotes («…», "…") does not end one."""
    out: list[str] = []
    for piece in _SENTENCE_END.split(text):
        if out and _open_quote(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def _open_quote(text: str) -> bool:
    return text.count('"') % 2 == 1 or text.count("«") > text.count("»")


def _drop_dangling(line: str) -> str:
    if line.endswith((*END_MARKS, ":")) or ITEM.match(line):
        return line
    sentences = _sentences(line)
    if len(sentences) > 1 and len(sentences[-1].split()) <= _DANGLING_WORDS:
        return " ".join(sentences[:-1])
    return line
