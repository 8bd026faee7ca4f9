"""Wiring: the one place that picks implementations from ``Settings``.

``build(settings)`` returns a ``Container`` holding the object graph; ``aclose()`` releases it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from bot.settings import Settings
from core.app import Assistant, Limits
from core.clock import SystemClock
from core.errors import StartupError
from core.llm.offline import OfflineEngine
from core.ports import BlobStore, Clock, ContentGenerator, KeyValueStore, Store
from core.resilience.cache import MemoryKV
from storage.blobs import LocalBlobStore, S3BlobStore
from storage.db import create_engine, migrate
from storage.repositories import SqlStore


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

    async def aclose(self) -> None:
        await self.exit_stack.aclose()


async def build(settings: Settings, clock: Clock | None = None) -> Container:
    clock = clock or SystemClock()
    stack = AsyncExitStack()
    try:
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        stack.push_async_callback(engine.dispose)
        store = SqlStore(engine, clock)

        redis = None
        kv: KeyValueStore
        if settings.redis_url:
            import redis.asyncio as aioredis

            from storage.cache import RedisKV

            redis = aioredis.Redis.from_url(settings.redis_url)
            stack.push_async_callback(redis.aclose)
            try:
                await redis.ping()
            except Exception as exc:
                raise StartupError(f"cannot reach Redis at {settings.redis_url}: {exc}") from exc
            kv = RedisKV(redis, prefix="huntaze:")
        else:
            kv = MemoryKV(max_entries=100_000, clock=clock)

        blobs: BlobStore
        if settings.s3_bucket:
            blobs = S3BlobStore(
                settings.s3_bucket,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
            )
        else:
            blobs = LocalBlobStore(settings.blob_root)

        generator: ContentGenerator = OfflineEngine()
        assistant = Assistant(
            store=store,
            generator=generator,
            kv=kv,
            clock=clock,
            blobs=blobs,
            limits=Limits(max_upload_bytes=settings.max_upload_bytes),
        )
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
        )
    except BaseException:
        await stack.aclose()
        raise
