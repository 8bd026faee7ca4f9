"""``RedisChatPacer``: the per-chat token buckets of ``ChatPacer`` kept in Redis, so several
instances sending with one bot token share Telegram's per-chat flood limits.

Same interface as ``ChatPacer`` (``wait(chat_id)``, ``hold(chat_id, seconds)``). One Lua script
refills and takes a token atomically, on Redis' own clock (``TIME``), so instances with skewed
clocks agree. A 429's ``hold`` applies locally at once and is written to Redis in the
background. When Redis fails, pacing falls back to the local buckets (logged): sends are never
blocked by the pacer's store.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import structlog

from adapters.telegram.outbound import ChatPacer, Sleep

log = structlog.get_logger("huntaze.telegram")

# KEYS[1]: the chat's bucket. ARGV: rate (tokens/s), burst, ttl (s).
# Returns the seconds to wait before using the token taken (as a string: Lua numbers returned
# to Redis are truncated to integers).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated', 'blocked')
local tokens = tonumber(b[1]) or burst
local updated = tonumber(b[2]) or now
local blocked = tonumber(b[3]) or 0
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate) - 1
local delay = 0
if tokens < 0 then delay = -tokens / rate end
if blocked - now > delay then delay = blocked - now end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now),
           'blocked', tostring(blocked))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]))
return tostring(delay)
"""

# KEYS[1]: the chat's bucket. ARGV: seconds, ttl.
_HOLD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local until_ = now + tonumber(ARGV[1])
local blocked = tonumber(redis.call('HGET', KEYS[1], 'blocked')) or 0
if until_ > blocked then redis.call('HSET', KEYS[1], 'blocked', tostring(until_)) end
redis.call('EXPIRE', KEYS[1], math.max(tonumber(ARGV[2]), math.ceil(tonumber(ARGV[1])) + 1))
return 1
"""


def pacer_namespace(bot_token: str, prefix: str = "huntaze:tgpace:") -> str:
    """A Redis key prefix per bot token (hashed: the token is a secret)."""
    return prefix + hashlib.sha256(bot_token.encode()).hexdigest()[:16] + ":"


class RedisChatPacer(ChatPacer):
    def __init__(
        self,
        redis: Any,
        namespace: str,
        private_rate: float = 1.0,
        group_rate: float = 20 / 60,
        burst: int = 4,
        *,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        super().__init__(private_rate, group_rate, burst, sleep=sleep)
        self.redis = redis
        self.namespace = namespace
        self._reserve = redis.register_script(_RESERVE)
        self._hold = redis.register_script(_HOLD)
        self._background: set[asyncio.Task[Any]] = set()

    def _key(self, chat_id: int | str) -> str:
        return f"{self.namespace}{chat_id}"

    def _ttl(self, chat_id: int | str) -> int:
        return int(self.burst / self._rate(chat_id)) + 60

    async def reserve_shared(self, chat_id: int | str) -> float:
        """Take a token from the shared bucket; the seconds to wait before using it."""
        try:
            raw = await self._reserve(
                keys=[self._key(chat_id)],
                args=[self._rate(chat_id), self.burst, self._ttl(chat_id)],
            )
        except Exception:
            log.warning("telegram_pacer_redis_failed", exc_info=True)
            return self.reserve(chat_id)
        delay = float(raw.decode() if isinstance(raw, bytes) else raw)
        local = self.reserve(chat_id) if self._holding(chat_id) else 0.0
        return max(delay, local)

    def _holding(self, chat_id: int | str) -> bool:
        bucket = self._buckets.get(chat_id)
        return bucket is not None and bucket.blocked_until > self._monotonic()

    async def wait(self, chat_id: int | str) -> None:
        delay = await self.reserve_shared(chat_id)
        if delay > 0:
            await self._sleep(delay)

    def hold(self, chat_id: int | str, seconds: float) -> None:
        super().hold(chat_id, seconds)
        task = asyncio.get_running_loop().create_task(self._hold_shared(chat_id, seconds))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _hold_shared(self, chat_id: int | str, seconds: float) -> None:
        try:
            await self._hold(keys=[self._key(chat_id)], args=[seconds, self._ttl(chat_id)])
        except Exception:
            log.warning("telegram_pacer_redis_failed", exc_info=True)
