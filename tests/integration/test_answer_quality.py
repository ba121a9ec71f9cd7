"""What a person gets from the first reply, on the development set and bench/heldout.jsonl.

Scoring is bench/quality.py's, which follows ../shared/tools/evaluate.py exactly. The bounds
leave headroom under the figures the README reports, so that noise does not fail CI but a real
regression does; they are not fitted to either set (see bench/quality.py --calibrate).
"""

from __future__ import annotations

import pytest
from benches import bench

from knowledge.base import KnowledgeBase
from knowledge.model import Action

# Per set: metric -> (bound, True for a floor / False for a ceiling).
BOUNDS: dict[str, dict[str, tuple[float, bool]]] = {
    "dev": {  # now: helped 0.958, wrong 0.021, clarify 0.167, false escalation 0.010, ood 0
        "helped": (0.92, True),
        "wrong": (0.05, False),
        "clarify": (0.22, False),
        "false_escalate": (0.04, False),
        "ood_answered": (0.08, False),
        "operator_acc": (0.95, True),
        "smalltalk_acc": (0.95, True),
    },
    "heldout": {  # now: helped 0.953, wrong 0.024, clarify 0.252, false escalation 0.016, ood 0.056
        "helped": (0.90, True),
        "wrong": (0.05, False),
        "clarify": (0.30, False),
        "false_escalate": (0.04, False),
        "ood_answered": (0.06, False),  # one of its 18 out-of-scope questions
        "operator_acc": (0.95, True),
        "smalltalk_acc": (0.95, True),
    },
    # Requests for a human (251, ru/en/ro, many inside a problem statement) and 61 product
    # questions about operators, staff and support: now operator_acc 0.996, none taken for one.
    "operator": {
        "operator_acc": (0.97, True),
    },
    # The same, written apart from operator.jsonl and the patterns (192 requests, 104 questions):
    # now operator_acc 0.97, no answerable question taken for a request.
    "handoff": {
        "operator_acc": (0.93, True),
    },
}
# The issue's examples of a confident wrong article, and the entries that would be right.
WHY_EXAMPLES = {
    "как создать задачу": {"Как создавать и отслеживать задачи"},
    "как сделать резервную копию портала": set(),  # the base does not cover backups
    "как настроить телефонию": {"Conectarea cu lumea: instrumente de telefonie și poștă"},
}


@pytest.fixture(scope="module")
def figures(kb: KnowledgeBase) -> dict[str, dict[str, float]]:
    quality = bench("quality")
    out = {}
    for name in BOUNDS:
        _, cases = quality.load_set(name)
        out[name] = dict(quality.score(cases, [kb.decide(c["q"]) for c in cases]))
    return out


@pytest.mark.parametrize(
    ("name", "metric"), [(name, metric) for name, bounds in BOUNDS.items() for metric in bounds]
)
def test_metric_stays_within_its_bound(
    figures: dict[str, dict[str, float]], name: str, metric: str
) -> None:
    bound, floor = BOUNDS[name][metric]
    value = figures[name][metric]
    assert (value >= bound) if floor else (value <= bound), (name, figures[name])


@pytest.mark.parametrize("question", sorted(WHY_EXAMPLES))
def test_the_issue_examples_never_get_a_wrong_article(kb: KnowledgeBase, question: str) -> None:
    decision = kb.decide(question)
    if decision.action is Action.ANSWER:
        assert decision.matches[0].entry.title in WHY_EXAMPLES[question]
    else:
        assert decision.action in (Action.CLARIFY, Action.ESCALATE)


@pytest.mark.parametrize(("name", "least"), [("operator", 60), ("handoff", 50)])
def test_no_product_question_about_operators_is_taken_for_a_request(
    kb: KnowledgeBase, name: str, least: int
) -> None:
    _, cases = bench("quality").load_set(name)
    questions = [c["q"] for c in cases if "answer" in c["expect"]]
    taken = [q for q in questions if kb.decide(q).action is Action.OPERATOR]
    assert len(questions) >= least
    assert taken == []
