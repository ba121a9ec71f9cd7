"""What the engine consumes and produces: one channel-neutral ``Incoming`` in, typed events out.

Every event is a small frozen value a channel renders its own way (``render(event) -> calls``)
or ignores when it is not its own: a Telegram operators' group opens a forum topic for
:class:`TicketOpened`, a Bitrix24 open line hands the chat to its queue for
:class:`HandToQueue`, the terminal prints them. Events carry everything a channel needs to
render them (the reply, the case card, the line for the operators), so rendering reads no
database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.cases import CaseCard
from bot.replies import Reply
from bot.storage.lengths import ID_LENGTH
from bot.storage.models import Conversation, Ticket


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a person did in a channel: sent ``text`` or pressed a button (``payload``).

    ``conversation_id`` is the channel's chat id, ``person_id`` its user id; ``message_id`` is the
    channel's id for this event (Telegram update or callback id, Bitrix24 message id) and makes a
    repeated delivery harmless; empty means "no dedupe". ``language_code`` is what the channel
    says about the person's language ("en-US"), or empty. ``entry_id`` names a knowledge-base
    entry to answer directly (a Telegram deep link), instead of reading ``text``.

    Where the channel has its own operators' queue (a Bitrix24 open line), ``ref`` names the
    place the person writes from now (the line's session): a ticket this turn hands to that
    queue (:class:`HandToQueue`) keeps it as its ``external_ref``. ``released`` says that such
    a place is over (the session ended, whoever held it): the conversation's open ticket with
    that ref is closed first, in the same transaction, and the event then goes to the bot.
    """

    channel: str
    conversation_id: str
    person_id: str
    text: str = ""
    payload: str = ""
    display_name: str = ""
    message_id: str = ""
    language_code: str = ""
    entry_id: str = ""
    ref: str = ""
    released: Release | None = None


@dataclass(frozen=True, slots=True)
class Release:
    """The channel's queue let go of the ticket kept under ``ref``: it closes as ``by``'s,
    with ``why`` for its note (see :attr:`Incoming.released`)."""

    ref: str
    by: str
    why: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Something for a channel to send or do, about one person's conversation.

    ``conversation_id`` is the channel's chat id of that conversation, also when the event is
    for the operators' side.
    """

    channel: str
    conversation_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Say(Event):
    """A message to the person. ``message_id`` is our stored message row; ``operator`` is the
    operator whose action said it (their reply, or a notice of their take or close);
    ``first_reply``: the first answer an operator gave in this ticket."""

    reply: Reply
    ticket_id: int | None = None
    message_id: int | None = None
    operator: str | None = None
    first_reply: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved(Event):
    """The person pressed «Помогло» on answer ``message_id`` (the first time or again): their
    last word is that the bot helped. A channel whose sessions end (a Bitrix24 open line) may
    finish the session if nothing follows; a next message from the person supersedes it."""

    message_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketEvent(Event):
    """Something that happened to a ticket, for the operators' side; ``notice`` is a line for
    them in the operators' language ("" when the event speaks for itself)."""

    ticket_id: int
    notice: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketOpened(TicketEvent):
    """A ticket needs operators (new, or the same question reopened): its case card for their
    side (a Telegram topic's first message, a note in the Bitrix24 chat)."""

    card: CaseCard


@dataclass(frozen=True, slots=True, kw_only=True)
class HandToQueue(TicketEvent):
    """Give the person's chat to the channel's own operator queue (a Bitrix24 open line)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Undelivered(TicketEvent):
    """The outbox gave up an answer to the person of this open ticket: ``notice`` tells its
    operators (the answer did not reach them, and why); nothing goes to the person."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Relayed(TicketEvent):
    """A person's message (row ``message_id``, ``text`` empty for media) for the ticket's
    operator; ``operator`` holds the ticket, if anyone does."""

    message_id: int
    text: str
    operator: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketTaken(TicketEvent):
    """``operator`` took the ticket (also a supervisor's take-over)."""

    operator: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketTransferred(TicketEvent):
    """The ticket went to ``operator``."""

    operator: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketClosed(TicketEvent):
    """The ticket ended: closed by ``operator``, or cancelled by the person (``operator`` is
    then whoever held it, if anyone)."""

    operator: str | None = None
    cancelled: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketFlagged(TicketEvent):
    """A waiting ticket nobody took within the timeout: flag it to operators again."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TicketRated(TicketEvent):
    """The person rated the closed ticket ``rating`` (1–5)."""

    rating: int


def about(conversation: Conversation, ticket: Ticket) -> dict[str, Any]:
    """The fields every :class:`TicketEvent` of this conversation and ticket shares."""
    return {
        "channel": conversation.channel,
        "conversation_id": conversation.external_id,
        "ticket_id": ticket.id,
    }


def handed_over(
    conversation: Conversation, ticket: Ticket, *, notice: str, card: CaseCard, ref: str
) -> list[Event]:
    """A new or reopened ticket given to the channel's queue: its card for the operators, then
    the hand-off, the ticket keeping ``ref`` (where the channel's queue has the person now, ""
    for nowhere in particular) as its ``external_ref``."""
    if ref:
        ticket.external_ref = ref[:ID_LENGTH]
    return [
        TicketOpened(**about(conversation, ticket), notice=notice, card=card),
        HandToQueue(**about(conversation, ticket)),
    ]
