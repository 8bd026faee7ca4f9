"""The platforms a fan has paid on (from the account's earnings), for segments such as
``platform:fansly``.

Revision ID: 0008_fan_platforms
Revises: 0007_transaction_platform
Create Date: 2026-12-07 11:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0008_fan_platforms"
down_revision: str | Sequence[str] | None = "0007_transaction_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    with op.batch_alter_table("fans") as batch:
        batch.add_column(
            sa.Column("platforms", json, nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.drop_column("platforms")
