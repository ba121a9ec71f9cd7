"""Reactions on the person's question (setMessageReaction, Bot API 7.0): 👀 when an operator takes
it, 👌 when an operator first answers it.

Bots may react only with the emoji of ReactionTypeEmoji (aiogram 3.31
`types/reaction_type_emoji.py`, the Bot API reference): 👀 and 👌 are among them, ✅ is not.
A bot keeps one reaction per message, so 👌 replaces 👀. The question is the person's message
the ticket was opened with; its Telegram id is read from the stored update it came in, when
the reaction is sent (rendering reads no database): the call carries the ticket under
:data:`QUESTION_OF` until then.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import Draft
from bot.engine import Event, Say, TicketTaken
from bot.storage.models import Author, InboxUpdate, Message, Ticket

TAKEN = "👀"
ANSWERED = "👌"
CHANNEL = "telegram"
REACTION = "reaction"  # the outbox kind of a reaction call, completed when it is sent
QUESTION_OF = "question_of_ticket"  # a reaction call's ticket, whose question gets it


def reaction_for(event: Event) -> str | None:
    """The reaction ``event`` puts on the person's question, if any."""
    if isinstance(event, TicketTaken):
        return TAKEN
    if isinstance(event, Say) and event.ticket_id is not None and event.first_reply:
        return ANSWERED
    return None


def reaction_draft(chat_id: str, ticket_id: int, emoji: str) -> Draft:
    """The reaction call, its message id still to find (see :func:`question_message`)."""
    params = {"reaction": [{"type": "emoji", "emoji": emoji}], QUESTION_OF: ticket_id}
    return Draft(chat_id, "setMessageReaction", params, kind=REACTION)


async def question_message(session: AsyncSession, ticket_id: int) -> int | None:
    """The Telegram message id of the question the ticket was opened with (None if unknown)."""
    ticket = await session.get(Ticket, ticket_id)
    if ticket is None or not ticket.question:
        return None
    ref = await session.scalar(
        select(Message.channel_message_id)
        .where(
            Message.conversation_id == ticket.conversation_id,
            Message.author == Author.PERSON,
            Message.text == ticket.question,
            Message.created_at <= ticket.created_at,
        )
        .order_by(Message.id.desc())
        .limit(1)
    )
    if not ref or not ref.startswith("u"):
        return None
    payload = await session.scalar(
        select(InboxUpdate.payload).where(
            InboxUpdate.channel == CHANNEL, InboxUpdate.external_id == ref[1:]
        )
    )
    return _message_id(payload)


def _message_id(payload: Any) -> int | None:
    message = payload.get("message") if isinstance(payload, dict) else None
    value = message.get("message_id") if isinstance(message, dict) else None
    return value if isinstance(value, int) else None
