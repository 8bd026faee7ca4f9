"""Benchmark: the LLM resilience stack against the local OpenAI-compatible server, in one run.

Everything runs in one event loop: the fake server (tests/fakes/openai_server.py), the real
``openai.AsyncOpenAI`` client (``max_retries=0``) and the stack as ``core/llm/policies.py``
composes it for production (per-account rate limit -> response cache -> coalescing ->
concurrency cap -> retry -> circuit breaker -> per-attempt timeout).

Measured:

1. **Per-call overhead of the whole stack** on the success path (cache miss + store, unique key
   per call, rate-limit hit for one of 10,000 accounts), in two ways, with the in-memory
   defaults and with Redis (``REDIS_URL``, default ``redis://127.0.0.1:6379/13``; cache in
   ``RedisKV``, limits in a Redis ``limits`` storage):

   - around a no-op upstream (``p50(stack(noop)) - p50(noop)``): the stack's own cost, exact;
   - around a real HTTP call to the local server, bare and stacked calls interleaved
     (``p50(stacked) - p50(bare)``): the same cost, seen through the noise of a ~1 ms call.

   For information, the same for the full gateway (prompt, schema, JSON validation, product
   rules, usage row into an in-memory repository) around the HTTP call.
2. **Answer time while the breaker is open** (the breaker tripped): ``LLMGateway`` calls for each
   feature, offline answer and usage row included (usage in memory; and, for information, into a
   real SQLite database).
3. **Upstream calls for 100 identical concurrent requests** through the gateway (the server
   answers after 20 ms), in memory and with Redis.

Goals: overhead p50 <= 0.25 ms (memory) and <= 1 ms (Redis); breaker-open answer p95 <= 5 ms;
1 upstream call for 100 identical requests.

Run: ``.venv/bin/python bench/llm_resilience.py [--quick] [--no-redis]``. Prints a table; the last
line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import openai
import structlog

from core.clock import SystemClock
from core.llm.gateway import LLMAnswer, LLMGateway
from core.llm.offline import OfflineEngine
from core.llm.policies import (
    build_llm_generator,
    build_llm_policy,
    close_limits_storage,
    llm_spec,
    memory_limits_storage,
    open_limits_storage,
)
from core.models import (
    CaptionRequest,
    Fan,
    HashtagRequest,
    IdeaRequest,
    PersonalizeRequest,
    Profile,
)
from core.ports import KeyValueStore, UsageRecord, UsageRepository, UsageSummary
from core.resilience import RateLimiter, SingleFlight
from tests.fakes.openai_server import Behaviour, FakeOpenAI

MODEL = "fake-gpt-4o-mini"
ACCOUNTS = 10_000
PROFILE = Profile(
    niches=["fitness"],
    platforms=["instagram"],
    content_types=["photo", "short_video"],
    equipment=["phone", "ring_light"],
    locations=["gym", "home"],
    restricted_words=["sweaty"],
)
ANSWER = {"text": "Leg day recap: every rep counted.", "hashtags": ["legday", "gym"]}
GOALS = {
    "overhead_memory_p50_ms": 0.25,
    "overhead_redis_p50_ms": 1.0,
    "breaker_open_p95_ms": 5.0,
    "coalesced_upstream_calls": 1,
}

Call = Callable[[], Awaitable[Any]]


class MemoryUsage:
    """An in-memory UsageRepository (the benchmark isolates the gateway from the database)."""

    def __init__(self) -> None:
        self.rows = 0

    async def record(self, account_id: int, record: UsageRecord) -> None:
        self.rows += 1

    async def summary(self, account_id: int, since: datetime) -> UsageSummary:
        return UsageSummary()


def ms(ns: float) -> float:
    return round(ns / 1e6, 4)


def pct(samples: list[int], q: float) -> float:
    s = sorted(samples)
    return float(s[min(len(s) - 1, int(q * len(s)))])


async def timed(fn: Call) -> int:
    t0 = time.perf_counter_ns()
    await fn()
    return time.perf_counter_ns() - t0


async def interleaved(a: Call, b: Call, n: int, warmup: int = 50) -> tuple[list[int], list[int]]:
    """``n`` timings of each, alternating a/b so drift hits both alike."""
    for _ in range(warmup):
        await a()
        await b()
    ta: list[int] = []
    tb: list[int] = []
    gc.collect()
    gc.disable()
    try:
        for i in range(n):
            if i % 2:
                ta.append(await timed(a))
                tb.append(await timed(b))
            else:
                tb.append(await timed(b))
                ta.append(await timed(a))
    finally:
        gc.enable()
    return ta, tb


# ---------------------------------------------------------------------- stacks


class Stack:
    """The composed LLM stack (as the gateway uses it) around any upstream function."""

    def __init__(
        self,
        clock: SystemClock,
        cache_store: KeyValueStore | None,
        limits_storage: Any,
    ) -> None:
        spec = llm_spec(timeout=20.0, max_retries=2, concurrency=8)
        self.policy = build_llm_policy(
            spec, clock=clock, cache_store=cache_store, cache_ttl=600.0, rng=random.Random(1)
        )
        storage = limits_storage if limits_storage is not None else memory_limits_storage()
        self.limiter = RateLimiter("30/minute", storage=storage, namespace="bench")
        self.flight: SingleFlight[Any] = SingleFlight()  # the gateway's outer coalescing
        self.rng = random.Random(2)
        self.run = uuid.uuid4().hex[:8]
        self.n = 0

    async def call(self, fn: Callable[[], Awaitable[LLMAnswer]]) -> LLMAnswer:
        self.n += 1
        decision = await self.limiter.hit(f"acct:{self.rng.randrange(ACCOUNTS)}")
        assert decision.allowed
        key = f"{self.run}:{self.n}"
        result = await self.flight.do(key, lambda: self.policy.call(key, fn))
        return result.value


def upstream(client: openai.AsyncOpenAI) -> Callable[[], Awaitable[LLMAnswer]]:
    messages: Any = [{"role": "user", "content": "caption please"}]

    async def fn() -> LLMAnswer:
        resp = await client.chat.completions.create(model=MODEL, messages=messages)
        return LLMAnswer(data=json.loads(resp.choices[0].message.content or "{}"), model=MODEL)

    return fn


async def noop() -> LLMAnswer:
    return LLMAnswer(data=ANSWER, model=MODEL)


async def overhead(
    label: str,
    server: FakeOpenAI,
    client: openai.AsyncOpenAI,
    cache_store: KeyValueStore | None,
    limits_storage: Any,
    n_noop: int,
    n_http: int,
) -> dict[str, Any]:
    clock = SystemClock()
    stack = Stack(clock, cache_store, limits_storage)
    bare_noop, stacked_noop = await interleaved(noop, lambda: stack.call(noop), n_noop)
    http = upstream(client)
    bare_http, stacked_http = await interleaved(http, lambda: stack.call(http), n_http)

    usage = MemoryUsage()
    setup = build_llm_generator(
        api_key="sk-bench",
        base_url=server.base_url,
        model=MODEL,
        timeout=20.0,
        max_retries=2,
        price_prompt_per_1k=Decimal("0.00015"),
        price_completion_per_1k=Decimal("0.0006"),
        concurrency=8,
        cache_ttl=600.0,
        rate_limit="30/minute",
        usage=usage,
        clock=clock,
        offline=OfflineEngine(),
        cache_store=cache_store,
        limits_storage=limits_storage,
        rng=random.Random(3),
    )
    gw = setup.generator
    assert isinstance(gw, LLMGateway)
    counter = [0]
    rng = random.Random(4)

    async def via_gateway() -> Any:
        counter[0] += 1
        req = CaptionRequest(profile=PROFILE, topic=f"leg day {counter[0]}", platform="instagram")
        out = await gw.caption(req, account_id=rng.randrange(ACCOUNTS))
        assert out.source == "llm", out
        return out

    bare_gw, full_gw = await interleaved(http, via_gateway, max(100, n_http // 2))
    await setup.aclose()
    stack_noop_p50 = pct(stacked_noop, 0.5) - pct(bare_noop, 0.5)
    return {
        "label": label,
        "noop_bare_p50_ms": ms(pct(bare_noop, 0.5)),
        "noop_stack_p50_ms": ms(pct(stacked_noop, 0.5)),
        "overhead_p50_ms": ms(stack_noop_p50),
        "overhead_p95_ms": ms(pct(stacked_noop, 0.95) - pct(bare_noop, 0.95)),
        "http_bare_p50_ms": ms(pct(bare_http, 0.5)),
        "http_stack_p50_ms": ms(pct(stacked_http, 0.5)),
        "http_delta_p50_ms": ms(pct(stacked_http, 0.5) - pct(bare_http, 0.5)),
        "gateway_delta_p50_ms": ms(pct(full_gw, 0.5) - pct(bare_gw, 0.5)),
        "upstream_calls_stack": server.calls,
    }


# ---------------------------------------------------------------------- breaker open


async def breaker_open(server: FakeOpenAI, n: int, sqlite: bool) -> dict[str, Any]:
    clock = SystemClock()
    usage: UsageRepository
    engine = None
    if sqlite:
        from storage.db import create_engine, migrate
        from storage.repositories import SqlStore

        tmp = tempfile.mkdtemp(prefix="bench-llm-")
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await migrate(url)
        engine = create_engine(url)
        store = SqlStore(engine, clock)
        from core.models import Identity

        account = (await store.accounts.resolve(Identity(platform="bench", external_id="1"))).id
        usage = store.usage
    else:
        account = 1
        usage = MemoryUsage()
    setup = build_llm_generator(
        api_key="sk-bench",
        base_url=server.base_url,
        model=MODEL,
        timeout=20.0,
        max_retries=2,
        price_prompt_per_1k=Decimal("0.00015"),
        price_completion_per_1k=Decimal("0.0006"),
        concurrency=8,
        cache_ttl=600.0,
        rate_limit=None,
        usage=usage,
        clock=clock,
        offline=OfflineEngine(),
        rng=random.Random(5),
        recovery_timeout=3600.0,
    )
    gw = setup.generator
    assert isinstance(gw, LLMGateway) and gw.policy.breaker is not None
    gw.policy.breaker.trip()
    before = server.calls
    fans = [Fan(handle=f"fan{i}", name=f"Fan {i}", tier="vip") for i in range(3)]
    seq = [0]

    def nxt() -> int:
        seq[0] += 1
        return seq[0]

    offline = OfflineEngine()

    def requests() -> dict[str, Any]:
        n = nxt()
        return {
            "caption": CaptionRequest(
                profile=PROFILE, topic=f"beach {n}", platform="instagram", seed=n
            ),
            "hashtags": HashtagRequest(
                profile=PROFILE, topic=f"gym {n}", platform="tiktok", seed=n
            ),
            "ideas": IdeaRequest(profile=PROFILE, count=5, seed=n),
            "personalize": PersonalizeRequest(
                profile=PROFILE,
                template="Hey {name}, I missed you!",
                fans=fans,
                today=date(2026, 11, 24),
                seed=n,
            ),
        }

    out: dict[str, Any] = {}
    for name in ("caption", "hashtags", "ideas", "personalize"):

        def via(gen: Any, name: str = name) -> Call:
            return lambda: getattr(gen, name)(requests()[name], account_id=account)

        first = await via(gw)()
        assert first.degraded and first.source == "offline"
        bare, guarded = await interleaved(via(offline), via(gw), n, warmup=20)
        out[name] = {
            "p50_ms": ms(pct(guarded, 0.5)),
            "p95_ms": ms(pct(guarded, 0.95)),
            "offline_alone_p50_ms": ms(pct(bare, 0.5)),
            "offline_alone_p95_ms": ms(pct(bare, 0.95)),
        }
    out["upstream_calls"] = server.calls - before
    await setup.aclose()
    if engine is not None:
        await engine.dispose()
    return out


# ---------------------------------------------------------------------- coalescing


async def coalescing(
    server: FakeOpenAI, cache_store: KeyValueStore | None, limits_storage: Any
) -> int:
    clock = SystemClock()
    setup = build_llm_generator(
        api_key="sk-bench",
        base_url=server.base_url,
        model=MODEL,
        timeout=20.0,
        max_retries=2,
        price_prompt_per_1k=Decimal("0.00015"),
        price_completion_per_1k=Decimal("0.0006"),
        concurrency=8,
        cache_ttl=600.0,
        rate_limit="1000/minute",
        usage=MemoryUsage(),
        clock=clock,
        offline=OfflineEngine(),
        cache_store=cache_store,
        limits_storage=limits_storage,
        rng=random.Random(6),
    )
    gw = setup.generator
    assert isinstance(gw, LLMGateway)
    server.set_default(Behaviour.reply_json(ANSWER, delay=0.02))
    before = server.calls
    topic = f"identical {uuid.uuid4().hex[:6]}"
    req = CaptionRequest(profile=PROFILE, topic=topic, platform="instagram")
    results = await asyncio.gather(*(gw.caption(req, account_id=7) for _ in range(100)))
    sources = {(r.source, r.degraded) for r in results}
    assert sources == {("llm", False)}, sources
    server.set_default(Behaviour.reply_json(ANSWER))
    await setup.aclose()
    return server.calls - before


# ---------------------------------------------------------------------- main


async def redis_backends(url: str, prefix: str) -> tuple[Any, Any, Any] | None:
    try:
        import redis.asyncio as aioredis

        from storage.cache import RedisKV

        client = aioredis.Redis.from_url(url)
        await asyncio.wait_for(client.ping(), 2)
    except Exception as exc:
        print(f"(Redis at {url} unavailable: {type(exc).__name__}; Redis rows skipped)")
        return None
    kv = RedisKV(client, prefix=prefix)
    limits = open_limits_storage(url, key_prefix=prefix + "limits")
    return client, kv, limits


async def cleanup_redis(client: Any, prefix: str) -> None:
    keys = [k async for k in client.scan_iter(match=prefix + "*", count=1000)]
    for i in range(0, len(keys), 500):
        await client.delete(*keys[i : i + 500])


async def run(opts: argparse.Namespace) -> dict[str, Any]:
    n_noop = 2000 if opts.quick else 20000
    n_http = 300 if opts.quick else 2000
    n_open = 300 if opts.quick else 2000
    results: dict[str, Any] = {}
    async with FakeOpenAI(default=Behaviour.reply_json(ANSWER)) as server:
        client = openai.AsyncOpenAI(
            base_url=server.base_url, api_key="sk-bench", max_retries=0, timeout=20
        )
        results["memory"] = await overhead("memory", server, client, None, None, n_noop, n_http)
        results["breaker_open"] = await breaker_open(server, n_open, sqlite=False)
        results["breaker_open_sqlite"] = await breaker_open(server, n_open // 4, sqlite=True)
        results["coalesced_memory"] = await coalescing(server, None, None)
        results["redis"] = None
        results["coalesced_redis"] = None
        if not opts.no_redis:
            url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13")
            prefix = f"bench:{uuid.uuid4().hex[:8]}:"
            backends = await redis_backends(url, prefix)
            if backends is not None:
                rclient, kv, limits = backends
                try:
                    results["redis"] = await overhead(
                        "redis", server, client, kv, limits, n_noop // 4, n_http // 2
                    )
                    results["coalesced_redis"] = await coalescing(server, kv, limits)
                finally:
                    await close_limits_storage(limits)
                    await cleanup_redis(rclient, prefix)
                    await rclient.aclose()
        await client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis rows")
    opts = parser.parse_args(argv)
    started = time.perf_counter()
    r = asyncio.run(run(opts))
    elapsed = time.perf_counter() - started

    print("LLM resilience stack — local OpenAI-compatible server, one event loop")
    print()
    header = f"{'per-call overhead (success path)':44} {'memory':>10} {'redis':>10}"
    print(header)
    print("-" * len(header))
    mem, red = r["memory"], r["redis"] or {}

    def row(label: str, key: str) -> None:
        rv = f"{red[key]:>10.3f}" if key in red else f"{'-':>10}"
        print(f"{label:44} {mem[key]:>10.3f} {rv}")

    row("no-op upstream, bare p50 (ms)", "noop_bare_p50_ms")
    row("no-op upstream, through the stack p50 (ms)", "noop_stack_p50_ms")
    row("stack overhead p50 (ms)  [goal]", "overhead_p50_ms")
    row("stack overhead p95 (ms)", "overhead_p95_ms")
    row("HTTP call, bare p50 (ms)", "http_bare_p50_ms")
    row("HTTP call, through the stack p50 (ms)", "http_stack_p50_ms")
    row("  difference p50 (ms)", "http_delta_p50_ms")
    row("full gateway vs bare HTTP, difference p50", "gateway_delta_p50_ms")
    print()
    header = (
        f"{'breaker open: answer time (offline answer)':44} {'p50 ms':>10} {'p95 ms':>10}"
        f" {'engine p50':>11} {'engine p95':>11}"
    )
    print(header)
    print("-" * len(header))
    for key, label in (("breaker_open", "usage in memory"), ("breaker_open_sqlite", "SQLite")):
        for name in ("caption", "hashtags", "ideas", "personalize"):
            f = r[key][name]
            print(
                f"{name + ' (' + label + ')':44} {f['p50_ms']:>10.3f} {f['p95_ms']:>10.3f}"
                f" {f['offline_alone_p50_ms']:>11.3f} {f['offline_alone_p95_ms']:>11.3f}"
            )
    print("  (engine: the offline engine called directly, interleaved, same requests)")
    print(f"{'upstream calls while open':44} {r['breaker_open']['upstream_calls']:>10}")
    print()
    cr = r["coalesced_redis"]
    print(
        f"{'100 identical concurrent requests: upstream':44} {r['coalesced_memory']:>10} "
        f"{(cr if cr is not None else '-'):>10}"
    )

    features = ("caption", "hashtags", "ideas", "personalize")
    open_p95 = max(r["breaker_open"][n]["p95_ms"] for n in features)
    goals = {
        "overhead_memory_p50<=0.25ms": mem["overhead_p50_ms"] <= GOALS["overhead_memory_p50_ms"],
        "overhead_redis_p50<=1ms": (
            None if not red else red["overhead_p50_ms"] <= GOALS["overhead_redis_p50_ms"]
        ),
        "breaker_open_p95<=5ms": open_p95 <= GOALS["breaker_open_p95_ms"],
        "coalesced_upstream==1": r["coalesced_memory"] == 1 and cr in (None, 1),
    }
    print()
    print(
        "Goals: "
        + "  ".join(
            f"{k} {'n/a' if v is None else ('met' if v else 'MISSED')}" for k, v in goals.items()
        )
    )
    print(f"elapsed {elapsed:.1f}s")
    print(
        json.dumps(
            {
                "bench": "llm_resilience",
                "quick": opts.quick,
                "overhead_memory": mem,
                "overhead_redis": r["redis"],
                "breaker_open_memory_usage": r["breaker_open"],
                "breaker_open_sqlite_usage": r["breaker_open_sqlite"],
                "breaker_open_p95_ms_worst": open_p95,
                "coalesced_upstream_calls_memory": r["coalesced_memory"],
                "coalesced_upstream_calls_redis": cr,
                "goals": goals,
                "elapsed_s": round(elapsed, 1),
            },
            sort_keys=True,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
