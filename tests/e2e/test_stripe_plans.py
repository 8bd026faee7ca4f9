"""Plan quotas enforced in core (ideas a day, fan drafts a month then credits, vault size),
/usage and /plan showing what is left, and /apikey - through the real assistant as wired by
``bot/container.py``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import QuotaExceeded
from core.services.billing import Catalog, Plan, default_catalog
from core.services.quotas import UNLIMITED, QuotaService
from core.services.vault import TooLarge, VaultService
from storage.blobs import LocalBlobStore
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import HttpWorld, load_event

PROFILE = (
    "/profile set niches=fitness platforms=instagram content_types=photo "
    "equipment=phone locations=home"
)


async def test_free_plan_ideas_stop_for_the_day_and_come_back(
    world: HttpWorld, clock: FakeClock
) -> None:
    await world.say("mia", PROFILE)
    for _ in range(2):
        reply = await world.say("mia", "/ideas 5")
        assert isinstance(reply.result, list) and len(reply.result) == 5
    refused = await world.say("mia", "/ideas 1")
    assert "today's ideas" in refused.plain_text and "/plan" in refused.plain_text
    usage = await world.say("mia", "/usage")
    assert usage.result["left"]["ideas"] == 0
    assert "Left on your Free plan" in usage.plain_text

    clock.advance(24 * 3600)
    again = await world.say("mia", "/ideas 3")
    assert isinstance(again.result, list) and len(again.result) == 3


async def test_asking_for_more_than_is_left_takes_nothing(world: HttpWorld) -> None:
    await world.say("mia", PROFILE)
    await world.say("mia", "/ideas 8")
    refused = await world.say("mia", "/ideas 5")  # 2 left
    assert "today's ideas" in refused.plain_text and "your time" not in refused.plain_text
    # Quotas count UTC days (a time zone change must not refill them); she is told when
    # midnight UTC is on her clock.
    await world.say("mia", "/timezone America/New_York")
    refused = await world.say("mia", "/ideas 5")
    assert "Midnight UTC is 19:00 your time (America/New_York)." in refused.plain_text
    ok = await world.say("mia", "/ideas 2")
    assert isinstance(ok.result, list) and len(ok.result) == 2


async def test_a_paid_plan_lifts_the_daily_limit(world: HttpWorld) -> None:
    account = await world.identity("mia")
    await world.say("mia", PROFILE)
    completed = load_event("checkout.session.completed.subscription")
    completed["data"]["object"]["client_reference_id"] = str(account.id)
    await world.post_event(completed)
    for _ in range(3):
        reply = await world.say("mia", "/ideas 10")
        assert isinstance(reply.result, list) and len(reply.result) == 10
    usage = await world.say("mia", "/usage")
    assert usage.result["left"]["ideas"] == 70  # Pro: 100 a day


async def test_fan_drafts_use_the_allowance_then_credits(world: HttpWorld) -> None:
    account = await world.identity("mia")
    await world.say("mia", PROFILE)
    await world.say("mia", "/fans add @amy name=Amy tier=vip")
    quotas = world.container.quotas
    assert quotas is not None
    period = quotas.period("personalize")
    await world.store.quota_usage.consume(account.id, "personalize", period, 19, 20)

    first = await world.say("mia", '/personalize "Hey {name}, miss you!" for @amy')
    assert "Amy" in first.plain_text
    refused = await world.say("mia", '/personalize "Hey {name}!" for @amy')
    assert "credits" in refused.plain_text  # allowance gone, no credits

    pack = load_event("checkout.session.completed.payment")  # 500 credits
    pack["data"]["object"]["client_reference_id"] = str(account.id)
    await world.post_event(pack)
    paid = await world.say("mia", '/personalize "Hey {name}!" for @amy')
    assert "Amy" in paid.plain_text
    assert (await world.account(account.id)).credits == 499
    left = await quotas.remaining(account.id)
    assert left["personalize"] == 0 and left["credits"] == 499


async def test_quota_counters_are_atomic(db_url: str, clock: FakeClock) -> None:
    from storage.db import create_engine
    from storage.repositories import SqlStore

    engine = create_engine(db_url)
    try:
        store = SqlStore(engine, clock)
        from core.models import Identity

        account = await store.accounts.resolve(Identity(platform="t", external_id="x"))
        results = await asyncio.gather(
            *(store.quota_usage.consume(account.id, "ideas", "d", 3, 10) for _ in range(8))
        )
        assert sum(r is not None for r in results) == 3
        assert await store.quota_usage.used(account.id, "ideas", "d") == 9
    finally:
        await engine.dispose()


async def test_vault_size_is_a_plan_quota(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    from storage.db import create_engine
    from storage.repositories import SqlStore

    engine = create_engine(migrated_sqlite_url)
    try:
        store = SqlStore(engine, clock)
        from core.models import Identity

        account = await store.accounts.resolve(Identity(platform="t", external_id="v"))
        base = default_catalog()
        tiny = Plan("free", "Free", 0, 10, 20, vault_bytes=30_000)
        catalog = Catalog(plans={**base.plans, "free": tiny}, packs=base.packs)
        quotas = QuotaService(store.quota_usage, store.accounts, store.assets, catalog, clock)
        blobs = LocalBlobStore(tmp_path / "blobs")
        vault = VaultService(store, blobs, max_bytes=10**6, quotas=quotas)

        async def stream(data: bytes) -> AsyncIterator[bytes]:
            yield data

        png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 20_000
        _, created = await vault.add_stream(
            account.id, stream(png), "a.png", "image/png", [], "api"
        )
        assert created and (await quotas.remaining(account.id))["vault_bytes"] == 30_000 - len(png)
        with pytest.raises(TooLarge):
            await vault.add_stream(
                account.id, stream(png + b"\x01"), "b.png", "image/png", [], "api"
            )
        with pytest.raises(QuotaExceeded):
            await quotas.consume(account.id, "vault_bytes", 20_000)
        assert len(await store.assets.list(account.id)) == 1
        files = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
        assert len(files) == 1  # the refused stream left nothing behind
        unlimited = Plan("free", "Free", 0, None, None, None)
        open_quotas = QuotaService(
            store.quota_usage,
            store.accounts,
            store.assets,
            Catalog(plans={**base.plans, "free": unlimited}, packs=base.packs),
            clock,
        )
        left = await open_quotas.remaining(account.id)
        assert left["ideas"] == left["vault_bytes"] == UNLIMITED
    finally:
        await engine.dispose()


async def test_apikey_is_shown_once_listed_and_revoked(world: HttpWorld) -> None:
    made = await world.say("mia", "/apikey")
    key = made.result["key"]
    assert key.startswith("hz_") and made.ephemeral
    assert key in made.plain_text
    listed = await world.say("mia", "/apikey list")
    assert key not in listed.plain_text and made.result["prefix"] in listed.plain_text
    account = await world.identity("mia")
    from core.commands.billing import hash_api_key

    assert await world.store.api_keys.account_for(hash_api_key(key)) == account.id
    other = await world.say("zoe", "/apikey revoke")
    assert other.result == {"revoked": 0}  # zoe cannot revoke mia's keys
    gone = await world.say("mia", f"/apikey revoke {made.result['id']}")
    assert gone.result == {"revoked": 1}
    assert await world.store.api_keys.account_for(hash_api_key(key)) is None
    assert (await world.say("mia", "/apikey list")).result == []


async def test_plan_lists_plans_and_what_is_left(world: HttpWorld) -> None:
    reply = await world.say("mia", "/plan")
    text = reply.plain_text
    for label in ("Free", "Pro", "Studio"):
        assert label in text
    assert "10 ideas a day" in text and "Left on your Free plan" in text
    assert reply.result == {"plan": "free", "credits": 0}
