"""Billing: Stripe customers and subscriptions, checkout orders, processed Stripe events,
API keys and per-period quota counters.

Revision ID: 0002_billing
Revises: 0001
Create Date: 2025-01-02 00:00:00

Written by hand; types mirror storage/tables.py (see 0001 for the portable type helpers).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_billing"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


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
    # One row per account that ever talked to Stripe: the customer, the current subscription and
    # its state. ``state_at`` is the ``created`` of the Stripe event that last wrote the state, so
    # an older event delivered late never overwrites a newer one.
    op.create_table(
        "billing_accounts",
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("customer_id", sa.String(255), nullable=True),
        sa.Column("subscription_id", sa.String(255), nullable=True),
        sa.Column("plan", sa.String(32), server_default=sa.text("'free'"), nullable=False),
        sa.Column("status", sa.String(32), server_default=sa.text("''"), nullable=False),
        sa.Column("current_period_end", _ts(), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("state_at", _ts(), nullable=True),
        sa.Column("updated_at", _ts(), nullable=False),
        _account_fk("billing_accounts"),
        sa.PrimaryKeyConstraint("account_id", name="pk_billing_accounts"),
        sa.UniqueConstraint("customer_id", name="uq_billing_accounts_customer_id"),
    )
    op.create_index("ix_billing_accounts_subscription_id", "billing_accounts", ["subscription_id"])

    # One row per Checkout Session created by /buy (or first seen in a webhook).
    op.create_table(
        "checkout_orders",
        sa.Column("session_id", sa.String(255), nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("credits", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'open'"), nullable=False),
        sa.Column("payment_intent", sa.String(255), nullable=True),
        sa.Column("amount_total", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(8), server_default=sa.text("''"), nullable=False),
        sa.Column("credits_granted", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("credits_revoked", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        _account_fk("checkout_orders"),
        sa.PrimaryKeyConstraint("session_id", name="pk_checkout_orders"),
    )
    op.create_index("ix_checkout_orders_account_id", "checkout_orders", ["account_id"])
    op.create_index("ix_checkout_orders_payment_intent", "checkout_orders", ["payment_intent"])

    # Every Stripe event id handled, written in the same transaction as the event's effects.
    op.create_table(
        "stripe_events",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(128), nullable=False),
        sa.Column("created", _ts(), nullable=False),
        sa.Column("account_id", _id(), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("received_at", _ts(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_stripe_events"),
    )
    op.create_index("ix_stripe_events_received_at", "stripe_events", ["received_at"])

    op.create_table(
        "api_keys",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), server_default=sa.text("''"), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("revoked_at", _ts(), nullable=True),
        sa.Column("last_used_at", _ts(), nullable=True),
        _account_fk("api_keys"),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])

    # Usage counted against plan quotas, per feature and period ("2025-01-31" daily,
    # "2025-01" monthly).
    op.create_table(
        "quota_usage",
        sa.Column("account_id", _id(), nullable=False),
        sa.Column("feature", sa.String(32), nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("used", sa.Integer(), server_default=sa.text("0"), nullable=False),
        _account_fk("quota_usage"),
        sa.PrimaryKeyConstraint("account_id", "feature", "period", name="pk_quota_usage"),
    )


def downgrade() -> None:
    op.drop_table("quota_usage")
    op.drop_index("ix_api_keys_account_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_index("ix_stripe_events_received_at", table_name="stripe_events")
    op.drop_table("stripe_events")
    op.drop_index("ix_checkout_orders_payment_intent", table_name="checkout_orders")
    op.drop_index("ix_checkout_orders_account_id", table_name="checkout_orders")
    op.drop_table("checkout_orders")
    op.drop_index("ix_billing_accounts_subscription_id", table_name="billing_accounts")
    op.drop_table("billing_accounts")
