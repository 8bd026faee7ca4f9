"""Prometheus metrics on a dedicated ``CollectorRegistry`` (created in ``bot/`` wiring; the
global default registry is never used) and ``GET /metrics``.

What is measured, and where it comes from:

- HTTP requests and latency by route (the route's pattern, never the raw path), method and
  status: :func:`metrics_middleware`;
- commands by name, platform and outcome, background jobs' tries by outcome and duration, and
  dead letters: :class:`Metrics` is a ``core.app.Observer``;
- calls to outside dependencies (LLM, Stripe) by outcome and latency, circuit-breaker state and
  response-cache hits: :meth:`Metrics.policy_observer` gives a ``PolicyObserver``;
- LLM requests, tokens, cost and latency by feature and model: :class:`MeteredUsage` wraps the
  usage repository the LLM gateway writes one row per call to;
- rate-limit rejections (commands, LLM), Stripe webhook events by type and outcome, uploads and
  upload bytes;
- group commits (the Stripe event writer): transactions run and writes committed, read at
  scrape time.

Labels never carry user, chat or account ids, message texts or secrets.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Protocol

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from core.ports import UsageRecord, UsageRepository, UsageSummary

BREAKER_STATES = ("closed", "half_open", "open")
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_JOB_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 1800.0)
_LABEL_SAFE = re.compile(r"^[A-Za-z0-9_.:/-]{1,64}$")


def safe_label(value: str, fallback: str = "other") -> str:
    """A label value that cannot blow up cardinality or carry text: short slugs only."""
    return value if _LABEL_SAFE.match(value) else fallback


class Metrics:
    """Every metric family, registered on ``registry``."""

    def __init__(self, registry: CollectorRegistry | None = None, namespace: str = "huntaze"):
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        self.namespace = namespace
        r, ns = self.registry, namespace
        self.http_requests = Counter(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status.",
            ["route", "method", "status"],
            namespace=ns,
            registry=r,
        )
        self.http_latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency, by route pattern, method and status.",
            ["route", "method", "status"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.http_in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being handled.", namespace=ns, registry=r
        )
        self.commands = Counter(
            "commands",
            "Chat commands handled, by command, platform and outcome.",
            ["command", "platform", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.command_latency = Histogram(
            "command_duration_seconds",
            "Time to answer a chat command, by command and platform.",
            ["command", "platform"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.rate_limited = Counter(
            "rate_limit_rejections",
            "Requests refused by a rate limit, by scope (command, llm).",
            ["scope"],
            namespace=ns,
            registry=r,
        )
        self.upstream_calls = Counter(
            "upstream_calls",
            "Calls to outside dependencies through the resilience policy, by outcome.",
            ["dependency", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.upstream_latency = Histogram(
            "upstream_call_duration_seconds",
            "Latency of guarded calls to outside dependencies (retries included).",
            ["dependency", "outcome"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.breaker_state = Gauge(
            "circuit_breaker_state",
            "1 for the circuit breaker's current state (closed, half_open, open).",
            ["dependency", "state"],
            namespace=ns,
            registry=r,
        )
        self.cache_lookups = Counter(
            "cache_lookups",
            "Response-cache lookups, by dependency and result (hit, miss).",
            ["dependency", "result"],
            namespace=ns,
            registry=r,
        )
        self.llm_requests = Counter(
            "llm_requests",
            "Content generations, by feature, model and outcome (ok, fallback, error...).",
            ["feature", "model", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.llm_tokens = Counter(
            "llm_tokens",
            "LLM tokens used, by feature, model and kind (prompt, completion).",
            ["feature", "model", "kind"],
            namespace=ns,
            registry=r,
        )
        self.llm_cost = Counter(
            "llm_cost_dollars",
            "Estimated LLM cost in US dollars, by feature and model.",
            ["feature", "model"],
            namespace=ns,
            registry=r,
        )
        self.llm_latency = Histogram(
            "llm_request_duration_seconds",
            "Latency of content generations, by feature and model.",
            ["feature", "model"],
            namespace=ns,
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self.webhook_events = Counter(
            "webhook_events",
            "Webhook events received, by source, event type and outcome.",
            ["source", "type", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.jobs = Counter(
            "jobs",
            "Tries of background jobs, by job name and outcome (ok, failed, cancelled: a "
            "timeout or a shutdown).",
            ["name", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.job_duration = Histogram(
            "job_duration_seconds",
            "How long one try of a background job took, by job name.",
            ["name"],
            namespace=ns,
            registry=r,
            buckets=_JOB_BUCKETS,
        )
        self.jobs_dead = Counter(
            "jobs_dead",
            "Background jobs that failed their last try (dead letters: huntaze jobs dead), by "
            "job name.",
            ["name"],
            namespace=ns,
            registry=r,
        )
        self.uploads = Counter(
            "uploads",
            "Files received through the uploads API, by store and outcome.",
            ["store", "outcome"],
            namespace=ns,
            registry=r,
        )
        self.upload_bytes = Counter(
            "upload_bytes",
            "Bytes received through the uploads API, by store and outcome.",
            ["store", "outcome"],
            namespace=ns,
            registry=r,
        )

    # ------------------------------------------------------------ core.app.Observer

    def command(self, name: str, platform: str, outcome: str, seconds: float) -> None:
        command, platform = safe_label(name), safe_label(platform)
        self.commands.labels(command, platform, safe_label(outcome)).inc()
        self.command_latency.labels(command, platform).observe(seconds)
        if outcome == "ratelimitederror":
            self.rate_limited.labels("command").inc()

    def job(self, name: str, outcome: str, seconds: float) -> None:
        job = safe_label(name)
        self.jobs.labels(job, safe_label(outcome)).inc()
        self.job_duration.labels(job).observe(max(0.0, seconds))

    def job_dead(self, name: str) -> None:
        self.jobs_dead.labels(safe_label(name)).inc()

    # ------------------------------------------------------------ resilience

    def policy_observer(self, dependency: str) -> PolicyMetrics:
        """A ``core.resilience.policy.PolicyObserver`` for one dependency."""
        self.set_breaker_state(dependency, "closed")
        return PolicyMetrics(self, dependency)

    def set_breaker_state(self, dependency: str, state: str) -> None:
        for candidate in BREAKER_STATES:
            self.breaker_state.labels(dependency, candidate).set(1 if candidate == state else 0)

    # ------------------------------------------------------------ webhooks, uploads

    def webhook_event(self, source: str, event_type: str, outcome: str) -> None:
        self.webhook_events.labels(source, safe_label(event_type, "invalid"), outcome).inc()

    def upload(self, store: str, outcome: str, size: int) -> None:
        self.uploads.labels(store, outcome).inc()
        if size > 0:
            self.upload_bytes.labels(store, outcome).inc(size)

    def watch_group_commit(self, name: str, commits: GroupCommitStats) -> None:
        """Export a group commit's flushes and items (read at scrape time: nothing on the hot
        path). ``rate(items) / rate(batches)`` is the mean batch size."""
        self.registry.register(_GroupCommitCollector(self.namespace, name, commits))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class GroupCommitStats(Protocol):
    batches: int
    items: int


class _GroupCommitCollector(Collector):
    def __init__(self, namespace: str, name: str, commits: GroupCommitStats) -> None:
        self._namespace, self._name, self._commits = namespace, name, commits

    def collect(self) -> Iterable[Metric]:
        batches = CounterMetricFamily(
            f"{self._namespace}_group_commit_batches",
            "Transactions run by a group commit (several writes each when busy), by writer.",
            labels=["writer"],
        )
        batches.add_metric([self._name], self._commits.batches)
        items = CounterMetricFamily(
            f"{self._namespace}_group_commit_items",
            "Writes committed through a group commit, by writer.",
            labels=["writer"],
        )
        items.add_metric([self._name], self._commits.items)
        return [batches, items]


class PolicyMetrics:
    """``PolicyObserver`` for one dependency (cheap; never raises)."""

    __slots__ = ("_dependency", "_metrics")

    def __init__(self, metrics: Metrics, dependency: str) -> None:
        self._metrics = metrics
        self._dependency = dependency

    def on_call(self, outcome: str, latency: float) -> None:
        m = self._metrics
        m.upstream_calls.labels(self._dependency, outcome).inc()
        m.upstream_latency.labels(self._dependency, outcome).observe(max(0.0, latency))

    def on_breaker_state(self, name: str, state: str) -> None:
        self._metrics.set_breaker_state(self._dependency, state)

    def on_cache(self, hit: bool) -> None:
        self._metrics.cache_lookups.labels(self._dependency, "hit" if hit else "miss").inc()


class MeteredUsage:
    """A ``UsageRepository`` that counts every usage row (one per generator call) in metrics,
    then stores it in the wrapped repository."""

    def __init__(self, inner: UsageRepository, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def record(self, account_id: int, record: UsageRecord) -> None:
        m = self._metrics
        feature, model = safe_label(record.feature), safe_label(record.model)
        m.llm_requests.labels(feature, model, safe_label(record.outcome)).inc()
        if record.prompt_tokens:
            m.llm_tokens.labels(feature, model, "prompt").inc(record.prompt_tokens)
        if record.completion_tokens:
            m.llm_tokens.labels(feature, model, "completion").inc(record.completion_tokens)
        if record.cost:
            m.llm_cost.labels(feature, model).inc(float(record.cost))
        m.llm_latency.labels(feature, model).observe(max(0.0, record.latency_ms / 1000))
        if record.outcome == "rejected":
            m.rate_limited.labels("llm").inc()
        await self._inner.record(account_id, record)

    async def summary(self, account_id: int, since: datetime) -> UsageSummary:
        return await self._inner.summary(account_id, since)


# ---------------------------------------------------------------- aiohttp


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def route_label(request: web.Request) -> str:
    """The matched route's pattern (``/api/v1/assets``), or ``unmatched``: never a raw path."""
    route = request.match_info.route
    resource = route.resource
    if resource is None:
        return "unmatched"
    return resource.canonical


def metrics_middleware(metrics: Metrics) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        metrics.http_in_flight.inc()
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            metrics.http_in_flight.dec()
            labels = (route_label(request), request.method, str(status))
            metrics.http_requests.labels(*labels).inc()
            metrics.http_latency.labels(*labels).observe(time.perf_counter() - started)

    return middleware


def metrics_handler(metrics: Metrics) -> Handler:
    async def handle(request: web.Request) -> web.Response:
        body = metrics.render()
        response = web.Response(body=body)
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return handle


__all__ = [
    "BREAKER_STATES",
    "MeteredUsage",
    "Metrics",
    "PolicyMetrics",
    "metrics_handler",
    "metrics_middleware",
    "route_label",
    "safe_label",
]
