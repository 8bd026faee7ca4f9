"""An index on assets.blob_key, for the orphaned-blob sweep (which blobs does a row refer to).

Revision ID: 0004_asset_blob_key_index
Revises: 0003_analytics
Create Date: 2026-12-07 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0004_asset_blob_key_index"
down_revision: str | Sequence[str] | None = "0003_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_assets_blob_key", "assets", ["blob_key"])


def downgrade() -> None:
    op.drop_index("ix_assets_blob_key", table_name="assets")
