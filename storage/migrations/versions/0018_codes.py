"""One-time codes and button tokens in the database (``/link``, ``/team invite``,
``/deleteaccount``, ``/week``'s reminders), where they were in the key-value store: they now
outlive a restart of the embedded default (whose key-value store is in memory), are shared by
every instance without Redis, and are taken once in one statement.

Revision ID: 0018_codes
Revises: 0017_imports
Create Date: 2026-12-08 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_codes"
down_revision: str | Sequence[str] | None = "0017_imports"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "codes",
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("account_id", id_type, nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_codes_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("code_hash", name="pk_codes"),
    )
    op.create_index("ix_codes_account_id", "codes", ["account_id"])
    op.create_index("ix_codes_expires_at", "codes", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_codes_expires_at", table_name="codes")
    op.drop_index("ix_codes_account_id", table_name="codes")
    op.drop_table("codes")
