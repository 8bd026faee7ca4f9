"""The one place where the resilience stack is composed for each outside dependency.

:data:`SPECS` holds the numbers per dependency (LLM now; Stripe, S3 and chat sends are ready for
their wiring); :func:`build_policy` turns a spec into a :class:`core.resilience.Policy`, in the
DESIGN.md order: per-attempt timeout -> circuit breaker (timeouts, 5xx, connection errors; never
4xx or 429) -> retry (exponential backoff with full jitter, Retry-After honoured) -> coalescing of
identical in-flight calls -> fallback. Response cache and concurrency cap are optional layers.
(For the LLM the coalescing layer sits in ``LLMGateway``, one step further out, so that it also
covers the cache lookup; see ``SPECS["llm"]``.)

For the LLM, :func:`build_llm_generator` builds everything from plain values (``bot/`` reads
``Settings``; core does not): the ``openai.AsyncOpenAI`` client (``max_retries=0``: our Retry does
the retrying), the policy, the response cache (memory LRU with TTL, or the Redis
``KeyValueStore`` when ``REDIS_URL`` is set), the per-account LLM rate limit (``limits``: memory,
or Redis storage shared by every instance) and the concurrency cap, and the gateway. Without an
API key and base URL it returns the offline engine (the embedded default).

Wiring (bot/container.py)::

    limits_storage = open_limits_storage(settings.redis_url) if settings.redis_url else None
    if limits_storage is not None:
        stack.push_async_callback(close_limits_storage, limits_storage)
    llm = build_llm_generator(api_key=..., usage=store.usage, clock=clock, ...,
                              cache_store=kv if settings.redis_url else None,
                              limits_storage=limits_storage)
    stack.push_async_callback(llm.aclose)
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Literal

import openai
import structlog
from limits.aio.storage import MemoryStorage, Storage
from limits.storage import storage_from_string

from core.llm.gateway import LLMAnswer, LLMGateway, Prices
from core.llm.openai_errors import make_openai_classifier
from core.llm.prompts import OutputMode, Prompts
from core.ports import Clock, ContentGenerator, KeyValueStore, UsageRepository
from core.resilience.breaker import CircuitBreaker
from core.resilience.cache import JSON, Codec, MemoryKV, ResponseCache, TypeCodec
from core.resilience.errors import Classifier, classify_default
from core.resilience.policy import Policy, PolicyObserver
from core.resilience.ratelimit import ConcurrencyCap, RateLimiter, limits_storage_uri
from core.resilience.retry import Retry, RetryHook, SleepFn

__all__ = [
    "SPECS",
    "LLMSetup",
    "LeanMemoryStorage",
    "PolicySpec",
    "build_llm_generator",
    "build_llm_policy",
    "build_policy",
    "close_limits_storage",
    "llm_spec",
    "memory_limits_storage",
    "open_limits_storage",
]

log = structlog.get_logger("huntaze.llm")


@dataclass(frozen=True)
class PolicySpec:
    """The numbers of one dependency's policy (seconds; ``None`` = no bound).

    ``timeout`` is per attempt, ``deadline`` bounds the whole retried call. ``concurrency`` caps
    calls in flight per process (``cap_wait``: how long a call waits for a slot before it falls
    back). ``coalesce``: identical in-flight calls (same key) share one upstream call — never for
    calls that create things.
    """

    name: str
    timeout: float | None = 10.0
    failure_threshold: int = 5
    recovery_timeout: float = 30.0
    half_open_max_calls: int = 1
    max_attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 10.0
    multiplier: float = 2.0
    deadline: float | None = None
    coalesce: bool = True
    concurrency: int | None = None
    cap_wait: float | None = 5.0


SPECS: dict[str, PolicySpec] = {
    # A chat user waits for the answer: bounded attempts, a 45 s ceiling, then offline.
    # Coalescing is done by the gateway around the whole policy call, cache lookup included
    # (a Redis lookup suspends: coalescing only after it lets a late caller miss both the
    # cache and the flight), so the policy's own layer is off.
    "llm": PolicySpec(
        "llm",
        coalesce=False,
        timeout=20.0,
        failure_threshold=5,
        recovery_timeout=30.0,
        max_attempts=3,
        initial_wait=0.5,
        max_wait=8.0,
        deadline=45.0,
        concurrency=8,
        cap_wait=5.0,
    ),
    # Checkout Sessions are created with an idempotency key; never coalesced.
    "stripe": PolicySpec(
        "stripe",
        timeout=10.0,
        max_attempts=3,
        initial_wait=0.5,
        max_wait=5.0,
        deadline=25.0,
        coalesce=False,
    ),
    "s3": PolicySpec(
        "s3", timeout=30.0, max_attempts=3, initial_wait=0.2, max_wait=5.0, coalesce=False
    ),
    # Telegram/Discord sends: 429s carry retry_after (Telegram's can be tens of seconds).
    "chat_send": PolicySpec(
        "chat_send",
        timeout=10.0,
        failure_threshold=10,
        recovery_timeout=15.0,
        max_attempts=4,
        initial_wait=1.0,
        max_wait=30.0,
        coalesce=False,
        cap_wait=None,
    ),
}


def build_policy(
    spec: PolicySpec,
    *,
    classifier: Classifier = classify_default,
    clock: Clock | None = None,
    rng: random.Random | None = None,
    sleep: SleepFn | None = None,
    cache: ResponseCache | None = None,
    cache_ttl: float | None = None,
    codec: Codec[Any] = JSON,
    observer: PolicyObserver | None = None,
    on_retry: RetryHook | None = None,
) -> Policy[Any]:
    """The composed :class:`Policy` for ``spec``. ``clock`` drives the breaker (tests move it by
    hand); ``rng`` is the jitter's seeded generator; ``sleep`` replaces ``asyncio.sleep`` for the
    backoff waits (tests record them)."""
    breaker = CircuitBreaker(
        spec.name,
        failure_threshold=spec.failure_threshold,
        recovery_timeout=spec.recovery_timeout,
        half_open_max_calls=spec.half_open_max_calls,
        clock=clock,
    )
    retry = Retry(
        max_attempts=spec.max_attempts,
        initial_wait=spec.initial_wait,
        max_wait=spec.max_wait,
        multiplier=spec.multiplier,
        rng=rng if rng is not None else random.Random(),
        sleep=sleep,
        on_retry=on_retry,
    )
    cap = (
        ConcurrencyCap(spec.concurrency, wait_timeout=spec.cap_wait)
        if spec.concurrency is not None
        else None
    )
    return Policy(
        spec.name,
        timeout=spec.timeout,
        breaker=breaker,
        retry=retry,
        coalesce=spec.coalesce,
        cache=cache,
        cache_ttl=cache_ttl,
        codec=codec,
        cap=cap,
        deadline=spec.deadline,
        classifier=classifier,
        observer=observer,
        clock=clock,
    )


# ---------------------------------------------------------------------- LLM


def llm_spec(
    *,
    timeout: float,
    max_retries: int,
    concurrency: int,
    failure_threshold: int | None = None,
    recovery_timeout: float | None = None,
    cap_wait: float | None = None,
) -> PolicySpec:
    """The LLM spec with the operator's settings: per-attempt timeout, 1 + ``max_retries``
    attempts, a whole-call deadline of twice the timeout (at least timeout + 5 s)."""
    base = SPECS["llm"]
    return replace(
        base,
        timeout=timeout,
        max_attempts=1 + max(0, max_retries),
        deadline=max(2 * timeout, timeout + 5.0),
        concurrency=concurrency,
        failure_threshold=failure_threshold or base.failure_threshold,
        recovery_timeout=base.recovery_timeout if recovery_timeout is None else recovery_timeout,
        cap_wait=base.cap_wait if cap_wait is None else cap_wait,
    )


def build_llm_policy(
    spec: PolicySpec,
    *,
    clock: Clock,
    cache_store: KeyValueStore | None = None,
    cache_ttl: float = 600.0,
    rng: random.Random | None = None,
    sleep: SleepFn | None = None,
    observer: PolicyObserver | None = None,
) -> Policy[LLMAnswer]:
    """The LLM policy: openai-aware classifier, response cache of checked answers (``llm:``
    namespace; a private in-memory LRU when no store is given; none when ``cache_ttl`` is 0)."""
    cache = None
    if cache_ttl > 0:
        store = cache_store if cache_store is not None else MemoryKV(max_entries=2048, clock=clock)
        cache = ResponseCache(store, namespace="llm", default_ttl=cache_ttl)
    return build_policy(
        spec,
        classifier=make_openai_classifier(clock.now),
        clock=clock,
        rng=rng,
        sleep=sleep,
        cache=cache,
        codec=TypeCodec(LLMAnswer),
        observer=observer,
    )


@dataclass
class LLMSetup:
    """What :func:`build_llm_generator` returns. ``generator`` goes to the Assistant;
    ``aclose()`` goes on the shutdown stack (closes the HTTP client)."""

    generator: ContentGenerator
    gateway: LLMGateway | None = None
    limiter: RateLimiter | None = None

    async def aclose(self) -> None:
        if self.gateway is not None:
            await self.gateway.aclose()


def build_llm_generator(
    *,
    api_key: str | None,
    base_url: str | None,
    model: str,
    timeout: float,
    max_retries: int,
    price_prompt_per_1k: Decimal,
    price_completion_per_1k: Decimal,
    concurrency: int,
    cache_ttl: float,
    rate_limit: str | None,
    usage: UsageRepository,
    clock: Clock,
    offline: ContentGenerator,
    cache_store: KeyValueStore | None = None,
    limits_storage: Storage | None = None,
    rng: random.Random | None = None,
    sleep: SleepFn | None = None,
    observer: PolicyObserver | None = None,
    output_mode: OutputMode = "json_schema",
    hold_seconds: float = 300.0,
    send_temperature: bool = True,
    failure_threshold: int | None = None,
    recovery_timeout: float | None = None,
    cap_wait: float | None = None,
) -> LLMSetup:
    """The content generator for these settings.

    - no ``api_key`` and no ``base_url``: the offline engine (embedded default);
    - a ``base_url`` without a key (Ollama, vLLM, LM Studio): a placeholder key is sent;
    - ``rate_limit`` like ``"30/minute"`` (``limits`` syntax, ``;`` for several) per account for
      LLM calls, counted in ``limits_storage`` (Redis: shared by every instance; None: memory);
      ``None`` turns it off;
    - ``cache_store``: where answers are cached (the Redis ``KeyValueStore`` when configured;
      None: a private in-memory LRU); ``cache_ttl`` 0 turns caching off.
    """
    if not api_key and not base_url:
        log.info("llm_offline_mode", reason="no OPENAI_API_KEY or OPENAI_BASE_URL")
        return LLMSetup(generator=offline)
    client = openai.AsyncOpenAI(
        api_key=api_key or "not-needed",
        base_url=base_url or None,
        timeout=openai.Timeout(timeout, connect=min(5.0, timeout)),
        max_retries=0,
    )
    spec = llm_spec(
        timeout=timeout,
        max_retries=max_retries,
        concurrency=concurrency,
        failure_threshold=failure_threshold,
        recovery_timeout=recovery_timeout,
        cap_wait=cap_wait,
    )
    policy = build_llm_policy(
        spec,
        clock=clock,
        cache_store=cache_store,
        cache_ttl=cache_ttl,
        rng=rng,
        sleep=sleep,
        observer=observer,
    )
    limiter = (
        RateLimiter(
            rate_limit,
            storage=limits_storage if limits_storage is not None else memory_limits_storage(),
            namespace="llm",
        )
        if rate_limit
        else None
    )
    gateway = LLMGateway(
        client,
        model,
        policy,
        offline,
        usage,
        Prices(Decimal(price_prompt_per_1k), Decimal(price_completion_per_1k)),
        clock,
        Prompts(output_mode),
        limiter=limiter,
        hold_seconds=hold_seconds,
        send_temperature=send_temperature,
    )
    return LLMSetup(generator=gateway, gateway=gateway, limiter=limiter)


# ---------------------------------------------------------------------- limits storage


class LeanMemoryStorage(MemoryStorage):
    """``limits``' in-memory async storage with its expiry sweep throttled.

    The stock storage starts a sweep over *every* key after every hit (and, for moving windows,
    hops to a worker thread once per key): with a few hundred active accounts that background
    work costs more than the rest of the LLM stack together (bench/llm_resilience.py). The
    sweep only frees memory — limits are checked against timestamps on every hit — so here it
    runs at most once per ``sweep_interval`` seconds. Use it for every in-memory limiter.
    """

    def __init__(self, sweep_interval: float = 10.0) -> None:
        super().__init__()
        self.sweep_interval = sweep_interval
        self.sweeps = 0
        self._next_sweep = 0.0

    async def _MemoryStorage__schedule_expiry(self) -> None:  # the base class's private hook
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_interval
        self.sweeps += 1
        await _BASE_SCHEDULE(self)


_BASE_SCHEDULE: Any = getattr(MemoryStorage, "_MemoryStorage__schedule_expiry", None)


def memory_limits_storage() -> Storage:
    """The in-memory ``limits`` storage for rate limiters: :class:`LeanMemoryStorage`, or the
    stock one should a ``limits`` upgrade rename the hook it throttles."""
    if _BASE_SCHEDULE is None:
        log.warning("limits_memory_storage_unthrottled")
        return MemoryStorage()
    return LeanMemoryStorage()


def open_limits_storage(
    redis_url: str,
    *,
    key_prefix: str = "huntaze:limits",
    implementation: Literal["redispy", "coredis"] = "redispy",
    timeout: float | None = None,
) -> Storage:
    """A ``limits`` async storage on Redis (shared rate limits). ``limits`` imports the Redis
    client lazily, so core itself never imports redis. Close it with
    :func:`close_limits_storage`."""
    options: dict[str, Any] = {}
    if timeout is not None:  # passed on to the Redis client limits builds
        options.update(socket_timeout=timeout, socket_connect_timeout=timeout)
    storage = storage_from_string(
        limits_storage_uri(redis_url),
        implementation=implementation,
        key_prefix=key_prefix,
        **options,
    )
    if not isinstance(storage, Storage):
        raise TypeError("not an async limits storage")
    return storage


async def close_limits_storage(storage: Storage) -> None:
    """``limits`` has no close(): close the Redis client its bridge built (if any)."""
    bridge = getattr(storage, "bridge", None)
    client: Any = getattr(bridge, "storage", None)
    if client is None:
        return
    if hasattr(client, "aclose"):
        await client.aclose()
    elif hasattr(client, "connection_pool"):
        client.connection_pool.disconnect()
