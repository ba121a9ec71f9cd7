"""The knowledge base's data: entries parsed from the corpus and what matching returns."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True, slots=True)
class Entry:
    """One answerable unit: a helpdesk article or one section of a long document.

    ``title`` is the article title or the section heading exactly as the source writes it;
    ``breadcrumb`` is the chain of headings above it (document title first), never including
    ``title`` itself. ``url`` is the specific deep link or ``""``; ``path`` the menu path the text
    gives ("CRM > Настройки > Справочники") or ``""``. ``category`` is a help-desk page's topic
    in the compilation (seed 000 front matter); the index reads it in the breadcrumb's place
    (docs/quality.md, round 16b), the breadcrumb being the help desk's own trail for the page.
    """

    id: str
    title: str
    source: str
    kind: str = "article"  # "article" | "section"
    url: str = ""
    breadcrumb: tuple[str, ...] = ()
    path: str = ""
    summary: str = ""
    steps: tuple[str, ...] = ()
    body: str = ""
    questions: tuple[str, ...] = ()  # extra phrasings: front-matter synonyms, FAQ headings
    category: str = ""


class Action(StrEnum):
    """What the bot decides to do with one message."""

    ANSWER = "answer"
    CLARIFY = "clarify"
    ESCALATE = "escalate"
    OPERATOR = "operator"
    SMALLTALK = "smalltalk"


@dataclass(frozen=True, slots=True)
class Match:
    """An entry found for a question, with a confidence in 0..1."""

    entry: Entry
    score: float


@dataclass(frozen=True, slots=True)
class Link:
    title: str
    url: str


@dataclass(frozen=True, slots=True)
class Answer:
    """Channel-neutral content of an answer: short text blocks, the menu path and deep links.

    ``breadcrumb`` places a section of a long document (empty for an article); ``lang`` is the
    language the entry is written in, which may not be the question's. Channels render it
    (plain text, Telegram HTML, Bitrix24 BB-code); nothing here is escaped.
    """

    entry: Entry
    blocks: tuple[str, ...]
    path: str = ""
    links: tuple[Link, ...] = ()
    breadcrumb: tuple[str, ...] = ()
    lang: str = "ru"


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome for one message: the action, the ranked matches and, for ANSWER, the content.

    ``lang`` is the language detected from the text ("ru", "en", "ro"); ``smalltalk`` names the
    kind of small talk ("greeting", "thanks", "bot", "bye", "ack") when the action is SMALLTALK.
    """

    action: Action
    matches: tuple[Match, ...] = ()
    answer: Answer | None = None
    lang: str = "ru"
    smalltalk: str = ""
    confidence: float = 0.0
