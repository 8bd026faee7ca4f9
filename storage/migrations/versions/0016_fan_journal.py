"""A fan's own notes from chat (``/fans note``), apart from the notes an import brings: an
import writes ``notes`` whole, so a re-imported fan export would have erased them.

Revision ID: 0016_fan_journal
Revises: 0015_goals
Create Date: 2026-12-07 19:50:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_fan_journal"
down_revision: str | Sequence[str] | None = "0015_goals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.add_column(sa.Column("journal", sa.Text(), server_default="", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.drop_column("journal")
