"""The knowledge base facade: one object that the conversation engine and the CLI use."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.analyzer import Analyzer
from knowledge.answer import build_answer
from knowledge.index import Index
from knowledge.intents import OPERATOR, Intent, IntentReader
from knowledge.loader import Corpus, load_corpus, read_key_cache, write_key_cache
from knowledge.matcher import Matcher, Ranked
from knowledge.model import Action, Answer, Decision, Entry, Match
from knowledge.query import MAX_QUERY_CHARS, Query, QueryReader
from knowledge.text import Morphology, head_and_tail


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every decision threshold, calibrated on the development set (see README)."""

    answer: float = 0.35  # top confidence needed to answer outright
    answer_margin: float = 0.0  # ... and its lead over the runner-up
    sure: float = 0.45  # confident enough to answer whatever the runner-up scores
    clarify: float = 0.35  # below this nothing is relevant: escalate
    tie: float = 0.001  # a runner-up this close is a tie: the person chooses, however high
    clarify_band: float = 0.12  # runners-up within this of the top are offered in a clarify
    clarify_max: int = 3
    related: float = 0.12  # next-best entries offered after «не помогло» score at least this


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
    ) -> None:
        self._analyzer = analyzer or Analyzer()
        self._index = Index(entries, self._analyzer)
        self._by_id = {e.id: e for e in self._index.entries}
        self._reader = QueryReader(self._analyzer, self._index.vocabulary)
        self._matcher = Matcher(self._index)
        self._intents = IntentReader(self._analyzer.stopwords)
        self.thresholds = thresholds or Thresholds()

    @classmethod
    def load(cls, extra_dir: Path | None = None, cache_dir: Path | None = None) -> KnowledgeBase:
        """The shipped corpus plus the company's articles in ``extra_dir`` (bad files skipped)."""
        return cls.from_corpus(load_corpus(extra_dir), cache_dir)

    @classmethod
    def from_corpus(cls, corpus: Corpus, cache_dir: Path | None = None) -> KnowledgeBase:
        """Index a loaded corpus. With ``cache_dir``, the keys of the corpus words are kept there
        between processes (invalidated when the morphology changes): a build is several times
        faster with them."""
        morphology = Morphology()
        fingerprint = morphology.fingerprint()
        saved = read_key_cache(cache_dir, fingerprint) if cache_dir else {}
        morphology.preload(saved)
        kb = cls(corpus.entries, analyzer=Analyzer(morphology))
        if cache_dir is not None:
            keys = morphology.export()
            if len(keys) > len(saved):
                write_key_cache(cache_dir, fingerprint, keys)
        return kb

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._index.entries

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    def explain(self, text: str, limit: int = 40) -> tuple[str, list[Ranked]]:
        """The intent and the scored candidates with their parts (for calibration and debugging)."""
        intent, query = self._understand(text)
        return intent.kind, self._matcher.rank_raw(query, limit)

    def _understand(self, text: str) -> tuple[Intent, Query]:
        """What the message is and the query it reads as, cut as :meth:`decide` cuts it."""
        text = head_and_tail(text, MAX_QUERY_CHARS)
        intent = self._intents.read(text)
        return intent, self._reader.read(intent.rest or text)

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
        self, text: str, *, lang: str | None = None, exclude: Collection[str] = ()
    ) -> Decision:
        """Decide what to do with one message; ``exclude`` drops entries already shown."""
        intent, query = self._understand(text)
        language = lang or query.lang
        if intent.kind == OPERATOR:
            return Decision(Action.OPERATOR, lang=language)
        if intent.kind:
            return Decision(Action.SMALLTALK, lang=language, smalltalk=intent.kind)
        matches = tuple(self._matcher.rank(query, 10, frozenset(exclude)))
        action = choose_action([m.score for m in matches], self.thresholds)
        confidence = matches[0].score if matches else 0.0
        if action is Action.ANSWER:
            answer = build_answer(matches[0].entry, self._analyzer, self._weights(query))
            return Decision(action, matches, answer, language, confidence=confidence)
        if action is Action.CLARIFY:
            band = self.thresholds.clarify_band
            close = tuple(m for m in matches if confidence - m.score <= band)
            choices = close if len(close) > 1 else matches
            choices = choices[: self.thresholds.clarify_max]
            rest = tuple(m for m in matches if m not in choices)
            matches = choices + rest
        return Decision(action, matches, lang=language, confidence=confidence)

    def answer_for(self, entry_id: str, question: str = "") -> Answer:
        """The answer content for one entry, its text chosen for ``question`` when given."""
        entry = self._by_id[entry_id]
        weights = self._weights(self._reader.read(question)) if question else None
        return build_answer(entry, self._analyzer, weights)

    def _weights(self, query: Query) -> dict[str, float]:
        """How much each known key of the question says: its rarity x how surely it was read."""
        out: dict[str, float] = {}
        for k in query.keys:
            if k.known:
                out[k.key] = out.get(k.key, 0.0) + self._index.key_idf(k.key) * k.weight
        return out


def choose_action(scores: Sequence[float], t: Thresholds) -> Action:
    """ANSWER, CLARIFY or ESCALATE from the ranked confidences alone."""
    if not scores or scores[0] < t.clarify:
        return Action.ESCALATE
    top = scores[0]
    runner_up = scores[1] if len(scores) > 1 else 0.0
    if top - runner_up < t.tie:
        return Action.CLARIFY
    if top >= t.sure or (top >= t.answer and top - runner_up >= t.answer_margin):
        return Action.ANSWER
    return Action.CLARIFY
