"""What the engine consumes and produces: channel-neutral events, replies and named effects."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from bot.replies import Reply


@dataclass(frozen=True, slots=True)
class Incoming:
    """One thing a person did in a channel: sent ``text`` or pressed a button (``payload``).

    ``conversation_id`` is the channel's chat id, ``person_id`` its user id; ``message_id`` is the
    channel's id for this event (Telegram update or callback id, Bitrix24 message id) and makes a
    repeated delivery harmless; empty means "no dedupe". ``language_code`` is what the channel
    says about the person's language ("en-US"), or empty. ``entry_id`` names a knowledge-base
    entry to answer directly (a Telegram deep link), instead of reading ``text``.
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


class Target(StrEnum):
    """Who an :class:`Outgoing` is for."""

    PERSON = "person"  # the person, in their conversation
    OPERATORS = "operators"  # the operators' side of the ticket (Telegram topic, ticket log)


class Effect(StrEnum):
    """A channel action the engine names and an adapter performs (or ignores when not its own)."""

    OPEN_TICKET = "open_ticket"  # a ticket needs operators: open its thread (Telegram forum topic)
    HAND_TO_QUEUE = "hand_to_queue"  # give the chat to the channel's own queue (Bitrix24 line)
    RELAY_TO_OPERATOR = "relay_to_operator"  # a person's message for the ticket's operator
    NOTIFY_OPERATORS = "notify_operators"  # a waiting ticket nobody took: flag it again
    TICKET_TAKEN = "ticket_taken"  # an operator took the ticket (rename or pin the thread)
    TICKET_TRANSFERRED = "ticket_transferred"  # the ticket changed operator
    CLOSE_TICKET = "close_ticket"  # closed or cancelled: close the thread / finish the session


@dataclass(frozen=True, slots=True)
class Outgoing:
    """Something to send or do: a ``reply`` to render, an ``effect`` to perform, or both.

    ``conversation_id`` is the channel's chat id of the person's conversation, also when the
    target is the operators. ``message_id`` is our stored message row for the reply (for an
    outbox or media relay); ``ticket_id`` the ticket concerned.
    """

    target: Target
    channel: str
    conversation_id: str
    reply: Reply | None = None
    effect: Effect | None = None
    ticket_id: int | None = None
    message_id: int | None = None
    operator: str | None = None
