"""What a channel is asked to send (:class:`Call`), what came of it (:data:`Outcome`), and
what the outbox worker needs of a channel to send it (:class:`Channel`).

A channel maps its platform's answers to these few outcomes; the outbox worker alone decides
what each means for the stored row (see :mod:`bot.delivery.policy`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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


class Channel(Protocol):
    """What the worker needs of a channel: its name, pacing, the send itself."""

    @property
    def name(self) -> str: ...

    async def pace(self, call: Call) -> float:
        """Seconds until ``call`` may go (its chat's and the bot's send limits); 0.0 takes a
        slot for it now."""
        ...

    async def send(self, call: Call) -> Outcome:
        """Make the call and map the platform's answer; raises only on a bug."""
        ...

    async def unreachable(self, session: AsyncSession, ticket_id: int) -> None:
        """The person of ``ticket_id`` was just found unreachable: store what tells the
        operators in ``session``, the transaction that marks it (so neither is lost alone)."""
        ...

    async def undelivered(self, session: AsyncSession, call: Call, reason: str) -> None:
        """``call`` answered a person and was given up for good (not ``Unreachable``): store
        what tells the operators in ``session``, the transaction that records the give-up
        (once: only the transaction that moved the row from pending calls this)."""
        ...
