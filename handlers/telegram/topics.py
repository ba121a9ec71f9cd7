"""Forum topics in the operators' group: one per ticket, created on first use, recreated if gone."""

from __future__ import annotations

import logging

from aiogram import Bot
from aiogram.exceptions import TelegramBadRequest

from bot.errors import HelpbotError
from bot.queue import OperatorQueue, TicketView
from bot.storage.tickets import OPEN_STATUSES
from handlers.telegram.texts import tg_phrase

log = logging.getLogger(__name__)

MAX_NAME = 128


class TopicGone(HelpbotError):
    """A finished ticket has no topic any more (deleted): no new one is opened for it."""

    def __init__(self, ticket_id: int) -> None:
        super().__init__(f"the topic of finished ticket {ticket_id} is gone")
        self.ticket_id = ticket_id


def topic_ref(chat_id: int, thread_id: int) -> str:
    """How a ticket remembers its topic (``Ticket.external_ref``)."""
    return f"tg:{chat_id}/{thread_id}"


def parse_ref(ref: str | None) -> tuple[int, int] | None:
    if not ref or not ref.startswith("tg:"):
        return None
    chat, _, thread = ref[3:].partition("/")
    try:
        return int(chat), int(thread)
    except ValueError:
        return None


class Topics:
    """Finds or creates the topic of a ticket in the operators' group."""

    def __init__(self, bot: Bot, queue: OperatorQueue, chat_id: int, language: str) -> None:
        self._bot = bot
        self._queue = queue
        self._chat = chat_id
        self._lang = language

    async def thread(self, ticket_id: int) -> int:
        """The ticket's topic id, creating the topic when an open ticket has none (or it was
        forgotten); :class:`TopicGone` for a finished one."""
        view = await self._queue.get(ticket_id)
        ref = parse_ref(view.external_ref)
        if ref is not None and ref[0] == self._chat:
            return ref[1]
        if view.status not in OPEN_STATUSES:
            raise TopicGone(ticket_id)
        return await self._create(view)

    async def is_open(self, ticket_id: int) -> bool:
        return (await self._queue.get(ticket_id)).status in OPEN_STATUSES

    async def forget(self, ticket_id: int) -> None:
        """The topic is gone (deleted by an operator): the next send creates a new one."""
        await self._queue.set_external_ref(ticket_id, "")
        log.warning("ticket topic lost, will be recreated ticket=%s", ticket_id)

    async def reopen(self, ticket_id: int) -> None:
        thread = await self.thread(ticket_id)
        try:
            await self._bot.reopen_forum_topic(chat_id=self._chat, message_thread_id=thread)
        except TelegramBadRequest as exc:
            if "topic_not_modified" not in exc.message.lower():  # open already: as wanted
                raise

    async def close_if_finished(self, ticket_id: int) -> None:
        """Close the topic again after a late notice, unless the ticket is open again."""
        view = await self._queue.get(ticket_id)
        if view.status in OPEN_STATUSES:
            return
        thread = await self.thread(ticket_id)
        await self._bot.close_forum_topic(chat_id=self._chat, message_thread_id=thread)

    async def _create(self, view: TicketView) -> int:
        name = tg_phrase(
            "op_topic_name", self._lang, ticket=view.id, name=view.person, question=view.question
        )
        name = " ".join(name.split())[:MAX_NAME]
        topic = await self._bot.create_forum_topic(chat_id=self._chat, name=name)
        await self._queue.set_external_ref(view.id, topic_ref(self._chat, topic.message_thread_id))
        log.info("ticket topic created ticket=%s thread=%s", view.id, topic.message_thread_id)
        return topic.message_thread_id
