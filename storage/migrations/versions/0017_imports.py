"""Import history and undo (``/imports``): one row per import that changed something, and on
each transaction, offer and fan the import that added it (NULL: added before this migration,
from chat, or by hand), so an import sent to the wrong account, or with the wrong platform,
can be taken back.

Revision ID: 0017_imports
Revises: 0016_fan_journal
Create Date: 2026-12-07 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_imports"
down_revision: str | Sequence[str] | None = "0016_fan_journal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("transactions", "offers", "fans")


def upgrade() -> None:
    id_type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "imports",
        sa.Column("id", id_type, autoincrement=True, nullable=False),
        sa.Column("account_id", id_type, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("kind", sa.String(16), server_default="", nullable=False),
        sa.Column("platform", sa.String(32), server_default="", nullable=False),
        sa.Column("added", sa.Integer(), server_default="0", nullable=False),
        sa.Column("fans_added", sa.Integer(), server_default="0", nullable=False),
        sa.Column("removed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undone_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name="fk_imports_account_id_accounts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_imports"),
    )
    op.create_index("ix_imports_account_id", "imports", ["account_id"])
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("import_id", id_type, nullable=True))


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("import_id")
    op.drop_index("ix_imports_account_id", table_name="imports")
    op.drop_table("imports")
