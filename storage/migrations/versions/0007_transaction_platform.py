"""The platform a transaction was earned on (OnlyFans, Fansly, ...; '' when the import did not say).

Revision ID: 0007_transaction_platform
Revises: 0006_transaction_totals
Create Date: 2026-12-07 10:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_transaction_platform"
down_revision: str | Sequence[str] | None = "0006_transaction_totals"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.add_column(
            sa.Column("platform", sa.String(32), nullable=False, server_default=sa.text("''"))
        )


def downgrade() -> None:
    with op.batch_alter_table("transactions") as batch:
        batch.drop_column("platform")
