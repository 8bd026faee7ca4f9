"""``KeyValueStore`` implementations through the shared contract (``kv_contract.py``).

RedisKV runs against a real Redis; time passes for real there (TTL tests sleep < 2 s in total).
MemoryKV (core/resilience/cache.py) runs on a clock moved by hand.
"""

from __future__ import annotations

import asyncio

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from core.errors import ServiceUnavailable
from core.resilience.cache import MemoryKV
from core.resilience.clock import FakeMonotonic
from storage.cache import RedisKV
from tests.contract.kv_contract import KVContract, KVHarness
from tests.services import free_port


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class TestMemoryKV(KVContract):
    @pytest.fixture
    def kv_harness(self) -> KVHarness:
        clock = FakeMonotonic(1000.0)

        async def advance(seconds: float) -> None:
            clock.advance(seconds)

        return KVHarness(MemoryKV(max_entries=1000, clock=clock), advance)


@pytest.mark.redis
class TestRedisKV(KVContract):
    @pytest.fixture
    def kv_harness(self, redis_client: Redis, redis_prefix: str) -> KVHarness:
        return KVHarness(RedisKV(redis_client, prefix=redis_prefix), _sleep)


@pytest.mark.redis
async def test_redis_kv_stores_under_its_prefix(redis_client: Redis, redis_prefix: str) -> None:
    one = RedisKV(redis_client, prefix=redis_prefix + "one:")
    two = RedisKV(redis_client, prefix=redis_prefix + "two:")
    await one.set("k", b"1", ttl=60)
    assert await two.get("k") is None
    assert await redis_client.get(redis_prefix + "one:k") == b"1"
    ttl_ms = await redis_client.pttl(redis_prefix + "one:k")
    assert 0 < ttl_ms <= 60_000
    assert await one.ping() is True


async def test_unreachable_redis_is_service_unavailable() -> None:
    client = Redis(
        host="127.0.0.1", port=free_port(), socket_connect_timeout=1, retry=Retry(NoBackoff(), 0)
    )
    kv = RedisKV(client, prefix="x:")
    try:
        assert await kv.ping() is False
        with pytest.raises(ServiceUnavailable):
            await kv.get("k")
        with pytest.raises(ServiceUnavailable):
            await kv.set_if_absent("k", b"v", ttl=1)
    finally:
        await client.aclose()


def test_ttl_to_milliseconds() -> None:
    from storage.cache import _ttl_ms

    assert _ttl_ms(None) is None
    assert _ttl_ms(0.0001) == 1
    assert _ttl_ms(1.5) == 1500
