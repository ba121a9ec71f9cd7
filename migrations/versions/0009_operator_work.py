"""Operators' work on tickets: an audit of their actions, and the entries they answered with.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ticket_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("operator", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_actions_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_actions")),
    )
    op.create_index(op.f("ix_ticket_actions_ticket_id_id"), "ticket_actions", ["ticket_id", "id"])
    op.create_index(op.f("ix_ticket_actions_created_at"), "ticket_actions", ["created_at"])
    op.create_table(
        "ticket_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.String(length=255), nullable=False),
        sa.Column("operator", sa.String(length=128), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_ticket_entries_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_entries")),
    )
    op.create_index(op.f("ix_ticket_entries_ticket_id"), "ticket_entries", ["ticket_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_ticket_entries_ticket_id"), table_name="ticket_entries")
    op.drop_table("ticket_entries")
    op.drop_index(op.f("ix_ticket_actions_created_at"), table_name="ticket_actions")
    op.drop_index(op.f("ix_ticket_actions_ticket_id_id"), table_name="ticket_actions")
    op.drop_table("ticket_actions")
