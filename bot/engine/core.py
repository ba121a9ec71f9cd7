"""The conversation engine: one channel-neutral state machine from a person's event to replies.

States of a conversation (``bot.storage.models.State``), derived from its tickets and never
stored (:mod:`bot.engine.state`: the open ticket's status is the state), and every transition:

* ``bot`` → ``bot``: a question is answered, clarified, or the bot offers an operator; a button
  press on an answer («Помогло», «Не помогло» → next-best entries once, a clarify choice).
* ``bot`` → ``waiting``: escalation — «Позвать оператора», «Не помогло» after the next-best
  entries, no next-best entries left, or the knowledge base reads the text as a request for an
  operator. A ticket is created (or, for the same question within the duplicate window, the
  recent one is reused), the person hears their place in the queue (and, outside working
  hours, when operators are back); events ``TicketOpened`` (with the case card) and
  ``HandToQueue``.
* ``waiting`` → ``operator``: an operator takes the ticket (``OperatorQueue.take``).
* ``waiting`` | ``operator`` → same state: the person's messages go into the ticket
  (``Relayed``), never to the knowledge base. Where the channel's own operators hold the chat
  (a Bitrix24 line after the hand-off) :meth:`ConversationEngine.record` stores them so with no
  turn: no acknowledgement, and a cancel word is just text.
* ``waiting`` | ``operator`` → ``bot``: the person cancels (a cancel word or button):
  ``TicketClosed(cancelled=True)``.
* ``bot`` → ``waiting`` also when our own code failed on the person's message and the inbox
  gave it up (:meth:`ConversationEngine.hand_over`): the message is escalated as it stands,
  the case card says the bot failed on it and the error's class (no knowledge-base «why»: the
  knowledge code is not run on the message again); in ``waiting`` | ``operator`` it is relayed
  into the open ticket.
* ``bot`` → ``waiting`` also when the outbox gave up an answer to the person for good
  (:meth:`ConversationEngine.undelivered`): a ticket whose card says the answer did not reach
  them and why, ``TicketOpened`` and ``HandToQueue``, nothing said to the person; in
  ``waiting`` | ``operator`` a line for the open ticket's operators (``Undelivered``).
* ``operator`` → ``closed``: the operator closes the ticket (``TicketClosed``); the person may
  rate it 1–5 (``TicketRated``).
* ``closed`` → ``bot``: the next message; a rating press is still accepted.

Operators' actions (take, transfer, reply, close: ``bot.queue``) produce the same events.

A person who goes silent is not chased; stale or foreign button presses get a short reply and
change nothing. One database transaction per event; events of one conversation are serialised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import load_case, undelivered_reason
from bot.clock import Clock
from bot.engine.closing import release_ticket
from bot.engine.context import TurnContext
from bot.engine.events import (
    Event,
    Incoming,
    Relayed,
    Say,
    Undelivered,
    about,
    handed_over,
)
from bot.engine.hours import WorkingHours
from bot.engine.turn import Turn
from bot.errors import EngineError
from bot.metrics import Metrics
from bot.replies import Reply, choose_language
from bot.settings import ConversationSettings, HoursSettings
from bot.storage import repo, tickets
from bot.storage.lengths import ID_LENGTH
from bot.storage.models import Author, Message
from bot.storage.repo import TurnRows
from bot.texts import phrase
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, holding

log = logging.getLogger(__name__)

# Runs inside the event's transaction with the turn's output (see ConversationEngine.handle).
AfterTurn = Callable[[AsyncSession, list[Event]], Awaitable[None]]
QueueRef = Callable[[AsyncSession], Awaitable[str | None]]
"""Where the channel's queue would have a person handed over now (a ticket's ``external_ref``,
"" for none), asked in the caller's transaction once the conversation is locked; ``None``: the
channel's own people hold the person already, so no ticket is opened for them."""


@dataclass(frozen=True, slots=True)
class EngineSettings:
    """What the engine needs from the configuration."""

    conversation: ConversationSettings
    hours: HoursSettings
    public_url: str = ""  # KB_PUBLIC_URL: answers link to the help center through it


class ConversationEngine:
    """Turns an :class:`Incoming` into the typed :class:`Event` list channels render."""

    def __init__(
        self,
        kb: KnowledgeBase | KnowledgeHolder,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        settings: EngineSettings,
        metrics: Metrics | None = None,
    ) -> None:
        self._knowledge = holding(kb)
        self._metrics = metrics or Metrics.create()
        self._sessions = sessions
        self._clock = clock
        self._settings = settings.conversation
        self._public_url = settings.public_url
        self._hours = WorkingHours(settings.hours)
        self._zone = settings.hours.timezone  # where operators read the case card's times
        self._locks: dict[tuple[str, str], tuple[asyncio.Lock, int]] = {}

    async def handle(self, incoming: Incoming, *, then: AfterTurn | None = None) -> list[Event]:
        """Process one event in one transaction; a repeated delivery returns ``[]``.

        ``then`` runs inside that transaction with what the turn produced (``[]`` for a repeat),
        so an adapter can store its outbox rows and settle its inbox row in the same commit.
        """
        key = self._key(incoming)
        async with self._conversation_lock(key), self._sessions.begin() as session:
            events = await self._handle(session, incoming)
            if then is not None:
                await then(session, events)
            return events

    async def hand_over(
        self, incoming: Incoming, failure: str, *, then: AfterTurn | None = None
    ) -> list[Event]:
        """Hand a person's message our own code failed on (``failure``: the error's class) to
        the operators in one transaction: stored, then escalated as it stands (the usual
        hand-off: the person hears their place in the queue, ``TicketOpened`` with a card that
        says the bot failed and ``failure``, ``HandToQueue``), or relayed into the open ticket.
        No knowledge-base decision and no button press is read, and the card has no «why»
        (the knowledge base's explanation would run its text code on the very message it may
        have failed on). ``then`` as for :meth:`handle`.
        """
        key = self._key(incoming)
        async with self._conversation_lock(key), self._sessions.begin() as session:
            events = await self._handle(session, incoming, failure=failure)
            if then is not None:
                await then(session, events)
            return events

    async def undelivered(
        self,
        session: AsyncSession,
        channel: str,
        conversation_id: str,
        reason: str,
        *,
        ref: QueueRef | None = None,
    ) -> list[Event]:
        """The outbox gave up an answer to the person of ``conversation_id`` (``reason``: the
        platform's refusal or the failure's class), in the caller's transaction (the one that
        records the give-up): a line for the open ticket's operators (``Undelivered``), else a
        ticket opened for it — ``TicketOpened`` (its card says the answer did not reach the
        person) and ``HandToQueue``, the ticket keeping ``ref``'s answer as a turn's hand-off
        keeps :attr:`Incoming.ref` (where the channel's queue has the person now). ``ref`` is
        asked after the conversation is locked, the lock order of a turn (the conversation,
        then the channel's rows); when it answers ``None`` the channel's people hold the person
        already and nothing is opened. Nothing is said to the person: they cannot be reached,
        and so nothing this hand-off stores is an answer that could be given up and handed
        over again."""
        found = await repo.find_conversation(session, channel, conversation_id)
        if found is None:
            return []
        conversation = await repo.get_conversation(session, found.id, lock=True)
        assert conversation is not None
        now, lang = self._clock.now(), self._settings.language
        ticket = await tickets.open_ticket(session, conversation.id)
        if ticket is not None:
            notice = _undelivered(lang, ticket.id, reason)
            return [Undelivered(**about(conversation, ticket), notice=notice)]
        where = "" if ref is None else await ref(session)
        if where is None:
            log.warning(
                "answer not delivered, its person already with the channel's people "
                "conversation=%s: %s",
                conversation.id, reason[:200],
            )  # fmt: skip
            return []
        asked = await repo.last_message(session, conversation.id, Author.PERSON)
        ticket = await tickets.create_ticket(
            session, conversation.id, reason=undelivered_reason(reason),
            question="" if asked is None else asked.text, now=now,
        )  # fmt: skip
        card = await load_case(
            session, ticket.id, now=now, zone=self._zone, lang=lang, kb=self._knowledge.current,
            public_url=self._public_url, explain=False,
        )  # fmt: skip
        notice = _undelivered(lang, ticket.id, reason)
        log.warning(
            "answer not delivered, ticket opened conversation=%s ticket=%s",
            conversation.id, ticket.id,
        )  # fmt: skip
        return handed_over(conversation, ticket, notice=notice, card=card, ref=where)

    async def record(self, incoming: Incoming, *, then: AfterTurn | None = None) -> list[Event]:
        """Store what the person wrote to the channel's own operators, with no turn.

        A Bitrix24 open line hands the chat to its queue and its operators answer there; the
        person's messages still belong in the conversation and its open ticket (the case card,
        the transcript, reports read them), but the bot says nothing, decides nothing, and a
        cancel word is just text: the chat is not the bot's. Returns :class:`Relayed` when a
        ticket is open (``[]`` otherwise); ``then`` runs in the same transaction, as for
        :meth:`handle`.
        """
        key = self._key(incoming)
        async with self._conversation_lock(key), self._sessions.begin() as session:
            now = self._clock.now()
            rows, inbound, events = await self._inbound(session, incoming, now, into_ticket=True)
            if rows.ticket is not None:
                events.append(
                    Relayed(
                        **about(rows.conversation, rows.ticket),
                        message_id=inbound.id,
                        text=inbound.text,
                        operator=rows.ticket.operator,
                    )
                )
            if then is not None:
                await then(session, events)
        log.info(
            "message recorded channel=%s conversation=%s ticket=%s",
            incoming.channel,
            rows.conversation.id,
            rows.ticket.id if rows.ticket is not None else None,
        )
        return events

    def welcome(self, channel: str, conversation_id: str) -> list[Event]:
        """What the bot says when a person opens a chat with it (a Bitrix24 open line's new
        session): a greeting in the default language. Nothing is stored and no state changes;
        the person's first message starts the conversation."""
        greeting = Reply((phrase("smalltalk_greeting", self._settings.language),))
        return [Say(channel=channel, conversation_id=conversation_id, reply=greeting)]

    async def _handle(
        self, session: AsyncSession, incoming: Incoming, *, failure: str = ""
    ) -> list[Event]:
        now = self._clock.now()
        # A repeated delivery never gets here: the channel's inbox row, keyed by the event,
        # is the dedupe, and it is settled in this very transaction.
        rows, inbound, released = await self._inbound(session, incoming, now)
        conversation = rows.conversation
        context = TurnContext(
            kb=self._knowledge.current,  # the whole turn reads this one, even across a reload
            hours=self._hours,
            settings=self._settings,
            session=session,
            now=now,
            incoming=incoming,
            contact=rows.contact,
            conversation=conversation,
            inbound=inbound,
            ticket=rows.ticket,
            metrics=self._metrics,
            public_url=self._public_url,
            zone=self._zone,
        )
        turn = Turn(context)
        events = released + await (turn.hand_over(failure) if failure else turn.run())
        log.info(
            "event handled channel=%s conversation=%s events=%d",
            incoming.channel,
            conversation.id,
            len(events),
        )
        return events

    async def _inbound(
        self, session: AsyncSession, incoming: Incoming, now: datetime, *, into_ticket: bool = False
    ) -> tuple[TurnRows, Message, list[Event]]:
        """The event's rows (the conversation locked) and the person's message, stored (in the
        open ticket's history when ``into_ticket``; a turn decides that itself); first, the
        ticket the channel's queue let go closed (:attr:`Incoming.released`), its event returned."""
        self._metrics.messages_in.inc(channel=incoming.channel)
        default = self._settings.language
        rows = await repo.begin_turn(
            session,
            incoming.channel,
            incoming.conversation_id,
            incoming.person_id,
            display_name=incoming.display_name,
            language=incoming.language_code,
            lang=choose_language(incoming.language_code, None, default),
            now=now,
        )
        conversation = rows.conversation
        released: list[Event] = []
        gone = incoming.released
        if gone is not None and rows.ticket is not None and rows.ticket.external_ref == gone.ref:
            lang = self._settings.language
            closed = await release_ticket(
                session, conversation, rows.ticket, gone.by, gone.why, now, lang
            )
            rows, released = replace(rows, ticket=None), [closed]
        text = incoming.text.strip()
        if len(text) > self._settings.max_text:
            log.info(
                "long message cut conversation=%s chars=%d", conversation.id, len(incoming.text)
            )
            text = text[: self._settings.max_text]
        inbound = await repo.add_message(
            session,
            Message(
                conversation_id=conversation.id,
                author=Author.PERSON,
                text=text,
                payload=incoming.payload[:64] or None,
                channel_message_id=incoming.message_id[:ID_LENGTH] or None,
                ticket_id=rows.ticket.id if into_ticket and rows.ticket is not None else None,
                created_at=now,
            ),
        )
        return rows, inbound, released

    @staticmethod
    def _key(incoming: Incoming) -> tuple[str, str]:
        if not incoming.channel or not incoming.conversation_id or not incoming.person_id:
            raise EngineError("an incoming event needs a channel, a conversation and a person")
        return (incoming.channel, incoming.conversation_id)

    @asynccontextmanager
    async def _conversation_lock(self, key: tuple[str, str]) -> AsyncIterator[None]:
        """Serialise one conversation's events in this process; other conversations run freely."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def _undelivered(lang: str, ticket: int, reason: str) -> str:
    """The operators' line for an answer the outbox gave up on ``ticket``."""
    return phrase("op_undelivered", lang, ticket=ticket, error=reason[:200])
