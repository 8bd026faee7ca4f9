"""Redis implementation of ``core.ports.KeyValueStore``.

``RedisKV(redis.asyncio.Redis(...), prefix="huntaze:")``. Every key is stored under ``prefix`` so
several apps (or test runs) can share one Redis database. The client must return bytes (the
default, ``decode_responses=False``). TTLs are seconds (floats allowed, millisecond precision); a
TTL <= 0 means "already expired" (as in ``MemoryKV``).

A Redis that cannot be reached raises ``core.errors.ServiceUnavailable``.
"""

from __future__ import annotations

import math
from typing import Any

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from core.errors import ServiceUnavailable

KV_UNAVAILABLE_MESSAGE = (
    "The cache server is not reachable right now; nothing was changed. "
    "Please try again in a minute."
)


def _ttl_ms(ttl: float | None) -> int | None:
    """Milliseconds for ``PX`` (at least 1); None for no expiry. Call only with ttl > 0."""
    if ttl is None:
        return None
    return max(1, math.ceil(ttl * 1000))


def _expired(ttl: float | None) -> bool:
    return ttl is not None and ttl <= 0


class RedisKV:
    """A ``KeyValueStore`` on Redis (``GET``, ``SET PX``, ``SET NX PX``, ``DEL``)."""

    def __init__(self, redis: Redis, prefix: str = "huntaze:") -> None:
        self._redis = redis
        self._prefix = prefix

    @property
    def prefix(self) -> str:
        return self._prefix

    def _key(self, key: str) -> str:
        return self._prefix + key

    async def get(self, key: str) -> bytes | None:
        value = await self._call(self._redis.get, self._key(key))
        if value is None:
            return None
        return value if isinstance(value, bytes) else str(value).encode()

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        """Store ``value``, replacing the value and TTL. A ttl <= 0 is already expired."""
        if _expired(ttl):
            await self.delete(key)
            return
        await self._call(self._redis.set, self._key(key), value, px=_ttl_ms(ttl))

    async def delete(self, key: str) -> None:
        await self._call(self._redis.delete, self._key(key))

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        """Store only when the key is missing; True when this call stored it.

        A ttl <= 0 stores nothing (already expired) but still says whether the key was free.
        """
        if _expired(ttl):
            return not await self._call(self._redis.exists, self._key(key))
        stored = await self._call(self._redis.set, self._key(key), value, px=_ttl_ms(ttl), nx=True)
        return bool(stored)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (redis_errors.RedisError, OSError):
            return False

    async def _call(self, method: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
            raise ServiceUnavailable(KV_UNAVAILABLE_MESSAGE) from error


__all__ = ["KV_UNAVAILABLE_MESSAGE", "RedisKV"]
