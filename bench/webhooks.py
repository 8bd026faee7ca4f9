"""Benchmark: the HTTP server's Stripe webhook and uploads API, each against a baseline measured
in the same run.

1. **Stripe webhook events/s** on PostgreSQL: the product's server (``bot.container.build`` +
   ``bot.lifecycle.build_http_app``, production middlewares, metrics and JSON logs to
   /dev/null) in its own process, fed signed ``customer.subscription.updated`` events (unique
   ids, 200 accounts, so each one is verified, claimed, locks and writes the billing state and
   the plan, and commits), by a client process at a fixed concurrency. Baseline: an aiohttp
   hello-world route (``POST /`` reading the same body, answering ``ok``) in the same kind of
   process, same client. Goal: >= 30% of the baseline.
2. **Upload MB/s** through ``POST /api/v1/uploads`` (multipart, streamed, sha256, sniffing,
   de-dup lookup, row), to the local store and to S3 (moto's server in its own process, so
   boto3 really sends every byte over HTTP). The goal row uses the product's defaults, under
   which the 16 MiB files go as one ``PutObject`` each (multipart from 32 MiB); an information
   row forces multipart uploads in 8 MiB parts (``S3_MULTIPART_MB=8``). Baseline: a raw boto3
   ``put_object`` of the same bytes to the same S3 server (and, for the local store, for
   information, a raw file write + fsync). Goal: >= 70% of ``put_object``.

PostgreSQL: ``BENCH_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432``); a
throw-away database is created and dropped. Run: ``.venv/bin/python bench/webhooks.py
[--quick] [--only webhooks|uploads]``. Prints a table; the last line is one JSON object with
the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import PG_SERVER as PG  # noqa: E402
from common import pg_admin  # noqa: E402

SECRET = "whsec_bench_0123456789abcdef"
ACCOUNTS = 200
MiB = 1024 * 1024
FIXTURE = ROOT / "tests" / "fixtures" / "stripe" / "customer.subscription.updated.json"
STUDIO_PRICE = "price_bench_studio"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- servers (child processes)


async def serve_hello(port: int) -> None:
    from aiohttp import web

    from bot.lifecycle import tune_gc

    async def hello(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    tune_gc()  # as the product does, so the baseline is not handicapped
    print("ready", flush=True)
    await asyncio.Event().wait()


async def serve_product(port: int, database_url: str, data_dir: str, s3: str | None) -> None:
    from bot import logging as bot_logging
    from bot.container import build
    from bot.lifecycle import build_http_app, tune_gc
    from bot.settings import Settings
    from webhooks.app import HttpServer

    bot_logging.configure("INFO", "json", stream=open(os.devnull, "w"))  # noqa: SIM115, ASYNC230
    settings: dict[str, Any] = {
        "database_url": database_url,
        "data_dir": Path(data_dir),
        "redis_url": None,
        "openai_api_key": None,
        "openai_base_url": None,
        "stripe_webhook_secrets": SECRET,
        "stripe_price_studio": STUDIO_PRICE,
        "max_upload_mb": 64,
        "rate_limit_per_minute": 10**6,
        "s3_bucket": None,
    }
    if s3:
        settings.update(s3_bucket="bench", s3_endpoint_url=s3, s3_region="us-east-1")
    container = await build(Settings(_env_file=None, **settings))  # type: ignore[call-arg]
    server = HttpServer(build_http_app(container), "127.0.0.1", port)
    await server.start()
    tune_gc()  # as `huntaze serve` does before serving
    print("ready", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await server.stop()
    await container.aclose()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux /proc), 0 when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def pg_backend_pids(database: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(PG + "/postgres", timeout=10)
    try:
        rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


class Child:
    """A server in its own process (``--serve ...``), ready when it prints ``ready``."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=ROOT,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline().decode()
            if line.strip() == "ready":
                return
            if not line and self.proc.poll() is not None:
                raise RuntimeError("server process died")
        raise RuntimeError("server did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def moto_server(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


# ---------------------------------------------------------------- PostgreSQL


async def prepare_database(name: str) -> str:
    from sqlalchemy import insert

    from storage.db import create_engine, migrate
    from storage.tables import AccountRow

    await pg_admin(f'CREATE DATABASE "{name}"')
    url = PG.replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    await migrate(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            now = time.time()
            from datetime import UTC, datetime

            await conn.execute(
                insert(AccountRow),
                [{"created_at": datetime.fromtimestamp(now, UTC)} for _ in range(ACCOUNTS)],
            )
    finally:
        await engine.dispose()
    return url


# ---------------------------------------------------------------- load


class Feed:
    """Request bodies handed out in order; ``cycle`` reuses them (the hello world)."""

    def __init__(self, bodies: list[tuple[bytes, dict[str, str]]], cycle: bool = False) -> None:
        self.bodies = bodies
        self.cycle = cycle
        self.index = 0

    def next(self) -> tuple[bytes, dict[str, str]] | None:
        if self.index >= len(self.bodies) and not self.cycle:
            return None
        item = self.bodies[self.index % len(self.bodies)]
        self.index += 1
        return item


async def load(
    url: str,
    feed: Feed,
    concurrency: int,
    seconds: float,
    warmup: float = 0.5,
    check: Callable[[int], bool] = lambda status: status == 200,
) -> tuple[float, int]:
    """Requests/s over ``seconds`` (after ``warmup``) and the number of bad answers."""
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency)
    done = 0
    bad = 0
    counting = False
    stop_at = float("inf")

    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            nonlocal done, bad
            while time.perf_counter() < stop_at:
                item = feed.next()
                if item is None:
                    return
                body, headers = item
                async with http.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if not check(response.status):
                        bad += 1
                if counting:
                    done += 1

        workers = asyncio.gather(*(worker() for _ in range(concurrency)))
        await asyncio.sleep(warmup)  # connections opened, pools and caches warm
        counting = True
        started = time.perf_counter()
        stop_at = started + seconds
        await workers
        elapsed = time.perf_counter() - started
    return done / elapsed, bad


def stripe_events(
    count: int, start: int, kind: str = "effects"
) -> list[tuple[bytes, dict[str, str]]]:
    """Signed events with unique ids. ``effects``: ``customer.subscription.updated`` for one of
    ``ACCOUNTS`` accounts (state locked and written, plan set); ``record``: the same body typed
    ``customer.updated`` (a type the product ignores: verified, parsed and its id recorded)."""
    import stripe

    template = json.loads(FIXTURE.read_text())
    del template["data"]["previous_attributes"]
    template["id"] = "@EVENT@"
    template["created"] = 1_111_111_111
    if kind == "record":
        template["type"] = "customer.updated"
    sub = template["data"]["object"]
    sub["id"] = "sub_bench_@ACCOUNT@"
    sub["customer"] = "cus_bench_@ACCOUNT@"
    sub["metadata"] = {"account_id": "@ACCOUNT_ID@"}
    sub["items"]["data"][0]["price"]["id"] = STUDIO_PRICE
    text = json.dumps(template)
    out = []
    timestamp = int(time.time())
    for i in range(count):
        account = 1 + i % ACCOUNTS
        body = (
            text.replace("@EVENT@", f"evt_bench_{kind}_{start + i:09d}")
            .replace("1111111111", str(1_764_500_000 + start + i))
            .replace("@ACCOUNT@", f"{account:05d}")
            .replace("@ACCOUNT_ID@", str(account))
        )
        header = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp)
        out.append(
            (body.encode(), {"Stripe-Signature": header, "Content-Type": "application/json"})
        )
    return out


class Series:
    """One thing measured in alternating rounds: requests/s and server CPU per request."""

    def __init__(self, url: str, feed: Feed, pid: int, pg_database: str | None = None) -> None:
        self.url, self.feed, self.pid, self.pg_database = url, feed, pid, pg_database
        self.rates: list[float] = []
        self.cpu = self.pg_cpu = 0.0
        self.count = self.errors = 0

    async def round(self, concurrency: int, seconds: float) -> None:
        pg_before = (
            {p: cpu_seconds(p) for p in await pg_backend_pids(self.pg_database)}
            if self.pg_database
            else {}
        )
        before, start = cpu_seconds(self.pid), self.feed.index
        rate, errors = await load(self.url, self.feed, concurrency, seconds)
        self.cpu += cpu_seconds(self.pid) - before
        if self.pg_database:
            for pid in set(pg_before) | set(await pg_backend_pids(self.pg_database)):
                self.pg_cpu += max(0.0, cpu_seconds(pid) - pg_before.get(pid, 0.0))
        self.count += self.feed.index - start
        self.rates.append(rate)
        self.errors += errors

    def cpu_us(self) -> int:
        return round(self.cpu / max(self.count, 1) * 1e6)

    def pg_cpu_us(self) -> int:
        return round(self.pg_cpu / max(self.count, 1) * 1e6)


async def bench_webhooks(quick: bool) -> dict[str, Any]:
    """Both servers run side by side; the hello world and the two kinds of webhook deliveries
    are measured in alternating rounds (the machine's background load drifts: alternating keeps
    the comparison fair); ratios are medians of the per-round ratios."""
    import statistics

    rounds, seconds, concurrency = (3, 2.0, 32) if quick else (5, 4.0, 32)
    name = f"huntaze_bench_{uuid.uuid4().hex[:10]}"
    url = await prepare_database(name)
    results: dict[str, Any] = {"rounds": rounds, "seconds": seconds, "concurrency": concurrency}
    # Enough unique events for every round at ~6,000 events/s (each event is sent once).
    size = int(6_000 * (seconds + 1) * rounds)
    try:
        effects, records = stripe_events(size, 0), stripe_events(size, 0, "record")
        hello_port, app_port = free_port(), free_port()
        with tempfile.TemporaryDirectory() as data:
            hello = Child("hello", str(hello_port))
            app = Child("product", str(app_port), url, data)
            try:
                hello.wait_ready()
                app.wait_ready()
                hook = f"http://127.0.0.1:{app_port}/webhooks/stripe"
                series = {
                    "hello": Series(
                        f"http://127.0.0.1:{hello_port}/", Feed(effects, cycle=True), hello.proc.pid
                    ),
                    "record": Series(hook, Feed(records), app.proc.pid, name),
                    "effects": Series(hook, Feed(effects), app.proc.pid, name),
                }
                for _ in range(rounds):
                    for one in series.values():
                        await one.round(concurrency, seconds)
            finally:
                hello.stop()
                app.stop()
        hello_s = series["hello"]
        results["hello_rps"] = round(statistics.median(hello_s.rates), 1)
        results["hello_cpu_us"] = hello_s.cpu_us()
        for key in ("record", "effects"):
            one = series[key]
            results[f"{key}_eps"] = round(statistics.median(one.rates), 1)
            results[f"{key}_ratio"] = round(
                statistics.median(r / h for r, h in zip(one.rates, hello_s.rates, strict=True)), 3
            )
            results[f"{key}_cpu_us"] = one.cpu_us()
            results[f"{key}_pg_cpu_us"] = one.pg_cpu_us()
            results[f"{key}_errors"] = one.errors
            results[f"{key}_sent"] = one.feed.index
        import asyncpg

        conn = await asyncpg.connect(PG + f"/{name}")
        try:
            results["events_recorded"] = await conn.fetchval("SELECT count(*) FROM stripe_events")
            results["events_applied"] = await conn.fetchval(
                "SELECT count(*) FROM stripe_events WHERE outcome = 'applied'"
            )
        finally:
            await conn.close()
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return results


# ---------------------------------------------------------------- uploads


def media(size: int, seed: int) -> bytes:
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    block = hashlib.sha256(f"{seed}".encode()).digest() * (MiB // 32)
    data = (head + block * (size // len(block) + 1))[:size]
    return data


async def timed(total_bytes: int, jobs: list[Callable[[], Awaitable[None]]], width: int) -> float:
    queue = list(jobs)

    async def worker() -> None:
        while queue:
            job = queue.pop()
            await job()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(width)))
    return total_bytes / MiB / (time.perf_counter() - started)


async def upload_run(url: str, key: str, files: list[bytes], width: int) -> float:
    import aiohttp

    async with aiohttp.ClientSession() as http:

        def job(data: bytes, n: int) -> Callable[[], Awaitable[None]]:
            async def run() -> None:
                form = aiohttp.FormData()
                form.add_field("file", data, filename=f"clip{n}.mp4", content_type="video/mp4")
                headers = {"Authorization": f"Bearer {key}"}
                async with http.post(url, data=form, headers=headers) as response:
                    body = await response.read()
                    if response.status != 201:
                        raise RuntimeError(f"upload failed: {response.status} {body[:200]!r}")

            return run

        jobs = [job(d, n) for n, d in enumerate(files)]
        return await timed(sum(map(len, files)), jobs, width)


async def make_key(database_url: str) -> str:
    from core.commands.billing import new_api_key
    from core.models import Identity
    from storage.db import create_engine
    from storage.repositories import SqlStore

    class Clock:
        def now(self) -> Any:
            from datetime import UTC, datetime

            return datetime.now(UTC)

        def monotonic(self) -> float:
            return time.monotonic()

    engine = create_engine(database_url)
    try:
        store = SqlStore(engine, Clock())
        account = await store.accounts.resolve(Identity(platform="bench", external_id="b"))
        secret, prefix, digest = new_api_key()
        await store.api_keys.add(account.id, prefix, digest)  # type: ignore[attr-defined]
        return secret
    finally:
        await engine.dispose()


async def bench_uploads(quick: bool) -> dict[str, Any]:
    """Raw ``put_object``, the uploads API to S3 and to the local store, and a raw file write,
    in alternating rounds with fresh bytes each time (no de-duplication); CPU per MiB of each
    process involved is recorded too (this machine's cores are shared by all of them)."""
    import statistics

    import boto3
    from botocore.config import Config

    from storage.db import migrate

    size = 16 * MiB
    count, rounds = (4, 2) if quick else (6, 5)  # 5 rounds: each path once in each position
    width = 4
    results: dict[str, Any] = {
        "file_mb": size // MiB,
        "files_per_round": count,
        "rounds": rounds,
        "concurrency": width,
    }
    s3_port = free_port()
    moto = moto_server(s3_port)
    env = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench"}
    os.environ.update(env)
    s3_url = f"http://127.0.0.1:{s3_port}"
    kinds = ("s3", "local", "s3multipart")
    rates: dict[str, list[float]] = {"put": [], "file": [], **{kind: [] for kind in kinds}}
    cpu: dict[str, float] = collections.defaultdict(float)  # CPU seconds, by process and path
    servers: dict[str, Child] = {}
    seed = 0

    def batch() -> list[bytes]:
        nonlocal seed
        seed += count
        return [media(size, seed + i) for i in range(count)]

    try:
        client = boto3.client(
            "s3",
            endpoint_url=s3_url,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=32),
        )
        for _ in range(100):
            try:
                client.create_bucket(Bucket="bench")
                break
            except Exception:
                await asyncio.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp:
            keys: dict[str, str] = {}
            for kind in kinds:
                db = f"sqlite+aiosqlite:///{tmp}/{kind}.db"
                await migrate(db)
                keys[kind] = await make_key(db)
                port = free_port()
                args = ["product", str(port), db, str(Path(tmp) / kind)]
                if kind != "local":
                    args.append(s3_url)
                # s3multipart (info): multipart from 8 MiB, so the 16 MiB files go in two parts.
                part = {"S3_MULTIPART_MB": "8"} if kind == "s3multipart" else {}
                servers[kind] = Child(*args, env={**env, **part})
                servers[kind].port = port  # type: ignore[attr-defined]
            for server in servers.values():
                server.wait_ready()

            def upload_url(kind: str) -> str:
                port = servers[kind].port  # type: ignore[attr-defined]
                return f"http://127.0.0.1:{port}/api/v1/uploads"

            async def put_round() -> None:
                files = batch()

                def put(n: int) -> Callable[[], Awaitable[None]]:
                    async def run() -> None:
                        await asyncio.to_thread(
                            client.put_object, Bucket="bench", Key=f"raw/{seed}/{n}", Body=files[n]
                        )

                    return run

                m0, c0 = cpu_seconds(moto.pid), time.process_time()
                rates["put"].append(
                    await timed(size * count, [put(n) for n in range(count)], width)
                )
                cpu["moto_put"] += cpu_seconds(moto.pid) - m0
                cpu["client_put"] += time.process_time() - c0

            def upload_round(kind: str) -> Callable[[], Awaitable[None]]:
                async def run() -> None:
                    server = servers[kind]
                    files = batch()  # made before the clocks start: not the client's work
                    m0, s0 = cpu_seconds(moto.pid), cpu_seconds(server.proc.pid)
                    c0 = time.process_time()
                    rates[kind].append(await upload_run(upload_url(kind), keys[kind], files, width))
                    cpu[f"client_{kind}"] += time.process_time() - c0
                    cpu[f"server_{kind}"] += cpu_seconds(server.proc.pid) - s0
                    if kind != "local":
                        cpu[f"moto_{kind}"] += cpu_seconds(moto.pid) - m0

                return run

            async def write_round() -> None:
                files = batch()

                def write(n: int) -> Callable[[], Awaitable[None]]:
                    async def run() -> None:
                        def _write() -> None:
                            with open(Path(tmp) / f"raw{n}", "wb") as handle:
                                handle.write(files[n])
                                handle.flush()
                                os.fsync(handle.fileno())

                        await asyncio.to_thread(_write)

                    return run

                rates["file"].append(
                    await timed(size * count, [write(n) for n in range(count)], width)
                )

            # Warm-up, not measured: each process's first request pays one-off costs (imports,
            # botocore loading S3's service model, aiohttp's client), which would otherwise
            # land on whichever path happens to go first.
            warm = media(size, -1)
            await asyncio.to_thread(client.put_object, Bucket="bench", Key="warm", Body=warm)
            for kind in kinds:
                await upload_run(upload_url(kind), keys[kind], [warm], 1)

            steps = [put_round, *(upload_round(kind) for kind in kinds), write_round]
            for number in range(rounds):
                # The order turns each round: whatever runs right after another (moto still
                # digesting the last batch, say) is not always the same path.
                turn = number % len(steps)
                for step in steps[turn:] + steps[:turn]:
                    # Each path starts with the disk writes of the one before it (moto spools
                    # objects to temporary files; the local store and the raw write fsync) done.
                    await asyncio.to_thread(os.sync)
                    await step()
    finally:
        for server in servers.values():
            server.stop()
        moto.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            moto.wait(timeout=10)
        if moto.poll() is None:
            moto.kill()
    mib = count * rounds * size / MiB
    results["put_object_mbs"] = round(statistics.median(rates["put"]), 1)
    results["upload_s3_mbs"] = round(statistics.median(rates["s3"]), 1)
    results["upload_local_mbs"] = round(statistics.median(rates["local"]), 1)
    results["raw_file_mbs"] = round(statistics.median(rates["file"]), 1)
    results["upload_s3_multipart_mbs"] = round(statistics.median(rates["s3multipart"]), 1)
    for kind, name in (("s3", "s3"), ("local", "local"), ("s3multipart", "s3_multipart")):
        # the median of the per-round ratios: each round's paths ran on the same machine state
        per_round = (a / b for a, b in zip(rates[kind], rates["put"], strict=True))
        results[f"upload_{name}_ratio"] = round(statistics.median(per_round), 3)
    for key, value in cpu.items():
        results[f"cpu_ms_per_mib_{key}"] = round(value / mib * 1000, 2)
    return results


# ---------------------------------------------------------------- main


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter runs")
    parser.add_argument("--only", choices=["webhooks", "uploads"], help="run one half")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        kind, port, *rest = args.serve
        if kind == "hello":
            asyncio.run(serve_hello(int(port)))
        else:
            database, data_dir, *s3 = rest
            asyncio.run(serve_product(int(port), database, data_dir, s3[0] if s3 else None))
        return 0

    summary: dict[str, Any] = {}
    goals: dict[str, bool] = {}
    rows: list[tuple[str, Any]] = []
    if args.only in (None, "webhooks"):
        w = summary["webhooks"] = asyncio.run(bench_webhooks(args.quick))
        goals["webhook (verify + idempotent write) >= 30% of hello world"] = (
            w["record_ratio"] >= 0.30
        )
        rows += webhook_rows(w)
    if args.only in (None, "uploads"):
        uploads = summary["uploads"] = asyncio.run(bench_uploads(args.quick))
        goals["S3 upload >= 70% of put_object"] = uploads["upload_s3_ratio"] >= 0.70
        goals["local upload >= 70% of put_object"] = uploads["upload_local_ratio"] >= 0.70
        rows += upload_rows(uploads)
    print(f"{'measure':<52}{'value':>12}")
    print("-" * 64)
    for label, value in rows:
        print(f"{label:<52}{value:>12}")
    print()
    for goal, met in goals.items():
        print(f"goal {goal}: {'met' if met else 'NOT met'}")
    summary["goals"] = goals
    print(json.dumps(summary))
    return 0


def webhook_rows(w: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("aiohttp hello world (req/s)", w["hello_rps"]),
        ("  server CPU per request (µs)", w["hello_cpu_us"]),
        ("webhook, verify + idempotent write (events/s)", w["record_eps"]),
        ("  ratio to hello world", w["record_ratio"]),
        (
            "  server / PostgreSQL CPU per event (µs)",
            f"{w['record_cpu_us']}/{w['record_pg_cpu_us']}",
        ),
        ("webhook, + subscription state written (events/s)", w["effects_eps"]),
        ("  ratio to hello world", w["effects_ratio"]),
        (
            "  server / PostgreSQL CPU per event (µs)",
            f"{w['effects_cpu_us']}/{w['effects_pg_cpu_us']}",
        ),
        ("  non-2xx answers", w["record_errors"] + w["effects_errors"]),
        (
            "  events sent / recorded once",
            f"{w['record_sent'] + w['effects_sent']}/{w['events_recorded']}",
        ),
    ]


def upload_rows(uploads: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("raw boto3 put_object to S3 (MB/s)", uploads["put_object_mbs"]),
        ("upload API -> S3, defaults: one PUT (MB/s)", uploads["upload_s3_mbs"]),
        ("  ratio to put_object", uploads["upload_s3_ratio"]),
        ("upload API -> local store (MB/s)", uploads["upload_local_mbs"]),
        ("  ratio to put_object", uploads["upload_local_ratio"]),
        ("raw file write + fsync (MB/s, info)", uploads["raw_file_mbs"]),
        ("upload API -> S3, 8 MiB parts (info, MB/s)", uploads["upload_s3_multipart_mbs"]),
        ("  ratio to put_object", uploads["upload_s3_multipart_ratio"]),
        (
            "CPU ms/MiB put_object: client / moto",
            f"{uploads['cpu_ms_per_mib_client_put']}/{uploads['cpu_ms_per_mib_moto_put']}",
        ),
        *(
            (
                f"CPU ms/MiB {label}: client / server{' / moto' * s3}",
                "/".join(
                    str(uploads[f"cpu_ms_per_mib_{side}_{kind}"])
                    for side in ("client", "server", "moto")[: 2 + s3]
                ),
            )
            for kind, label, s3 in (
                ("s3", "API -> S3", True),
                ("s3multipart", "8 MiB parts", True),
                ("local", "API -> local", False),
            )
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
