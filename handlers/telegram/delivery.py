"""From the engine's Outgoing to outbox rows: what to send where, stored before it is sent."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.cases import card_reply, load_case
from bot.clock import Clock
from bot.delivery import inbox
from bot.engine import Effect, Outgoing, Target
from bot.engine.core import AfterTurn
from bot.replies import Reply
from bot.storage import delivery
from bot.storage.models import DeliveryStatus, OutboxMessage, TicketStatus
from bot.texts import phrase
from handlers.telegram.callbacks import TakeData, TakeOverData
from handlers.telegram.reactions import question_message, reaction_for, reaction_params
from handlers.telegram.render import markup_params, message_params, render
from knowledge.base import KnowledgeBase
from knowledge.holder import KnowledgeHolder, holding

log = logging.getLogger(__name__)

CHANNEL = "telegram"
_NOTICES = {
    Effect.TICKET_TAKEN: "op_ticket_taken",
    Effect.TICKET_TRANSFERRED: "op_ticket_transferred",
    Effect.CLOSE_TICKET: "op_ticket_closed",
}
EPHEMERAL = "ephemeral_message_parameters"
CARD = "card"  # the ticket's case card, the first message of its topic
CARD_EDIT = "card_edit"  # the card brought up to date in place (rendered when sent)
TRANSCRIPT_LINES = 20  # the newest lines of the transcript on a ticket card, at most


@dataclass(frozen=True, slots=True)
class CopySource:
    """A message to relay with copyMessage (media) instead of sending its text."""

    chat_id: int
    message_id: int


class OutboxRows:
    """Turns Outgoing items into Telegram outbox rows, added in the caller's transaction.

    It needs neither the bot nor a connection of its own, so ``helpbot operator`` queues its
    replies with it for a running ``helpbot serve`` to send. Without a knowledge base a ticket
    card lists no entries.
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
        self._ops = operator_chat_id
        self._lang = operator_language
        self._zone = zone
        self._public_url = public_url

    @property
    def operators(self) -> bool:
        """Whether an operators' group is configured (topic rows are possible)."""
        return self._ops is not None

    async def write(
        self, session: AsyncSession, out: Sequence[Outgoing], copy: CopySource | None = None
    ) -> list[OutboxMessage]:
        """Add every call ``out`` needs; ``copy`` relays that message for the relayed item."""
        rows: list[OutboxMessage] = []
        changed: dict[int, bool] = {}  # tickets whose card changed → a new card was sent
        for item in out:
            if item.channel != CHANNEL:
                continue
            if item.target is Target.PERSON:
                rows.extend(self._to_person(item, copy))
            elif self._ops is not None:
                rows.extend(await self._to_operators(session, item, copy))
            rows.extend(await self._reaction(session, item))
            if item.ticket_id is not None and (
                item.target is Target.OPERATORS or item.operator is not None
            ):
                fresh = item.effect is Effect.OPEN_TICKET
                changed[item.ticket_id] = changed.get(item.ticket_id, False) or fresh
        for ticket, fresh in changed.items():
            if not fresh and self._ops is not None:
                rows.append(
                    self._row(str(self._ops), ticket, "editMessageText", {}, kind=CARD_EDIT)
                )
        if rows:
            await delivery.add_outbox(session, rows)
        return rows

    def message(
        self,
        chat_id: int | str,
        reply: Reply,
        thread_id: int | None = None,
        receiver: int | None = None,
    ) -> list[OutboxMessage]:
        """A reply of the adapter's own (help, "text only"), to a chat or one of its topics;
        with ``receiver``, an ephemeral message only that member of the group sees."""
        rows = _ephemeral(self._rows(str(chat_id), None, reply), receiver)
        if thread_id is not None:
            for row in rows:
                row.params = {**row.params, "message_thread_id": thread_id}
        return rows

    def topic(
        self,
        ticket: int,
        reply: Reply,
        kind: str = "",
        receiver: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> list[OutboxMessage]:
        """A notice in the ticket's topic (no rows without an operators' group); with
        ``receiver``, an ephemeral one only that operator sees; ``markup`` is a keyboard of the
        adapter's own (the ``/kb`` results) on its last message."""
        if self._ops is None:
            return []
        rows = self._rows(str(self._ops), ticket, reply, to_topic=True, kind=kind)
        _ephemeral(rows, receiver)
        if markup is not None and rows:
            rows[-1].params = {**rows[-1].params, "reply_markup": markup_params(markup)}
        return rows

    def call(self, chat_id: int | str, method: str, params: dict[str, Any]) -> OutboxMessage:
        return self._row(str(chat_id), None, method, params)

    async def card(self, session: AsyncSession, ticket_id: int) -> dict[str, Any]:
        """``sendMessage`` parameters of the ticket's case card (:mod:`bot.cases`): one message,
        the transcript shortened to fit, with «Взять» while it waits and «Забрать» (a
        supervisor's take-over) while someone holds it."""
        case = await load_case(
            session,
            ticket_id,
            now=self._clock.now(),
            zone=self._zone,
            lang=self._lang,
            kb=self._knowledge.current if self._knowledge else None,
            public_url=self._public_url,
        )
        hint = phrase("op_card_hint", self._lang)
        for lines in range(min(TRANSCRIPT_LINES, len(case.lines)), -1, -1):
            reply = card_reply(case, self._lang, lines=lines)
            reply = Reply((*reply.blocks, hint), reply.title, reply.links)
            if len(render(reply)) == 1:
                break
        params = message_params(reply)[0]
        button = None
        if case.status == TicketStatus.WAITING:
            button = InlineKeyboardButton(
                text=phrase("op_btn_take", self._lang),
                callback_data=TakeData(ticket=ticket_id).pack(),
                style="primary",  # Bot API 9.4: the card's one action stands out
            )
        elif case.status == TicketStatus.TAKEN:
            button = InlineKeyboardButton(
                text=phrase("op_btn_take_over", self._lang),
                callback_data=TakeOverData(ticket=ticket_id).pack(),
            )
        if button is not None:
            markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
            params["reply_markup"] = markup_params(markup)
        return params

    async def card_rows(self, session: AsyncSession, ticket_id: int) -> list[OutboxMessage]:
        """The card as the first message of the ticket's topic."""
        if self._ops is None:
            return []
        params = await self.card(session, ticket_id)
        return [
            self._row(str(self._ops), ticket_id, "sendMessage", params, to_topic=True, kind=CARD)
        ]

    async def _reaction(self, session: AsyncSession, item: Outgoing) -> list[OutboxMessage]:
        """👀 or 👌 on the person's question when an operator takes or first answers it."""
        emoji = await reaction_for(session, item)
        if emoji is None or item.ticket_id is None:
            return []
        question = await question_message(session, item.ticket_id)
        if question is None:
            return []
        params = reaction_params(question, emoji)
        return [self.call(item.conversation_id, "setMessageReaction", params)]

    def _to_person(self, item: Outgoing, copy: CopySource | None) -> list[OutboxMessage]:
        if item.effect is not None or item.reply is None:
            return []  # HAND_TO_QUEUE and the like belong to other channels
        if copy is not None and item.operator is not None and item.message_id is not None:
            return [self._copy_row(item.conversation_id, None, item.ticket_id, copy)]
        return self._rows(item.conversation_id, item.ticket_id, item.reply)

    async def _to_operators(
        self, session: AsyncSession, item: Outgoing, copy: CopySource | None
    ) -> list[OutboxMessage]:
        if item.ticket_id is None:
            return []
        ticket = item.ticket_id
        if item.effect is Effect.OPEN_TICKET:
            return await self.card_rows(session, ticket)
        if item.effect is Effect.RELAY_TO_OPERATOR and copy is not None:
            return [self._copy_row(str(self._ops), ticket, ticket, copy)]
        text = _NOTICES.get(item.effect) if item.effect else None
        reply = item.reply
        if reply is None and text is not None:
            reply = Reply((phrase(text, self._lang, ticket=ticket, operator=item.operator),))
        rows = self.topic(ticket, reply) if reply is not None else []
        if item.effect is Effect.CLOSE_TICKET:
            rows.append(self._row(str(self._ops), ticket, "closeForumTopic", {}, to_topic=True))
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

    def then(
        self,
        copy: CopySource | None = None,
        *,
        buttons_off: tuple[int, int] | None = None,
    ) -> AfterTurn:
        """The hook for ``engine.handle`` and queue actions: in their transaction, the rows and
        the inbox's update being processed settled (:func:`bot.delivery.inbox.settle`), so a
        crash can neither lose the replies nor repeat them. ``buttons_off`` (chat, message)
        removes that message's buttons in the same commit.

        Call :attr:`wake` once the action has returned (committed).
        """

        async def then(session: AsyncSession, out: list[Outgoing]) -> None:
            await self._rows.write(session, out, copy)
            if buttons_off is not None:
                await delivery.add_outbox(session, [self._buttons_off(*buttons_off)])
            await inbox.settle(session, self._clock.now())

        return then

    async def deliver(self, out: Sequence[Outgoing], copy: CopySource | None = None) -> None:
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
        await self.store(self._rows.message(chat_id, reply, thread_id, receiver))

    async def say_ticket(
        self,
        ticket_id: int,
        reply: Reply,
        receiver: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> None:
        """A notice in the ticket's topic in the operators' group (for ``receiver`` alone)."""
        await self.store(self._rows.topic(ticket_id, reply, receiver=receiver, markup=markup))

    def _buttons_off(self, chat_id: int, message_id: int) -> OutboxMessage:
        return self._rows.call(chat_id, "editMessageReplyMarkup", {"message_id": message_id})

    async def mark_person(self, chat_id: int | str, *, blocked: bool) -> None:
        """The person blocked (or unblocked) the bot: mark their ticket, tell operators once."""
        async with self._sessions.begin() as session:
            ticket = await delivery.set_person_blocked(
                session, CHANNEL, str(chat_id), self._clock.now() if blocked else None
            )
        if ticket is not None and blocked:
            log.info("person blocked the bot chat=%s ticket=%s", chat_id, ticket.id)
            await self.say_person_blocked(ticket.id)

    async def say_person_blocked(self, ticket_id: int) -> None:
        """Tell the ticket's topic that the person blocked the bot (once per marking)."""
        notice = Reply((phrase("op_person_blocked", self._lang, ticket=ticket_id),))
        await self.say_ticket(ticket_id, notice)

    async def say_not_delivered(self, ticket_id: int, reason: str) -> None:
        """Tell the ticket's topic that Telegram refused a message to the person, and why."""
        notice = phrase("op_not_delivered", self._lang, ticket=ticket_id, reason=reason)
        await self.say_ticket(ticket_id, Reply((notice,)))

    async def card_again(self, ticket_id: int) -> None:
        """The ticket card in a recreated topic (the old one was deleted with its history)."""
        if not self._rows.operators:
            return
        async with self._sessions.begin() as session:
            rows = await self._rows.card_rows(session, ticket_id)
            await delivery.add_outbox(session, rows)
        self._stored(rows)

    async def card_edit(self, ticket_id: int) -> dict[str, Any] | None:
        """``editMessageText`` parameters that bring the ticket's card up to date, or ``None``
        when its card was never sent (nothing to edit)."""
        async with self._sessions() as session:
            sent = await delivery.sent_id_of(session, CHANNEL, ticket_id, CARD)
            if sent is None:
                return None
            params = await self._rows.card(session, ticket_id)
        return {**params, "message_id": int(sent)}

    async def store(self, rows: list[OutboxMessage]) -> None:
        if not rows:
            return
        async with self._sessions.begin() as session:
            await delivery.add_outbox(session, rows)
        self._stored(rows)

    def _stored(self, rows: list[OutboxMessage]) -> None:
        if rows:
            log.debug("outbox rows stored count=%d first=%s", len(rows), rows[0].id)
            self.wake()


def _ephemeral(rows: list[OutboxMessage], receiver: int | None) -> list[OutboxMessage]:
    """Make the rows ephemeral messages for ``receiver`` (Bot API 10.2/10.3); the outbox sends
    one visibly when Telegram refuses it (the receiver left, an older server)."""
    if receiver is not None:
        for row in rows:
            row.params = {**row.params, EPHEMERAL: {"receiver_user_id": receiver}}
    return rows
