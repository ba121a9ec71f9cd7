"""Repository functions for contacts, conversations, messages, feedback and inbound dedupe.

Every function takes the caller's ``AsyncSession`` and never commits: one transaction per event.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, String, and_, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import dialect
from bot.storage.models import Author, Contact, Conversation, Feedback, Message, Ticket
from bot.storage.rows import add_row, insert_if_new
from bot.storage.tickets import OPEN_STATUSES, open_ticket


@dataclass(frozen=True, slots=True)
class TurnRows:
    """What one event of a person's works on: their contact, the locked conversation, its open
    ticket (``None`` when there is none)."""

    contact: Contact
    conversation: Conversation
    ticket: Ticket | None


async def begin_turn(
    session: AsyncSession,
    channel: str,
    conversation_id: str,
    person_id: str,
    *,
    display_name: str,
    language: str,
    lang: str,
    now: datetime,
) -> TurnRows:
    """The rows of an event, the conversation locked for this transaction (``FOR UPDATE``).

    A known person in a known conversation (every event but a chat's first) costs one SELECT
    that joins the contact to the locked conversation, and on SQLite the open ticket too
    (:func:`bot.storage.dialect.writers_take_turns`); on PostgreSQL the ticket is a SELECT of
    its own after the lock, and only when the locked row says one may be open
    (``ticket_open``, read fresh after a wait as the locked row is). Otherwise the contact and
    the conversation are created as needed.
    """
    with_ticket = dialect.writers_take_turns(session)
    found: Sequence[Any] | None = (
        await session.execute(
            _turn_query(with_ticket),
            {"channel": channel, "conversation": conversation_id, "person": person_id},
        )
    ).first()
    if found is not None:
        conversation: Conversation = found[0]
        contact: Contact = found[1]
        _refresh_contact(contact, display_name, language)
        joined = (found[2],) if with_ticket else None
        return TurnRows(contact, conversation, await _ticket(session, conversation, joined))
    contact = await upsert_contact(
        session, channel, person_id, display_name=display_name, language=language, now=now
    )
    created = await _new_conversation(session, channel, conversation_id, contact, lang, now)
    if created is not None:  # by this transaction, its own until it commits: no ticket yet
        return TurnRows(contact, created, None)
    conversation = (  # someone else's since the first SELECT: lock it now
        await session.scalars(
            select(Conversation)
            .where(Conversation.channel == channel, Conversation.external_id == conversation_id)
            .with_for_update()
        )
    ).one()
    return TurnRows(contact, conversation, await _ticket(session, conversation))


async def _ticket(
    session: AsyncSession, conversation: Conversation, joined: tuple[Ticket | None] | None = None
) -> Ticket | None:
    """The locked conversation's open ticket: the one ``joined`` to the lock's SELECT (SQLite),
    else a SELECT of its own when ``ticket_open`` says there may be one, else none. A flag found
    set with no ticket open (closed since) is cleared, once, in this transaction."""
    if joined is not None:
        (ticket,) = joined
    elif conversation.ticket_open:
        ticket = await open_ticket(session, conversation.id)
    else:
        return None
    if ticket is None and conversation.ticket_open:
        conversation.ticket_open = False
    return ticket


@cache  # built once: its SQL and cache key are reused by every event
def _turn_query(with_ticket: bool) -> Select[*tuple[Any, ...]]:
    """:func:`begin_turn`'s SELECT, with ``channel``, ``conversation`` and ``person`` bound."""
    channel = bindparam("channel", type_=String)
    query: Select[*tuple[Any, ...]] = (
        select(Conversation, Contact)
        .select_from(Conversation)
        .join(
            Contact,
            and_(Contact.channel == channel, Contact.external_id == bindparam("person")),
        )
        .where(
            Conversation.channel == channel, Conversation.external_id == bindparam("conversation")
        )
        .with_for_update(of=Conversation)
    )
    if not with_ticket:
        return query
    newest_open = (
        select(Ticket.id)
        .where(Ticket.conversation_id == Conversation.id, Ticket.status.in_(OPEN_STATUSES))
        .order_by(Ticket.id.desc())
        .limit(1)
        .correlate(Conversation)
        .scalar_subquery()
    )
    return query.add_columns(Ticket).outerjoin(Ticket, Ticket.id == newest_open)


async def upsert_contact(
    session: AsyncSession,
    channel: str,
    external_id: str,
    *,
    display_name: str,
    language: str,
    now: datetime,
) -> Contact:
    """The contact for a channel's person id, created or updated with the latest name: a new
    person is one ``INSERT … ON CONFLICT DO NOTHING``, a known one a SELECT."""
    contact = Contact(channel=channel, external_id=external_id, created_at=now)
    _refresh_contact(contact, display_name, language)
    if await add_row(session, contact, insert_if_new(dialect.backend(session), Contact)):
        return contact
    contact = (
        await session.scalars(
            select(Contact).where(Contact.channel == channel, Contact.external_id == external_id)
        )
    ).one()
    _refresh_contact(contact, display_name, language)
    return contact


def _refresh_contact(contact: Contact, display_name: str, language: str) -> None:
    """The latest name and language the channel gave (an unchanged value is not even set: the
    contact stays clean, and the turn's statements need no flush of the ORM before them)."""
    if display_name and contact.display_name != display_name[:256]:
        contact.display_name = display_name[:256]
    if language and contact.language != language[:16]:
        contact.language = language[:16]


async def _new_conversation(
    session: AsyncSession,
    channel: str,
    external_id: str,
    contact: Contact,
    lang: str,
    now: datetime,
) -> Conversation | None:
    """The conversation inserted by this transaction, or ``None`` when it exists already (one
    ``INSERT … ON CONFLICT DO NOTHING``: a concurrent creator's row wins, unchanged)."""
    conversation = Conversation(
        channel=channel,
        external_id=external_id,
        contact_id=contact.id,
        lang=lang,
        created_at=now,
    )
    statement = insert_if_new(dialect.backend(session), Conversation)
    return conversation if await add_row(session, conversation, statement) else None


async def get_conversation(
    session: AsyncSession, conversation_id: int, *, lock: bool = False
) -> Conversation | None:
    """The conversation; ``lock`` takes its row lock (``FOR UPDATE``) and re-reads its values."""
    if not lock:
        return await session.get(Conversation, conversation_id)
    return await session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


async def find_conversation(
    session: AsyncSession, channel: str, external_id: str
) -> Conversation | None:
    return await session.scalar(
        select(Conversation).where(
            Conversation.channel == channel, Conversation.external_id == external_id
        )
    )


async def add_message(session: AsyncSession, message: Message) -> Message:
    """Store a message and give it its id (one INSERT, no flush: :mod:`bot.storage.rows`)."""
    await add_row(session, message)
    return message


async def get_message(session: AsyncSession, message_id: int) -> Message | None:
    return await session.get(Message, message_id)


async def has_bot_message(session: AsyncSession, ticket_id: int, decision: str) -> bool:
    """Whether the bot already sent a message of this kind within the ticket."""
    found = await session.scalar(
        select(Message.id)
        .where(
            Message.ticket_id == ticket_id,
            Message.author == Author.BOT,
            Message.decision == decision,
        )
        .limit(1)
    )
    return found is not None


async def last_bot_message(session: AsyncSession, conversation_id: int) -> Message | None:
    return await last_message(session, conversation_id, Author.BOT)


async def last_message(session: AsyncSession, conversation_id: int, author: str) -> Message | None:
    """The conversation's newest message by ``author`` (an :class:`Author`)."""
    return await session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.author == author)
        .order_by(Message.id.desc())
        .limit(1)
    )


async def shown_entries(session: AsyncSession, question_id: int) -> set[str]:
    """Entry ids already offered for one question (answers and choice lists).

    Replies to a question live in its conversation; filtering on that lets the query use the
    (conversation_id, id) index, since question_id has none and the table is the largest.
    """
    conversation_id = (
        select(Message.conversation_id).where(Message.id == question_id).scalar_subquery()
    )
    rows = await session.scalars(
        select(Message.options).where(
            Message.conversation_id == conversation_id, Message.question_id == question_id
        )
    )
    return {entry_id for options in rows if options for entry_id in options}


async def tag_ticket_messages(
    session: AsyncSession, conversation_id: int, first_id: int, ticket_id: int
) -> None:
    """Attach the exchange that led to a ticket (from its question on) to the ticket."""
    await session.execute(
        update(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.id >= first_id,
            Message.ticket_id.is_(None),
        )
        .values(ticket_id=ticket_id)
    )


async def messages_after(
    session: AsyncSession,
    conversation_id: int,
    after_id: int,
    authors: Collection[str] = (Author.BOT, Author.OPERATOR),
) -> list[Message]:
    """Messages newer than ``after_id`` by the given authors, oldest first (terminal polling)."""
    rows = await session.scalars(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            Message.id > after_id,
            Message.author.in_(list(authors)),
        )
        .order_by(Message.id)
    )
    return list(rows)


async def add_feedback(session: AsyncSession, feedback: Feedback) -> bool:
    """Store feedback on an answer; ``False`` when that answer already has feedback."""
    try:
        async with session.begin_nested():
            session.add(feedback)
    except IntegrityError:
        return False
    return True
