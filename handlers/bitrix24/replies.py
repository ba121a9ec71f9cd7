"""The Bitrix24 calls for the engine's events: pure rendering, the same for every chat.

:class:`BitrixCalls` turns an event into :class:`~bot.channel.Draft` calls with no session and
no I/O: a :class:`Say` becomes ``imbot.v2.Chat.Message.send`` (BB-code text, numbered choices,
a keyboard) of kind :data:`~bot.delivery.outcome.ANSWER` (given up, it is handed to the
operators: :meth:`~handlers.bitrix24.sender.BitrixSender.undelivered`; a new session's greeting
is stored as :data:`GREETING_KIND` instead, :func:`greeting`), :class:`TicketOpened`
the case card as a note for the line's operators, :class:`Undelivered` its line as such a note,
and :class:`HandToQueue` ``imopenlines.bot.session.operator``, which gives the chat to the
line's own queue. Other ticket events render nothing: the line's operators read the chat itself.

Everything a call needs comes from the event: the chat is the event's ``conversation_id`` (an
open line's dialog id, ``chat<N>``: the number is the chat's id) and the buttons shown are the
same in every turn (:data:`DROP`). The bot's own id is the portal's fact, not the chat's: the
sender fills it in when it makes the call (:class:`handlers.bitrix24.sender.BitrixSender`).

Actions taken outside the line (``helpbot operator``) are rendered the same way, their
calls queued for a running ``helpbot serve`` to make; :func:`choices_shown` is what they leave
in the chat's row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import Update, update

from bot.cases import case_reply
from bot.channel import Draft
from bot.delivery.outcome import ANSWER
from bot.engine import Event, HandToQueue, Say, TicketOpened, Undelivered
from bot.payloads import Press
from bot.replies import Reply
from handlers.bitrix24 import storage as repo
from handlers.bitrix24.models import BitrixChat
from handlers.bitrix24.render import choices, render

SEND = "imbot.v2.Chat.Message.send"
HAND_OFF = "imopenlines.bot.session.operator"
NOTE_KIND = "note"  # the outbox kind of a note for the line's operators (never an ANSWER)
HAND_OFF_KIND = "hand_off"  # the outbox kind of the transfer to the line's queue
# The outbox kind of a new session's greeting (ConversationEngine.welcome): it answers no
# message, so, given up, it is handed to no one (an ANSWER would open a ticket for it).
GREETING_KIND = "greeting"
# A note for the line's operators only (see BitrixCalls.render).
NOTE = {"system": "Y", "skipConnector": "Y"}
# Buttons never shown in an open line. Every ticket is handed to the line's queue in the turn
# that opens it (the engine emits HandToQueue with every TicketOpened), and from then the line
# owns the chat: it rates the session itself, and a cancel would be the bot's word in a chat
# that is no longer the bot's (it ignores our buttons there).
DROP = frozenset({Press.RATE.value, Press.CANCEL.value})


def chat_number(dialog_id: str) -> int | None:
    """The numeric chat id of an open line's dialog id (``chat123`` -> 123), else None."""
    number = dialog_id.removeprefix("chat")
    return int(number) if number != dialog_id and number.isascii() and number.isdigit() else None


@dataclass(frozen=True, slots=True)
class BitrixCalls:
    """Renders events into calls in their open-line chat, texts in ``language``."""

    language: str = "ru"

    def render(self, event: Event) -> list[Draft]:
        """The calls ``event`` needs (``[]`` for another channel's, or one with no call here).

        The card's note is ``system`` + ``skipConnector`` (``imbot.v2.Chat.Message.send``
        fields: b24restdocs ``api-reference/chat-bots/chat-bots-v2/change-log.md``
        BOT-FIX-0402-2 names both; the method's own page lists ``system`` but not
        ``skipConnector``): a system
        line in the chat that the connector never forwards to the customer — what Bitrix24's
        own modules post for the manager (``salescenter``'s
        ``ImOpenLinesManager::sendDealNotify``: ``SYSTEM=Y``, ``SKIP_CONNECTOR=Y``). "Y" rather
        than JSON booleans: revisions before 33 read only "Y".
        """
        if event.channel != repo.CHANNEL:
            return []
        dialog = event.conversation_id
        if isinstance(event, Say):
            fields = render(event.reply, drop=DROP, lang=self.language)
            return [self.message(dialog, fields, event.ticket_id, kind=ANSWER)]
        if isinstance(event, TicketOpened):
            fields = render(case_reply(event.card, self.language))
            return [self.message(dialog, {**fields, **NOTE}, event.ticket_id, kind=NOTE_KIND)]
        if isinstance(event, Undelivered) and event.notice:
            fields = render(Reply((event.notice,)))
            return [self.message(dialog, {**fields, **NOTE}, event.ticket_id, kind=NOTE_KIND)]
        chat = chat_number(dialog)
        if isinstance(event, HandToQueue) and chat is not None:
            params = {"CHAT_ID": chat}
            return [Draft(dialog, HAND_OFF, params, event.ticket_id, kind=HAND_OFF_KIND)]
        return []

    @staticmethod
    def choices(event: Say) -> list[str] | None:
        """The payloads of the numbered choices the rendered ``event`` shows, in order."""
        return choices(event.reply, DROP) or None

    @staticmethod
    def message(
        dialog_id: str, fields: dict[str, Any], ticket_id: int | None = None, *, kind: str
    ) -> Draft:
        """One message from the bot into the chat (its ``botId``: :func:`with_bot`), an outbox
        row of ``kind``: :data:`~bot.delivery.outcome.ANSWER` for one to the person, else a note.

        The message carries its own ``templateId``, kept in the row so every attempt sends the
        same one: the portal's IM module stores it as the message's uuid and answers a repeat
        with the message it already has instead of posting another
        (``SendingService::checkDuplicateByUuid``). A send whose answer was lost to a crash or
        a time-out is therefore safe to make again. It is random, not derived from the row id:
        ids start again in a new database, and a reused uuid would silently swallow a new
        message.
        """
        fields = {**fields, "templateId": str(uuid.uuid4())}
        params: dict[str, Any] = {"dialogId": dialog_id, "fields": fields}
        return Draft(dialog_id, SEND, params, ticket_id, kind=kind)


def greeting(drafts: Iterable[Draft]) -> list[Draft]:
    """The calls of a new session's greeting (the ``Say`` of
    :meth:`bot.engine.ConversationEngine.welcome`, rendered like any): of kind
    :data:`GREETING_KIND`, not an answer to a message."""
    return [replace(draft, kind=GREETING_KIND) for draft in drafts]


def with_bot(params: dict[str, Any], bot_id: int) -> dict[str, Any]:
    """A message's parameters sent as the bot ``bot_id``: ``botId`` and the keyboard's
    ``BOT_ID``, which routes a press to this bot (the docs warn that without it "the button
    command may not be routed"; Chat.Message.update leaves it unset: live-checks §9). A row
    stored before the sender filled them in has the chat's bot's id then: replaced, so that a
    bot registered again since sends them all."""
    params = {**params, "botId": bot_id}
    fields = params.get("fields")
    if isinstance(fields, dict) and isinstance(fields.get("keyboard"), dict):
        params["fields"] = {**fields, "keyboard": {**fields["keyboard"], "BOT_ID": bot_id}}
    return params


def choices_shown(events: Sequence[Event]) -> list[Update]:
    """The chats' numbered choices after an action taken outside the line (``helpbot
    operator``'s reply, rendered by :class:`BitrixCalls` like the processor's): each chat a
    :class:`Say` goes to keeps the choices of the last one (the customer may type one), and
    none when it shows none. Statements, not rows: the chat's row is not read for them
    (:func:`bot.delivery.pipeline.act` runs them in the action's transaction). Each names its
    row by the primary key, the chat's number in its dialog id (``dialog_id`` has no index),
    and by the dialog id as well, which alone names a row only a dialog with no number has."""
    says = [e for e in events if e.channel == repo.CHANNEL and isinstance(e, Say)]
    last = {say.conversation_id: say for say in says}
    return [_chat(dialog).values(choices=BitrixCalls.choices(say)) for dialog, say in last.items()]


def _chat(dialog: str) -> Update:
    """An UPDATE of the chat row of ``dialog``."""
    chats = update(BitrixChat).where(BitrixChat.dialog_id == dialog)
    number = chat_number(dialog)
    return chats if number is None else chats.where(BitrixChat.chat_id == number)
