"""What core needs from the outside world, as Protocols.

``storage/`` implements the repositories, the key-value store and the blob store; ``bot/``
picks the implementations. Every repository method takes the account id first: there is no
way to reach another account's rows by id alone.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from core.chat import Reply

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
    """Small values with an optional time to live: dialogs, caches, rate-limit counters."""

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool: ...


@dataclass(frozen=True)
class BlobInfo:
    """One stored blob, as a listing shows it."""

    key: str
    size: int
    modified: datetime  # when it was written, UTC


@dataclass(frozen=True)
class Written:
    """What ``BlobStore.put_stream`` stored: its size and SHA-256 (hex), taken from the bytes
    as they went into the store."""

    size: int
    sha256: str


class BlobStore(Protocol):
    """Bytes under keys (the vault)."""

    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> Written:
        """Store a stream of unknown length; on any failure or cancellation nothing is left
        under ``key``. The store hashes what it writes (S3 gets the digest to check)."""
        ...

    async def get(self, key: str) -> bytes: ...

    async def stream(self, key: str, chunk_size: int = ...) -> AsyncGenerator[bytes, None]:
        """The blob in chunks, without holding it whole: ``NotFound`` is raised here, before
        the first chunk; ``aclose()`` the generator when stopping early."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def delete(self, key: str) -> None: ...

    def scan(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """Every blob whose key starts with ``prefix``, a page at a time, in no set order
        (maintenance: finding blobs no row refers to)."""
        ...

    async def clear_partial(self, prefix: str, before: datetime) -> int:
        """Remove the leftovers of writes under ``prefix`` started before ``before`` and never
        finished (a process killed mid-upload): temporary files, incomplete multipart
        uploads. How many were removed."""
        ...

    async def ping(self) -> bool: ...


class Importer(Protocol):
    """CSV exports into the account (earnings, fans, offers); answers a short report."""

    async def import_csv(
        self, account_id: int, name: str, data: bytes, *, platform: str | None = None
    ) -> str:
        """``platform``: where the earnings were made, when the creator said so with the file
        (a caption such as "fansly")."""
        ...


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

    async def resolve_with_profile(self, identity: Identity) -> tuple[Account, Profile | None]:
        """``resolve`` and the account's profile in one round trip: most messages need both.
        The profile is None when there is none or it cannot be read (``profiles.get`` says
        which)."""
        ...

    async def get(self, account_id: int) -> Account: ...

    async def identities(self, account_id: int) -> list[Identity]: ...

    async def move_identity(self, account_id: int, identity: Identity, to_account_id: int) -> None:
        """Re-point one of ``account_id``'s identities at another account (``/link``)."""
        ...

    async def delete(self, account_id: int) -> bool:
        """Delete the account and every row of it (its chats, profile, ideas, fans, earnings,
        vault entries, team, keys...: each table's rows go with it); False when there was none.
        The vault's blobs are the blob store's: ``VaultService.erase``."""
        ...


@dataclass(frozen=True)
class TeamAccount:
    """One account of a team, seen from the other side: a member of an account (``members``)
    or an account one is a member of (``memberships``)."""

    account_id: int
    since: datetime
    current: bool  # the member works on the account now (rather than on their own)
    identities: list[Identity]  # the account's chats, the first one the oldest
    role: str = "chatter"  # the member's: "manager" or "chatter"


@dataclass(frozen=True)
class TeamAction:
    """Something a team member did on an account: a command's name and outcome, and when."""

    member_id: int
    command: str
    outcome: str
    at: datetime


class TeamRepository(Protocol):
    """Who may work on an account besides its owner (an agency's managers and chatters)."""

    async def join(self, account_id: int, member_id: int, role: str) -> bool:
        """``member_id`` (a member's own account) becomes a member of ``account_id`` in ``role``
        ("manager" or "chatter") and works on it now; False when it was one already (the role
        is the new one)."""
        ...

    async def use(self, member_id: int, account_id: int | None) -> bool:
        """Work on ``account_id``, or on one's own with None; False when not a member of it."""
        ...

    async def set_role(self, account_id: int, member_id: int, role: str) -> bool:
        """Give a member of ``account_id`` another role; False when it is not one."""
        ...

    async def remove(self, account_id: int, member_id: int) -> bool: ...

    async def record(self, account_id: int, member_id: int, command: str, outcome: str) -> None:
        """Note what a member did on the account (``/team activity``)."""
        ...

    async def actions(self, account_id: int, limit: int = 30) -> list[TeamAction]:
        """The account's team activity, newest first."""
        ...

    async def prune(self, before: datetime) -> int:
        """Forget every account's team activity older than ``before``; how many rows."""
        ...

    async def members(self, account_id: int) -> list[TeamAccount]: ...

    async def memberships(self, member_id: int) -> list[TeamAccount]: ...


class ProfileRepository(Protocol):
    async def get(self, account_id: int) -> Profile | None: ...

    async def save(self, account_id: int, profile: Profile) -> None: ...


class SummaryRepository(Protocol):
    """Who gets a scheduled summary (``/summary``), and which: "daily" or "weekly"."""

    async def get(self, account_id: int) -> str | None: ...

    async def set(self, account_id: int, period: str | None) -> None:
        """Subscribe to ``period``; ``None`` unsubscribes."""
        ...

    async def all(self) -> dict[int, str]: ...


@dataclass(frozen=True)
class Reminder:
    """A chat notice due at a time: a planned post (``/week``'s Remind me)."""

    id: int
    account_id: int
    due_at: datetime
    text: str  # markup


class ReminderRepository(Protocol):
    async def add_many(self, account_id: int, items: Sequence[tuple[datetime, str]]) -> int:
        """Add ``(due_at, text)`` reminders (one already there, same time and text: skipped);
        returns how many were new."""
        ...

    async def upcoming(self, account_id: int, limit: int = 50) -> list[Reminder]:
        """The account's reminders, soonest first."""
        ...

    async def due(self, before: datetime, limit: int = 10_000) -> list[Reminder]:
        """Every account's reminders due before ``before``, soonest first (the hourly schedule)."""
        ...

    async def take(self, account_id: int, reminder_id: int) -> Reminder | None:
        """Remove and return one (None: sent or cleared already): one notice, whoever asks."""
        ...

    async def clear(self, account_id: int) -> int: ...


@dataclass(frozen=True)
class OneTimeCode:
    """What a one-time code stands for (``core.services.codes``)."""

    account_id: int  # whose code it is (deleting the account deletes it)
    value: str
    expires_at: datetime


class CodeRepository(Protocol):
    """One-time codes and button tokens (``/link``, ``/team invite``, ``/deleteaccount``,
    ``/week``'s reminders), kept by the SHA-256 of the code (never the code itself), so they
    outlive a restart and are shared by every instance."""

    async def add(
        self, purpose: str, code_hash: str, account_id: int, value: str, ttl: float
    ) -> None:
        """Keep a code for ``ttl`` seconds (and forget every code that has expired)."""
        ...

    async def get(self, purpose: str, code_hash: str) -> OneTimeCode | None:
        """What a code stands for (None: unknown or expired); it stays."""
        ...

    async def take(self, purpose: str, code_hash: str) -> OneTimeCode | None:
        """What a code stands for, once: of two callers at the same time, one gets it."""
        ...

    async def pending(self, account_id: int, purpose: str) -> list[OneTimeCode]:
        """The account's codes of one purpose that have not expired, soonest to expire first."""
        ...

    async def discard(self, account_id: int, purpose: str) -> int:
        """Forget the account's codes of one purpose; returns how many there were."""
        ...


class IdeaRepository(Protocol):
    async def add_many(self, account_id: int, ideas: Sequence[Idea]) -> list[Idea]: ...

    async def recent_titles(self, account_id: int, limit: int = 50) -> list[str]: ...

    async def get(self, account_id: int, idea_id: int) -> Idea | None: ...

    async def set_saved(self, account_id: int, idea_id: int, saved: bool) -> bool: ...

    async def saved(self, account_id: int, limit: int = 20) -> list[Idea]: ...


class CaptionRepository(Protocol):
    async def add(self, account_id: int, topic: str, draft: CaptionDraft) -> int: ...


class FanRepository(Protocol):
    """Reads of the fan list; writes go through ``FanListRepository.upsert_many`` (a patch:
    only the fields given), for imports and chat alike."""

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
        self,
        account_id: int,
        tag: str | None = None,
        limit: int = 50,
        before: tuple[datetime, int] | None = None,
    ) -> list[Asset]:
        """Newest first (``created_at``, then ``id``); with ``before``, only the assets after
        that position in this order (a page's last ``(created_at, id)``: keyset paging)."""
        ...

    async def total_size(self, account_id: int) -> int: ...

    async def delete(self, account_id: int, asset_id: int) -> bool: ...

    async def referenced_blob_keys(self, keys: Sequence[str]) -> set[str]:
        """Those of ``keys`` that some asset row refers to, in any account. For the orphan
        sweep only (an operator's maintenance task): it reveals keys, never rows."""
        ...


class Store(Protocol):
    """All repositories of one database."""

    accounts: AccountRepository
    profiles: ProfileRepository  # and the account's time zone
    summaries: SummaryRepository
    team: TeamRepository
    reminders: ReminderRepository
    codes: CodeRepository  # one-time codes and button tokens
    ideas: IdeaRepository
    captions: CaptionRepository
    fans: FanRepository
    usage: UsageRepository
    assets: AssetRepository
    # analytics, fan lists, pricing
    earnings: EarningsRepository
    goals: GoalRepository  # /goal
    imports: ImportRepository  # /imports
    offers: OfferRepository
    price_tests: PriceTestRepository
    fan_lists: FanListRepository
    # billing
    billing: BillingRepository
    api_keys: ApiKeyRepository
    quota_usage: QuotaRepository

    def export(self, account_id: int) -> AsyncIterator[tuple[str, list[str], list[Any]]]:
        """Every row of the account, table by table: ``(table, columns, rows)`` (``/export``)."""
        ...

    async def ping(self) -> bool: ...


# ---------------------------------------------------------------- analytics, fan lists, pricing
# (issue 7: CSV imports, /stats, segments, /price). Records are plain dataclasses; money is
# Decimal; datetimes are timezone-aware (UTC unless said otherwise).


@dataclass(frozen=True)
class Transaction:
    """One earning (or a refund, negative) from an export. ``row_key`` makes re-imports no-ops:
    it is unique per account. ``occurred_at`` is given on the account's clock (its own
    ``tzinfo``): the day and hour /stats counts it in are read from it as given."""

    row_key: str
    occurred_at: datetime
    amount: Decimal
    currency: str  # ISO 4217, upper case
    category: str  # subscription | tip | ppv | message | referral | other
    fan_handle: str = ""  # normalised ("" when the export has no fan)
    external_id: str = ""
    aggregate: bool = False  # a total of several payments (a daily breakdown), not one payment
    platform: str = ""  # where it was earned: a platform slug ("onlyfans"), "" unknown


@dataclass(frozen=True)
class OfferRecord:
    """``sent`` offers (PPV, subscription or bundle) at ``price`` of which ``bought`` sold."""

    row_key: str
    offered_at: datetime
    kind: str  # ppv | subscription | bundle
    price: Decimal
    currency: str
    sent: int
    bought: int
    source: str = "import"  # import | chat
    platform: str = ""  # where the offer was made: a platform slug, "" unknown


@dataclass(frozen=True)
class RevenueBucket:
    """Earnings summed per (day, hour, category, currency, platform); day and hour on the
    account's clock when the transactions were imported (see ``Transaction``)."""

    day: date
    hour: int
    category: str
    currency: str
    amount: Decimal
    count: int  # rows: transactions, or totals when ``aggregate``
    aggregate: bool = False  # totals of several payments (``Transaction.aggregate``)
    platform: str = ""  # ``Transaction.platform``


@dataclass(frozen=True)
class FanSpend:
    """What one fan spent in a period, in one currency; ``first_seen`` is the fan's first
    transaction ever (any currency, any period), ``last_seen`` their last payment in the period
    in this currency (a refund or chargeback is not the fan's doing; the last transaction when
    the period has no payment)."""

    handle: str
    currency: str
    amount: Decimal
    count: int
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True)
class FanPatch:
    """A fan row from an import: only the fields the file has (``values`` keys among name, tier,
    total_spent, last_active, first_seen, tags, notes, journal, subscribed, platforms,
    earnings_spent)."""

    handle: str
    values: dict[str, object]


@dataclass(frozen=True)
class FanPayment:
    """One of a fan's transactions, as ``/fans @handle`` shows it (``day`` on the account's
    clock when it was imported; a refund is negative)."""

    day: date
    amount: Decimal
    currency: str
    category: str
    platform: str


@dataclass(frozen=True)
class FanHistory:
    """What a fan paid, from the account's earnings: the latest transactions (newest first),
    totals per (currency, category) as ``(currency, category, amount, count)`` (biggest first),
    and the days of the first and last transaction."""

    recent: list[FanPayment]
    totals: list[tuple[str, str, Decimal, int]]
    first_day: date | None
    last_day: date | None


@dataclass(frozen=True)
class FanSpending:
    """A fan's money as the fan list holds it: ``total_spent``; ``earnings_spent``, what the
    account's earnings added up to when an import last set the total from them (None: never);
    the last-active day, the platforms paid on and the day the fan joined."""

    total_spent: Decimal
    earnings_spent: Decimal | None
    last_active: date | None
    platforms: tuple[str, ...]
    first_seen: date | None = None


@dataclass(frozen=True)
class FanQuery:
    """A fan segment as data (parsed by ``core.services.segments``). All conditions must hold.

    ``tags_all``: each entry is a set of alternatives, one of which the fan must have.
    ``spent``: (operator, amount) pairs, operator among ``>=``, ``>``, ``<=``, ``<``, ``=``.
    ``active_from`` / ``active_until``: inclusive bounds on ``last_active`` (a fan whose
    last-active date is unknown never matches a bound).
    ``subscribed``: True for subscribed fans, False for expired ones (a fan whose subscription
    status is unknown matches neither).
    ``platforms_all`` / ``platforms_none``: as the tags, over the platforms the fan paid on
    (``Fan.platforms``).
    ``joined_from`` / ``joined_until``: inclusive bounds on ``first_seen`` (unknown: never).
    """

    tiers: frozenset[str] | None = None
    exclude_tiers: frozenset[str] = frozenset()
    tags_all: tuple[frozenset[str], ...] = ()
    tags_none: frozenset[str] = frozenset()
    spent: tuple[tuple[str, Decimal], ...] = ()
    active_from: date | None = None
    active_until: date | None = None
    subscribed: bool | None = None
    platforms_all: tuple[frozenset[str], ...] = ()
    platforms_none: frozenset[str] = frozenset()
    joined_from: date | None = None
    joined_until: date | None = None


@dataclass(frozen=True)
class PriceTestState:
    """A price experiment of one kind: its configuration (ladder, baseline, model...), when it
    started, whether it runs, and the price the bot last proposed."""

    kind: str
    config: dict[str, object]
    started_at: datetime
    active: bool = True
    proposed: Decimal | None = None


class EarningsRepository(Protocol):
    async def add_many(
        self, account_id: int, rows: Sequence[Transaction], import_id: int | None = None
    ) -> tuple[int, int, int]:
        """Insert the rows whose ``row_key`` is new (carrying ``import_id``), and give the
        stored ones the times of ``rows`` where they differ (a re-import read on another clock:
        the account's time zone changed) and their platform where the stored one has none (a
        blank platform keeps the stored one). A row naming another platform than its stored
        match is a transaction of its own, inserted (and matched when it comes again) under a
        key qualified by its platform. Returns ``(inserted, moved, relabelled)`` (relabelled:
        only the platform changed)."""
        ...

    async def remove(self, account_id: int, rows: Sequence[tuple[str, str]]) -> int:
        """Delete the account's transactions with these ``(row_key, platform)`` (refunded since
        they were imported: the one of that platform, or of none; any, for a blank platform);
        returns how many there were."""
        ...

    async def buckets(
        self, account_id: int, start: datetime | None, end: datetime, platform: str | None = None
    ) -> list[RevenueBucket]:
        """Sums per (day, hour, category, currency, aggregate, platform) for
        ``start <= occurred_at < end`` (of one platform when ``platform`` is given)."""
        ...

    async def fan_spend(
        self,
        account_id: int,
        start: datetime | None,
        end: datetime | None,
        platform: str | None = None,
        handles: Sequence[str] | None = None,
    ) -> list[FanSpend]:
        """Per fan and currency in the period (transactions without a fan are left out);
        ``None`` leaves that end of the period open. With ``platform``, that platform's
        transactions only (``first_seen`` too); with ``handles``, those fans' only."""
        ...

    async def span(
        self, account_id: int, platform: str | None = None
    ) -> tuple[datetime, datetime] | None:
        """First and last ``occurred_at`` (None without transactions; of one platform when
        ``platform`` is given)."""
        ...

    async def currency(self, account_id: int) -> str | None:
        """The currency with the most revenue (as /stats picks its main currency; None without
        earnings): what the fan list's amounts (total spent) are in."""
        ...

    async def platforms(self, account_id: int) -> list[str]:
        """The platforms the account's transactions name (not "" for unsaid ones), sorted."""
        ...

    async def fan_history(self, account_id: int, handle: str, recent: int = 5) -> FanHistory:
        """What one fan paid (their ``recent`` latest transactions, totals per category)."""
        ...

    async def fan_platforms(self, account_id: int) -> dict[str, list[str]]:
        """The platforms each fan paid on (sorted), from transactions that name both."""
        ...


class OfferRepository(Protocol):
    async def add_many(
        self, account_id: int, rows: Sequence[OfferRecord], import_id: int | None = None
    ) -> tuple[int, int]:
        """Insert the rows whose ``row_key`` is new, and give the stored ones the platform
        ``rows`` name where they have none; a row naming another platform than its stored
        match is an offer of its own (as ``EarningsRepository.add_many``); returns
        ``(inserted, relabelled)``. New rows carry ``import_id`` (``ImportRepository``)."""
        ...

    async def list(
        self,
        account_id: int,
        kind: str,
        since: datetime | None = None,
        platform: str | None = None,
    ) -> list[OfferRecord]:
        """Offers of ``kind`` (at or after ``since``), oldest first."""
        ...


class PriceTestRepository(Protocol):
    async def get(self, account_id: int, kind: str) -> PriceTestState | None: ...

    async def save(self, account_id: int, state: PriceTestState) -> None:
        """Insert or replace the account's test of ``state.kind``."""
        ...

    async def list(self, account_id: int) -> list[PriceTestState]: ...


class FanListRepository(Protocol):
    """Bulk fan writes (imports) and segment queries over the fan list."""

    async def upsert_many(
        self, account_id: int, patches: Sequence[FanPatch], import_id: int | None = None
    ) -> tuple[int, int]:
        """Insert new fans (carrying ``import_id``), update changed ones (only the fields in
        each patch); returns ``(added, updated)``. A patch equal to the stored fan changes
        nothing."""
        ...

    async def spending(self, account_id: int, handles: Sequence[str]) -> dict[str, FanSpending]:
        """What the fan list holds on the money of the account's fans among ``handles``, by
        handle (a handle not in the list is left out)."""
        ...

    async def query(self, account_id: int, query: FanQuery, limit: int = 1000) -> list[Fan]:
        """Fans matching ``query``, biggest spenders first."""
        ...

    async def count(self, account_id: int, query: FanQuery) -> int: ...


@dataclass(frozen=True)
class ImportRecord:
    """One import that changed something (``/imports``)."""

    id: int
    name: str
    kind: str  # earnings, offers, fans ("" when it stopped before knowing)
    platform: str
    added: int  # transactions, offers or fans
    fans_added: int  # an earnings import's paying fans new to the fan list
    removed: int  # transactions it found refunded, charged back or failed
    started_at: datetime
    undone_at: datetime | None = None
    finished_at: datetime | None = None  # None: still running, or stopped before the end

    def running(self, now: datetime) -> bool:
        """Unfinished and started within ``IMPORT_RUNNING_LIMIT``: rows may still come in."""
        return self.finished_at is None and now - self.started_at < IMPORT_RUNNING_LIMIT


#: How long an unfinished import counts as running (background imports time out after 30
#: minutes); one older stopped before the end, and what it wrote can be taken back.
IMPORT_RUNNING_LIMIT = timedelta(hours=1)


@dataclass(frozen=True)
class UndoneImport:
    """What ``ImportRepository.undo`` took back."""

    transactions: int
    offers: int
    fans: int


class ImportRepository(Protocol):
    async def begin(self, account_id: int, name: str, platform: str) -> int: ...

    async def finish(
        self, import_id: int, kind: str, added: int, fans_added: int, removed: int
    ) -> None:
        """Record what it did; an import that changed nothing is forgotten."""
        ...

    async def recent(self, account_id: int, limit: int = 10) -> list[ImportRecord]:
        """The account's imports, newest first."""
        ...

    async def undo(self, account_id: int, import_id: int) -> UndoneImport | None:
        """Delete the transactions and offers the import added, and the fans it added that
        nothing changed since and that no remaining transaction names (nor a note from chat);
        mark it undone. None: not the account's import, undone already, or still running
        (``ImportRecord.running``: its rows are still coming in)."""
        ...


@dataclass(frozen=True)
class RevenueGoal:
    """A monthly earnings goal (``/goal``): an amount in one currency."""

    amount: Decimal
    currency: str


class GoalRepository(Protocol):
    async def get(self, account_id: int) -> RevenueGoal | None: ...

    async def set(self, account_id: int, goal: RevenueGoal | None) -> None:
        """Set the account's goal; ``None`` removes it."""
        ...


class AnalyticsStore(Protocol):
    """The repositories behind imports, /stats, segments and /price (``SqlStore`` has them)."""

    earnings: EarningsRepository
    goals: GoalRepository
    imports: ImportRepository
    offers: OfferRepository
    price_tests: PriceTestRepository
    fan_lists: FanListRepository
    profiles: ProfileRepository  # the account's time zone


class Narrator(Protocol):
    """Phrases the narrative around computed figures (an LLM). It may only use the numbers it
    is given; ``None`` means "no narrative" and the rule-based one is used."""

    async def narrate(self, facts: dict[str, object], plain: str, *, account_id: int) -> str | None:
        """A narrative of ``facts``; ``plain`` is their rule-based narrative, whose numbers
        may be used too. None: keep ``plain``."""
        ...


class Advisor(Protocol):
    """Answers a question a creator typed that no command answers (an LLM); None: no answer
    now (the assistant says what it can do instead)."""

    async def advise(self, question: str, profile: Profile, *, account_id: int) -> str | None: ...


# ---------------------------------------------------------------- billing, quotas, API keys
# (issue 5: Stripe plans and credit packs, plan quotas, the HTTP uploads API). Stripe objects
# never reach core: the webhook hands core plain dicts, checkout goes through PaymentGateway.


class Notifier(Protocol):
    """Tells a creator something in chat (plan or credits changed, a payment failed, a
    scheduled summary with its chart).

    The chat adapters implement it (they look up the account's identities and send ``message``:
    markup text, or a ``Reply`` whose images and files go too; its buttons are not sent); the
    default in wiring only logs. Must not raise: a failed notice is logged, never retried."""

    async def notify(self, account_id: int, message: str | Reply) -> None: ...


@dataclass(frozen=True)
class CheckoutRequest:
    """One Stripe Checkout Session to create (``mode``: ``payment`` or ``subscription``)."""

    account_id: int
    product: str
    mode: str
    price_id: str
    idempotency_key: str
    success_url: str
    cancel_url: str
    customer_id: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str


class PaymentGateway(Protocol):
    """Creates Checkout Sessions (Stripe through its SDK, behind the resilience policy).

    Raises ``core.resilience.errors.ResilienceError`` subclasses when the provider fails."""

    async def create_checkout(self, req: CheckoutRequest) -> CheckoutSession: ...

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> dict[str, Any]:
        """End the subscription when its paid period does (``cancel``), or keep it renewing;
        returns the subscription as the provider now has it (Stripe's JSON object)."""
        ...


@dataclass
class BillingState:
    """An account's Stripe customer and current subscription, as last written.

    ``plan`` is the subscription's plan (``free`` without one); ``state_at`` the ``created`` of
    the Stripe event that wrote the subscription state (older events never overwrite it)."""

    account_id: int
    customer_id: str | None = None
    subscription_id: str | None = None
    plan: str = "free"
    status: str = ""
    current_period_end: datetime | None = None
    cancel_at_period_end: bool = False
    state_at: datetime | None = None


@dataclass
class Order:
    """One Checkout Session: a plan (``kind="plan"``) or a credit pack (``kind="credits"``).

    ``status``: open | pending (paid asynchronously, not yet) | paid | failed.
    ``credits_granted`` / ``credits_revoked`` are state, so a repeat never grants twice."""

    session_id: str
    account_id: int
    product: str
    kind: str
    credits: int = 0
    status: str = "open"
    payment_intent: str | None = None
    amount_total: int | None = None
    currency: str = ""
    credits_granted: int = 0
    credits_revoked: int = 0
    created_at: datetime | None = None


@dataclass(frozen=True)
class EventClaim:
    """A Stripe event to record: its id, type, creation time and outcome so far."""

    event_id: str
    event_type: str
    created: datetime
    outcome: str = "processing"


class BillingUnit(Protocol):
    """Reads and writes of ONE database transaction (a batch of Stripe events and all their
    effects).

    ``state``, ``state_for_subscription`` and ``order`` lock the rows they return until the
    transaction ends. Event ids are recorded in the same transaction: ``claim_events`` first,
    ``finish_events`` last with the outcomes."""

    async def claim_events(self, claims: Sequence[EventClaim]) -> set[str]:
        """Record these events; the ids that were new. An id already recorded - or being
        recorded by a concurrent transaction, which this waits for - is left out. Ids are
        claimed in sorted order, so concurrent batches cannot deadlock on them."""
        ...

    async def finish_events(self, outcomes: Sequence[tuple[str, str, int | None]]) -> None:
        """``(event_id, outcome, account_id)`` for events claimed in this unit."""
        ...

    async def account_exists(self, account_id: int) -> bool: ...

    async def account_for_customer(self, customer_id: str) -> int | None: ...

    async def state_for_subscription(self, subscription_id: str) -> BillingState | None:
        """The billing state of the account whose subscription this is (locked)."""
        ...

    async def state(self, account_id: int) -> BillingState | None: ...

    async def save_state(self, state: BillingState) -> None:
        """Insert or replace the account's billing state."""
        ...

    async def set_plan(self, account_id: int, plan: str) -> None:
        """The account's effective plan (what quotas use)."""
        ...

    async def order(self, session_id: str) -> Order | None: ...

    async def order_for_payment_intent(self, payment_intent: str) -> Order | None: ...

    async def save_order(self, order: Order) -> None:
        """Insert or replace the order."""
        ...

    async def add_credits(self, account_id: int, delta: int) -> tuple[int, int]:
        """Change the credit balance by ``delta``, never below zero; returns the change made
        and the new balance."""
        ...


class BillingRepository(Protocol):
    def unit(self) -> AbstractAsyncContextManager[BillingUnit]:
        """One transaction: committed when the block exits normally, rolled back otherwise."""
        ...

    async def record_events(self, claims: Sequence[EventClaim]) -> set[str]:
        """``BillingUnit.claim_events`` for events that have no effects, committed at once."""
        ...

    async def state(self, account_id: int) -> BillingState | None: ...

    async def add_order(self, order: Order) -> None:
        """Record an order created by /buy (a repeat of the same session id is a no-op)."""
        ...

    async def orders(self, account_id: int, limit: int = 20) -> list[Order]:
        """Newest first."""
        ...


@dataclass(frozen=True)
class ApiKey:
    """An API key's public part; the secret itself is shown once and only its hash is kept."""

    id: int
    prefix: str
    name: str
    created_at: datetime
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class ApiKeyRepository(Protocol):
    async def add(self, account_id: int, prefix: str, key_hash: str, name: str = "") -> ApiKey: ...

    async def account_for(self, key_hash: str) -> int | None:
        """The account of a live (not revoked) key, and its last use noted; None otherwise."""
        ...

    async def list(self, account_id: int) -> list[ApiKey]:
        """Live keys, oldest first."""
        ...

    async def revoke(self, account_id: int, key_id: int | None = None) -> int:
        """Revoke one key (or every live key with None); returns how many were revoked."""
        ...


class QuotaRepository(Protocol):
    """Counters of use against plan quotas, per account, feature and period."""

    async def consume(
        self,
        account_id: int,
        feature: str,
        period: str,
        amount: int,
        limit: int | None,
        use_credits: bool = False,
    ) -> tuple[int, int] | None:
        """Atomically take ``amount``: first from the period's allowance (``limit``; None is
        unlimited), the rest from the account's credits when ``use_credits``. Returns
        ``(from_allowance, from_credits)``, or None (nothing taken) when there is not enough."""
        ...

    async def release(
        self, account_id: int, feature: str, period: str, from_allowance: int, from_credits: int
    ) -> None:
        """Give back what ``consume`` took (the work it paid for failed)."""
        ...

    async def used(self, account_id: int, feature: str, period: str) -> int: ...
