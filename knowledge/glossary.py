"""English and Romanian product terms read as the Russian the documents use for them."""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.analyzer import Analyzer
from knowledge.resources import read_data_lines
from knowledge.text import tokenize

# The Latin-script languages a question is translated from, each with its own stemmer.
_LANGS = ("en", "ro")


class Glossary:
    """The terms of ``knowledge/data/glossary.txt``: each foreign member's keys (as an English
    or Romanian question's words are keyed) to the keys of its Russian term (as the documents'
    words are, synonyms resolved)."""

    def __init__(self, analyzer: Analyzer) -> None:
        self._terms: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._longest = 1
        morph = analyzer.morph
        for line in read_data_lines("glossary.txt"):
            members = [m.strip() for m in line.split(" = ") if m.strip()]
            if len(members) < 2:
                raise ValueError(f"glossary.txt: a term needs a translation: {line!r}")
            russian = tuple(analyzer.keys(members[0]))
            for member in members[1:]:
                tokens = tokenize(member)
                for lang in _LANGS:
                    keys = tuple(morph.keys(tokens, lang))
                    if keys:
                        self._terms.setdefault(keys, russian)
                        self._longest = max(self._longest, len(keys))
        self._starts = frozenset(k[0] for k in self._terms)

    def find(
        self, tokens: Sequence[str], keys: Sequence[str]
    ) -> list[tuple[range, tuple[str, ...]]]:
        """The terms in a question, longest first from each position: the tokens each covers
        and the Russian keys it stands for. ``keys`` are the tokens' keys in the question's
        language (stop words included, as terms may hold them: "sign in")."""
        found = []
        i, n = 0, len(keys)
        while i < n:
            longest = min(self._longest, n - i) if keys[i] in self._starts else 0
            for size in range(longest, 0, -1):
                russian = self._terms.get(tuple(keys[i : i + size]))
                if russian is not None:
                    found.append((range(i, i + size), russian))
                    i += size
                    break
            else:
                i += 1
        return found
