"""Turns text into index keys: tokens, stop words, morphology and the synonym dictionary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

from knowledge.resources import read_data_lines
from knowledge.text import Morphology, fold, script, tokenize


@cache
def stop_words() -> frozenset[str]:
    """Words that carry no meaning for matching (stopwords.txt), folded."""
    return frozenset(fold(w) for w in read_data_lines("stopwords.txt"))


@cache
def fillers() -> frozenset[str]:
    """Words of talk around a question (fillers.txt), folded."""
    return frozenset(fold(w) for w in read_data_lines("fillers.txt"))


@cache
def product_names() -> frozenset[str]:
    """The product's own names, one-word members of the first group of synonyms.txt, folded
    («битрикс24», «портал», «bitrix24»): in every title, they tell no page's subject."""
    first = next(iter(read_data_lines("synonyms.txt")), "")
    return frozenset(fold(m.strip()) for m in first.split(" = ") if len(tokenize(m)) == 1)


@dataclass(frozen=True, slots=True)
class Synonym:
    """A phrase of the synonym dictionary found in a text, and the keys it was read as."""

    phrase: str  # the words as written, folded ("2fa", "б24")
    keys: tuple[str, ...]  # the keys of its group's first member


@dataclass(slots=True)
class Trace:
    """What :meth:`Analyzer.keyed` did besides keying: for explaining how a question was read."""

    synonyms: list[Synonym] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # stop words and fillers, as written


class Analyzer:
    """The one way both articles and questions become keys, so that they meet in the index.

    A key is a lemma-stem ("сделк", "настройк"); a synonym group maps each of its members,
    inflected in any way, to the keys of its first member ("2fa" -> "двухфакторн аутентификац").
    """

    def __init__(self, morphology: Morphology | None = None) -> None:
        self.morph = morphology or Morphology()
        stopwords = stop_words()
        # Inflected stop words ("всей", "вашими") are caught by their key as well; fillers only
        # as written.
        self._stop_keys = frozenset(
            self.morph.key(w) for w in stopwords if script(w) == "cyr" and len(w) > 2
        )
        self.stopwords = stopwords | fillers()
        self._synonyms: dict[tuple[str, ...], tuple[str, ...]] = {}
        self._longest = 1
        for line in read_data_lines("synonyms.txt"):
            members = [m.strip() for m in line.split(" = ") if m.strip()]
            canonical = tuple(self.morph.keys(tokenize(members[0])))
            for member in members:
                keys = tuple(self.morph.keys(tokenize(member)))
                if keys and keys != canonical:
                    self._synonyms.setdefault(keys, canonical)
                    self._longest = max(self._longest, len(keys))
        # The first keys of the synonyms: any other key cannot start one, so most words skip
        # the phrase lookups.
        self._starts = frozenset(member[0] for member in self._synonyms)

    def keys(self, text: str, lang: str = "ru") -> list[str]:
        """Index keys of a text, in order, stop words dropped and synonyms resolved."""
        return [key for key, _ in self.keyed(tokenize(text), lang)]

    def keyed(
        self, tokens: Sequence[str], lang: str = "ru", trace: Trace | None = None
    ) -> list[tuple[str, str]]:
        """(key, the token it came from) pairs; a synonym's keys come from its first token.
        ``trace``, when given, collects the synonyms resolved and the stop words dropped."""
        keys = self.morph.keys(tokens, lang)
        out: list[tuple[str, str]] = []
        i, n = 0, len(keys)
        starts = self._starts
        while i < n:
            longest = min(self._longest, n - i) if keys[i] in starts else 0
            for size in range(longest, 0, -1):
                canonical = self._synonyms.get(tuple(keys[i : i + size]))
                if canonical is not None:
                    out.extend((key, tokens[i]) for key in canonical)
                    if trace is not None:
                        trace.synonyms.append(Synonym(" ".join(tokens[i : i + size]), canonical))
                    i += size
                    break
            else:
                if tokens[i] not in self.stopwords and keys[i] not in self._stop_keys:
                    out.append((keys[i], tokens[i]))
                elif trace is not None:
                    trace.dropped.append(tokens[i])
                i += 1
        return out

    def word_synonyms(self) -> dict[str, str]:
        """One-word synonyms: the key of each member to the key it stands for."""
        return {
            member[0]: canonical[0]
            for member, canonical in self._synonyms.items()
            if len(member) == 1 and len(canonical) == 1
        }

    def is_stopword(self, token: str) -> bool:
        return token in self.stopwords
