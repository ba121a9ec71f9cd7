"""The Bitrix24 calls for the engine's events in one open-line chat: pure rendering.

:class:`BitrixCalls` turns an event into :class:`~bot.channel.Draft` calls with no session and
no I/O: a :class:`Say` becomes ``imbot.v2.Chat.Message.send`` (BB-code text, numbered choices,
a keyboard), :class:`TicketOpened` the case card as a note for the line's operators, and
:class:`HandToQueue` ``imopenlines.bot.session.operator``, which gives the chat to the line's
own queue. Other ticket events render nothing: the line's operators read the chat itself.

:func:`write` stores them for actions taken outside the line (``helpbot operator``): their
replies become the same calls the processor queues, which a running ``helpbot serve`` makes.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.cases import case_reply
from bot.channel import Draft
from bot.delivery import pipeline
from bot.engine import Event, HandToQueue, Say, TicketOpened
from bot.payloads import Press
from bot.storage.models import OutboxMessage
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.render import choices, render

log = logging.getLogger(__name__)

SEND = "imbot.v2.Chat.Message.send"
HAND_OFF = "imopenlines.bot.session.operator"
REPLY = "reply"  # the outbox kind of a message into the chat
# A note for the line's operators only (see BitrixCalls.render).
NOTE = {"system": "Y", "skipConnector": "Y"}
# The line owns a handed-off chat: it rates the session itself and ignores our buttons there.
OUTSIDE_DROP = frozenset({Press.RATE.value, Press.CANCEL.value})


@dataclass(frozen=True, slots=True)
class BitrixCalls:
    """Renders events for the chat ``dialog_id`` (numeric ``chat_id``) of the bot ``bot_id``;
    buttons whose payload starts with one of ``drop`` are left out."""

    dialog_id: str
    chat_id: int
    bot_id: int
    language: str = "ru"
    drop: frozenset[str] = frozenset()

    def render(self, event: Event) -> list[Draft]:
        """The calls ``event`` needs in this chat (``[]`` for anything else).

        The card's note is ``system`` + ``skipConnector`` (``imbot.v2.Chat.Message.send``
        fields: b24restdocs ``chat-bots-v2/change-log.md`` BOT-FIX-0402-2 names both; the
        method's own page lists ``system`` but not ``skipConnector``): a system
        line in the chat that the connector never forwards to the customer — what Bitrix24's
        own modules post for the manager (``salescenter``'s
        ``ImOpenLinesManager::sendDealNotify``: ``SYSTEM=Y``, ``SKIP_CONNECTOR=Y``). "Y" rather
        than JSON booleans: revisions before 33 read only "Y".
        """
        if event.channel != repo.CHANNEL or event.conversation_id != self.dialog_id:
            return []
        if isinstance(event, Say):
            fields = render(event.reply, drop=self.drop, lang=self.language)
            return [self.message(fields, event.ticket_id)]
        if isinstance(event, TicketOpened):
            fields = render(case_reply(event.card, self.language))
            return [self.message({**fields, **NOTE}, event.ticket_id)]
        if isinstance(event, HandToQueue):
            params = {"CHAT_ID": self.chat_id}
            return [Draft(self.dialog_id, HAND_OFF, params, event.ticket_id, kind="hand_off")]
        return []

    def choices(self, event: Say) -> list[str] | None:
        """The payloads of the numbered choices the rendered ``event`` shows, in order."""
        return choices(event.reply, self.drop) or None

    def message(self, fields: dict[str, Any], ticket_id: int | None = None) -> Draft:
        """One message from the bot into the chat.

        The message carries its own ``templateId``, kept in the row so every attempt sends the
        same one: the portal's IM module stores it as the message's uuid and answers a repeat
        with the message it already has instead of posting another
        (``SendingService::checkDuplicateByUuid``). A send whose answer was lost to a crash or
        a time-out is therefore safe to make again. It is random, not derived from the row id:
        ids start again in a new database, and a reused uuid would silently swallow a new
        message.
        """
        fields = {**fields, "templateId": str(uuid.uuid4())}
        keyboard = fields.get("keyboard")
        if isinstance(keyboard, dict):
            # BOT_ID routes a press to this bot; the docs warn that without it "the button
            # command may not be routed" (Chat.Message.update leaves it unset: live-checks §9).
            fields["keyboard"] = {"BOT_ID": self.bot_id, **keyboard}
        params: dict[str, Any] = {
            "botId": self.bot_id,
            "dialogId": self.dialog_id,
            "fields": fields,
        }
        return Draft(self.dialog_id, SEND, params, ticket_id, kind=REPLY)


async def write(
    session: AsyncSession, out: Sequence[Event], now: datetime, language: str = "ru"
) -> list[OutboxMessage]:
    """Queue the Bitrix24 person-facing replies among ``out``; returns the rows added.

    The chats' rows are read first, once per chat (what the render needs); the replies are
    then rendered with them, purely, and stored (:func:`bot.delivery.pipeline.store`).
    """
    says = [e for e in out if e.channel == repo.CHANNEL and isinstance(e, Say)]
    chats = {
        d: await repo.chat_by_dialog(session, d)
        for d in dict.fromkeys(e.conversation_id for e in says)
    }
    drafts: list[Draft] = []
    for item in says:
        chat = chats[item.conversation_id]
        if chat is None:
            log.warning(
                "bitrix reply not queued, chat unknown dialog=%s ticket=%s",
                item.conversation_id,
                item.ticket_id,
            )
            continue
        calls = BitrixCalls(chat.dialog_id, chat.chat_id, chat.bot_id, language, OUTSIDE_DROP)
        chat.choices = calls.choices(item)
        drafts += calls.render(item)
    return await pipeline.store(session, repo.CHANNEL, drafts, now)
