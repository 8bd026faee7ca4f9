"""Two ``huntaze serve`` processes on one PostgreSQL database and one Redis.

Both serve the Telegram webhook of one bot (a local fake Bot API) and the Stripe webhook. The
per-account command limit is shared, an update or a Stripe event delivered to both is handled
once, and SIGTERM lets the work in flight finish. The Redis pacer shares Telegram's per-chat
flood budget between instances.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text

from adapters.telegram.redis_pacer import RedisChatPacer, pacer_namespace
from core.models import Identity
from storage.db import create_engine
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import PRICE_IDS, WEBHOOK_SECRET, load_event, sign
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.services import free_port
from webhooks.telegram import SECRET_HEADER

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(90)]

TG_SECRET = "multi-instance-secret"
RATE = 3  # commands per minute per account


@dataclass
class Instance:
    name: str
    port: int
    proc: asyncio.subprocess.Process
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    a: Instance
    b: Instance
    tg: FakeTelegramAPI
    http: aiohttp.ClientSession
    store: SqlStore
    db_url: str

    async def post_update(self, inst: Instance, update: dict[str, Any]) -> int:
        headers = {SECRET_HEADER: TG_SECRET, "Content-Type": "application/json"}
        async with self.http.post(
            inst.url + "/webhooks/telegram", data=json.dumps(update), headers=headers
        ) as r:
            return r.status

    async def post_stripe(self, inst: Instance, raw: bytes) -> tuple[int, Any]:
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign(raw, WEBHOOK_SECRET),
        }
        async with self.http.post(inst.url + "/webhooks/stripe", data=raw, headers=headers) as r:
            return r.status, await r.json()

    async def replies_to(self, chat_id: int, count: int) -> list[str]:
        async def enough() -> None:
            while len(self.tg.texts_to(chat_id)) < count:  # noqa: ASYNC110 - another process
                await asyncio.sleep(0.05)

        await asyncio.wait_for(enough(), 30)
        return self.tg.texts_to(chat_id)


def _env(db_url: str, redis_url: str, tg: FakeTelegramAPI, port: int, data: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_", "REDIS_", "S3_", "TELEGRAM_", "DISCORD_", "STRIPE_"))
        and not k.startswith(("OPENAI_", "RATE_LIMIT", "HTTP_", "JOBS_"))
    }
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        DATA_DIR=str(data),
        HTTP_PORT=str(port),
        HTTP_SHUTDOWN_TIMEOUT="20",
        LOG_FORMAT="json",
        RATE_LIMIT_PER_MINUTE=str(RATE),
        TELEGRAM_BOT_TOKEN=tg.token,
        TELEGRAM_API_BASE=tg.base_url,
        TELEGRAM_WEBHOOK_URL="https://bot.example.com/webhooks/telegram",
        TELEGRAM_WEBHOOK_SECRET=TG_SECRET,
        STRIPE_WEBHOOK_SECRETS=WEBHOOK_SECRET,
        PUBLIC_BASE_URL="https://bot.example.com",
        **{f"STRIPE_PRICE_{k.replace('-', '_').upper()}": v for k, v in PRICE_IDS.items()},
    )
    return env


async def _start(name: str, env: dict[str, str], cwd: Path) -> Instance:
    log = cwd / f"{name}.log"
    out = log.open("wb")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "serve",
        cwd=cwd,
        env=env,
        stdout=out,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    out.close()
    return Instance(name, int(env["HTTP_PORT"]), proc, log)


async def _ready(http: aiohttp.ClientSession, inst: Instance) -> None:
    while True:
        if inst.proc.returncode is not None:
            raise AssertionError(f"{inst.name} exited:\n{inst.output()[-3000:]}")
        with contextlib.suppress(aiohttp.ClientError):
            async with http.get(inst.url + "/health/ready") as r:
                if r.status == 200:
                    return
        await asyncio.sleep(0.2)


async def _stop(inst: Instance) -> int:
    if inst.proc.returncode is None:
        inst.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.wait_for(inst.proc.wait(), 40)
        except TimeoutError:
            inst.proc.kill()
            await inst.proc.wait()
    return int(inst.proc.returncode or 0)


@pytest.fixture
async def cluster(
    migrated_postgres_url: str, redis_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Cluster]:
    rng = random.Random()
    # A bot id of its own: the update de-dup and pacer keys in the shared Redis are per bot.
    token = f"{rng.randrange(10**9, 10**10)}:AAHmultiInstanceTestToken{rng.randrange(10**6)}"
    engine = create_engine(migrated_postgres_url)
    async with engine.begin() as conn:  # account ids of their own: rate-limit keys are per id
        await conn.execute(
            text("SELECT setval(pg_get_serial_sequence('accounts', 'id'), :n)"),
            {"n": rng.randrange(10**6, 10**9)},
        )
    store = SqlStore(engine, clock)
    async with FakeTelegramAPI(token=token) as tg, aiohttp.ClientSession() as http:
        ports = free_port(), free_port()
        instances = [
            await _start(n, _env(migrated_postgres_url, redis_url, tg, p, tmp_path / n), tmp_path)
            for n, p in zip(("a", "b"), ports, strict=True)
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*(_ready(http, i) for i in instances)), 60)
            yield Cluster(instances[0], instances[1], tg, http, store, migrated_postgres_url)
        finally:
            for inst in instances:
                await _stop(inst)
            await engine.dispose()
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(redis_url)
            try:
                keys = [k async for k in client.scan_iter(match=pacer_namespace(token) + "*")]
                keys += [
                    k async for k in client.scan_iter(match=f"*telegram:{tg.token.split(':')[0]}:*")
                ]
                if keys:
                    await client.delete(*keys)
            finally:
                await client.aclose()


async def test_two_instances_share_limits_dedupe_and_drain(cluster: Cluster) -> None:
    c, tg = cluster, cluster.tg

    # The Telegram webhook is served by either; the per-account limit is one budget.
    chat = 7001
    for i in range(RATE + 1):
        inst = (c.a, c.b)[i % 2]
        assert await c.post_update(inst, tg.make_message_update(chat, chat, "/help")) == 200
    texts = await c.replies_to(chat, RATE + 1)
    limited = [t for t in texts if "going a bit fast" in t]
    assert len(limited) == 1, texts

    # One update delivered to both instances is answered once.
    other = 7002
    update = tg.make_message_update(other, other, "/help")
    assert await c.post_update(c.a, update) == 200
    assert await c.post_update(c.b, update) == 200
    await c.replies_to(other, 1)
    await asyncio.sleep(0.5)  # a second answer would have been sent by now
    assert len(tg.texts_to(other)) == 1

    # A Stripe event delivered to both is applied once.
    account = await c.store.accounts.resolve(Identity(platform="telegram", external_id="9001"))
    event = load_event("checkout.session.completed.payment")
    obj = event["data"]["object"]
    obj["client_reference_id"] = str(account.id)
    if isinstance(obj.get("metadata"), dict):
        obj["metadata"]["account_id"] = str(account.id)
    raw = json.dumps(event).encode()
    results = await asyncio.gather(c.post_stripe(c.a, raw), c.post_stripe(c.b, raw))
    assert [s for s, _ in results] == [200, 200], results
    assert sorted(body["outcome"] for _, body in results) == ["applied", "duplicate"]
    async with c.store.sessions() as session:  # type: ignore[attr-defined]
        rows = await session.scalar(
            text("SELECT count(*) FROM stripe_events WHERE id = :id"), {"id": event["id"]}
        )
    assert rows == 1
    assert (await c.store.accounts.get(account.id)).credits == 500

    # SIGTERM while an answer is in flight: it still goes out, and the process exits cleanly.
    slow = 7003
    tg.delay_next("sendMessage", 2.0)
    assert await c.post_update(c.a, tg.make_message_update(slow, slow, "/help")) == 200
    await asyncio.sleep(0.3)
    assert await _stop(c.a) == 0, c.a.output()[-3000:]
    assert len(tg.texts_to(slow)) == 1
    assert "Traceback" not in c.a.output()

    # The other instance keeps serving.
    after = 7004
    assert await c.post_update(c.b, tg.make_message_update(after, after, "/help")) == 200
    await c.replies_to(after, 1)


async def test_redis_pacer_shares_a_chats_budget_between_instances(
    redis_client: Any, redis_prefix: str
) -> None:
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    namespace = redis_prefix + "pace:"
    one = RedisChatPacer(redis_client, namespace, private_rate=0.5, burst=2, sleep=record)
    two = RedisChatPacer(redis_client, namespace, private_rate=0.5, burst=2, sleep=record)
    await one.wait(42)
    await two.wait(42)
    assert delays == []  # the burst: two sends, one from each instance
    await one.wait(42)
    assert len(delays) == 1 and delays[0] > 0  # the shared bucket is empty
    await two.wait(43)  # another chat has its own budget
    assert len(delays) == 1

    two.hold(44, 30.0)  # a 429 seen by one instance holds the chat for the other
    await asyncio.gather(*two._background)
    await one.wait(44)
    assert len(delays) == 2 and delays[1] > 20
