"""Team activity: what each member of an account's team did there (a command's name and
outcome, when), for ``/team activity``; kept 90 days.

Revision ID: 0014_team_actions
Revises: 0013_reminders
Create Date: 2026-12-07 18:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_team_actions"
down_revision: str | Sequence[str] | None = "0013_reminders"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "team_actions",
        sa.Column("id", id_type, autoincrement=True, nullable=False),
        sa.Column("account_id", id_type, nullable=False),
        sa.Column("member_id", id_type, nullable=False),
        sa.Column("command", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_team_actions_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["accounts.id"],
            name="fk_team_actions_member_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_team_actions"),
    )
    op.create_index("ix_team_actions_account_id_at", "team_actions", ["account_id", "at"])
    op.create_index("ix_team_actions_at", "team_actions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_team_actions_at", table_name="team_actions")
    op.drop_index("ix_team_actions_account_id_at", table_name="team_actions")
    op.drop_table("team_actions")
