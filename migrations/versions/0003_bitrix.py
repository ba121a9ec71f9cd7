"""Bitrix24 Open Lines: per-chat session state, the channel's named values, OAuth tokens.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "bitrix_chats",
        sa.Column("chat_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("dialog_id", sa.String(length=64), nullable=False),
        sa.Column("bot_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.String(length=32), nullable=False),
        sa.Column("handed_session", sa.String(length=32), nullable=True),
        sa.Column("ticket_id", sa.Integer(), nullable=True),
        _when("helped_at", nullable=True),
        _when("updated_at"),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_bitrix_chats_ticket_id_tickets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_bitrix_chats")),
    )
    op.create_table(
        "bitrix_state",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_bitrix_state")),
    )
    op.create_table(
        "bitrix_tokens",
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("client_endpoint", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.Integer(), nullable=True),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("scope", sa.Text(), nullable=False),
        sa.Column("application_token", sa.String(length=255), nullable=False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_bitrix_tokens")),
    )


def downgrade() -> None:
    op.drop_table("bitrix_tokens")
    op.drop_table("bitrix_state")
    op.drop_table("bitrix_chats")
