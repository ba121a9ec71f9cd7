"""Repository functions of the Bitrix24 channel: its inbox rows' keys, chats, state, tokens.

The channel shares the ``inbox``/``outbox`` tables (``channel = 'bitrix24'``) with the other
channels; its outbox rows are rendered drafts like every channel's (``bot.channel.outbox_rows``).
Every function takes the caller's ``AsyncSession`` and never commits.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Conversation, Ticket
from handlers.bitrix24.models import BitrixChat, BitrixState, BitrixTokens

CHANNEL = "bitrix24"


def chat_key(payload: Mapping[str, Any]) -> str | None:
    """The inbox's order key of a stored event: a chat's events are processed in order."""
    chat = payload.get("chat_id")
    return f"chat:{chat}" if chat else None


async def get_state(session: AsyncSession, key: str) -> str | None:
    row = await session.get(BitrixState, key)
    return None if row is None else row.value


async def set_state(session: AsyncSession, key: str, value: str, now: datetime) -> None:
    row = await session.get(BitrixState, key)
    if row is None:
        session.add(BitrixState(key=key, value=value, updated_at=now))
    else:
        row.value, row.updated_at = value, now
    await session.flush()


async def chats_to_finish(session: AsyncSession, helped_before: datetime) -> Sequence[BitrixChat]:
    """Chats whose last word was «Помогло» before ``helped_before`` and that the bot still holds."""
    rows = await session.scalars(
        select(BitrixChat).where(
            BitrixChat.helped_at.is_not(None),
            BitrixChat.helped_at <= helped_before,
            BitrixChat.handed_session.is_(None),
        )
    )
    return list(rows)


def handed(session_id: str) -> dict[str, Any]:
    """The columns of a chat's row once its session ``session_id`` is the line's (handed to its
    queue, or taken by its people): the bot is silent in it, has no «Помогло» to finish it by,
    and no numbered choices are read in it."""
    return {"handed_session": session_id, "helped_at": None, "choices": None}


async def locked_chat(session: AsyncSession, chat_id: int) -> BitrixChat | None:
    """The chat's row read afresh and locked until the caller's transaction ends (taken after
    the conversation's lock, the order of a turn)."""
    return await session.get(BitrixChat, chat_id, with_for_update=True, populate_existing=True)


async def mark_handed(session: AsyncSession, chat: BitrixChat) -> None:
    """Mark ``chat``'s current session handed to the line's queue (:func:`handed`), in the
    caller's transaction; ``chat`` read with :func:`locked_chat`, so that session is still the
    chat's."""
    await session.execute(
        update(BitrixChat).where(BitrixChat.chat_id == chat.chat_id).values(handed(chat.session_id))
    )


def handed_ref(chat_id: int, session_id: str) -> str:
    """The ref of a ticket handed to the line's queue in session ``session_id`` of a chat."""
    return f"bitrix24:chat{chat_id}:session{session_id or '?'}"


async def handed_ticket(session: AsyncSession, chat: BitrixChat) -> int | None:
    """The ticket that went to the line's queue with ``chat``'s handed session, if one did (a
    line operator may take a session no ticket was opened for)."""
    if chat.handed_session is None:
        return None
    ref = handed_ref(chat.chat_id, chat.handed_session)
    # Among the chat's conversation's tickets (tickets.conversation_id is indexed, the ref not).
    return await session.scalar(
        select(Ticket.id)
        .join(Conversation, Conversation.id == Ticket.conversation_id)
        .where(
            Conversation.channel == CHANNEL,
            Conversation.external_id == chat.dialog_id,
            Ticket.external_ref == ref,
        )
        .order_by(Ticket.id.desc())
        .limit(1)
    )


async def load_tokens(session: AsyncSession) -> BitrixTokens | None:
    """The most recently saved OAuth tokens (one portal per installation)."""
    return await session.scalar(
        select(BitrixTokens).order_by(BitrixTokens.updated_at.desc()).limit(1)
    )


async def save_tokens(session: AsyncSession, tokens: BitrixTokens) -> None:
    """Insert or replace the tokens of ``tokens.member_id``."""
    await session.merge(tokens)
    await session.flush()
