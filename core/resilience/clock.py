"""The one thing the resilience primitives need from a clock: a monotonic reading.

``core.ports.Clock`` satisfies :class:`MonotonicClock`; tests pass a fake they advance by hand.
"""

from __future__ import annotations

import time
from typing import Protocol

__all__ = ["FakeMonotonic", "MonotonicClock", "SystemMonotonic"]


class MonotonicClock(Protocol):
    def monotonic(self) -> float: ...


class SystemMonotonic:
    """The process's monotonic clock (the default when none is injected)."""

    __slots__ = ()

    def monotonic(self) -> float:
        return time.monotonic()


class FakeMonotonic:
    """A clock that moves only when told to (tests, simulations)."""

    __slots__ = ("now",)

    def __init__(self, start: float = 0.0) -> None:
        self.now = start

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
