"""The knowledge base facade: one object that the conversation engine and the CLI use."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.analyzer import Analyzer
from knowledge.answer import build_answer, entry_reads
from knowledge.confidence import NO_EVIDENCE, Calibration, Estimate
from knowledge.explain import ExplainParts, Explanation, explain_reading
from knowledge.index import Index
from knowledge.intents import OPERATOR, Intent, IntentReader
from knowledge.loader import Corpus, load_corpus, read_key_cache, write_key_cache
from knowledge.matcher import Matcher
from knowledge.model import Action, Answer, Decision, Entry, Match
from knowledge.query import MAX_QUERY_CHARS, Query, QueryReader, repaired_text
from knowledge.scoring import Ranked
from knowledge.text import Morphology, head_and_tail

# Candidates a decision keeps: the choices of a clarify and, after them, the rest.
CANDIDATES_KEPT = 10
# Decisions a base remembers for ``decide(..., remember=True)``, the least recently asked
# forgotten first: people ask the same questions in the same words, and a decision (~1 ms of
# matching, the largest share of a text's CPU in a burst) depends on the text and the base alone.
DECISIONS_KEPT = 2048


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The decision policy, in the calibrated probabilities of :mod:`knowledge.confidence`.

    Answer outright only when the top entry is right with probability ``answer`` and clearly
    ahead of the runner-up: a wrong article is the worst reply (the person acts on it), and two
    entries scored alike are the person's choice. Otherwise offer the first ``clarify_max``
    entries («Возможно, вы имели в виду…») unless even the chance that a right one is among
    them is below ``clarify``; then say the base does not cover the question and offer an
    operator. A «did you mean» costs the person one press, a wrong answer their trust, a
    needless hand-off an operator's time: so answers need a high bar, hand-offs a low one.
    ``python bench/quality.py --calibrate`` prints what these give on held-out questions.
    """

    answer: float = 0.75
    answer_lead: float = 0.02  # ... and its score leads the runner-up's by this much
    clarify: float = 0.15
    clarify_max: int = 3
    # ... of which those scoring at least this share of the first one's score: one scored far
    # below it mostly shares side words with the question. Over the pooled sets, of the right
    # entries offered beside the first, 7 of 93 scored 0.5-0.6 of it, all but one beside a
    # right first entry (that question is not asked about), against 169 unrelated ones: at 0.6
    # a «did you mean» offers 2.56 entries instead of 2.78, every figure the same.
    choice_share: float = 0.6
    related: float = 0.12  # next-best entries offered after «не помогло» score at least this

    @classmethod
    def chosen_for(cls, calibration: Calibration) -> Thresholds:
        """The policy stored with the calibration (chosen by ``--calibrate`` to give the most
        help within the bounds of bench/calibration.BOUNDS), else the defaults."""
        policy = calibration.policy
        if policy is None:
            return cls()
        return cls(answer=policy.answer, clarify=policy.clarify)


class KnowledgeBase:
    """Entries plus the index over them; decides one message at a time.

    Build it from entries (tests) or with :meth:`load` (the shipped corpus plus a company folder).
    After construction it is read-only.
    """

    def __init__(
        self,
        entries: Sequence[Entry],
        *,
        analyzer: Analyzer | None = None,
        thresholds: Thresholds | None = None,
        calibration: Calibration | None = None,
    ) -> None:
        self._analyzer = analyzer or Analyzer()
        self._index = Index(entries, self._analyzer)
        self._by_id = {e.id: e for e in self._index.entries}
        self._docs = {e.id: doc for doc, e in enumerate(self._index.entries)}
        self._reader = QueryReader(self._analyzer, self._index.vocabulary, self._index.side_keys)
        self._matcher = Matcher(self._index)
        # The entries read for answers, held here so that a reload frees them with this base.
        self._reads = entry_reads()
        self._intents = IntentReader(self._analyzer.stopwords, self._analyzer.morph.is_word)
        self.calibration = calibration or Calibration.load()
        self.thresholds = thresholds or Thresholds.chosen_for(self.calibration)
        self._remembered: OrderedDict[str, tuple[Thresholds, Calibration, Decision]] = OrderedDict()

    @classmethod
    def load(
        cls,
        extra_dir: Path | None = None,
        cache_dir: Path | None = None,
        calibration: Calibration | None = None,
    ) -> KnowledgeBase:
        """The shipped corpus plus the company's articles in ``extra_dir`` (bad files skipped)."""
        return cls.from_corpus(load_corpus(extra_dir), cache_dir, calibration)

    @classmethod
    def from_corpus(
        cls,
        corpus: Corpus,
        cache_dir: Path | None = None,
        calibration: Calibration | None = None,
    ) -> KnowledgeBase:
        """Index a loaded corpus. With ``cache_dir``, the keys of the corpus words are kept there
        between processes (invalidated when the morphology changes): a build is several times
        faster with them."""
        morphology = Morphology()
        fingerprint = morphology.fingerprint()
        saved = read_key_cache(cache_dir, fingerprint) if cache_dir else {}
        morphology.preload(saved)
        kb = cls(corpus.entries, analyzer=Analyzer(morphology), calibration=calibration)
        if cache_dir is not None:
            keys = morphology.export()
            if len(keys) > len(saved):
                write_key_cache(cache_dir, fingerprint, keys)
        return kb

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._index.entries

    def problem_in(self, text: str) -> str:
        """The problem a request for a human states besides the request, or "" (see
        :meth:`IntentReader.problem`): the subject of the ticket it opens."""
        return self._intents.problem(head_and_tail(text, MAX_QUERY_CHARS))

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    def read(
        self,
        text: str,
        *,
        lang: str | None = None,
        exclude: Collection[str] = (),
        depth: int = CANDIDATES_KEPT,
    ) -> Reading:
        """How :meth:`decide` reads a message, up to its verdict, with ``depth`` candidates
        (at least the CANDIDATES_KEPT a decision keeps): the one path that deciding, explaining
        and calibrating share."""
        cut = head_and_tail(text, MAX_QUERY_CHARS)
        intent = self._intents.read(cut)
        query = self._reader.read(intent.rest or cut)
        if not intent.kind and query.repairs:
            intent = self._intents.reread(intent, repaired_text(query))
        language = lang or query.lang
        if intent.kind:
            action = Action.OPERATOR if intent.kind == OPERATOR else Action.SMALLTALK
            verdict = Verdict(action)
            return Reading(text, cut, intent, query, language, (), NO_EVIDENCE, verdict)
        depth = max(depth, CANDIDATES_KEPT)
        ranked = tuple(self._matcher.rank_with_stays(query, depth, frozenset(exclude)))
        estimate = self.calibration.estimate(ranked)
        verdict = judge(estimate, lead(ranked), self.thresholds)
        return Reading(text, cut, intent, query, language, ranked, estimate, verdict)

    def explain(
        self,
        text: str,
        *,
        limit: int = 5,
        lang: str | None = None,
        exclude: Collection[str] = (),
    ) -> Explanation:
        """Why :meth:`decide` does what it does with a message: how it was read, the first
        ``limit`` candidates with their evidence, and the rule that decided."""
        reading = self.read(text, lang=lang, exclude=exclude, depth=limit)
        parts = ExplainParts(self._matcher, self._index, self._analyzer, self.calibration)
        return explain_reading(reading, parts, limit)

    def alternatives(self, text: str, exclude: Collection[str], limit: int = 3) -> list[Match]:
        """Next-best entries for a question whose answer did not help: related, not shown yet."""
        return [
            m
            for m in self.search(text, limit + len(exclude), exclude)
            if m.score >= self.thresholds.related
        ][:limit]

    def search(self, text: str, limit: int = 5, exclude: Collection[str] = ()) -> list[Match]:
        """Ranked matches for a text, best first, ignoring intents and thresholds."""
        return self._matcher.rank(self._reader.read(text), limit, frozenset(exclude))

    def decide(
        self,
        text: str,
        *,
        lang: str | None = None,
        exclude: Collection[str] = (),
        remember: bool = False,
    ) -> Decision:
        """Decide what to do with one message; ``exclude`` drops entries already shown.

        ``remember``: the decision of a text decided before with the same policy (thresholds,
        calibration) is the one made then (the same object: decisions are frozen), the last
        DECISIONS_KEPT texts kept. The base is read-only and a reload builds a new one, so a
        remembered decision is the one deciding again would make; only a plain question
        (no ``lang``, no ``exclude``) is remembered."""
        if not remember or lang is not None or exclude:
            return self._decide(text, lang, exclude)
        kept = self._remembered.get(text)
        if kept is not None and kept[0] is self.thresholds and kept[1] is self.calibration:
            self._remembered.move_to_end(text)
            return kept[2]
        decision = self._decide(text, None, ())
        self._remembered[text] = (self.thresholds, self.calibration, decision)
        self._remembered.move_to_end(text)
        if len(self._remembered) > DECISIONS_KEPT:
            self._remembered.popitem(last=False)
        return decision

    def _decide(self, text: str, lang: str | None, exclude: Collection[str]) -> Decision:
        reading = self.read(text, lang=lang, exclude=exclude)
        action, language = reading.verdict.action, reading.lang
        if action is Action.OPERATOR:
            return Decision(action, lang=language)
        if action is Action.SMALLTALK:
            return Decision(action, lang=language, smalltalk=reading.intent.kind)
        matches = tuple(
            Match(self._index.entries[r.doc], round(r.score, 4))
            for r in reading.ranked[:CANDIDATES_KEPT]
        )
        confidence = reading.estimate.top1
        if action is Action.ANSWER:
            weights = self._weights(reading.query)
            top = reading.ranked[0].doc
            answer = build_answer(
                matches[0].entry,
                self._analyzer,
                weights,
                self._index.langs[top],
                self._index.line_keys(top),
                self._reads,
            )
            return Decision(action, matches, answer, language, confidence=confidence)
        if action is Action.CLARIFY:
            # Only the choices: a clarify reply offers every match it is given.
            matches = tuple(matches[n] for n in offered(reading.ranked, self.thresholds))
        return Decision(action, matches, lang=language, confidence=confidence)

    def answer_for(self, entry_id: str, question: str = "") -> Answer:
        """The answer content for one entry, its text chosen for ``question`` when given."""
        entry = self._by_id[entry_id]
        weights = self._weights(self._reader.read(question)) if question else None
        doc = self._docs[entry_id]
        return build_answer(
            entry,
            self._analyzer,
            weights,
            self._index.langs[doc],
            self._index.line_keys(doc),
            self._reads,
        )

    def _weights(self, query: Query) -> dict[str, float]:
        """How much each known key of the question says: its rarity x how surely it was read."""
        out: dict[str, float] = {}
        for k in query.keys:
            if k.known:
                out[k.key] = out.get(k.key, 0.0) + self._index.key_idf(k.key) * k.weight
        return out


def lead(ranked: Sequence[Ranked]) -> float:
    """How far the top candidate's score is ahead of the runner-up's (0 when a linked article
    was put before the section it ties with)."""
    if not ranked:
        return 0.0
    return max(0.0, ranked[0].score - (ranked[1].score if len(ranked) > 1 else 0.0))


def offered(ranked: Sequence[Ranked], t: Thresholds) -> tuple[int, ...]:
    """The places of the candidates a «did you mean» offers: the first one, and those of the
    next up to ``clarify_max`` scored at least ``choice_share`` of its score. The calibration
    judges a clarify by these too, not by the first three whatever they score."""
    if not ranked:
        return ()
    bar = ranked[0].score * t.choice_share
    return (0, *(n for n in range(1, min(t.clarify_max, len(ranked))) if ranked[n].score >= bar))


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison the policy made: a measure of the candidates against a threshold.

    ``measure`` is "top1" (P(the top entry is right)), "top3" (P(a right one is among the
    first ``Thresholds.clarify_max``)) or "lead" (the top score's lead over the runner-up's);
    ``threshold`` names the :class:`Thresholds` field whose value ``bar`` is."""

    measure: str
    value: float
    threshold: str
    bar: float
    passed: bool  # value >= bar


def _check(measure: str, value: float, threshold: str, t: Thresholds) -> Check:
    bar = float(getattr(t, threshold))
    return Check(measure, value, threshold, bar, value >= bar)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The action and the checks that made it: for ANSWER both answer checks; otherwise the
    answer checks that failed and the clarify check. Intents (OPERATOR, SMALLTALK) decide
    before any check."""

    action: Action
    checks: tuple[Check, ...] = ()


def judge(estimate: Estimate, lead: float, t: Thresholds) -> Verdict:
    """ANSWER, CLARIFY or ESCALATE from the calibrated estimate and the top one's lead."""
    answer = (_check("top1", estimate.top1, "answer", t), _check("lead", lead, "answer_lead", t))
    if all(c.passed for c in answer):
        return Verdict(Action.ANSWER, answer)
    clarify = _check("top3", estimate.top3, "clarify", t)
    failed = tuple(c for c in answer if not c.passed)
    return Verdict(Action.CLARIFY if clarify.passed else Action.ESCALATE, (*failed, clarify))


def choose_action(estimate: Estimate, lead: float, t: Thresholds) -> Action:
    """The action alone (for re-deciding calibration samples)."""
    return judge(estimate, lead, t).action


@dataclass(frozen=True, slots=True)
class Reading:
    """One message as :meth:`KnowledgeBase.decide` reads it, up to its verdict.

    ``text`` is the message as cut for reading; ``ranked`` is empty when an intent decided."""

    original: str
    text: str
    intent: Intent
    query: Query
    lang: str
    ranked: tuple[Ranked, ...]
    estimate: Estimate
    verdict: Verdict
