"""Wiring: the one place that picks implementations from ``Settings``.

``build(settings)`` returns a ``Container`` holding the object graph; ``aclose()`` releases it.

What it builds, in order: the database (migrated), the key-value store (memory or Redis), the
blob store (local or S3), the metrics registry (a dedicated ``CollectorRegistry``), the content
generator (the LLM gateway behind its resilience policy, or the offline engine; plan quotas in
front when enforced), billing (the Stripe Checkout gateway when ``STRIPE_API_KEY`` is set), the
readiness checks and the assistant.

Slots left for the chat adapters: ``container.notifier.add(n)`` lets an adapter tell creators
about plan and credit changes (until one is added, notices are only logged).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import structlog
from prometheus_client import CollectorRegistry

from bot.settings import Settings
from core.app import Assistant, Limits
from core.chat import Reply
from core.clock import SystemClock
from core.errors import StartupError
from core.jobs import DeadLetters, JobQueue, JobRunner, adopt_kv_summaries
from core.llm.offline import OfflineEngine
from core.llm.policies import (
    SPECS,
    build_llm_generator,
    build_policy,
    close_limits_storage,
    memory_limits_storage,
    open_limits_storage,
)
from core.ports import BlobStore, Clock, ContentGenerator, KeyValueStore, Notifier, Store
from core.resilience.cache import MemoryKV
from core.resilience.errors import chain_classifiers, classify_default
from core.resilience.ratelimit import RateLimiter
from core.services.billing import BillingService, Catalog, default_catalog
from core.services.imports import CsvImporter
from core.services.quotas import QuotaedGenerator, QuotaService
from storage.blobs import LocalBlobStore, S3BlobStore
from storage.db import create_engine, migrate
from storage.repositories import SqlStore
from webhooks.health import Health
from webhooks.metrics import MeteredUsage, Metrics
from webhooks.stripe import StripeCheckout, classify_stripe

log = structlog.get_logger("huntaze.notify")


class FanoutNotifier:
    """``core.ports.Notifier`` that hands each notice to every registered notifier (the chat
    adapters add theirs); with none registered it only logs (never the text: it may be private).
    """

    def __init__(self) -> None:
        self._targets: list[Notifier] = []

    def add(self, notifier: Notifier) -> None:
        self._targets.append(notifier)

    async def notify(self, account_id: int, message: str | Reply) -> None:
        if not self._targets:
            log.info("notice_not_delivered", account_id=account_id, reason="no chat adapter")
            return
        for target in self._targets:
            try:
                await target.notify(account_id, message)
            except Exception:
                log.warning("notice_failed", account_id=account_id, exc_info=True)


@dataclass
class Container:
    settings: Settings
    clock: Clock
    store: Store
    kv: KeyValueStore
    blobs: BlobStore
    generator: ContentGenerator
    assistant: Assistant
    redis: Any = None
    exit_stack: AsyncExitStack = field(default_factory=AsyncExitStack)
    metrics: Metrics = field(default_factory=Metrics)
    catalog: Catalog = field(default_factory=default_catalog)
    billing: BillingService | None = None
    quotas: QuotaService | None = None
    notifier: FanoutNotifier = field(default_factory=FanoutNotifier)
    health: Health = field(default_factory=Health)
    jobs: JobQueue | None = None  # LocalJobQueue (embedded) or SaqJobQueue (REDIS_URL)
    job_runner: JobRunner | None = None
    dead_letters: DeadLetters | None = None

    async def drain_jobs(self) -> None:
        """In-process jobs finish (bounded) while the chat adapters can still notify."""
        from bot.jobs import LocalJobQueue

        if isinstance(self.jobs, LocalJobQueue):
            await self.jobs.aclose()

    async def aclose(self) -> None:
        await self.exit_stack.aclose()


async def build(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    stack = AsyncExitStack()
    try:
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url, pg_pool_size=settings.database_pool_size)
        stack.push_async_callback(engine.dispose)
        store = SqlStore(engine, clock)

        redis = None
        kv: KeyValueStore
        limits_storage = None
        if settings.redis_url:
            import redis.asyncio as aioredis

            from storage.cache import RedisKV

            timeout = settings.redis_timeout
            redis = aioredis.Redis.from_url(
                settings.redis_url, socket_connect_timeout=timeout, socket_timeout=timeout
            )
            stack.push_async_callback(redis.aclose)
            try:
                await redis.ping()
            except Exception as exc:
                raise StartupError(f"cannot reach Redis at {settings.redis_url}: {exc}") from exc
            kv = RedisKV(redis, prefix="huntaze:")
            limits_storage = open_limits_storage(settings.redis_url, timeout=timeout)
            stack.push_async_callback(close_limits_storage, limits_storage)
            if moved := await adopt_kv_summaries(kv, store.summaries):
                log.info("summaries_moved_to_database", accounts=moved)
        else:
            kv = MemoryKV(max_entries=100_000, clock=clock)

        blobs: BlobStore
        if settings.s3_bucket:
            blobs = S3BlobStore(
                settings.s3_bucket,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                part_size=settings.s3_part_mb * 1024 * 1024,
                multipart_threshold=settings.s3_multipart_mb * 1024 * 1024,
            )
        else:
            blobs = LocalBlobStore(settings.blob_root)

        # A dedicated registry: nothing is registered on prometheus_client's global one.
        metrics = Metrics(CollectorRegistry(auto_describe=True))

        llm = build_llm_generator(
            api_key=(
                settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
            ),
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            timeout=settings.openai_timeout,
            max_retries=settings.openai_max_retries,
            price_prompt_per_1k=settings.openai_price_prompt_per_1k,
            price_completion_per_1k=settings.openai_price_completion_per_1k,
            concurrency=settings.llm_concurrency,
            cache_ttl=settings.llm_cache_ttl,
            rate_limit=None,
            usage=MeteredUsage(store.usage, metrics),
            clock=clock,
            offline=OfflineEngine(),
            cache_store=kv if settings.redis_url else None,
            limits_storage=limits_storage,
            observer=metrics.policy_observer("llm"),
        )
        stack.push_async_callback(llm.aclose)

        catalog = default_catalog(settings.price_ids)
        quotas = (
            QuotaService(store.quota_usage, store.accounts, store.assets, catalog, clock)
            if settings.quotas_enforced
            else None
        )
        generator: ContentGenerator = llm.generator
        if quotas is not None:
            generator = QuotaedGenerator(generator, quotas)

        notifier = FanoutNotifier()
        checkout = None
        if settings.stripe_api_key is not None:
            stripe_policy = build_policy(
                SPECS["stripe"],
                classifier=chain_classifiers(classify_stripe, classify_default),
                clock=clock,
                observer=metrics.policy_observer("stripe"),
            )
            checkout = StripeCheckout(
                settings.stripe_api_key.get_secret_value(),
                stripe_policy,
                api_base=settings.stripe_api_base,
            )
            stack.push_async_callback(checkout.aclose)
        billing = BillingService(
            store.billing,
            store.accounts,
            catalog,
            clock,
            notifier=notifier,
            gateway=checkout,
            success_url=settings.checkout_success_url,
            cancel_url=settings.checkout_cancel_url,
        )
        metrics.watch_group_commit("stripe_events", billing.commits)

        assistant = Assistant(
            store=store,
            generator=generator,
            kv=kv,
            clock=clock,
            blobs=blobs,
            quotas=quotas,
            billing=billing,
            importer=CsvImporter(store, clock),
            narrator=llm.gateway,  # /stats narratives from the model, when one is configured
            advisor=llm.gateway,  # and answers to questions no command answers
            notifier=notifier,
            limits=Limits(
                max_upload_bytes=settings.max_upload_bytes,
                max_import_bytes=settings.max_import_bytes,
            ),
            observer=metrics,
            rate_limiter=RateLimiter(
                f"{settings.rate_limit_per_minute}/minute",
                storage=limits_storage if limits_storage is not None else memory_limits_storage(),
                namespace="cmd",
            ),
        )

        jobs, job_runner, dead_letters = _build_jobs(settings, assistant, notifier, redis, clock)
        stack.push_async_callback(jobs.aclose)
        assistant.jobs = jobs

        health = Health()
        health.add("database", store.ping, critical=True)
        if redis is not None:
            redis_client = redis

            async def redis_ping() -> bool:
                return bool(await redis_client.ping())

            health.add("redis", redis_ping, critical=True)
        health.add("blobs", blobs.ping, critical=False)
        if llm.gateway is not None and llm.gateway.policy.breaker is not None:
            breaker = llm.gateway.policy.breaker
            health.breaker_state = lambda: breaker.state.value

        return Container(
            settings=settings,
            clock=clock,
            store=store,
            kv=kv,
            blobs=blobs,
            generator=generator,
            assistant=assistant,
            redis=redis,
            exit_stack=stack,
            metrics=metrics,
            catalog=catalog,
            billing=billing,
            quotas=quotas,
            notifier=notifier,
            health=health,
            jobs=jobs,
            job_runner=job_runner,
            dead_letters=dead_letters,
        )
    except BaseException:
        await stack.aclose()
        raise


def _build_jobs(
    settings: Settings, assistant: Assistant, notifier: Notifier, redis: Any, clock: Clock
) -> tuple[Any, JobRunner, DeadLetters]:
    """SAQ over Redis with ``REDIS_URL`` (``huntaze worker`` consumes), else in-process."""
    from bot.jobs import (
        FileDeadLetters,
        LocalJobQueue,
        RedisDeadLetters,
        SaqJobQueue,
        saq_queue,
    )

    runner = JobRunner(assistant, notifier)
    if settings.redis_url and redis is not None:
        # JOBS_QUEUE (when Settings has it): instances and workers sharing one Redis must agree.
        name = settings.jobs_queue
        dead: DeadLetters = RedisDeadLetters(redis, key=f"{name}:jobs:dead")
        return SaqJobQueue(saq_queue(settings.redis_url, name), runner), runner, dead
    dead = FileDeadLetters(settings.data_dir / "jobs" / "dead-letters.json")
    return LocalJobQueue(runner, dead, clock), runner, dead
