"""Repository functions for channel delivery: the inbox of raw updates and the outbox of sends
stored, and what a send's outcome marks on the person's ticket.

Every function takes the caller's ``AsyncSession`` and never commits. The claims on the stored
rows, and the looks before them, are :mod:`bot.storage.claims`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Exists,
    Insert,
    String,
    Table,
    bindparam,
    case,
    exists,
    insert,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from bot.storage import dialect, repo, tickets, wakeup
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage, Ticket
from bot.storage.rows import add_row


async def keep_update(
    session: AsyncSession,
    channel: str,
    external_id: str,
    payload: dict[str, Any],
    now: datetime,
    chat_key: str | None,
    *,
    replica: str | None,
    hold_until: datetime,
) -> InboxUpdate | None:
    """Store a raw update claimed by ``replica`` (until ``hold_until``) when it is the only
    pending update of its chat, else (or with no ``replica``) unclaimed; the stored row (as
    inserted), or ``None`` for a redelivery. One ``INSERT … ON CONFLICT DO NOTHING
    RETURNING``: the chat is looked at in the statement itself.

    A row claimed here needs no claim commit before it is processed; other replicas leave its
    chat alone until the claim runs out. On PostgreSQL the caller takes turns with the
    channel's claims first (:func:`bot.storage.dialect.serialise` on ``inbox:<channel>``), so
    that two replicas never both claim the first update of one chat.
    """
    values = {
        "channel": channel, "external_id": external_id, "payload": payload, "created_at": now,
        "chat_key": chat_key, "status": DeliveryStatus.PENDING, "attempts": 0,
        "claimed_until": hold_until,  # no holder: free for any replica (bot.storage.claims)
        "k_channel": channel, "k_chat": chat_key, "k_replica": replica,
    }  # fmt: skip
    statement = _keeping_insert(dialect.backend(session))
    found = (await session.execute(statement, values)).first()
    if found is None:
        return None
    row_id, holder = found
    return InboxUpdate(
        id=row_id, channel=channel, external_id=external_id, payload=payload,
        status=DeliveryStatus.PENDING, attempts=0, created_at=now, chat_key=chat_key,
        claimed_by=holder, claimed_until=hold_until,
    )  # fmt: skip


@cache  # one per backend, built once: its SQL and cache key are reused by every update
def _keeping_insert(backend: str) -> Insert:
    """:func:`keep_update`'s INSERT: claimed by ``k_replica`` unless the chat ``k_chat`` has a
    pending update already (no chat: claimed by ``k_replica``, which may be ``None``)."""
    table, earlier = _pending_in_chat(InboxUpdate, "chat_key", "k")
    holder = case((earlier, null()), else_=bindparam("k_replica", type_=String))
    return (
        dialect.insert_ignoring(backend, table)
        .values(claimed_by=holder)
        .returning(table.c.id, table.c.claimed_by)
    )


def _pending_in_chat(
    model: type[InboxUpdate | OutboxMessage], chat: str, prefix: str
) -> tuple[Table, Exists]:
    """The model's table, and whether the chat (``<prefix>_channel``, ``<prefix>_chat`` bound)
    has a pending row in it."""
    table = model.__table__
    assert isinstance(table, Table)
    pending = exists().where(
        table.c.channel == bindparam(f"{prefix}_channel", type_=String),
        table.c[chat] == bindparam(f"{prefix}_chat", type_=String),
        table.c.status == DeliveryStatus.PENDING,
    )
    return table, pending


async def lock_chats(session: AsyncSession, channel: str, chats: Iterable[str]) -> None:
    """PostgreSQL: take the chats' outbox locks, held until the caller commits, before rows are
    added to them: transactions that write to one chat commit its rows in the order their ids
    were given (an earlier id never becomes visible after a later one is sent), and a look at
    the chat's unsent rows (:func:`add_outbox`'s ``reserving``) stays true until the commit.
    SQLite: its writers take turns anyway. Sorted, so that two transactions never wait for each
    other."""
    for chat in sorted(set(chats)):
        await dialect.serialise(session, f"outbox:{channel}:{chat}")


async def add_outbox(
    session: AsyncSession,
    rows: Sequence[OutboxMessage],
    *,
    locked: bool = False,
    reserving: Collection[int] = (),
) -> None:
    """Add outbox rows in the caller's transaction, one INSERT each (:mod:`bot.storage.rows`;
    ``locked``: :func:`lock_chats` was called for their chats already).

    ``reserving``: the places in ``rows`` of rows whose claim and "being sent" mark (set on
    the object) hold only if the row is its chat's first unsent one: the INSERT looks at the
    chat itself and stores them empty otherwise, and the object is told so (``claimed_by``
    ``None``). The caller locked the chats, so the look stays true until its commit.
    """
    if not rows:
        return
    first_locks = not locked and not reserving and _one_chat(session, rows)
    if not locked and not first_locks:
        channels = {row.channel for row in rows}
        for channel in sorted(channels):
            await lock_chats(session, channel, (r.chat_id for r in rows if r.channel == channel))
    for place, row in enumerate(rows):
        if first_locks and place == 0:
            lock = {"lock": dialect.lock_key(f"outbox:{row.channel}:{row.chat_id}")}
            await add_row(session, row, extra=lock, shaped=_locking_insert)
            continue
        if place not in reserving:
            await add_row(session, row)
            continue
        first: dict[str, object] = {"r_channel": row.channel, "r_chat": row.chat_id}
        first |= {"r_replica": row.claimed_by, "r_since": row.sending_since}
        found = await add_row(session, row, _reserving_insert(), first, computed=_RESERVED)
        assert found is not None  # a plain INSERT: it stores the row or raises
        if found[1] is None:  # the chat has an unsent row: this one is not reserved
            set_committed_value(row, "claimed_by", None)  # as stored: nothing to flush
            set_committed_value(row, "sending_since", None)
    for channel in sorted({row.channel for row in rows if row.claimed_by is None}):
        await wakeup.ring(session, f"outbox:{channel}")  # for the claims: wake the workers


_RESERVED = ("claimed_by", "sending_since")  # what _reserving_insert sets itself


def _one_chat(session: AsyncSession, rows: Sequence[OutboxMessage]) -> bool:
    """PostgreSQL, and every row for one chat: its lock can come with the first row's INSERT
    (:func:`_locking_insert`), one statement less than :func:`lock_chats` and then the INSERT.
    (SQLite takes no lock; rows for several chats lock them all first, in order.)"""
    first = rows[0]
    return dialect.backend(session) == "postgresql" and all(
        row.chat_id == first.chat_id and row.channel == first.channel for row in rows
    )


@cache  # one per set of columns a row sends (a handful), each built once
def _locking_insert(columns: tuple[str, ...]) -> Insert:
    """A row's INSERT that first takes its chat's outbox lock (``lock`` bound, as
    :func:`lock_chats` takes it): ``INSERT … SELECT <the row> FROM (SELECT
    pg_advisory_xact_lock(…))``. The subquery's one row comes first, the row's values and its
    id (``nextval``) are computed over it (``EXPLAIN VERBOSE``: a Result with the lock under
    the Subquery Scan that projects the row; a volatile function keeps the planner from
    folding the subquery away), so ids are still given in the order the chat's transactions
    hold its lock. No look at the chat's rows may share the statement: its snapshot is older
    than the lock (reserved rows lock first, in a statement of their own)."""
    table = OutboxMessage.__table__
    assert isinstance(table, Table)
    held = select(dialect.locking_call().label("held")).subquery("held")
    row = select(*(bindparam(c, type_=table.c[c].type) for c in columns)).select_from(held)
    return insert(table).from_select(list(columns), row).returning(table.c.id)


@cache  # built once: its SQL and cache key are reused by every reserved row
def _reserving_insert() -> Insert:
    """A row's INSERT that claims it and marks it as being sent only when its chat has no
    unsent row (``r_channel``, ``r_chat``, ``r_replica``, ``r_since`` bound)."""
    table, unsent = _pending_in_chat(OutboxMessage, "chat_id", "r")
    since = bindparam("r_since", type_=table.c.sending_since.type)
    return (
        insert(table)
        .values(
            claimed_by=case((unsent, null()), else_=bindparam("r_replica", type_=String)),
            sending_since=case((unsent, null()), else_=since),
        )
        .returning(table.c.id, table.c.claimed_by)
    )


async def fail_pending_for_chat(
    session: AsyncSession, channel: str, chat_id: str, error: str
) -> int:
    """Give up every unsent row to one chat (the person blocked the bot); returns how many."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.chat_id == chat_id,
            OutboxMessage.status == DeliveryStatus.PENDING,
        )
        .values(status=DeliveryStatus.FAILED, error=error)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def latest_ticket(session: AsyncSession, channel: str, conversation: str) -> Ticket | None:
    """The conversation's open ticket, else its most recent one."""
    found = await repo.find_conversation(session, channel, conversation)
    if found is None:
        return None
    ticket = await tickets.open_ticket(session, found.id)
    if ticket is not None:
        return ticket
    return await session.scalar(
        select(Ticket).where(Ticket.conversation_id == found.id).order_by(Ticket.id.desc()).limit(1)
    )


async def set_person_blocked(
    session: AsyncSession, channel: str, conversation: str, when: datetime | None
) -> Ticket | None:
    """Mark (``when``) or clear (``None``) "the person blocked the bot" on their latest ticket.

    Returns the ticket when the mark changed, so the caller can tell the operators once.
    """
    ticket = await latest_ticket(session, channel, conversation)
    if ticket is None or (ticket.person_blocked_at is None) == (when is None):
        return None
    ticket.person_blocked_at = when
    return ticket


async def sent_id_of(session: AsyncSession, channel: str, ticket_id: int, kind: str) -> str | None:
    """The channel's id of the newest sent row of this kind for the ticket (a ticket's card)."""
    found = await session.scalar(
        select(OutboxMessage.sent_id)
        .where(
            OutboxMessage.channel == channel,
            OutboxMessage.ticket_id == ticket_id,
            OutboxMessage.kind == kind,
            OutboxMessage.status == DeliveryStatus.DONE,
            OutboxMessage.sent_id.is_not(None),
        )
        .order_by(OutboxMessage.id.desc())
        .limit(1)
    )
    return None if found is None else str(found)
