"""Per-key rate limits (limits library; memory and a shared Redis) and the concurrency cap."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from limits.aio.storage import RedisStorage
from limits.storage import storage_from_string

from core.errors import RateLimitedError
from core.resilience import (
    ConcurrencyCap,
    Overloaded,
    RateLimited,
    RateLimiter,
    limits_storage_uri,
)


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
async def test_allows_up_to_the_limit_then_denies_with_retry_after(strategy: str) -> None:
    limiter = RateLimiter("3/minute", strategy=strategy)  # type: ignore[arg-type]
    decisions = [await limiter.hit("acct:1") for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    denied = decisions[-1]
    assert 0 < denied.retry_after <= 60
    assert denied.remaining == 0
    assert denied.limit == "3 per 1 minute"
    assert (await limiter.hit("acct:2")).allowed  # keys are independent


async def test_peek_consumes_nothing_and_check_raises_a_friendly_error() -> None:
    limiter = RateLimiter("2/hour")
    for _ in range(3):
        assert (await limiter.peek("k")).allowed
    peek = await limiter.peek("k")
    assert peek.remaining == 2
    await limiter.check("k")
    await limiter.check("k")
    with pytest.raises(RateLimited) as info:
        await limiter.check("k")
    assert isinstance(info.value, RateLimitedError)  # the command layer's friendly error
    assert 0 < info.value.retry_after <= 3600
    assert not (await limiter.peek("k")).allowed
    await limiter.reset("k")
    assert (await limiter.hit("k")).allowed


async def test_several_limits_the_tightest_one_denies() -> None:
    limiter = RateLimiter("2/minute;3/day")
    assert (await limiter.hit("k")).allowed
    assert (await limiter.hit("k")).allowed
    third = await limiter.hit("k")
    assert not third.allowed and third.limit == "2 per 1 minute"
    assert 0 < third.retry_after <= 60
    other = RateLimiter("5/minute;1/day")
    assert (await other.hit("k")).allowed
    denied = await other.hit("k")
    assert not denied.allowed and denied.limit == "1 per 1 day"


async def test_cost_counts_several_hits() -> None:
    limiter = RateLimiter("5/minute")
    assert (await limiter.hit("k", cost=4)).allowed
    assert not (await limiter.hit("k", cost=2)).allowed
    assert (await limiter.hit("k", cost=1)).allowed


def test_limits_storage_uri() -> None:
    assert limits_storage_uri("redis://h:6379/2") == "async+redis://h:6379/2"
    assert limits_storage_uri("rediss://:pw@h:6380") == "async+rediss://:pw@h:6380"
    assert limits_storage_uri("unix:///tmp/r.sock") == "async+redis+unix:///tmp/r.sock"
    assert limits_storage_uri("async+redis://h") == "async+redis://h"
    with pytest.raises(ValueError):
        limits_storage_uri("http://h")


@pytest.mark.redis
@pytest.mark.parametrize("implementation", ["coredis", "redispy"])
async def test_two_instances_sharing_redis_share_the_limit(
    redis_url: str, redis_prefix: str, implementation: str
) -> None:
    """Two limiters, each with its own Redis storage and connection (as two processes would
    have), under one key prefix: they share one budget. ``redis_prefix`` cleans up after."""
    uri = limits_storage_uri(redis_url)
    assert uri.startswith("async+redis://")

    def storage() -> RedisStorage:
        s = storage_from_string(uri, implementation=implementation, key_prefix=redis_prefix)
        assert isinstance(s, RedisStorage)
        return s

    s1, s2 = storage(), storage()
    a = RateLimiter("4/minute", storage=s1, namespace="llm")
    b = RateLimiter("4/minute", storage=s2, namespace="llm")
    try:
        assert await s1.check() and await s2.check()
        results = [await (a if i % 2 else b).hit("acct:7") for i in range(4)]
        assert all(r.allowed for r in results)
        denied_a, denied_b = await a.hit("acct:7"), await b.hit("acct:7")
        assert not denied_a.allowed and not denied_b.allowed
        assert 0 < denied_b.retry_after <= 60
        assert (await b.hit("acct:8")).allowed  # another key has its own budget
        await a.reset("acct:7")  # a reset through one instance frees the other too
        assert (await b.hit("acct:7")).allowed
    finally:
        await close_storage(s1)
        await close_storage(s2)


async def close_storage(storage: RedisStorage) -> None:
    """limits has no close(); close the client it built (redis.asyncio or coredis)."""
    client: Any = storage.bridge.storage
    if hasattr(client, "aclose"):
        await client.aclose()
    else:
        client.connection_pool.disconnect()


async def test_concurrency_cap_rejects_when_full_without_waiting() -> None:
    cap = ConcurrencyCap(2, wait_timeout=0)
    gate = asyncio.Event()

    async def work() -> None:
        async with cap.slot():
            await gate.wait()

    holders = [asyncio.create_task(work()) for _ in range(2)]
    await asyncio.sleep(0)
    assert cap.in_use == 2 and cap.available() == 0
    with pytest.raises(Overloaded) as info:
        async with cap.slot():
            pass
    assert isinstance(info.value, RateLimitedError)
    gate.set()
    await asyncio.gather(*holders)
    assert cap.in_use == 0
    async with cap.slot():  # free again
        assert cap.in_use == 1


async def test_concurrency_cap_waits_for_a_free_slot() -> None:
    cap = ConcurrencyCap(1)
    release = asyncio.Event()
    order: list[str] = []

    async def holder() -> None:
        async with cap.slot():
            order.append("holder")
            await release.wait()

    async def second() -> None:
        async with cap.slot():
            order.append("second")

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    s = asyncio.create_task(second())
    await asyncio.sleep(0)
    assert order == ["holder"]
    release.set()
    await asyncio.gather(h, s)
    assert order == ["holder", "second"]


async def test_concurrency_cap_per_key() -> None:
    cap = ConcurrencyCap(10, per_key=1, wait_timeout=0)
    async with cap.slot("acct:1"):
        with pytest.raises(Overloaded):
            async with cap.slot("acct:1"):
                pass
        async with cap.slot("acct:2"):  # another key still gets in
            assert cap.in_use == 2
    assert cap.in_use == 0
    assert cap._gates == {}  # per-key gates are dropped once unused
    async with cap.slot("acct:1"):
        pass


async def test_concurrency_cap_wait_timeout() -> None:
    cap = ConcurrencyCap(1, wait_timeout=0.01)
    async with cap.slot():
        with pytest.raises(Overloaded):
            async with cap.slot():
                pass
    assert cap.in_use == 0
