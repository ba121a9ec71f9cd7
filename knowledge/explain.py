"""Why a message got its decision: how it was read, the candidates' evidence and the rule.

Built from the :class:`~knowledge.base.Reading` that :meth:`KnowledgeBase.decide` itself acts
on, so the explained decision is the decision. Candidates' features are listed from the
matcher's :class:`~knowledge.scoring.Ranked` fields, whatever they are, and the confidence's
from :data:`knowledge.confidence.FEATURES`: a new feature shows up here by itself.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from knowledge.analyzer import Analyzer, Synonym
from knowledge.confidence import FEATURES, Calibration, features
from knowledge.index import Index
from knowledge.matcher import Matcher
from knowledge.model import Action
from knowledge.query import Repair
from knowledge.scoring import Asked, Ranked

if TYPE_CHECKING:
    from knowledge.base import Check, Reading

# Ranked's fields that are not evidence: which entry, and the score the others make up.
_NOT_EVIDENCE = frozenset({"doc", "score"})
_DIGITS = 4  # JSON floats are rounded to this many places


@dataclass(frozen=True, slots=True)
class ExplainParts:
    """The parts of a knowledge base an explanation reads besides the reading itself."""

    matcher: Matcher
    index: Index
    analyzer: Analyzer
    calibration: Calibration


@dataclass(frozen=True, slots=True)
class KeyRead:
    """One key of the question: what the index is searched for."""

    word: str  # the word it came from, as read (layout and transliteration undone)
    key: str  # its lemma, stemmed: the form both articles and questions are reduced to
    weight: float  # 1 as typed; less for a side word, a corrected typo, a bare number
    known: bool  # the index has it
    name: bool  # a product or service name (a Latin word in a Russian question, a capital)
    informative: bool  # known, and a noun, adjective or name: it says what the question is about
    rarity: float  # its idf in units of the rarest possible key's: 1 = in one entry (or none)
    selects: bool  # one of the question's strongest keys, which pick the candidates
    corrected_from: str  # the key as typed, when it was a typo ("" otherwise)


@dataclass(frozen=True, slots=True)
class QuestionRead:
    """How the message was read."""

    original: str
    cut: bool  # too long: only its beginning and end were read
    intent: str  # "operator", a small-talk kind ("greeting", "thanks", …) or "" for a question
    question: str  # the text read as the question (folded when small talk was cut from it)
    read_as: str  # the question after layout and transliteration repairs
    lang: str
    repairs: tuple[Repair, ...]
    synonyms: tuple[Synonym, ...]
    dropped: tuple[str, ...]  # stop words and fillers
    keys: tuple[KeyRead, ...]
    known_share: float  # the share of the question (by weight) the index knows at all


@dataclass(frozen=True, slots=True)
class CandidateWhy:
    """One candidate entry and the evidence its score was made of."""

    rank: int
    id: str
    title: str
    url: str
    breadcrumb: tuple[str, ...]
    score: float  # the matcher's relevance, 0..1: orders the candidates, not a probability
    fields: Mapping[str, float]  # the BM25F part of the score split by the entry's fields
    evidence: Mapping[str, float]  # every part of the score the matcher measured


@dataclass(frozen=True, slots=True)
class Term:
    """One feature of the calibrated confidence and what it adds to each model's log-odds."""

    name: str
    value: float
    top1: float
    top3: float


@dataclass(frozen=True, slots=True)
class ConfidenceWhy:
    """The calibrated probabilities (knowledge/confidence.py) and what made them."""

    top1: float  # P(the top entry is right)
    top3: float  # P(a right entry is among the choices offered, knowledge.base.offered)
    bias1: float
    bias3: float
    terms: tuple[Term, ...]  # empty when no candidate was found


@dataclass(frozen=True, slots=True)
class DecisionWhy:
    """The action and the rule of :class:`~knowledge.base.Thresholds` that chose it."""

    action: Action
    checks: tuple[Check, ...]  # empty when an intent decided
    intent: str
    ranked: int  # candidates ranked: 0 when the question shares no key with any entry


@dataclass(frozen=True, slots=True)
class Explanation:
    question: QuestionRead
    candidates: tuple[CandidateWhy, ...]
    confidence: ConfidenceWhy
    decision: DecisionWhy

    def to_json(self) -> dict[str, Any]:
        """A plain JSON object: dataclasses and mappings as objects, tuples as lists, floats
        rounded."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(Explanation)}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Action):
        return value.value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return round(value, _DIGITS)
    return value


def explain_reading(reading: Reading, parts: ExplainParts, limit: int) -> Explanation:
    """The explanation of one reading, with its first ``limit`` candidates."""
    asked = parts.matcher.weigh(reading.query)
    candidates = tuple(
        _candidate(n, r, parts, asked) for n, r in enumerate(reading.ranked[:limit], 1)
    )
    return Explanation(
        _question(reading, parts, asked),
        candidates,
        _confidence(reading, parts.calibration),
        DecisionWhy(
            reading.verdict.action,
            reading.verdict.checks,
            reading.intent.kind,
            len(reading.ranked),
        ),
    )


def _question(reading: Reading, parts: ExplainParts, asked: Asked | None) -> QuestionRead:
    query, index = reading.query, parts.index
    selecting = {k for k, _ in asked.postings} if asked else set()
    keys = tuple(
        KeyRead(
            word=k.token,
            key=k.key,
            weight=k.weight,
            known=k.known,
            name=k.name,
            informative=k.known
            and not k.key.isdigit()
            and (k.name or parts.analyzer.morph.weight(k.token) >= 1.0)
            and not k.side_typo,
            rarity=index.key_idf(k.key) / index.max_idf,
            selects=k.key in selecting,
            corrected_from=k.typed,
        )
        for k in query.keys
    )
    return QuestionRead(
        original=reading.original,
        cut=reading.text != reading.original,
        intent=reading.intent.kind,
        question=reading.intent.rest or reading.text,
        read_as=query.text,
        lang=reading.lang,
        repairs=query.repairs,
        synonyms=query.synonyms,
        dropped=query.dropped,
        keys=keys,
        known_share=asked.known if asked else 0.0,
    )


def _candidate(rank: int, r: Ranked, parts: ExplainParts, asked: Asked | None) -> CandidateWhy:
    entry = parts.index.entries[r.doc]
    by_field = parts.matcher.field_scores(asked, r.doc) if asked else {}
    evidence = {
        f.name: float(getattr(r, f.name))
        for f in dataclasses.fields(r)
        if f.name not in _NOT_EVIDENCE
    }
    return CandidateWhy(
        rank=rank,
        id=entry.id,
        title=entry.title,
        url=entry.url,
        breadcrumb=entry.breadcrumb,
        score=r.score,
        fields=MappingProxyType(by_field),
        evidence=MappingProxyType(evidence),
    )


def _confidence(reading: Reading, calibration: Calibration) -> ConfidenceWhy:
    estimate = reading.estimate
    found = features(reading.ranked)
    if not found:
        return ConfidenceWhy(estimate.top1, estimate.top3, 0.0, 0.0, ())
    x = [found[name] for name in FEATURES]
    one, three = calibration.top1.terms(x), calibration.top3.terms(x)
    terms = tuple(
        Term(name, value, a, b) for name, value, a, b in zip(FEATURES, x, one, three, strict=True)
    )
    return ConfidenceWhy(
        estimate.top1, estimate.top3, calibration.top1.bias, calibration.top3.bias, terms
    )
