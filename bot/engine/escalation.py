"""A turn's ticket steps: the escalation to an operator (a ticket opened, or reopened for the
same question), the relay into the open ticket, its cancel, and the reply to a press while
one is open."""

from __future__ import annotations

import logging
from datetime import timedelta

from bot.cases import FAILED, load_case
from bot.engine.context import Steps
from bot.engine.events import Relayed, TicketClosed, about, handed_over
from bot.payloads import Payload, Press
from bot.replies import Button, Reply
from bot.storage import repo, tickets
from bot.storage.models import Message, Ticket, TicketStatus
from bot.texts import phrase

log = logging.getLogger(__name__)

RELAYED = "relayed"  # the decision recorded on the "added to your request" acknowledgement


class TicketSteps(Steps):
    """The steps of a turn that open, feed or close the conversation's ticket."""

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
        # The channel's queue gets it where the person writes from now.
        for event in handed_over(
            self.conv, ticket, notice=summary, card=card, ref=self.c.incoming.ref
        ):
            self._emit(event)
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


def _normalise(text: str) -> str:
    return " ".join("".join(ch for ch in text.casefold() if ch.isalnum() or ch.isspace()).split())
