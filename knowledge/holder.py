"""The knowledge base in use and its version: one reference, swapped whole when a reload has
built the next one beside it."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from knowledge.base import KnowledgeBase
from knowledge.loader import Corpus, fingerprint, load_corpus
from knowledge.model import Entry

__all__ = ["KnowledgeHolder", "KnowledgeVersion", "build", "content_hash", "holding"]

HASH_CHARS = 12  # as short as a git commit: enough to tell two bases apart at a glance


@dataclass(frozen=True, slots=True)
class KnowledgeVersion:
    """What a knowledge base was built from: ``hash`` of its entries' content (the same on every
    replica that reads the same files, whenever they were touched), when it was built, the
    files the loader skipped (``"path: reason"``), and ``files``: the inputs' fingerprint
    (names, sizes, times) taken just before reading them, which a file watcher compares with."""

    hash: str
    loaded_at: datetime | None
    entries: int
    skipped: tuple[str, ...] = ()
    files: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "hash": self.hash,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
            "entries": self.entries,
            "skipped": len(self.skipped),
        }


def content_hash(entries: Sequence[Entry]) -> str:
    """A short hash of every entry's fields (ids, texts, links and extra phrasings)."""
    digest = hashlib.sha256()
    for entry in entries:
        digest.update(repr(entry).encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()[:HASH_CHARS]


def version_of(corpus: Corpus, loaded_at: datetime | None, files: str = "") -> KnowledgeVersion:
    skipped = tuple(f"{error.path}: {error.reason}" for error in corpus.errors)
    entries = len(corpus.entries)
    return KnowledgeVersion(content_hash(corpus.entries), loaded_at, entries, skipped, files)


def build(
    extra_dir: Path | None,
    cache_dir: Path | None,
    loaded_at: datetime | None,
    phrasings: Mapping[str, Sequence[str]] | None = None,
) -> tuple[KnowledgeBase, KnowledgeVersion]:
    """Load and index a whole new knowledge base (broken company files skipped and listed in the
    version), touching nothing in use: the caller swaps it in. Slow (seconds): run it in a
    thread."""
    files = fingerprint(extra_dir)  # before reading: a change while loading shows as a change
    corpus = load_corpus(extra_dir, phrasings=phrasings)
    return KnowledgeBase.from_corpus(corpus, cache_dir), version_of(corpus, loaded_at, files)


class KnowledgeHolder:
    """The knowledge base that questions are read with now, and its version.

    A reader takes :attr:`current` once per question and keeps that object to the end, so a
    question in flight finishes on the base it started with; :meth:`swap` replaces both at once
    (one attribute assignment, so no reader ever sees a new base with an old version).
    """

    def __init__(self, kb: KnowledgeBase, version: KnowledgeVersion | None = None) -> None:
        if version is None:
            version = KnowledgeVersion(content_hash(kb.entries), None, len(kb.entries))
        self._state = (kb, version)

    @property
    def current(self) -> KnowledgeBase:
        return self._state[0]

    @property
    def version(self) -> KnowledgeVersion:
        return self._state[1]

    def snapshot(self) -> tuple[KnowledgeBase, KnowledgeVersion]:
        """The base and its version, read together."""
        return self._state

    def swap(self, kb: KnowledgeBase, version: KnowledgeVersion) -> KnowledgeBase:
        """Put ``kb`` in use; returns the one it replaces."""
        old = self._state[0]
        self._state = (kb, version)
        return old


def holding(kb: KnowledgeBase | KnowledgeHolder) -> KnowledgeHolder:
    """A holder for ``kb`` (itself when it is one): for callers given a fixed base (tests)."""
    return kb if isinstance(kb, KnowledgeHolder) else KnowledgeHolder(kb)
