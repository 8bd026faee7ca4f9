"""Analytics: imported earnings (transactions), offers (PPV / subscription / bundle prices and
sales) and price experiments.

Revision ID: 0003_analytics
Revises: 0002_billing
Create Date: 2025-01-03 00:00:00

Written by hand; types mirror storage/tables.py. Money is integer cents here (exact sums on
SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_analytics"
down_revision: str | Sequence[str] | None = "0002_billing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"],
        ["accounts.id"],
        name=f"fk_{table}_account_id_accounts",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "transactions",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("row_key", sa.String(64), nullable=False),
        sa.Column("occurred_at", _ts(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("category", sa.String(16), nullable=False),
        sa.Column("fan_handle", sa.String(255), server_default=sa.text("''"), nullable=False),
        sa.Column("external_id", sa.String(128), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _account_fk("transactions"),
        sa.PrimaryKeyConstraint("id", name="pk_transactions"),
        sa.UniqueConstraint("account_id", "row_key", name="uq_transactions_account_id_row_key"),
    )
    op.create_index(
        "ix_transactions_account_id_occurred_at", "transactions", ["account_id", "occurred_at"]
    )

    op.create_table(
        "offers",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("row_key", sa.String(64), nullable=False),
        sa.Column("offered_at", _ts(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("price_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.Column("bought", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(16), server_default=sa.text("'import'"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _account_fk("offers"),
        sa.PrimaryKeyConstraint("id", name="pk_offers"),
        sa.UniqueConstraint("account_id", "row_key", name="uq_offers_account_id_row_key"),
    )
    op.create_index(
        "ix_offers_account_id_kind_offered_at", "offers", ["account_id", "kind", "offered_at"]
    )

    op.create_table(
        "price_tests",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("config", _json(), nullable=False),
        sa.Column("started_at", _ts(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("proposed_cents", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        _account_fk("price_tests"),
        sa.PrimaryKeyConstraint("id", name="pk_price_tests"),
        sa.UniqueConstraint("account_id", "kind", name="uq_price_tests_account_id_kind"),
    )


def downgrade() -> None:
    op.drop_table("price_tests")
    op.drop_index("ix_offers_account_id_kind_offered_at", table_name="offers")
    op.drop_table("offers")
    op.drop_index("ix_transactions_account_id_occurred_at", table_name="transactions")
    op.drop_table("transactions")
