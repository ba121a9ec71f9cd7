"""The end of one event's transaction, written once for every channel: render -> rows -> settle.

A channel gives only its pure render (:meth:`bot.channel.Channel.render`: no session, no I/O)
and what that render needs, loaded before it by the channel's handler (Telegram: the relayed
message to copy; Bitrix24 needs nothing: the event names the chat). :func:`write` turns the
rendered calls into the channel's outbox rows (:func:`bot.channel.outbox_rows`, added through
:func:`bot.delivery.express.add_outbox`: the cached ``INSERT``, reserved for this process's
outbox worker where that module says) and settles the inbox row being processed
(:func:`bot.delivery.settle.settle`), in the caller's transaction — the engine's turn, or a
queue action's: a crash loses no reply, and a retried event is not answered twice.

:func:`answer` runs a person's event through the engine that way: the turn (or, for a message
to the channel's own operators, the message recorded with no turn), then in its transaction the
rows the channel keeps about its chats, derived from the turn's events by a pure function of
the channel's (``note``: Bitrix24's session, the choices shown, the hand-off), then
:func:`write`. The channel's handler gives pure functions and gets no session.

:func:`act` runs an operators' action (:mod:`bot.queue.actions`: a take, a reply, a close, the
overdue re-flag…) the same way: this module opens the transaction, the queue applies the action
in it and returns its events (:meth:`bot.queue.OperatorQueue.apply`), each channel's pure render
turns them into that channel's outbox rows, the channel's statements about its chats derived
from them run (``keep``), and the inbox row being processed (an operators' group update) is
settled: one commit, with no callback into the channel and no session handed out of the queue.

:func:`store` is the same without the settle, for calls that are not an event's answer (a
channel's own notices, a timer's call).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Executable

from bot.channel import Draft, outbox_rows
from bot.clock import Clock
from bot.delivery import express
from bot.delivery.settle import settle
from bot.engine.events import Event, Incoming
from bot.storage.models import Base, OutboxMessage
from bot.storage.rows import put_row

if TYPE_CHECKING:
    from bot.engine.core import ConversationEngine
    from bot.queue import OperatorQueue
    from bot.queue.actions import Action

Render = Callable[[Sequence[Event]], Iterable[Draft]]
"""A channel's pure render of one turn's events, in order."""
Note = Callable[[Sequence[Event]], Iterable[Base]]
"""A channel's rows about its chats after a turn, derived from the turn's events (pure)."""
Keep = Callable[[Sequence[Event]], Iterable[Executable]]
"""A channel's statements about its chats after an action, derived from its events (pure)."""


def _none(events: Sequence[Event]) -> tuple[()]:
    """No rows (:data:`Note`) and no statements (:data:`Keep`): the defaults."""
    return ()


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
    note: str | None = None,
) -> list[OutboxMessage]:
    """One event's effects, in the caller's transaction: ``render(events)`` stored as
    ``channel``'s outbox rows, and the inbox row being processed settled (with ``note``).
    Returns the rows."""
    rows = await store(session, channel, render(events), now)
    await settle(session, now, note=note)
    return rows


async def answer(
    engine: ConversationEngine,
    incoming: Incoming,
    render: Render,
    clock: Clock,
    *,
    note: Note = _none,
    record: bool = False,
    settled: str | None = None,
    failed: str = "",
) -> list[Event]:
    """A person's event through ``engine`` in one transaction: the turn (``record``: the
    message stored with no turn, :meth:`ConversationEngine.record`; ``failed``, the class of
    the error our code raised on the event: the message handed to the operators,
    :meth:`ConversationEngine.hand_over`, and the inbox's give-up recorded by the settle), the
    rows ``note`` derives from its events written by primary key
    (:func:`bot.storage.rows.put_row`: inserted, or their columns set on the stored row, a row
    inserted meanwhile included), and :func:`write` (``settled``: the inbox row's note).
    Returns the events."""

    async def then(session: AsyncSession, events: list[Event]) -> None:
        for row in note(events):
            await put_row(session, row)
        await write(session, incoming.channel, events, render, clock.now(), note=settled)

    if failed:
        return await engine.hand_over(incoming, failed, then=then)
    handle = engine.record if record else engine.handle
    return await handle(incoming, then=then)


class Acted(NamedTuple):
    """What :func:`act` did: the action's events and the outbox rows stored for them."""

    events: list[Event]
    rows: list[OutboxMessage]


async def act(
    queue: OperatorQueue,
    action: Action,
    renders: Mapping[str, Render],
    clock: Clock,
    *,
    keep: Keep = _none,
) -> Acted:
    """An operators' action through ``queue`` in one transaction: its events rendered by each
    channel's render in ``renders`` (channel -> render) and stored as that channel's outbox
    rows, ``keep``'s statements run, and the inbox row being processed settled. A refusal
    (:class:`~bot.errors.TicketError`) rolls it all back and raises."""
    async with queue.sessions.begin() as session:
        events = await queue.apply(session, action)
        now = clock.now()
        rows: list[OutboxMessage] = []
        for channel, render in renders.items():
            rows += await store(session, channel, render(events), now)
        for statement in keep(events):
            await session.execute(statement)
        await settle(session, now)
    return Acted(events, rows)
