"""The inverted index: BM25F over weighted fields with impact-ordered, truncated postings."""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from knowledge.analyzer import Analyzer
from knowledge.model import Entry
from knowledge.text import detect_lang, tokenize, written_language

# Field weights: titles and question-like headings say what an entry answers; the body only
# mentions things. Breadcrumbs and menu paths place the entry.
FIELD_WEIGHTS: dict[str, float] = {
    "title": 3.0,
    "questions": 2.5,
    "breadcrumb": 0.8,
    "path": 1.2,
    "summary": 1.2,
    "body": 1.0,
}
_TEXT_FIELDS = ("title", "questions", "summary", "body")
_HEAD_FIELDS = _TEXT_FIELDS[:-1]
_K1 = 1.2
_B = 0.6
# Candidate step: only the highest-impact postings of each key are read, so a query's cost is
# bounded by the number of its keys, not by the size of the corpus.
POSTINGS_PER_KEY = 400
# Word families: a verb and its noun keep different stems ("напомина"/"напоминан",
# "внедря"/"внедрен"); their shared beginning is indexed as a weaker key of its own.
PREFIX_LEN = 5
PREFIX_FACTOR = 0.5
_PREFIX_MARK = "~"


def prefix_key(key: str) -> str | None:
    """The family key of a long Cyrillic key, or None."""
    if len(key) <= PREFIX_LEN or not ("а" <= key[0] <= "я"):
        return None
    return _PREFIX_MARK + key[:PREFIX_LEN]


@dataclass(frozen=True, slots=True)
class IndexedEntry:
    """What the matcher needs of an entry besides its postings."""

    entry: Entry
    title_keys: tuple[str, ...]
    head_keys: frozenset[str]  # keys of the title and the question-like headings


def entry_fields(entry: Entry) -> dict[str, str]:
    return {
        "title": entry.title,
        "questions": "\n".join(entry.questions),
        # A help-desk page is indexed under the compilation's topic, as before its breadcrumb
        # became the help desk's trail: indexing the trail lost dev and realistic two questions
        # each (docs/quality.md, round 16b).
        "breadcrumb": entry.category or " ".join(entry.breadcrumb),
        "path": entry.path,
        "summary": entry.summary,
        "body": "\n".join((*entry.steps, entry.body)),
    }


def _field_keys(entry: Entry, analyzer: Analyzer, lang: str) -> dict[str, list[str]]:
    """The keys of each field of an entry, in the language its text is written in."""
    return _keys_and_lines(entry, analyzer, lang)[0]


def _keys_and_lines(
    entry: Entry, analyzer: Analyzer, lang: str, weights: dict[str, float] | None = None
) -> tuple[dict[str, list[str]], list[list[str]]]:
    """The fields' keys, and the keys of each line of the body field (steps, then the body's
    lines): the body is keyed line by line, as its answers read it. ``weights``, when given,
    keeps for each key the most a word keyed to it weighs (Morphology.weight)."""
    fields = entry_fields(entry)
    texts = [text for name, text in fields.items() if name != "body"]
    texts += [*entry.steps, *entry.body.split("\n")]
    keyed = [analyzer.keyed(tokenize(text), lang) for text in texts]
    if weights is not None:
        weigh = analyzer.morph.weight
        for key, token in itertools.chain.from_iterable(keyed):
            if weights.get(key, 0.0) < 1.0:
                weights[key] = max(weights.get(key, 0.0), weigh(token))
    named = [name for name in fields if name != "body"]
    keys = {n: [k for k, _ in pairs] for n, pairs in zip(named, keyed[: len(named)], strict=True)}
    lines = [[k for k, _ in pairs] for pairs in keyed[len(named) :]]
    keys["body"] = [k for line in lines for k in line]
    return keys, lines


def _weighted_counts(
    fields: dict[str, list[str]], avg_len: dict[str, float]
) -> Iterator[tuple[str, str, float]]:
    """(field, key, weighted count) for each key and word family of an entry's fields: what the
    field adds to the key's pseudo term frequency (its weight, normalised by the field's length)."""
    for name, keys in fields.items():
        if not keys:
            continue
        norm = 1 - _B + _B * len(keys) / avg_len[name]
        weight = FIELD_WEIGHTS[name] / norm
        for key, count in Counter(keys).items():
            yield name, key, weight * count
            family = prefix_key(key)
            if family is not None:
                yield name, family, weight * count * PREFIX_FACTOR


class Index:
    """BM25F scores of entries for a bag of query keys; also the vocabulary with frequencies."""

    def __init__(self, entries: Sequence[Entry], analyzer: Analyzer) -> None:
        self.entries = tuple(entries)
        self._analyzer = analyzer
        field_keys: list[dict[str, list[str]]] = []
        infos: list[IndexedEntry] = []
        sequences: list[tuple[str, ...]] = []
        langs: list[str] = []
        weights: dict[str, float] = {}
        for entry in self.entries:
            lang = detect_lang(f"{entry.title}\n{entry.body[:2000]}")
            langs.append(lang)
            keys, lines = _keys_and_lines(entry, analyzer, lang, weights)
            field_keys.append(keys)
            head = (*keys["title"], *keys["questions"])
            infos.append(IndexedEntry(entry, tuple(keys["title"]), frozenset(head)))
            sequences.append(
                tuple(
                    k
                    for part in (*(keys[name] for name in _HEAD_FIELDS), *lines)
                    for k in (*part, "")
                )
            )
        self.infos = tuple(infos)
        # The language each entry is written in, as its keys were made ("lat" for Latin text
        # with no marker words).
        self.langs = tuple(langs)
        # Each entry's keys in the order its text has them ("" after each field before the
        # body and after each line of the body), for what stands together: a question's word
        # pairs found side by side in the entry; and each body line's keys for its answers.
        self.sequences = tuple(sequences)
        self.line_keys = lru_cache(maxsize=4096)(self._line_keys)
        # About 6 KiB an entry: a thousand cover the real corpus four times over.
        self.positions = lru_cache(maxsize=1024)(self._positions)
        self._build(field_keys)
        # The keys that only verbs, adverbs and the like make in the corpus: a misspelt question
        # word read as one of them is a side word too (QueryReader).
        self.side_keys = frozenset(k for k, w in weights.items() if w < 1.0)

    def _line_keys(self, doc: int) -> tuple[frozenset[str], ...]:
        """The keys of each line of an entry's body (``entry.body.split("\\n")``), as indexed."""
        parts: list[list[str]] = [[]]
        for key in self.sequences[doc]:
            if key:
                parts[-1].append(key)
            else:
                parts.append([])
        skip = len(_HEAD_FIELDS) + len(self.entries[doc].steps)
        return tuple(frozenset(part) for part in parts[skip:-1])

    def _positions(self, doc: int) -> dict[str, tuple[int, ...]]:
        """Where each key stands in the entry's sequence (:attr:`sequences`), in order."""
        found: dict[str, list[int]] = defaultdict(list)
        for i, key in enumerate(self.sequences[doc]):
            if key:
                found[key].append(i)
        return {key: tuple(places) for key, places in found.items()}

    def _build(self, field_keys: list[dict[str, list[str]]]) -> None:
        n = max(len(field_keys), 1)
        self._avg_len = avg_len = {
            name: max(sum(len(fk[name]) for fk in field_keys) / n, 1.0) for name in FIELD_WEIGHTS
        }
        postings: dict[str, list[tuple[float, int]]] = defaultdict(list)
        doc_keys: list[frozenset[str]] = []
        for doc, fields in enumerate(field_keys):
            pseudo_tf: dict[str, float] = defaultdict(float)
            for _, key, amount in _weighted_counts(fields, avg_len):
                pseudo_tf[key] += amount
            for key, tf in pseudo_tf.items():
                postings[key].append((tf / (_K1 + tf), doc))
            doc_keys.append(frozenset(pseudo_tf))
        self.doc_keys = tuple(doc_keys)
        self.doc_freq = {key: len(plist) for key, plist in postings.items()}
        self.idf = {
            key: math.log(1 + (n - df + 0.5) / (df + 0.5)) for key, df in self.doc_freq.items()
        }
        self.max_idf = math.log(1 + (n + 0.5) / 0.5)
        # A key that only entries of a minority of the corpus hold, by their languages (the
        # Romanian guide's "structur"), with its idf among the entries of those languages: how
        # rare it is where it can be met. The majority's keys keep the corpus idf: shifting
        # every Russian-only key too gave the pool's English questions 0.944 helped, not 0.951.
        # Languages named as a question's are (written_language: an English article's "lat" is
        # "en"), so that an English question meets an English article's keys at their own idf.
        self.written = written = tuple(written_language(lang) for lang in self.langs)
        in_lang = Counter(written)
        key_langs: dict[str, set[str]] = defaultdict(set)
        for doc, keys in enumerate(doc_keys):
            for key in keys:
                key_langs[key].add(written[doc])
        self.local_idf: dict[str, tuple[frozenset[str], float]] = {}
        for key, held in key_langs.items():
            local_n = sum(in_lang[lang] for lang in held)
            if local_n * 2 < n:
                df = self.doc_freq[key]
                idf = math.log(1 + (local_n - df + 0.5) / (df + 0.5))
                self.local_idf[key] = (frozenset(held), idf)
        # Each title's distinct keys with their idf, and their sum.
        self.title_idf = tuple(
            (pairs, sum(w for _, w in pairs))
            for pairs in (
                tuple((k, self.idf[k]) for k in dict.fromkeys(fields["title"]))
                for fields in field_keys
            )
        )
        # Each key's postings as two columns, the entries and their impacts, highest first.
        self._postings: dict[str, tuple[tuple[int, ...], tuple[float, ...]]] = {}
        for key, plist in postings.items():
            kept = sorted(plist, reverse=True)[:POSTINGS_PER_KEY]
            self._postings[key] = (tuple(d for _, d in kept), tuple(i for i, _ in kept))
        self.vocabulary = frozenset(k for k in self._postings if not k.startswith(_PREFIX_MARK))

    def key_idf(self, key: str) -> float:
        return self.idf.get(key, self.max_idf)

    def asked_idf(self, key: str, lang: str) -> float:
        """A key's rarity for a question in ``lang``: when only entries of a minority language
        hold it, and none in ``lang``, its idf among the entries that do. An English question's
        "structure" meets only the Romanian guide's "structurii", a Latin stem shared by chance:
        rare in the corpus, since few entries are Romanian, but common among them."""
        local = self.local_idf.get(key)
        if local is None or lang in local[0]:
            return self.key_idf(key)
        return local[1]

    def score(self, weighted_keys: Iterable[tuple[str, float]]) -> dict[int, float]:
        """BM25F score per entry position for keys with query-side weights, the entries in the
        order the keys' postings first reach them (heapq.nlargest breaks ties by that order)."""
        scores = [0.0] * len(self.entries)
        reached: list[tuple[int, ...]] = []
        for key, weight in weighted_keys:
            columns = self._postings.get(key)
            if columns is None:  # a key no entry has
                continue
            docs, impacts = columns
            idf = self.idf[key] * weight
            # A list indexed by entry, not a dict: a third of the cost of a question's scores.
            for doc, impact in zip(docs, impacts, strict=True):
                scores[doc] += idf * impact
            reached.append(docs)
        return {doc: scores[doc] for doc in dict.fromkeys(itertools.chain.from_iterable(reached))}

    def field_scores(
        self, doc: int, weighted_keys: Iterable[tuple[str, float]]
    ) -> dict[str, float]:
        """The entry's part of :meth:`score` split by field: each key's impact shared among the
        fields in proportion to what each added to its pseudo term frequency. (For explaining a
        match: the entry's fields are keyed again, so it costs what indexing the entry did.)"""
        by_key: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        fields = _field_keys(self.entries[doc], self._analyzer, self.langs[doc])
        for name, key, amount in _weighted_counts(fields, self._avg_len):
            by_key[key][name] += amount
        out: dict[str, float] = defaultdict(float)
        for key, weight in weighted_keys:
            docs, impacts = self._postings.get(key, ((), ()))
            impact = next((i for i, d in zip(impacts, docs, strict=True) if d == doc), 0.0)
            shares = by_key.get(key)
            if not impact or not shares:
                continue
            whole = sum(shares.values())
            for name, amount in shares.items():
                out[name] += self.idf[key] * weight * impact * amount / whole
        return {name: out[name] for name in FIELD_WEIGHTS if name in out}
