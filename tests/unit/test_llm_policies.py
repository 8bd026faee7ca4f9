"""The policy module: specs per dependency, the composed policies, the lean memory storage."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from limits.aio.storage import MemoryStorage

from core.llm.gateway import LLMAnswer, Prices
from core.llm.offline import OfflineEngine
from core.llm.policies import (
    SPECS,
    LeanMemoryStorage,
    build_llm_generator,
    build_llm_policy,
    build_policy,
    llm_spec,
    memory_limits_storage,
)
from core.resilience import CircuitOpen, RateLimiter, UpstreamError
from tests.fakes.clock import FakeClock


def test_llm_spec_follows_the_settings() -> None:
    spec = llm_spec(timeout=20.0, max_retries=2, concurrency=8)
    assert spec.max_attempts == 3 and spec.timeout == 20.0 and spec.deadline == 40.0
    assert spec.concurrency == 8 and spec.failure_threshold == 5
    assert not spec.coalesce  # the gateway coalesces around the whole call
    short = llm_spec(timeout=1.0, max_retries=0, concurrency=2, failure_threshold=2)
    assert short.max_attempts == 1 and short.deadline == 6.0 and short.failure_threshold == 2


def test_every_dependency_has_a_spec_and_creators_are_not_coalesced() -> None:
    assert set(SPECS) == {"llm", "stripe", "s3", "chat_send"}
    assert not SPECS["stripe"].coalesce and not SPECS["chat_send"].coalesce
    for spec in SPECS.values():
        policy = build_policy(spec, rng=random.Random(0))
        assert policy.name == spec.name and policy.timeout == spec.timeout
        assert policy.breaker is not None and policy.retry is not None
        assert policy.breaker.failure_threshold == spec.failure_threshold
        assert policy.retry.max_attempts == spec.max_attempts


async def test_built_policy_breaker_uses_the_injected_clock() -> None:
    clock = FakeClock()
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    spec = llm_spec(timeout=1.0, max_retries=1, concurrency=2, failure_threshold=2)
    policy = build_llm_policy(spec, clock=clock, rng=random.Random(1), sleep=sleep)
    calls = [0]

    async def down() -> LLMAnswer:
        calls[0] += 1
        raise UpstreamError(503)

    result = await policy.call("k", down, fallback=LLMAnswer(data={}, model=""))
    assert result.degraded and calls[0] == 2 and len(waits) == 1
    again = await policy.call("k2", down, fallback=LLMAnswer(data={}, model=""))
    assert isinstance(again.error, CircuitOpen) and calls[0] == 2
    clock.advance(30)
    ok = LLMAnswer(data={"a": 1}, model="m")

    async def up() -> LLMAnswer:
        return ok

    back = await policy.call("k3", up)
    assert back.value == ok and not back.degraded
    cached = await policy.call("k3", down)
    assert cached.cached and cached.value == ok  # the cache decodes the checked answer


def test_prices() -> None:
    prices = Prices(Decimal("0.15"), Decimal("0.60"))
    assert prices.cost(1000, 1000) == Decimal("0.750000")
    assert prices.cost(333, 7) == Decimal("0.054150")
    assert Prices().cost(10**6, 10**6) == 0


async def test_no_key_and_no_base_url_means_the_offline_engine() -> None:
    offline = OfflineEngine()
    setup = build_llm_generator(
        api_key=None,
        base_url=None,
        model="m",
        timeout=1.0,
        max_retries=0,
        price_prompt_per_1k=Decimal(0),
        price_completion_per_1k=Decimal(0),
        concurrency=1,
        cache_ttl=0,
        rate_limit="5/minute",
        usage=None,  # type: ignore[arg-type]  # never used offline
        clock=FakeClock(),
        offline=offline,
    )
    assert setup.generator is offline and setup.gateway is None and setup.limiter is None
    await setup.aclose()


@pytest.mark.parametrize("strategy", ["moving-window", "fixed-window", "sliding-window-counter"])
async def test_lean_memory_storage_enforces_limits_and_sweeps_rarely(strategy: str) -> None:
    storage = memory_limits_storage()
    assert isinstance(storage, LeanMemoryStorage)
    limiter = RateLimiter("3/minute", storage=storage, strategy=strategy)  # type: ignore[arg-type]
    for key in range(50):
        decisions = [await limiter.hit(f"acct:{key}") for _ in range(4)]
        assert [d.allowed for d in decisions] == [True, True, True, False]
    assert storage.sweeps == 1  # the stock storage sweeps every key after every hit


async def test_lean_memory_storage_still_sweeps_when_due() -> None:
    assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry")  # the hook we throttle
    storage = LeanMemoryStorage(sweep_interval=0.0)
    limiter = RateLimiter("3/minute", storage=storage)
    for _ in range(3):
        await limiter.hit("k")
    assert storage.sweeps == 3
