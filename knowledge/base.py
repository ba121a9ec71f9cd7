"""The knowledge base facade: one object that the conversation engine and the CLI use."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from knowledge.analyzer import Analyzer
from knowledge.answer import build_answer
from knowledge.index import Index
from knowledge.intents import OPERATOR, IntentReader
from knowledge.matcher import Matcher
from knowledge.model import Action, Answer, Decision, Entry, Match
from knowledge.query import QueryReader


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Every decision threshold, calibrated on the development set (see README)."""

    answer: float = 0.40  # top confidence needed to answer outright
    answer_margin: float = 0.0  # ... and its lead over the runner-up
    sure: float = 0.55  # confident enough to answer whatever the runner-up scores
    clarify: float = 0.35  # below this nothing is relevant: escalate
    clarify_band: float = 0.12  # runners-up within this of the top are offered in a clarify
    clarify_max: int = 3


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
    def load(cls, extra_dir: Path | None = None) -> KnowledgeBase:
        """The shipped corpus plus the company's articles in ``extra_dir`` (bad files skipped)."""
        from knowledge.loader import load_corpus

        return cls(load_corpus(extra_dir).entries)

    @property
    def entries(self) -> tuple[Entry, ...]:
        return self._index.entries

    def get(self, entry_id: str) -> Entry | None:
        return self._by_id.get(entry_id)

    def search(self, text: str, limit: int = 5, exclude: Collection[str] = ()) -> list[Match]:
        """Ranked matches for a text, best first, ignoring intents and thresholds."""
        return self._matcher.rank(self._reader.read(text), limit, frozenset(exclude))

    def decide(
        self, text: str, *, lang: str | None = None, exclude: Collection[str] = ()
    ) -> Decision:
        """Decide what to do with one message; ``exclude`` drops entries already shown."""
        intent = self._intents.read(text)
        query = self._reader.read(intent.rest or text)
        language = lang or query.lang
        if intent.kind == OPERATOR:
            return Decision(Action.OPERATOR, lang=language)
        if intent.kind:
            return Decision(Action.SMALLTALK, lang=language, smalltalk=intent.kind)
        matches = tuple(self._matcher.rank(query, 10, frozenset(exclude)))
        t = self.thresholds
        if not matches or matches[0].score < t.clarify:
            return Decision(Action.ESCALATE, matches, lang=language, confidence=_top(matches))
        top = matches[0]
        runner_up = matches[1].score if len(matches) > 1 else 0.0
        if top.score >= t.sure or (
            top.score >= t.answer and top.score - runner_up >= t.answer_margin
        ):
            keys = [k.key for k in query.keys if k.known]
            answer = build_answer(top.entry, self._analyzer, keys)
            return Decision(Action.ANSWER, matches, answer, language, confidence=top.score)
        close = tuple(m for m in matches if top.score - m.score <= t.clarify_band)
        choices = close[: t.clarify_max] if len(close) > 1 else matches[: t.clarify_max]
        rest = tuple(m for m in matches if m not in choices)
        return Decision(Action.CLARIFY, choices + rest, lang=language, confidence=top.score)

    def answer_for(self, entry_id: str, question: str = "") -> Answer:
        """The answer content for one entry, its text chosen for ``question`` when given."""
        entry = self._by_id[entry_id]
        keys = [k.key for k in self._reader.read(question).keys if k.known] if question else []
        return build_answer(entry, self._analyzer, keys)


def _top(matches: Sequence[Match]) -> float:
    return matches[0].score if matches else 0.0
