"""A conversation's state is derived from its tickets: ``conversations.state`` goes.

Its open ticket's status says waiting or with an operator; without one the conversation is
with the bot (``bot.engine.state``). The column repeated what the tickets hold, and the two
could disagree. A downgrade brings it back, filled in from the tickets the same way.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("state")


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="bot")
        )
    op.execute(
        sa.text(
            "UPDATE conversations SET state = CASE "
            "WHEN EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = conversations.id "
            "AND t.status = 'taken') THEN 'operator' "
            "WHEN EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = conversations.id "
            "AND t.status = 'waiting') THEN 'waiting' ELSE 'bot' END"
        )
    )
