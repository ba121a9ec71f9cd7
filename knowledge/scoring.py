"""What a candidate's score is made of: the question weighed, the weights of the score's
parts, and a ranked candidate with the parts it was made of (the confidence's features)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from knowledge.query import Query

LONG_QUERY_KEYS = 6


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
    # Set by :meth:`knowledge.matcher.Matcher.stays_first` (1.0 or 0.0): whether the entry is
    # still first without the question's heaviest key.
    stays: float = 0.0
    # 1.0 when the question is written in another language than the (top) entry: its evidence
    # then comes through the glossary's product terms only.
    crossed: float = 0.0


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
