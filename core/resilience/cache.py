"""Response caching over the ``KeyValueStore`` port, and ``MemoryKV``, its in-memory default.

- :class:`MemoryKV` — an LRU with per-key TTL implementing ``core.ports.KeyValueStore``: the
  embedded default for dialogs, one-time codes and caches (``storage/`` brings the Redis one).
- :class:`ResponseCache` — namespaced get/set of values through a :class:`Codec`, with hit,
  miss and error counters. A broken store never breaks a call: errors count as misses.
- JSON helpers: :func:`dumps` / :func:`loads` (compact, deterministic, knows pydantic models,
  dataclasses, Decimal, datetimes) and :func:`stable_key` to build cache/coalescing keys from
  request parts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any, Generic, Protocol, TypeVar, overload

import structlog
from pydantic import BaseModel, TypeAdapter

from core.ports import KeyValueStore
from core.resilience.clock import MonotonicClock, SystemMonotonic

__all__ = [
    "JSON",
    "CacheHit",
    "Codec",
    "JsonCodec",
    "MemoryKV",
    "ResponseCache",
    "TypeCodec",
    "dumps",
    "loads",
    "stable_key",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

log = structlog.get_logger(__name__)


# ---------------------------------------------------------------------- JSON helpers


def _json_default(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime | date | time):
        return obj.isoformat()
    if isinstance(obj, Enum):
        return obj.value
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", errors="replace")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def dumps(obj: Any) -> bytes:
    """Compact, key-sorted UTF-8 JSON (deterministic: equal inputs give equal bytes)."""
    return json.dumps(
        obj, default=_json_default, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def loads(data: bytes | str) -> Any:
    return json.loads(data)


def stable_key(*parts: Any) -> str:
    """A short, stable key for any JSON-able parts (e.g. model, prompt version, request)."""
    return hashlib.sha256(dumps(parts)).hexdigest()[:40]


# ---------------------------------------------------------------------- codecs


class Codec(Protocol[T]):
    def encode(self, value: T) -> bytes: ...

    def decode(self, data: bytes) -> T: ...


class JsonCodec:
    """Plain JSON values (dicts, lists, str, numbers); pydantic models are dumped, not rebuilt."""

    def encode(self, value: Any) -> bytes:
        return dumps(value)

    def decode(self, data: bytes) -> Any:
        return loads(data)


JSON = JsonCodec()


class TypeCodec(Generic[T]):
    """Any type pydantic can validate (a model, ``list[Idea]``, ...), rebuilt on decode."""

    def __init__(self, tp: type[T]) -> None:
        self._adapter: TypeAdapter[T] = TypeAdapter(tp)

    def encode(self, value: T) -> bytes:
        return self._adapter.dump_json(value)

    def decode(self, data: bytes) -> T:
        return self._adapter.validate_json(data)


# ---------------------------------------------------------------------- MemoryKV


class MemoryKV:
    """In-memory ``KeyValueStore``: least-recently-used eviction past ``max_entries``, and an
    optional TTL per key measured on the injected monotonic clock. Expired entries are dropped
    when touched, when they reach the LRU end, or by :meth:`purge_expired`. Every operation is
    O(1) except ``purge_expired``. One event loop; no locking needed."""

    def __init__(self, max_entries: int = 10_000, clock: MonotonicClock | None = None) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.max_entries = max_entries
        self._clock: MonotonicClock = clock if clock is not None else SystemMonotonic()
        self._data: OrderedDict[str, tuple[bytes, float | None]] = OrderedDict()
        self.evictions = 0  # LRU evictions (not expiries)

    def __len__(self) -> int:
        return len(self._data)

    def _live(self, key: str, now: float) -> bytes | None:
        item = self._data.get(key)
        if item is None:
            return None
        value, expires = item
        if expires is not None and expires <= now:
            del self._data[key]
            return None
        return value

    async def get(self, key: str) -> bytes | None:
        value = self._live(key, self._clock.monotonic())
        if value is not None:
            self._data.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float | None = None) -> None:
        self._put(key, value, ttl)

    async def delete(self, key: str) -> None:
        self._data.pop(key, None)

    async def set_if_absent(self, key: str, value: bytes, ttl: float | None = None) -> bool:
        if self._live(key, self._clock.monotonic()) is not None:
            return False
        self._put(key, value, ttl)
        return True

    def purge_expired(self) -> int:
        """Drop every expired entry now; returns how many."""
        now = self._clock.monotonic()
        dead = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
        for k in dead:
            del self._data[k]
        return len(dead)

    def _put(self, key: str, value: bytes, ttl: float | None) -> None:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise TypeError("MemoryKV stores bytes")
        if ttl is not None and ttl <= 0:
            self._data.pop(key, None)  # already expired
            return
        expires = None if ttl is None else self._clock.monotonic() + ttl
        data = self._data
        data[key] = (bytes(value), expires)
        data.move_to_end(key)
        while len(data) > self.max_entries:
            data.popitem(last=False)
            self.evictions += 1


# ---------------------------------------------------------------------- ResponseCache


class CacheHit(Generic[T_co]):
    """A cache hit (so a cached ``None`` is told apart from a miss)."""

    __slots__ = ("value",)

    def __init__(self, value: T_co) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"CacheHit({self.value!r})"


_DEFAULT: Any = object()


class ResponseCache:
    """Cached responses in a ``KeyValueStore`` under ``namespace``.

    ``default_ttl`` applies when :meth:`set` gets no ``ttl`` (``None`` = no expiry).
    ``on_lookup(hit)`` is called after every lookup (metrics); counters ``hits``, ``misses``
    and ``errors`` are kept here too.
    """

    def __init__(
        self,
        store: KeyValueStore,
        *,
        namespace: str = "rc",
        default_ttl: float | None = 300.0,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        self.store = store
        self.prefix = f"{namespace}:" if namespace else ""
        self.default_ttl = default_ttl
        self.on_lookup = on_lookup
        self.hits = 0
        self.misses = 0
        self.errors = 0

    def _record(self, hit: bool) -> None:
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        if self.on_lookup is not None:
            self.on_lookup(hit)

    @overload
    async def get(self, key: str) -> CacheHit[Any] | None: ...

    @overload
    async def get(self, key: str, codec: Codec[T]) -> CacheHit[T] | None: ...

    async def get(self, key: str, codec: Codec[Any] = JSON) -> CacheHit[Any] | None:
        full = self.prefix + key
        try:
            data = await self.store.get(full)
        except Exception:
            self.errors += 1
            log.warning("cache_get_failed", key=full, exc_info=True)
            self._record(False)
            return None
        if data is None:
            self._record(False)
            return None
        try:
            value = codec.decode(data)
        except Exception:
            self.errors += 1
            log.warning("cache_decode_failed", key=full, exc_info=True)
            await self.delete(key)
            self._record(False)
            return None
        self._record(True)
        return CacheHit(value)

    async def set(
        self, key: str, value: T, codec: Codec[T] = JSON, ttl: float | None = _DEFAULT
    ) -> bool:
        """Store ``value``; returns False (and logs) when encoding or the store failed."""
        full = self.prefix + key
        try:
            data = codec.encode(value)
            await self.store.set(full, data, self.default_ttl if ttl is _DEFAULT else ttl)
        except Exception:
            self.errors += 1
            log.warning("cache_set_failed", key=full, exc_info=True)
            return False
        return True

    async def delete(self, key: str) -> None:
        try:
            await self.store.delete(self.prefix + key)
        except Exception:
            self.errors += 1
            log.warning("cache_delete_failed", key=self.prefix + key, exc_info=True)

    async def get_json(self, key: str, default: Any = None) -> Any:
        hit = await self.get(key, JSON)
        return default if hit is None else hit.value

    async def set_json(self, key: str, value: Any, ttl: float | None = _DEFAULT) -> bool:
        return await self.set(key, value, JSON, ttl)
