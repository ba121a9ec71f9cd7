"""``conversations.updated_at`` goes: no code read it, and every text paid an UPDATE to write it.

The column is dropped in place (``ALTER TABLE … DROP COLUMN``, SQLite ≥ 3.35 and PostgreSQL),
never by batch mode's copy of the table: with ``foreign_keys=ON`` SQLite deletes the old table's
rows when it drops it, and ``ON DELETE CASCADE`` would take every ticket and message with them.
A downgrade brings the column back filled with each conversation's ``created_at``.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("ALTER TABLE conversations DROP COLUMN updated_at"))


def downgrade() -> None:
    # ADD COLUMN in place too (NOT NULL needs a default there); the default goes once filled.
    sqlite = op.get_bind().dialect.name == "sqlite"
    when = "DATETIME" if sqlite else "TIMESTAMP WITH TIME ZONE"
    op.execute(
        sa.text(
            f"ALTER TABLE conversations ADD COLUMN updated_at {when} NOT NULL "
            "DEFAULT '1970-01-01 00:00:00'"
        )
    )
    op.execute(sa.text("UPDATE conversations SET updated_at = created_at"))
    if not sqlite:
        op.execute(sa.text("ALTER TABLE conversations ALTER COLUMN updated_at DROP DEFAULT"))
