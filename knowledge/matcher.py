"""Ranks entries for a query: BM25F candidates, then coverage and fuzzy rescoring to 0..1."""

from __future__ import annotations

import heapq
import itertools
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from operator import itemgetter
from typing import Protocol

from rapidfuzz import fuzz, process

from knowledge.index import PREFIX_FACTOR, PREFIX_LEN, Index, prefix_key
from knowledge.model import Match
from knowledge.query import Query

CANDIDATES = 40
SCORED_KEYS = 12
# A key the index has never seen weighs like this fraction of the rarest key: a question about
# "HubSpot" or "сдэк" is mostly about something the knowledge base does not cover.
UNKNOWN_WEIGHT = 0.7
LONG_QUERY_KEYS = 6
# Scores this close are a tie between an unlinked section and a linked article.
OPENABLE_TIE = 0.02
# Two keys this far apart or closer in an entry's text stand together: up to three keys
# between, as a noun with its attributes («права доступа к CRM‑формам», «статусов для лидов»)
# spreads a question's word pair that far.
PAIR_SPAN = 4
# The top candidate and the runners-up whose titles are compared with its title ...
RIVALS = 3
# ... when they score this close to it.
GENERAL_TIE = 0.15
# A title asked about by this much more (as a share of its rarity) is the more general one.
GENERAL_GAIN = 0.05
# The first candidates whose scores also count how many of the question's word pairs stand
# together in them (reading each entry's whole text costs too much for all forty).
NEAR_RIVALS = 5
# Candidates ranked again without the question's heaviest key (Matcher.stays_first): the
# first place among ten differs from that among forty for 1 of 709 questions, at half the cost.
STAYS_CANDIDATES = 10
# A Romanian question's term meets the Romanian guide by its own words and a Russian article by
# its Russian ones, never both (Query.readings): an entry's coverage and BM25F part leave this
# share of the other reading's mass out of the whole they are a share of. 0.3, 0.5 and 0.7 gave
# the pool the same help and «did you mean» rate (nested cross-validation, 8 fold splits); 1.0
# (each entry judged by its own reading alone) made Romanian answers more confident than right.
OTHER_READING = 0.3


@dataclass(frozen=True, slots=True)
class Weights:
    """How the parts of a candidate's score add up (they sum to 1). The score orders the
    candidates and is one feature of the calibrated confidence (knowledge/confidence.py); it
    is not itself a probability."""

    bm25: float = 0.40
    coverage: float = 0.10
    head: float = 0.20
    fuzzy: float = 0.30
    # The confidence is multiplied by known**unknown_power: the share of the question the index
    # knows at all (what is left is something the knowledge base does not cover) ...
    unknown_power: float = 1.0
    # ... and by (keys / LONG_QUERY_KEYS)**length_power for a long question, whose many side
    # words lower every part above although its question is as answerable as a short one.
    length_power: float = 0.45
    # ... and by (evidence / evidence_mass)**evidence_power below that mass, where evidence is
    # the summed rarity (idf, in units of the rarest possible key's idf, so that it does not
    # depend on the corpus size) of the keys the question and the entry share: a few common
    # words in common ("новый год", "настроить сайт") are weak evidence of an answer.
    evidence_mass: float = 1.0
    evidence_power: float = 1.0
    # The bar never drops below this, however common the question's own words are.
    evidence_floor: float = 0.5
    # A key shared with the entry's title counts this much more as evidence.
    evidence_head_bonus: float = 0.0
    # ... and by 1 - name_penalty x the share of the question's product names ("postgresql",
    # "google analytics" in a Russian question) that the entry never mentions: a question about
    # another product is not answered by an article that shares only its other words.
    name_penalty: float = 0.5
    # A candidate's score gains this share of the question's neighbouring word pairs that
    # stand together in it ("статусы лида", "открыть лид"), as a share of 1 + proximity so that
    # it stays within 0..1: an entry that uses the question's words as the question does is
    # more about it than one that has them scattered over its sections.
    proximity: float = 0.1
    # A candidate's score gains this share of a second kind of evidence, the question's
    # likeness to the entry by a :class:`Likeness` given to the matcher (0..1), as a share of
    # 1 + likeness: none is shipped; bench/evidence.py measures the ones tried.
    likeness: float = 0.0
    # Whether that evidence may move the first place too; when not, it orders only the places
    # after the first (the choices of a «did you mean»), each keeping its own score.
    likeness_first: bool = True

    def scorer(
        self, known: float, length: int, asked: float
    ) -> Callable[[tuple[float, float, float, float], float, float, float], float]:
        """How a candidate of one question scores from its parts (bm25, coverage, head, fuzzy),
        its evidence, the part of it shared with its title and its share of the question's
        product names it never mentions; what depends on the question alone (its known share,
        length and rarity) worked out once. ``asked``: the rarity of the whole question in the
        same units as the evidence; a question made only of common words ("как создать
        сделку") cannot share more."""
        stretch: float = max(1.0, length / LONG_QUERY_KEYS) ** self.length_power
        penalty: float = known**self.unknown_power
        bar = max(min(self.evidence_mass, max(asked, self.evidence_floor)), 1e-9)
        w_bm25, w_coverage, w_head, w_fuzzy = self.bm25, self.coverage, self.head, self.fuzzy
        head_bonus, evidence_power = self.evidence_head_bonus, self.evidence_power
        name_penalty = self.name_penalty

        def score(
            parts: tuple[float, float, float, float],
            evidence: float,
            titled: float,
            names_missed: float,
        ) -> float:
            evidence += head_bonus * titled
            bm25, coverage, head, fuzzy = parts
            relevance = w_bm25 * bm25 + w_coverage * coverage + w_head * head + w_fuzzy * fuzzy
            weak: float = min(1.0, evidence / bar) ** evidence_power
            other_product = 1.0 - name_penalty * names_missed
            return min(1.0, relevance * penalty * stretch * weak * other_product)

        return score

    def near(self, score: float, phrases: float) -> float:
        """A score with the share of the question's word pairs the entry has together."""
        return (score + self.proximity * phrases) / (1.0 + self.proximity)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate with its score and the parts it was made of (the confidence's features)."""

    doc: int
    score: float
    bm25: float
    coverage: float
    head: float
    fuzzy: float
    known: float
    length: int
    evidence: float  # shared rarity, in units of the rarest key's idf
    titled: float  # the part of it shared with the entry's title
    names_missed: float
    asked: float  # the question's own rarity, in the same units as evidence
    # Measured for the top candidate only (0.0 for the others), as only the confidence reads
    # them: the share of the entry's title (by rarity) that the question has, as a title only
    # partly asked about ("Как создать чат о просроченной задаче" for "как создать задачу") is
    # a more specific entry than the question; and the share of the question's neighbouring
    # word pairs that stand together in the entry too, its words used as the question uses
    # them rather than scattered over its parts.
    title_asked: float = 0.0
    phrases: float = 0.0
    size: int = 0  # the entry's length in keys
    # Set by :meth:`Matcher.stays_first` (1.0 or 0.0): whether the entry is still first
    # without the question's heaviest key.
    stays: float = 0.0
    # 1.0 when the question is written in another language than the (top) entry: its evidence
    # then comes through the glossary's product terms only.
    crossed: float = 0.0


# An entry's head keys as word families, its title's keys as (family, idf) pairs, and the sum
# of those idf (Matcher._entry_families).
_Families = tuple[frozenset[str], tuple[tuple[str, float], ...], float]

# A candidate while it is ranked, before it becomes a Ranked: score, entry, the parts of the
# score (bm25, coverage, head, fuzzy), evidence, titled, names missed and phrases (as in Ranked).
_Row = tuple[float, int, tuple[float, float, float, float], float, float, float, float]


@dataclass(frozen=True, slots=True)
class Asked:
    """What the matcher makes of a question before it looks at any entry."""

    mass: dict[str, float]  # each known key: idf x how often and how surely the question has it
    total: float
    known: float  # the share of the question (by weight) that the index knows at all
    postings: list[tuple[str, float]]  # the keys that choose the candidates, with their weights
    scored_total: float  # the mass of those keys: a BM25F score of this much is a full match


class Likeness(Protocol):
    """Evidence of another kind than the index's keys: how alike a question and an entry are
    (0..1), e.g. by vectors that know paraphrases."""

    def prepare(self, query: Query) -> Callable[[int], float] | None:
        """The question's likeness to each entry (by its number in the index), or None."""


def _written(lang: str) -> str:
    """An entry's language as a question's is named (Latin text without markers: English)."""
    return "en" if lang == "lat" else lang


class Matcher:
    """Scores candidate entries of one index."""

    def __init__(
        self, index: Index, weights: Weights | None = None, likeness: Likeness | None = None
    ) -> None:
        self._index = index
        self.weights = weights or Weights()
        self._likeness = likeness
        # Each entry's title keys as one string, for the fuzzy title likeness.
        self._titles = tuple(" ".join(info.title_keys) for info in index.infos)
        # The word families of the entries met among the first candidates (_most_general).
        self._families = lru_cache(maxsize=4096)(self._entry_families)

    def rank(
        self, query: Query, limit: int = 10, exclude: frozenset[str] = frozenset()
    ) -> list[Match]:
        return [
            Match(self._index.entries[r.doc], round(r.score, 4))
            for r in self.rank_raw(query, limit, exclude)
        ]

    def rank_raw(
        self,
        query: Query,
        limit: int = 10,
        exclude: frozenset[str] = frozenset(),
        candidates: int = CANDIDATES,
    ) -> list[Ranked]:
        weighed = self.weigh(query)
        if weighed is None:
            return []
        return self._ranked(query, weighed, limit, exclude, candidates)

    def rank_with_stays(
        self, query: Query, limit: int = 10, exclude: frozenset[str] = frozenset()
    ) -> list[Ranked]:
        """:meth:`rank_raw` with the top candidate's ``stays`` set (:meth:`stays_first`), the
        question weighed once for both."""
        weighed = self.weigh(query)
        if weighed is None:
            return []
        ranked = self._ranked(query, weighed, limit, exclude, CANDIDATES)
        if ranked:
            ranked[0] = self._stays(query, weighed, ranked[0], exclude)
        return ranked

    def stays_first(
        self, query: Query, ranked: Sequence[Ranked], exclude: frozenset[str] = frozenset()
    ) -> Ranked:
        """The top candidate with ``stays``: 1.0 when it is still first once the question's
        heaviest key (by rarity x weight) is left out, else 0.0. An entry first only through
        that one rare word has little for the rest of the question: «уезжаю в отпуск, как
        поставить автоответ на свою почту» reaches the open-lines article through «автоответ»
        alone, a thing the base does not explain. A question of one key: 1.0."""
        weighed = self.weigh(query)
        if weighed is None:
            return replace(ranked[0], stays=1.0)
        return self._stays(query, weighed, ranked[0], exclude)

    def _stays(self, query: Query, weighed: Asked, top: Ranked, exclude: frozenset[str]) -> Ranked:
        """:meth:`stays_first` for a question already weighed. The second ranking is that of
        :meth:`rank_raw` over STAYS_CANDIDATES candidates, up to its first place only: the top
        entry cannot be first again when it is not among those candidates at all."""
        if len(weighed.mass) < 2:
            return replace(top, stays=1.0)
        heaviest = max(weighed.mass.items(), key=lambda item: (item[1], item[0]))[0]
        rest = replace(query, keys=tuple(k for k in query.keys if k.key != heaviest))
        again = self.weigh(rest)
        stays = False
        if again is not None:
            top_rest = self._candidates(again, STAYS_CANDIDATES, exclude)
            if any(doc == top.doc for doc, _ in top_rest):
                order, _, _ = self._order(rest, again, top_rest, exclude)
                stays = bool(order) and order[0][1] == top.doc
        return replace(top, stays=float(stays))

    def _ranked(
        self,
        query: Query,
        weighed: Asked,
        limit: int,
        exclude: frozenset[str],
        candidates: int,
    ) -> list[Ranked]:
        top = self._candidates(weighed, candidates, exclude)
        order, general, title_shares = self._order(query, weighed, top, exclude)
        known, length, asked = weighed.known, len(query.keys), self._asked(weighed)
        sequences, langs = self._index.sequences, self._index.langs
        # Only the top candidate carries its title's share asked and its size.
        return [
            Ranked(
                doc,
                score,
                *parts,
                known,
                length,
                evidence,
                titled,
                missed,
                asked,
                title_shares[general] if n == 0 else 0.0,
                phrases,
                len(sequences[doc]) if n == 0 else 0,
                crossed=float(n == 0 and query.lang != _written(langs[doc])),
            )
            for n, (score, doc, parts, evidence, titled, missed, phrases) in enumerate(
                order[:limit]
            )
        ]

    def _candidates(
        self, weighed: Asked, candidates: int, exclude: frozenset[str]
    ) -> list[tuple[int, float]]:
        """The entries with the best BM25F scores, with those scores (``exclude`` not left out
        yet: room is made for as many more)."""
        bm = self._index.score(weighed.postings)
        return heapq.nlargest(candidates + len(exclude), bm.items(), key=itemgetter(1))

    def _asked(self, weighed: Asked) -> float:
        """The question's own rarity (numbers aside), in units of the rarest key's idf."""
        specific = sum(m for k, m in weighed.mass.items() if not k.isdigit())
        return specific / self._index.max_idf

    def _order(
        self,
        query: Query,
        weighed: Asked,
        top: list[tuple[int, float]],
        exclude: frozenset[str],
    ) -> tuple[list[_Row], int, list[float]]:
        """The candidates scored and put in their final order (word pairs, an openable article
        before a section, the most general title first), as rows; and which of the first
        RIVALS was moved first as the most general, with each one's share of its title asked."""
        index = self._index
        weighted, mass, total, known = query.weighted, weighed.mass, weighed.total, weighed.known
        scored_total = weighed.scored_total
        families: dict[str, list[str]] = defaultdict(list)
        for k in mass:
            if (family := prefix_key(k)) is not None:
                families[family].append(k)
        specific = {k: m for k, m in mass.items() if not k.isdigit()}
        names = {qk.key for qk in query.keys if qk.name}
        asked = sum(specific.values()) / index.max_idf
        query_keys = " ".join(k for k, _ in weighted if not k.isdigit())
        # A short title's letter-level likeness to a long story is chance ("Как удалить
        # Битрикс24" to a story about calls): it counts in proportion to the question's length.
        damp = min(1.0, LONG_QUERY_KEYS / max(len(query.keys), 1))
        rows: list[_Row] = []
        length = len(query.keys)
        max_idf = index.max_idf
        score_of = self.weights.scorer(known, length, asked)
        # One call for every candidate's title: the question is prepared once, not per title.
        likeness = process.extract(
            query_keys,
            [self._titles[doc] for doc, _ in top],
            scorer=fuzz.token_set_ratio,
            limit=None,
        )
        title_likeness = [0.0] * len(top)
        for _, ratio, n in likeness:
            title_likeness[n] = ratio
        like = after = None
        if self._likeness is not None and self.weights.likeness:
            like = self._likeness.prepare(query)
            if not self.weights.likeness_first:
                like, after = None, like
        share = self.weights.likeness
        readings = _readings(query, weighed)
        infos, all_doc_keys, entries = index.infos, index.doc_keys, index.entries
        mass_of = mass.__getitem__
        # A question without numbers among its keys has all its mass specific: the sums over
        # one serve for the other (the same additions, in the same order).
        plain = len(specific) == len(mass)
        for (doc, bm_score), ratio in zip(top, title_likeness, strict=True):
            if exclude and entries[doc].id in exclude:
                continue
            doc_keys = all_doc_keys[doc]
            whole, scored_whole = total, scored_total
            if readings:
                other, other_scored = _other_reading(readings, doc_keys)
                other, other_scored = other * OTHER_READING, other_scored * OTHER_READING
                whole = total - other
                if scored_total - other_scored > 0:
                    scored_whole = scored_total - other_scored
            covered, evidence = _credited(mass, specific, families, doc_keys, plain)
            in_head = infos[doc].head_keys.intersection(mass)
            head_mass = sum(map(mass_of, in_head), 0.0)
            head = head_mass / whole
            if not plain:
                head_mass = sum([specific[k] for k in in_head if k in specific], 0.0)
            titled = head_mass / max_idf
            fuzzy = ratio / 100 * damp
            bm_part = min(bm_score / scored_whole, 1.0)
            missed = len(names - doc_keys) / len(names) if names else 0.0
            parts = (bm_part, min(covered / whole, 1.0), head, fuzzy)
            evidence /= max_idf
            score = score_of(parts, evidence, titled, missed)
            if like is not None:
                score = (score + share * like(doc)) / (1.0 + share)
            rows.append((score, doc, parts, evidence, titled, missed, 0.0))
        _sort(rows)
        rows = self._nearness(query, rows)
        if len(rows) > 1 and self._openable_first(rows[0], rows[1], mass):
            rows[0], rows[1] = rows[1], rows[0]
        if not rows:
            return rows, 0, []
        general, title_shares = _most_general(rows, mass, self._families)
        if general:
            rows.insert(0, rows.pop(general))
        if after is not None:
            rows[1:] = sorted(rows[1:], key=lambda r: (-round(r[0] + share * after(r[1]), 9), r[1]))
        return rows, general, title_shares

    def _entry_families(self, doc: int) -> _Families:
        """The word families (:func:`_family`) of an entry's head keys, and its title's keys
        as (family, idf) pairs in the order of :attr:`Index.title_idf`, with their sum."""
        title_keys, title_mass = self._index.title_idf[doc]
        return (
            frozenset(_family(k) for k in self._index.infos[doc].head_keys),
            tuple((_family(k), w) for k, w in title_keys),
            title_mass,
        )

    def _nearness(self, query: Query, rows: list[_Row]) -> list[_Row]:
        """The first NEAR_RIVALS candidates rescored with their word pairs together (kept as
        ``phrases``), and every score brought to the same scale. A question without a pair of
        known words has nothing to stand together: its scores stay as they are."""
        asked = _asked_pairs(query)
        if not asked:
            return rows
        index = self._index
        near = self.weights.near
        weight = [index.key_idf(a) + index.key_idf(b) for a, b in asked]
        whole = sum(weight)
        first = [
            (near(score, pairs), doc, parts, evidence, titled, missed, pairs)
            for score, doc, parts, evidence, titled, missed, _ in rows[:NEAR_RIVALS]
            for pairs in (_phrases(asked, weight, whole, index.positions(doc)),)
        ]
        _sort(first)
        return first + [
            (near(score, 0.0), doc, parts, evidence, titled, missed, phrases)
            for score, doc, parts, evidence, titled, missed, phrases in rows[NEAR_RIVALS:]
        ]

    def _openable_first(self, top: _Row, second: _Row, mass: dict[str, float]) -> bool:
        """A helpdesk article the person can open beats a section without a link that it
        all but ties with, on the same topic: the article's head (its title and question-like
        headings, ``head_keys``) holds the heaviest of the question's keys that the section's
        head holds. Otherwise the section's head names what the article's does not («13. Диск
        Битрикс24» against «Как удалить Битрикс24» for a question about the drive), and the
        section stays first. Heads written in two languages share no keys to compare (the
        Romanian guide's «companiei», an article's «компании»): there the article goes first
        as before."""
        index = self._index
        entries, infos = index.entries, index.infos
        if entries[top[1]].url or not entries[second[1]].url or top[0] - second[0] > OPENABLE_TIE:
            return False
        if index.langs[top[1]] != index.langs[second[1]]:
            return True
        titled = infos[top[1]].head_keys.intersection(mass)
        heaviest = max(titled, key=lambda k: (mass[k], k), default=None)
        return heaviest is None or heaviest in infos[second[1]].head_keys

    def weigh(self, query: Query) -> Asked | None:
        """The question's keys weighed against the index; None when it knows none of them."""
        index = self._index
        weighted = query.weighted
        if not weighted:
            return None
        # Each distinct key with its weight: idf x how often and how surely the question has it;
        # an English question's key that only entries in another language hold weighs by its
        # rarity among them (Index.asked_idf).
        mass: dict[str, float] = defaultdict(float)
        if query.marked == "en":
            for k, w in weighted:
                mass[k] += index.asked_idf(k, "en") * w
        else:
            for k, w in weighted:
                mass[k] += index.key_idf(k) * w
        total = sum(mass.values())
        if total <= 0:
            # Every key it knows is in every entry (idf 0): nothing tells one entry from another.
            return None
        unknown = sum(
            index.max_idf * UNKNOWN_WEIGHT * qk.weight
            for qk in query.keys
            if not qk.known and len(qk.key) > 2
        )
        # Candidates come from the question's most informative keys only, so that a long story
        # costs about as much as a short question.
        strongest = heapq.nlargest(SCORED_KEYS, mass.items(), key=itemgetter(1))
        postings = [(k, m / index.key_idf(k)) for k, m in strongest]
        postings += [(f, w * PREFIX_FACTOR) for k, w in postings if (f := prefix_key(k))]
        return Asked(mass, total, total / (total + unknown), postings, sum(m for _, m in strongest))

    def field_scores(self, asked: Asked, doc: int) -> dict[str, float]:
        """The BM25F part of an entry's score split by field (they sum to that part)."""
        parts = self._index.field_scores(doc, asked.postings)
        whole = sum(parts.values())
        if not whole:
            return parts
        bm_part = min(whole / asked.scored_total, 1.0)
        return {name: bm_part * v / whole for name, v in parts.items()}


# A term's two readings with their masses: (own keys, Russian keys, own mass, Russian mass,
# own mass among the scored keys, Russian mass among them).
_Reading = tuple[frozenset[str], frozenset[str], float, float, float, float]


def _readings(query: Query, weighed: Asked) -> list[_Reading]:
    """Query.readings weighed: the mass each reading of a term has in the question, in the
    whole and among the keys the BM25F part is scored on."""
    mass = weighed.mass
    scored = {k for k, _ in weighed.postings}
    out = []
    for own_keys, russian_keys in query.readings:
        own, russian = frozenset(own_keys), frozenset(russian_keys)
        own_mass = sum(mass.get(k, 0.0) for k in own)
        russian_mass = sum(mass.get(k, 0.0) for k in russian)
        if own_mass > 0 and russian_mass > 0:
            own_scored = sum(mass[k] for k in own & scored if k in mass)
            russian_scored = sum(mass[k] for k in russian & scored if k in mass)
            out.append((own, russian, own_mass, russian_mass, own_scored, russian_scored))
    return out


def _other_reading(readings: list[_Reading], doc_keys: frozenset[str]) -> tuple[float, float]:
    """The mass of the question that an entry cannot meet because it meets the term's other
    reading (in the whole, and among the scored keys): a Russian article holds «воронка
    продаж», the Romanian guide «pâlnie de vânzări», neither both. An entry meeting neither
    reading is weighed against the lighter one's absence only."""
    other = other_scored = 0.0
    for own, russian, own_mass, russian_mass, own_scored, russian_scored in readings:
        has_own, has_russian = not own.isdisjoint(doc_keys), not russian.isdisjoint(doc_keys)
        if has_own and not has_russian:
            other, other_scored = other + russian_mass, other_scored + russian_scored
        elif has_russian and not has_own:
            other, other_scored = other + own_mass, other_scored + own_scored
        elif not has_own:
            if own_mass <= russian_mass:
                other, other_scored = other + own_mass, other_scored + own_scored
            else:
                other, other_scored = other + russian_mass, other_scored + russian_scored
    return other, other_scored


def _sort(rows: list[_Row]) -> None:
    # Sums over sets come out in hash order, which differs between processes: the last bits of
    # equal scores are noise, and a tie goes to the entry that comes first.
    rows.sort(key=lambda r: (-round(r[0], 9), r[1]))


def _most_general(
    rows: list[_Row],
    mass: dict[str, float],
    families: Callable[[int], _Families],
) -> tuple[int, list[float]]:
    """Which of the first RIVALS candidates answers a question that their titles (or
    question-like headings) all hold whole, word families counted: the one whose title says
    least besides, when it scores close to the top; and each one's share of its title asked.
    "Как создать задачу" is about creating tasks, not about «Как создать чат о просроченной
    задаче», whose title holds it too but is about something more. ``families``: an entry's
    head and title word families (Matcher._entry_families).
    """
    first = rows[:RIVALS]
    asked_families = {_family(k) for k in mass}
    specific = [_family(k) for k in mass if not k.isdigit()]
    found = [families(r[1]) for r in first]
    asked = [_title_asked(title, title_mass, asked_families) for _, title, title_mass in found]
    holds = [all(f in head for f in specific) for head, _, _ in found]
    best = 0
    if holds[0]:
        for i in range(1, len(first)):
            if (
                first[0][0] - first[i][0] <= GENERAL_TIE
                and holds[i]
                and asked[i] > asked[best] + GENERAL_GAIN
            ):
                best = i
    return best, asked


def _family(key: str) -> str:
    """A key's word family for titles: its first PREFIX_LEN letters when it has that many
    ("созда" for both "создать" and "создавать"), else the key itself."""
    return key[:PREFIX_LEN] if len(key) >= PREFIX_LEN and "а" <= key[0] <= "я" else key


def _title_asked(title: tuple[tuple[str, float], ...], title_mass: float, asked: set[str]) -> float:
    """The share (by rarity) of an entry's title (its keys' families with their idf, summing to
    ``title_mass``) that the question asks about, by word family ("создавать" in a title for
    "создать" in the question)."""
    if not title_mass:
        return 0.0
    return sum(w for f, w in title if f in asked) / title_mass


def _phrases(
    asked: list[tuple[str, str]],
    weight: list[float],
    whole: float,
    places: dict[str, tuple[int, ...]],
) -> float:
    """The share (by rarity: ``weight`` each, ``whole`` in all) of the question's neighbouring
    key pairs that an entry (its keys' ``places``) has within PAIR_SPAN keys of each other, in
    either order."""
    together = sum(
        w
        for (a, b), w in zip(asked, weight, strict=True)
        if a in places and b in places and _near(places[a], places[b])
    )
    return together / whole


def _asked_pairs(query: Query) -> list[tuple[str, str]]:
    """The question's neighbouring pairs of known words (numbers aside)."""
    keys = [k.key for k in query.keys if k.known and not k.key.isdigit()]
    return list(itertools.pairwise(keys))


def _near(first: tuple[int, ...], second: tuple[int, ...]) -> bool:
    """Some place of ``first`` is within PAIR_SPAN of another place of ``second``."""
    for place in first:
        n = bisect_left(second, place - PAIR_SPAN)
        while n < len(second) and second[n] <= place + PAIR_SPAN:
            if second[n] != place:
                return True
            n += 1
    return False


def _credited(
    mass: dict[str, float],
    specific: dict[str, float],
    families: dict[str, list[str]],
    doc_keys: frozenset[str],
    plain: bool = False,
) -> tuple[float, float]:
    """The question's mass the entry has, and its specific (non-number) part: each key in full
    when the entry has it, PREFIX_FACTOR of it when the entry has only its word family.
    ``plain``: ``specific`` is all of ``mass`` (the question has no numbers)."""
    shared = doc_keys.intersection(mass)
    if plain:
        covered = evidence = sum(map(mass.__getitem__, shared), 0.0)
    else:
        covered = evidence = 0.0
        for k in shared:
            covered += mass[k]
            evidence += specific.get(k, 0.0)
    if families:
        for family in doc_keys.intersection(families):
            for k in families[family]:
                if k not in doc_keys:
                    covered += mass[k] * PREFIX_FACTOR
                    evidence += specific.get(k, 0.0) * PREFIX_FACTOR
    return covered, evidence
