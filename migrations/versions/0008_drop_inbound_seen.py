"""The inbox's key is the one dedupe: ``inbound_seen`` goes, its records kept in ``inbox``.

Every event the engine saw was stored in ``inbox`` first under the same key (a Telegram
update, a Bitrix24 event) and settled in the engine's transaction, so a second table checked
the same thing again. Its rows are kept as settled inbox rows (where the inbox does not hold
that key already), so nothing it remembered is forgotten.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    empty = "'{}'" if op.get_bind().dialect.name == "sqlite" else "CAST('{}' AS JSON)"
    op.execute(
        sa.text(
            "INSERT INTO inbox (channel, external_id, payload, status, attempts, created_at, "
            "processed_at) "
            f"SELECT s.channel, s.external_id, {empty}, 'done', 0, s.created_at, s.created_at "
            "FROM inbound_seen s WHERE NOT EXISTS (SELECT 1 FROM inbox i "
            "WHERE i.channel = s.channel AND i.external_id = s.external_id)"
        )
    )
    op.drop_table("inbound_seen")


def downgrade() -> None:
    op.create_table(
        "inbound_seen",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_seen")),
        sa.UniqueConstraint(
            "channel", "external_id", name=op.f("uq_inbound_seen_channel_external_id")
        ),
    )
