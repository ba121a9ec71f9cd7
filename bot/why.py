"""An :class:`~knowledge.explain.Explanation` in words, for people who look after the bot and
for operators (the case card): how the question was read — «раскладка ghbdtn → привет» — and
the decision with its rule — «ответ: P(верно)=0.82 ≥ 0.75 и отрыв 0.05 ≥ 0.02»."""

from __future__ import annotations

from bot.texts import one_line, phrase
from knowledge.base import Check
from knowledge.explain import DecisionWhy, QuestionRead
from knowledge.model import Action

REPAIRS = 4  # repairs told by name; the rest are counted
REPAIR_CHARS = 80  # a repaired text is cut to this many characters


def describe_decision(decision: DecisionWhy, lang: str) -> str:
    """The action and the rule that chose it, in ``lang``."""
    if decision.action is Action.OPERATOR:
        return phrase("why_operator", lang)
    if decision.action is Action.SMALLTALK:
        return phrase("why_smalltalk", lang, kind=decision.intent)
    action = phrase(f"why_{decision.action.value}", lang)
    checks = [_check(c, lang) for c in decision.checks]
    if not decision.ranked:
        # Every measure is 0 then: only the bar that sent the question on says anything.
        return f"{action}: {phrase('why_nothing', lang)} ({checks[-1]})"
    rule = f" {phrase('why_and', lang)} ".join(
        [", ".join(checks[:-1]), checks[-1]] if len(checks) > 1 else checks
    )
    return f"{action}: {rule}"


def describe_reading(question: QuestionRead, lang: str, *, limit: int = REPAIRS) -> str:
    """The repairs made to the question before it was searched, in ``lang``: the first ``limit``
    of them, each cut to :data:`REPAIR_CHARS`; "" when it was read as typed."""
    said = [
        phrase(
            f"why_repair_{r.kind}",
            lang,
            original=one_line(r.original, REPAIR_CHARS),
            repaired=one_line(r.repaired, REPAIR_CHARS),
        )
        for r in question.repairs[:limit]
    ]
    if len(question.repairs) > limit:
        said.append(phrase("why_repairs_more", lang, count=len(question.repairs) - limit))
    return "; ".join(said)


def _check(check: Check, lang: str) -> str:
    measure = phrase(f"why_{check.measure}", lang, value=f"{check.value:.2f}")
    return f"{measure} {'≥' if check.passed else '<'} {check.bar:.2f}"
