"""The end of one event's transaction, written once for every channel: render -> rows -> settle.

A channel gives only its pure render (:meth:`bot.channel.Channel.render`: no session, no I/O)
and what that render needs, loaded before it by the channel's handler (Telegram: the relayed
message to copy; Bitrix24: the chat's row, read once per chat). :func:`write` turns the
rendered calls into the channel's outbox rows (:func:`bot.channel.outbox_rows`, added through
:func:`bot.delivery.express.add_outbox`: the cached ``INSERT``, reserved for this process's
outbox worker where that module says) and settles the inbox row being processed
(:func:`bot.delivery.inbox.settle`), in the caller's transaction — the engine's turn, or a
queue action's: a crash loses no reply, and a retried event is not answered twice.

:func:`store` is the same without the settle, for calls that are not an event's answer (a
channel's own notices, a timer's call, ``helpbot operator``'s queued replies).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.channel import Draft, outbox_rows
from bot.delivery import express, inbox
from bot.engine.events import Event
from bot.storage.models import OutboxMessage

Render = Callable[[Sequence[Event]], Iterable[Draft]]
"""A channel's pure render of one turn's events, in order."""


def each(render: Callable[[Event], Iterable[Draft]]) -> Render:
    """A turn's render from a render of one event: the calls of every event, in order."""
    return lambda events: [draft for event in events for draft in render(event)]


async def store(
    session: AsyncSession, channel: str, drafts: Iterable[Draft], now: datetime
) -> list[OutboxMessage]:
    """The drafts as ``channel``'s pending outbox rows, added in the caller's transaction."""
    rows = outbox_rows(channel, drafts, now)
    if rows:
        await express.add_outbox(session, rows)
    return rows


async def write(
    session: AsyncSession,
    channel: str,
    events: Sequence[Event],
    render: Render,
    now: datetime,
    *,
    also: Iterable[Draft] = (),
) -> list[OutboxMessage]:
    """One event's effects, in the caller's transaction: ``render(events)`` and then ``also``
    (the channel's own calls of this event, e.g. a pressed message's buttons removed) stored as
    ``channel``'s outbox rows, and the inbox row being processed settled. Returns the rows."""
    rows = await store(session, channel, [*render(events), *also], now)
    await inbox.settle(session, now)
    return rows
