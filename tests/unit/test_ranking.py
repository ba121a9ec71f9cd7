"""Ranking on a small hand-made base: what orders candidates that share the same words."""

from __future__ import annotations

import pytest

from knowledge.analyzer import Analyzer
from knowledge.index import Index
from knowledge.matcher import Matcher, Weights
from knowledge.model import Entry
from knowledge.query import QueryReader


def _entry(id_: str, body: str) -> Entry:
    return Entry(id=id_, title="Настройка справочников", source="test", body=body)


# Both entries hold every word of the question, as often and in texts of one length; only one
# uses «статусы лидов» as the question does.
TOGETHER = _entry(
    "together",
    "Статусы лидов меняют местами перетаскиванием.\nЦвет сделок выбирают в палитре справа.",
)
SCATTERED = _entry(
    "scattered",
    "Статусы сделок меняют местами перетаскиванием.\nЦвет лидов выбирают в палитре справа.",
)
QUESTION = "как поменять местами статусы лидов"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def _first(weights: Weights, analyzer: Analyzer) -> list[str]:
    index = Index((SCATTERED, TOGETHER), analyzer)
    query = QueryReader(analyzer, index.vocabulary).read(QUESTION)
    return [m.entry.id for m in Matcher(index, weights).rank(query)]


def test_an_entry_with_the_question_s_words_together_ranks_first(analyzer: Analyzer) -> None:
    assert _first(Weights(), analyzer) == ["together", "scattered"]
    # Without the word pairs the two tie, and the tie goes to the entry that comes first.
    assert _first(Weights(proximity=0.0), analyzer) == ["scattered", "together"]


def test_scores_with_word_pairs_stay_within_0_and_1(analyzer: Analyzer) -> None:
    index = Index((SCATTERED, TOGETHER), analyzer)
    query = QueryReader(analyzer, index.vocabulary).read("статусы лидов меняют местами")
    ranked = Matcher(index).rank_raw(query)
    assert ranked[0].phrases == 1.0
    assert all(0.0 < r.score <= 1.0 for r in ranked)
