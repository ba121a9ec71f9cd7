"""Parsers turning corpus text into entries: help-desk compilation, long documents, articles."""

from __future__ import annotations

from knowledge.parsing.article import FrontMatter, parse_article, parse_front_matter
from knowledge.parsing.document import parse_document
from knowledge.parsing.helpdesk import HelpdeskResult, parse_helpdesk, split_articles

__all__ = [
    "FrontMatter",
    "HelpdeskResult",
    "looks_like_helpdesk",
    "parse_article",
    "parse_document",
    "parse_front_matter",
    "parse_helpdesk",
]


def looks_like_helpdesk(text: str) -> bool:
    """True for a compilation of articles, each opening with a ``---`` front matter and title."""
    return bool(split_articles(text))
