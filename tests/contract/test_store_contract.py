"""The ``Store`` contract, run against SQLite and PostgreSQL (the ``store`` fixture is
parametrised over both backends).

Covers every repository method, tenancy (account B tries to read and change account A's rows by
id), races (concurrent first messages, concurrent uploads of the same file), and what happens when
the database goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from core.errors import NotFound, ServiceUnavailable
from core.models import Account, Asset, CaptionDraft, Fan, Idea, Identity, Profile
from core.ports import FanPatch, Store, UsageRecord
from storage.repositories import (
    DB_UNAVAILABLE_MESSAGE,
    SqlStore,
    normalise_handle,
    normalise_title,
)
from storage.tables import AccountRow, AssetRow, CodeRow, IdentityRow
from tests.fakes.clock import FakeClock

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64
PLUS_FIVE = timezone(timedelta(hours=5))


def ident(external_id: str, platform: str = "telegram", **extra: str) -> Identity:
    return Identity(platform=platform, external_id=external_id, **extra)


async def two_accounts(store: Store) -> tuple[Account, Account]:
    a = await store.accounts.resolve(ident("alice"))
    b = await store.accounts.resolve(ident("bob"))
    assert a.id != b.id
    return a, b


def idea(title: str, **extra: object) -> Idea:
    fields: dict[str, object] = {
        "title": title,
        "description": f"How to shoot {title}",
        "niche": "fitness",
        "content_type": "photo",
        "platform": "instagram",
        "location": "gym",
        "equipment": ["ring_light"],
        "tags": ["gym", "morning"],
        "hook": "Guess what",
    }
    fields.update(extra)
    return Idea.model_validate(fields)


def asset(sha256: str, **extra: object) -> Asset:
    fields: dict[str, object] = {
        "sha256": sha256,
        "size": 1234,
        "mime": "image/jpeg",
        "name": "beach.jpg",
        "tags": ["Beach", "teaser"],
        "blob_key": f"{sha256[:2]}/{sha256[2:4]}/{sha256}",
        "source": "telegram",
    }
    fields.update(extra)
    return Asset.model_validate(fields)


async def count_rows(engine: AsyncEngine, column: object) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(select(func.count(column)))).scalar_one())  # type: ignore[arg-type]


def test_sql_store_satisfies_the_port(store: SqlStore) -> None:
    # Attribute presence plus the structural check a type checker would do.
    for name in ("accounts", "profiles", "ideas", "captions", "fans", "usage", "assets"):
        assert hasattr(store, name)
    _typed: Store = store
    assert _typed is store


async def test_ping(store: SqlStore) -> None:
    assert await store.ping() is True


# ---------------------------------------------------------------- accounts


async def test_resolve_creates_an_account_with_defaults(store: SqlStore, clock: FakeClock) -> None:
    account = await store.accounts.resolve(ident("1", username="ann", display_name="Ann"))
    assert account.plan == "free"
    assert account.credits == 0
    assert account.created_at == clock.now()
    assert account.created_at.tzinfo is not None
    assert await store.accounts.get(account.id) == account
    assert await store.accounts.identities(account.id) == [
        Identity(platform="telegram", external_id="1", username="ann", display_name="Ann")
    ]


async def test_resolve_is_stable_and_per_identity(store: SqlStore) -> None:
    first = await store.accounts.resolve(ident("1"))
    again = await store.accounts.resolve(ident("1"))
    other_platform = await store.accounts.resolve(ident("1", platform="discord"))
    assert again.id == first.id
    assert other_platform.id != first.id


async def test_resolve_refreshes_identity_details(store: SqlStore) -> None:
    account = await store.accounts.resolve(ident("1", username="old", language="en"))
    again = await store.accounts.resolve(ident("1", username="new", language="fr"))
    assert again.id == account.id
    [identity] = await store.accounts.identities(account.id)
    assert (identity.username, identity.language) == ("new", "fr")


async def test_get_unknown_account_is_not_found(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.accounts.get(987654)


async def test_concurrent_first_messages_create_one_account(
    store: SqlStore, db_engine: AsyncEngine
) -> None:
    results = await asyncio.gather(*(store.accounts.resolve(ident("racer")) for _ in range(12)))
    assert len({account.id for account in results}) == 1
    assert await count_rows(db_engine, AccountRow.id) == 1
    assert await count_rows(db_engine, IdentityRow.id) == 1


async def test_move_identity_links_accounts(store: SqlStore) -> None:
    telegram = await store.accounts.resolve(ident("t1"))
    discord_identity = ident("d1", platform="discord")
    discord = await store.accounts.resolve(discord_identity)

    await store.accounts.move_identity(discord.id, discord_identity, telegram.id)

    assert (await store.accounts.resolve(discord_identity)).id == telegram.id
    platforms = {i.platform for i in await store.accounts.identities(telegram.id)}
    assert platforms == {"telegram", "discord"}
    assert await store.accounts.identities(discord.id) == []


async def test_move_identity_refuses_someone_elses_identity(store: SqlStore) -> None:
    a, b = await two_accounts(store)
    with pytest.raises(NotFound):
        # B tries to take A's identity.
        await store.accounts.move_identity(b.id, ident("alice"), b.id)
    assert (await store.accounts.resolve(ident("alice"))).id == a.id


async def test_move_identity_to_a_missing_account(store: SqlStore) -> None:
    a = await store.accounts.resolve(ident("alice"))
    with pytest.raises(NotFound):
        await store.accounts.move_identity(a.id, ident("alice"), 999_999)
    assert (await store.accounts.resolve(ident("alice"))).id == a.id


# ---------------------------------------------------------------- profiles


async def test_profile_round_trip_and_replace(store: SqlStore) -> None:
    a, b = await two_accounts(store)
    assert await store.profiles.get(a.id) is None
    profile = Profile(
        niches=["fitness"],
        platforms=["instagram", "onlyfans"],
        content_types=["photo"],
        equipment=["ring_light"],
        locations=["gym"],
        goals=["grow"],
        tone="playful",
        restricted_words=["cheap"],
    )
    await store.profiles.save(a.id, profile)
    assert await store.profiles.get(a.id) == profile

    changed = profile.model_copy(update={"tone": "warm", "niches": ["yoga"]})
    await store.profiles.save(a.id, changed)
    assert await store.profiles.get(a.id) == changed
    assert await store.profiles.get(b.id) is None


async def test_resolve_with_profile_reads_only_the_callers_profile(store: SqlStore) -> None:
    first, none_yet = await store.accounts.resolve_with_profile(ident("carol"))
    assert none_yet is None
    assert (await store.accounts.resolve(ident("carol"))).id == first.id
    a, b = await two_accounts(store)
    profile_a = Profile(niches=["fitness"], tone="playful")
    profile_b = Profile(niches=["cooking"], tone="warm")
    await store.profiles.save(a.id, profile_a)
    await store.profiles.save(b.id, profile_b)
    assert await store.accounts.resolve_with_profile(ident("alice")) == (a, profile_a)
    assert await store.accounts.resolve_with_profile(ident("bob")) == (b, profile_b)
    assert await store.accounts.resolve_with_profile(ident("carol")) == (first, None)
    # A second identity linked to A reads A's profile.
    discord, _ = await store.accounts.resolve_with_profile(ident("d1", platform="discord"))
    await store.accounts.move_identity(discord.id, ident("d1", platform="discord"), a.id)
    assert await store.accounts.resolve_with_profile(ident("d1", platform="discord")) == (
        a,
        profile_a,
    )


async def test_profile_for_a_missing_account(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.profiles.save(999_999, Profile())


async def test_summary_subscriptions(store: SqlStore) -> None:
    a, b = await two_accounts(store)
    assert await store.summaries.get(a.id) is None and await store.summaries.all() == {}
    await store.summaries.set(a.id, "daily")
    await store.summaries.set(a.id, "weekly")  # a change replaces
    await store.summaries.set(b.id, "daily")
    assert await store.summaries.get(a.id) == "weekly"
    assert await store.summaries.all() == {a.id: "weekly", b.id: "daily"}
    await store.summaries.set(a.id, None)  # off: only that account's
    await store.summaries.set(a.id, None)  # off twice is no error
    assert await store.summaries.all() == {b.id: "daily"}
    with pytest.raises(NotFound):
        await store.summaries.set(999_999, "daily")


# ---------------------------------------------------------------- one-time codes


async def test_codes_are_taken_once_and_expire(
    store: SqlStore, clock: FakeClock, db_engine: AsyncEngine
) -> None:
    a, b = await two_accounts(store)
    await store.codes.add("team", SHA_A, a.id, "manager", 60)
    await store.codes.add("team", SHA_B, a.id, "chatter", 120)
    await store.codes.add("link", SHA_C, b.id, "", 60)
    assert await store.codes.get("link", SHA_A) is None  # a code is for its purpose only
    looked = await store.codes.get("team", SHA_A)
    assert looked is not None and (looked.account_id, looked.value) == (a.id, "manager")
    assert [c.value for c in await store.codes.pending(a.id, "team")] == ["manager", "chatter"]
    assert await store.codes.pending(b.id, "team") == []
    # Taken once, whoever asks at the same moment.
    taken = await asyncio.gather(*(store.codes.take("team", SHA_A) for _ in range(8)))
    assert [t.value for t in taken if t is not None] == ["manager"]
    assert await store.codes.get("team", SHA_A) is None
    # Expired: neither read nor taken, nor pending; the next add forgets it.
    clock.advance(121)
    assert await store.codes.take("team", SHA_B) is None
    assert await store.codes.pending(a.id, "team") == []
    await store.codes.add("team", SHA_A, a.id, "chatter", 60)
    assert await count_rows(db_engine, CodeRow.code_hash) == 1
    # Discarding is per account and purpose.
    await store.codes.add("erase", SHA_B, b.id, "", 60)
    assert await store.codes.discard(b.id, "team") == 0
    assert await store.codes.discard(a.id, "team") == 1
    assert await store.codes.get("erase", SHA_B) is not None
    # Many adds at once, each forgetting the same expired codes: none fails (no deadlock).
    for n in range(20):
        await store.codes.add("plan", f"{n:064d}", a.id, "", 60)
    clock.advance(61)
    await asyncio.gather(*(store.codes.add("plan", f"n{n:063d}", a.id, "", 60) for n in range(20)))
    assert len(await store.codes.pending(a.id, "plan")) == 20
    assert await count_rows(db_engine, CodeRow.code_hash) == 20
    assert await store.codes.discard(a.id, "plan") == 20
    # An account's codes go with it.
    await store.codes.add("erase", SHA_B, b.id, "", 60)
    await store.accounts.delete(b.id)
    assert await count_rows(db_engine, CodeRow.code_hash) == 0


# ---------------------------------------------------------------- ideas


async def test_ideas_add_get_and_recent_titles(store: SqlStore, clock: FakeClock) -> None:
    a, _ = await two_accounts(store)
    assert await store.ideas.add_many(a.id, []) == []
    first = await store.ideas.add_many(a.id, [idea("Sunrise stretch"), idea("Gym mirror")])
    clock.advance(60)
    second = await store.ideas.add_many(a.id, [idea("Beach walk")])

    ids = [i.id for i in first + second]
    assert None not in ids and len(set(ids)) == 3
    stored = await store.ideas.get(a.id, first[1].id)  # type: ignore[arg-type]
    assert stored == first[1]
    assert stored is not None and stored.equipment == ["ring_light"] and stored.hook == "Guess what"

    assert await store.ideas.recent_titles(a.id) == ["Beach walk", "Gym mirror", "Sunrise stretch"]
    assert await store.ideas.recent_titles(a.id, limit=2) == ["Beach walk", "Gym mirror"]


async def test_ideas_saved(store: SqlStore, clock: FakeClock) -> None:
    a, _ = await two_accounts(store)
    [old] = await store.ideas.add_many(a.id, [idea("Old")])
    clock.advance(1)
    [new] = await store.ideas.add_many(a.id, [idea("New")])
    clock.advance(1)
    await store.ideas.add_many(a.id, [idea("Unsaved")])

    assert await store.ideas.set_saved(a.id, old.id, True) is True  # type: ignore[arg-type]
    assert await store.ideas.set_saved(a.id, new.id, True) is True  # type: ignore[arg-type]
    assert [i.title for i in await store.ideas.saved(a.id)] == ["New", "Old"]
    assert [i.title for i in await store.ideas.saved(a.id, limit=1)] == ["New"]
    assert all(i.saved for i in await store.ideas.saved(a.id))

    assert await store.ideas.set_saved(a.id, old.id, False) is True  # type: ignore[arg-type]
    assert [i.title for i in await store.ideas.saved(a.id)] == ["New"]
    assert await store.ideas.set_saved(a.id, 999_999, True) is False


async def test_ideas_are_private(store: SqlStore) -> None:
    a, b = await two_accounts(store)
    [secret] = await store.ideas.add_many(a.id, [idea("Secret shoot")])
    assert secret.id is not None

    assert await store.ideas.get(b.id, secret.id) is None
    assert await store.ideas.set_saved(b.id, secret.id, True) is False
    assert await store.ideas.recent_titles(b.id) == []
    assert await store.ideas.saved(b.id) == []
    mine = await store.ideas.get(a.id, secret.id)
    assert mine is not None and mine.saved is False


def test_normalise_title() -> None:
    assert normalise_title("  Café   Workout!! ") == normalise_title("cafe workout")
    assert normalise_title("Beach-Walk") == "beach walk"


# ---------------------------------------------------------------- captions


async def test_captions_add(store: SqlStore) -> None:
    a, _ = await two_accounts(store)
    draft = CaptionDraft(text="Sun's out", hashtags=["beach", "summer"], platform="instagram")
    first = await store.captions.add(a.id, "beach teaser", draft)
    second = await store.captions.add(a.id, "beach teaser", draft)
    assert isinstance(first, int) and second != first
    with pytest.raises(NotFound):
        await store.captions.add(999_999, "x", draft)


# ---------------------------------------------------------------- fans


async def put_fan(store: SqlStore, account_id: int, fan: Fan) -> Fan:
    """``fan`` written whole through the one write the fan list has (a patch of every field)."""
    handle = normalise_handle(fan.handle)
    values = fan.model_dump(exclude={"handle"})
    await store.fan_lists.upsert_many(account_id, [FanPatch(handle, values)])
    stored = await store.fans.get(account_id, handle)
    assert stored is not None
    return stored


async def test_fans_upsert_get_list_handles(store: SqlStore) -> None:
    a, _ = await two_accounts(store)
    fan = Fan(
        handle="  JaneDoe ",
        name="Jane",
        tier="vip",
        total_spent=Decimal("1234.56"),
        last_active=date(2025, 1, 10),
        tags=["tipper"],
        notes="likes beach sets",
    )
    stored = await put_fan(store, a.id, fan)
    assert stored == fan.model_copy(update={"handle": "janedoe"})
    assert await store.fans.get(a.id, "JANEDOE") == stored

    # A patch writes only its fields: the others stay (a tier changed by hand keeps the rest).
    patch = FanPatch("janedoe", {"tier": "whale", "total_spent": Decimal("2000.10")})
    await store.fan_lists.upsert_many(a.id, [patch])
    assert await store.fans.get(a.id, "janedoe") == stored.model_copy(
        update={"tier": "whale", "total_spent": Decimal("2000.10")}
    )

    await put_fan(store, a.id, Fan(handle="Adam", total_spent=Decimal("0.1")))
    listed = await store.fans.list(a.id)
    assert [f.handle for f in listed] == ["adam", "janedoe"]
    assert listed[0].total_spent == Decimal("0.10")
    assert await store.fans.handles(a.id) == ["adam", "janedoe"]
    assert len(await store.fans.list(a.id, limit=1)) == 1
    assert await store.fans.get(a.id, "nobody") is None


async def test_fans_are_private(store: SqlStore) -> None:
    a, b = await two_accounts(store)
    await put_fan(store, a.id, Fan(handle="jane", total_spent=Decimal("50")))

    assert await store.fans.get(b.id, "jane") is None
    assert await store.fans.list(b.id) == []
    assert await store.fans.handles(b.id) == []
    # B's own "jane" is a different fan; A's is untouched.
    await put_fan(store, b.id, Fan(handle="jane", total_spent=Decimal("1")))
    a_jane = await store.fans.get(a.id, "jane")
    assert a_jane is not None and a_jane.total_spent == Decimal("50.00")


# ---------------------------------------------------------------- usage


async def test_usage_summary(store: SqlStore, clock: FakeClock) -> None:
    a, b = await two_accounts(store)
    start = clock.now()
    await store.usage.record(
        a.id,
        UsageRecord(
            feature="ideas",
            model="gpt-x",
            prompt_tokens=100,
            completion_tokens=50,
            cost=Decimal("0.000123"),
        ),
    )
    clock.advance(3600)
    since = clock.now()
    for _ in range(3):
        await store.usage.record(
            a.id,
            UsageRecord(
                feature="captions",
                model="gpt-x",
                prompt_tokens=10,
                completion_tokens=5,
                cost=Decimal("0.000101"),
                latency_ms=12.5,
                cached=True,
                outcome="ok",
                prompt_version="v2",
            ),
        )
    await store.usage.record(a.id, UsageRecord(feature="ideas", model="offline"))

    everything = await store.usage.summary(a.id, start)
    assert everything.calls == 5
    assert everything.prompt_tokens == 130
    assert everything.completion_tokens == 65
    assert everything.cost == Decimal("0.000426")
    assert everything.by_feature == {"captions": 3, "ideas": 2}

    recent = await store.usage.summary(a.id, since)
    assert recent.calls == 4
    assert recent.cost == Decimal("0.000303")
    assert recent.by_feature == {"captions": 3, "ideas": 1}

    future = await store.usage.summary(a.id, since + timedelta(days=1))
    assert (future.calls, future.cost, future.by_feature) == (0, Decimal("0"), {})
    assert (await store.usage.summary(b.id, start)).calls == 0


async def test_usage_summary_accepts_other_timezones(store: SqlStore, clock: FakeClock) -> None:
    a, _ = await two_accounts(store)
    await store.usage.record(a.id, UsageRecord(feature="ideas", model="m"))
    local_since = (clock.now() - timedelta(seconds=1)).astimezone(PLUS_FIVE)
    assert (await store.usage.summary(a.id, local_since)).calls == 1


# ---------------------------------------------------------------- assets


async def test_assets_add_dedup_get_list(store: SqlStore, clock: FakeClock) -> None:
    a, _ = await two_accounts(store)
    added, created = await store.assets.add(a.id, asset(SHA_A))
    assert created is True
    assert added.id is not None
    assert added.tags == ["beach", "teaser"]
    assert added.created_at == clock.now()

    again, created_again = await store.assets.add(a.id, asset(SHA_A, name="other.jpg", size=9))
    assert created_again is False
    assert again == added  # the existing row, not the new data

    clock.advance(10)
    second, _ = await store.assets.add(a.id, asset(SHA_B, size=100, tags=["gym"]))
    assert await store.assets.get(a.id, added.id) == added
    assert await store.assets.by_sha256(a.id, SHA_B) == second
    assert await store.assets.by_sha256(a.id, SHA_B.upper()) == second
    assert await store.assets.by_sha256(a.id, SHA_C) is None

    assert [x.sha256 for x in await store.assets.list(a.id)] == [SHA_B, SHA_A]
    assert [x.sha256 for x in await store.assets.list(a.id, limit=1)] == [SHA_B]
    assert [x.sha256 for x in await store.assets.list(a.id, tag="BEACH")] == [SHA_A]
    assert [x.sha256 for x in await store.assets.list(a.id, tag="gym")] == [SHA_B]
    assert await store.assets.list(a.id, tag="nothing") == []
    assert await store.assets.total_size(a.id) == 1234 + 100

    # Keyset pages: after a position in (created_at, id) order, ties broken by id.
    third, _ = await store.assets.add(a.id, asset(SHA_C, tags=["gym"]))  # same time as second
    assert third.created_at == second.created_at and third.id and second.id
    assert [x.sha256 for x in await store.assets.list(a.id)] == [SHA_C, SHA_B, SHA_A]
    assert third.created_at is not None and second.created_at is not None
    page = await store.assets.list(a.id, limit=2, before=(third.created_at, third.id))
    assert [x.sha256 for x in page] == [SHA_B, SHA_A]
    page = await store.assets.list(a.id, tag="gym", before=(third.created_at, third.id))
    assert [x.sha256 for x in page] == [SHA_B]
    assert await store.assets.list(a.id, before=(added.created_at, added.id)) == []  # type: ignore[arg-type]
    assert await store.assets.delete(a.id, third.id) is True

    assert await store.assets.delete(a.id, added.id) is True
    assert await store.assets.delete(a.id, added.id) is False
    assert await store.assets.get(a.id, added.id) is None
    assert await store.assets.total_size(a.id) == 100


async def test_assets_are_private(store: SqlStore) -> None:
    a, b = await two_accounts(store)
    mine, _ = await store.assets.add(a.id, asset(SHA_A))
    assert mine.id is not None

    assert await store.assets.get(b.id, mine.id) is None
    assert await store.assets.by_sha256(b.id, SHA_A) is None
    assert await store.assets.list(b.id) == []
    assert await store.assets.list(b.id, tag="beach") == []
    assert mine.created_at is not None
    assert await store.assets.list(b.id, before=(mine.created_at, mine.id + 1)) == []
    assert await store.assets.total_size(b.id) == 0
    assert await store.assets.delete(b.id, mine.id) is False
    assert await store.assets.get(a.id, mine.id) == mine

    # The same file in B's vault is B's own row.
    theirs, created = await store.assets.add(b.id, asset(SHA_A))
    assert created is True and theirs.id != mine.id


async def test_concurrent_uploads_of_one_file_make_one_row(
    store: SqlStore, db_engine: AsyncEngine
) -> None:
    a, _ = await two_accounts(store)
    results = await asyncio.gather(*(store.assets.add(a.id, asset(SHA_C)) for _ in range(10)))
    assert sum(1 for _, created in results if created) == 1
    assert len({row.id for row, _ in results}) == 1
    assert await count_rows(db_engine, AssetRow.id) == 1


async def test_writes_for_a_missing_account_are_refused(store: SqlStore) -> None:
    with pytest.raises(NotFound):
        await store.ideas.add_many(999_999, [idea("x")])
    with pytest.raises(NotFound):
        await store.fan_lists.upsert_many(999_999, [FanPatch("x", {})])
    with pytest.raises(NotFound):
        await store.usage.record(999_999, UsageRecord(feature="x", model="m"))
    with pytest.raises(NotFound):
        await store.assets.add(999_999, asset(SHA_A))


# ---------------------------------------------------------------- the database goes away


@pytest.mark.postgres
async def test_postgres_going_away_is_service_unavailable(
    migrated_postgres_url: str, clock: FakeClock
) -> None:
    from sqlalchemy.engine import make_url

    from storage.db import create_engine
    from tests.services import TcpProxy

    real = make_url(migrated_postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    engine = create_engine(real.set(host="127.0.0.1", port=proxy.port))
    store = SqlStore(engine, clock)
    try:
        account = await store.accounts.resolve(ident("alice"))
        assert await store.ping() is True

        await proxy.stop()
        with pytest.raises(ServiceUnavailable) as caught:
            await store.accounts.resolve(ident("bob"))
        assert caught.value.message == DB_UNAVAILABLE_MESSAGE
        with pytest.raises(ServiceUnavailable):
            await store.fan_lists.upsert_many(account.id, [FanPatch("x", {})])
        assert await store.ping() is False

        await proxy.start()  # the database is back: the pool reconnects by itself
        assert (await store.accounts.resolve(ident("alice"))).id == account.id
        # Nothing was changed while it was away.
        assert await store.fans.list(account.id) == []
    finally:
        await proxy.stop()
        await engine.dispose()


async def _terminate_backends(postgres_server: str, url: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    admin = await asyncpg.connect(
        postgres_server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    )
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            make_url(url).database,
        )
    finally:
        await admin.close()


@pytest.mark.postgres
async def test_postgres_backends_terminated_while_idle_are_replaced(
    migrated_postgres_url: str,
    postgres_server: str,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from storage import db
    from storage.db import create_engine

    monkeypatch.setattr(db, "PING_IF_IDLE_S", 0.0)  # every pooled connection counts as idle
    engine = create_engine(migrated_postgres_url)
    store = SqlStore(engine, clock)
    try:
        account = await store.accounts.resolve(ident("alice"))
        await _terminate_backends(postgres_server, migrated_postgres_url)
        # Pooled connections are dead; the checkout check replaces them transparently.
        for _ in range(3):
            assert (await store.accounts.get(account.id)).id == account.id
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_postgres_backends_terminated_during_a_burst_cost_at_most_one_answer(
    migrated_postgres_url: str, postgres_server: str, clock: FakeClock
) -> None:
    from storage.db import create_engine

    engine = create_engine(migrated_postgres_url)
    store = SqlStore(engine, clock)
    try:
        account = await store.accounts.resolve(ident("alice"))
        await _terminate_backends(postgres_server, migrated_postgres_url)
        # A connection busy a moment ago is not pinged: if the driver has not seen it close
        # yet, that one call gets the clear "not reachable" answer (nothing written) and the
        # pool is renewed; every later call succeeds.
        with contextlib.suppress(ServiceUnavailable):
            await store.fan_lists.upsert_many(account.id, [FanPatch("first", {})])
        await store.fan_lists.upsert_many(account.id, [FanPatch("second", {})])
        handles = {fan.handle for fan in await store.fans.list(account.id)}
        assert handles in ({"second"}, {"first", "second"})
    finally:
        await engine.dispose()


async def test_sqlite_store_ping_false_when_file_is_not_a_database(
    tmp_path: object, clock: FakeClock
) -> None:
    from pathlib import Path

    from storage.db import create_engine

    path = Path(str(tmp_path)) / "junk.db"
    path.write_bytes(b"this is not a sqlite database" * 100)
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    store = SqlStore(engine, clock)
    try:
        assert await store.ping() is False
    finally:
        await engine.dispose()


async def test_raw_schema_uses_utc(db_engine: AsyncEngine) -> None:
    # A created_at written from a non-UTC aware datetime comes back as the same instant in UTC.
    store = SqlStore(db_engine, FakeClock(datetime(2025, 6, 1, 19, 0, tzinfo=PLUS_FIVE)))
    account = await store.accounts.resolve(ident("tz"))
    assert account.created_at == datetime(2025, 6, 1, 14, 0, tzinfo=UTC)
    assert account.created_at.utcoffset() == timedelta(0)
    async with db_engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM accounts"))).scalar_one() == 1
