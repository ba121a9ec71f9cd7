"""Bitrix24 outbox rows for a reply in an open-line chat: the processor's and the operators' own.

``write`` is for actions taken outside the line (``helpbot operator``): their replies to the
person become the same ``imbot.v2.Chat.Message.send`` calls the processor queues, which a running
``helpbot serve`` makes. Notices meant for operators are not sent: the line's operators read the
chat itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from bot.engine import Event, Say
from bot.payloads import Press
from bot.storage import bitrix as repo
from bot.storage.models import OutboxMessage
from handlers.bitrix24.render import choices, render

log = logging.getLogger(__name__)

SEND = "imbot.v2.Chat.Message.send"
# The line owns a handed-off chat: it rates the session itself and ignores our buttons there.
_OUTSIDE_DROP = frozenset({Press.RATE.value, Press.CANCEL.value})


async def queue_message(
    session: AsyncSession,
    *,
    dialog_id: str,
    bot_id: int,
    fields: dict[str, object],
    now: datetime,
    ticket_id: int | None = None,
) -> OutboxMessage:
    """One message from the bot into the chat, queued in the caller's transaction.

    The message carries its own ``templateId``, kept in the row so every attempt sends the same
    one: the portal's IM module stores it as the message's uuid and answers a repeat with the
    message it already has instead of posting another (``SendingService::checkDuplicateByUuid``).
    A send whose answer was lost to a crash or a time-out is therefore safe to make again.
    It is random, not derived from the row id: ids start again in a new database, and a reused
    uuid would silently swallow a new message.
    """
    fields = {**fields, "templateId": str(uuid.uuid4())}
    keyboard = fields.get("keyboard")
    if isinstance(keyboard, dict):
        # BOT_ID routes a press to this bot; the docs warn that without it "the button command
        # may not be routed" (Chat.Message.update leaves it unset: live-checks §9).
        fields["keyboard"] = {"BOT_ID": bot_id, **keyboard}
    params: dict[str, object] = {"botId": bot_id, "dialogId": dialog_id, "fields": fields}
    return await repo.add_call(
        session,
        dialog_id=dialog_id,
        kind="reply",
        method=SEND,
        params=params,
        now=now,
        ticket_id=ticket_id,
    )


async def write(session: AsyncSession, out: Sequence[Event], now: datetime) -> list[OutboxMessage]:
    """Queue the Bitrix24 person-facing replies among ``out``; returns the rows added."""
    rows: list[OutboxMessage] = []
    for item in out:
        if item.channel != repo.CHANNEL or not isinstance(item, Say):
            continue
        chat = await repo.chat_by_dialog(session, item.conversation_id)
        if chat is None:
            log.warning(
                "bitrix reply not queued, chat unknown dialog=%s ticket=%s",
                item.conversation_id,
                item.ticket_id,
            )
            continue
        fields = render(item.reply, drop=_OUTSIDE_DROP)
        chat.choices = choices(item.reply, _OUTSIDE_DROP) or None
        rows.append(
            await queue_message(
                session,
                dialog_id=chat.dialog_id,
                bot_id=chat.bot_id,
                fields=fields,
                now=now,
                ticket_id=item.ticket_id,
            )
        )
    return rows
