"""The platform an offer was made on ('' when the import did not say), for /price per platform.

Revision ID: 0009_offer_platform
Revises: 0008_fan_platforms
Create Date: 2026-12-07 11:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_offer_platform"
down_revision: str | Sequence[str] | None = "0008_fan_platforms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.add_column(
            sa.Column("platform", sa.String(32), nullable=False, server_default=sa.text("''"))
        )


def downgrade() -> None:
    with op.batch_alter_table("offers") as batch:
        batch.drop_column("platform")
