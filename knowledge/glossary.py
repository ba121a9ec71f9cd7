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
        # Per question language: a member is keyed by that language's stemmer, and only a
        # question in that language looks it up (the Romanian stem of "theme" is "them").
        self._terms: dict[str, dict[tuple[str, ...], tuple[str, ...]]] = {
            lang: {} for lang in _LANGS
        }
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
                        self._terms[lang].setdefault(keys, russian)
                        self._longest = max(self._longest, len(keys))
        self._starts = {lang: frozenset(k[0] for k in terms) for lang, terms in self._terms.items()}

    def find(
        self, tokens: Sequence[str], keys: Sequence[str], lang: str = "en"
    ) -> list[tuple[range, tuple[str, ...]]]:
        """The terms in a question, longest first from each position: the tokens each covers
        and the Russian keys it stands for. ``keys`` are the tokens' keys in the question's
        language ``lang`` (stop words included, as terms may hold them: "sign in")."""
        terms, starts = self._terms.get(lang, {}), self._starts.get(lang, frozenset())
        found = []
        i, n = 0, len(keys)
        while i < n:
            longest = min(self._longest, n - i) if keys[i] in starts else 0
            for size in range(longest, 0, -1):
                russian = terms.get(tuple(keys[i : i + size]))
                if russian is not None:
                    found.append((range(i, i + size), russian))
                    i += size
                    break
            else:
                i += 1
        return found
