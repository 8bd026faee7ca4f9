"""GroupCommit: concurrent submissions share flushes; each caller gets its own result."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from core.resilience import GroupCommit


class Store:
    """A flush that takes a while (like a commit) and records every batch it was given."""

    def __init__(self, delay: float = 0.005) -> None:
        self.delay = delay
        self.batches: list[list[int]] = []
        self.committed: list[int] = []
        self.running = 0
        self.most_running = 0
        self.fail_items: set[int] = set()
        self.fail_batch = False

    async def flush(self, items: Sequence[int]) -> list[int | BaseException]:
        self.batches.append(list(items))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.delay)
        finally:
            self.running -= 1
        if self.fail_batch:
            raise RuntimeError("the transaction failed")
        self.committed.extend(items)
        return [ValueError(f"bad {i}") if i in self.fail_items else i * 10 for i in items]


async def test_an_item_alone_is_flushed_at_once_by_itself() -> None:
    store = Store()
    commits = GroupCommit(store.flush)
    assert await commits.submit(7) == 70
    assert store.batches == [[7]]


async def test_concurrent_items_share_batches_and_each_gets_its_own_result() -> None:
    store = Store()
    commits = GroupCommit(store.flush, lanes=1)
    results = await asyncio.gather(*(commits.submit(i) for i in range(100)))
    assert results == [i * 10 for i in range(100)]
    assert sorted(i for batch in store.batches for i in batch) == list(range(100))
    # The first flush took the first item; everything else arrived while it ran.
    assert len(store.batches) < 10
    assert (commits.batches, commits.items) == (len(store.batches), 100)


async def test_batches_never_exceed_max_batch() -> None:
    store = Store()
    commits = GroupCommit(store.flush, lanes=1, max_batch=8)
    await asyncio.gather(*(commits.submit(i) for i in range(50)))
    assert max(len(batch) for batch in store.batches) == 8
    assert sum(len(batch) for batch in store.batches) == 50


async def test_a_failed_item_fails_only_its_own_caller() -> None:
    store = Store()
    store.fail_items = {3}
    commits = GroupCommit(store.flush, lanes=1)
    results = await asyncio.gather(*(commits.submit(i) for i in range(6)), return_exceptions=True)
    assert isinstance(results[3], ValueError)
    assert [r for i, r in enumerate(results) if i != 3] == [0, 10, 20, 40, 50]


async def test_a_failed_flush_fails_its_batch_and_the_next_one_still_runs() -> None:
    store = Store()
    commits = GroupCommit(store.flush, lanes=1)
    store.fail_batch = True
    results = await asyncio.gather(*(commits.submit(i) for i in range(5)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results)
    store.fail_batch = False
    assert await commits.submit(9) == 90


async def test_items_with_one_key_are_never_flushed_concurrently() -> None:
    store = Store()
    commits = GroupCommit(store.flush, lanes=4)
    await asyncio.gather(*(commits.submit(i, key="cus_1") for i in range(40)))
    assert store.most_running == 1
    # Different keys (and no key) spread over the lanes and flush side by side.
    store.most_running = 0
    await asyncio.gather(*(commits.submit(i, key=f"cus_{i}") for i in range(40)))
    await asyncio.gather(*(commits.submit(i) for i in range(40)))
    assert store.most_running > 1


async def test_a_caller_that_stops_waiting_does_not_stop_the_batch() -> None:
    store = Store(delay=0.05)
    commits = GroupCommit(store.flush, lanes=1)
    first = asyncio.ensure_future(commits.submit(1))
    second = asyncio.ensure_future(commits.submit(2))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == 20
    assert sorted(store.committed) == [1, 2]  # the cancelled caller's item was still committed
    with pytest.raises(asyncio.CancelledError):
        await first


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        GroupCommit(Store().flush, max_batch=0)
    with pytest.raises(ValueError):
        GroupCommit(Store().flush, lanes=0)


async def test_flushes_do_not_run_in_a_callers_context() -> None:
    """The runner serves many callers: the first one's context variables (a request id, say)
    must not leak into every later flush."""
    import contextvars

    caller = contextvars.ContextVar("caller", default="nobody")
    seen: list[str] = []

    async def flush(items: Sequence[int]) -> list[int]:
        seen.append(caller.get())
        await asyncio.sleep(0.001)
        return list(items)

    commits: GroupCommit[int, int] = GroupCommit(flush, lanes=1)

    async def submit_as(name: str, item: int) -> int:
        caller.set(name)
        return await commits.submit(item)

    assert await asyncio.gather(*(submit_as(f"r{i}", i) for i in range(5))) == list(range(5))
    assert seen and set(seen) == {"nobody"}
