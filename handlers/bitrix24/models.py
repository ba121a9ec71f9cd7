"""The Bitrix24 channel's own tables: its open-line chats, small named values and OAuth tokens.

They are models on the core's :class:`~bot.storage.models.Base`, so ``Base.metadata`` holds them
once this module is imported (the migrations' environment does); the channel's events and calls
use the core's ``inbox`` and ``outbox`` tables.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from bot.storage.models import Base, UtcDateTime

__all__ = ["BitrixChat", "BitrixState", "BitrixTokens"]


class BitrixChat(Base):
    """An open-line chat: its current session, whether the bot handed it to the line's queue
    (the ticket that went with it names that session: ``storage.handed_ref``)."""

    __tablename__ = "bitrix_chats"

    chat_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    dialog_id: Mapped[str] = mapped_column(String(64))
    bot_id: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[str] = mapped_column(String(32), default="")
    handed_session: Mapped[str | None] = mapped_column(String(32))  # silent while it lasts
    helped_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The payloads of the numbered choices last shown (customers on connectors type the number).
    choices: Mapped[list[str] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BitrixState(Base):
    """Small named values of the channel: the fetch offset, the registered bot id."""

    __tablename__ = "bitrix_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BitrixTokens(Base):
    """An OAuth application's tokens for one portal (``member_id``), saved on every refresh."""

    __tablename__ = "bitrix_tokens"

    member_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str] = mapped_column(Text)
    refresh_token: Mapped[str] = mapped_column(Text)
    client_endpoint: Mapped[str] = mapped_column(String(255))
    expires_at: Mapped[int | None] = mapped_column(Integer)
    domain: Mapped[str] = mapped_column(String(255), default="")
    scope: Mapped[str] = mapped_column(Text, default="")
    application_token: Mapped[str] = mapped_column(String(255), default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
