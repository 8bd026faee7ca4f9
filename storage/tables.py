"""The database schema as SQLAlchemy 2 declarative models.

The models describe the schema; Alembic migrations (``storage/migrations``) are the only thing
that changes it. Keep both in step: ``tests/contract/test_migrations.py`` compares them.

Portable types only:
- ``UTCDateTime``: timezone-aware in, timezone-aware (UTC) out, on SQLite as on PostgreSQL.
- ``Money``: ``Numeric`` on PostgreSQL; on SQLite (which has no decimal type) a float column that
  is read back as a ``Decimal`` rounded to the column's scale.
- ``JSONType``: ``JSON`` on SQLite, ``JSONB`` on PostgreSQL.
- ``IdType``: ``BIGINT`` on PostgreSQL, ``INTEGER`` on SQLite (so it stays the rowid alias and
  auto-increments).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

IdType = BigInteger().with_variant(Integer(), "sqlite")
JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (UTC).

    Naive datetimes are refused on the way in: a naive value is a bug (time comes from the clock
    port, which is timezone-aware).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # SQLite stores text; keep it naive UTC so it sorts and compares correctly.
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Money(TypeDecorator[Decimal]):
    """An exact decimal on PostgreSQL; a float on SQLite, read back rounded to ``scale``."""

    impl = Numeric
    cache_ok = True

    def __init__(self, precision: int = 12, scale: int = 2) -> None:
        super().__init__(precision=precision, scale=scale, asdecimal=True)
        self.precision = precision
        self.scale = scale
        self._quantum = Decimal(1).scaleb(-scale)

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Float(asdecimal=False))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        quantised = Decimal(str(value)).quantize(self._quantum)
        if dialect.name == "sqlite":
            return float(quantised)
        return quantised

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(self._quantum)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class AccountRow(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    plan: Mapped[str] = mapped_column(String(32), server_default=text("'free'"))
    credits: Mapped[int] = mapped_column(Integer, server_default=text("0"))


class IdentityRow(Base):
    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "external_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    username: Mapped[str] = mapped_column(String(255), server_default=text("''"))
    display_name: Mapped[str] = mapped_column(String(255), server_default=text("''"))
    language: Mapped[str] = mapped_column(String(16), server_default=text("'en'"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ProfileRow(Base):
    __tablename__ = "profiles"

    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[dict[str, Any]] = mapped_column(JSONType)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ReminderRow(Base):
    """A chat notice due at a time (``/week``'s Remind me); deleted when sent."""

    __tablename__ = "reminders"
    __table_args__ = (UniqueConstraint("account_id", "due_at", "text"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    text: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CodeRow(Base):
    """A one-time code or button token (``core.services.codes``), under the SHA-256 of the code:
    what it stands for, until it expires or is used."""

    __tablename__ = "codes"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    purpose: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    value: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class MemberRow(Base):
    """A team member of an account (``/team``): another account — the member's own, so each of
    their chats — that may work on this one as a ``manager`` or a ``chatter``, ``current`` while
    it does (``/accounts``)."""

    __tablename__ = "members"
    __table_args__ = (UniqueConstraint("account_id", "member_id"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), server_default=text("'chatter'"))
    current: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class TeamActionRow(Base):
    """What a team member did on an account: a command's name and outcome, when (``/team
    activity``); kept ``core.jobs.TEAM_ACTION_DAYS`` days."""

    __tablename__ = "team_actions"
    __table_args__ = (Index("ix_team_actions_account_id_at", "account_id", "at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    command: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class SummaryRow(Base):
    """An account's scheduled summary (``/summary daily|weekly``); no row: none."""

    __tablename__ = "summaries"

    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    period: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class GoalRow(Base):
    """An account's monthly earnings goal (``/goal``); no row: none. Integer cents, as
    transactions."""

    __tablename__ = "goals"

    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ImportRow(Base):
    """One import that changed something (``/imports``): what it added and removed; its rows
    carry its id (``import_id``) until ``/imports undo`` takes them back."""

    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(16), server_default=text("''"))
    platform: Mapped[str] = mapped_column(String(32), server_default=text("''"))
    added: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    fans_added: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    removed: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    undone_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class IdeaRow(Base):
    __tablename__ = "ideas"
    __table_args__ = (
        Index("ix_ideas_account_id_created_at", "account_id", "created_at"),
        Index("ix_ideas_account_id_title_norm", "account_id", "title_norm"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    # Indexed by the (account_id, ...) composite indexes above.
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(500))
    title_norm: Mapped[str] = mapped_column(String(500))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType)
    saved: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CaptionRow(Base):
    __tablename__ = "captions"
    __table_args__ = (Index("ix_captions_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(500))
    platform: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    hashtags: Mapped[list[str]] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class FanRow(Base):
    __tablename__ = "fans"
    __table_args__ = (UniqueConstraint("account_id", "handle"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    handle: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), server_default=text("''"))
    tier: Mapped[str] = mapped_column(String(16), server_default=text("'regular'"))
    total_spent: Mapped[Decimal] = mapped_column(Money(12, 2), server_default=text("0"))
    last_active: Mapped[date | None] = mapped_column(Date, nullable=True)
    #: When the fan joined: a fan export's join date, lowered to the day of their first
    #: payment when the earnings know an earlier one (None: unknown).
    first_seen: Mapped[date | None] = mapped_column(Date, nullable=True)
    tags: Mapped[list[str]] = mapped_column(JSONType)
    notes: Mapped[str] = mapped_column(Text, server_default=text("''"))
    # the creator's and her team's dated notes (/fans note); imports never write them
    journal: Mapped[str] = mapped_column(Text, server_default=text("''"))
    import_id: Mapped[int | None] = mapped_column(IdType, nullable=True)  # the one that added it
    subscribed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    # the platforms the fan paid on, from the account's earnings (slugs, sorted)
    platforms: Mapped[list[str]] = mapped_column(JSONType, server_default=text("'[]'"))
    # what the fan's earnings added up to when an import last set total_spent from them (None:
    # never); total_spent still equal to it came from the earnings, and may go down with them
    earnings_spent: Mapped[Decimal | None] = mapped_column(Money(12, 2), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class UsageRow(Base):
    __tablename__ = "ai_usage"
    __table_args__ = (Index("ix_ai_usage_account_id_created_at", "account_id", "created_at"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    feature: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(128))
    prompt_tokens: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    completion_tokens: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    # LLM calls cost fractions of a cent: keep six decimal places.
    cost: Mapped[Decimal] = mapped_column(Money(14, 6), server_default=text("0"))
    latency_ms: Mapped[float] = mapped_column(Float, server_default=text("0"))
    cached: Mapped[bool] = mapped_column(Boolean, server_default=false())
    outcome: Mapped[str] = mapped_column(String(16), server_default=text("'ok'"))
    prompt_version: Mapped[str] = mapped_column(String(64), server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class AssetRow(Base):
    __tablename__ = "assets"
    __table_args__ = (
        UniqueConstraint("account_id", "sha256"),
        Index("ix_assets_account_id_created_at", "account_id", "created_at"),
        Index("ix_assets_blob_key", "blob_key"),  # migration 0004: the orphaned-blob sweep
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    mime: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), server_default=text("''"))
    tags: Mapped[list[str]] = mapped_column(JSONType)
    blob_key: Mapped[str] = mapped_column(String(255))
    source: Mapped[str] = mapped_column(String(32), server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------- billing (migration 0002_billing)


class BillingAccountRow(Base):
    """An account's Stripe customer, current subscription and its state.

    ``state_at`` is the ``created`` of the Stripe event that last wrote the state: an older event
    delivered late never overwrites a newer one.
    """

    __tablename__ = "billing_accounts"
    __table_args__ = (UniqueConstraint("customer_id"),)

    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    customer_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    subscription_id: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    plan: Mapped[str] = mapped_column(String(32), server_default=text("'free'"))
    status: Mapped[str] = mapped_column(String(32), server_default=text("''"))
    current_period_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, server_default=false())
    state_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class CheckoutOrderRow(Base):
    """One Checkout Session: a plan or a credit pack, and what it granted and took back."""

    __tablename__ = "checkout_orders"

    session_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    product: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # plan | credits
    credits: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'open'"))
    payment_intent: Mapped[str | None] = mapped_column(String(255), nullable=True, index=True)
    amount_total: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    currency: Mapped[str] = mapped_column(String(8), server_default=text("''"))
    credits_granted: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    credits_revoked: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class StripeEventRow(Base):
    """A Stripe event id already handled (written in the same transaction as its effects)."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(128))
    created: Mapped[datetime] = mapped_column(UTCDateTime())
    account_id: Mapped[int | None] = mapped_column(IdType, nullable=True)
    outcome: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


class ApiKeyRow(Base):
    """An API key for the HTTP API: only its SHA-256 is stored."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("key_hash"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    prefix: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64), server_default=text("''"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class QuotaUsageRow(Base):
    """Usage counted against a plan quota in one period ("2025-01-31" daily, "2025-01" monthly)."""

    __tablename__ = "quota_usage"

    account_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    feature: Mapped[str] = mapped_column(String(32), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    used: Mapped[int] = mapped_column(Integer, server_default=text("0"))


# ------------------------------------------------------- analytics (migration 0003_analytics)


class TransactionRow(Base):
    """One earning from an imported export. Amounts are integer cents (exact sums on SQLite
    too); ``day`` / ``hour`` are the date and hour of ``occurred_at`` on the account's clock
    when it was imported (its time zone then; portable grouping)."""

    __tablename__ = "transactions"
    __table_args__ = (
        UniqueConstraint("account_id", "row_key"),
        Index("ix_transactions_account_id_occurred_at", "account_id", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    row_key: Mapped[str] = mapped_column(String(64))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    day: Mapped[date] = mapped_column(Date)
    hour: Mapped[int] = mapped_column(Integer)
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # a total of several payments (a daily breakdown's category), not one payment
    aggregate: Mapped[bool] = mapped_column(Boolean, server_default=false())
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str] = mapped_column(String(16))
    fan_handle: Mapped[str] = mapped_column(String(255), server_default=text("''"))
    external_id: Mapped[str] = mapped_column(String(128), server_default=text("''"))
    # where it was earned ("onlyfans", "fansly": core.vocab's platform slugs), '' unknown
    platform: Mapped[str] = mapped_column(String(32), server_default=text("''"))
    import_id: Mapped[int | None] = mapped_column(IdType, nullable=True)  # /imports undo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class OfferRow(Base):
    """Offers at one price (a PPV mass message, a subscription or bundle price) and sales."""

    __tablename__ = "offers"
    __table_args__ = (
        UniqueConstraint("account_id", "row_key"),
        Index("ix_offers_account_id_kind_offered_at", "account_id", "kind", "offered_at"),
    )

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    row_key: Mapped[str] = mapped_column(String(64))
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16))
    price_cents: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    sent: Mapped[int] = mapped_column(Integer)
    bought: Mapped[int] = mapped_column(Integer)
    source: Mapped[str] = mapped_column(String(16), server_default=text("'import'"))
    # where the offer was made (core.vocab's platform slugs), '' unknown
    platform: Mapped[str] = mapped_column(String(32), server_default=text("''"))
    import_id: Mapped[int | None] = mapped_column(IdType, nullable=True)  # /imports undo
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class PriceTestRow(Base):
    """An account's price experiment of one kind (ppv, subscription, bundle)."""

    __tablename__ = "price_tests"
    __table_args__ = (UniqueConstraint("account_id", "kind"),)

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(IdType, ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    config: Mapped[dict[str, Any]] = mapped_column(JSONType)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    active: Mapped[bool] = mapped_column(Boolean)
    proposed_cents: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


metadata = Base.metadata

__all__ = [
    "NAMING_CONVENTION",
    "AccountRow",
    "ApiKeyRow",
    "AssetRow",
    "Base",
    "BillingAccountRow",
    "CaptionRow",
    "CheckoutOrderRow",
    "FanRow",
    "GoalRow",
    "IdType",
    "IdeaRow",
    "IdentityRow",
    "ImportRow",
    "JSONType",
    "Money",
    "OfferRow",
    "PriceTestRow",
    "ProfileRow",
    "QuotaUsageRow",
    "StripeEventRow",
    "TransactionRow",
    "UTCDateTime",
    "UsageRow",
    "metadata",
]
