"""The ``KeyValueStore`` contract, written once for every implementation.

Use it by subclassing ``KVContract`` in a ``test_*.py`` module and providing a ``kv_harness``
fixture that returns a ``KVHarness``: the store under test, plus ``advance(seconds)``, an async
function that lets that much time pass *for the store* (real sleeping for Redis, moving a
fake clock for an in-memory store)::

    class TestMemoryKV(KVContract):
        @pytest.fixture
        def kv_harness(self) -> KVHarness:
            clock = FakeMonotonic()

            async def advance(seconds: float) -> None:
                clock.advance(seconds)

            return KVHarness(MemoryKV(clock=clock), advance)

Every key a test uses starts with the harness ``prefix`` (empty by default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import pytest

from core.ports import KeyValueStore

SHORT_TTL = 0.2  # seconds
PAST_SHORT_TTL = 0.45


@dataclass
class KVHarness:
    kv: KeyValueStore
    advance: Callable[[float], Awaitable[None]]
    prefix: str = ""

    def key(self, name: str) -> str:
        return self.prefix + name


class KVContract:
    """Behaviour every ``KeyValueStore`` must have. Subclasses provide ``kv_harness``."""

    @pytest.fixture
    def kv_harness(self) -> KVHarness:  # pragma: no cover - always overridden
        raise NotImplementedError

    async def test_missing_key_is_none(self, kv_harness: KVHarness) -> None:
        assert await kv_harness.kv.get(kv_harness.key("nothing")) is None

    async def test_set_get_bytes(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("bytes")
        value = b"\x00\xff dialog state \xe2\x9c\x93"
        await kv.set(key, value)
        assert await kv.get(key) == value

    async def test_set_overwrites(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("over")
        await kv.set(key, b"one")
        await kv.set(key, b"two")
        assert await kv.get(key) == b"two"

    async def test_keys_are_independent(self, kv_harness: KVHarness) -> None:
        kv = kv_harness.kv
        await kv.set(kv_harness.key("a"), b"1")
        await kv.set(kv_harness.key("b"), b"2")
        await kv.delete(kv_harness.key("a"))
        assert await kv.get(kv_harness.key("a")) is None
        assert await kv.get(kv_harness.key("b")) == b"2"

    async def test_delete(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("del")
        await kv.set(key, b"x")
        await kv.delete(key)
        assert await kv.get(key) is None
        await kv.delete(key)  # deleting a missing key is fine

    async def test_set_if_absent(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("nx")
        assert await kv.set_if_absent(key, b"first") is True
        assert await kv.set_if_absent(key, b"second") is False
        assert await kv.get(key) == b"first"
        await kv.delete(key)
        assert await kv.set_if_absent(key, b"third") is True
        assert await kv.get(key) == b"third"

    async def test_set_if_absent_has_one_winner(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("race")
        results = await asyncio.gather(*(kv.set_if_absent(key, str(i).encode()) for i in range(20)))
        assert results.count(True) == 1
        winner = results.index(True)
        assert await kv.get(key) == str(winner).encode()

    async def test_ttl_expires(self, kv_harness: KVHarness) -> None:
        kv = kv_harness.kv
        await kv.set(kv_harness.key("short"), b"s", ttl=SHORT_TTL)
        await kv.set(kv_harness.key("long"), b"l", ttl=3600)
        await kv.set(kv_harness.key("forever"), b"f")
        assert await kv.get(kv_harness.key("short")) == b"s"
        await kv_harness.advance(PAST_SHORT_TTL)
        assert await kv.get(kv_harness.key("short")) is None
        assert await kv.get(kv_harness.key("long")) == b"l"
        assert await kv.get(kv_harness.key("forever")) == b"f"

    async def test_set_without_ttl_clears_the_old_ttl(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("keep")
        await kv.set(key, b"temporary", ttl=SHORT_TTL)
        await kv.set(key, b"permanent")
        await kv_harness.advance(PAST_SHORT_TTL)
        assert await kv.get(key) == b"permanent"

    async def test_non_positive_ttl_is_already_expired(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("gone")
        await kv.set(key, b"x")
        await kv.set(key, b"y", ttl=0)
        assert await kv.get(key) is None

    async def test_set_if_absent_with_ttl(self, kv_harness: KVHarness) -> None:
        kv, key = kv_harness.kv, kv_harness.key("lock")
        assert await kv.set_if_absent(key, b"holder-1", ttl=SHORT_TTL) is True
        assert await kv.set_if_absent(key, b"holder-2", ttl=SHORT_TTL) is False
        await kv_harness.advance(PAST_SHORT_TTL)
        # The first holder's claim expired: a new one can take it.
        assert await kv.set_if_absent(key, b"holder-2", ttl=SHORT_TTL) is True
        assert await kv.get(key) == b"holder-2"
