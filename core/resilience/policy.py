"""One resilience policy per outside dependency, composed in the DESIGN.md order.

From the inside out, for ``await policy.call(key, fn, fallback=...)``:

1. **timeout** — each attempt of ``fn`` runs under ``asyncio.timeout``; expiry becomes
   :class:`UpstreamTimeout`. Any other exception goes through the classifier, so from here on
   failures are :class:`UpstreamError` (original as ``__cause__``) or propagate untouched when
   the classifier does not know them (bugs are not hidden behind a fallback).
2. **circuit breaker** — admits each attempt or fails fast with :class:`CircuitOpen`; counts
   timeouts, 5xx and connection errors, never 4xx or 429.
3. **retry** — exponential backoff with full jitter honouring Retry-After, for transient
   errors and 429 only. Optionally a ``deadline`` bounds it as a whole (expiry is an
   :class:`UpstreamTimeout` too) and a :class:`ConcurrencyCap` slot is held around it.
4. **coalescing** — identical in-flight calls (same ``key``) share the whole retried call:
   100 concurrent identical calls make one upstream call. The successful value is stored in the
   optional :class:`ResponseCache` once, and looked up before joining.
5. **fallback** — on :class:`CircuitOpen`, exhausted retries, non-retryable upstream errors
   (401, 404, ...) or a full concurrency cap, each caller gets its own ``fallback`` value with
   ``degraded=True``; without a fallback the (normalised) error is raised.

Every call that is not cancelled ends in exactly one ``observer.on_call(outcome, latency)``
with outcome ``ok``, ``cached``, ``fallback`` or ``error``; cache lookups also report
``observer.on_cache(hit)`` (so don't wire the same metric to ``ResponseCache.on_lookup``).

Measured on this machine, in memory, on the success path: about 30 µs p50 with coalescing
(most of it the shared task), about 8 µs without a key; tenacity only engages after a
retryable failure.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, Protocol, TypeVar, cast

from core.resilience.breaker import BreakerState, CircuitBreaker
from core.resilience.cache import JSON, Codec, ResponseCache
from core.resilience.clock import MonotonicClock, SystemMonotonic
from core.resilience.errors import (
    CircuitOpen,
    Classifier,
    Overloaded,
    UpstreamError,
    UpstreamTimeout,
    classify_default,
)
from core.resilience.ratelimit import ConcurrencyCap
from core.resilience.retry import Retry
from core.resilience.singleflight import SingleFlight

__all__ = [
    "Fallback",
    "NullObserver",
    "Outcome",
    "Policy",
    "PolicyObserver",
    "PolicyResult",
]

T = TypeVar("T")


class Outcome(StrEnum):
    ok = "ok"
    cached = "cached"
    fallback = "fallback"
    error = "error"


class PolicyObserver(Protocol):
    """Metrics hook. Implementations must be cheap and must not raise."""

    def on_call(self, outcome: str, latency: float) -> None: ...

    def on_breaker_state(self, name: str, state: str) -> None: ...

    def on_cache(self, hit: bool) -> None: ...


class NullObserver:
    __slots__ = ()

    def on_call(self, outcome: str, latency: float) -> None:
        pass

    def on_breaker_state(self, name: str, state: str) -> None:
        pass

    def on_cache(self, hit: bool) -> None:
        pass


@dataclass(slots=True)
class PolicyResult(Generic[T]):
    """What a guarded call produced.

    ``degraded`` — the value came from the fallback ("limited mode"); ``error`` says why.
    ``cached`` — the value came from the response cache (no upstream call).
    ``attempts`` — upstream attempts made (shared by coalesced callers; 0 when cached or when
    the breaker refused the first one).
    """

    value: T
    degraded: bool = False
    cached: bool = False
    attempts: int = 0
    error: BaseException | None = None


Fallback = Callable[[BaseException], "T | Awaitable[T]"]


class _Failed(Exception):
    """Carries a handled failure and the attempt count out of the shared call (internal)."""

    __slots__ = ("attempts", "error")

    def __init__(self, error: BaseException, attempts: int) -> None:
        super().__init__()
        self.error = error
        self.attempts = attempts


_HANDLED = (UpstreamError, CircuitOpen, Overloaded)


class Policy(Generic[T]):
    """The composed stack for one dependency. Build once (in ``bot/`` wiring) and share.

    ``timeout`` is per attempt, in seconds (``None``: no timeout); ``deadline`` bounds the
    whole retried call, backoff waits included (``None``: no bound beyond the attempts').
    ``breaker``, ``retry``, ``cache`` and ``cap`` are optional; ``coalesce`` turns request
    coalescing by key on.
    Give ``breaker`` and ``retry`` the default classifier: the policy classifies errors itself
    (with ``classifier``) before they see them. ``codec`` (de)serialises cached values;
    ``cache_ttl`` overrides the cache's default TTL.
    """

    def __init__(
        self,
        name: str,
        *,
        timeout: float | None = 10.0,
        breaker: CircuitBreaker | None = None,
        retry: Retry | None = None,
        coalesce: bool = True,
        cache: ResponseCache | None = None,
        cache_ttl: float | None = None,
        codec: Codec[T] = cast(Codec[Any], JSON),
        cap: ConcurrencyCap | None = None,
        deadline: float | None = None,
        classifier: Classifier = classify_default,
        observer: PolicyObserver | None = None,
        clock: MonotonicClock | None = None,
    ) -> None:
        self.name = name
        self.timeout = timeout
        self.breaker = breaker
        self.retry = retry
        self.cache = cache
        self.cache_ttl = cache_ttl
        self.codec = codec
        self.cap = cap
        self.deadline = deadline
        self.classifier = classifier
        self.observer: PolicyObserver = observer if observer is not None else NullObserver()
        self._clock: MonotonicClock = clock if clock is not None else SystemMonotonic()
        self._flight: SingleFlight[tuple[T, int]] | None = SingleFlight() if coalesce else None
        if breaker is not None and observer is not None:
            breaker.add_listener(self._on_breaker_state)

    def _on_breaker_state(self, name: str, state: BreakerState) -> None:
        self.observer.on_breaker_state(name, state.value)

    @property
    def in_flight(self) -> int:
        """Distinct coalesced calls running now."""
        return len(self._flight) if self._flight is not None else 0

    # ------------------------------------------------------------------ public

    async def call(
        self,
        key: str | None,
        fn: Callable[[], Awaitable[T]],
        *,
        fallback: T | Fallback[T] | None = None,
        use_cache: bool = True,
    ) -> PolicyResult[T]:
        """Run ``fn`` (an async zero-argument callable) through the stack.

        ``key`` identifies identical requests (coalescing and caching); ``None`` disables both.
        ``fallback`` is a value, or a callable taking the error and returning a value (or an
        awaitable of one); ``None`` means no fallback: the error is raised.
        """
        clock = self._clock
        observer = self.observer
        started = clock.monotonic()
        cache = self.cache if (use_cache and key is not None) else None
        if cache is not None:
            assert key is not None
            hit = await cache.get(key, self.codec)
            observer.on_cache(hit is not None)
            if hit is not None:
                observer.on_call(Outcome.cached, clock.monotonic() - started)
                return PolicyResult(hit.value, cached=True)
        try:
            if key is not None and self._flight is not None:
                store_key = key if cache is not None else None
                value, attempts = await self._flight.do(key, lambda: self._shared(store_key, fn))
            else:
                value, attempts = await self._shared(key if cache is not None else None, fn)
        except _Failed as failed:
            err = failed.error
            if fallback is None:
                observer.on_call(Outcome.error, clock.monotonic() - started)
                raise err from err.__cause__
            value = await self._fallback_value(fallback, err)
            observer.on_call(Outcome.fallback, clock.monotonic() - started)
            return PolicyResult(value, degraded=True, attempts=failed.attempts, error=err)
        except asyncio.CancelledError:
            raise
        except BaseException:
            observer.on_call(Outcome.error, clock.monotonic() - started)
            raise
        observer.on_call(Outcome.ok, clock.monotonic() - started)
        return PolicyResult(value, attempts=attempts)

    # ------------------------------------------------------------------ layers

    async def _shared(self, store_key: str | None, fn: Callable[[], Awaitable[T]]) -> tuple[T, int]:
        """Retry around attempts (under the cap), then the cache store. Runs once per flight."""
        counter = [0]
        try:
            if self.cap is None:
                value = await self._within_deadline(fn, counter)
            else:
                async with self.cap.slot():
                    value = await self._within_deadline(fn, counter)
        except _HANDLED as exc:
            raise _Failed(exc, counter[0]) from None
        if store_key is not None and self.cache is not None:
            if self.cache_ttl is None:
                await self.cache.set(store_key, value, self.codec)
            else:
                await self.cache.set(store_key, value, self.codec, self.cache_ttl)
        return value, counter[0]

    async def _within_deadline(self, fn: Callable[[], Awaitable[T]], counter: list[int]) -> T:
        deadline = self.deadline
        if deadline is None:
            return await self._retried(fn, counter)
        try:
            async with asyncio.timeout(deadline) as scope:
                return await self._retried(fn, counter)
        except TimeoutError:
            if not scope.expired():
                raise
            raise UpstreamTimeout(f"{self.name} gave no answer within {deadline:g} s") from None

    async def _retried(self, fn: Callable[[], Awaitable[T]], counter: list[int]) -> T:
        if self.retry is None:
            return await self._attempt(fn, counter)
        return await self.retry.call(lambda: self._attempt(fn, counter))

    async def _attempt(self, fn: Callable[[], Awaitable[T]], counter: list[int]) -> T:
        breaker = self.breaker
        ticket = breaker.acquire() if breaker is not None else 0  # may raise CircuitOpen
        counter[0] += 1
        timeout = self.timeout
        try:
            if timeout is None:
                result = await fn()
            else:
                async with asyncio.timeout(timeout) as scope:
                    result = await fn()
        except Exception as exc:
            if timeout is not None and isinstance(exc, TimeoutError) and scope.expired():
                up: UpstreamError | None = UpstreamTimeout(
                    f"{self.name} did not answer within {timeout:g} s"
                )
            else:
                up = self.classifier(exc)
            if breaker is not None:
                if up is None:
                    breaker.record_neutral(ticket)
                else:
                    breaker.record_failure(ticket, up)
            if up is None or up is exc:
                raise
            raise up from exc
        except BaseException:  # cancellation, KeyboardInterrupt: says nothing about health
            if breaker is not None:
                breaker.record_neutral(ticket)
            raise
        if breaker is not None:
            breaker.record_success(ticket)
        return result

    @staticmethod
    async def _fallback_value(fallback: T | Fallback[T], err: BaseException) -> T:
        if callable(fallback):
            produced = fallback(err)
            if inspect.isawaitable(produced):
                return cast(T, await produced)
            return produced
        return fallback
