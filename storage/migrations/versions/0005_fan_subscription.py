"""Fans' subscription status (subscribed / expired / unknown), read from platform exports.

Revision ID: 0005_fan_subscription
Revises: 0004_asset_blob_key_index
Create Date: 2026-12-07 06:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_fan_subscription"
down_revision: str | Sequence[str] | None = "0004_asset_blob_key_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.add_column(sa.Column("subscribed", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.drop_column("subscribed")
