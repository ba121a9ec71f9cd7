"""``conversations.ticket_open``: whether the conversation may have a waiting or taken ticket.

A person's text on PostgreSQL read the open ticket in a SELECT of its own after the turn's
lock (READ COMMITTED re-reads only the locked row after a wait, so a joined ticket could be
stale); with the flag on the locked row itself, a conversation with no ticket open, nearly every
text, needs no such SELECT. The ticket's opening sets it in the same transaction; the turn that
finds no open ticket clears it. Filled here from the tickets. Added and dropped in place
(``ALTER TABLE``), not by batch mode's copy of the table (see 0012: ``ON DELETE CASCADE``).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "conversations",
        sa.Column("ticket_open", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(
        sa.text(
            "UPDATE conversations SET ticket_open = true WHERE EXISTS (SELECT 1 FROM tickets t "
            "WHERE t.conversation_id = conversations.id AND t.status IN ('waiting', 'taken'))"
        )
    )


def downgrade() -> None:
    op.execute(sa.text("ALTER TABLE conversations DROP COLUMN ticket_open"))
