"""Entrance guards: per-key rate limits (on the ``limits`` library) and a concurrency cap.

:class:`RateLimiter` takes an injected ``limits.aio`` storage: ``MemoryStorage`` by default;
``bot/`` passes a Redis one so several instances share the limits, e.g.::

    from limits.storage import storage_from_string
    storage = storage_from_string(limits_storage_uri(settings.redis_url))  # "async+redis://..."

(core never imports redis: ``limits`` loads its Redis client lazily, only when such a storage
is built, and that happens in ``bot/``.) limits 5.8 wants the ``async+redis://`` scheme
(``async+rediss://`` for TLS, ``async+redis+unix://`` for sockets); the default client is
``coredis``, or pass ``implementation="redispy"`` to use ``redis.asyncio``.

Note that ``limits`` reads the wall clock (``time.time``) itself; the ``now`` function given
here must be that same clock, it only turns reset times into ``retry_after``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import Literal

from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import (
    FixedWindowRateLimiter,
    MovingWindowRateLimiter,
    SlidingWindowCounterRateLimiter,
)
from limits.aio.strategies import RateLimiter as _Strategy

from core.resilience.errors import Overloaded, RateLimited

__all__ = ["ConcurrencyCap", "RateDecision", "RateLimiter", "Strategy", "limits_storage_uri"]

Strategy = Literal["moving-window", "fixed-window", "sliding-window-counter"]

_STRATEGIES: dict[str, type[_Strategy]] = {
    "moving-window": MovingWindowRateLimiter,
    "fixed-window": FixedWindowRateLimiter,
    "sliding-window-counter": SlidingWindowCounterRateLimiter,
}


def limits_storage_uri(redis_url: str) -> str:
    """``redis://h:p/0`` -> ``async+redis://h:p/0`` (the scheme limits' async storage wants)."""
    if redis_url.startswith("async+"):
        return redis_url
    for scheme in ("redis", "rediss", "unix", "valkey", "valkeys"):
        if redis_url.startswith(scheme + "://"):
            if scheme == "unix":
                return "async+redis+unix://" + redis_url[len("unix://") :]
            return "async+" + redis_url
    raise ValueError(f"not a redis URL: {redis_url.split('://', 1)[0]}://...")


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The answer of a rate limiter. ``retry_after`` is 0 when allowed. ``remaining`` is the
    number of hits left in the tightest limit (known after :meth:`RateLimiter.peek` and after a
    denial; ``None`` after an allowed hit, to save a round trip)."""

    allowed: bool
    retry_after: float = 0.0
    remaining: int | None = None
    limit: str = ""


class RateLimiter:
    """Per-key limits such as ``"20/minute"`` or ``"5/second;200/day"``.

    Several limits are checked in order; a denial by a later one has already consumed a hit of
    the earlier ones (harmless for the usual short-then-long combination).
    """

    def __init__(
        self,
        limit: str | RateLimitItem | Sequence[RateLimitItem],
        *,
        storage: Storage | None = None,
        strategy: Strategy = "moving-window",
        namespace: str = "rl",
        now: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(limit, str):
            items = list(parse_many(limit))
        elif isinstance(limit, RateLimitItem):
            items = [limit]
        else:
            items = list(limit)
        if not items:
            raise ValueError("at least one limit is needed")
        self.items: list[RateLimitItem] = items
        self.storage: Storage = storage if storage is not None else MemoryStorage()
        self.strategy: _Strategy = _STRATEGIES[strategy](self.storage)
        self.namespace = namespace
        self._now = now

    async def _retry_after(self, item: RateLimitItem, key: str) -> tuple[float, int]:
        stats = await self.strategy.get_window_stats(item, self.namespace, key)
        return max(0.0, stats.reset_time - self._now()), max(0, stats.remaining)

    async def hit(self, key: str, cost: int = 1) -> RateDecision:
        """Consume ``cost`` hits for ``key`` if every limit allows it."""
        for item in self.items:
            if not await self.strategy.hit(item, self.namespace, key, cost=cost):
                retry_after, remaining = await self._retry_after(item, key)
                return RateDecision(False, retry_after, remaining, str(item))
        return RateDecision(True, 0.0, None, str(self.items[0]))

    async def peek(self, key: str, cost: int = 1) -> RateDecision:
        """Would ``cost`` hits be allowed now? Consumes nothing."""
        worst: RateDecision | None = None
        for item in self.items:
            retry_after, remaining = await self._retry_after(item, key)
            allowed = await self.strategy.test(item, self.namespace, key, cost=cost)
            decision = RateDecision(allowed, 0.0 if allowed else retry_after, remaining, str(item))
            if not allowed:
                return decision
            if worst is None or (remaining < (worst.remaining or 0)):
                worst = decision
        assert worst is not None
        return worst

    async def check(self, key: str, cost: int = 1) -> None:
        """:meth:`hit`, raising :class:`RateLimited` (a friendly ``RateLimitedError``) on denial."""
        decision = await self.hit(key, cost)
        if not decision.allowed:
            raise RateLimited(decision.retry_after)

    async def reset(self, key: str) -> None:
        for item in self.items:
            await self.strategy.clear(item, self.namespace, key)


class _Unset(Enum):
    token = 0


_UNSET = _Unset.token


class _KeyGate:
    __slots__ = ("sem", "users")

    def __init__(self, size: int) -> None:
        self.sem = asyncio.Semaphore(size)
        self.users = 0  # slots held or awaited for this key; the gate goes when it drops to 0


async def _acquire(sem: asyncio.Semaphore, wait: float | None) -> None:
    if wait is None:
        await sem.acquire()
        return
    if wait <= 0:
        if sem.locked():
            raise Overloaded()
        await sem.acquire()  # a free slot: returns without suspending
        return
    try:
        async with asyncio.timeout(wait):
            await sem.acquire()
    except TimeoutError:
        raise Overloaded() from None


class _Slot:
    __slots__ = ("_cap", "_gate", "_key", "_timeout")

    def __init__(self, cap: ConcurrencyCap, key: str | None, timeout: float | None) -> None:
        self._cap = cap
        self._key = key
        self._timeout = timeout
        self._gate: _KeyGate | None = None

    async def __aenter__(self) -> None:
        cap = self._cap
        if self._key is not None and cap.per_key is not None:
            gate = cap._enter_gate(self._key)
            try:
                await _acquire(gate.sem, self._timeout)
            except BaseException:
                cap._leave_gate(self._key, gate)
                raise
            self._gate = gate
        try:
            await _acquire(cap._global, self._timeout)
        except BaseException:
            self._release_gate()
            raise
        cap.in_use += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        cap = self._cap
        cap.in_use -= 1
        cap._global.release()
        self._release_gate()

    def _release_gate(self) -> None:
        gate = self._gate
        if gate is not None and self._key is not None:
            self._gate = None
            gate.sem.release()
            self._cap._leave_gate(self._key, gate)


class ConcurrencyCap:
    """At most ``limit`` calls at once (and at most ``per_key`` per key, when given).

    ``async with cap.slot(key):`` waits for a free slot up to ``wait_timeout`` seconds
    (``None``: forever, ``0``: not at all), then raises :class:`Overloaded`. A key's slot is
    taken before a global one, so one busy key queues on its own gate without holding global
    slots. In memory, per process; a shared variant could come through the ``KeyValueStore``.
    """

    def __init__(
        self, limit: int, *, per_key: int | None = None, wait_timeout: float | None = None
    ) -> None:
        if limit < 1 or (per_key is not None and per_key < 1):
            raise ValueError("limits must be >= 1")
        self.limit = limit
        self.per_key = per_key
        self.wait_timeout = wait_timeout
        self.in_use = 0
        self._global = asyncio.Semaphore(limit)
        self._gates: dict[str, _KeyGate] = {}

    def slot(self, key: str | None = None, *, timeout: float | _Unset | None = _UNSET) -> _Slot:
        """An async context manager holding one slot; ``timeout`` overrides ``wait_timeout``."""
        return _Slot(self, key, self.wait_timeout if isinstance(timeout, _Unset) else timeout)

    def available(self) -> int:
        return self.limit - self.in_use

    def _enter_gate(self, key: str) -> _KeyGate:
        gate = self._gates.get(key)
        if gate is None:
            assert self.per_key is not None
            gate = self._gates[key] = _KeyGate(self.per_key)
        gate.users += 1
        return gate

    def _leave_gate(self, key: str, gate: _KeyGate) -> None:
        gate.users -= 1
        if gate.users == 0 and self._gates.get(key) is gate:
            del self._gates[key]
