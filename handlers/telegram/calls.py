"""The Telegram calls for the engine's events and the adapter's own messages: pure rendering.

:meth:`TelegramCalls.render` turns one event into :class:`~bot.channel.Draft` calls with no
session and no I/O: a reply becomes HTML ``sendMessage`` calls (split to fit), a ticket event a
notice in the ticket's forum topic, :class:`TicketOpened` the case card as the topic's first
message. Two calls are completed when sent (:mod:`handlers.telegram.sender`): a card edit
(the card as it is then) and a reaction on the person's question (its Telegram message id).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from bot.cases import CaseCard, card_reply
from bot.channel import Draft
from bot.delivery.outcome import ANSWER
from bot.engine import (
    Event,
    HandToQueue,
    Relayed,
    Say,
    TicketClosed,
    TicketEvent,
    TicketOpened,
)
from bot.replies import Reply
from bot.storage.models import TicketStatus
from handlers.telegram.callbacks import TakeData, TakeOverData
from handlers.telegram.reactions import REACTION, reaction_draft, reaction_for
from handlers.telegram.render import markup_params, message_params, render
from handlers.telegram.texts import tg_phrase

CHANNEL = "telegram"
EPHEMERAL = "ephemeral_message_parameters"
CARD = "card"  # the ticket's case card, the first message of its topic
CARD_EDIT = "card_edit"  # the card brought up to date in place (rendered when sent)
TRANSCRIPT_LINES = 20  # the newest lines of the transcript on a ticket card, at most

__all__ = ["CARD", "CARD_EDIT", "CHANNEL", "EPHEMERAL", "REACTION", "CopySource", "TelegramCalls"]


@dataclass(frozen=True, slots=True)
class CopySource:
    """A message to relay with copyMessage (media) instead of sending its text."""

    chat_id: int
    message_id: int


class TelegramCalls:
    """Renders events and the adapter's own messages for one bot and its operators' group."""

    def __init__(self, *, operator_chat_id: int | None, operator_language: str) -> None:
        self._ops = operator_chat_id
        self._lang = operator_language

    @property
    def operators(self) -> bool:
        """Whether an operators' group is configured (topic calls are possible)."""
        return self._ops is not None

    def render(self, event: Event, copy: CopySource | None = None) -> list[Draft]:
        """The calls ``event`` needs (``[]`` for another channel's); ``copy`` relays that
        message (media) for a :class:`Relayed` event or an operator's :class:`Say`."""
        if event.channel != CHANNEL:
            return []
        drafts: list[Draft] = []
        if isinstance(event, Say):
            drafts += self._to_person(event, copy)
        elif isinstance(event, TicketEvent) and self._ops is not None:
            drafts += self._to_operators(event, copy)
        emoji = reaction_for(event)
        ticket = getattr(event, "ticket_id", None)
        if emoji is not None and ticket is not None:
            drafts.append(reaction_draft(event.conversation_id, ticket, emoji))
        touched = isinstance(event, TicketEvent) or (isinstance(event, Say) and event.operator)
        if touched and ticket is not None and self._ops is not None:
            drafts.append(Draft(str(self._ops), "editMessageText", {}, ticket, kind=CARD_EDIT))
        return drafts

    def render_all(self, events: Iterable[Event], copy: CopySource | None = None) -> list[Draft]:
        """The calls of a turn's events in order, the card edits last: one per ticket whose
        card changed, none where the turn sent the card itself."""
        drafts = [d for event in events for d in self.render(event, copy)]
        carded = {d.ticket_id for d in drafts if d.kind == CARD}
        edits: dict[int | None, Draft] = {}
        for draft in drafts:
            if draft.kind == CARD_EDIT and draft.ticket_id not in carded:
                edits.setdefault(draft.ticket_id, draft)
        return [d for d in drafts if d.kind != CARD_EDIT] + list(edits.values())

    def message(
        self,
        chat_id: int | str,
        reply: Reply,
        thread_id: int | None = None,
        receiver: int | None = None,
    ) -> list[Draft]:
        """A reply of the adapter's own (help, "text only"), to a chat or one of its topics;
        with ``receiver``, an ephemeral message only that member of the group sees."""
        drafts = _ephemeral(self._messages(str(chat_id), None, reply), receiver)
        if thread_id is None:
            return drafts
        return [replace(d, params={**d.params, "message_thread_id": thread_id}) for d in drafts]

    def topic(
        self,
        ticket: int,
        reply: Reply,
        kind: str = "",
        receiver: int | None = None,
        markup: InlineKeyboardMarkup | None = None,
    ) -> list[Draft]:
        """A notice in the ticket's topic (none without an operators' group); with
        ``receiver``, an ephemeral one only that operator sees; ``markup`` is a keyboard of the
        adapter's own (the ``/kb`` results) on its last message."""
        if self._ops is None:
            return []
        drafts = self._messages(str(self._ops), ticket, reply, to_topic=True, kind=kind)
        drafts = _ephemeral(drafts, receiver)
        if markup is not None and drafts:
            last = drafts[-1]
            drafts[-1] = replace(
                last, params={**last.params, "reply_markup": markup_params(markup)}
            )
        return drafts

    def card(self, case: CaseCard) -> list[Draft]:
        """The case card as the first message of the ticket's topic."""
        if self._ops is None:
            return []
        params = self.card_params(case)
        return [Draft(str(self._ops), "sendMessage", params, case.ticket_id, True, CARD)]

    def card_params(self, case: CaseCard) -> dict[str, Any]:
        """``sendMessage`` parameters of the case card: one message, the transcript shortened
        to fit, with «Взять» while it waits and «Забрать» (a supervisor's take-over) while
        someone holds it."""
        hint = tg_phrase("op_card_hint", self._lang)
        for lines in range(min(TRANSCRIPT_LINES, len(case.lines)), -1, -1):
            reply = card_reply(case, self._lang, lines=lines)
            reply = Reply((*reply.blocks, hint), reply.title, reply.links)
            if len(render(reply)) == 1:
                break
        params = message_params(reply)[0]
        button = None
        if case.status == TicketStatus.WAITING:
            button = InlineKeyboardButton(
                text=tg_phrase("op_btn_take", self._lang),
                callback_data=TakeData(ticket=case.ticket_id).pack(),
                style="primary",  # Bot API 9.4: the card's one action stands out
            )
        elif case.status == TicketStatus.TAKEN:
            button = InlineKeyboardButton(
                text=tg_phrase("op_btn_take_over", self._lang),
                callback_data=TakeOverData(ticket=case.ticket_id).pack(),
            )
        if button is not None:
            markup = InlineKeyboardMarkup(inline_keyboard=[[button]])
            params["reply_markup"] = markup_params(markup)
        return params

    def _to_person(self, say: Say, copy: CopySource | None) -> list[Draft]:
        if copy is not None and say.operator is not None and say.message_id is not None:
            return [_copy(say.conversation_id, say.ticket_id, copy, to_topic=False, kind=ANSWER)]
        return self._messages(say.conversation_id, say.ticket_id, say.reply, kind=ANSWER)

    def _to_operators(self, event: TicketEvent, copy: CopySource | None) -> list[Draft]:
        ticket = event.ticket_id
        if isinstance(event, TicketOpened):
            return self.card(event.card)
        if isinstance(event, HandToQueue):
            return []  # the operators' group is this channel's queue: the card is its hand-off
        if isinstance(event, Relayed):
            if copy is not None:
                return [_copy(str(self._ops), ticket, copy, to_topic=True)]
            return self.topic(ticket, Reply((event.text,))) if event.text else []
        drafts = self.topic(ticket, Reply((event.notice,))) if event.notice else []
        if isinstance(event, TicketClosed):
            drafts.append(Draft(str(self._ops), "closeForumTopic", {}, ticket, to_topic=True))
        return drafts

    @staticmethod
    def _messages(
        chat_id: str, ticket: int | None, reply: Reply, *, to_topic: bool = False, kind: str = ""
    ) -> list[Draft]:
        return [
            Draft(chat_id, "sendMessage", params, ticket, to_topic, kind)
            for params in message_params(reply)
        ]


def _copy(
    chat_id: str, ticket: int | None, source: CopySource, *, to_topic: bool, kind: str = ""
) -> Draft:
    params = {"from_chat_id": source.chat_id, "message_id": source.message_id}
    return Draft(chat_id, "copyMessage", params, ticket, to_topic, kind)


def _ephemeral(drafts: list[Draft], receiver: int | None) -> list[Draft]:
    """Make the calls ephemeral messages for ``receiver`` (Bot API 10.2/10.3); the outbox sends
    one visibly when Telegram refuses it (the receiver left, an older server)."""
    if receiver is None:
        return drafts
    extra = {EPHEMERAL: {"receiver_user_id": receiver}}
    return [replace(d, params={**d.params, **extra}) for d in drafts]
