"""The one failure policy: what an :data:`Outcome` means for its stored call. Pure: no I/O.

* ``Done``: sent. ``Failed``: given up at once. ``Unreachable``: this call and every other
  unsent one to that person are given up and the person is marked (by the worker).
* ``Retry`` without ``after`` (5xx, time-outs, network errors): tried again after a capped
  exponential backoff, for as long as the call is younger than ``give_up_after`` (hours, not
  seconds: an outage of the platform must not cost replies).
* ``Retry`` with ``after``: the platform said when; the ``scope`` it names waits that long (a
  429 in the operators' group pauses that group, not the answers to people), and no attempt
  is counted.
* ``NotReady``: nothing of the channel is sent until it is checked again; the rows stay.
* No outcome, the send raised (:func:`crashed`): a bug in the channel, given up on the call's
  :data:`MAX_ATTEMPTS`-th try as the inbox gives up an event whose handler fails so; a passing
  failure of an outside call the channel did not map is a ``Retry``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.delivery.outcome import Done, Failed, NotReady, Outcome, Retry, Scope, Unreachable

BACKOFF_BASE = 0.5  # seconds before the first retry of a failed call; doubled each time
MAX_ATTEMPTS = 3  # tries of an event or a call that fails by a bug of ours, not by a passing
# failure of an outside call (bot.storage.faults), before it is given up: it fails so again


@dataclass(frozen=True, slots=True)
class Policy:
    """The knobs (``DELIVERY_*`` settings)."""

    give_up_after: float = 24 * 3600.0
    retry_cap: float = 60.0
    recheck_after: float = 30.0  # a channel that is not ready is tried again after this


@dataclass(frozen=True, slots=True)
class Settlement:
    """The row's new values, and a pause for a wider scope than the call."""

    status: str  # "pending", "done" or "failed"
    attempts: int
    not_before: datetime | None = None  # pending: not before this
    error: str | None = None
    sent_id: str | None = None
    keep_sending_mark: bool = False  # the call's fate is unknown
    pause: tuple[Scope, datetime] | None = None


def backoff(attempts: int, cap: float) -> float:
    """Seconds before retry number ``attempts`` (1, 2, …) of a failed call."""
    return min(cap, BACKOFF_BASE * 2.0 ** min(attempts - 1, 30))


def crashed(reason: str, *, passing: bool, attempts: int) -> Outcome:
    """The outcome of a send that raised instead of returning one, tried ``attempts`` times
    before: a passing failure of an outside call that the channel did not map (``passing``)
    is retried like a network error; anything else is a bug in the channel that repeats,
    given up on the call's :data:`MAX_ATTEMPTS`-th try — as the inbox gives up an event whose
    handler fails so — instead of holding the chat's later calls until ``give_up_after``.
    ``attempts`` counts every earlier try of the call, its network errors' retries too (one
    column): a call retried twice before is given up on its first crash."""
    if passing or attempts + 1 < MAX_ATTEMPTS:
        return Retry(reason, unknown=True)
    return Failed(reason)


def settlement_for(
    outcome: Outcome, *, attempts: int, created_at: datetime, now: datetime, policy: Policy
) -> Settlement:
    """What becomes of a call tried ``attempts`` times before, stored at ``created_at``."""
    if isinstance(outcome, Done):
        return Settlement("done", attempts + 1, sent_id=outcome.sent_id)
    if isinstance(outcome, Failed):
        return Settlement("failed", attempts + 1, error=outcome.reason)
    if isinstance(outcome, Unreachable):
        return Settlement("failed", attempts + 1, error=f"unreachable: {outcome.reason}")
    if isinstance(outcome, NotReady):
        until = now + timedelta(seconds=policy.recheck_after)
        return Settlement("pending", attempts, error=outcome.reason, pause=(Scope.channel(), until))
    assert isinstance(outcome, Retry)
    deadline = created_at + timedelta(seconds=policy.give_up_after)
    if outcome.after is None:
        tried = attempts + 1
        when = now + timedelta(seconds=backoff(tried, policy.retry_cap))
    else:
        tried = attempts
        when = now + timedelta(seconds=max(outcome.after, 0.0))
    if when > deadline:
        given_up = f"given up after {policy.give_up_after:.0f}s: {outcome.reason}"
        return Settlement("failed", tried, error=given_up)
    if outcome.after is not None and outcome.scope.kind != Scope.CALL_KIND:
        pause = (outcome.scope, when)
        return Settlement("pending", tried, error=outcome.reason or None, pause=pause)
    return Settlement(
        "pending", tried, not_before=when, error=outcome.reason or None,
        keep_sending_mark=outcome.unknown,
    )  # fmt: skip
