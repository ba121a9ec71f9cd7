"""The operator queue: list, take (atomically), reply, transfer, close, transcript and figures.

Each action returns the engine's typed events (``Say`` to the person, ``TicketTaken``,
``TicketClosed``… for the operators' side) and takes the engine's ``then`` hook, which runs inside
the action's transaction: an adapter stores its outbox rows in the commit that made them needed.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import CaseCard, load_case
from bot.clock import Clock
from bot.engine.core import AfterTurn
from bot.engine.events import (
    Event,
    Say,
    TicketClosed,
    TicketFlagged,
    TicketTaken,
    TicketTransferred,
    about,
)
from bot.errors import (
    TicketClosedError,
    TicketError,
    TicketNotFoundError,
    TicketNotTakenError,
    TicketNotYoursError,
    TicketTakenError,
)
from bot.operator_stats import OperatorFigures, per_operator
from bot.payloads import Payload, Press
from bot.replies import Button, Reply, answer_reply, render_plain
from bot.storage import audit, repo, tickets
from bot.storage.models import Author, Contact, Conversation, Message, Ticket, TicketStatus
from bot.texts import phrase
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, holding

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket as operators see it; ``conversation_id`` is the channel's chat id."""

    id: int
    status: str
    reason: str
    question: str
    channel: str
    conversation_id: str
    person: str
    operator: str | None
    external_ref: str | None
    created_at: datetime
    taken_at: datetime | None
    first_reply_at: datetime | None
    closed_at: datetime | None
    rating: int | None
    note: str | None


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    message_id: int
    author: str
    text: str
    operator: str | None
    created_at: datetime
    payload: str | None = None  # the button a person pressed


@dataclass(frozen=True, slots=True)
class QueueFigures:
    """Queue health: counts now, and medians over tickets created in the period asked for."""

    waiting: int
    taken: int
    tickets: int
    median_wait: timedelta | None  # created → taken
    median_first_response: timedelta | None  # created → first operator reply
    ratings: tuple[int, ...]
    operators: tuple[OperatorFigures, ...] = ()


class OperatorQueue:
    """Operators' actions on tickets; each is one transaction and returns what to send."""

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
        self._sessions = sessions
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

    async def list_tickets(
        self, statuses: tuple[str, ...] = tickets.OPEN_STATUSES
    ) -> list[TicketView]:
        """Tickets in these statuses, oldest first (waiting ones in queue order)."""
        async with self._sessions() as session:
            rows = await tickets.list_tickets(session, statuses)
            return [await _view(session, t) for t in rows]

    async def get(self, ticket_id: int) -> TicketView:
        async with self._sessions() as session:
            return await ticket_view(session, ticket_id)

    async def by_external_ref(self, ref: str) -> TicketView | None:
        """The ticket an adapter tied to its thread (forum topic, open-line session)."""
        async with self._sessions() as session:
            ticket = await session.scalar(
                select(Ticket).where(Ticket.external_ref == ref).order_by(Ticket.id.desc())
            )
            return None if ticket is None else await _view(session, ticket)

    async def open_ticket_for(self, channel: str, conversation_id: str) -> TicketView | None:
        """The waiting or taken ticket of a channel's chat, if any."""
        async with self._sessions() as session:
            conversation = await repo.find_conversation(session, channel, conversation_id)
            if conversation is None:
                return None
            ticket = await tickets.open_ticket(session, conversation.id)
            return None if ticket is None else await _view(session, ticket)

    async def set_external_ref(self, ticket_id: int, ref: str) -> None:
        async with self._sessions.begin() as session:
            (await _existing(session, ticket_id)).external_ref = ref[:128]

    async def take(
        self,
        ticket_id: int,
        operator: str,
        *,
        force: bool = False,
        then: AfterTurn | None = None,
    ) -> list[Event]:
        """Take a waiting ticket; of two operators taking one ticket at once exactly one wins.

        ``force`` (a supervisor) takes over a ticket another operator holds.
        """
        now = self._clock.now()
        async with self._sessions.begin() as session:
            conversation = await _lock_conversation(session, ticket_id)
            action, holder = "take", None
            if not await tickets.take_ticket(session, ticket_id, operator, now):
                ticket = await _existing(session, ticket_id, lock=True)
                if ticket.status != TicketStatus.TAKEN:
                    raise TicketClosedError(ticket_id)
                if not force or ticket.operator == operator:
                    raise TicketTakenError(ticket_id, ticket.operator or "?")
                action, holder, ticket.operator = "force_take", ticket.operator, operator
            ticket = await _existing(session, ticket_id)
            await audit.record(session, ticket_id, operator, action, now, holder)
            notice = self._notice("op_ticket_taken", ticket)
            out: list[Event] = [
                await self._tell(session, conversation, ticket, "ticket_taken", operator=operator),
                TicketTaken(**about(conversation, ticket), notice=notice, operator=operator),
            ]
            await _then(then, session, out)
        log.info("ticket taken ticket=%s operator=%s how=%s", ticket_id, operator, action)
        return out

    async def reply(
        self,
        ticket_id: int,
        operator: str,
        text: str,
        *,
        force: bool = False,
        then: AfterTurn | None = None,
    ) -> list[Event]:
        """An operator's message to the person, on a ticket they hold (see :meth:`_claim`)."""
        text = text.strip()[: self._max_text]
        if not text:
            raise TicketError(ticket_id, "an empty reply")
        return await self._answer(ticket_id, operator, Reply((text,)), "reply", force, then)

    async def send_entry(
        self,
        ticket_id: int,
        operator: str,
        entry_id: str,
        *,
        force: bool = False,
        then: AfterTurn | None = None,
    ) -> list[Event]:
        """Send a knowledge-base entry's answer card to the person in one step; the pairing
        question → entry is stored, and counts as resolved when the ticket is closed."""
        kb = self.kb
        entry = kb.get(entry_id) if kb is not None else None
        if kb is None or entry is None:
            raise TicketError(ticket_id, f"no knowledge-base entry {entry_id!r}")
        async with self._sessions() as session:
            ticket = await _existing(session, ticket_id)
            conversation = await _conversation(session, ticket)
        answer = kb.answer_for(entry.id, ticket.question)
        card = answer_reply(answer, conversation.lang, public_url=self._public_url)
        card = Reply(card.blocks, card.title, card.links)  # an operator's card asks nothing
        return await self._answer(ticket_id, operator, card, "send_entry", force, then, entry.id)

    async def _answer(
        self,
        ticket_id: int,
        operator: str,
        reply: Reply,
        action: str,
        force: bool,
        then: AfterTurn | None,
        entry_id: str | None = None,
    ) -> list[Event]:
        now = self._clock.now()
        async with self._sessions.begin() as session:
            ticket, conversation = await _open(session, ticket_id)
            await _claim(session, ticket, operator, force, now)
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
            await audit.record(session, ticket_id, operator, action, now, entry_id)
            if entry_id is not None:
                await audit.add_pairing(
                    session, ticket_id, ticket.question, entry_id, operator, now
                )
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
            await _then(then, session, out)
        log.info(
            "operator answered ticket=%s operator=%s how=%s message=%s",
            ticket_id,
            operator,
            action,
            message.id,
        )
        return out

    async def transfer(
        self,
        ticket_id: int,
        to_operator: str,
        *,
        by: str | None = None,
        force: bool = False,
        then: AfterTurn | None = None,
    ) -> list[Event]:
        """Hand an open ticket to another operator; a taken one only ``by`` its holder (or with
        ``force``). Without ``by`` (the system) it is not checked."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            ticket, conversation = await _open(session, ticket_id)
            previous = ticket.operator
            if by is not None:
                _owner_only(ticket, by, force)
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
                TicketTransferred(
                    **about(conversation, ticket), notice=notice, operator=to_operator
                ),
            ]
            await _then(then, session, out)
        log.info("ticket transferred ticket=%s from=%s to=%s", ticket_id, previous, to_operator)
        return out

    async def close(
        self,
        ticket_id: int,
        operator: str,
        note: str | None = None,
        *,
        force: bool = False,
        then: AfterTurn | None = None,
    ) -> list[Event]:
        """Close an open ticket (a taken one only by its holder, or with ``force``); the person
        is asked to rate it 1–5, and the entries sent in it count as having settled it."""
        now = self._clock.now()
        async with self._sessions.begin() as session:
            ticket, conversation = await _open(session, ticket_id)
            _owner_only(ticket, operator, force)
            closed = await self._close(session, conversation, ticket, operator, note, now)
            stars = tuple(
                Button(str(n), Payload(Press.RATE, ticket.id, n).encode()) for n in range(1, 6)
            )
            out: list[Event] = [
                await self._tell(session, conversation, ticket, "ticket_closed", buttons=stars),
                closed,
            ]
            await _then(then, session, out)
        log.info("ticket closed ticket=%s operator=%s", ticket_id, operator)
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
            ticket, conversation = await _open(session, ticket_id)
        except TicketError as exc:
            log.info("ticket not released ticket=%s why=%s", ticket_id, exc.reason)
            return []
        closed = await self._close(session, conversation, ticket, by, why, self._clock.now())
        log.info("ticket released ticket=%s by=%s why=%s", ticket_id, by, why)
        return [closed]

    async def _close(
        self,
        session: AsyncSession,
        conversation: Conversation,
        ticket: Ticket,
        by: str,
        note: str | None,
        now: datetime,
    ) -> TicketClosed:
        """Close the locked open ``ticket`` (audited; its sent entries count as settling it)."""
        await audit.record(session, ticket.id, by, "close", now, note)
        await audit.resolve_pairings(session, ticket.id)
        ticket.status, ticket.closed_at = TicketStatus.CLOSED, now
        ticket.operator = ticket.operator or by
        ticket.note = (note or "").strip()[: self._max_text] or None
        notice = self._notice("op_ticket_closed", ticket)
        return TicketClosed(**about(conversation, ticket), notice=notice, operator=ticket.operator)

    async def transcript(self, ticket_id: int) -> list[TranscriptLine]:
        async with self._sessions() as session:
            return await transcript_lines(session, ticket_id)

    async def figures(
        self, since: datetime | None = None, until: datetime | None = None
    ) -> QueueFigures:
        async with self._sessions() as session:
            rows = await tickets.created_between(session, since, until)
            open_now = await tickets.list_tickets(session, tickets.OPEN_STATUSES, limit=100_000)
            operators = await per_operator(session, since, until)
        waits = [t.taken_at - t.created_at for t in rows if t.taken_at is not None]
        firsts = [t.first_reply_at - t.created_at for t in rows if t.first_reply_at is not None]
        return QueueFigures(
            waiting=sum(t.status == TicketStatus.WAITING for t in open_now),
            taken=sum(t.status == TicketStatus.TAKEN for t in open_now),
            tickets=len(rows),
            median_wait=_median(waits),
            median_first_response=_median(firsts),
            ratings=tuple(t.rating for t in rows if t.rating is not None),
            operators=operators,
        )

    async def reflag_overdue(
        self, channels: Collection[str] | None = None, *, then: AfterTurn | None = None
    ) -> list[Event]:
        """Flag waiting tickets nobody took within the timeout to operators again.

        A channel's scheduler calls this periodically for its own ``channels`` (``None``: every
        channel's tickets), so only tickets whose reminder it delivers are marked; each ticket
        is flagged at most once per timeout.
        """
        now = self._clock.now()
        out: list[Event] = []
        async with self._sessions.begin() as session:
            due = await tickets.overdue_tickets(session, now - self._reflag_after, channels)
            for ticket in due:
                ticket.flagged_at = now
                conversation = await _conversation(session, ticket)
                minutes = int((now - ticket.created_at).total_seconds() // 60)
                text = phrase(
                    "op_ticket_reflag",
                    self._lang,
                    ticket=ticket.id,
                    minutes=minutes,
                    question=ticket.question,
                )
                out.append(TicketFlagged(**about(conversation, ticket), notice=text))
                log.info("ticket flagged again ticket=%s waiting_minutes=%d", ticket.id, minutes)
            await _then(then, session, out)
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


async def ticket_view(session: AsyncSession, ticket_id: int) -> TicketView:
    """A ticket as operators see it, read in the caller's transaction."""
    return await _view(session, await _existing(session, ticket_id))


async def transcript_lines(session: AsyncSession, ticket_id: int) -> list[TranscriptLine]:
    """A ticket's messages, oldest first, read in the caller's transaction."""
    await _existing(session, ticket_id)
    return [
        TranscriptLine(m.id, m.author, m.text, m.operator, m.created_at, m.payload)
        for m in await tickets.transcript(session, ticket_id)
    ]


async def _then(then: AfterTurn | None, session: AsyncSession, out: list[Event]) -> None:
    if then is not None:
        await then(session, out)


def _median(values: list[timedelta]) -> timedelta | None:
    if not values:
        return None
    return timedelta(seconds=statistics.median(v.total_seconds() for v in values))


def _owner_only(ticket: Ticket, operator: str, force: bool) -> None:
    """Refuse, naming the holder, an action on a ticket someone else holds (unless forced)."""
    if ticket.status == TicketStatus.TAKEN and ticket.operator != operator and not force:
        raise TicketNotYoursError(ticket.id, ticket.operator or "?")


async def _claim(
    session: AsyncSession, ticket: Ticket, operator: str, force: bool, now: datetime
) -> None:
    """Answering needs the ticket in hand: a waiting one must be taken first, someone else's
    is refused; ``force`` takes either over (recorded)."""
    if ticket.status == TicketStatus.WAITING and not force:
        raise TicketNotTakenError(ticket.id)
    _owner_only(ticket, operator, force)
    if ticket.status == TicketStatus.WAITING or ticket.operator != operator:
        action = "take" if ticket.status == TicketStatus.WAITING else "force_take"
        await audit.record(session, ticket.id, operator, action, now, ticket.operator)
        ticket.status, ticket.operator = TicketStatus.TAKEN, operator
        ticket.taken_at = ticket.taken_at or now


async def _existing(session: AsyncSession, ticket_id: int, *, lock: bool = False) -> Ticket:
    ticket = await tickets.get_ticket(session, ticket_id, lock=lock)
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    return ticket


async def _lock_conversation(session: AsyncSession, ticket_id: int) -> Conversation:
    """Lock the ticket's conversation before the ticket is touched: the engine's lock order.

    The engine locks the conversation row and then writes the ticket; an action that locked the
    ticket first and wrote the conversation second deadlocked with it on PostgreSQL. A ticket
    never changes conversation, so reading ``conversation_id`` unlocked is safe.
    """
    conversation_id = await session.scalar(
        select(Ticket.conversation_id).where(Ticket.id == ticket_id)
    )
    if conversation_id is None:
        raise TicketNotFoundError(ticket_id)
    conversation = await repo.get_conversation(session, conversation_id, lock=True)
    if conversation is None:  # the foreign key makes this impossible short of manual edits
        raise TicketError(ticket_id, "its conversation is missing")
    return conversation


async def _open(session: AsyncSession, ticket_id: int) -> tuple[Ticket, Conversation]:
    """An open ticket and its conversation, both locked (the conversation first)."""
    conversation = await _lock_conversation(session, ticket_id)
    ticket = await tickets.get_ticket(session, ticket_id, lock=True)
    if ticket is None:
        raise TicketNotFoundError(ticket_id)
    if ticket.status not in tickets.OPEN_STATUSES:
        raise TicketClosedError(ticket_id)
    return ticket, conversation


async def _conversation(session: AsyncSession, ticket: Ticket) -> Conversation:
    conversation = await repo.get_conversation(session, ticket.conversation_id)
    if conversation is None:  # the foreign key makes this impossible short of manual edits
        raise TicketError(ticket.id, "its conversation is missing")
    return conversation


async def _view(session: AsyncSession, ticket: Ticket) -> TicketView:
    conversation = await _conversation(session, ticket)
    contact = await session.get(Contact, conversation.contact_id)
    person = (contact.display_name or contact.external_id) if contact else ""
    return TicketView(
        id=ticket.id,
        status=ticket.status,
        reason=ticket.reason,
        question=ticket.question,
        channel=conversation.channel,
        conversation_id=conversation.external_id,
        person=person,
        operator=ticket.operator,
        external_ref=ticket.external_ref,
        created_at=ticket.created_at,
        taken_at=ticket.taken_at,
        first_reply_at=ticket.first_reply_at,
        closed_at=ticket.closed_at,
        rating=ticket.rating,
        note=ticket.note,
    )
