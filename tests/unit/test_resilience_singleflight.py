"""SingleFlight: concurrent identical calls share one upstream call; cancellation is per waiter."""

from __future__ import annotations

import asyncio

import pytest

from core.resilience import SingleFlight


class Upstream:
    """An upstream call that blocks until released; counts starts and cancellations."""

    def __init__(self) -> None:
        self.started = 0
        self.cancelled = 0
        self.release = asyncio.Event()
        self.running = asyncio.Event()
        self.result: object = "answer"

    async def __call__(self) -> object:
        self.started += 1
        self.running.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_hundred_identical_calls_make_one_upstream_call() -> None:
    sf: SingleFlight[object] = SingleFlight()
    up = Upstream()
    waiters = [asyncio.create_task(sf.do("k", up)) for _ in range(100)]
    await settle()
    assert sf.waiters("k") == 100
    up.release.set()
    results = await asyncio.gather(*waiters)
    assert results == ["answer"] * 100
    assert up.started == 1
    assert (sf.started, sf.joined) == (1, 99)
    assert len(sf) == 0  # entry removed when done


async def test_exception_is_shared_by_all_waiters() -> None:
    sf: SingleFlight[object] = SingleFlight()
    up = Upstream()
    up.result = RuntimeError("upstream broke")
    waiters = [asyncio.create_task(sf.do("k", up)) for _ in range(5)]
    await settle()
    up.release.set()
    outcomes = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) and str(o) == "upstream broke" for o in outcomes)
    assert up.started == 1
    assert not sf.in_flight("k")


async def test_cancelling_one_waiter_leaves_the_others_with_the_result() -> None:
    sf: SingleFlight[object] = SingleFlight()
    up = Upstream()
    first = asyncio.create_task(sf.do("k", up))  # the one that started the call
    others = [asyncio.create_task(sf.do("k", up)) for _ in range(3)]
    await up.running.wait()
    first.cancel()
    others[0].cancel()
    await settle()
    assert first.cancelled() and others[0].cancelled()
    assert up.cancelled == 0 and sf.in_flight("k")
    up.release.set()
    assert await asyncio.gather(*others[1:]) == ["answer", "answer"]
    assert up.started == 1 and up.cancelled == 0


async def test_all_waiters_cancelled_cancels_the_upstream_call() -> None:
    sf: SingleFlight[object] = SingleFlight()
    up = Upstream()
    waiters = [asyncio.create_task(sf.do("k", up)) for _ in range(3)]
    await up.running.wait()
    for w in waiters:
        w.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    await settle()
    assert up.cancelled == 1
    assert len(sf) == 0
    # A new call afterwards starts afresh instead of joining the cancelled one.
    up2 = Upstream()
    up2.release.set()
    assert await sf.do("k", up2) == "answer"
    assert up2.started == 1


async def test_sole_waiter_cancelled_at_once_leaves_nothing_behind() -> None:
    sf: SingleFlight[object] = SingleFlight()
    up = Upstream()
    waiter = asyncio.create_task(sf.do("k", up))
    await asyncio.sleep(0)  # waiter registered the flight
    assert sf.in_flight("k")
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await settle()
    assert len(sf) == 0
    assert up.started == up.cancelled  # never started, or started and was cancelled


async def test_distinct_keys_run_separately_and_later_calls_start_afresh() -> None:
    sf: SingleFlight[object] = SingleFlight()
    calls: list[str] = []

    def make(key: str):  # type: ignore[no-untyped-def]
        async def fn() -> str:
            calls.append(key)
            await asyncio.sleep(0)
            return key.upper()

        return fn

    assert await asyncio.gather(sf.do("a", make("a")), sf.do("b", make("b"))) == ["A", "B"]
    assert await sf.do("a", make("a")) == "A"
    assert calls == ["a", "b", "a"]
