"""From the engine's Outgoing to outbox rows: what to send where, stored before it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.clock import Clock
from bot.engine import Effect, Outgoing, Target
from bot.queue import OperatorQueue
from bot.replies import Reply
from bot.storage import delivery
from bot.storage.models import DeliveryStatus, OutboxMessage, TicketStatus
from bot.texts import phrase
from handlers.telegram.callbacks import TakeData
from handlers.telegram.render import markup_params, message_params
from knowledge.base import KnowledgeBase
from knowledge.model import Link

log = logging.getLogger(__name__)

CHANNEL = "telegram"
_NOTICES = {
    Effect.TICKET_TAKEN: "op_ticket_taken",
    Effect.TICKET_TRANSFERRED: "op_ticket_transferred",
    Effect.CLOSE_TICKET: "op_ticket_closed",
}
CARD = "card"  # the ticket card in a topic, with the «Взять» button
MATCHES = 3  # entries listed on a ticket card
TRANSCRIPT_LINES = 20  # the newest lines of the transcript on a ticket card


@dataclass(frozen=True, slots=True)
class CopySource:
    """A message to relay with copyMessage (media) instead of sending its text."""

    chat_id: int
    message_id: int


class Deliverer:
    """Stores the API calls for a list of Outgoing in the outbox and wakes its worker."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        queue: OperatorQueue,
        kb: KnowledgeBase,
        *,
        operator_chat_id: int | None,
        operator_language: str,
        wake: Callable[[], None],
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._queue = queue
        self._kb = kb
        self._ops = operator_chat_id
        self._lang = operator_language
        self._wake = wake

    async def deliver(self, out: Sequence[Outgoing], copy: CopySource | None = None) -> None:
        """Store every call ``out`` needs; ``copy`` relays that message for the relayed item."""
        rows: list[OutboxMessage] = []
        for item in out:
            if item.channel != CHANNEL:
                continue
            if item.target is Target.PERSON:
                rows.extend(self._to_person(item, copy))
            elif self._ops is not None:
                rows.extend(await self._to_operators(item, copy))
        await self.store(rows)

    async def say(self, chat_id: int | str, reply: Reply, thread_id: int | None = None) -> None:
        """A reply of the adapter's own (help, "text only"), to a chat or one of its topics."""
        rows = self._rows(str(chat_id), None, reply)
        if thread_id is not None:
            for row in rows:
                row.params = {**row.params, "message_thread_id": thread_id}
        await self.store(rows)

    async def say_ticket(self, ticket_id: int, reply: Reply) -> None:
        """A notice in the ticket's topic in the operators' group."""
        if self._ops is not None:
            await self.store(self._topic_rows(ticket_id, reply))

    async def remove_buttons(self, chat_id: int, message_id: int) -> None:
        await self.store(
            [self._row(str(chat_id), None, "editMessageReplyMarkup", {"message_id": message_id})]
        )

    async def mark_person(self, chat_id: int | str, *, blocked: bool) -> None:
        """The person blocked (or unblocked) the bot: mark their ticket, tell operators once."""
        async with self._sessions.begin() as session:
            ticket = await delivery.set_person_blocked(
                session, CHANNEL, str(chat_id), self._clock.now() if blocked else None
            )
        if ticket is not None and blocked:
            log.info("person blocked the bot chat=%s ticket=%s", chat_id, ticket.id)
            notice = Reply((phrase("op_person_blocked", self._lang, ticket=ticket.id),))
            await self.say_ticket(ticket.id, notice)

    async def card_again(self, ticket_id: int) -> None:
        """The ticket card in a recreated topic (the old one was deleted with its history)."""
        if self._ops is None:
            return
        view = await self._queue.get(ticket_id)
        summary = phrase(
            "op_ticket_new", self._lang, ticket=view.id, name=view.person, question=view.question
        )
        card = await self._card(ticket_id, Reply((summary,)))
        waiting = view.status == TicketStatus.WAITING
        await self.store(self._topic_rows(ticket_id, card, kind=CARD if waiting else ""))

    async def store(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        async with self._sessions.begin() as session:
            await delivery.add_outbox(session, rows)
        log.debug("outbox rows stored count=%d first=%s", len(rows), rows[0].id)
        self._wake()

    def _to_person(self, item: Outgoing, copy: CopySource | None) -> list[OutboxMessage]:
        if item.effect is not None or item.reply is None:
            return []  # HAND_TO_QUEUE and the like belong to other channels
        if copy is not None and item.operator is not None and item.message_id is not None:
            return [self._copy_row(item.conversation_id, None, item.ticket_id, copy)]
        return self._rows(item.conversation_id, item.ticket_id, item.reply)

    async def _to_operators(self, item: Outgoing, copy: CopySource | None) -> list[OutboxMessage]:
        if item.ticket_id is None:
            return []
        ticket = item.ticket_id
        if item.effect is Effect.OPEN_TICKET:
            return self._topic_rows(ticket, await self._card(ticket, item.reply), kind=CARD)
        if item.effect is Effect.RELAY_TO_OPERATOR and copy is not None:
            return [self._copy_row(str(self._ops), ticket, ticket, copy)]
        text = _NOTICES.get(item.effect) if item.effect else None
        reply = item.reply
        if reply is None and text is not None:
            reply = Reply((phrase(text, self._lang, ticket=ticket, operator=item.operator),))
        rows = self._topic_rows(ticket, reply) if reply is not None else []
        if item.effect is Effect.CLOSE_TICKET:
            rows.append(self._row(str(self._ops), ticket, "closeForumTopic", {}, to_topic=True))
        return rows

    async def _card(self, ticket_id: int, summary: Reply | None) -> Reply:
        """The ticket card: the engine's summary, the transcript and the closest entries."""
        view = await self._queue.get(ticket_id)
        lines = await self._queue.transcript(ticket_id)
        blocks = list(summary.blocks if summary else ())
        said = [
            f"{phrase(f'op_who_{line.author}', self._lang)}: {_short(line.text or line.payload)}"
            for line in lines[-TRANSCRIPT_LINES:]
            if line.text or line.payload
        ]
        if said:
            blocks.append(phrase("op_transcript", self._lang) + "\n" + "\n".join(said))
        matches = self._kb.search(view.question, MATCHES) if view.question else []
        if matches:
            titles = "\n".join(f"• {m.entry.title} ({m.score:.2f})" for m in matches)
            blocks.append(phrase("op_matches", self._lang) + "\n" + titles)
        blocks.append(phrase("op_card_hint", self._lang))
        links = tuple(Link(m.entry.title, m.entry.url) for m in matches if m.entry.url)
        return Reply(tuple(blocks), links=links)

    def _topic_rows(self, ticket: int, reply: Reply, kind: str = "") -> list[OutboxMessage]:
        rows = self._rows(str(self._ops), ticket, reply, to_topic=True, kind=kind)
        if kind == CARD and rows:
            take = InlineKeyboardButton(
                text=phrase("op_btn_take", self._lang), callback_data=TakeData(ticket=ticket).pack()
            )
            markup = InlineKeyboardMarkup(inline_keyboard=[[take]])
            rows[-1].params = {**rows[-1].params, "reply_markup": markup_params(markup)}
        return rows

    def _rows(
        self,
        chat_id: str,
        ticket: int | None,
        reply: Reply,
        *,
        to_topic: bool = False,
        kind: str = "",
    ) -> list[OutboxMessage]:
        return [
            self._row(chat_id, ticket, "sendMessage", params, to_topic=to_topic, kind=kind)
            for params in message_params(reply)
        ]

    def _copy_row(
        self, chat_id: str, topic_ticket: int | None, ticket: int | None, source: CopySource
    ) -> OutboxMessage:
        params = {"from_chat_id": source.chat_id, "message_id": source.message_id}
        return self._row(chat_id, ticket, "copyMessage", params, to_topic=topic_ticket is not None)

    def _row(
        self,
        chat_id: str,
        ticket: int | None,
        method: str,
        params: dict[str, Any],
        *,
        to_topic: bool = False,
        kind: str = "",
    ) -> OutboxMessage:
        now = self._clock.now()
        return OutboxMessage(
            channel=CHANNEL,
            chat_id=chat_id,
            ticket_id=ticket,
            to_topic=to_topic,
            kind=kind,
            method=method,
            params=params,
            status=DeliveryStatus.PENDING,
            attempts=0,
            not_before=now,
            created_at=now,
        )


def _short(text: str | None, limit: int = 300) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
