"""Teams: an agency's managers and chatters work on a creator's account from their own chats
(``/team invite``, ``/team join``, ``/accounts``). One row per member of an account, with its
role (a manager sees the earnings, a chatter does not); ``current`` while the member works on
it rather than on their own.

Revision ID: 0012_members
Revises: 0011_summaries
Create Date: 2026-12-07 17:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_members"
down_revision: str | Sequence[str] | None = "0011_summaries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "members",
        sa.Column("id", id_type, autoincrement=True, nullable=False),
        sa.Column("account_id", id_type, nullable=False),
        sa.Column("member_id", id_type, nullable=False),
        sa.Column("role", sa.String(16), server_default=sa.text("'chatter'"), nullable=False),
        sa.Column("current", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_members_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["accounts.id"],
            name="fk_members_member_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_members"),
        sa.UniqueConstraint("account_id", "member_id", name="uq_members_account_id_member_id"),
    )
    op.create_index("ix_members_member_id", "members", ["member_id"])


def downgrade() -> None:
    op.drop_index("ix_members_member_id", table_name="members")
    op.drop_table("members")
