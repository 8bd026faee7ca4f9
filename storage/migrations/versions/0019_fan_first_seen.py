"""When a fan joined (``fans.first_seen``): a fan export's join date, lowered to the day of
their first payment when the earnings show an earlier one; ``joined:7d`` segments the fans who
joined lately (a welcome or thank-you message).

Revision ID: 0019_fan_first_seen
Revises: 0018_codes
Create Date: 2026-12-08 00:30:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019_fan_first_seen"
down_revision: str | Sequence[str] | None = "0018_codes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.add_column(sa.Column("first_seen", sa.Date(), nullable=True))
    # Fans the earnings already name: the day (on the account's clock) of their first payment.
    # One grouped pass over the transactions, then an update per fan by its unique key: a
    # correlated subquery per fan would scan the account's transactions once per fan
    # (transactions have no index on the fan), hours for an account of 200,000 and 20,000.
    bind = op.get_bind()
    firsts = bind.execute(
        sa.text(
            "SELECT account_id, fan_handle, min(day) FROM transactions "
            "WHERE fan_handle <> '' GROUP BY account_id, fan_handle"
        )
    ).fetchall()
    if firsts:
        bind.execute(
            sa.text("UPDATE fans SET first_seen = :day WHERE account_id = :a AND handle = :h"),
            [{"a": account, "h": handle, "day": day} for account, handle, day in firsts],
        )


def downgrade() -> None:
    with op.batch_alter_table("fans") as batch:
        batch.drop_column("first_seen")
