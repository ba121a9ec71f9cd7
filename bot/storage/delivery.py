"""Repository functions for channel delivery: the inbox of raw updates and the outbox of sends.

Every function takes the caller's ``AsyncSession`` and never commits.

Several replicas share the tables: a worker *claims* pending rows (``claimed_by``, until
``claimed_until``) before it handles them, and a chat whose rows another live replica holds is
left alone, so each row is handled by one replica and one chat's rows keep their order. A dead
replica's claims simply expire. Claims are taken in a transaction serialised per table and channel
(:func:`bot.storage.dialect.serialise`).
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Exists,
    Insert,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    case,
    exists,
    func,
    insert,
    null,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.sql.dml import ReturningUpdate

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
        "claimed_until": hold_until,  # no holder: free for any replica (see _free)
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


async def pending_outbox(session: AsyncSession, channel: str, limit: int) -> list[OutboxMessage]:
    """Unsent outbox rows, fairly: every chat's oldest row, then every chat's second, and so on.

    One chat's backlog (the operators' group sends ~20 a minute) thus never keeps the other
    chats out of a batch; within a chat the rows keep the order they were stored in.
    """
    pending = (OutboxMessage.channel == channel, OutboxMessage.status == DeliveryStatus.PENDING)
    ranked = _ranked(OutboxMessage.__table__, [OutboxMessage.id], *pending).subquery()
    rows = await session.scalars(
        select(OutboxMessage)
        .join(ranked, OutboxMessage.id == ranked.c.id)
        .order_by(ranked.c.place, OutboxMessage.id)
        .limit(limit)
    )
    return list(rows)


def _ranked(table: Any, columns: Sequence[Any], *where: ColumnElement[bool]) -> Select[Any]:
    """``columns`` of ``table``'s outbox rows that match ``where``, each with its ``place`` in
    its chat (1: the chat's first, by id) — the one window :func:`pending_outbox`'s fair order,
    the outbox's look (:func:`_look`, ``heads``) and its claim (:func:`_heads`) read."""
    place = func.row_number().over(partition_by=table.c.chat_id, order_by=table.c.id)
    return select(*columns, place.label("place")).where(*where)


def default_replica() -> str:
    """This process's name in claims and leases when ``REPLICA_ID`` is not set."""
    return f"{socket.gethostname()}-{os.getpid()}"


def _free(claimed_by: Any, claimed_until: Any, replica: Any, now: Any) -> ColumnElement[bool]:
    return or_(claimed_by.is_(None), claimed_by == replica, claimed_until <= now)


_Row = TypeVar("_Row", InboxUpdate, OutboxMessage)


async def _take(
    session: AsyncSession,
    model: type[_Row],
    ids: Sequence[int],
    replica: str,
    now: datetime,
    hold_for: float,
) -> list[_Row]:
    """Claim for ``replica`` those of the pending rows ``ids`` still free for it, and load them
    (in no particular order): the inbox's and the outbox's claims end the same way, one
    ``UPDATE … RETURNING``."""
    until = now + timedelta(seconds=hold_for)
    values = {"t_ids": list(ids), "t_replica": replica, "t_now": now, "t_until": until}
    found = await session.scalars(_taking(model), values)
    return list(found)


@cache  # one per table, built once
def _taking(model: type[_Row]) -> ReturningUpdate[_Row]:
    """:func:`_take`'s UPDATE of ``t_ids`` for ``t_replica`` at ``t_now``, until ``t_until``."""
    when = model.claimed_until.type
    now, until = bindparam("t_now", type_=when), bindparam("t_until", type_=when)
    replica = bindparam("t_replica", type_=String)
    ids: BindParameter[int] = bindparam("t_ids", expanding=True)
    free = _free(model.claimed_by, model.claimed_until, replica, now)
    return (
        update(model)
        .where(model.id.in_(ids), model.status == DeliveryStatus.PENDING, free)
        .values(claimed_by=replica, claimed_until=until)
        .returning(model)
        .execution_options(synchronize_session=False, populate_existing=True)
    )


async def update_due(
    session: AsyncSession,
    channel: str,
    replica: str,
    now: datetime,
    besides: Collection[int] = (),
) -> datetime | None:
    """When some pending update is free for ``replica`` to claim, the rows ``besides`` aside
    (in its hands already): ``now`` when one is, else when the earliest claim of another
    replica on one runs out; ``None``: no pending update. A read: the look before
    :func:`claim_updates` takes the write lock."""
    found: datetime | None = await session.scalar(
        _look(InboxUpdate, bool(besides)), _look_values(channel, replica, now, besides)
    )
    return found


async def outbox_due(
    session: AsyncSession,
    channel: str,
    replica: str,
    now: datetime,
    besides: Collection[int] = (),
    *,
    heads: bool = False,
) -> datetime | None:
    """When the earliest unsent row may go for ``replica`` (its ``not_before``, or later when
    another replica's claim on it runs out later), the rows ``besides`` aside (in its hands
    already); ``None``: there is none. A read, the look before :func:`claim_outbox`.
    ``heads``: only each chat's first unsent row counts, as in :func:`claim_outbox`'s claim (a
    chat's later rows wait for it; a chat whose first row is ``besides`` waits for its
    outcome), at the cost of a window over the unsent rows."""
    query = _look(OutboxMessage, bool(besides), heads)
    found: datetime | None = await session.scalar(
        query, _look_values(channel, replica, now, besides)
    )
    return found


@cache  # six of them, each built once: the looks run on every pass of the workers
def _look(
    model: type[InboxUpdate | OutboxMessage], besides: bool, heads: bool = False
) -> Select[Any]:
    """The inbox's look or the outbox's: of the pending rows of ``l_channel`` (ids
    ``l_besides`` aside; ``heads``: each chat's first), the earliest time one is free for
    ``l_replica`` — ``l_now`` for a free inbox row, a free outbox row's ``not_before`` — or,
    held by another replica, may be: when that claim runs out (a replica that died holding
    rows is waited for, not polled)."""
    table = model.__table__
    assert isinstance(table, Table)
    pending = (table.c.channel == bindparam("l_channel"), table.c.status == DeliveryStatus.PENDING)
    rows: Any = table
    if heads:  # each chat's first pending row (the window's place 1)
        columns = [table.c.id, table.c.not_before, table.c.claimed_by, table.c.claimed_until]
        rows = _ranked(table, columns, *pending).subquery()
    when = table.c.claimed_until.type
    now = bindparam("l_now", type_=when)
    free = _free(rows.c.claimed_by, rows.c.claimed_until, bindparam("l_replica"), now)
    if model is InboxUpdate:
        at: ColumnElement[Any] = case((free, now), else_=rows.c.claimed_until)
    else:
        later = case(
            (rows.c.not_before > rows.c.claimed_until, rows.c.not_before),
            else_=rows.c.claimed_until,
        )
        at = case((free, rows.c.not_before), else_=later)
    query = select(func.min(type_coerce(at, when))).select_from(rows)
    query = query.where(rows.c.place == 1) if heads else query.where(*pending)
    if besides:
        query = query.where(rows.c.id.not_in(bindparam("l_besides", expanding=True)))
    return query


def _look_values(
    channel: str, replica: str, now: datetime, besides: Collection[int]
) -> dict[str, Any]:
    values = {"l_channel": channel, "l_replica": replica, "l_now": now}
    return values | {"l_besides": list(besides)} if besides else values


async def claim_updates(
    session: AsyncSession,
    channel: str,
    replica: str,
    now: datetime,
    limit: int,
    *,
    hold_for: float,
) -> list[InboxUpdate]:
    """Claim (or renew the claim on) pending updates for ``replica``, oldest first.

    Updates of a chat (``chat_key``) another replica holds a live claim in are not taken.
    """
    await dialect.serialise(session, f"inbox:{channel}")
    held = select(InboxUpdate.chat_key).where(
        InboxUpdate.channel == channel,
        InboxUpdate.status == DeliveryStatus.PENDING,
        InboxUpdate.chat_key.is_not(None),
        InboxUpdate.claimed_by != replica,
        InboxUpdate.claimed_until > now,
    )
    free = _free(InboxUpdate.claimed_by, InboxUpdate.claimed_until, replica, now)
    ids = list(
        await session.scalars(
            select(InboxUpdate.id)
            .where(
                InboxUpdate.channel == channel,
                InboxUpdate.status == DeliveryStatus.PENDING,
                free,
                or_(InboxUpdate.chat_key.is_(None), InboxUpdate.chat_key.not_in(held)),
            )
            .order_by(InboxUpdate.id)
            .limit(limit)
        )
    )
    if not ids:
        return []
    rows = await _take(session, InboxUpdate, ids, replica, now, hold_for)
    return sorted(rows, key=lambda row: row.id)


async def claim_outbox(
    session: AsyncSession,
    channel: str,
    replica: str,
    now: datetime,
    limit: int,
    *,
    hold_for: float,
    heads: bool = False,
    skip_chats: Collection[str] = (),
    skip_methods: Collection[str] = (),
) -> list[OutboxMessage]:
    """Claim (or renew the claim on) unsent rows for ``replica``, in :func:`pending_outbox` order.

    A chat another replica holds a live claim in is skipped whole: its rows stay in order.
    ``heads``: only each chat's first unsent row, and only when it is due (``not_before``), its
    chat not in ``skip_chats`` and its method not in ``skip_methods`` — what one wave can send,
    so that ``limit`` is the room it has (a later row of a chat waits for the first's outcome).
    """
    await dialect.serialise(session, f"outbox:{channel}")
    query = _heads(heads, bool(skip_chats), bool(skip_methods))
    values: dict[str, Any] = {
        "c_channel": channel,
        "c_replica": replica,
        "c_now": now,
        "c_limit": limit,
    }
    if skip_chats:
        values["c_skip_chats"] = list(skip_chats)
    if skip_methods:
        values["c_skip_methods"] = list(skip_methods)
    ids = list(await session.scalars(query, values))
    if not ids:
        return []
    found = await _take(session, OutboxMessage, ids, replica, now, hold_for)
    order = {row_id: place for place, row_id in enumerate(ids)}
    return sorted(found, key=lambda row: order[row.id])


@cache  # eight of them, each built once: building this one cost ~0.35 ms, about once a text
def _heads(heads: bool, skip_chats: bool, skip_methods: bool) -> Select[Any]:
    """:func:`claim_outbox`'s choice of rows: pending rows of ``c_channel`` in chats no other
    replica than ``c_replica`` holds at ``c_now``, ``c_limit`` of them, in order (with
    ``heads``, each chat's first row when due; ``c_skip_chats``, ``c_skip_methods`` left out)."""
    now = bindparam("c_now", type_=OutboxMessage.claimed_until.type)
    channel = bindparam("c_channel", type_=String)
    held = select(OutboxMessage.chat_id).where(
        OutboxMessage.channel == channel,
        OutboxMessage.status == DeliveryStatus.PENDING,
        OutboxMessage.claimed_by != bindparam("c_replica", type_=String),
        OutboxMessage.claimed_until > now,
    )
    ranked = _ranked(
        OutboxMessage.__table__,
        [OutboxMessage.id, OutboxMessage.not_before, OutboxMessage.method],
        OutboxMessage.channel == channel,
        OutboxMessage.status == DeliveryStatus.PENDING,
        OutboxMessage.chat_id.not_in(held),
    )
    if skip_chats:  # the whole chat: its first row is the one that waits
        ranked = ranked.where(
            OutboxMessage.chat_id.not_in(bindparam("c_skip_chats", expanding=True))
        )
    first = ranked.subquery()
    query = (
        select(first.c.id)
        .order_by(first.c.place, first.c.id)
        .limit(bindparam("c_limit", type_=Integer))
    )
    if heads:
        query = query.where(first.c.place == 1, first.c.not_before <= now)
        if skip_methods:
            query = query.where(first.c.method.not_in(bindparam("c_skip_methods", expanding=True)))
    return query


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
