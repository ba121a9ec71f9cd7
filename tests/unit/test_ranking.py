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


# A telephony article that never mentions blocking, and two about blocking that never mention
# telephony: a question about blocking a spammer's calls reaches the first through
# «телефония» alone, its rarest and so heaviest key.
PHONE = Entry(
    id="phone",
    title="Как настроить телефонию",
    source="test",
    body="Телефония подключается к порталу.\nНомера покупают у оператора связи.",
)
BLOCKING = Entry(
    id="blocking",
    title="Как заблокировать пользователя",
    source="test",
    body="Заблокированный пользователь не может войти.\nСпамера блокируют так же.",
)
CALLS = Entry(
    id="calls",
    title="Звонки",
    source="test",
    body="Звонки записываются, спамера можно заблокировать.",
)


@pytest.mark.parametrize(
    ("question", "first", "stays"),
    [
        # The rest of the question («номер», «подключить») points to the same entry.
        ("как подключить телефонию и купить номер", "phone", 1.0),
        # Without «телефония» the question is about blocking.
        ("как заблокировать спамера в телефонии", "phone", 0.0),
        # One key: nothing else to rank by.
        ("звонки", "calls", 1.0),
    ],
)
def test_the_top_entry_stays_first_without_the_heaviest_key_only_when_the_rest_points_there(
    analyzer: Analyzer, question: str, first: str, stays: float
) -> None:
    index = Index((PHONE, BLOCKING, CALLS), analyzer)
    matcher = Matcher(index)
    query = QueryReader(analyzer, index.vocabulary).read(question)
    ranked = matcher.rank_raw(query)
    assert index.entries[ranked[0].doc].id == first
    assert matcher.stays_first(query, ranked).stays == stays
