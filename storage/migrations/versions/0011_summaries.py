"""Scheduled summaries in the database: ``/summary daily|weekly`` was one JSON value in the
key-value store (lost with an in-memory store, or a Redis without persistence, and rewritten
whole by every change). One row per subscribed account.

Revision ID: 0011_summaries
Revises: 0010_fan_earnings_spent
Create Date: 2026-12-07 14:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_summaries"
down_revision: str | Sequence[str] | None = "0010_fan_earnings_spent"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "summaries",
        sa.Column("account_id", id_type, nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_summaries_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", name="pk_summaries"),
    )


def downgrade() -> None:
    op.drop_table("summaries")
