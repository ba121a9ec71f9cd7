"""A Bitrix24 session's handed ticket is found by the ticket's ref: ``bitrix_chats.ticket_id`` goes.

The hand-off writes both in one transaction: the chat's handed session, and on the ticket the
ref ``bitrix24:chat<id>:session<session>``. The column repeated that second fact; the session's
end now finds its ticket by the ref. A ticket a chat still points to that has no ref is given
one first; a downgrade brings the column back, filled in from the refs.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (``\\:`` keeps text() from reading ``:session`` as a bound parameter)
_REF = "'bitrix24:chat' || b.chat_id || '\\:session' || COALESCE(NULLIF(b.handed_session, ''), '?')"
_HANDED = "b.handed_session IS NOT NULL"


def upgrade() -> None:
    op.execute(
        sa.text(
            f"UPDATE tickets SET external_ref = (SELECT {_REF} FROM bitrix_chats b "
            f"WHERE b.ticket_id = tickets.id AND {_HANDED} ORDER BY b.chat_id LIMIT 1) "
            "WHERE external_ref IS NULL AND EXISTS (SELECT 1 FROM bitrix_chats b "
            f"WHERE b.ticket_id = tickets.id AND {_HANDED})"
        )
    )
    with op.batch_alter_table("bitrix_chats") as batch:
        batch.drop_constraint("fk_bitrix_chats_ticket_id_tickets", type_="foreignkey")
        batch.drop_column("ticket_id")


def downgrade() -> None:
    with op.batch_alter_table("bitrix_chats") as batch:
        batch.add_column(sa.Column("ticket_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            "fk_bitrix_chats_ticket_id_tickets",
            "tickets",
            ["ticket_id"],
            ["id"],
            ondelete="SET NULL",
        )
    op.execute(
        sa.text(
            "UPDATE bitrix_chats SET ticket_id = (SELECT max(t.id) FROM tickets t "
            f"WHERE t.external_ref = {_REF.replace('b.', 'bitrix_chats.')}) "
            f"WHERE {_HANDED.replace('b.', 'bitrix_chats.')}"
        )
    )
