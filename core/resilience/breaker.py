"""Circuit breaker: closed -> open -> half-open -> closed.

Why not a library: the ones we looked at (pybreaker, aiobreaker, circuitbreaker, purgatory)
each miss at least one of what we need together — native asyncio without a second event-loop
abstraction, an injectable monotonic clock (so tests move time by hand instead of sleeping),
and classification of failures by a predicate over our own taxonomy (timeouts, 5xx and
connection errors open it; 4xx and 429 never do). The state machine is ~100 lines; owning it
is cheaper than adapting one of them.

Model:

- **closed** — calls pass. Consecutive transient failures are counted (a success resets the
  count); at ``failure_threshold`` the breaker opens.
- **open** — calls fail fast with :class:`CircuitOpen` until ``recovery_timeout`` has passed
  since it opened; then it is half-open.
- **half-open** — at most ``half_open_max_calls`` trial calls run at once; others fail fast.
  One transient failure re-opens it; ``half_open_max_calls`` successful trials close it.

Failures that are not transient (4xx, 429, bugs, cancellation) are *neutral*: they neither
count as failures nor as successes. A result that arrives after the state changed under it
(a slow call admitted in an earlier state) is ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import TypeVar

import structlog

from core.resilience.clock import MonotonicClock, SystemMonotonic
from core.resilience.errors import CircuitOpen, Classifier, classify_default

__all__ = ["BreakerListener", "BreakerState", "CircuitBreaker"]

T = TypeVar("T")

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    closed = "closed"
    open = "open"
    half_open = "half_open"


BreakerListener = Callable[[str, BreakerState], None]
"""Called as ``listener(name, new_state)`` on every state change (metrics, logs)."""


class CircuitBreaker:
    """See the module docstring. Not thread-safe; one per event loop and dependency."""

    __slots__ = (
        "_clock",
        "_epoch",
        "_failures",
        "_listeners",
        "_opened_at",
        "_state",
        "_trial_successes",
        "_trials",
        "classifier",
        "failure_threshold",
        "half_open_max_calls",
        "name",
        "recovery_timeout",
    )

    def __init__(
        self,
        name: str,
        failure_threshold: int = 5,
        recovery_timeout: float = 30.0,
        half_open_max_calls: int = 1,
        clock: MonotonicClock | None = None,
        *,
        classifier: Classifier = classify_default,
        listeners: Iterable[BreakerListener] = (),
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be >= 1")
        if recovery_timeout < 0:
            raise ValueError("recovery_timeout must be >= 0")
        if half_open_max_calls < 1:
            raise ValueError("half_open_max_calls must be >= 1")
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_timeout = recovery_timeout
        self.half_open_max_calls = half_open_max_calls
        self.classifier = classifier
        self._clock: MonotonicClock = clock if clock is not None else SystemMonotonic()
        self._listeners: list[BreakerListener] = list(listeners)
        self._state = BreakerState.closed
        self._epoch = 0  # bumped on every transition; results from older epochs are ignored
        self._failures = 0
        self._opened_at = 0.0
        self._trials = 0  # half-open calls in flight
        self._trial_successes = 0

    # ------------------------------------------------------------------ observation

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose recovery timeout passed reads half-open."""
        if self._state is BreakerState.open and self._recovered():
            self._transition(BreakerState.half_open)
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive transient failures counted while closed."""
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 when not open)."""
        if self._state is not BreakerState.open:
            return 0.0
        return max(0.0, self._opened_at + self.recovery_timeout - self._clock.monotonic())

    def add_listener(self, listener: BreakerListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: BreakerListener) -> None:
        self._listeners.remove(listener)

    # ------------------------------------------------------------------ protocol

    def acquire(self) -> int:
        """Admit one call or raise :class:`CircuitOpen`. Returns a ticket for ``record_*``.

        Every admitted call must be followed by exactly one of :meth:`record_success`,
        :meth:`record_failure` or :meth:`record_neutral` with that ticket.
        """
        state = self._state
        if state is BreakerState.closed:
            return self._epoch
        if state is BreakerState.open:
            if not self._recovered():
                raise CircuitOpen(self.name, self.retry_in())
            self._transition(BreakerState.half_open)
        if self._trials >= self.half_open_max_calls:
            # Trial calls are in flight; their outcome decides. Suggest a short wait.
            raise CircuitOpen(self.name, min(1.0, self.recovery_timeout))
        self._trials += 1
        return self._epoch

    def record_success(self, ticket: int) -> None:
        if ticket != self._epoch:
            return
        if self._state is BreakerState.closed:
            self._failures = 0
        elif self._state is BreakerState.half_open:
            self._trials -= 1
            self._trial_successes += 1
            if self._trial_successes >= self.half_open_max_calls:
                self._transition(BreakerState.closed)

    def record_failure(self, ticket: int, exc: BaseException) -> bool:
        """Record a failed call; returns True when the failure was transient (a health signal)."""
        up = self.classifier(exc)
        if up is None or not up.transient:
            self.record_neutral(ticket)
            return False
        if ticket != self._epoch:
            return True
        if self._state is BreakerState.closed:
            self._failures += 1
            if self._failures >= self.failure_threshold:
                self._transition(BreakerState.open)
        elif self._state is BreakerState.half_open:
            self._trials -= 1
            self._transition(BreakerState.open)
        return True

    def record_neutral(self, ticket: int) -> None:
        """The call ended without telling anything about the dependency's health."""
        if ticket == self._epoch and self._state is BreakerState.half_open:
            self._trials -= 1

    async def call(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Run ``fn`` through the breaker (standalone use; :class:`Policy` uses the protocol)."""
        ticket = self.acquire()
        try:
            result = await fn()
        except BaseException as exc:
            self.record_failure(ticket, exc)
            raise
        self.record_success(ticket)
        return result

    # ------------------------------------------------------------------ operator controls

    def reset(self) -> None:
        """Force the breaker closed with a clean count."""
        if self._state is not BreakerState.closed:
            self._transition(BreakerState.closed)
        self._failures = 0

    def trip(self) -> None:
        """Force the breaker open now."""
        self._transition(BreakerState.open)

    # ------------------------------------------------------------------ internals

    def _recovered(self) -> bool:
        return self._clock.monotonic() - self._opened_at >= self.recovery_timeout

    def _transition(self, new: BreakerState) -> None:
        self._state = new
        self._epoch += 1
        self._trials = 0
        self._trial_successes = 0
        if new is BreakerState.open:
            self._opened_at = self._clock.monotonic()
        elif new is BreakerState.closed:
            self._failures = 0
        for listener in tuple(self._listeners):
            try:
                listener(self.name, new)
            except Exception:
                log.exception("breaker_listener_failed", breaker=self.name, state=str(new))

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(name={self.name!r}, state={self._state.value}, "
            f"failures={self._failures})"
        )
