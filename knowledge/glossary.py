"""English and Romanian product terms read as the Russian the documents use for them."""

from __future__ import annotations

from collections.abc import Sequence

from knowledge.analyzer import Analyzer
from knowledge.resources import read_data_lines
from knowledge.text import tokenize

# The Latin-script languages a question is translated from, each with its own stemmer.
_LANGS = ("en", "ro")
# Shorter words are left as written: their forms would meet other words' stems.
_MIN_INFLECTED = 4
# The endings of a Romanian noun's forms with the definite article and in the plural (folded:
# no diacritics), added to the word as written or in place of its last vowel.
# fmt: off
_RO_ENDINGS = ("ul", "ului", "l", "lui", "le", "lor", "i", "ii", "ile", "ilor", "uri", "urile",
               "urilor")
_RO_VOWEL_ENDINGS = ("a", "e", "ei", "i", "ii", "ile", "ilor", "ele", "elor", "ea")
# fmt: on


def romanian_forms(word: str) -> set[str]:
    """The forms a Romanian noun may take, most of them not words at all (harmless: they are
    only looked up): "parola" -> "parolei", "parole", ...; "domeniu" -> "domeniul", ...."""
    forms = {word + ending for ending in _RO_ENDINGS}
    if word[-1] in "aeiu":
        forms.update(word[:-1] + ending for ending in _RO_VOWEL_ENDINGS)
    forms.discard(word)
    return forms


class Glossary:
    """The terms of ``knowledge/data/glossary.txt`` (or of another file in its format, such as
    ``lexicon.txt``): each foreign member's keys (as an English or Romanian question's words are
    keyed) to the keys of its Russian term (as the documents' words are, synonyms resolved)."""

    def __init__(self, analyzer: Analyzer, name: str = "glossary.txt") -> None:
        # Per question language: a member is keyed by that language's stemmer, and only a
        # question in that language looks it up (the Romanian stem of "theme" is "them").
        self._terms: dict[str, dict[tuple[str, ...], tuple[str, ...]]] = {
            lang: {} for lang in _LANGS
        }
        self._longest = 1
        morph = analyzer.morph
        # How much each Russian key says, as a Russian question's word would (a verb or an
        # adverb less than a noun): :meth:`side`.
        self._side: dict[str, float] = {}
        heads: list[tuple[list[str], tuple[str, ...]]] = []
        for line in read_data_lines(name):
            # "русский = en ... | ro ...": each language's members apart; without "|", every
            # member is looked up in both languages.
            english, _, romanian = line.partition(" | ")
            members = [m.strip() for m in english.split(" = ") if m.strip()]
            own = [m.strip() for m in romanian.split(" = ") if m.strip()]
            if len(members) + len(own) < 2:
                raise ValueError(f"{name}: a term needs a translation: {line!r}")
            keyed = analyzer.keyed(tokenize(members[0]))
            russian = tuple(key for key, _ in keyed)
            for key, token in keyed:
                self._side.setdefault(key, morph.weight(token))
            split = " | " in line
            for member, langs in [
                *((m, ("en",) if split else _LANGS) for m in members[1:]),
                *((m, ("ro",)) for m in own),
            ]:
                tokens = tokenize(member)
                if "ro" in langs and tokens:  # (a member of punctuation alone has no words)
                    heads.append((tokens, russian))
                for lang in langs:
                    keys = tuple(morph.keys(tokens, lang))
                    if keys:
                        self._terms[lang].setdefault(keys, russian)
                        self._longest = max(self._longest, len(keys))
        # Romanian's stemmer leaves a noun's forms apart ("domeniu", "domeniul": "domeniu",
        # "domen"; "parola", "parolei"): a term is also found in the forms its first word takes
        # with the definite article and in the plural, after every term as written.
        ro = self._terms["ro"]
        for tokens, russian in heads:
            if len(tokens[0]) < _MIN_INFLECTED or not tokens[0].isalpha():
                continue
            for form in romanian_forms(tokens[0]):
                keys = tuple(morph.keys([form, *tokens[1:]], "ro"))
                if keys:
                    ro.setdefault(keys, russian)
        self._starts = {lang: frozenset(k[0] for k in terms) for lang, terms in self._terms.items()}

    def side(self, key: str) -> float:
        """The weight a Russian question's word of this key would have (1 for a noun,
        adjective or name; less for a verb or an adverb)."""
        return self._side.get(key, 1.0)

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
