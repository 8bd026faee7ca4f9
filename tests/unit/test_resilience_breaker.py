"""Circuit breaker state machine, driven by a fake clock."""

from __future__ import annotations

import pytest

from core.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    FakeMonotonic,
    UpstreamError,
    UpstreamTimeout,
)


def make(clock: FakeMonotonic, **kw: object) -> tuple[CircuitBreaker, list[BreakerState]]:
    changes: list[BreakerState] = []
    params: dict[str, object] = {"failure_threshold": 3, "recovery_timeout": 10.0}
    params.update(kw)
    breaker = CircuitBreaker("llm", clock=clock, **params)  # type: ignore[arg-type]
    breaker.add_listener(lambda name, state: changes.append(state))
    return breaker, changes


async def fail(breaker: CircuitBreaker, exc: BaseException) -> None:
    async def boom() -> None:
        raise exc

    with pytest.raises(type(exc)):
        await breaker.call(boom)


async def ok(breaker: CircuitBreaker) -> str:
    async def fine() -> str:
        return "fine"

    return await breaker.call(fine)


async def test_opens_after_threshold_transient_failures_and_fails_fast() -> None:
    clock = FakeMonotonic()
    breaker, changes = make(clock)
    await fail(breaker, UpstreamError(500))
    await fail(breaker, UpstreamTimeout())
    assert breaker.state is BreakerState.closed
    assert breaker.failures == 2
    await fail(breaker, ConnectionResetError("reset"))  # connection errors count too
    assert breaker.state is BreakerState.open
    assert changes == [BreakerState.open]

    calls = 0

    async def upstream() -> str:
        nonlocal calls
        calls += 1
        return "x"

    clock.advance(4.0)
    with pytest.raises(CircuitOpen) as info:
        await breaker.call(upstream)
    assert calls == 0
    assert info.value.retry_in == pytest.approx(6.0)
    assert info.value.name == "llm"


async def test_success_resets_consecutive_count() -> None:
    breaker, _ = make(FakeMonotonic())
    await fail(breaker, UpstreamError(503))
    await fail(breaker, UpstreamError(502))
    assert await ok(breaker) == "fine"
    await fail(breaker, UpstreamError(500))
    await fail(breaker, UpstreamError(500))
    assert breaker.state is BreakerState.closed


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422, 429])
async def test_client_errors_and_429_never_open(status: int) -> None:
    breaker, changes = make(FakeMonotonic(), failure_threshold=2)
    for _ in range(10):
        await fail(breaker, UpstreamError(status, retry_after=1.0))
    assert breaker.state is BreakerState.closed
    assert breaker.failures == 0
    assert changes == []


async def test_unclassified_exceptions_are_neutral() -> None:
    breaker, _ = make(FakeMonotonic(), failure_threshold=1)
    await fail(breaker, KeyError("bug"))
    assert breaker.state is BreakerState.closed


async def test_half_open_after_recovery_then_closes_on_success() -> None:
    clock = FakeMonotonic()
    breaker, changes = make(clock)
    breaker.trip()
    clock.advance(9.99)
    assert breaker.state is BreakerState.open
    clock.advance(0.01)
    assert breaker.state is BreakerState.half_open
    assert await ok(breaker) == "fine"
    assert breaker.state is BreakerState.closed
    assert changes == [BreakerState.open, BreakerState.half_open, BreakerState.closed]


async def test_half_open_reopens_on_failure_with_a_fresh_timeout() -> None:
    clock = FakeMonotonic()
    breaker, changes = make(clock)
    for _ in range(3):
        await fail(breaker, UpstreamError(500))
    clock.advance(10.0)
    await fail(breaker, UpstreamTimeout())
    assert breaker.state is BreakerState.open
    assert changes == [BreakerState.open, BreakerState.half_open, BreakerState.open]
    clock.advance(9.0)
    with pytest.raises(CircuitOpen):
        await ok(breaker)
    clock.advance(1.0)
    assert await ok(breaker) == "fine"
    assert breaker.state is BreakerState.closed


async def test_half_open_admits_limited_trials() -> None:
    clock = FakeMonotonic()
    breaker, _ = make(clock, half_open_max_calls=2)
    breaker.trip()
    clock.advance(10.0)
    t1 = breaker.acquire()
    t2 = breaker.acquire()
    with pytest.raises(CircuitOpen):
        breaker.acquire()  # both trial slots taken
    breaker.record_success(t1)
    assert breaker.state is BreakerState.half_open  # needs two successful trials
    t3 = breaker.acquire()  # t1's slot is free again
    breaker.record_success(t2)
    assert breaker.state is BreakerState.closed
    breaker.record_failure(t3, UpstreamError(500))  # stale: admitted in the half-open epoch
    assert breaker.state is BreakerState.closed
    assert breaker.failures == 0


async def test_neutral_outcome_in_half_open_frees_the_slot() -> None:
    clock = FakeMonotonic()
    breaker, _ = make(clock)
    breaker.trip()
    clock.advance(10.0)
    await fail(breaker, UpstreamError(401))  # says nothing about health
    assert breaker.state is BreakerState.half_open
    assert await ok(breaker) == "fine"
    assert breaker.state is BreakerState.closed


async def test_stale_success_does_not_close_an_open_breaker() -> None:
    clock = FakeMonotonic()
    breaker, _ = make(clock, failure_threshold=1)
    slow = breaker.acquire()  # a slow call admitted while closed
    breaker.record_failure(breaker.acquire(), UpstreamError(500))
    assert breaker.state is BreakerState.open
    breaker.record_success(slow)
    assert breaker.state is BreakerState.open


async def test_listener_errors_do_not_break_calls() -> None:
    clock = FakeMonotonic()
    breaker = CircuitBreaker("s3", failure_threshold=1, recovery_timeout=1.0, clock=clock)

    def bad(name: str, state: BreakerState) -> None:
        raise RuntimeError("metrics down")

    breaker.add_listener(bad)
    await fail(breaker, UpstreamError(500))
    assert breaker.state is BreakerState.open
    breaker.reset()
    assert breaker.state is BreakerState.closed


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker("x", failure_threshold=0)
    with pytest.raises(ValueError):
        CircuitBreaker("x", half_open_max_calls=0)
