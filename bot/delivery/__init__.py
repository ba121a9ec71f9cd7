"""Delivery written once for every channel: a send's outcomes and the one failure policy.

The worker that applies them is :mod:`bot.delivery.worker` (imported from there: it needs
storage, which needs the settings, which need :class:`Policy`).
"""

from bot.delivery.outcome import (
    Call,
    Done,
    Failed,
    NotReady,
    Outcome,
    Retry,
    Scope,
    Unreachable,
)
from bot.delivery.policy import Policy

__all__ = [
    "Call",
    "Done",
    "Failed",
    "NotReady",
    "Outcome",
    "Policy",
    "Retry",
    "Scope",
    "Unreachable",
]
