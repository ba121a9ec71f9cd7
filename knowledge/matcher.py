"""Ranks entries for a query: BM25F candidates, then coverage and fuzzy rescoring to 0..1."""

from __future__ import annotations

from dataclasses import dataclass

from rapidfuzz import fuzz

from knowledge.index import Index
from knowledge.model import Match
from knowledge.query import Query

CANDIDATES = 40
# A key the index has never seen weighs like this fraction of the rarest key: a question about
# "HubSpot" or "сдэк" is mostly about something the knowledge base does not cover.
UNKNOWN_WEIGHT = 0.7
LONG_QUERY_KEYS = 6


@dataclass(frozen=True, slots=True)
class Weights:
    """How the parts of the confidence add up (they sum to 1); calibrated with the thresholds."""

    bm25: float = 0.60
    coverage: float = 0.10
    head: float = 0.00
    fuzzy: float = 0.30
    # The confidence is multiplied by known**unknown_power: the share of the question the index
    # knows at all (what is left is something the knowledge base does not cover) ...
    unknown_power: float = 1.0
    # ... and by (keys / LONG_QUERY_KEYS)**length_power for a long question, whose many side
    # words lower every part above although its question is as answerable as a short one.
    length_power: float = 0.45

    def combine(self, bm25: float, coverage: float, head: float, fuzzy: float) -> float:
        return self.bm25 * bm25 + self.coverage * coverage + self.head * head + self.fuzzy * fuzzy

    def confidence(self, relevance: float, known: float, length: int) -> float:
        stretch: float = max(1.0, length / LONG_QUERY_KEYS) ** self.length_power
        penalty: float = known**self.unknown_power
        return min(1.0, relevance * penalty * stretch)


@dataclass(frozen=True, slots=True)
class Ranked:
    """A candidate with its confidence and the parts it was made of (for calibration)."""

    doc: int
    score: float
    bm25: float
    coverage: float
    head: float
    fuzzy: float
    known: float
    length: int


class Matcher:
    """Scores candidate entries of one index."""

    def __init__(self, index: Index, weights: Weights | None = None) -> None:
        self._index = index
        self.weights = weights or Weights()

    def rank(
        self, query: Query, limit: int = 10, exclude: frozenset[str] = frozenset()
    ) -> list[Match]:
        return [
            Match(self._index.entries[r.doc], round(r.score, 4))
            for r in self.rank_raw(query, limit, exclude)
        ]

    def rank_raw(
        self, query: Query, limit: int = 10, exclude: frozenset[str] = frozenset()
    ) -> list[Ranked]:
        index = self._index
        weighted = query.weighted
        if not weighted:
            return []
        total = sum(index.key_idf(k) * w for k, w in weighted)
        unknown = sum(
            index.max_idf * UNKNOWN_WEIGHT for qk in query.keys if not qk.known and len(qk.key) > 2
        )
        denominator = total + unknown
        bm = index.score(weighted)
        top = sorted(bm.items(), key=lambda item: -item[1])[: CANDIDATES + len(exclude)]
        query_keys = " ".join(k for k, _ in weighted)
        known = total / denominator
        length = len(query.keys)
        ranked: list[Ranked] = []
        for doc, bm_score in top:
            info = index.infos[doc]
            if info.entry.id in exclude:
                continue
            keys = index.doc_keys[doc]
            covered = sum(index.key_idf(k) * w for k, w in weighted if k in keys) / total
            head = sum(index.key_idf(k) * w for k, w in weighted if k in info.head_keys) / total
            fuzzy = fuzz.token_set_ratio(query_keys, " ".join(info.title_keys)) / 100
            bm_part = min(bm_score / total, 1.0)
            relevance = self.weights.combine(bm_part, covered, head, fuzzy)
            score = self.weights.confidence(relevance, known, length)
            ranked.append(Ranked(doc, score, bm_part, covered, head, fuzzy, known, length))
        ranked.sort(key=lambda r: -r.score)
        return ranked[:limit]
