"""Initial schema: accounts, identities, profiles, ideas, captions, fans, ai_usage, assets.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00

Written by hand; types mirror storage/tables.py (BIGINT ids are INTEGER on SQLite so they stay
rowid aliases, JSON is JSONB on PostgreSQL, money is NUMERIC on PostgreSQL and FLOAT on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[object]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _money(precision: int, scale: int) -> sa.types.TypeEngine[object]:
    return sa.Numeric(precision, scale).with_variant(sa.Float(), "sqlite")


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
        "accounts",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("plan", sa.String(32), server_default=sa.text("'free'"), nullable=False),
        sa.Column("credits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_accounts"),
    )

    op.create_table(
        "identities",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("username", sa.String(255), server_default=sa.text("''"), nullable=False),
        sa.Column("display_name", sa.String(255), server_default=sa.text("''"), nullable=False),
        sa.Column("language", sa.String(16), server_default=sa.text("'en'"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _account_fk("identities"),
        sa.PrimaryKeyConstraint("id", name="pk_identities"),
        sa.UniqueConstraint("platform", "external_id", name="uq_identities_platform_external_id"),
    )
    op.create_index("ix_identities_account_id", "identities", ["account_id"])

    op.create_table(
        "profiles",
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("data", _json(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        _account_fk("profiles"),
        sa.PrimaryKeyConstraint("account_id", name="pk_profiles"),
    )

    op.create_table(
        "ideas",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("title_norm", sa.String(500), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("saved", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _account_fk("ideas"),
        sa.PrimaryKeyConstraint("id", name="pk_ideas"),
    )
    op.create_index("ix_ideas_account_id_created_at", "ideas", ["account_id", "created_at"])
    op.create_index("ix_ideas_account_id_title_norm", "ideas", ["account_id", "title_norm"])

    op.create_table(
        "captions",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("topic", sa.String(500), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hashtags", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _account_fk("captions"),
        sa.PrimaryKeyConstraint("id", name="pk_captions"),
    )
    op.create_index("ix_captions_account_id_created_at", "captions", ["account_id", "created_at"])

    op.create_table(
        "fans",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), server_default=sa.text("''"), nullable=False),
        sa.Column("tier", sa.String(16), server_default=sa.text("'regular'"), nullable=False),
        sa.Column("total_spent", _money(12, 2), server_default=sa.text("0"), nullable=False),
        sa.Column("last_active", sa.Date(), nullable=True),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("notes", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        _account_fk("fans"),
        sa.PrimaryKeyConstraint("id", name="pk_fans"),
        sa.UniqueConstraint("account_id", "handle", name="uq_fans_account_id_handle"),
    )

    op.create_table(
        "ai_usage",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("feature", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("cost", _money(14, 6), server_default=sa.text("0"), nullable=False),
        sa.Column("latency_ms", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("cached", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("outcome", sa.String(16), server_default=sa.text("'ok'"), nullable=False),
        sa.Column("prompt_version", sa.String(64), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _account_fk("ai_usage"),
        sa.PrimaryKeyConstraint("id", name="pk_ai_usage"),
    )
    op.create_index("ix_ai_usage_created_at", "ai_usage", ["created_at"])
    op.create_index("ix_ai_usage_account_id_created_at", "ai_usage", ["account_id", "created_at"])

    op.create_table(
        "assets",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("mime", sa.String(255), nullable=False),
        sa.Column("name", sa.String(255), server_default=sa.text("''"), nullable=False),
        sa.Column("tags", _json(), nullable=False),
        sa.Column("blob_key", sa.String(255), nullable=False),
        sa.Column("source", sa.String(32), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        _account_fk("assets"),
        sa.PrimaryKeyConstraint("id", name="pk_assets"),
        sa.UniqueConstraint("account_id", "sha256", name="uq_assets_account_id_sha256"),
    )
    op.create_index("ix_assets_account_id_created_at", "assets", ["account_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_assets_account_id_created_at", table_name="assets")
    op.drop_table("assets")
    op.drop_index("ix_ai_usage_account_id_created_at", table_name="ai_usage")
    op.drop_index("ix_ai_usage_created_at", table_name="ai_usage")
    op.drop_table("ai_usage")
    op.drop_table("fans")
    op.drop_index("ix_captions_account_id_created_at", table_name="captions")
    op.drop_table("captions")
    op.drop_index("ix_ideas_account_id_title_norm", table_name="ideas")
    op.drop_index("ix_ideas_account_id_created_at", table_name="ideas")
    op.drop_table("ideas")
    op.drop_table("profiles")
    op.drop_index("ix_identities_account_id", table_name="identities")
    op.drop_table("identities")
    op.drop_table("accounts")
