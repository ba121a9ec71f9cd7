"""The decision of a :class:`~knowledge.explain.Explanation` in words, for people who look after
the bot: «ответ: P(верно)=0.82 ≥ 0.75 и отрыв 0.05 ≥ 0.02»."""

from __future__ import annotations

from bot.texts import phrase
from knowledge.base import Check
from knowledge.explain import DecisionWhy
from knowledge.model import Action


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


def _check(check: Check, lang: str) -> str:
    measure = phrase(f"why_{check.measure}", lang, value=f"{check.value:.2f}")
    return f"{measure} {'≥' if check.passed else '<'} {check.bar:.2f}"
