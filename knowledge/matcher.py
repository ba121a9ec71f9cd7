"""Ranks entries for a query: BM25F candidates, then coverage and fuzzy rescoring to 0..1
(the score's parts: knowledge/scoring.py), then the ordering rules (knowledge/ordering.py)."""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache, partial
from operator import itemgetter

from rapidfuzz import fuzz, process

from knowledge.index import PREFIX_FACTOR, Index, prefix_key
from knowledge.model import Match
from knowledge.ordering import (
    Row,
    entry_families,
    most_general,
    nearness,
    openable_first,
    sort_rows,
)
from knowledge.query import Query
from knowledge.scoring import LONG_QUERY_KEYS, Asked, Likeness, Ranked, Weights

CANDIDATES = 40
SCORED_KEYS = 12
# A key the index has never seen weighs like this fraction of the rarest key: a question about
# "HubSpot" or "сдэк" is mostly about something the knowledge base does not cover.
UNKNOWN_WEIGHT = 0.7
# Candidates ranked again without the question's heaviest key (Matcher.stays_first): the
# first place among ten differs from that among forty for 1 of 709 questions, at half the cost.
STAYS_CANDIDATES = 10
# A Romanian question's term meets the Romanian guide by its own words and a Russian article by
# its Russian ones, never both (Query.readings): an entry's coverage and BM25F part leave this
# share of the other reading's mass out of the whole they are a share of. 0.3, 0.5 and 0.7 gave
# the pool the same help and «did you mean» rate (nested cross-validation, 8 fold splits); 1.0
# (each entry judged by its own reading alone) made Romanian answers more confident than right.
OTHER_READING = 0.3


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
        # The word families of the entries met among the first candidates (most_general).
        self._entry_families = lru_cache(maxsize=4096)(partial(entry_families, index))

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
                order, _, _ = self._order(rest, again, self._asked(again), top_rest, exclude)
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
        known, length, asked = weighed.known, len(query.keys), self._asked(weighed)
        order, general, title_shares = self._order(query, weighed, asked, top, exclude)
        sequences, written = self._index.sequences, self._index.written
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
                crossed=float(n == 0 and query.lang != written[doc]),
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
        asked: float,
        top: list[tuple[int, float]],
        exclude: frozenset[str],
    ) -> tuple[list[Row], int, list[float]]:
        """The candidates scored and put in their final order (word pairs, an openable article
        before a section, the most general title first), as rows; and which of the first
        RIVALS was moved first as the most general, with each one's share of its title asked.
        ``asked`` is the question's own rarity (:meth:`_asked`), computed once by the caller."""
        index = self._index
        weighted, mass, total, known = query.weighted, weighed.mass, weighed.total, weighed.known
        scored_total = weighed.scored_total
        prefix_groups: dict[str, list[str]] = defaultdict(list)  # the question's keys by prefix
        for k in mass:
            if (prefix := prefix_key(k)) is not None:
                prefix_groups[prefix].append(k)
        specific = {k: m for k, m in mass.items() if not k.isdigit()}
        names = {qk.key for qk in query.keys if qk.name}
        query_keys = " ".join(k for k, _ in weighted if not k.isdigit())
        # A short title's letter-level likeness to a long story is chance ("Как удалить
        # Битрикс24" to a story about calls): it counts in proportion to the question's length.
        damp = min(1.0, LONG_QUERY_KEYS / max(len(query.keys), 1))
        rows: list[Row] = []
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
            covered, evidence = _credited(mass, specific, prefix_groups, doc_keys, plain)
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
        sort_rows(rows)
        rows = nearness(self._index, self.weights.near, query, rows)
        if len(rows) > 1 and openable_first(self._index, rows[0], rows[1], mass):
            rows[0], rows[1] = rows[1], rows[0]
        if not rows:
            return rows, 0, []
        general, title_shares = most_general(rows, mass, self._entry_families)
        if general:
            rows.insert(0, rows.pop(general))
        if after is not None:
            rows[1:] = sorted(rows[1:], key=lambda r: (-round(r[0] + share * after(r[1]), 9), r[1]))
        return rows, general, title_shares

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


def _credited(
    mass: dict[str, float],
    specific: dict[str, float],
    prefix_groups: dict[str, list[str]],
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
    if prefix_groups:
        for prefix in doc_keys.intersection(prefix_groups):
            for k in prefix_groups[prefix]:
                if k not in doc_keys:
                    covered += mass[k] * PREFIX_FACTOR
                    evidence += specific.get(k, 0.0) * PREFIX_FACTOR
    return covered, evidence
