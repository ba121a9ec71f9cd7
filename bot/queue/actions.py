"""The operators' actions as values: what :meth:`bot.queue.OperatorQueue.apply` takes.

An action names what an operator (or the re-flag timer) does to a ticket; the queue applies it
in the caller's transaction and returns the engine's typed events (``Say`` to the person,
``TicketTaken``, ``TicketClosed``… for the operators' side), which :func:`bot.delivery.pipeline.act`
renders with each channel's pure render and stores as outbox rows in that same transaction.
``force``: a supervisor acting on a ticket another operator holds.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Take:
    """Take a waiting ticket; of two operators taking one ticket at once exactly one wins."""

    ticket_id: int
    operator: str
    force: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """An operator's message to the person, on a ticket they hold."""

    ticket_id: int
    operator: str
    text: str
    force: bool = False


@dataclass(frozen=True, slots=True)
class SendEntry:
    """A knowledge-base entry's answer card to the person, in one step."""

    ticket_id: int
    operator: str
    entry_id: str
    force: bool = False


@dataclass(frozen=True, slots=True)
class Transfer:
    """Hand an open ticket to ``to_operator``; ``by``: who hands it (``None``: the system)."""

    ticket_id: int
    to_operator: str
    by: str | None = None
    force: bool = False


@dataclass(frozen=True, slots=True)
class Close:
    """Close an open ticket, with the operator's ``note``; the person is asked to rate it."""

    ticket_id: int
    operator: str
    note: str | None = None
    force: bool = False


@dataclass(frozen=True, slots=True)
class Reflag:
    """Flag again the waiting tickets nobody took in time (``channels``: ``None``, all)."""

    channels: Collection[str] | None = None


Action = Take | Answer | SendEntry | Transfer | Close | Reflag
