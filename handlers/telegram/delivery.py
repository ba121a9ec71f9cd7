"""From the engine's events to outbox rows: what to send where, stored before it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from aiogram.types import InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import CaseCard, load_case
from bot.channel import Draft
from bot.clock import Clock
from bot.delivery import pipeline
from bot.delivery.settle import settle
from bot.engine import Event
from bot.queue import OperatorQueue
from bot.queue.actions import Action
from bot.replies import Reply
from bot.storage import delivery
from bot.storage.models import OutboxMessage
from handlers.telegram.calls import CARD, CHANNEL, CopySource, TelegramCalls
from handlers.telegram.reactions import question_message
from handlers.telegram.texts import tg_phrase
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, holding

log = logging.getLogger(__name__)


class OutboxRows:
    """Stores the Telegram calls of the engine's events as outbox rows, in the caller's
    transaction (rendering them is :class:`~handlers.telegram.calls.TelegramCalls`').

    It needs neither the bot nor a connection of its own (``helpbot operator`` renders with
    :class:`~handlers.telegram.calls.TelegramCalls` alone, through
    :func:`bot.delivery.pipeline.act`). Without a knowledge base a ticket card lists no entries.
    """

    def __init__(
        self,
        clock: Clock,
        kb: KnowledgeBase | KnowledgeHolder | None,
        *,
        operator_chat_id: int | None,
        operator_language: str,
        zone: str = "UTC",
        public_url: str = "",
    ) -> None:
        self._clock = clock
        self._knowledge = holding(kb) if kb is not None else None
        self._lang = operator_language
        self._zone = zone
        self._public_url = public_url
        self.calls = TelegramCalls(
            operator_chat_id=operator_chat_id, operator_language=operator_language
        )

    async def write(
        self, session: AsyncSession, out: Sequence[Event], copy: CopySource | None = None
    ) -> list[OutboxMessage]:
        """Add every call ``out`` needs; ``copy`` relays that message for the relayed event."""
        return await pipeline.store(
            session, CHANNEL, self.calls.render_all(out, copy), self._clock.now()
        )

    def render(self, copy: CopySource | None = None) -> pipeline.Render:
        """The pure render of a turn's events (``copy``: the message the relayed event
        copies), for :func:`bot.delivery.pipeline.write`."""
        return lambda events: self.calls.render_all(events, copy)

    async def case(self, session: AsyncSession, ticket_id: int) -> CaseCard:
        """The ticket's case card as it is now (:mod:`bot.cases`), read in the caller's
        transaction: a card brought up to date, or sent again to a recreated topic."""
        return await load_case(
            session,
            ticket_id,
            now=self._clock.now(),
            zone=self._zone,
            lang=self._lang,
            kb=self._knowledge.current if self._knowledge else None,
            public_url=self._public_url,
        )


class Deliverer:
    """Stores outbox rows (in the caller's transaction or one of its own) and wakes the worker."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        kb: KnowledgeBase | KnowledgeHolder | None,
        *,
        operator_chat_id: int | None,
        operator_language: str,
        wake: Callable[[], None],
        zone: str = "UTC",
        public_url: str = "",
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._lang = operator_language
        self._rows = OutboxRows(
            clock,
            kb,
            operator_chat_id=operator_chat_id,
            operator_language=operator_language,
            zone=zone,
            public_url=public_url,
        )
        self.wake = wake

    @property
    def calls(self) -> TelegramCalls:
        """The pure rendering of events and the adapter's own messages."""
        return self._rows.calls

    @property
    def clock(self) -> Clock:
        """The clock the rows are stamped with (:func:`bot.delivery.pipeline.answer` takes it)."""
        return self._clock

    def render(self, copy: CopySource | None = None) -> pipeline.Render:
        """The pure render of a turn's events (``copy``: the message the relayed event
        copies), for :func:`bot.delivery.pipeline.answer`."""
        return self._rows.render(copy)

    async def act(
        self, queue: OperatorQueue, action: Action, copy: CopySource | None = None
    ) -> list[Event]:
        """An operators' action through :func:`bot.delivery.pipeline.act`: in its one
        transaction the rows of its events (``copy``: the operator's message a reply copies)
        and the inbox's update being processed settled, so a crash can neither lose the
        replies nor repeat them; the worker woken once it committed. Returns the events; a
        refusal raises :class:`~bot.errors.TicketError` with nothing stored."""
        acted = await pipeline.act(queue, action, {CHANNEL: self.render(copy)}, self._clock)
        self.wake()
        return acted.events

    async def write(self, session: AsyncSession, out: Sequence[Event]) -> list[OutboxMessage]:
        """Add every call ``out`` needs in the caller's transaction (the worker's own, which
        looks for work again after it commits)."""
        return await self._rows.write(session, out)

    async def deliver(self, out: Sequence[Event], copy: CopySource | None = None) -> None:
        """Store every call ``out`` needs in a transaction of its own."""
        async with self._sessions.begin() as session:
            rows = await self._rows.write(session, out, copy)
        self._stored(rows)

    async def say(
        self,
        chat_id: int | str,
        reply: Reply,
        thread_id: int | None = None,
        receiver: int | None = None,
    ) -> None:
        """A reply of the adapter's own (help, "text only"), to a chat or one of its topics;
        ephemeral for ``receiver`` alone when given."""
        await self.store(self.calls.message(chat_id, reply, thread_id, receiver))

    async def say_ticket(
        self,
        ticket_id: int,
        reply: Reply,
        receiver: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """A notice in the ticket's topic in the operators' group (for ``receiver`` alone)."""
        drafts = self.calls.topic(ticket_id, reply, receiver=receiver, markup=markup)
        await self.store(drafts)

    async def mark_person(self, chat_id: int | str, *, blocked: bool) -> None:
        """The person blocked (or unblocked) the bot: mark their ticket and tell the operators
        once, in one transaction that also settles the update being processed."""
        rows: list[OutboxMessage] = []
        async with self._sessions.begin() as session:
            now = self._clock.now()
            ticket = await delivery.set_person_blocked(
                session, CHANNEL, str(chat_id), now if blocked else None
            )
            if ticket is not None and blocked:
                rows = await self.person_blocked(session, ticket.id)
            await settle(session, now)
        if ticket is not None and blocked:
            log.info("person blocked the bot chat=%s ticket=%s", chat_id, ticket.id)
        self._stored(rows)

    async def person_blocked(self, session: AsyncSession, ticket_id: int) -> list[OutboxMessage]:
        """Tell the ticket's topic that the person blocked the bot, in the caller's transaction:
        the one that marks it (:func:`bot.storage.delivery.set_person_blocked`), once per
        marking."""
        notice = Reply((tg_phrase("op_person_blocked", self._lang, ticket=ticket_id),))
        return await pipeline.store(
            session, CHANNEL, self.calls.topic(ticket_id, notice), self._clock.now()
        )

    async def say_not_delivered(self, ticket_id: int, reason: str) -> None:
        """Tell the ticket's topic that Telegram refused a message to the person, and why."""
        notice = tg_phrase("op_not_delivered", self._lang, ticket=ticket_id, reason=reason)
        await self.say_ticket(ticket_id, Reply((notice,)))

    async def card_again(self, ticket_id: int) -> None:
        """The ticket card in a recreated topic (the old one was deleted with its history)."""
        if not self.calls.operators:
            return
        async with self._sessions.begin() as session:
            card = self.calls.card(await self._rows.case(session, ticket_id))
            rows = await pipeline.store(session, CHANNEL, card, self._clock.now())
        self._stored(rows)

    async def card_edit(self, ticket_id: int) -> dict[str, Any] | None:
        """``editMessageText`` parameters that bring the ticket's card up to date, or ``None``
        when its card was never sent (nothing to edit)."""
        async with self._sessions() as session:
            sent = await delivery.sent_id_of(session, CHANNEL, ticket_id, CARD)
            if sent is None:
                return None
            params = self.calls.card_params(await self._rows.case(session, ticket_id))
        return {**params, "message_id": int(sent)}

    async def question_of(self, ticket_id: int) -> int | None:
        """The Telegram message id of the person's question the ticket was opened with."""
        async with self._sessions() as session:
            return await question_message(session, ticket_id)

    async def store(self, drafts: Sequence[Draft]) -> None:
        """The calls stored in a transaction of their own, and the worker woken."""
        if not drafts:
            return
        async with self._sessions.begin() as session:
            rows = await pipeline.store(session, CHANNEL, drafts, self._clock.now())
        self._stored(rows)

    def _stored(self, rows: list[OutboxMessage]) -> None:
        if rows:
            log.debug("outbox rows stored count=%d first=%s", len(rows), rows[0].id)
            self.wake()
