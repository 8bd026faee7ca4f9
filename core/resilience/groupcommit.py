"""Group commit: writes submitted concurrently share one transaction.

``await GroupCommit(flush).submit(item, key)`` returns ``item``'s own result once the batch
that carried it has been flushed (committed). Items go to one of ``lanes`` lanes - by ``key``
when given, so items with the same key (the same customer, say) are never flushed
concurrently, else to the least busy lane. Each lane runs one flush at a time; items that
arrive while it runs wait and go together in its next one (up to ``max_batch``). Nothing is
delayed on purpose: an item that arrives at an idle lane is flushed at once, alone, so a quiet
server keeps one-item latency, and a busy one pays a transaction's fixed cost (begin, commit
and its fsync, the pool's checkout, the ORM's per-statement overhead) once per batch instead
of once per item. Several lanes keep several commits in flight, so batches overlap their
waits on the disk. This is PostgreSQL's own group commit applied one level up; no maintained
asyncio library offers it on its own, so it is written here.

``flush(items)`` returns one result per item, in order; a result that is an exception is raised
to that item's caller only. An exception raised by ``flush`` itself goes to every item of the
batch. A caller that stops waiting (cancelled) does not take its item out of a batch already
being flushed. The flushes run in a context of their own (no caller's context variables):
whatever concerns one item - its log line with its request id - belongs with its caller, after
``submit`` returns.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Hashable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

Flush = Callable[[Sequence[T]], Awaitable[Sequence["R | BaseException"]]]


class _Lane(Generic[T, R]):
    def __init__(self) -> None:
        self.pending: list[tuple[T, asyncio.Future[R]]] = []
        self.runner: asyncio.Task[None] | None = None
        self.flushing = 0  # items in the flush running now


class GroupCommit(Generic[T, R]):
    def __init__(self, flush: Flush[T, R], *, lanes: int = 2, max_batch: int = 64) -> None:
        if max_batch < 1 or lanes < 1:
            raise ValueError("lanes and max_batch must be at least 1")
        self._flush = flush
        self._max_batch = max_batch
        self._lanes: list[_Lane[T, R]] = [_Lane() for _ in range(lanes)]
        self.batches = 0  # flushes run (for metrics and tests)
        self.items = 0  # items flushed

    async def submit(self, item: T, key: Hashable | None = None) -> R:
        if key is not None:
            lane = self._lanes[hash(key) % len(self._lanes)]
        else:
            lane = min(self._lanes, key=lambda one: len(one.pending) + one.flushing)
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        lane.pending.append((item, future))
        if lane.runner is None:
            # A context of its own: the runner flushes many callers' items, so it must not carry
            # the first caller's context variables (its request id in every later log line).
            lane.runner = asyncio.create_task(self._run(lane), context=contextvars.Context())
        return await future

    async def _run(self, lane: _Lane[T, R]) -> None:
        try:
            while lane.pending:
                batch = lane.pending[: self._max_batch]
                del lane.pending[: self._max_batch]
                self.batches += 1
                self.items += len(batch)
                lane.flushing = len(batch)
                try:
                    results: Sequence[R | BaseException] = await self._flush(
                        [item for item, _ in batch]
                    )
                    if len(results) != len(batch):
                        raise RuntimeError("flush returned a result count unlike its batch")
                except asyncio.CancelledError as exc:
                    _settle(batch, [exc] * len(batch))
                    raise
                except Exception as exc:
                    results = [exc] * len(batch)
                finally:
                    lane.flushing = 0
                _settle(batch, results)
        finally:
            lane.runner = None
            if lane.pending:  # cancelled mid-way: nobody may wait forever
                left, lane.pending = lane.pending, []
                _settle(left, [asyncio.CancelledError()] * len(left))


def _settle(
    batch: Sequence[tuple[object, asyncio.Future[R]]], results: Sequence[R | BaseException]
) -> None:
    for (_, future), result in zip(batch, results, strict=True):
        if future.done():
            continue
        if isinstance(result, BaseException):
            future.set_exception(result)
        else:
            future.set_result(result)


__all__ = ["GroupCommit"]
