"""What core needs from the outside world, as Protocols.

``storage/`` implements the repositories, the key-value store and the blob store; ``bot/``
picks the implementations. Every repository method takes the account id first: there is no
way to reach another account's rows by id alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from core.models import (
    Account,
    Asset,
    CaptionDraft,
    CaptionRequest,
    Fan,
    Generated,
    HashtagRequest,
    Idea,
    IdeaRequest,
    Identity,
    MessageDraft,
    PersonalizeRequest,
    Profile,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """Timezone-aware UTC now."""
        ...

    def monotonic(self) -> float: ...


class ContentGenerator(Protocol):
    """Makes drafts. The offline engine and the LLM gateway both implement it."""

    async def ideas(self, req: IdeaRequest, *, account_id: int) -> Generated[list[Idea]]: ...

    async def caption(self, req: CaptionRequest, *, account_id: int) -> Generated[CaptionDraft]: ...

    async def hashtags(self, req: HashtagRequest, *, account_id: int) -> Generated[list[str]]: ...

    async def personalize(
        self, req: PersonalizeRequest, *, account_id: int
    ) -> Generated[list[MessageDraft]]: ...


class KeyValueStore(Protocol):
    """Small values with an optional time to live: dialogs, caches, one-time codes."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool: ...


class BlobStore(Protocol):
    """Content-addressed bytes (the vault)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> int: ...

    async def get(self, key: str) -> bytes: ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    async def ping(self) -> bool: ...


class Importer(Protocol):
    """CSV exports into the account (earnings, fans, offers); answers a short report."""

    async def import_csv(self, account_id: int, name: str, data: bytes) -> str: ...


class QuotaGuard(Protocol):
    """Plan quotas and credits. ``consume`` raises ``core.errors.QuotaExceeded`` (nothing spent)
    when the account's plan or credit balance does not allow ``amount`` more of ``feature``
    (features: "ideas", "personalize", "vault_bytes", ...)."""

    async def consume(self, account_id: int, feature: str, amount: int = 1) -> None: ...

    async def remaining(self, account_id: int) -> dict[str, int]: ...


# ---------------------------------------------------------------- repositories


class AccountRepository(Protocol):
    async def resolve(self, identity: Identity) -> Account:
        """The account behind an identity, created on first sight."""
        ...

    async def get(self, account_id: int) -> Account: ...

    async def identities(self, account_id: int) -> list[Identity]: ...

    async def move_identity(self, account_id: int, identity: Identity, to_account_id: int) -> None:
        """Re-point one of ``account_id``'s identities at another account (``/link``)."""
        ...


class ProfileRepository(Protocol):
    async def get(self, account_id: int) -> Profile | None: ...

    async def save(self, account_id: int, profile: Profile) -> None: ...


class IdeaRepository(Protocol):
    async def add_many(self, account_id: int, ideas: Sequence[Idea]) -> list[Idea]: ...

    async def recent_titles(self, account_id: int, limit: int = 50) -> list[str]: ...

    async def get(self, account_id: int, idea_id: int) -> Idea | None: ...

    async def set_saved(self, account_id: int, idea_id: int, saved: bool) -> bool: ...

    async def saved(self, account_id: int, limit: int = 20) -> list[Idea]: ...


class CaptionRepository(Protocol):
    async def add(self, account_id: int, topic: str, draft: CaptionDraft) -> int: ...


class FanRepository(Protocol):
    async def upsert(self, account_id: int, fan: Fan) -> Fan: ...

    async def get(self, account_id: int, handle: str) -> Fan | None: ...

    async def list(self, account_id: int, limit: int = 1000) -> list[Fan]: ...

    async def handles(self, account_id: int) -> list[str]: ...


@dataclass(frozen=True)
class UsageRecord:
    feature: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal("0")
    latency_ms: float = 0.0
    cached: bool = False
    outcome: str = "ok"  # ok | fallback | error | rejected
    prompt_version: str = ""


@dataclass
class UsageSummary:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal("0")
    by_feature: dict[str, int] = field(default_factory=dict)


class UsageRepository(Protocol):
    async def record(self, account_id: int, record: UsageRecord) -> None: ...

    async def summary(self, account_id: int, since: datetime) -> UsageSummary: ...


class AssetRepository(Protocol):
    async def add(self, account_id: int, asset: Asset) -> tuple[Asset, bool]:
        """Insert; when the account already has this sha256, return the existing row and False."""
        ...

    async def get(self, account_id: int, asset_id: int) -> Asset | None: ...

    async def by_sha256(self, account_id: int, sha256: str) -> Asset | None: ...

    async def list(
        self, account_id: int, tag: str | None = None, limit: int = 50
    ) -> list[Asset]: ...

    async def total_size(self, account_id: int) -> int: ...

    async def delete(self, account_id: int, asset_id: int) -> bool: ...


class Store(Protocol):
    """All repositories of one database."""

    accounts: AccountRepository
    profiles: ProfileRepository
    ideas: IdeaRepository
    captions: CaptionRepository
    fans: FanRepository
    usage: UsageRepository
    assets: AssetRepository

    async def ping(self) -> bool: ...
