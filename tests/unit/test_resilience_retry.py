"""Retry: backoff with full jitter, Retry-After, which errors are retried."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from core.resilience import CircuitOpen, Retry, UpstreamError, UpstreamTimeout


class Recorder:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(float(seconds))


def script(*steps: BaseException | str) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    """An upstream that fails or answers per step; counts its calls."""
    calls = [0]

    async def fn() -> str:
        step = steps[min(calls[0], len(steps) - 1)]
        calls[0] += 1
        if isinstance(step, BaseException):
            raise step
        return step

    return fn, calls


async def test_retries_transient_errors_until_success() -> None:
    sleep = Recorder()
    retry = Retry(max_attempts=4, initial_wait=0.1, max_wait=5.0, rng=random.Random(1), sleep=sleep)
    fn, calls = script(UpstreamError(500), UpstreamTimeout(), ConnectionError("x"), "ok")
    assert await retry.call(fn) == "ok"
    assert calls[0] == 4
    assert len(sleep.waits) == 3
    # full jitter: each wait is within [0, initial * 2**(n-1)]
    for n, wait in enumerate(sleep.waits, start=1):
        assert 0.0 <= wait <= 0.1 * 2 ** (n - 1)


async def test_honours_retry_after_over_computed_wait() -> None:
    sleep = Recorder()
    retry = Retry(max_attempts=3, initial_wait=0.01, max_wait=5.0, sleep=sleep)
    fn, calls = script(
        UpstreamError(429, retry_after=2.5), UpstreamError(503, retry_after=0.75), "ok"
    )
    assert await retry.call(fn) == "ok"
    assert sleep.waits == [2.5, 0.75]
    assert calls[0] == 3


async def test_retry_after_is_capped_by_max_wait() -> None:
    sleep = Recorder()
    retry = Retry(max_attempts=2, initial_wait=0.01, max_wait=1.5, sleep=sleep)
    fn, _ = script(UpstreamError(429, retry_after=60.0), "ok")
    assert await retry.call(fn) == "ok"
    assert sleep.waits == [1.5]


async def test_exhausted_attempts_raise_the_last_error() -> None:
    sleep = Recorder()
    retry = Retry(max_attempts=3, initial_wait=0.0, sleep=sleep)
    last = UpstreamError(502)
    fn, calls = script(UpstreamError(500), UpstreamError(500), last)
    with pytest.raises(UpstreamError) as info:
        await retry.call(fn)
    assert info.value is last
    assert calls[0] == 3
    assert len(sleep.waits) == 2


@pytest.mark.parametrize(
    "exc",
    [UpstreamError(400), UpstreamError(401), UpstreamError(404), UpstreamError(422)],
)
async def test_client_errors_are_not_retried(exc: UpstreamError) -> None:
    sleep = Recorder()
    retry = Retry(max_attempts=5, sleep=sleep)
    fn, calls = script(exc, "ok")
    with pytest.raises(UpstreamError):
        await retry.call(fn)
    assert calls[0] == 1
    assert sleep.waits == []


async def test_circuit_open_and_bugs_are_not_retried() -> None:
    sleep = Recorder()
    retry = Retry(max_attempts=5, sleep=sleep)
    fn, calls = script(CircuitOpen("llm", 3.0), "ok")
    with pytest.raises(CircuitOpen):
        await retry.call(fn)
    fn2, calls2 = script(ValueError("bug"), "ok")
    with pytest.raises(ValueError):
        await retry.call(fn2)
    assert (calls[0], calls2[0], sleep.waits) == (1, 1, [])


async def test_backoff_grows_and_is_capped() -> None:
    sleep = Recorder()

    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:  # always the top of the range
            return b

    retry = Retry(
        max_attempts=6, initial_wait=0.5, multiplier=2.0, max_wait=3.0, rng=Top(), sleep=sleep
    )
    fn, _ = script(*([UpstreamError(500)] * 5), "ok")
    assert await retry.call(fn) == "ok"
    assert sleep.waits == [0.5, 1.0, 2.0, 3.0, 3.0]


async def test_same_seed_same_waits() -> None:
    async def run(seed: int) -> list[float]:
        sleep = Recorder()
        retry = Retry(max_attempts=4, initial_wait=1.0, rng=random.Random(seed), sleep=sleep)
        fn, _ = script(UpstreamError(500), UpstreamError(500), UpstreamError(500), "ok")
        await retry.call(fn)
        return sleep.waits

    assert await run(7) == await run(7)
    assert await run(7) != await run(8)


async def test_on_retry_hook_sees_attempt_error_and_wait() -> None:
    seen: list[tuple[int, int | None, float]] = []
    retry = Retry(
        max_attempts=3,
        sleep=Recorder(),
        on_retry=lambda n, exc, wait: seen.append((n, getattr(exc, "status", None), wait)),
    )
    fn, _ = script(UpstreamError(429, retry_after=0.2), UpstreamError(500, retry_after=0.3), "ok")
    await retry.call(fn)
    assert seen == [(1, 429, 0.2), (2, 500, 0.3)]


async def test_single_attempt_does_not_retry() -> None:
    retry = Retry(max_attempts=1, sleep=Recorder())
    fn, calls = script(UpstreamError(500), "ok")
    with pytest.raises(UpstreamError):
        await retry.call(fn)
    assert calls[0] == 1


async def test_concurrent_calls_share_one_retry_object() -> None:
    retry = Retry(max_attempts=3, initial_wait=0.001, max_wait=0.002, rng=random.Random(3))
    fns = [script(UpstreamError(500), f"r{i}") for i in range(20)]
    results = await asyncio.gather(*(retry.call(fn) for fn, _ in fns))
    assert results == [f"r{i}" for i in range(20)]
    assert all(calls[0] == 2 for _, calls in fns)
