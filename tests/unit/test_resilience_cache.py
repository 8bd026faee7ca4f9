"""MemoryKV (LRU + TTL on a fake clock), ResponseCache and the JSON helpers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from core.models import Idea
from core.resilience import (
    JSON,
    CacheHit,
    FakeMonotonic,
    MemoryKV,
    ResponseCache,
    TypeCodec,
    dumps,
    loads,
    stable_key,
)


async def test_memorykv_ttl_expiry() -> None:
    clock = FakeMonotonic()
    kv = MemoryKV(clock=clock)
    await kv.set("a", b"1", ttl=10)
    await kv.set("forever", b"2")
    clock.advance(9.9)
    assert await kv.get("a") == b"1"
    clock.advance(0.1)
    assert await kv.get("a") is None
    assert await kv.get("forever") == b"2"
    assert len(kv) == 1


async def test_memorykv_lru_eviction_keeps_recently_used() -> None:
    kv = MemoryKV(max_entries=3, clock=FakeMonotonic())
    for k in "abc":
        await kv.set(k, k.encode())
    assert await kv.get("a") == b"a"  # a is now most recently used
    await kv.set("d", b"d")  # evicts b, the least recently used
    assert await kv.get("b") is None
    assert [await kv.get(k) for k in "acd"] == [b"a", b"c", b"d"]
    assert kv.evictions == 1
    await kv.set("c", b"C")  # overwrite refreshes recency, no eviction
    await kv.set("e", b"e")  # evicts a
    assert await kv.get("a") is None
    assert len(kv) == 3


async def test_memorykv_set_if_absent_delete_and_purge() -> None:
    clock = FakeMonotonic()
    kv = MemoryKV(clock=clock)
    assert await kv.set_if_absent("code", b"x", ttl=5)
    assert not await kv.set_if_absent("code", b"y", ttl=5)
    assert await kv.get("code") == b"x"
    clock.advance(5)
    assert await kv.set_if_absent("code", b"z")  # the old one expired
    await kv.delete("code")
    await kv.delete("missing")
    assert await kv.get("code") is None
    await kv.set("t1", b"1", ttl=1)
    await kv.set("t2", b"2", ttl=1)
    await kv.set("keep", b"3")
    clock.advance(2)
    assert kv.purge_expired() == 2
    assert len(kv) == 1
    await kv.set("gone", b"0", ttl=0)
    assert await kv.get("gone") is None
    with pytest.raises(TypeError):
        await kv.set("s", "not bytes")  # type: ignore[arg-type]


async def test_response_cache_hits_misses_and_none_values() -> None:
    seen: list[bool] = []
    cache = ResponseCache(MemoryKV(), namespace="llm", on_lookup=seen.append)
    assert await cache.get("q") is None
    await cache.set("q", {"answer": 42})
    hit = await cache.get("q")
    assert isinstance(hit, CacheHit) and hit.value == {"answer": 42}
    await cache.set("nothing", None)
    none_hit = await cache.get("nothing", JSON)
    assert none_hit is not None and none_hit.value is None  # a cached None is a hit
    assert (cache.hits, cache.misses) == (2, 1)
    assert seen == [False, True, True]
    assert await cache.store.get("llm:q") == b'{"answer":42}'


async def test_response_cache_ttl_and_typed_codec() -> None:
    clock = FakeMonotonic()
    cache = ResponseCache(MemoryKV(clock=clock), default_ttl=60)
    codec = TypeCodec(list[Idea])
    ideas = [
        Idea(
            title="Beach teaser",
            description="Golden hour",
            niche="fitness",
            content_type="photo",
            platform="instagram",
            location="beach",
        )
    ]
    await cache.set("ideas", ideas, codec)
    hit = await cache.get("ideas", codec)
    assert hit is not None and hit.value == ideas and isinstance(hit.value[0], Idea)
    await cache.set("short", "x", ttl=1)
    clock.advance(1)
    assert await cache.get("short") is None
    clock.advance(59)
    assert await cache.get("ideas", codec) is None


class BrokenStore:
    async def get(self, key: str) -> bytes | None:
        raise ConnectionError("redis down")

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        raise ConnectionError("redis down")

    async def delete(self, key: str) -> None:
        raise ConnectionError("redis down")

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        raise ConnectionError("redis down")


async def test_a_broken_store_counts_as_a_miss() -> None:
    cache = ResponseCache(BrokenStore())
    assert await cache.get("k") is None
    assert await cache.set("k", 1) is False
    assert (cache.misses, cache.errors) == (1, 2)


async def test_undecodable_entry_is_a_miss_and_is_dropped() -> None:
    kv = MemoryKV()
    cache = ResponseCache(kv, namespace="n")
    await kv.set("n:k", b"{not json")
    assert await cache.get("k") is None
    assert await kv.get("n:k") is None
    assert cache.errors == 1


def test_dumps_is_deterministic_and_handles_common_types() -> None:
    @dataclass
    class Point:
        x: int

    value = {
        "b": Decimal("9.99"),
        "a": datetime(2026, 1, 2, tzinfo=UTC),
        "s": {3, 1},
        "p": Point(1),
        "m": Idea(
            title="t", description="d", niche="n", content_type="c", platform="x", location="l"
        ),
    }
    data = dumps(value)
    assert data.startswith(b'{"a":"2026-01-02T00:00:00+00:00","b":"9.99"')
    assert loads(data)["p"] == {"x": 1}
    assert loads(data)["s"] == [1, 3]
    assert stable_key("m", {"x": 1, "y": 2}) == stable_key("m", {"y": 2, "x": 1})
    assert stable_key("m", 1) != stable_key("m", 2)
    with pytest.raises(TypeError):
        dumps(object())
