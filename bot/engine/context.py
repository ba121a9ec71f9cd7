"""What every step of a turn shares: its context (:class:`TurnContext`), and its output — the
bot's messages stored, the events emitted, the conversation's language kept."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine.events import Event, Incoming, Say
from bot.engine.hours import WorkingHours
from bot.metrics import Metrics
from bot.payloads import HERE
from bot.replies import Reply, render_plain
from bot.settings import ConversationSettings
from bot.storage import repo
from bot.storage.models import Author, Contact, Conversation, Message, Ticket
from bot.texts import phrase
from knowledge.base import KnowledgeBase

log = logging.getLogger(__name__)


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


class Steps:
    """A turn's context and output, for the steps of :class:`~bot.engine.turn.Turn`."""

    def __init__(self, context: TurnContext) -> None:
        self.c = context
        self.session = context.session
        self.conv = context.conversation
        self.lang = context.conversation.lang

    def _keep_lang(self) -> None:
        """The conversation's language as the turn chose it. An unchanged one is not even set:
        an assignment marks the row modified whatever the value, and the statements after the
        turn (its outbox rows) would autoflush the ORM's unit of work for nothing (~3% of a
        burst's CPU, py-spy)."""
        if self.conv.lang != self.lang:
            self.conv.lang = self.lang

    async def _stale(self, why: str) -> None:
        log.info("stale press conversation=%s why=%s", self.conv.id, why)
        await self._say(Reply((phrase("stale", self.lang),)), decision=None)

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
