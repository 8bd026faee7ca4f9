"""Retry with exponential backoff and full jitter that honours Retry-After, on tenacity.

Only retryable failures are retried: what the classifier calls transient (timeouts, 5xx,
connection errors) and 429. A ``retry_after`` on the error replaces the computed wait, capped
by ``max_wait``. Anything else — 4xx, :class:`CircuitOpen`, bugs, cancellation — propagates at
once. When attempts run out the last error propagates unchanged (no ``RetryError`` wrapper).

Hot path: the first attempt runs inline, without building a tenacity controller (that costs
~35 µs a call); tenacity takes over only after a retryable failure, replaying that failure as its
attempt 1 so attempt numbers and waits are exactly tenacity's.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.wait import wait_base

from core.resilience.errors import Classifier, classify_default

__all__ = ["BackoffWait", "Retry", "RetryHook", "SleepFn"]

T = TypeVar("T")

SleepFn = Callable[[float], Awaitable[None]]
RetryHook = Callable[[int, BaseException, float], None]
"""Called as ``hook(attempt_number, error, wait_seconds)`` before each backoff sleep."""


class BackoffWait(wait_base):
    """tenacity wait: ``retry_after`` from the error if any, else full-jitter exponential.

    Attempt *n* (1-based) that failed without ``retry_after`` waits
    ``uniform(0, min(max_wait, initial * multiplier ** (n - 1)))``.
    """

    def __init__(
        self,
        initial: float,
        multiplier: float,
        max_wait: float,
        rng: random.Random,
        classifier: Classifier,
    ) -> None:
        self.initial = initial
        self.multiplier = multiplier
        self.max_wait = max_wait
        self.rng = rng
        self.classifier = classifier

    def compute(self, attempt_number: int, exc: BaseException | None) -> float:
        if exc is not None:
            up = self.classifier(exc)
            if up is not None and up.retry_after is not None:
                return max(0.0, min(self.max_wait, up.retry_after))
        cap = min(self.max_wait, self.initial * self.multiplier ** (attempt_number - 1))
        return self.rng.uniform(0.0, cap)

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        return self.compute(retry_state.attempt_number, exc)


class Retry:
    """Retries an async zero-argument callable.

    ``rng`` is the (seeded) source of jitter; ``sleep`` is injectable so tests record waits
    instead of sleeping. One instance serves any number of concurrent calls.
    """

    def __init__(
        self,
        max_attempts: int = 3,
        initial_wait: float = 0.2,
        max_wait: float = 10.0,
        multiplier: float = 2.0,
        *,
        classifier: Classifier = classify_default,
        rng: random.Random | None = None,
        sleep: SleepFn | None = None,
        on_retry: RetryHook | None = None,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if initial_wait < 0 or max_wait < 0 or multiplier < 1:
            raise ValueError("waits must be >= 0 and multiplier >= 1")
        self.max_attempts = max_attempts
        self.classifier = classifier
        self.sleep: SleepFn = sleep if sleep is not None else asyncio.sleep
        self.on_retry = on_retry
        self.wait = BackoffWait(
            initial_wait,
            multiplier,
            max_wait,
            rng if rng is not None else random.Random(),
            classifier,
        )

    def is_retryable(self, exc: BaseException) -> bool:
        up = self.classifier(exc)
        return up is not None and up.retryable

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        return await self._call(fn, None)

    async def call_counted(self, fn: Callable[[], Awaitable[T]], counter: list[int]) -> T:
        """Like :meth:`call`; ``counter[0]`` is set to the number of attempts made."""
        return await self._call(fn, counter)

    async def _call(self, fn: Callable[[], Awaitable[T]], counter: list[int] | None) -> T:
        if counter is not None:
            counter[0] = 1
        try:
            return await fn()
        except Exception as exc:  # CancelledError is a BaseException: never retried
            if self.max_attempts <= 1 or not self.is_retryable(exc):
                raise
            first: BaseException | None = exc

        async def attempt() -> T:
            nonlocal first
            if first is not None:  # replay the inline attempt's failure as attempt 1
                err, first = first, None
                raise err
            if counter is not None:
                counter[0] += 1
            return await fn()

        controller = AsyncRetrying(
            sleep=self.sleep,
            stop=stop_after_attempt(self.max_attempts),
            wait=self.wait,
            retry=retry_if_exception(self.is_retryable),
            before_sleep=self._before_sleep if self.on_retry is not None else None,
            reraise=True,
        )
        return await controller(attempt)

    def _before_sleep(self, retry_state: RetryCallState) -> None:
        outcome = retry_state.outcome
        hook = self.on_retry
        if hook is None or outcome is None or not outcome.failed:
            return
        exc = outcome.exception()
        if exc is None:
            return
        sleep = retry_state.next_action.sleep if retry_state.next_action is not None else 0.0
        hook(retry_state.attempt_number, exc, sleep)
