"""One event's work inside its transaction: the state machine's transitions (see ``core``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import FAILED, failed_reason, load_case
from bot.engine.events import (
    Event,
    HandToQueue,
    Incoming,
    Relayed,
    Resolved,
    Say,
    TicketClosed,
    TicketOpened,
    TicketRated,
    about,
)
from bot.engine.hours import WorkingHours
from bot.metrics import Metrics
from bot.payloads import HERE, Payload, Press, decode
from bot.replies import (
    Button,
    Reply,
    answer_reply,
    choice_entries,
    choices_reply,
    choose_language,
    compose,
    render_plain,
)
from bot.settings import ConversationSettings
from bot.storage import repo, tickets
from bot.storage.lengths import ID_LENGTH
from bot.storage.models import (
    Author,
    Contact,
    Conversation,
    Feedback,
    Message,
    Ticket,
    TicketStatus,
)
from bot.texts import CANCEL_WORDS, phrase
from knowledge.base import KnowledgeBase
from knowledge.model import Action

log = logging.getLogger(__name__)

MATCH_CHARS = 1000  # the knowledge base reads this much of a long message
ALTERNATIVES = 3  # next-best entries offered after «Не помогло»
CONTEXT_MINUTES = 30  # "call an operator" refers to the question asked this recently
RELAYED = "relayed"  # the decision recorded on the "added to your request" acknowledgement


@dataclass(slots=True)
class TurnContext:
    kb: KnowledgeBase
    hours: WorkingHours
    settings: ConversationSettings
    session: AsyncSession
    now: datetime
    incoming: Incoming
    contact: Contact
    conversation: Conversation
    inbound: Message
    ticket: Ticket | None  # the conversation's open ticket: its status is the state
    metrics: Metrics
    public_url: str = ""  # KB_PUBLIC_URL, for the links of answers
    zone: str = "UTC"  # HOURS_TIMEZONE: where operators read the case card's times
    out: list[Event] = field(default_factory=list)


class Turn:
    """Handles one :class:`Incoming` whose message row is already stored."""

    def __init__(self, context: TurnContext) -> None:
        self.c = context
        self.session = context.session
        self.conv = context.conversation
        self.lang = context.conversation.lang

    async def run(self) -> list[Event]:
        if self.c.incoming.language_code:
            self.lang = choose_language(self.c.incoming.language_code, None, self.lang)
        if self.c.incoming.payload:
            await self._press(self.c.incoming.payload)
        elif self.c.incoming.entry_id and self.c.ticket is None:
            await self._open(self.c.incoming.entry_id)
        else:
            await self._text(self.c.inbound.text)
        self._keep_lang()
        return self.c.out

    async def hand_over(self, failure: str) -> list[Event]:
        """Our own code failed on this message (``failure``: the error's class): it goes to an
        operator as it stands — relayed into the open ticket, or escalated with a card that
        says so."""
        if self.c.ticket is not None:
            await self._relay(self.c.ticket)
        else:
            await self._escalate(failed_reason(failure), self.c.inbound)
        self._keep_lang()
        return self.c.out

    def _keep_lang(self) -> None:
        """The conversation's language as the turn chose it. An unchanged one is not even set:
        an assignment marks the row modified whatever the value, and the statements after the
        turn (its outbox rows) would autoflush the ORM's unit of work for nothing (~3% of a
        burst's CPU, py-spy)."""
        if self.conv.lang != self.lang:
            self.conv.lang = self.lang

    # Text.

    async def _text(self, text: str) -> None:
        ticket = self.c.ticket
        if ticket is not None:
            if text.casefold().strip(" .!") in CANCEL_WORDS:
                await self._cancel(ticket)
            else:
                await self._relay(ticket)
            return
        if not text:
            await self._say(Reply((phrase("empty", self.lang),)), decision=None)
            return
        with self.c.metrics.match_seconds.time():
            decision = self.c.kb.decide(text[:MATCH_CHARS], remember=True)
        self.c.metrics.decisions.inc(kind=decision.action.value)
        self.lang = choose_language(self.c.incoming.language_code, decision.lang, self.lang)
        if decision.action is Action.OPERATOR:
            # «не работает телефония, позовите оператора» is its own subject; a bare request
            # for a human is about the question just discussed.
            states_problem = bool(self.c.kb.problem_in(text[:MATCH_CHARS]))
            question = self.c.inbound if states_problem else await self._context_question()
            await self._escalate("requested", question)
            return
        entry_id = decision.answer.entry.id if decision.answer is not None else None
        options = [entry_id] if entry_id else [e.id for e in choice_entries(decision)]
        if decision.action not in (Action.ANSWER, Action.CLARIFY):
            options = []
        await self._say(
            lambda mid: compose(decision, self.lang, mid, public_url=self.c.public_url),
            decision=decision.action.value,
            entry_id=entry_id,
            confidence=decision.confidence,
            options=options or None,
            question_id=self.c.inbound.id,
        )

    async def _open(self, entry_id: str) -> None:
        """A link naming an entry (Telegram /start payload): answer that entry."""
        if self.c.kb.get(entry_id) is None:
            await self._stale("link to an unknown entry")
            return
        answer = self.c.kb.answer_for(entry_id)
        await self._say(
            lambda mid: answer_reply(answer, self.lang, mid, public_url=self.c.public_url),
            decision=Action.ANSWER.value,
            entry_id=entry_id,
            options=[entry_id],
            question_id=self.c.inbound.id,
        )

    async def _context_question(self) -> Message:
        """The question an operator request is about: the one just discussed, else this text."""
        last = await repo.last_bot_message(self.session, self.conv.id)
        if (
            last is not None
            and last.question_id is not None
            and last.created_at >= self.c.now - timedelta(minutes=CONTEXT_MINUTES)
        ):
            question = await repo.get_message(self.session, last.question_id)
            if question is not None:
                return question
        return self.c.inbound

    # Button presses.

    async def _press(self, raw: str) -> None:
        payload = decode(raw)
        if payload is None:
            await self._stale("malformed payload")
        elif payload.press is Press.RATE:
            await self._rate(payload)
        elif payload.press is Press.CANCEL:
            ticket = self.c.ticket
            if ticket is None or ticket.id != payload.ref:
                await self._stale("cancel of a ticket that is not open")
            else:
                await self._cancel(ticket)
        elif self.c.ticket is not None:
            await self._busy(self.c.ticket)
        else:
            await self._on_message_press(payload)

    async def _on_message_press(self, payload: Payload) -> None:
        message = await repo.get_message(self.session, payload.ref)
        if message is None or message.conversation_id != self.conv.id or message.author != "bot":
            await self._stale("press on an unknown or foreign message")
            return
        question = (
            await repo.get_message(self.session, message.question_id)
            if message.question_id
            else None
        )
        if payload.press is Press.OPERATOR:
            await self._escalate("requested", question or self.c.inbound)
        elif payload.press is Press.PICK:
            await self._pick(message, payload.index, question)
        elif message.decision != Action.ANSWER or message.entry_id is None:
            await self._stale("feedback on a message that is not an answer")
        else:
            await self._feedback(message, message.entry_id, payload.press is Press.HELPED, question)

    async def _feedback(
        self, answer: Message, entry_id: str, helped: bool, question: Message | None
    ) -> None:
        """«Помогло» / «Не помогло» on ``answer``: recorded once; «Помогло», also pressed again,
        leaves the person's last word as "it helped" (:class:`Resolved`)."""
        if not await repo.add_feedback(
            self.session,
            Feedback(
                message_id=answer.id,
                conversation_id=self.conv.id,
                helpful=helped,
                entry_id=entry_id,
                created_at=self.c.now,
            ),
        ):
            await self._stale("second feedback on one answer")
        elif helped:
            await self._say(Reply((phrase("helped", self.lang),)), decision=None)
        else:
            await self._not_helped(answer, question)
        if helped:
            where = {"channel": self.conv.channel, "conversation_id": self.conv.external_id}
            self._emit(Resolved(**where, message_id=answer.id))

    async def _pick(self, message: Message, index: int, question: Message | None) -> None:
        options = message.options or []
        entry = self.c.kb.get(options[index]) if 0 <= index < len(options) else None
        if entry is None:
            await self._stale("choice out of range or no longer in the knowledge base")
            return
        answer = self.c.kb.answer_for(entry.id, question.text if question else "")
        await self._say(
            lambda mid: answer_reply(answer, self.lang, mid, public_url=self.c.public_url),
            decision=Action.ANSWER.value,
            entry_id=entry.id,
            options=[entry.id],
            question_id=message.question_id,
            attempt=message.attempt,
        )

    async def _not_helped(self, answer: Message, question: Message | None) -> None:
        if answer.attempt > 0 or question is None:
            await self._escalate("not_helped", question or self.c.inbound)
            return
        shown = await repo.shown_entries(self.session, question.id)
        found = self.c.kb.alternatives(question.text[:MATCH_CHARS], shown, ALTERNATIVES)
        entries = [m.entry for m in found]
        if not entries:
            await self._escalate("not_helped", question)
            return
        intro = (phrase("alternatives_intro", self.lang),)
        await self._say(
            lambda mid: choices_reply(intro, entries, self.lang, mid),
            decision=Action.CLARIFY.value,
            options=[e.id for e in entries],
            question_id=question.id,
            attempt=answer.attempt + 1,
        )

    async def _rate(self, payload: Payload) -> None:
        ticket = await tickets.get_ticket(self.session, payload.ref)
        if (
            ticket is None
            or ticket.conversation_id != self.conv.id
            or ticket.status != TicketStatus.CLOSED
            or ticket.rating is not None
            or not 1 <= payload.index <= 5
        ):
            await self._stale("rating of a ticket that cannot be rated")
            return
        ticket.rating = payload.index
        self.c.inbound.ticket_id = ticket.id
        await self._say(Reply((phrase("rated", self.lang),)), decision=None)
        notice = phrase(
            "op_ticket_rated", self.c.settings.language, ticket=ticket.id, rating=ticket.rating
        )
        self._emit(TicketRated(**about(self.conv, ticket), notice=notice, rating=payload.index))
        log.info(
            "ticket rated conversation=%s ticket=%s rating=%s",
            self.conv.id,
            ticket.id,
            ticket.rating,
        )

    # Tickets.

    async def _escalate(self, reason: str, question: Message) -> None:
        ticket = self.c.ticket or await self._recent_same(question.text)
        created = ticket is None
        if ticket is None:
            ticket = await tickets.create_ticket(
                self.session, self.conv.id, reason=reason, question=question.text, now=self.c.now
            )
        elif ticket.status not in tickets.OPEN_STATUSES:
            # The same question again minutes after a cancel or close: reopen, never a second one.
            # What belonged to the last round goes (a kept rating made the next close unratable);
            # the thread (external_ref) and the delivery state (person_blocked_at) stay, and
            # the reason it was first asked for, unless our code failed on the message now
            # (the card must say so).
            ticket.status, ticket.operator = TicketStatus.WAITING, None
            if reason.startswith(FAILED):
                ticket.reason = reason
            ticket.taken_at = ticket.closed_at = ticket.flagged_at = None
            ticket.first_reply_at = ticket.rating = ticket.note = None
            await tickets.mark_open(self.session, self.conv.id)
        await repo.tag_ticket_messages(self.session, self.conv.id, question.id, ticket.id)
        position = await tickets.queue_position(self.session, ticket)
        key = "ticket_created" if created else "ticket_exists"
        blocks = [phrase(key, self.lang, ticket=ticket.id, position=position)]
        if not self.c.hours.is_open(self.c.now):
            blocks.append(
                phrase(
                    "after_hours",
                    self.lang,
                    hours=self.c.hours.describe(self.lang),
                    when=self.c.hours.when_back(self.c.now, self.lang),
                )
            )
        cancel = Button(phrase("btn_cancel", self.lang), Payload(Press.CANCEL, ticket.id).encode())
        await self._say(Reply(tuple(blocks), buttons=(cancel,)), ticket_id=ticket.id)
        name = self.c.contact.display_name or self.c.contact.external_id
        summary = phrase(
            "op_ticket_new",
            self.c.settings.language,
            ticket=ticket.id,
            name=name,
            question=question.text,
        )
        self._keep_lang()  # the card shows the conversation's language
        card = await load_case(
            self.session,
            ticket.id,
            now=self.c.now,
            zone=self.c.zone,
            lang=self.c.settings.language,
            kb=self.c.kb,
            public_url=self.c.public_url,
            explain=not reason.startswith(FAILED),  # never the text code that failed, again
        )
        self._emit(TicketOpened(**about(self.conv, ticket), notice=summary, card=card))
        if self.c.incoming.ref:  # the channel's queue gets it where the person writes from now
            ticket.external_ref = self.c.incoming.ref[:ID_LENGTH]
        self._emit(HandToQueue(**about(self.conv, ticket)))
        log.info(
            "ticket %s conversation=%s ticket=%s reason=%s position=%d",
            "created" if created else "reused",
            self.conv.id,
            ticket.id,
            reason,
            position,
        )

    async def _recent_same(self, question: str) -> Ticket | None:
        """A ticket for the same question within the duplicate window, to reuse."""
        window = timedelta(minutes=self.c.settings.duplicate_minutes)
        wanted = _normalise(question)
        for ticket in await tickets.recent_tickets(self.session, self.conv.id, self.c.now - window):
            if _normalise(ticket.question) == wanted:
                return ticket
        return None

    async def _relay(self, ticket: Ticket) -> None:
        self.c.inbound.ticket_id = ticket.id
        self._emit(
            Relayed(
                **about(self.conv, ticket),
                message_id=self.c.inbound.id,
                text=self.c.inbound.text,
                operator=ticket.operator,
            )
        )
        # Acknowledge once per ticket: the person knows where their messages go from then on.
        if ticket.status == TicketStatus.WAITING and not await repo.has_bot_message(
            self.session, ticket.id, RELAYED
        ):
            relayed = Reply((phrase("ticket_relayed", self.lang, ticket=ticket.id),))
            await self._say(relayed, ticket_id=ticket.id, decision=RELAYED)
        log.info("message relayed conversation=%s ticket=%s", self.conv.id, ticket.id)

    async def _cancel(self, ticket: Ticket) -> None:
        ticket.status, ticket.closed_at = TicketStatus.CANCELLED, self.c.now
        self.c.inbound.ticket_id = ticket.id
        cancelled = Reply((phrase("ticket_cancelled", self.lang, ticket=ticket.id),))
        await self._say(cancelled, ticket_id=ticket.id)
        notice = phrase("op_ticket_cancelled", self.c.settings.language, ticket=ticket.id)
        self._emit(
            TicketClosed(
                **about(self.conv, ticket), notice=notice, operator=ticket.operator, cancelled=True
            )
        )
        log.info("ticket cancelled conversation=%s ticket=%s", self.conv.id, ticket.id)

    async def _busy(self, ticket: Ticket) -> None:
        cancel = Button(phrase("btn_cancel", self.lang), Payload(Press.CANCEL, ticket.id).encode())
        busy = Reply((phrase("ticket_busy", self.lang, ticket=ticket.id),), buttons=(cancel,))
        await self._say(busy, ticket_id=ticket.id)

    async def _stale(self, why: str) -> None:
        log.info("stale press conversation=%s why=%s", self.conv.id, why)
        await self._say(Reply((phrase("stale", self.lang),)), decision=None)

    # Output.

    async def _say(self, reply: Reply | Callable[[int | None], Reply], **fields: object) -> None:
        """Store a bot message and address it to the person.

        The row is written whole by one INSERT. A builder is for replies whose buttons carry
        the message's own id (feedback, picks, «Позвать оператора»): the row keeps them with
        :data:`~bot.payloads.HERE` for the id, and the person gets them built again with the id
        the INSERT gave.
        """
        stored = reply if isinstance(reply, Reply) else reply(HERE)
        message = Message(
            conversation_id=self.conv.id,
            author=Author.BOT,
            created_at=self.c.now,
            text=render_plain(stored, numbered_buttons=False),
            buttons=_button_rows(stored),
            **fields,
        )
        await repo.add_message(self.session, message)
        draft = stored if isinstance(reply, Reply) else reply(message.id)
        self._emit(
            Say(
                channel=self.conv.channel,
                conversation_id=self.conv.external_id,
                reply=draft,
                ticket_id=message.ticket_id,
                message_id=message.id,
            )
        )

    def _emit(self, event: Event) -> None:
        self.c.out.append(event)


def _button_rows(reply: Reply) -> list[list[str]] | None:
    return [[b.label, b.payload] for b in reply.buttons] or None


def _normalise(text: str) -> str:
    return " ".join("".join(ch for ch in text.casefold() if ch.isalnum() or ch.isspace()).split())
