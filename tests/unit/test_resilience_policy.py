"""Policy: the composed stack, in memory and end to end against the fake OpenAI server."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import openai
import pytest

from core.resilience import (
    BreakerState,
    CircuitBreaker,
    CircuitOpen,
    ConcurrencyCap,
    FakeMonotonic,
    MemoryKV,
    Overloaded,
    Policy,
    PolicyResult,
    ResponseCache,
    Retry,
    UpstreamError,
    UpstreamTimeout,
    retry_after_from_headers,
)
from tests.fakes.openai_server import Behaviour, FakeOpenAI


class Observer:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self.states: list[tuple[str, str]] = []
        self.cache: list[bool] = []

    def on_call(self, outcome: str, latency: float) -> None:
        assert latency >= 0
        self.calls.append(outcome)

    def on_breaker_state(self, name: str, state: str) -> None:
        self.states.append((name, state))

    def on_cache(self, hit: bool) -> None:
        self.cache.append(hit)


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(float(seconds))


def make_policy(
    *,
    observer: Observer | None = None,
    sleeps: Sleeps | None = None,
    clock: FakeMonotonic | None = None,
    attempts: int = 3,
    threshold: int = 3,
    **kw: Any,
) -> Policy[Any]:
    clock = clock or FakeMonotonic()
    return Policy(
        "llm",
        breaker=CircuitBreaker(
            "llm", failure_threshold=threshold, recovery_timeout=30, clock=clock
        ),
        retry=Retry(
            max_attempts=attempts,
            initial_wait=0.001,
            max_wait=5.0,
            rng=random.Random(0),
            sleep=sleeps or Sleeps(),
        ),
        observer=observer,
        clock=clock,
        **kw,
    )


def upstream(*steps: BaseException | str) -> tuple[Callable[[], Awaitable[str]], list[int]]:
    calls = [0]

    async def fn() -> str:
        step = steps[min(calls[0], len(steps) - 1)]
        calls[0] += 1
        if isinstance(step, BaseException):
            raise step
        return step

    return fn, calls


# ---------------------------------------------------------------------- in memory


async def test_success_path() -> None:
    obs = Observer()
    policy = make_policy(observer=obs)
    fn, calls = upstream("hello")
    result = await policy.call("k", fn, fallback="offline")
    assert result == PolicyResult("hello", degraded=False, cached=False, attempts=1, error=None)
    assert calls[0] == 1
    assert obs.calls == ["ok"]
    assert policy.in_flight == 0


async def test_hundred_identical_concurrent_calls_make_one_upstream_call() -> None:
    policy = make_policy()
    release = asyncio.Event()
    calls = 0

    async def slow() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "shared"

    tasks = [asyncio.create_task(policy.call("same", slow)) for _ in range(100)]
    await asyncio.sleep(0)
    assert policy.in_flight == 1
    release.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert {r.value for r in results} == {"shared"}
    assert all(r.attempts == 1 for r in results)


async def test_coalescing_shares_retries_and_failures_but_fallbacks_are_per_caller() -> None:
    sleeps = Sleeps()
    policy = make_policy(sleeps=sleeps, attempts=2, threshold=10)
    fn, calls = upstream(UpstreamError(500), UpstreamError(503))
    results = await asyncio.gather(
        policy.call("k", fn, fallback="a"), policy.call("k", fn, fallback=lambda e: "b")
    )
    assert calls[0] == 2  # one retried call for both callers
    assert [r.value for r in results] == ["a", "b"]
    assert all(r.degraded and r.attempts == 2 for r in results)
    assert isinstance(results[0].error, UpstreamError) and results[0].error.status == 503
    assert len(sleeps.waits) == 1


async def test_cancelling_one_coalesced_caller_leaves_the_others_with_the_result() -> None:
    policy = make_policy()
    release = asyncio.Event()
    cancelled = 0

    async def slow() -> str:
        nonlocal cancelled
        try:
            await release.wait()
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return "v"

    tasks = [asyncio.create_task(policy.call("k", slow)) for _ in range(3)]
    await asyncio.sleep(0)
    tasks[0].cancel()
    await asyncio.sleep(0)
    release.set()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    assert [o.value for o in outcomes[1:]] == ["v", "v"]  # type: ignore[union-attr]
    assert cancelled == 0


async def test_cache_hit_makes_no_upstream_call_and_failures_are_not_cached() -> None:
    obs = Observer()
    cache = ResponseCache(MemoryKV(), namespace="llm")
    policy = make_policy(observer=obs, cache=cache, attempts=1)
    bad, bad_calls = upstream(UpstreamError(500))
    degraded = await policy.call("q", bad, fallback="offline")
    assert degraded.degraded
    fn, calls = upstream("fresh")
    first = await policy.call("q", fn)
    second = await policy.call("q", fn)
    assert (first.cached, second.cached) == (False, True)
    assert second.value == "fresh" and second.attempts == 0
    assert calls[0] == 1 and bad_calls[0] == 1
    assert obs.cache == [False, False, True]
    assert obs.calls == ["fallback", "ok", "cached"]
    no_cache = await policy.call("q", fn, use_cache=False)
    assert not no_cache.cached and calls[0] == 2


async def test_open_breaker_gives_the_fallback_without_calling_upstream() -> None:
    obs = Observer()
    clock = FakeMonotonic()
    policy = make_policy(observer=obs, clock=clock, attempts=1, threshold=2)
    fn, calls = upstream(UpstreamTimeout(), UpstreamTimeout(), "back")
    for _ in range(2):
        assert (await policy.call(None, fn, fallback="offline")).degraded
    assert obs.states == [("llm", "open")]
    result = await policy.call(None, fn, fallback="offline")
    assert result.degraded and result.value == "offline" and result.attempts == 0
    assert isinstance(result.error, CircuitOpen)
    assert calls[0] == 2
    clock.advance(30)
    recovered = await policy.call(None, fn, fallback="offline")
    assert recovered.value == "back" and not recovered.degraded
    assert obs.states == [("llm", "open"), ("llm", "half_open"), ("llm", "closed")]


async def test_without_fallback_the_normalised_error_is_raised() -> None:
    obs = Observer()
    policy = make_policy(observer=obs, attempts=2)
    original = ConnectionResetError("peer reset")
    fn, calls = upstream(original)
    with pytest.raises(UpstreamError) as info:
        await policy.call("k", fn)
    assert info.value.transient and info.value.__cause__ is original
    assert calls[0] == 2
    assert obs.calls == ["error"]


async def test_unclassified_errors_propagate_even_with_a_fallback() -> None:
    policy = make_policy()
    fn, calls = upstream(KeyError("bug"))
    with pytest.raises(KeyError):
        await policy.call("k", fn, fallback="offline")
    assert calls[0] == 1
    assert policy.breaker is not None and policy.breaker.failures == 0


async def test_async_fallback_receives_the_error() -> None:
    policy = make_policy(attempts=1)
    seen: list[BaseException] = []

    async def offline(err: BaseException) -> str:
        seen.append(err)
        return "offline draft"

    fn, _ = upstream(UpstreamError(401))
    result = await policy.call("k", fn, fallback=offline)
    assert result.value == "offline draft" and result.degraded
    assert seen == [result.error]


async def test_full_concurrency_cap_falls_back() -> None:
    cap = ConcurrencyCap(1, wait_timeout=0)
    policy = make_policy(cap=cap)
    release = asyncio.Event()

    async def slow() -> str:
        await release.wait()
        return "slow"

    first = asyncio.create_task(policy.call("a", slow))
    await asyncio.sleep(0)
    fn, calls = upstream("b")
    busy = await policy.call("b", fn, fallback="later")
    assert busy.degraded and isinstance(busy.error, Overloaded) and calls[0] == 0
    release.set()
    assert (await first).value == "slow"


async def test_timeout_per_attempt() -> None:
    policy = make_policy(attempts=2, timeout=0.01)

    async def never() -> str:
        await asyncio.Event().wait()
        return "unreachable"

    result = await policy.call("k", never, fallback="offline")
    assert result.degraded and result.attempts == 2
    assert isinstance(result.error, UpstreamTimeout)
    assert policy.breaker is not None and policy.breaker.failures == 2


# ---------------------------------------------------------------------- end to end


def classify_openai(exc: BaseException) -> UpstreamError | None:
    """What core/llm will do for the openai SDK (kept here for the test)."""
    if isinstance(exc, openai.APITimeoutError):
        return UpstreamTimeout()
    if isinstance(exc, openai.APIConnectionError):
        return UpstreamError(None, transient=True, message="connection error")
    if isinstance(exc, openai.APIStatusError):
        return UpstreamError(
            exc.status_code,
            retry_after=retry_after_from_headers(exc.response.headers),
            message=exc.message,
        )
    return None


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI(default=Behaviour.reply_json({"caption": "ok"})) as s:
        yield s


@pytest.fixture
async def client(server: FakeOpenAI) -> AsyncIterator[openai.AsyncOpenAI]:
    c = openai.AsyncOpenAI(base_url=server.base_url, api_key="sk-test", max_retries=0, timeout=10)
    yield c
    await c.close()


def e2e_policy(sleeps: Sleeps, **kw: Any) -> Policy[str]:
    return Policy(
        "llm",
        timeout=kw.pop("timeout", 5.0),
        breaker=CircuitBreaker("llm", failure_threshold=5, recovery_timeout=30),
        retry=Retry(
            max_attempts=3, initial_wait=0.001, max_wait=5.0, rng=random.Random(1), sleep=sleeps
        ),
        classifier=classify_openai,
        **kw,
    )


def ask(client: openai.AsyncOpenAI, text: str = "caption please") -> Callable[[], Awaitable[str]]:
    async def fn() -> str:
        resp = await client.chat.completions.create(
            model="fake-gpt-4o-mini", messages=[{"role": "user", "content": text}]
        )
        return resp.choices[0].message.content or ""

    return fn


async def test_e2e_ok(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    sleeps = Sleeps()
    result = await e2e_policy(sleeps).call("k", ask(client), fallback="offline")
    assert result.value == '{"caption": "ok"}'
    assert (result.degraded, result.attempts, server.calls, sleeps.waits) == (False, 1, 1, [])


async def test_e2e_500_then_ok(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    server.enqueue(Behaviour.server_error(), Behaviour.reply("second time lucky"))
    sleeps = Sleeps()
    policy = e2e_policy(sleeps)
    result = await policy.call("k", ask(client), fallback="offline")
    assert result.value == "second time lucky" and not result.degraded
    assert result.attempts == 2 and server.calls == 2
    assert len(sleeps.waits) == 1 and 0 <= sleeps.waits[0] <= 0.001
    assert policy.breaker is not None and policy.breaker.failures == 0


async def test_e2e_429_honours_retry_after(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    server.enqueue(
        Behaviour.rate_limited(retry_after=3),
        Behaviour.rate_limited(retry_after=None, retry_after_ms=250),
    )
    sleeps = Sleeps()
    policy = e2e_policy(sleeps)
    result = await policy.call("k", ask(client), fallback="offline")
    assert result.value == '{"caption": "ok"}' and result.attempts == 3
    assert sleeps.waits == [3.0, 0.25]
    assert policy.breaker is not None and policy.breaker.state is BreakerState.closed


async def test_e2e_hang_times_out_then_falls_back(
    server: FakeOpenAI, client: openai.AsyncOpenAI
) -> None:
    server.set_default(Behaviour.hang())
    sleeps = Sleeps()
    policy = e2e_policy(sleeps, timeout=0.05)
    result = await policy.call("k", ask(client), fallback="offline")
    assert result.degraded and result.value == "offline"
    assert isinstance(result.error, UpstreamTimeout)
    assert result.attempts == 3 and server.calls == 3
    assert policy.breaker is not None and policy.breaker.failures == 3


async def test_e2e_401_falls_back_at_once(server: FakeOpenAI, client: openai.AsyncOpenAI) -> None:
    server.enqueue(Behaviour.unauthorized())
    sleeps = Sleeps()
    policy = e2e_policy(sleeps)
    result = await policy.call("k", ask(client), fallback="offline")
    assert result.degraded and result.value == "offline"
    assert isinstance(result.error, UpstreamError) and result.error.status == 401
    assert isinstance(result.error.__cause__, openai.AuthenticationError)
    assert (result.attempts, server.calls, sleeps.waits) == (1, 1, [])
    assert policy.breaker is not None and policy.breaker.failures == 0


async def test_e2e_dropped_connection_is_retried(
    server: FakeOpenAI, client: openai.AsyncOpenAI
) -> None:
    server.enqueue(Behaviour.drop())
    result = await e2e_policy(Sleeps()).call("k", ask(client))
    assert result.value == '{"caption": "ok"}' and result.attempts == 2 and server.calls == 2


async def test_e2e_hundred_identical_calls_one_request(
    server: FakeOpenAI, client: openai.AsyncOpenAI
) -> None:
    cache = ResponseCache(MemoryKV(), namespace="llm")
    policy = e2e_policy(Sleeps(), cache=cache)
    results = await asyncio.gather(*(policy.call("same", ask(client)) for _ in range(100)))
    assert server.calls == 1
    assert {r.value for r in results} == {'{"caption": "ok"}'}
    again = await policy.call("same", ask(client))
    assert again.cached and server.calls == 1


async def test_deadline_bounds_the_whole_retried_call() -> None:
    sleeps_real = Retry(max_attempts=5, initial_wait=10.0, max_wait=10.0, rng=random.Random(0))
    policy: Policy[str] = Policy("llm", timeout=1.0, retry=sleeps_real, deadline=0.02)
    fn, calls = upstream(UpstreamError(503), "late")
    result = await policy.call("k", fn, fallback="offline")
    assert result.degraded and isinstance(result.error, UpstreamTimeout)
    assert calls[0] == 1  # the 10 s backoff was cut short by the deadline
