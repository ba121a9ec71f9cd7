"""Claims on the delivery tables' pending rows, and the looks before them: which rows of the
inbox or the outbox a replica may take, and when the next one may be taken.

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
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Select,
    String,
    Table,
    bindparam,
    case,
    func,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import ReturningUpdate

from bot.storage import dialect
from bot.storage.models import DeliveryStatus, InboxUpdate, OutboxMessage


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
