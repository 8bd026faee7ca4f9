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
    tags: Mapped[list[str]] = mapped_column(JSONType)
    notes: Mapped[str] = mapped_column(Text, server_default=text("''"))
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


metadata = Base.metadata

__all__ = [
    "NAMING_CONVENTION",
    "AccountRow",
    "AssetRow",
    "Base",
    "CaptionRow",
    "FanRow",
    "IdType",
    "IdeaRow",
    "IdentityRow",
    "JSONType",
    "Money",
    "ProfileRow",
    "UTCDateTime",
    "UsageRow",
    "metadata",
]
