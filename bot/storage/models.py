"""The database schema as SQLAlchemy 2 models; Alembic revisions in migrations/ create it.

The core's tables are here; a channel's own tables are its models on this :class:`Base`
(``handlers/bitrix24/models.py``), which the migrations' environment imports so that
``Base.metadata`` holds every table."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from bot.storage.lengths import ID_LENGTH

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every dialect (SQLite drops the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime stored; the clock gives aware UTC times")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class State(StrEnum):
    """Where a conversation is: with the bot, waiting for an operator, with one, or just closed.

    Derived from the conversation's tickets (:mod:`bot.engine.state`), never stored."""

    BOT = "bot"
    WAITING = "waiting"
    OPERATOR = "operator"
    CLOSED = "closed"


class TicketStatus(StrEnum):
    WAITING = "waiting"
    TAKEN = "taken"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class Author(StrEnum):
    PERSON = "person"
    BOT = "bot"
    OPERATOR = "operator"


class Contact(Base):
    """A person as one channel knows them."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    display_name: Mapped[str] = mapped_column(String(256), default="")
    language: Mapped[str] = mapped_column(String(16), default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Conversation(Base):
    """One chat with one person on one channel; its state is its tickets' (bot.engine.state)."""

    __tablename__ = "conversations"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(String(8), default="ru")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # False: no waiting or taken ticket (a ticket's opening sets it, in the same transaction:
    # bot.storage.tickets.mark_open); True: there may be one, and the turn that finds none
    # clears it. On the locked row, so the turn reads it fresh after a wait (bot.storage.repo).
    ticket_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class Ticket(Base):
    """A question handed to operators, from escalation to close."""

    __tablename__ = "tickets"
    __table_args__ = (Index(None, "status", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE"), index=True
    )
    status: Mapped[str] = mapped_column(String(16), default=TicketStatus.WAITING)
    reason: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text, default="")
    operator: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    external_ref: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    flagged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    taken_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    first_reply_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rating: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    person_blocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # bot blocked (403)


class Message(Base):
    """One message either way; bot replies keep the decision and the entries they offered."""

    __tablename__ = "messages"
    __table_args__ = (Index(None, "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[str | None] = mapped_column(String(64))
    channel_message_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    question_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id", ondelete="SET NULL"))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    operator: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    decision: Mapped[str | None] = mapped_column(String(16))
    entry_id: Mapped[str | None] = mapped_column(String(255))
    confidence: Mapped[float | None] = mapped_column(Float)
    options: Mapped[list[str] | None] = mapped_column(JSON)
    buttons: Mapped[list[list[str]] | None] = mapped_column(JSON)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class Feedback(Base):
    """«Помогло» / «Не помогло» on one bot answer; one per answer."""

    __tablename__ = "feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), unique=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    helpful: Mapped[bool] = mapped_column(Boolean)
    entry_id: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class InboxUpdate(Base):
    """A raw channel event (a Telegram update): stored before it is acknowledged, then processed."""

    __tablename__ = "inbox"
    __table_args__ = (UniqueConstraint("channel", "external_id"), Index(None, "status", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(ID_LENGTH))  # Telegram update_id
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    processed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # One replica at a time per chat; the replica working on it.
    chat_key: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    claimed_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OutboxMessage(Base):
    """One API call to send (a channel message), stored before it is sent by the outbox worker.

    ``to_topic`` rows go to the ticket's thread on the operators' side, resolved when sent.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index(None, "status", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(
        ForeignKey("tickets.id", ondelete="SET NULL"), index=True
    )
    to_topic: Mapped[bool] = mapped_column(Boolean, default=False)
    kind: Mapped[str] = mapped_column(String(32), default="")
    method: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict[str, object]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    error: Mapped[str | None] = mapped_column(Text)
    sent_id: Mapped[str | None] = mapped_column(String(64))  # the channel's id of what was sent
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(ID_LENGTH))  # who sends its chat
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Set just before a call whose effect cannot be undone or checked (Telegram's sendMessage)
    # and cleared with its outcome: still set on the next attempt means the last one's fate is
    # unknown (the process died mid-call), so the person may see this message twice.
    sending_since: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Lease(Base):
    """A named job only one replica may do at a time (the Bitrix24 poller): who, and until when."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(ID_LENGTH))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


# Operators' work on tickets (bot/queue/, bot/cases.py).


class TicketAction(Base):
    """One operator action on a ticket (take, reply, send an entry, transfer, close, refusals):
    who did it and when, for audits and per-operator figures."""

    __tablename__ = "ticket_actions"
    __table_args__ = (Index(None, "ticket_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    operator: Mapped[str] = mapped_column(String(ID_LENGTH))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)  # the colleague, the entry, the note
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class TicketEntry(Base):
    """A knowledge-base entry an operator answered a ticket with: the pairing question → entry.

    ``resolved`` turns true when the ticket is closed after it: the entry settled the question.
    """

    __tablename__ = "ticket_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(Text, default="")
    entry_id: Mapped[str] = mapped_column(String(255))
    operator: Mapped[str] = mapped_column(String(ID_LENGTH))
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class KbReload(Base):
    """A reload of the knowledge base asked for (``helpbot kb reload``, SIGHUP, a changed file):
    every server reloads when it sees an id above the last one it saw."""

    __tablename__ = "kb_reloads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    requested_by: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)


class PhrasingStatus(StrEnum):
    APPROVED = "approved"
    REJECTED = "rejected"


class KbPhrasing(Base):
    """A person's verdict on a learned phrasing of an entry (``helpbot kb suggestions``):
    approved ones are extra questions of the entry from the next reload on; rejected ones are
    not suggested again. ``key`` is the question normalised (case, spaces)."""

    __tablename__ = "kb_phrasings"
    __table_args__ = (UniqueConstraint("entry_id", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(255))
    key: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    decided_by: Mapped[str] = mapped_column(String(ID_LENGTH), default="")
    decided_at: Mapped[datetime] = mapped_column(UtcDateTime)
