"""The operator queue as the engine and queue tests drive it: each action through the product's
one path for it, :func:`bot.delivery.pipeline.act` (one transaction: the action, the rows of its
events, the settle), with no channel to render for — the events are what the tests look at."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from bot.delivery import pipeline
from bot.engine import Event
from bot.queue import OperatorQueue
from bot.queue.actions import Action, Answer, Close, Reflag, SendEntry, Take, Transfer


class Queue(OperatorQueue):
    """:class:`OperatorQueue` with a method per action; ``renders``: the channels' renders whose
    outbox rows an action stores (none by default)."""

    renders: Mapping[str, pipeline.Render] = {}

    async def act(self, action: Action) -> list[Event]:
        return (await pipeline.act(self, action, self.renders, self._clock)).events

    async def take(self, ticket_id: int, operator: str, *, force: bool = False) -> list[Event]:
        return await self.act(Take(ticket_id, operator, force))

    async def reply(
        self, ticket_id: int, operator: str, text: str, *, force: bool = False
    ) -> list[Event]:
        return await self.act(Answer(ticket_id, operator, text, force))

    async def send_entry(
        self, ticket_id: int, operator: str, entry_id: str, *, force: bool = False
    ) -> list[Event]:
        return await self.act(SendEntry(ticket_id, operator, entry_id, force))

    async def transfer(
        self, ticket_id: int, to_operator: str, *, by: str | None = None, force: bool = False
    ) -> list[Event]:
        return await self.act(Transfer(ticket_id, to_operator, by, force))

    async def close(
        self, ticket_id: int, operator: str, note: str | None = None, *, force: bool = False
    ) -> list[Event]:
        return await self.act(Close(ticket_id, operator, note, force))

    async def reflag_overdue(self, channels: Collection[str] | None = None) -> list[Event]:
        return await self.act(Reflag(channels))
