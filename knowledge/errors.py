"""Errors raised while loading the knowledge base."""

from __future__ import annotations

from pathlib import Path


class HelpbotError(Exception):
    """Root of every error the project raises on purpose."""


class KnowledgeError(HelpbotError):
    """Base class for knowledge-base problems."""


class ArticleError(KnowledgeError):
    """A source file that cannot be used; the loader logs it and skips the file."""

    def __init__(self, path: Path | str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = str(path)
        self.reason = reason
