"""`KnowledgeBase.explain` (issue 15, point 3): how a question was read, the candidates'
evidence and the rule that decided, read along the same path as `decide`."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from bot.why import describe_decision
from knowledge.analyzer import Analyzer
from knowledge.base import CANDIDATES_KEPT, KnowledgeBase, Thresholds, judge
from knowledge.confidence import Estimate
from knowledge.model import Action
from knowledge.query import MAX_QUERY_CHARS
from knowledge.scoring import Ranked

ROOT = Path(__file__).resolve().parents[2]
DEV = ROOT / "tests" / "data" / "dev.jsonl"
TWO_FACTOR = "Как включить двухфакторную аутентификацию"


@pytest.fixture(scope="module")
def analyzer() -> Analyzer:
    return Analyzer()


def _key(analyzer: Analyzer, word: str) -> str:
    (key,) = analyzer.keys(word)
    return key


# --- how the question was read ------------------------------------------------------------------


def test_wrong_layout_shows_each_word_repaired(kb: KnowledgeBase) -> None:
    q = kb.explain("rfr dscnfdbnm cxtn").question
    assert [(r.kind, r.original, r.repaired) for r in q.repairs] == [
        ("layout", "rfr", "как"),
        ("layout", "dscnfdbnm", "выставить"),
        ("layout", "cxtn", "счет"),
    ]
    assert q.read_as == "как выставить счет"
    assert q.lang == "ru"
    assert "как" in q.dropped  # a stop word: read, then left out
    assert [k.word for k in q.keys] == ["выставить", "счет"]


def test_transliteration_is_a_repair_of_its_own_kind(kb: KnowledgeBase) -> None:
    q = kb.explain("kak vklyuchit dvukhfaktornuyu autentifikatsiyu").question
    assert {r.kind for r in q.repairs} == {"translit"}
    assert q.read_as.startswith("как включит")


def test_typo_shows_its_correction(kb: KnowledgeBase, analyzer: Analyzer) -> None:
    q = kb.explain("импорт кантактов").question
    contact = _key(analyzer, "контактов")
    assert [(r.kind, r.original, r.repaired) for r in q.repairs] == [("typo", "кантактов", contact)]
    right, typo = q.keys
    assert (typo.word, typo.key) == ("кантактов", contact)
    assert typo.corrected_from == _key(analyzer, "кантактов") != contact
    assert typo.known and typo.weight < right.weight  # a corrected word counts for less
    assert right.corrected_from == ""


def test_keys_say_what_the_index_knows_of_them(kb: KnowledgeBase) -> None:
    q = kb.explain("как перенести контакты из HubSpot в CRM").question
    by_word = {k.word: k for k in q.keys}
    hubspot = by_word["hubspot"]
    assert not hubspot.known and not hubspot.informative and hubspot.name
    assert hubspot.rarity == 1.0 and not hubspot.selects  # unknown: the rarest, picks nothing
    contacts = by_word["контакты"]
    assert contacts.known and contacts.informative and contacts.selects
    assert 0.0 < contacts.rarity < 1.0
    assert 0.0 < q.known_share < 1.0  # HubSpot is the part the base does not know


def test_side_words_are_not_informative(kb: KnowledgeBase) -> None:
    keys = {k.word: k for k in kb.explain("как выставить счет").question.keys}
    assert not keys["выставить"].informative and keys["выставить"].weight < 1.0
    assert keys["счет"].informative


def test_synonyms_show_the_keys_they_stand_for(kb: KnowledgeBase, analyzer: Analyzer) -> None:
    q = kb.explain("как включить 2fa").question
    (synonym,) = q.synonyms
    assert synonym.phrase == "2fa"
    assert list(synonym.keys) == analyzer.keys("двухфакторная аутентификация")


def test_long_message_says_it_was_cut(kb: KnowledgeBase) -> None:
    story = "у нас большая компания и много отделов " * 60 + "как выставить счет"
    assert len(story) > MAX_QUERY_CHARS
    q = kb.explain(story).question
    assert q.cut and q.original == story


# --- candidates and their evidence ---------------------------------------------------------------


def test_question_in_the_base_shows_the_entry_and_the_rule_that_answered(
    kb: KnowledgeBase,
) -> None:
    x = kb.explain(TWO_FACTOR)
    top = x.candidates[0]
    assert "двухфакторн" in top.title.casefold() and top.url
    assert x.decision.action is Action.ANSWER
    top1, lead = x.decision.checks
    t = kb.thresholds
    assert (top1.measure, top1.threshold, top1.bar, top1.passed) == (
        "top1",
        "answer",
        t.answer,
        True,
    )
    assert (lead.measure, lead.threshold, lead.bar, lead.passed) == (
        "lead",
        "answer_lead",
        t.answer_lead,
        True,
    )
    assert top1.value == x.confidence.top1 == kb.decide(TWO_FACTOR).confidence
    assert lead.value == pytest.approx(x.candidates[0].score - x.candidates[1].score)
    words = describe_decision(x.decision, "ru")
    assert words == (
        f"ответ: P(верно)={top1.value:.2f} ≥ {t.answer:.2f} и отрыв {lead.value:.2f} ≥ "
        f"{t.answer_lead:.2f}"
    )


def test_every_part_the_matcher_measured_is_listed(kb: KnowledgeBase) -> None:
    evidence_names = {f.name for f in dataclasses.fields(Ranked)} - {"doc", "score"}
    for candidate in kb.explain("как выгрузить контакты в excel").candidates:
        assert set(candidate.evidence) == evidence_names


def test_bm25_by_field_adds_up_to_the_bm25_part(kb: KnowledgeBase) -> None:
    x = kb.explain("как выгрузить контакты в excel", limit=8)
    assert len(x.candidates) == 8
    for c in x.candidates:
        assert c.fields, c.title
        assert set(c.fields) <= {"title", "questions", "breadcrumb", "path", "summary", "body"}
        assert sum(c.fields.values()) == pytest.approx(c.evidence["bm25"], rel=1e-6)


def test_confidence_terms_add_up_to_the_probabilities(kb: KnowledgeBase) -> None:
    c = kb.explain("как выгрузить контакты в excel").confidence
    assert c.terms
    for bias, which, p in ((c.bias1, "top1", c.top1), (c.bias3, "top3", c.top3)):
        z = bias + sum(getattr(t, which) for t in c.terms)
        expected = 1 / (1 + math.exp(-z))
        # P(in the first three) is never below P(the top one is right).
        assert p == pytest.approx(expected) or (which == "top3" and p == c.top1)


def test_limit_shows_that_many_candidates(kb: KnowledgeBase) -> None:
    assert len(kb.explain("настройка сделок", limit=2).candidates) == 2
    deep = kb.explain("настройка сделок", limit=CANDIDATES_KEPT + 5)
    assert len(deep.candidates) == CANDIDATES_KEPT + 5 == deep.decision.ranked
    shallow = kb.explain("настройка сделок")
    assert [c.id for c in deep.candidates[:5]] == [c.id for c in shallow.candidates]
    # A deeper look changes nothing decided.
    assert (deep.decision.action, deep.decision.checks) == (
        shallow.decision.action,
        shallow.decision.checks,
    )


# --- why it was handed on -----------------------------------------------------------------------


def test_question_nothing_in_the_base_knows_is_escalated_and_says_so(kb: KnowledgeBase) -> None:
    x = kb.explain("как приготовить плов")
    assert x.decision.action is Action.ESCALATE and x.decision.ranked == 0
    assert x.candidates == () and x.confidence.terms == ()
    assert all(not k.known for k in x.question.keys)
    assert x.decision.checks[-1].threshold == "clarify" and not x.decision.checks[-1].passed
    assert describe_decision(x.decision, "ru") == (
        f"оператору: ни одна статья не подходит "
        f"(P(верная среди первых трёх)=0.00 < {kb.thresholds.clarify:.2f})"
    )


def test_escalation_names_every_bar_the_question_missed(kb: KnowledgeBase) -> None:
    strict = KnowledgeBase(
        kb.entries, thresholds=Thresholds(answer=1.0, answer_lead=2.0, clarify=1.0)
    )
    x = strict.explain(TWO_FACTOR)
    assert x.decision.action is Action.ESCALATE and x.candidates
    assert [(c.threshold, c.passed) for c in x.decision.checks] == [
        ("answer", False),
        ("answer_lead", False),
        ("clarify", False),
    ]
    words = describe_decision(x.decision, "en")
    top1, lead, top3 = x.decision.checks
    assert words == (
        f"escalate: P(right)={top1.value:.2f} < 1.00, lead {lead.value:.2f} < 2.00 and "
        f"P(a right one in the first three)={top3.value:.2f} < 1.00"
    )
    assert strict.decide(TWO_FACTOR).action is Action.ESCALATE


def test_judge_keeps_only_the_checks_that_decided() -> None:
    t = Thresholds()
    answer = judge(Estimate(0.9, 0.95), 0.1, t)
    assert answer.action is Action.ANSWER
    assert [c.threshold for c in answer.checks] == ["answer", "answer_lead"]
    close = judge(Estimate(0.9, 0.95), 0.0, t)  # sure, but two entries score alike
    assert close.action is Action.CLARIFY
    assert [(c.threshold, c.passed) for c in close.checks] == [
        ("answer_lead", False),
        ("clarify", True),
    ]
    unsure = judge(Estimate(0.01, 0.02), 0.5, t)
    assert unsure.action is Action.ESCALATE
    assert [(c.threshold, c.passed) for c in unsure.checks] == [
        ("answer", False),
        ("clarify", False),
    ]


def test_intents_decide_before_any_candidate(kb: KnowledgeBase) -> None:
    operator = kb.explain("позовите живого оператора")
    assert operator.decision.action is Action.OPERATOR and operator.candidates == ()
    assert describe_decision(operator.decision, "ru").startswith("оператор:")
    thanks = kb.explain("спасибо!")
    assert thanks.decision.action is Action.SMALLTALK and thanks.decision.intent == "thanks"
    assert "thanks" in describe_decision(thanks.decision, "en")


# --- one path with decide() ---------------------------------------------------------------------


def _dev_questions() -> list[str]:
    return [json.loads(line)["q"] for line in DEV.read_text(encoding="utf-8").splitlines()]


def test_explained_decision_is_decide_s_on_every_dev_question(kb: KnowledgeBase) -> None:
    questions = _dev_questions()
    assert len(questions) > 100
    seen = set()
    for q in questions:
        decision, x = kb.decide(q), kb.explain(q)
        assert x.decision.action is decision.action, q
        assert x.question.lang == decision.lang, q
        assert x.confidence.top1 == decision.confidence or decision.action in (
            Action.OPERATOR,
            Action.SMALLTALK,
        ), q
        shown = [m.entry.id for m in decision.matches]
        assert [c.id for c in x.candidates][: len(shown)] == shown[: len(x.candidates)], q
        seen.add(decision.action)
    assert seen == set(Action)  # the set exercises every kind of decision


def test_excluded_entries_are_explained_as_decide_leaves_them(kb: KnowledgeBase) -> None:
    first = kb.decide(TWO_FACTOR).matches[0].entry.id
    x = kb.explain(TWO_FACTOR, exclude=[first])
    assert first not in {c.id for c in x.candidates}
    assert x.decision.action is kb.decide(TWO_FACTOR, exclude=[first]).action


def test_json_is_one_plain_object(kb: KnowledgeBase) -> None:
    data = kb.explain("rfr dscnfdbnm cxtn").to_json()
    assert json.loads(json.dumps(data, ensure_ascii=False)) == data
    assert set(data) == {"question", "candidates", "confidence", "decision"}
    assert data["question"]["repairs"][0] == {
        "kind": "layout",
        "original": "rfr",
        "repaired": "как",
    }
    assert isinstance(data["candidates"][0]["evidence"], dict)
    assert data["decision"]["action"] in {a.value for a in Action}
