"""What a channel is asked to send (:class:`Call`) and what came of it (:data:`Outcome`).

A channel maps its platform's answers to these few outcomes; the outbox worker alone decides
what each means for the stored row (see :mod:`bot.delivery.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

ANSWER = "answer"  # the kind of a row that answers a person's message: given up (Failed), it is
# handed to the operators (Channel.undelivered); the hand-off's own rows carry another kind


@dataclass(frozen=True, slots=True)
class Call:
    """One stored API call of a channel, as the worker hands it to :meth:`Channel.send`."""

    id: int
    chat_id: str
    method: str
    params: dict[str, Any]
    ticket_id: int | None = None
    to_topic: bool = False
    kind: str = ""
    attempts: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Scope:
    """What waits after a refusal: this call only, one chat, one method, or the whole channel."""

    kind: str
    key: str = ""

    CALL_KIND = "call"

    @classmethod
    def call(cls) -> Scope:
        return cls(cls.CALL_KIND)

    @classmethod
    def chat(cls, chat_id: str) -> Scope:
        return cls("chat", chat_id)

    @classmethod
    def method(cls, name: str) -> Scope:
        return cls("method", name)

    @classmethod
    def channel(cls) -> Scope:
        return cls("channel")

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.key}" if self.key else self.kind


@dataclass(frozen=True, slots=True)
class Done:
    """The platform has the message (``sent_id``: its id there, when it says)."""

    sent_id: str | None = None


@dataclass(frozen=True, slots=True)
class Retry:
    """Not sent this time; try again.

    ``after=None``: a failure (5xx, time-out, network error) retried with the policy's capped
    backoff until the give-up deadline. ``after`` given: the platform said how long to wait
    (a 429's ``retry_after``, a method blocked until its reset) and ``scope`` says who waits;
    that is not counted as a failed attempt. ``unknown``: the call may have taken effect (no
    answer came), so a repeat may double it; it is logged when made.
    """

    reason: str = ""
    after: float | None = None
    scope: Scope = field(default_factory=Scope.call)
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Unreachable:
    """The person cannot be written to (they blocked the bot): every unsent call to them ends."""

    person: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Failed:
    """The platform refused this call for good (a bad request): it is given up, others go on."""

    reason: str


@dataclass(frozen=True, slots=True)
class NotReady:
    """The channel cannot send at all (its token was refused): the rows wait, /readyz says so."""

    reason: str


Outcome = Done | Retry | Unreachable | Failed | NotReady
