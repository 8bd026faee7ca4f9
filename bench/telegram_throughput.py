"""Benchmark: the Telegram adapter end to end in webhook mode, against a bare aiogram echo bot.

One update's path: the harness POSTs it to the bot's ``/webhooks/telegram`` -> the bot answers
200 and handles it in the background -> (Huntaze) the Assistant resolves the account, reads the
profile, makes ``/ideas`` on the offline engine and stores them in the database -> the bot calls
``sendMessage`` on the local Bot API server (``tests/fakes/telegram_api.py``). The latency of an
update runs from the moment it was due to be POSTed to the moment the Bot API server received
the ``sendMessage`` for its chat.

Processes: the harness (load generator + local Bot API server) runs in this process; the bot
under test runs in a child process (``--serve``). Targets, measured in the same run:

- ``echo``: a bare aiogram bot - ``Dispatcher`` + aiogram's own ``SimpleRequestHandler``
  (webhook, handled in background) + ``message.answer(text)``; no database.
- ``adapter``: ``TelegramAdapter`` + ``webhooks.app`` in front of a stand-in assistant that
  answers every update with the same 5-idea ``/ideas`` reply (15 buttons): the adapter's own
  cost, and the cost of the bigger message for the API server, without core or a database.
- ``huntaze/sqlite`` and ``huntaze/postgres``: ``TelegramAdapter`` + ``webhooks.app`` +
  ``Assistant`` on ``SqlStore`` (SQLite file / a throw-away PostgreSQL database, dropped after)
  with the offline engine, in-memory KV and the default per-chat pacer and inbound throttle.
  Every simulated user has a complete profile (seeded before the measurement).

Phases per target: warm-up; *max* - a closed loop with ``--concurrency`` updates in flight for
``--seconds`` (updates/s); *steady* - an open loop at ``--rate`` (and ``--also-rates``)
updates/s for ``--seconds`` (p50/p95/p99 latency from each update's scheduled time, so a stall
is not hidden). Each in-flight update comes from a different user (chat), so the per-chat pacer
never delays. ``cpu ms/upd`` is the bot process's CPU time (user + system, from /proc) per
answered update in the max phase: the figure least disturbed by other load on the machine,
and the bot's capacity is about 1000 / cpu_ms updates/s per core.

On a small machine the harness shares the CPUs with the bot; the API server parsing and
validating each ``sendMessage`` (HTML, entities, keyboard) is the harness's main cost, so the
max figures of the lightest bots are partly the harness's limit.

Goals: Huntaze on PostgreSQL >= 50% of the echo bot's max throughput; p95 <= 100 ms at a steady
200 updates/s.

Run: ``.venv/bin/python bench/telegram_throughput.py [--seconds 8] [--rate 200]
[--also-rates 50,100] [--concurrency 64] [--users 1000] [--backends sqlite,postgres]
[--pg-url URL] [--no-adapter] [--profile FILE]``. Prints a table; the last line is one JSON
object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import signal
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve()
sys.path.insert(0, str(SCRIPT.parent.parent))

from common import pg_admin  # noqa: E402

TOKEN = "123456789:AAHfakeTelegramTokenForHuntazeTests0"
SECRET = "bench-secret_token"
WEBHOOK_PATH = "/webhooks/telegram"
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432"
COMMAND = "/ideas"


# ================================================================ the bot under test (child)


async def _serve_echo(args: argparse.Namespace) -> None:
    from aiogram import Bot, Dispatcher
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer
    from aiogram.methods import Response
    from aiogram.types import Message, Update
    from aiogram.webhook.aiohttp_server import SimpleRequestHandler
    from aiohttp import web

    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(args.api_base)))
    dp = Dispatcher()
    # The same work-around of pydantic's weakly cached generics as the adapter's
    # (adapters/telegram/outbound.py, USED_METHODS), so the baseline is not handicapped.
    pinned = [Response[Message], Response[bool], Response[Update]]

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(message.text or "?")

    app = web.Application()
    SimpleRequestHandler(dp, bot, handle_in_background=True, secret_token=SECRET).register(
        app, path=WEBHOOK_PATH
    )
    await _serve(app, args, cleanup=[bot.session.close])
    del pinned


async def _serve_huntaze(args: argparse.Namespace) -> None:
    from adapters.telegram import TelegramAdapter
    from bot import logging as bot_logging
    from core.app import Assistant
    from core.clock import SystemClock
    from core.llm.offline import OfflineEngine
    from core.models import Identity, Profile
    from core.resilience.cache import MemoryKV
    from storage.blobs import LocalBlobStore
    from storage.db import create_engine, migrate
    from storage.repositories import SqlStore
    from webhooks.app import create_app

    bot_logging.configure(args.log_level, "json", stream=sys.stderr)
    clock = SystemClock()
    await migrate(args.db)
    engine = create_engine(args.db)
    store = SqlStore(engine, clock)
    kv = MemoryKV(max_entries=200_000, clock=clock)
    blob_dir = tempfile.mkdtemp(prefix="huntaze-bench-blobs-")
    assistant = Assistant(
        store=store, generator=OfflineEngine(), kv=kv, clock=clock, blobs=LocalBlobStore(blob_dir)
    )
    profile = Profile(
        niches=["fitness", "yoga"],
        platforms=["instagram", "tiktok"],
        content_types=["photo", "short_video"],
        equipment=["phone", "ring_light"],
        locations=["gym", "home"],
        tone="playful",
    )
    sem = asyncio.Semaphore(8)

    async def seed(uid: int) -> None:
        async with sem:
            identity = Identity(platform="telegram", external_id=str(uid), display_name=f"U{uid}")
            account = await store.accounts.resolve(identity)
            await store.profiles.save(account.id, profile)

    await asyncio.gather(*(seed(uid) for uid in _user_ids(args.users)))
    adapter = TelegramAdapter(
        assistant,
        TOKEN,
        api_base=args.api_base,
        webhook_url="https://bench.example.com" + WEBHOOK_PATH,
        webhook_secret=SECRET,
        state_kv=kv,
    )
    app = create_app(telegram=adapter, telegram_secret=SECRET)
    await _serve(app, args, cleanup=[adapter.aclose, engine.dispose])


class _CannedAssistant:
    """The real command registry, and always the same /ideas reply: the adapter's own cost."""

    def __init__(self) -> None:
        import random

        from core.commands import build_registry
        from core.commands.ideas import ideas_reply
        from core.llm.offline import generate_ideas
        from core.models import Generated, IdeaRequest, Profile

        self.registry = build_registry()
        profile = Profile(niches=["fitness"], platforms=["instagram"], content_types=["photo"])
        ideas = generate_ideas(IdeaRequest(profile=profile, count=5), random.Random(1))
        for n, idea in enumerate(ideas, 1):
            idea.id = n
        self.reply = ideas_reply(Generated(value=ideas), "Here are 5 ideas for you:")

    async def handle(self, incoming: Any) -> Any:
        return self.reply


async def _serve_adapter(args: argparse.Namespace) -> None:
    from adapters.telegram import TelegramAdapter
    from bot import logging as bot_logging
    from webhooks.app import create_app

    bot_logging.configure(args.log_level, "json", stream=sys.stderr)
    adapter = TelegramAdapter(
        _CannedAssistant(),  # type: ignore[arg-type]
        TOKEN,
        api_base=args.api_base,
        webhook_url="https://bench.example.com" + WEBHOOK_PATH,
        webhook_secret=SECRET,
    )
    app = create_app(telegram=adapter, telegram_secret=SECRET)
    await _serve(app, args, cleanup=[adapter.aclose])


async def _serve(app: Any, args: argparse.Namespace, cleanup: list[Any]) -> None:
    from aiohttp import web

    from bot.lifecycle import tune_gc

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # What `huntaze serve` does before serving; the echo baseline gets it too, so it is not
    # handicapped (without it its full collections pause it for ~100 ms as well).
    tune_gc()
    print(f"READY {port}", flush=True)
    await stop.wait()
    await runner.cleanup()
    for close in cleanup:
        await close()


def _user_ids(n: int) -> list[int]:
    return [500_000 + i for i in range(n)]


# ================================================================ the harness


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), or NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Phase:
    cpu: float = float("nan")  # the bot's CPU seconds during the phase
    sent: int = 0
    answered: int = 0
    failed: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    def summary(self) -> dict[str, Any]:
        return {
            "updates": self.sent,
            "answered": self.answered,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "updates_per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(0.50), 1),
            "p95_ms": round(self.pct(0.95), 1),
            "p99_ms": round(self.pct(0.99), 1),
            "mean_ms": round(statistics.fmean(self.latencies) * 1000, 1)
            if self.latencies
            else None,
            "bot_cpu_ms_per_update": round(self.cpu / self.answered * 1000, 2)
            if self.answered and self.cpu == self.cpu
            else None,
        }


class Driver:
    """Posts updates to the bot and times each until its sendMessage reaches the API server."""

    def __init__(self, tg: Any, url: str, users: list[int]) -> None:
        import aiohttp

        self.tg = tg
        self.url = url
        self.free = collections.deque(users)
        self.http = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=512))
        self.update_id = 1_000_000
        self.message_id = 0
        self.now = int(time.time())

    async def close(self) -> None:
        await self.http.close()

    def _update(self, uid: int) -> dict[str, Any]:
        self.update_id += 1
        self.message_id += 1
        user = {"id": uid, "is_bot": False, "first_name": f"U{uid}", "language_code": "en"}
        return {
            "update_id": self.update_id,
            "message": {
                "message_id": self.message_id,
                "from": user,
                "chat": {"id": uid, "type": "private", "first_name": f"U{uid}"},
                "date": self.now,
                "text": COMMAND,
                "entities": [{"type": "bot_command", "offset": 0, "length": len(COMMAND)}],
            },
        }

    async def one(self, phase: Phase, due: float, patience: float = 15.0) -> None:
        if not self.free:
            phase.failed += 1
            return
        uid = self.free.popleft()
        loop = asyncio.get_running_loop()
        phase.sent += 1
        try:
            waiting = asyncio.ensure_future(
                self.tg.wait_for(
                    method="sendMessage", chat_id=uid, since=len(self.tg.sent), timeout=patience
                )
            )
            async with self.http.post(
                self.url,
                json=self._update(uid),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"webhook answered {resp.status}")
            await waiting
            phase.latencies.append(loop.time() - due)
            phase.answered += 1
        except Exception:
            phase.failed += 1
        finally:
            self.free.append(uid)

    async def closed_loop(self, concurrency: int, seconds: float) -> Phase:
        phase = Phase()
        loop = asyncio.get_running_loop()
        start = loop.time()
        end = start + seconds

        async def worker() -> None:
            while loop.time() < end:
                await self.one(phase, loop.time())

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        phase.seconds = loop.time() - start
        return phase

    async def open_loop(self, rate: float, seconds: float) -> Phase:
        phase = Phase()
        loop = asyncio.get_running_loop()
        start = loop.time() + 0.05
        total = int(rate * seconds)
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(self.one(phase, due)))
        await asyncio.gather(*tasks)
        phase.seconds = total / rate
        return phase


async def _start_bot(mode: str, api_base: str, db: str, args: argparse.Namespace) -> Any:
    cmd = [
        sys.executable,
        str(SCRIPT),
        "--serve",
        mode,
        "--api-base",
        api_base,
        "--db",
        db,
        "--users",
        str(args.users),
        "--log-level",
        args.log_level,
    ]
    if args.profile and mode != "echo":
        cmd += ["--profile", f"{args.profile}.{mode}.{Path(db).stem or 'db'}"]
    proc = await asyncio.create_subprocess_exec(
        *cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=None if args.verbose else asyncio.subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 300)
    if not line.startswith(b"READY "):
        proc.kill()
        raise RuntimeError(f"the {mode} bot did not start: {line!r}")
    return proc, int(line.split()[1])


async def _stop_bot(proc: Any) -> None:
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()


async def _quiet(tg: Any, still: float = 1.5, limit: float = 120.0) -> None:
    """Wait until the bot has sent nothing for ``still`` seconds (a backlog is worked off)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    seen = -1
    while loop.time() < deadline and len(tg.sent) != seen:
        seen = len(tg.sent)
        await asyncio.sleep(still)
    tg.clear_records()


async def _measure(tg: Any, mode: str, db: str, args: argparse.Namespace) -> dict[str, Any]:
    proc, port = await _start_bot(mode, tg.base_url, db, args)
    driver = Driver(tg, f"http://127.0.0.1:{port}{WEBHOOK_PATH}", _user_ids(args.users))
    try:
        await driver.closed_loop(min(args.concurrency, 16), args.warmup)
        await _quiet(tg)
        cpu = _cpu_seconds(proc.pid)
        peak = await driver.closed_loop(args.concurrency, args.seconds)
        peak.cpu = _cpu_seconds(proc.pid) - cpu
        tg.clear_records()
        sweep: dict[str, Any] = {}
        for rate in sorted({args.rate, *args.also_rates}):  # an overloaded phase comes last
            await _quiet(tg)
            cpu = _cpu_seconds(proc.pid)
            steady = await driver.open_loop(rate, args.seconds)
            steady.cpu = _cpu_seconds(proc.pid) - cpu
            tg.clear_records()
            sweep[f"{rate:g}"] = steady.summary()
    finally:
        await driver.close()
        await _stop_bot(proc)
    return {"max": peak.summary(), "steady": sweep[f"{args.rate:g}"], "at_rate": sweep}


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    from bot.lifecycle import tune_gc
    from tests.fakes.telegram_api import FakeTelegramAPI

    results: dict[str, Any] = {}
    async with FakeTelegramAPI(token=TOKEN) as tg:
        tune_gc()  # the harness's own full collections would stall sending (counted as latency)
        results["echo"] = await _measure(tg, "echo", "-", args)
        if args.adapter:
            results["adapter"] = await _measure(tg, "adapter", "-", args)
        for backend in args.backends:
            if backend == "sqlite":
                folder = tempfile.mkdtemp(prefix="huntaze-bench-")
                db = f"sqlite+aiosqlite:///{folder}/bench.db"
                results["sqlite"] = await _measure(tg, "huntaze", db, args)
            elif backend == "postgres":
                name = f"huntaze_bench_{uuid.uuid4().hex[:12]}"
                try:
                    await pg_admin(f'CREATE DATABASE "{name}"', server=args.pg_url)
                except Exception as exc:  # no server: report, don't fail the other figures
                    results["postgres"] = {"error": f"PostgreSQL unavailable: {exc}"}
                    continue
                try:
                    results["postgres"] = await _measure(
                        tg, "huntaze", f"{args.pg_url}/{name}", args
                    )
                finally:
                    await pg_admin(
                        f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server=args.pg_url
                    )
    return results


def _report(results: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    echo_max = results["echo"]["max"]["updates_per_s"]
    header = (
        f"{'target':<22}{'max upd/s':>10}{'vs echo':>9}{'cpu ms/upd':>11}"
        f"{'rate':>7}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}{'failed':>8}"
    )
    print(
        f"Telegram webhook throughput - {COMMAND} on the offline engine; {args.seconds:g} s per "
        f"phase, {args.concurrency} in flight (max), {args.rate:g}/s (steady), "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the end"
    )
    print(header)
    print("-" * len(header))
    labels = {
        "echo": "echo (bare aiogram)",
        "adapter": "adapter (canned reply)",
        "sqlite": "huntaze/sqlite",
        "postgres": "huntaze/postgres",
    }
    goals: dict[str, Any] = {}
    for name in ["echo", "adapter", *args.backends]:
        r = results.get(name)
        if name == "adapter" and r is None:
            continue
        label = labels.get(name, name)
        if r is None or "error" in r:
            print(f"{label:<22}{(r or {}).get('error', 'not run')}")
            continue
        peak, steady = r["max"], r["steady"]
        ratio = peak["updates_per_s"] / echo_max if echo_max else 0.0
        r["ratio_vs_echo"] = round(ratio, 3)
        cpu = peak["bot_cpu_ms_per_update"]
        print(
            f"{label:<22}{peak['updates_per_s']:>10.1f}{ratio:>8.0%} "
            f"{cpu if cpu is not None else float('nan'):>10.2f}"
            f"{args.rate:>7g}{steady['p50_ms']:>8.1f}{steady['p95_ms']:>8.1f}"
            f"{steady['p99_ms']:>8.1f}{peak['failed'] + steady['failed']:>8d}"
        )
        if name in ("sqlite", "postgres"):
            goals[f"{name}_p95_le_100ms_at_{args.rate:g}_per_s"] = steady["p95_ms"] <= 100.0
            if name == "postgres":
                goals["postgres_ge_50pct_of_echo"] = ratio >= 0.5
    if args.also_rates:
        print()
        print("p95 ms (p50) at other steady rates:")
        for name in ["echo", "adapter", *args.backends]:
            r = results.get(name)
            if r is None or "error" in r:
                continue
            cells = "  ".join(
                f"{rate}/s: {v['p95_ms']:.0f} ({v['p50_ms']:.0f})"
                for rate, v in r["at_rate"].items()
            )
            print(f"  {labels.get(name, name):<22}{cells}")
    print()
    for goal, met in goals.items():
        print(f"goal {goal}: {'met' if met else 'NOT met'}")
    summary = {
        "benchmark": "telegram_throughput",
        "command": COMMAND,
        "seconds": args.seconds,
        "rate": args.rate,
        "concurrency": args.concurrency,
        "users": args.users,
        "cpus": os.cpu_count(),
        "load_average": round(os.getloadavg()[0], 2),
        "results": results,
        "goals": goals,
    }
    print(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each phase")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--rate", type=float, default=200.0, help="steady-phase updates/s")
    parser.add_argument(
        "--also-rates", default="", help="more steady rates to measure, e.g. 25,50,100"
    )
    parser.add_argument("--concurrency", type=int, default=64, help="in flight, max phase")
    parser.add_argument("--users", type=int, default=1000, help="simulated users (chats)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument(
        "--no-adapter",
        dest="adapter",
        action="store_false",
        help="skip the adapter-only target (canned reply, no database)",
    )
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG))
    parser.add_argument("--log-level", default="WARNING", help="the bot's log level")
    parser.add_argument("--verbose", action="store_true", help="show the bot's stderr")
    parser.add_argument(
        "--profile", help="cProfile the adapter and Huntaze bots into PROFILE.<target>"
    )
    parser.add_argument("--serve", choices=["echo", "adapter", "huntaze"], help=argparse.SUPPRESS)
    parser.add_argument("--api-base", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve == "echo":
        asyncio.run(_serve_echo(args))
        return 0
    if args.serve in ("adapter", "huntaze"):
        serve = _serve_adapter if args.serve == "adapter" else _serve_huntaze
        if args.profile:
            import cProfile

            cProfile.runctx("asyncio.run(serve(args))", globals(), locals(), args.profile)
        else:
            asyncio.run(serve(args))
        return 0
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    args.also_rates = [float(r) for r in args.also_rates.split(",") if r.strip()]
    if args.concurrency > args.users // 2:
        parser.error("--users must be at least twice --concurrency")
    results = asyncio.run(_run(args))
    _report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
