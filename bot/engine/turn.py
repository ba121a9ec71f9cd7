"""One event's work inside its transaction: the state machine's transitions (see ``core``) —
the person's text decided on, their presses answered; the ticket steps are
:mod:`bot.engine.escalation`, the context and output :mod:`bot.engine.context`."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.cases import failed_reason
from bot.engine.escalation import TicketSteps
from bot.engine.events import Event, Resolved, TicketRated, about
from bot.payloads import Payload, Press, decode
from bot.replies import (
    Reply,
    answer_reply,
    choice_entries,
    choices_reply,
    choose_language,
    compose,
)
from bot.storage import repo, tickets
from bot.storage.models import Feedback, Message, TicketStatus
from bot.texts import CANCEL_WORDS, phrase
from knowledge.model import Action

log = logging.getLogger(__name__)

MATCH_CHARS = 1000  # the knowledge base reads this much of a long message
ALTERNATIVES = 3  # next-best entries offered after «Не помогло»
CONTEXT_MINUTES = 30  # "call an operator" refers to the question asked this recently


class Turn(TicketSteps):
    """Handles one :class:`Incoming` whose message row is already stored."""

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
