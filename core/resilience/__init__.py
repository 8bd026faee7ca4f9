"""Resilience primitives for calls to outside dependencies (LLM, Stripe, S3, chat sends).

Compose them per dependency with :class:`Policy` (timeout -> circuit breaker -> retry ->
coalescing -> fallback); guard entrances with :class:`RateLimiter` and :class:`ConcurrencyCap`.
Everything works in memory; shared variants come through injected storage (a ``KeyValueStore``
for caches, a ``limits`` storage for rate limits), so core never imports redis.
"""

from core.resilience.breaker import BreakerListener, BreakerState, CircuitBreaker
from core.resilience.cache import (
    JSON,
    CacheHit,
    Codec,
    JsonCodec,
    MemoryKV,
    ResponseCache,
    TypeCodec,
    dumps,
    loads,
    stable_key,
)
from core.resilience.clock import FakeMonotonic, MonotonicClock, SystemMonotonic
from core.resilience.errors import (
    CircuitOpen,
    Classifier,
    Overloaded,
    RateLimited,
    ResilienceError,
    UpstreamError,
    UpstreamTimeout,
    chain_classifiers,
    classify_default,
    parse_retry_after,
    retry_after_from_headers,
)
from core.resilience.groupcommit import GroupCommit
from core.resilience.policy import (
    Fallback,
    NullObserver,
    Outcome,
    Policy,
    PolicyObserver,
    PolicyResult,
)
from core.resilience.ratelimit import ConcurrencyCap, RateDecision, RateLimiter, limits_storage_uri
from core.resilience.retry import BackoffWait, Retry, RetryHook, SleepFn
from core.resilience.singleflight import SingleFlight

__all__ = [
    "JSON",
    "BackoffWait",
    "BreakerListener",
    "BreakerState",
    "CacheHit",
    "CircuitBreaker",
    "CircuitOpen",
    "Classifier",
    "Codec",
    "ConcurrencyCap",
    "FakeMonotonic",
    "Fallback",
    "GroupCommit",
    "JsonCodec",
    "MemoryKV",
    "MonotonicClock",
    "NullObserver",
    "Outcome",
    "Overloaded",
    "Policy",
    "PolicyObserver",
    "PolicyResult",
    "RateDecision",
    "RateLimited",
    "RateLimiter",
    "ResilienceError",
    "ResponseCache",
    "Retry",
    "RetryHook",
    "SingleFlight",
    "SleepFn",
    "SystemMonotonic",
    "TypeCodec",
    "UpstreamError",
    "UpstreamTimeout",
    "chain_classifiers",
    "classify_default",
    "dumps",
    "limits_storage_uri",
    "loads",
    "parse_retry_after",
    "retry_after_from_headers",
    "stable_key",
]
