"""Operators' actions on tickets: take (atomically), reply, send an entry, transfer, close,
release, re-flag; and the reads they need (list, view, case card, transcript, figures).

An action is a value (:mod:`bot.queue.actions`) applied in the caller's transaction
(:meth:`OperatorQueue.apply`), which returns the engine's typed events (``Say`` to the person,
``TicketTaken``, ``TicketClosed``… for the operators' side): :func:`bot.delivery.pipeline.act`
opens that transaction and stores the channels' outbox rows for the events in it, so the
action and what it needs sent commit together, and the queue hands no session out. An action's
log line is written once that transaction has committed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import CaseCard, load_case
from bot.clock import Clock
from bot.engine.closing import close_ticket, release_ticket
from bot.engine.events import (
    Event,
    Say,
    TicketFlagged,
    TicketTaken,
    TicketTransferred,
    about,
)
from bot.errors import TicketClosedError, TicketError, TicketTakenError
from bot.payloads import Payload, Press
from bot.queue.actions import Action, Answer, Close, Reflag, SendEntry, Take, Transfer
from bot.queue.guard import (
    claim,
    conversation_of,
    existing,
    lock_conversation,
    open_ticket,
    owner_only,
)
from bot.queue.views import (
    TicketReads,
)
from bot.replies import Button, Reply, answer_reply, render_plain
from bot.storage import audit, repo, tickets
from bot.storage.db import on_commit
from bot.storage.lengths import ID_LENGTH
from bot.storage.models import Author, Conversation, Message, Ticket, TicketStatus
from bot.texts import phrase
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, holding

log = logging.getLogger(__name__)


class OperatorQueue(TicketReads):
    """Operators' actions on tickets, each in its caller's one transaction, and their reads."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        *,
        reflag_after: timedelta,
        operator_language: str = "ru",
        max_text: int = 4000,
        zone: str = "UTC",
        public_url: str = "",
        kb: KnowledgeBase | KnowledgeHolder | None = None,
    ) -> None:
        super().__init__(sessions)
        self._clock = clock
        self._reflag_after = reflag_after
        self._lang = operator_language
        self._max_text = max_text
        self.sessions = sessions
        self.zone = zone  # HOURS_TIMEZONE: where operators read times
        self.language = operator_language
        self._public_url = public_url
        self._knowledge = holding(kb) if kb is not None else None  # a reload swaps its base

    @property
    def kb(self) -> KnowledgeBase | None:
        """The knowledge base in use now (``None`` when the queue was made without one)."""
        return self._knowledge.current if self._knowledge is not None else None

    async def case(self, ticket_id: int) -> CaseCard:
        """The ticket's case card (:mod:`bot.cases`)."""
        async with self._sessions() as session:
            return await load_case(
                session,
                ticket_id,
                now=self._clock.now(),
                zone=self.zone,
                lang=self._lang,
                kb=self.kb,
                public_url=self._public_url,
            )

    async def set_external_ref(self, ticket_id: int, ref: str) -> None:
        async with self._sessions.begin() as session:
            (await existing(session, ticket_id)).external_ref = ref[:ID_LENGTH]

    async def apply(self, session: AsyncSession, action: Action) -> list[Event]:
        """Apply an operators' action in the caller's transaction (the one that stores what
        its events need sent: :func:`bot.delivery.pipeline.act`); returns the events. A refusal
        raises :class:`~bot.errors.TicketError` (the caller's transaction rolls back)."""
        match action:
            case Take():
                return await self._take(session, action)
            case Answer():
                text = action.text.strip()[: self._max_text]
                if not text:
                    raise TicketError(action.ticket_id, "an empty reply")
                return await self._answer(session, action, Reply((text,)), "reply")
            case SendEntry():
                return await self._send_entry(session, action)
            case Transfer():
                return await self._transfer(session, action)
            case Close():
                return await self._close(session, action)
            case Reflag():
                return await self._reflag(session, action.channels)

    async def _take(self, session: AsyncSession, action: Take) -> list[Event]:
        ticket_id, operator = action.ticket_id, action.operator
        now = self._clock.now()
        conversation = await lock_conversation(session, ticket_id)
        how, holder = "take", None
        if not await tickets.take_ticket(session, ticket_id, operator, now):
            ticket = await existing(session, ticket_id, lock=True)
            if ticket.status != TicketStatus.TAKEN:
                raise TicketClosedError(ticket_id)
            if not action.force or ticket.operator == operator:
                raise TicketTakenError(ticket_id, ticket.operator or "?")
            how, holder, ticket.operator = "force_take", ticket.operator, operator
        ticket = await existing(session, ticket_id)
        await audit.record(session, ticket_id, operator, how, now, holder)
        notice = self._notice("op_ticket_taken", ticket)
        out: list[Event] = [
            await self._tell(session, conversation, ticket, "ticket_taken", operator=operator),
            TicketTaken(**about(conversation, ticket), notice=notice, operator=operator),
        ]
        _logged(session, "ticket taken ticket=%s operator=%s how=%s", ticket_id, operator, how)
        return out

    async def _send_entry(self, session: AsyncSession, action: SendEntry) -> list[Event]:
        """The pairing question → entry is stored, and counts as resolved when the ticket is
        closed."""
        kb = self.kb
        entry = kb.get(action.entry_id) if kb is not None else None
        if kb is None or entry is None:
            raise TicketError(action.ticket_id, f"no knowledge-base entry {action.entry_id!r}")
        ticket = await existing(session, action.ticket_id)
        conversation = await conversation_of(session, ticket)
        answer = kb.answer_for(entry.id, ticket.question)
        card = answer_reply(answer, conversation.lang, public_url=self._public_url)
        card = Reply(card.blocks, card.title, card.links)  # an operator's card asks nothing
        return await self._answer(session, action, card, "send_entry", entry.id)

    async def _answer(
        self,
        session: AsyncSession,
        action: Answer | SendEntry,
        reply: Reply,
        how: str,
        entry_id: str | None = None,
    ) -> list[Event]:
        """The reply stored and addressed to the person, on a ticket the operator holds (a
        waiting one is taken by it with ``force``: :func:`bot.queue.guard.claim`)."""
        ticket_id, operator = action.ticket_id, action.operator
        now = self._clock.now()
        ticket, conversation = await open_ticket(session, ticket_id)
        await claim(session, ticket, operator, action.force, now)
        first = ticket.first_reply_at is None
        if first:
            ticket.first_reply_at = now
        message = await repo.add_message(
            session,
            Message(
                conversation_id=conversation.id,
                author=Author.OPERATOR,
                operator=operator,
                text=render_plain(reply, numbered_buttons=False),
                entry_id=entry_id,
                ticket_id=ticket.id,
                created_at=now,
            ),
        )
        await audit.record(session, ticket_id, operator, how, now, entry_id)
        if entry_id is not None:
            await audit.add_pairing(session, ticket_id, ticket.question, entry_id, operator, now)
        out: list[Event] = [
            Say(
                channel=conversation.channel,
                conversation_id=conversation.external_id,
                reply=reply,
                ticket_id=ticket_id,
                message_id=message.id,
                operator=operator,
                first_reply=first,
            )
        ]
        _logged(
            session,
            "operator answered ticket=%s operator=%s how=%s message=%s",
            ticket_id,
            operator,
            how,
            message.id,
        )
        return out

    async def _transfer(self, session: AsyncSession, action: Transfer) -> list[Event]:
        """A taken ticket only ``by`` its holder (or with ``force``); without ``by`` (the
        system) it is not checked."""
        ticket_id, to_operator, by = action.ticket_id, action.to_operator, action.by
        now = self._clock.now()
        ticket, conversation = await open_ticket(session, ticket_id)
        previous = ticket.operator
        if by is not None:
            owner_only(ticket, by, action.force)
        await audit.record(
            session,
            ticket_id,
            by or to_operator,
            "transfer",
            now,
            f"{previous or '-'} → {to_operator}",
        )
        ticket.status, ticket.operator = TicketStatus.TAKEN, to_operator
        ticket.taken_at = ticket.taken_at or now
        notice = self._notice("op_ticket_transferred", ticket)
        out: list[Event] = [
            await self._tell(
                session, conversation, ticket, "ticket_transferred", operator=to_operator
            ),
            TicketTransferred(**about(conversation, ticket), notice=notice, operator=to_operator),
        ]
        moved = "ticket transferred ticket=%s from=%s to=%s"
        _logged(session, moved, ticket_id, previous, to_operator)
        return out

    async def _close(self, session: AsyncSession, action: Close) -> list[Event]:
        """A taken ticket only by its holder (or with ``force``); the person is asked to rate it
        1–5, and the entries sent in it count as having settled it."""
        ticket_id, operator = action.ticket_id, action.operator
        now = self._clock.now()
        ticket, conversation = await open_ticket(session, ticket_id)
        owner_only(ticket, operator, action.force)
        cut = (action.note or "").strip()[: self._max_text] or None
        closed = await close_ticket(session, conversation, ticket, operator, cut, now, self._lang)
        stars = tuple(
            Button(str(n), Payload(Press.RATE, ticket.id, n).encode()) for n in range(1, 6)
        )
        out: list[Event] = [
            await self._tell(session, conversation, ticket, "ticket_closed", buttons=stars),
            closed,
        ]
        _logged(session, "ticket closed ticket=%s operator=%s", ticket_id, operator)
        return out

    async def release(
        self, session: AsyncSession, ticket_id: int, by: str, why: str
    ) -> list[Event]:
        """The channel's own queue let the ticket's conversation go (a Bitrix24 open-line
        session ended, whoever held it): the ticket closes as ``by``'s, in the caller's
        transaction — the one that records the channel's fact, so neither commits without the
        other. The person is not asked to rate it (the channel's queue runs its own rating) and
        nothing is stored for them; the operators' :class:`TicketClosed` is returned. A ticket
        no longer open stays as it is (``[]``)."""
        try:
            ticket, conversation = await open_ticket(session, ticket_id)
        except TicketError as exc:
            log.info("ticket not released ticket=%s why=%s", ticket_id, exc.reason)
            return []
        now = self._clock.now()
        return [await release_ticket(session, conversation, ticket, by, why, now, self._lang)]

    async def _reflag(self, session: AsyncSession, channels: Collection[str] | None) -> list[Event]:
        """A channel's scheduler flags its own ``channels``' tickets periodically (``None``:
        every channel's), so only tickets whose reminder it delivers are marked; each ticket is
        flagged at most once per timeout."""
        now = self._clock.now()
        out: list[Event] = []
        due = await tickets.overdue_tickets(session, now - self._reflag_after, channels)
        for ticket in due:
            ticket.flagged_at = now
            conversation = await conversation_of(session, ticket)
            minutes = int((now - ticket.created_at).total_seconds() // 60)
            text = phrase(
                "op_ticket_reflag",
                self._lang,
                ticket=ticket.id,
                minutes=minutes,
                question=ticket.question,
            )
            out.append(TicketFlagged(**about(conversation, ticket), notice=text))
            flagged = "ticket flagged again ticket=%s waiting_minutes=%d"
            _logged(session, flagged, ticket.id, minutes)
        return out

    async def _tell(
        self,
        session: AsyncSession,
        conversation: Conversation,
        ticket: Ticket,
        key: str,
        *,
        buttons: tuple[Button, ...] = (),
        **fields: object,
    ) -> Say:
        """Store and address a bot notice to the person, in their language."""
        reply = Reply(
            (phrase(key, conversation.lang, ticket=ticket.id, **fields),), buttons=buttons
        )
        message = await repo.add_message(
            session,
            Message(
                conversation_id=conversation.id,
                author=Author.BOT,
                text=render_plain(reply, numbered_buttons=False),
                buttons=[[b.label, b.payload] for b in buttons] or None,
                ticket_id=ticket.id,
                created_at=self._clock.now(),
            ),
        )
        return Say(
            channel=conversation.channel,
            conversation_id=conversation.external_id,
            reply=reply,
            ticket_id=ticket.id,
            message_id=message.id,
            operator=ticket.operator,
        )

    def _notice(self, key: str, ticket: Ticket) -> str:
        """The operators' line about what happened to the ticket, in their language."""
        return phrase(key, self._lang, ticket=ticket.id, operator=ticket.operator)


def _logged(session: AsyncSession, message: str, *args: object) -> None:
    """``message`` logged once the action's transaction has committed: a try rolled back (and
    retried) is not an action done."""
    on_commit(session, lambda: log.info(message, *args), lambda: None)
