"""SQL implementations of the repository ports (``core.ports.Store``).

Every method takes the account id and scopes every statement by it: knowing a row's id is never
enough to read or change it from another account.

Races are settled by the database: unique constraints plus ``INSERT ... ON CONFLICT`` (SQLite and
PostgreSQL both have it), then a re-read, retried a few times. When the database goes away the
methods raise ``core.errors.ServiceUnavailable`` (nothing was changed: each method is one
transaction).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy import (
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from core.errors import NotFound, ServiceUnavailable
from core.models import Account, Asset, CaptionDraft, Fan, Idea, Identity, Profile
from core.ports import (
    Clock,
    OneTimeCode,
    Reminder,
    TeamAccount,
    TeamAction,
    UsageRecord,
    UsageSummary,
)
from storage.db import is_connection_error, make_sessionmaker
from storage.tables import (
    AccountRow,
    AssetRow,
    Base,
    CaptionRow,
    CodeRow,
    FanRow,
    IdeaRow,
    IdentityRow,
    MemberRow,
    ProfileRow,
    ReminderRow,
    SummaryRow,
    TeamActionRow,
    UsageRow,
)

log = structlog.get_logger(__name__)

DB_UNAVAILABLE_MESSAGE = (
    "The database is not reachable right now; nothing was changed. Please try again in a minute."
)
_RACE_ATTEMPTS = 5
# Rows SQLAlchemy sends as one multi-row INSERT (its "insertmanyvalues" pages hold 1,000).
_ONE_STATEMENT_ROWS = 1000
_IN_BATCH = 500  # values per IN (...) list: well under SQLite's and asyncpg's parameter limits


def normalise_title(title: str) -> str:
    """Case-, accent-, punctuation- and spacing-insensitive form of an idea title."""
    decomposed = unicodedata.normalize("NFKD", title)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    words = re.findall(r"\w+", stripped.casefold())
    return " ".join(words)


def normalise_handle(handle: str) -> str:
    return handle.strip().lower()


def _normalise_tags(tags: Sequence[str]) -> list[str]:
    seen: dict[str, None] = {}
    for tag in tags:
        cleaned = tag.strip().lower()
        if cleaned:
            seen.setdefault(cleaned, None)
    return list(seen)


@asynccontextmanager
async def _unavailable_on_disconnect() -> AsyncIterator[None]:
    try:
        yield
    except ServiceUnavailable:
        raise
    except Exception as error:
        if is_connection_error(error):
            log.warning("database_unavailable", error=repr(error))
            raise ServiceUnavailable(DB_UNAVAILABLE_MESSAGE) from error
        raise


class _Database:
    """Sessions with one transaction each, and "database went away" mapped to ServiceUnavailable."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.sessions = sessions
        self.engine: AsyncEngine = sessions.kw["bind"]
        # PostgreSQL: the same pool with each statement its own transaction (no BEGIN/COMMIT
        # round trips). SQLite: a plain transaction - switching aiosqlite's isolation level per
        # checkout costs more thread hops than the BEGIN it saves.
        self.autocommit: AsyncEngine | None = (
            self.engine.execution_options(isolation_level="AUTOCOMMIT")
            if self.engine.dialect.name == "postgresql"
            else None
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        async with _unavailable_on_disconnect(), self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def connection(self, *, autocommit: bool = False) -> AsyncIterator[AsyncConnection]:
        """A Core connection in one transaction - without an ORM session, for work that is
        statements only (the Stripe webhook's path, the reads every message makes) - or, with
        ``autocommit``, where each statement may be its own transaction (no BEGIN/COMMIT round
        trips on PostgreSQL): only for work whose statements stand on their own."""
        async with _unavailable_on_disconnect():
            if autocommit and self.autocommit is not None:
                async with self.autocommit.connect() as conn:
                    yield conn
            else:
                async with self.engine.begin() as conn:
                    yield conn

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def insert(self, table: Any) -> Any:
        """A dialect ``INSERT`` that has ``on_conflict_do_nothing`` / ``_do_update``."""
        if self.dialect == "postgresql":
            return postgresql.insert(table)
        return sqlite.insert(table)


# ---------------------------------------------------------------- accounts


def _account(row: AccountRow) -> Account:
    return Account(id=row.id, created_at=row.created_at, plan=row.plan, credits=row.credits)


def _identity(row: IdentityRow) -> Identity:
    return Identity(
        platform=row.platform,
        external_id=row.external_id,
        username=row.username,
        display_name=row.display_name,
        language=row.language,
    )


# The statements every message runs, built once: building a statement costs more CPU than
# executing its cached compiled form (SQLAlchemy caches the SQL, not the expression objects).
#: The account a message works on: the sender's own, or the one they work on as a team member
#: (``members.current``, so leaving or being removed from the team ends it at once).
_ACCOUNT_BY_IDENTITY = (
    select(
        AccountRow.id,
        AccountRow.created_at,
        AccountRow.plan,
        AccountRow.credits,
        MemberRow.member_id,
        MemberRow.role.label("member_role"),
        IdentityRow.id.label("identity_id"),
        IdentityRow.username,
        IdentityRow.display_name,
        IdentityRow.language,
        ProfileRow.data.label("profile"),
    )
    .select_from(IdentityRow)
    .outerjoin(
        MemberRow, and_(MemberRow.member_id == IdentityRow.account_id, MemberRow.current == true())
    )
    .join(AccountRow, AccountRow.id == func.coalesce(MemberRow.account_id, IdentityRow.account_id))
    .outerjoin(ProfileRow, ProfileRow.account_id == AccountRow.id)
    .where(
        IdentityRow.platform == bindparam("platform"),
        IdentityRow.external_id == bindparam("external_id"),
    )
)
_PROFILE_DATA = select(ProfileRow.data).where(ProfileRow.account_id == bindparam("account_id"))
_RECENT_TITLES = (
    select(IdeaRow.title)
    .where(IdeaRow.account_id == bindparam("account_id"))
    .order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc())
    .limit(bindparam("limit"))
)


def _readable_profile(data: Any) -> Profile | None:
    """The stored profile, or None when there is none or it no longer validates. An unreadable
    profile is then read (and fails) only where a command uses it, through ``profiles.get``: a
    message that does not need it still works."""
    if data is None:
        return None
    try:
        return Profile.model_validate(data)
    except ValidationError:
        log.warning("profile_unreadable")
        return None


class SqlAccountRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def resolve(self, identity: Identity) -> Account:
        """Get or create the account behind ``identity``; safe under concurrent first messages."""
        return (await self.resolve_with_profile(identity))[0]

    async def resolve_with_profile(self, identity: Identity) -> tuple[Account, Profile | None]:
        """``resolve``, and the account's profile from the same statement."""
        for _ in range(_RACE_ATTEMPTS):
            found = await self._find(identity)
            if found is not None:
                return found
            created = await self._create(identity)
            if created is not None:
                return created, None
        raise ServiceUnavailable(DB_UNAVAILABLE_MESSAGE)  # pragma: no cover - pathological

    async def _find(self, identity: Identity) -> tuple[Account, Profile | None] | None:
        # Every message starts here: one statement, without BEGIN/COMMIT or an ORM session.
        async with self._db.connection(autocommit=True) as conn:
            row = (
                await conn.execute(
                    _ACCOUNT_BY_IDENTITY,
                    {"platform": identity.platform, "external_id": identity.external_id},
                )
            ).first()
            if row is None:
                return None
            details = {
                "username": identity.username,
                "display_name": identity.display_name,
                "language": identity.language,
            }
            if any(getattr(row, key) != value for key, value in details.items()):
                # Display details only: the last message's win, no transaction needed.
                await conn.execute(
                    update(IdentityRow).where(IdentityRow.id == row.identity_id).values(**details)
                )
            account = Account(
                id=row.id,
                created_at=row.created_at,
                plan=row.plan,
                credits=row.credits,
                member_id=row.member_id,
                # a role this version does not know (hand-edited, a later version's) is the
                # least one: a member's every message must not fail on it
                member_role=row.member_role if row.member_role == "manager" else "chatter",
            )
            return account, _readable_profile(row.profile)

    async def _create(self, identity: Identity) -> Account | None:
        """Insert account + identity in one transaction; None when someone else won the race."""
        now = self._clock.now()
        async with self._db.transaction() as session:
            account_id = (
                await session.execute(
                    self._db.insert(AccountRow).values(created_at=now).returning(AccountRow.id)
                )
            ).scalar_one()
            inserted = (
                await session.execute(
                    self._db.insert(IdentityRow)
                    .values(
                        platform=identity.platform,
                        external_id=identity.external_id,
                        account_id=account_id,
                        username=identity.username,
                        display_name=identity.display_name,
                        language=identity.language,
                        created_at=now,
                    )
                    .on_conflict_do_nothing(index_elements=["platform", "external_id"])
                    .returning(IdentityRow.id)
                )
            ).scalar_one_or_none()
            if inserted is None:
                # Lost the race: drop our account row, the caller re-reads the winner's.
                await session.execute(delete(AccountRow).where(AccountRow.id == account_id))
                return None
            row = await session.get_one(AccountRow, account_id)
            return _account(row)

    async def get(self, account_id: int) -> Account:
        async with self._db.transaction() as session:
            row = await session.get(AccountRow, account_id)
            if row is None:
                raise NotFound("That account does not exist.")
            return _account(row)

    async def identities(self, account_id: int) -> list[Identity]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(IdentityRow)
                .where(IdentityRow.account_id == account_id)
                .order_by(IdentityRow.id)
            )
            return [_identity(row) for row in rows]

    async def move_identity(self, account_id: int, identity: Identity, to_account_id: int) -> None:
        async with self._db.transaction() as session:
            target = await session.get(AccountRow, to_account_id)
            if target is None:
                raise NotFound("The account to link to does not exist.")
            result = await session.execute(
                update(IdentityRow)
                .where(
                    IdentityRow.account_id == account_id,
                    IdentityRow.platform == identity.platform,
                    IdentityRow.external_id == identity.external_id,
                )
                .values(account_id=to_account_id)
            )
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFound("That identity is not linked to this account.")

    async def delete(self, account_id: int) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(delete(AccountRow).where(AccountRow.id == account_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- teams


def _role_update(account_id: int, member_id: int, role: str) -> Any:
    m = MemberRow
    return update(m).where(m.account_id == account_id, m.member_id == member_id).values(role=role)


class SqlTeamRepository:
    """Team members of accounts (``members``): who may work on an account besides its owner."""

    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def join(self, account_id: int, member_id: int, role: str) -> bool:
        """Make ``member_id`` a member of ``account_id`` in ``role``, working on it now; False
        when it was one already (it takes the new role and works on it now all the same)."""
        async with self._db.transaction() as session:
            added = (
                await session.execute(
                    self._db.insert(MemberRow)
                    .values(
                        account_id=account_id,
                        member_id=member_id,
                        role=role,
                        current=False,
                        created_at=self._clock.now(),
                    )
                    .on_conflict_do_nothing(index_elements=["account_id", "member_id"])
                    .returning(MemberRow.id)
                )
            ).scalar_one_or_none()
            if added is None:
                await session.execute(_role_update(account_id, member_id, role))
            await self._use(session, member_id, account_id)
            return added is not None

    async def use(self, member_id: int, account_id: int | None) -> bool:
        """Work on ``account_id`` (one ``member_id`` is a member of), or on its own with None;
        False when it is not a member of that account (nothing changed)."""
        async with self._db.transaction() as session:
            return await self._use(session, member_id, account_id)

    async def _use(self, session: AsyncSession, member_id: int, account_id: int | None) -> bool:
        m = MemberRow
        if account_id is not None:
            found = await session.scalar(
                select(m.id).where(m.member_id == member_id, m.account_id == account_id)
            )
            if found is None:
                return False
        await session.execute(
            update(m)
            .where(m.member_id == member_id)
            .values(current=m.account_id == account_id if account_id is not None else False)
        )
        return True

    async def set_role(self, account_id: int, member_id: int, role: str) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(_role_update(account_id, member_id, role))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def remove(self, account_id: int, member_id: int) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(MemberRow).where(
                    MemberRow.account_id == account_id, MemberRow.member_id == member_id
                )
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def record(self, account_id: int, member_id: int, command: str, outcome: str) -> None:
        async with self._db.connection(autocommit=True) as conn:
            await conn.execute(
                TeamActionRow.__table__.insert().values(
                    account_id=account_id,
                    member_id=member_id,
                    command=command[:64],
                    outcome=outcome[:32],
                    at=self._clock.now(),
                )
            )

    async def actions(self, account_id: int, limit: int = 30) -> list[TeamAction]:
        a = TeamActionRow
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(a)
                .where(a.account_id == account_id)
                .order_by(a.at.desc(), a.id.desc())
                .limit(limit)
            )
            return [TeamAction(r.member_id, r.command, r.outcome, r.at) for r in rows]

    async def prune(self, before: datetime) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(delete(TeamActionRow).where(TeamActionRow.at < before))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]

    async def members(self, account_id: int) -> list[TeamAccount]:
        m = MemberRow
        return await self._listed(
            select(m.member_id, m.created_at, m.current, m.role)
            .where(m.account_id == account_id)
            .order_by(m.created_at, m.id)
        )

    async def memberships(self, member_id: int) -> list[TeamAccount]:
        m = MemberRow
        return await self._listed(
            select(m.account_id, m.created_at, m.current, m.role)
            .where(m.member_id == member_id)
            .order_by(m.created_at, m.id)
        )

    async def _listed(self, stmt: Select[Any]) -> list[TeamAccount]:
        """The accounts ``stmt`` selects (id, since, current, role), each with its chats."""
        async with self._db.transaction() as session:
            rows = (await session.execute(stmt)).all()
            ids = [row[0] for row in rows]
            names: dict[int, list[Identity]] = {i: [] for i in ids}
            if ids:
                found = await session.scalars(
                    select(IdentityRow)
                    .where(IdentityRow.account_id.in_(ids))
                    .order_by(IdentityRow.id)
                )
                for identity in found:
                    names[identity.account_id].append(_identity(identity))
            return [
                TeamAccount(
                    account_id=i,
                    since=since,
                    current=bool(current),
                    identities=names[i],
                    role=role,
                )
                for i, since, current, role in rows
            ]


# ---------------------------------------------------------------- reminders


def _reminder(row: Any) -> Reminder:
    return Reminder(id=row.id, account_id=row.account_id, due_at=row.due_at, text=row.text)


class SqlReminderRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add_many(self, account_id: int, items: Sequence[tuple[datetime, str]]) -> int:
        if not items:
            return 0
        now = self._clock.now()
        added = 0
        async with self._db.transaction() as session:
            for due_at, text in items:
                result = await session.execute(
                    self._db.insert(ReminderRow)
                    .values(account_id=account_id, due_at=due_at, text=text, created_at=now)
                    .on_conflict_do_nothing(index_elements=["account_id", "due_at", "text"])
                    .returning(ReminderRow.id)
                )
                added += result.scalar_one_or_none() is not None
        return added

    async def upcoming(self, account_id: int, limit: int = 50) -> list[Reminder]:
        r = ReminderRow
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(r).where(r.account_id == account_id).order_by(r.due_at, r.id).limit(limit)
            )
            return [_reminder(row) for row in rows]

    async def due(self, before: datetime, limit: int = 10_000) -> list[Reminder]:
        r = ReminderRow
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(r).where(r.due_at < before).order_by(r.due_at, r.id).limit(limit)
            )
            return [_reminder(row) for row in rows]

    async def take(self, account_id: int, reminder_id: int) -> Reminder | None:
        r = ReminderRow
        async with self._db.transaction() as session:
            row = (
                await session.execute(
                    delete(r)
                    .where(r.account_id == account_id, r.id == reminder_id)
                    .returning(r.id, r.account_id, r.due_at, r.text)
                )
            ).first()
            return None if row is None else _reminder(row)

    async def clear(self, account_id: int) -> int:
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(ReminderRow).where(ReminderRow.account_id == account_id)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- one-time codes


def _code(row: Any) -> OneTimeCode:
    return OneTimeCode(account_id=row.account_id, value=row.value, expires_at=row.expires_at)


class SqlCodeRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(
        self, purpose: str, code_hash: str, account_id: int, value: str, ttl: float
    ) -> None:
        now = self._clock.now()
        c = CodeRow
        # Expired codes go, but not those another add is deleting at the same moment: two
        # deletes taking the same rows in different orders could deadlock (PostgreSQL; SQLite
        # has no FOR UPDATE and takes the whole database for a write anyway).
        expired = select(c.code_hash).where(c.expires_at <= now).with_for_update(skip_locked=True)
        async with self._db.transaction() as session:
            await session.execute(delete(c).where(c.code_hash.in_(expired)))
            session.add(
                CodeRow(
                    code_hash=code_hash,
                    purpose=purpose,
                    account_id=account_id,
                    value=value,
                    expires_at=now + timedelta(seconds=ttl),
                )
            )

    def _live(self, purpose: str, code_hash: str) -> Any:
        c = CodeRow
        return (c.code_hash == code_hash, c.purpose == purpose, c.expires_at > self._clock.now())

    async def get(self, purpose: str, code_hash: str) -> OneTimeCode | None:
        async with self._db.transaction() as session:
            found = await session.scalar(select(CodeRow).where(*self._live(purpose, code_hash)))
            return None if found is None else _code(found)

    async def take(self, purpose: str, code_hash: str) -> OneTimeCode | None:
        c = CodeRow
        async with self._db.transaction() as session:
            row = (
                await session.execute(
                    delete(c)
                    .where(*self._live(purpose, code_hash))
                    .returning(c.account_id, c.value, c.expires_at)
                )
            ).first()
            return None if row is None else _code(row)

    async def pending(self, account_id: int, purpose: str) -> list[OneTimeCode]:
        c = CodeRow
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(c)
                .where(
                    c.account_id == account_id,
                    c.purpose == purpose,
                    c.expires_at > self._clock.now(),
                )
                .order_by(c.expires_at)
            )
            return [_code(row) for row in rows]

    async def discard(self, account_id: int, purpose: str) -> int:
        c = CodeRow
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(c).where(c.account_id == account_id, c.purpose == purpose)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- profiles


class SqlProfileRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, account_id: int) -> Profile | None:
        async with self._db.connection(autocommit=True) as conn:
            data = await conn.scalar(_PROFILE_DATA, {"account_id": account_id})
        return None if data is None else Profile.model_validate(data)

    async def save(self, account_id: int, profile: Profile) -> None:
        now = self._clock.now()
        data = profile.model_dump(mode="json")
        async with self._db.transaction() as session:
            await _put_account_row(
                self._db, session, ProfileRow, account_id, data=data, updated_at=now
            )


async def _put_account_row(
    db: _Database, session: AsyncSession, table: type[Any], account_id: int, **values: Any
) -> None:
    """Insert or replace the row ``table`` keeps for an account (its key: ``account_id``);
    NotFound when there is no such account."""
    stmt = db.insert(table).values(account_id=account_id, **values)
    stmt = stmt.on_conflict_do_update(
        index_elements=["account_id"], set_={k: stmt.excluded[k] for k in values}
    )
    try:
        await session.execute(stmt)
    except IntegrityError as error:
        raise NotFound("That account does not exist.") from error


class SqlSummaryRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, account_id: int) -> str | None:
        async with self._db.connection(autocommit=True) as conn:
            return await conn.scalar(
                select(SummaryRow.period).where(SummaryRow.account_id == account_id)
            )

    async def set(self, account_id: int, period: str | None) -> None:
        async with self._db.transaction() as session:
            if period is None:
                await session.execute(delete(SummaryRow).where(SummaryRow.account_id == account_id))
                return
            now = self._clock.now()
            await _put_account_row(
                self._db, session, SummaryRow, account_id, period=period, updated_at=now
            )

    async def all(self) -> dict[int, str]:
        async with self._db.connection(autocommit=True) as conn:
            rows = await conn.execute(select(SummaryRow.account_id, SummaryRow.period))
            return {int(account_id): period for account_id, period in rows}


# ---------------------------------------------------------------- ideas


def _idea(row: IdeaRow) -> Idea:
    payload = dict(row.payload)
    payload.update(id=row.id, saved=row.saved, title=row.title)
    return Idea.model_validate(payload)


class SqlIdeaRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._insert = db.insert(IdeaRow).returning(IdeaRow.id, sort_by_parameter_order=True)

    async def add_many(self, account_id: int, ideas: Sequence[Idea]) -> list[Idea]:
        if not ideas:
            return []
        now = self._clock.now()
        values = [
            {
                "account_id": account_id,
                "title": idea.title,
                "title_norm": normalise_title(idea.title),
                "payload": idea.model_dump(mode="json", exclude={"id", "saved"}),
                "saved": idea.saved,
                "created_at": now,
            }
            for idea in ideas
        ]
        # A few rows go out as one multi-row INSERT, atomic on its own: no BEGIN/COMMIT.
        async with self._db.connection(autocommit=len(values) <= _ONE_STATEMENT_ROWS) as conn:
            try:
                result = await conn.execute(self._insert, values)
            except IntegrityError as error:
                raise NotFound("That account does not exist.") from error
            ids = list(result.scalars())
        return [idea.model_copy(update={"id": id_}) for idea, id_ in zip(ideas, ids, strict=True)]

    async def recent_titles(self, account_id: int, limit: int = 50) -> list[str]:
        async with self._db.connection(autocommit=True) as conn:
            rows = await conn.scalars(
                _RECENT_TITLES, {"account_id": account_id, "limit": max(limit, 0)}
            )
            return list(rows)

    async def get(self, account_id: int, idea_id: int) -> Idea | None:
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(IdeaRow).where(IdeaRow.account_id == account_id, IdeaRow.id == idea_id)
            )
            return None if row is None else _idea(row)

    async def set_saved(self, account_id: int, idea_id: int, saved: bool) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                update(IdeaRow)
                .where(IdeaRow.account_id == account_id, IdeaRow.id == idea_id)
                .values(saved=saved)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def saved(self, account_id: int, limit: int = 20) -> list[Idea]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(IdeaRow)
                .where(IdeaRow.account_id == account_id, IdeaRow.saved.is_(True))
                .order_by(IdeaRow.created_at.desc(), IdeaRow.id.desc())
                .limit(max(limit, 0))
            )
            return [_idea(row) for row in rows]


# ---------------------------------------------------------------- captions


class SqlCaptionRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, account_id: int, topic: str, draft: CaptionDraft) -> int:
        async with self._db.transaction() as session:
            try:
                return (
                    await session.execute(
                        self._db.insert(CaptionRow)
                        .values(
                            account_id=account_id,
                            topic=topic,
                            platform=draft.platform,
                            text=draft.text,
                            hashtags=list(draft.hashtags),
                            created_at=self._clock.now(),
                        )
                        .returning(CaptionRow.id)
                    )
                ).scalar_one()
            except IntegrityError as error:
                raise NotFound("That account does not exist.") from error


# ---------------------------------------------------------------- fans


def _fan(row: FanRow) -> Fan:
    return Fan(
        handle=row.handle,
        name=row.name,
        tier=row.tier,  # type: ignore[arg-type]
        total_spent=row.total_spent,
        last_active=row.last_active,
        first_seen=row.first_seen,
        tags=list(row.tags or []),
        notes=row.notes,
        journal=row.journal,
        subscribed=row.subscribed,
        platforms=list(row.platforms or []),
    )


class SqlFanRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def get(self, account_id: int, handle: str) -> Fan | None:
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(FanRow).where(
                    FanRow.account_id == account_id, FanRow.handle == normalise_handle(handle)
                )
            )
            return None if row is None else _fan(row)

    async def list(self, account_id: int, limit: int = 1000) -> list[Fan]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(FanRow)
                .where(FanRow.account_id == account_id)
                .order_by(FanRow.handle)
                .limit(max(limit, 0))
            )
            return [_fan(row) for row in rows]

    async def handles(self, account_id: int) -> list[str]:
        async with self._db.transaction() as session:
            rows = await session.scalars(
                select(FanRow.handle).where(FanRow.account_id == account_id).order_by(FanRow.handle)
            )
            return list(rows)


# ---------------------------------------------------------------- usage


class SqlUsageRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def record(self, account_id: int, record: UsageRecord) -> None:
        async with self._db.transaction() as session:
            try:
                await session.execute(
                    self._db.insert(UsageRow).values(
                        account_id=account_id,
                        feature=record.feature,
                        model=record.model,
                        prompt_tokens=record.prompt_tokens,
                        completion_tokens=record.completion_tokens,
                        cost=record.cost,
                        latency_ms=float(record.latency_ms),
                        cached=record.cached,
                        outcome=record.outcome,
                        prompt_version=record.prompt_version,
                        created_at=self._clock.now(),
                    )
                )
            except IntegrityError as error:
                raise NotFound("That account does not exist.") from error

    async def summary(self, account_id: int, since: datetime) -> UsageSummary:
        """Totals of the account's calls at or after ``since``."""
        scope = and_(UsageRow.account_id == account_id, UsageRow.created_at >= since)
        async with self._db.transaction() as session:
            rows = (
                await session.execute(
                    select(
                        UsageRow.feature,
                        func.count(),
                        func.coalesce(func.sum(UsageRow.prompt_tokens), 0),
                        func.coalesce(func.sum(UsageRow.completion_tokens), 0),
                        func.sum(UsageRow.cost),
                    )
                    .where(scope)
                    .group_by(UsageRow.feature)
                    .order_by(UsageRow.feature)
                )
            ).all()
        summary = UsageSummary()
        for feature, calls, prompt_tokens, completion_tokens, cost in rows:
            summary.calls += int(calls)
            summary.prompt_tokens += int(prompt_tokens)
            summary.completion_tokens += int(completion_tokens)
            summary.cost += cost if cost is not None else Decimal("0")
            summary.by_feature[feature] = int(calls)
        return summary


# ---------------------------------------------------------------- assets


def _asset(row: AssetRow) -> Asset:
    return Asset(
        id=row.id,
        sha256=row.sha256,
        size=row.size,
        mime=row.mime,
        name=row.name,
        tags=list(row.tags or []),
        blob_key=row.blob_key,
        source=row.source,
        created_at=row.created_at,
    )


class SqlAssetRepository:
    def __init__(self, db: _Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock

    async def add(self, account_id: int, asset: Asset) -> tuple[Asset, bool]:
        """Insert; when the account already has this sha256, return the existing row and False.

        Tags are stored stripped and lower-case. Race-safe: concurrent adds of the same content
        produce one row, one caller gets True.
        """
        sha256 = asset.sha256.lower()
        for _ in range(_RACE_ATTEMPTS):
            async with self._db.transaction() as session:
                try:
                    row = (
                        await session.execute(
                            self._db.insert(AssetRow)
                            .values(
                                account_id=account_id,
                                sha256=sha256,
                                size=asset.size,
                                mime=asset.mime,
                                name=asset.name,
                                tags=_normalise_tags(asset.tags),
                                blob_key=asset.blob_key,
                                source=asset.source,
                                created_at=self._clock.now(),
                            )
                            .on_conflict_do_nothing(index_elements=["account_id", "sha256"])
                            .returning(AssetRow)
                        )
                    ).scalar_one_or_none()
                except IntegrityError as error:
                    raise NotFound("That account does not exist.") from error
                if row is not None:
                    return _asset(row), True
                existing = await session.scalar(
                    select(AssetRow).where(
                        AssetRow.account_id == account_id, AssetRow.sha256 == sha256
                    )
                )
                if existing is not None:
                    return _asset(existing), False
            # The other row vanished between the conflict and the read: try again.
        raise ServiceUnavailable(DB_UNAVAILABLE_MESSAGE)  # pragma: no cover - pathological

    async def get(self, account_id: int, asset_id: int) -> Asset | None:
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(AssetRow).where(AssetRow.account_id == account_id, AssetRow.id == asset_id)
            )
            return None if row is None else _asset(row)

    async def by_sha256(self, account_id: int, sha256: str) -> Asset | None:
        async with self._db.transaction() as session:
            row = await session.scalar(
                select(AssetRow).where(
                    AssetRow.account_id == account_id, AssetRow.sha256 == sha256.lower()
                )
            )
            return None if row is None else _asset(row)

    async def list(
        self,
        account_id: int,
        tag: str | None = None,
        limit: int = 50,
        before: tuple[datetime, int] | None = None,
    ) -> list[Asset]:
        """Newest first; ``tag`` matches case-insensitively; ``before``: see the port."""
        async with self._db.transaction() as session:
            stmt: Select[tuple[AssetRow]] = select(AssetRow).where(
                AssetRow.account_id == account_id
            )
            if before is not None:
                created_at, asset_id = before
                stmt = stmt.where(
                    or_(
                        AssetRow.created_at < created_at,
                        and_(AssetRow.created_at == created_at, AssetRow.id < asset_id),
                    )
                )
            if tag is not None and tag.strip():
                stmt = stmt.where(self._has_tag(session, tag.strip().lower()))
            rows = await session.scalars(
                stmt.order_by(AssetRow.created_at.desc(), AssetRow.id.desc()).limit(max(limit, 0))
            )
            return [_asset(row) for row in rows]

    def _has_tag(self, session: AsyncSession, tag: str) -> Any:
        if self._db.dialect == "postgresql":
            return AssetRow.tags.op("@>")(func.jsonb_build_array(tag))
        each = func.json_each(AssetRow.tags).table_valued("value").alias("tag_each")
        return exists(select(literal(1)).select_from(each).where(each.c.value == tag))

    async def total_size(self, account_id: int) -> int:
        async with self._db.transaction() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(AssetRow.size), 0)).where(
                    AssetRow.account_id == account_id
                )
            )
            return int(total or 0)

    async def delete(self, account_id: int, asset_id: int) -> bool:
        async with self._db.transaction() as session:
            result = await session.execute(
                delete(AssetRow).where(AssetRow.account_id == account_id, AssetRow.id == asset_id)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def referenced_blob_keys(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        async with self._db.connection() as conn:
            for start in range(0, len(keys), _IN_BATCH):
                batch = list(keys[start : start + _IN_BATCH])
                rows = await conn.scalars(
                    select(AssetRow.blob_key).where(AssetRow.blob_key.in_(batch))
                )
                found.update(rows)
        return found


# ---------------------------------------------------------------- the store


class SqlStore:
    """All repositories over one database: ``SqlStore(engine_or_sessionmaker, clock)``.

    The engine belongs to the caller (create it with ``storage.db.create_engine``, dispose of it
    at shutdown).
    """

    def __init__(
        self, engine: AsyncEngine | async_sessionmaker[AsyncSession], clock: Clock
    ) -> None:
        sessions = make_sessionmaker(engine) if isinstance(engine, AsyncEngine) else engine
        self._db = _Database(sessions)
        self.accounts = SqlAccountRepository(self._db, clock)
        self.profiles = SqlProfileRepository(self._db, clock)
        self.summaries = SqlSummaryRepository(self._db, clock)
        self.team = SqlTeamRepository(self._db, clock)
        self.reminders = SqlReminderRepository(self._db, clock)
        self.codes = SqlCodeRepository(self._db, clock)
        self.ideas = SqlIdeaRepository(self._db, clock)
        self.captions = SqlCaptionRepository(self._db, clock)
        self.fans = SqlFanRepository(self._db, clock)
        self.usage = SqlUsageRepository(self._db, clock)
        self.assets = SqlAssetRepository(self._db, clock)
        # Analytics (imports, /stats, segments, /price): storage/analytics.py.
        from storage.analytics import (
            SqlEarningsRepository,
            SqlFanListRepository,
            SqlGoalRepository,
            SqlImportRepository,
            SqlOfferRepository,
            SqlPriceTestRepository,
        )

        self.earnings = SqlEarningsRepository(self._db, clock)
        self.goals = SqlGoalRepository(self._db, clock)
        self.imports = SqlImportRepository(self._db, clock)
        self.offers = SqlOfferRepository(self._db, clock)
        self.price_tests = SqlPriceTestRepository(self._db, clock)
        self.fan_lists = SqlFanListRepository(self._db, clock)
        # Billing, API keys, quota counters (issue 5): storage/billing.py.
        from storage.billing import SqlApiKeyRepository, SqlBillingRepository, SqlQuotaRepository

        self.billing = SqlBillingRepository(self._db, clock)
        self.api_keys = SqlApiKeyRepository(self._db, clock)
        self.quota_usage = SqlQuotaRepository(self._db, clock)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        """For other storage modules that need their own tables in the same database."""
        return self._db.sessions

    async def export(self, account_id: int) -> AsyncIterator[tuple[str, list[str], list[Any]]]:
        """Every row of the account (``/export``), table by table in primary-key order:
        ``(table, columns, rows)``, a table's rows in parts of up to 5,000. The tables are
        the schema's: every one with an ``account_id`` (or ``member_id``: teams one is on)
        column, and the ``accounts`` row itself; columns named for a hash (API keys') are left
        out."""
        for table in Base.metadata.sorted_tables:  # accounts first: the others refer to it
            if table is AccountRow.__table__:
                keys = ["id"]
            else:
                keys = [c for c in ("account_id", "member_id") if c in table.c]
                if not keys:
                    continue
            columns = [c for c in table.c if "hash" not in c.name]
            stmt = (
                select(*columns)
                .where(or_(*(table.c[k] == account_id for k in keys)))
                .order_by(*table.primary_key.columns)
            )
            names = [c.name for c in columns]
            async with self._db.transaction() as session:
                result = await session.stream(stmt)
                async for part in result.partitions(5000):
                    yield table.name, names, [tuple(row) for row in part]

    async def ping(self) -> bool:
        """True when ``SELECT 1`` works."""
        try:
            async with self._db.sessions() as session:
                return (await session.scalar(select(literal(1)))) == 1
        except Exception as error:
            log.warning("database_ping_failed", error=repr(error))
            return False


__all__ = [
    "DB_UNAVAILABLE_MESSAGE",
    "SqlAccountRepository",
    "SqlAssetRepository",
    "SqlCaptionRepository",
    "SqlFanRepository",
    "SqlIdeaRepository",
    "SqlProfileRepository",
    "SqlStore",
    "SqlUsageRepository",
    "normalise_handle",
    "normalise_title",
]
