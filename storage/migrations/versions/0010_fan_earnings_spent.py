"""What a fan's earnings added up to when an import last raised their total spent, so a refund
imported later can bring that total down again (a fan export's own total is never lowered).

Revision ID: 0010_fan_earnings_spent
Revises: 0009_offer_platform
Create Date: 2026-12-07 12:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_fan_earnings_spent"
down_revision: str | Sequence[str] | None = "0009_offer_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    money = sa.Numeric(12, 2).with_variant(sa.Float(), "sqlite")
    with op.batch_alter_table("fans") as batch:
        batch.add_column(sa.Column("earnings_spent", money, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.drop_column("earnings_spent")
