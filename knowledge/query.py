"""Reads a person's message as index keys: wrong layout, transliteration and typos undone."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from rapidfuzz import fuzz, process

from knowledge.analyzer import Analyzer, Synonym, Trace
from knowledge.glossary import Glossary
from knowledge.text import (
    SIDE_WORD_WEIGHT,
    detect_lang,
    fold,
    head_and_tail,
    script,
    swap_layout_to_cyrillic,
    swap_layout_to_latin,
    tokenize,
    transliterate_to_cyrillic,
)

# How much of a message is read for matching: its beginning and its end, where a long story
# states what it is about and asks its question.
MAX_QUERY_CHARS = 1000
# A key that only resembles a vocabulary key counts for less than one typed correctly.
TYPO_WEIGHT = 0.8
# A bare number ("80 человек", "GA 4") says little about which article answers.
NUMBER_WEIGHT = 0.4
# A Russian term standing for an English or Romanian one (knowledge/data/glossary.txt) counts
# like a corrected word: read with some doubt. A Romanian question's own words also meet the
# Romanian guide, so its terms weigh a little less in Russian (0.7: the pool's top-1 best
# over 0.3-0.8, Russian questions unchanged; at 0.8 dev lost a question to the Russian side).
GLOSSARY_WEIGHT = 0.8
ROMANIAN_GLOSSARY_WEIGHT = 0.7
# An ordinary word's Russian (knowledge/data/lexicon.txt: "hide" as "скрыть") is read with more
# doubt than a product term's: a common word has more senses. Looked up only where no glossary
# term stands; its Russian verbs and adverbs weigh less again, as a Russian question's do
# (Glossary.side). 0.2: over 0.1-0.8 the pool's cross-validated help moves by 0.005 at most,
# and from 0.3 up an English question whose own words were its only evidence ("what happens
# to a free account if nobody logs in for a couple of months") is drawn to an entry with the
# added everyday words ("месяц") and handed off.
LEXICON_WEIGHT = 0.2
LATIN_WORDS_KEPT = True
_MIN_TYPO_LEN = 4
_MIN_INFLECTED = 5  # a common word this long may meet a longer form of its stem
# Chunks (words with their punctuation) up to this long are remembered as read; a longer one
# is rare, and a hostile message must not fill the memory with them.
_CACHED_CHUNK = 40
_MIN_NEAR_MISS = 6  # shorter near misses are too easily junk read the wrong way
_INITIAL_E = re.compile(r"(?<![\w-])е[а-яё]+")


@dataclass(frozen=True, slots=True)
class QueryKey:
    key: str
    weight: float  # 1.0 as typed; less when corrected
    known: bool  # the key exists in the index
    name: bool = False  # a Latin word in a Cyrillic question: a product or service name
    # Where the key came from (for explanations, not for matching): the word as read and,
    # when a typo was corrected, the key as typed.
    token: str = field(default="", compare=False)
    typed: str = field(default="", compare=False)
    # A typo read as a side word (Index.side_keys): weighed as that word, and not informative.
    side_typo: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class Repair:
    """One change made to the message before keying it: ``kind`` is "layout" (typed with the
    other keyboard layout), "translit" (Russian in Latin letters), "typo" (a word near an
    index key: ``repaired`` is that key), "glossary" (an English or Romanian term also asked
    as the Russian keys in ``repaired``) or "lexicon" (the same for an ordinary word)."""

    kind: str
    original: str
    repaired: str


# Per term: (its own keys, the Russian keys asked for it); see Query.readings.
Readings = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class Query:
    """The message as the matcher sees it, with what was done to read it."""

    text: str  # the message as read (layout/transliteration undone), for fuzzy comparisons
    keys: tuple[QueryKey, ...]
    lang: str
    repairs: tuple[Repair, ...] = ()
    synonyms: tuple[Synonym, ...] = ()
    dropped: tuple[str, ...] = ()  # stop words and fillers left out
    # A Romanian question's terms read two ways: each term's own keys that the index knows
    # (the Romanian guide's words) and the Russian keys asked for it. An entry meets one
    # reading or the other, so the matcher weighs it against the reading it meets.
    readings: Readings = ()
    # The language its marker words name; "" when none does (a Latin question read as English
    # by default: "tarif gratuit" is Romanian all the same).
    marked: str = ""

    @property
    def weighted(self) -> list[tuple[str, float]]:
        return [(k.key, k.weight) for k in self.keys if k.known]


class QueryReader:
    """Builds :class:`Query` objects against one index vocabulary."""

    def __init__(
        self,
        analyzer: Analyzer,
        vocabulary: frozenset[str],
        side_keys: frozenset[str] = frozenset(),
    ) -> None:
        self._analyzer = analyzer
        self._vocab = vocabulary
        # Keys that only side words (verbs, adverbs) make (Index.side_keys): a typo read as one
        # weighs as that word would, spelt right («пользоватся» as «пользоваться», a verb).
        self._side_keys = side_keys
        # Typos keep the first letter far more often than not: candidates share it and are
        # within two letters of the length.
        buckets: dict[tuple[str, int], list[str]] = {}
        # A synonym's own key never reaches the index (its group's first member stands for
        # it), yet its typos must still be caught: "ползователи" is "пользователи" misspelt.
        self._stands_for = {
            member: canonical
            for member, canonical in analyzer.word_synonyms().items()
            if canonical in vocabulary and member not in vocabulary
        }
        # Sorted: among equally close keys the first wins, so the order must not be the
        # set's, which changes with each process's string hashing.
        for key in sorted((*vocabulary, *self._stands_for)):
            if script(key) != "num":
                buckets.setdefault((key[0], len(key)), []).append(key)
        self._buckets = buckets
        self._correct = lru_cache(maxsize=65536)(self._correct_uncached)
        self._readers: dict[str, Callable[[str], str]] = {
            "plain": _as_typed,
            "layout": swap_layout_to_cyrillic,
            "translit": self._transliterate,
        }
        # A chunk reads the same way every time for a reading: words recur across messages.
        self._chunk = lru_cache(maxsize=16384)(self._chunk_uncached)
        self._glossary = Glossary(analyzer)
        self._lexicon = Glossary(analyzer, "lexicon.txt")

    def read(self, text: str) -> Query:
        text = " ".join(head_and_tail(text, MAX_QUERY_CHARS).split())
        lang = marked = detect_lang(text)
        chunks = text.split(" ")
        readers = self._readers
        best = "plain"
        if lang in ("lat", "en") and any(script(c) == "lat" for c in chunks):
            # English marker words ("the", "to") rule out reading by the dictionary alone.
            lenient = lang == "lat"
            ratios = {name: self._known_ratio(chunks, fn, lenient) for name, fn in readers.items()}
            best = max(ratios, key=lambda name: (ratios[name], name == "plain"))
            if ratios[best] <= ratios["plain"] + 0.15:
                best = "plain"
        read_chunks = [
            self._chunk(c, best) if len(c) <= _CACHED_CHUNK else self._read_chunk(c, readers[best])
            for c in chunks
        ]
        # A Latin chunk changes only by the reading chosen; a Cyrillic one only by a layout swap.
        repairs = [
            Repair(best if script(c) == "lat" else "layout", c, r)
            for c, r in zip(chunks, read_chunks, strict=True)
            if r != c
        ]
        if best != "plain":
            lang = "ru"
        elif lang == "lat":
            lang = "en"
        read_text = " ".join(read_chunks)
        trace = Trace()
        keyed = self._analyzer.keyed(tokenize(read_text), lang, trace)
        mixed = lang == "ru" and best == "plain"
        names = proper_names(text, self._analyzer.morph.is_word) if best == "plain" else frozenset()
        # Which language's common words stay as typed: a Latin word in a Russian question is
        # most often English ("open lines", "deal").
        words = "en" if lang == "ru" else lang
        keys = tuple(
            self._resolve(
                k, t, len(t) > 2 and (t in names or (mixed and script(t) == "lat")), words
            )
            for k, t in keyed
        )
        repairs.extend(Repair("typo", k.token, k.key) for k in keys if k.typed)
        readings: Readings = ()
        if best == "plain" and lang in ("en", "ro"):
            keys, readings = self._translated(read_text, lang, keys, repairs)
        return Query(
            read_text,
            keys,
            lang,
            tuple(repairs),
            tuple(trace.synonyms),
            tuple(trace.dropped),
            readings,
            marked if marked == lang else "",
        )

    def _translated(
        self, text: str, lang: str, keys: tuple[QueryKey, ...], repairs: list[Repair]
    ) -> tuple[tuple[QueryKey, ...], Readings]:
        """An English or Romanian question's product terms also asked as the Russian the
        documents use ("sales funnel" as "воронка продаж"); a term's own words are dropped when
        the index does not know them (they would only count as something not covered). Also
        each term's two readings when the index knows its own words too (Query.readings), for
        a Romanian question only: Romanian has a document of its own (the guide), while the
        Latin words an English question shares with the index are names and the guide's words
        scattered (measured: English questions read so lost help, 0.949 -> 0.888 with each
        entry judged by its reading alone, and gained nothing at matcher.OTHER_READING)."""
        tokens = tokenize(text)
        stems = self._analyzer.morph.keys(tokens, lang)
        term_weight = GLOSSARY_WEIGHT if lang == "en" else ROMANIAN_GLOSSARY_WEIGHT
        # (tokens covered, Russian keys, weight, the lexicon when the word is an ordinary one)
        found: list[tuple[range, tuple[str, ...], float, Glossary | None]] = [
            (span, russian, term_weight, None)
            for span, russian in self._glossary.find(tokens, stems, lang)
        ]
        taken = {i for span, *_ in found for i in span}
        stop = self._analyzer.is_stopword
        # An ordinary word is not read in one of the language's stop words ("intr" of
        # "într-un" is the stem of "intra", to enter).
        found += [
            (span, russian, LEXICON_WEIGHT, self._lexicon)
            for span, russian in self._lexicon.find(tokens, stems, lang)
            if not taken.intersection(span) and not all(stop(tokens[i]) for i in span)
        ]
        if not found:
            return keys, ()
        covered = {tokens[i] for span, *_ in found for i in span}
        out = [k for k in keys if k.known or k.token not in covered]
        have = {k.key for k in out}
        readings = []
        for span, russian, weight, source in sorted(found, key=lambda f: f[0].start):
            term = " ".join(tokens[i] for i in span)
            added = [k for k in russian if k in self._vocab and k not in have]
            own = {tokens[i] for i in span}
            own_keys = tuple(dict.fromkeys(k.key for k in keys if k.known and k.token in own))
            if lang == "ro" and own_keys and added:
                readings.append((own_keys, tuple(added)))
            out.extend(
                QueryKey(k, weight * (source.side(k) if source else 1.0), True, token=term)
                for k in added
            )
            have.update(added)
            if added:
                repairs.append(Repair("lexicon" if source else "glossary", term, " ".join(added)))
        return tuple(out), tuple(readings)

    def _known_ratio(
        self, chunks: list[str], reader: Callable[[str], str], lenient: bool = False
    ) -> float:
        """How well a reading of the Latin chunks fits: index keys count whole; when
        ``lenient``, a Russian word the index lacks, or a long near miss of a key, half
        ("polzovateli" is a dropped soft sign away from "пользователи"; "kak prigotovit plov"
        is Russian all the same)."""
        text = " ".join(reader(c) for c in chunks if script(c) == "lat")
        keyed = self._analyzer.keyed(tokenize(text))
        if not keyed:
            return 0.0
        known = 0.0
        for key, token in keyed:
            if key in self._vocab:
                known += 1.0
            elif (
                lenient
                and script(token) == "cyr"
                and (
                    self._analyzer.morph.is_word(token)
                    or (len(key) >= _MIN_NEAR_MISS and self._correct(key) is not None)
                )
            ):
                known += 0.5
        return known / len(keyed)

    def _transliterate(self, chunk: str) -> str:
        """Latin letters read as Russian; a word-initial "e" is "э" when only that makes a
        word ("ekran", "ekstranet"), as most people type both letters alike."""
        cyrillic = transliterate_to_cyrillic(chunk)
        return _INITIAL_E.sub(lambda m: self._initial_e(m.group(0)), cyrillic)

    def _initial_e(self, word: str) -> str:
        morph = self._analyzer.morph
        other = "э" + word[1:]
        if morph.is_word(word) or any(k in self._vocab for k in self._analyzer.keys(word)):
            return word
        if morph.is_word(other) or any(k in self._vocab for k in self._analyzer.keys(other)):
            return other
        return word

    def _chunk_uncached(self, chunk: str, reading: str) -> str:
        return self._read_chunk(chunk, self._readers[reading])

    def _read_chunk(self, chunk: str, reader: Callable[[str], str]) -> str:
        kind = script(chunk)
        if kind == "lat":
            other = reader(chunk)
            if other == chunk:
                return chunk
            plain, alternative = self._fits(chunk, "en"), self._fits(other, "ru")
            # A chunk that reads both ways ("domen", "d", "li") follows the rest of the message,
            # which is Russian typed in Latin letters; a Latin name only when it alone fits
            # ("ip", "crm").
            return other if alternative or not plain else chunk
        if kind == "cyr":
            if all(self._analyzer.morph.is_word(t) for t in tokenize(chunk)):
                return chunk
            keys = self._analyzer.keys(chunk)
            if keys and not any(k in self._vocab for k in keys):
                swapped = swap_layout_to_latin(chunk)
                latin = self._analyzer.keys(swapped, "en")
                if latin and all(k in self._vocab for k in latin):
                    return swapped
        return chunk

    def _fits(self, text: str, lang: str) -> bool:
        """Every token of ``text`` is a stop word or a key the index knows."""
        tokens = tokenize(text)
        return bool(tokens) and all(
            key in self._vocab for key, _ in self._analyzer.keyed(tokens, lang)
        )

    def _resolve(self, key: str, token: str, name: bool = False, words: str = "en") -> QueryKey:
        morph = self._analyzer.morph
        if key in self._vocab:
            weight = NUMBER_WEIGHT if key.isdigit() else morph.weight(token)
            return QueryKey(key, weight, True, name, token)
        # A dictionary word is spelt right: it is just not in the knowledge base ("перекинуть"
        # must not become "передвинуть", nor "several" "server"). Latin words are looked up
        # among the common words of ``words``, the question's language.
        if morph.is_word(token):
            return QueryKey(key, morph.weight(token), False, name, token)
        if LATIN_WORDS_KEPT and script(token) == "lat" and morph.is_common(token, words):
            # Only a longer form of the same stem may stand for it ("testa" for "testat").
            longer = self._inflected(key) if len(token) >= _MIN_INFLECTED else None
            if longer is None:
                return QueryKey(key, 1.0, False, name, token)
            return QueryKey(longer, TYPO_WEIGHT, True, name, token, typed=key)
        fixed = self._correct(key)
        if fixed is None:
            return QueryKey(key, 1.0, False, name, token)
        side = fixed in self._side_keys
        weight = TYPO_WEIGHT * (SIDE_WORD_WEIGHT if side else 1.0)
        return QueryKey(fixed, weight, True, name, token, typed=key, side_typo=side)

    def _inflected(self, key: str) -> str | None:
        """A vocabulary key that is ``key`` and one or two letters more: a form of the same
        word the stemmer left longer (Romanian participles: "testat" beside "testa")."""
        for size in (len(key) + 1, len(key) + 2):
            for candidate in self._buckets.get((key[0], size), ()):
                if candidate.startswith(key):
                    return self._stands_for.get(candidate, candidate)
        return None

    def _correct_uncached(self, key: str) -> str | None:
        """The closest vocabulary key for a misspelt one, or None when nothing is close."""
        if len(key) < _MIN_TYPO_LEN or script(key) == "num":
            return None
        cutoff = 75.0 if len(key) < 5 else 80.0
        candidates: list[str] = []
        for size in range(len(key) - 2, len(key) + 3):
            candidates.extend(self._buckets.get((key[0], size), ()))
        if not candidates:
            return None
        found = process.extractOne(
            key, candidates, scorer=fuzz.ratio, score_cutoff=cutoff, processor=None
        )
        if found is None:
            return None
        return self._stands_for.get(str(found[0]), str(found[0]))


_WORD = re.compile(r"[^\W\d_][\w-]*")


def _as_typed(chunk: str) -> str:
    return chunk


def _starts_sentence(text: str, at: int) -> bool:
    i = at - 1
    while i >= 0 and text[i].isspace():
        i -= 1
    return i < 0 or text[i] in ".!?…"


# Marks that open a quotation when written right before a word.
_OPENING_QUOTES = frozenset('«„“‘"')


def proper_names(text: str, is_word: Callable[[str], bool] | None = None) -> frozenset[str]:
    """Folded words written as names: capitalised inside a sentence ("from HubSpot"),
    or with a capital inside ("BitrixGPT"). A quotation starts with a capital as a sentence
    does, so a word of the language (``is_word``) opening one is an interface label or an
    example value («Заключение контракта», «Все открытые», например «Выставка»), not a name;
    one the dictionary does not know still is («Мегаплан»)."""
    found = set()
    for match in _WORD.finditer(text):
        word = match.group(0)
        if word.islower():
            continue  # most words: no capital anywhere
        inner_capital = any(ch.isupper() for ch in word[1:]) and not word.isupper()
        at = match.start()
        quoted = at > 0 and text[at - 1] in _OPENING_QUOTES
        if quoted and is_word is not None and is_word(word.casefold()):
            continue
        capitalised = word[0].isupper() and not _starts_sentence(text, at)
        if inner_capital or (capitalised and len(word) > 2):
            found.update(tokenize(word))
    return frozenset(found)


_ANY_WORD = re.compile(r"\w+")


def repaired_text(query: Query) -> str:
    """The message as read with every repair applied: keyboard layout and transliteration
    undone (``query.text``) and each misspelt word replaced by the index key it was read as
    (glossary terms are left as written: they are not misreadings)."""
    typos = {r.original: r.repaired for r in query.repairs if r.kind == "typo"}
    if not typos:
        return query.text
    return _ANY_WORD.sub(lambda m: typos.get(fold(m.group()), m.group()), query.text)
