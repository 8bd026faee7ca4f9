"""Background jobs: the in-process queue (embedded default) and SAQ over the real Redis.

Retries then success, exhausted jobs in the dead-letter list, a big CSV import that reports
progress and its result in chat, and ``huntaze jobs dead`` / ``huntaze jobs retry``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.jobs import (
    VAULT_SWEEP_HOUR,
    FileDeadLetters,
    LocalJobQueue,
    RedisDeadLetters,
    SaqJobQueue,
    build_worker,
    format_dead,
    retry_dead,
    run_worker,
    saq_queue,
)
from bot.settings import Settings
from core.app import Assistant
from core.chat import Attachment, ExternalUser, FileBlock, ImageBlock, Incoming, Reply, as_notice
from core.errors import ServiceUnavailable
from core.jobs import (
    JOBS,
    PENDING_PREFIX,
    SUMMARY_KEY,
    JobEnv,
    JobRunner,
    JobSpec,
    adopt_kv_summaries,
    enqueue_import,
    enqueue_summaries,
    pending_key,
    read_import_status,
    reply_text,
    start_import,
)
from core.llm.offline import OfflineEngine
from core.models import Identity, Profile
from core.resilience.cache import MemoryKV
from core.services.imports import CsvImporter
from storage.blobs import LocalBlobStore
from storage.db import create_engine
from storage.repositories import SqlStore
from storage.tables import ProfileRow
from tests.fakes.clock import FakeClock
from tests.services import free_port
from webhooks.metrics import Metrics

CATEGORIES = ("Subscription", "Tip", "Post purchase", "Message")


class RecordingNotifier:
    """``core.ports.Notifier`` that keeps what each account was told."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []  # the text (markup) of each notice
        self.notices: list[tuple[int, Reply]] = []  # each notice as the adapters send it
        self.changed = asyncio.Event()

    async def notify(self, account_id: int, message: str | Reply) -> None:
        notice = as_notice(message)
        text = reply_text(notice)
        self.sent.append((account_id, text))
        self.notices.append((account_id, notice))
        self.changed.set()

    def texts(self, account_id: int) -> list[str]:
        return [t for a, t in self.sent if a == account_id]

    async def wait_until(self, predicate: Any) -> None:
        while not predicate():
            self.changed.clear()
            await self.changed.wait()


async def eventually(fetch: Any) -> Any:
    """Poll ``fetch`` until it answers something truthy (state in another process)."""
    while True:
        value = await fetch()
        if value:
            return value
        await asyncio.sleep(0.05)


def export_csv(rows: int, every_minutes: int = 7) -> tuple[bytes, Decimal]:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    lines = ["Date,Net,Currency,Type,Fan"]
    total = Decimal(0)
    for i in range(rows):
        at = start + timedelta(minutes=every_minutes * i)
        amount = Decimal(100 + (i * 37) % 900) / 100
        total += amount
        lines.append(f"{at:%Y-%m-%d %H:%M:%S},{amount},USD,{CATEGORIES[i % 4]},@fan_{i % 300}")
    return ("\r\n".join(lines) + "\r\n").encode(), total


def attachment(name: str, data: bytes) -> Attachment:
    async def read() -> bytes:
        return data

    return Attachment(name=name, mime="text/csv", size=len(data), read=read)


@pytest.fixture
async def app(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[Assistant]:
    engine = create_engine(migrated_sqlite_url)
    store = SqlStore(engine, clock)
    try:
        yield Assistant(
            store=store,
            generator=OfflineEngine(),
            kv=MemoryKV(max_entries=1000, clock=clock),
            clock=clock,
            blobs=LocalBlobStore(tmp_path / "blobs"),
            importer=CsvImporter(store, clock, batch_size=400),
        )
    finally:
        await engine.dispose()


async def account(app: Assistant, who: str = "mia") -> int:
    acct = await app.store.accounts.resolve(Identity(platform="telegram", external_id=who))
    return acct.id


class Flaky:
    """A job that fails ``failures`` times, then succeeds (and tells the creator)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[int] = []

    async def __call__(self, env: JobEnv, payload: dict[str, Any]) -> None:
        self.calls.append(env.attempt)
        if len(self.calls) <= self.failures:
            raise RuntimeError(f"upstream down (call {len(self.calls)})")
        await env.notifier.notify(int(payload["account_id"]), "flaky job done")


def local_queue(app: Assistant, tmp_path: Path) -> tuple[RecordingNotifier, LocalJobQueue]:
    """The embedded default's queue on ``app``, and the notifier that records what it sent."""
    notifier = RecordingNotifier()
    dead = FileDeadLetters(tmp_path / "dead.json")
    return notifier, LocalJobQueue(JobRunner(app, notifier), dead, app.clock)


def runner_with(app: Assistant, notifier: RecordingNotifier, flaky: Flaky) -> JobRunner:
    runner = JobRunner(app, notifier)
    runner.specs["flaky"] = JobSpec("flaky", flaky, attempts=3, backoff=0.01, max_backoff=0.05)
    return runner


# ---------------------------------------------------------------- in-process queue


async def test_in_process_job_is_retried_then_succeeds(app: Assistant, tmp_path: Path) -> None:
    notifier, flaky = RecordingNotifier(), Flaky(failures=2)
    dead = FileDeadLetters(tmp_path / "dead.json")
    queue = LocalJobQueue(runner_with(app, notifier, flaky), dead, app.clock)
    acct = await account(app)
    await queue.enqueue("flaky", {"account_id": acct})
    await asyncio.wait_for(queue.join(), 20)
    assert flaky.calls == [1, 2, 3]
    assert notifier.texts(acct) == ["flaky job done"]
    assert await dead.list() == []


async def test_in_process_job_that_always_fails_is_dead_lettered_and_can_be_retried(
    app: Assistant, tmp_path: Path
) -> None:
    notifier, flaky = RecordingNotifier(), Flaky(failures=3)
    dead = FileDeadLetters(tmp_path / "dead.json")
    app.observer = metrics = Metrics()
    queue = LocalJobQueue(runner_with(app, notifier, flaky), dead, app.clock)
    acct = await account(app)
    job_id = await queue.enqueue("flaky", {"account_id": acct}, job_id="job-1")
    await asyncio.wait_for(queue.join(), 20)
    assert flaky.calls == [1, 2, 3] and notifier.sent == []

    def sample(name: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"name": "flaky", **labels})

    assert sample("huntaze_jobs_total", outcome="failed") == 3
    assert sample("huntaze_jobs_total", outcome="ok") is None
    assert sample("huntaze_jobs_dead_total") == 1
    assert sample("huntaze_job_duration_seconds_count") == 3

    # Another process (``huntaze jobs dead``) reads the same file.
    letters = await FileDeadLetters(tmp_path / "dead.json").list()
    assert [(d.id, d.name, d.account_id, d.attempts) for d in letters] == [
        (job_id, "flaky", acct, 3)
    ]
    assert "upstream down (call 3)" in letters[0].error
    table = format_dead(letters)
    assert "job-1\tflaky\t" in table and "upstream down" in table

    new_id = await retry_dead(dead, queue, job_id)
    assert new_id is not None and new_id != job_id
    await asyncio.wait_for(queue.join(), 20)
    assert len(flaky.calls) == 4 and notifier.texts(acct) == ["flaky job done"]
    assert await dead.list() == []
    assert await retry_dead(dead, queue, job_id) is None  # taken once
    assert sample("huntaze_jobs_total", outcome="ok") == 1
    assert sample("huntaze_jobs_dead_total") == 1


async def test_unknown_job_is_refused_at_enqueue(app: Assistant, tmp_path: Path) -> None:
    queue = LocalJobQueue(
        JobRunner(app, RecordingNotifier()), FileDeadLetters(tmp_path / "d.json"), app.clock
    )
    with pytest.raises(Exception, match="unknown job"):
        await queue.enqueue("no_such_job", {})


async def test_big_csv_import_runs_in_the_background_with_progress(
    app: Assistant, tmp_path: Path
) -> None:
    notifier, queue = local_queue(app, tmp_path)
    acct = await account(app)
    data, total = export_csv(4000)
    answer = await enqueue_import(app, queue, acct, attachment("earnings.csv", data), "fansly")
    assert "background" in answer
    await asyncio.wait_for(queue.join(), 60)

    texts = notifier.texts(acct)
    progress = [t for t in texts if t.startswith("Importing earnings.csv…")]
    percents = [int(t.rsplit(" ", 1)[1].rstrip("%")) for t in progress]
    assert len(percents) >= 3 and percents == sorted(set(percents))
    assert all(0 < p < 100 for p in percents)
    final = texts[-1]
    assert "4,000" in final or "4000" in final, final
    span = await app.store.earnings.span(acct)  # type: ignore[attr-defined]
    assert span is not None
    buckets = await app.store.earnings.buckets(  # type: ignore[attr-defined]
        acct, None, datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert sum(b.amount for b in buckets) == total
    assert {b.platform for b in buckets} == {"fansly"}  # said with the file, kept for the job
    assert "Platform: Fansly (as you said)." in final
    assert not (tmp_path / "blobs" / PENDING_PREFIX / str(acct)).exists() or not any(
        (tmp_path / "blobs" / PENDING_PREFIX / str(acct)).iterdir()
    )


async def test_summaries_are_queued_once_per_subscriber_and_period(
    app: Assistant, tmp_path: Path
) -> None:
    notifier, queue = local_queue(app, tmp_path)
    mia, zoe, ann = await account(app, "mia"), await account(app, "zoe"), await account(app, "ann")
    await app.store.summaries.set(mia, "weekly")
    await app.store.summaries.set(zoe, "daily")
    await app.store.summaries.set(ann, "weekly")
    await app.store.summaries.set(ann, None)
    monday_8am = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # no time zone set: UTC
    export = b"date,amount\n2026-11-23 20:00,5\n2026-11-18 20:00,7\n"  # the jobs run at 24th noon
    for acct in (mia, zoe):
        await CsvImporter(app.store, app.clock).import_csv(acct, "e.csv", export)
    due = await enqueue_summaries(app.store.summaries, queue, app.store.profiles, monday_8am)
    assert due == [f"summary-weekly-20261123-{mia}", f"summary-daily-20261123-{zoe}"]
    await asyncio.wait_for(queue.join(), 30)
    assert sorted(a for a, _ in notifier.sent) == sorted([mia, zoe])
    assert notifier.texts(mia)[0].startswith("**Your weekly summary**")
    assert notifier.texts(zoe)[0].startswith("**Your daily summary**")
    daily, weekly = notifier.texts(zoe)[0], notifier.texts(mia)[0]
    charts = next(n for a, n in notifier.notices if a == zoe).blocks
    assert any(isinstance(b, ImageBlock) and b.png.startswith(b"\x89PNG") for b in charts)
    assert "**Earnings — yesterday** (Nov 23, 2026, UTC)\nRevenue **$5.00**" in daily
    # Tuesday the 24th: last week is Monday 16 to Sunday 22 November.
    assert "**Earnings — last week** (Nov 16, 2026 – Nov 22, 2026, UTC)" in weekly
    assert "Revenue **$7.00**" in weekly
    # The scheduler runs every hour; at 09:00 or on a Tuesday nothing more is due.
    nine = monday_8am.replace(hour=9)
    assert await enqueue_summaries(app.store.summaries, queue, app.store.profiles, nine) == []
    tuesday = monday_8am + timedelta(days=1)
    tuesday_ids = await enqueue_summaries(app.store.summaries, queue, app.store.profiles, tuesday)
    assert tuesday_ids == [f"summary-daily-20261124-{zoe}"]
    await asyncio.wait_for(queue.join(), 30)
    assert [a for a, _ in notifier.sent].count(zoe) == 2


async def test_summaries_arrive_at_eight_on_the_creators_clock(
    app: Assistant, tmp_path: Path
) -> None:
    notifier, queue = local_queue(app, tmp_path)
    berlin, new_york, mumbai = [await account(app, n) for n in ("berlin", "ny", "mumbai")]
    for acct, zone in ((berlin, "Europe/Berlin"), (new_york, "America/New_York")):
        await app.store.summaries.set(acct, "weekly")
        await app.store.profiles.save(acct, Profile(timezone=zone))
    await app.store.summaries.set(mumbai, "daily")
    await app.store.profiles.save(mumbai, Profile(timezone="Asia/Kolkata"))
    # A stored profile that no longer validates: UTC, and it stops no one else's summary.
    broken = await account(app, "broken")
    await app.store.summaries.set(broken, "daily")
    store = app.store
    assert isinstance(store, SqlStore)
    async with store.sessions() as session, session.begin():
        session.add(ProfileRow(account_id=broken, data={"niches": 3}, updated_at=app.clock.now()))

    async def due(hour: int, day: int = 23) -> list[str]:
        when = datetime(2026, 11, day, hour, 0, tzinfo=UTC)
        return await enqueue_summaries(app.store.summaries, queue, app.store.profiles, when)

    # Monday 23 November: 08:00 in Berlin is 07:00 UTC (winter time), in New York 13:00 UTC;
    # in Mumbai (UTC+05:30) the 02:00 UTC run is at 07:30, the 03:00 one at 08:30.
    assert await due(7) == [f"summary-weekly-20261123-{berlin}"]
    assert await due(8) == [f"summary-daily-20261123-{broken}"]
    assert await due(13) == [f"summary-weekly-20261123-{new_york}"]
    assert await due(2) == []
    assert await due(3) == [f"summary-daily-20261123-{mumbai}"]
    assert await due(13, day=22) == []  # Sunday 08:00 in New York: no weekly summary
    await asyncio.wait_for(queue.join(), 30)
    assert sorted(a for a, _ in notifier.sent) == sorted([berlin, new_york, mumbai, broken])


async def test_segment_personalisation_job_sends_drafts_and_keeps_the_csv(
    app: Assistant, tmp_path: Path
) -> None:
    from core.ports import FanPatch

    notifier, queue = local_queue(app, tmp_path)
    acct = await account(app)
    patches = [
        FanPatch(f"fan{i}", {"name": f"Fan{i}", "tier": "vip" if i % 2 else "regular"})
        for i in range(40)
    ]
    await app.store.fan_lists.upsert_many(acct, patches)  # type: ignore[attr-defined]
    await queue.enqueue(
        "personalize_segment",
        {"account_id": acct, "template": "Hey {name}, thank you!", "segment": "tier:vip"},
    )
    await asyncio.wait_for(queue.join(), 60)
    [text] = notifier.texts(acct)
    assert "**20 drafts**" in text and "Hey Fan" in text
    [(_, notice)] = notifier.notices  # the drafts file comes with the notice
    [attached] = [b for b in notice.blocks if isinstance(b, FileBlock)]
    assert attached.mime == "text/csv" and attached.data.count(b"Hey Fan") == 20
    assets = await app.store.assets.list(acct)
    assert [a.mime for a in assets] == ["text/csv"] and f"/vault send {assets[0].id}" in text
    mia = ExternalUser(platform="telegram", id="mia")
    sent = await app.handle(Incoming(user=mia, chat_id="mia", text=f"/vault send {assets[0].id}"))
    [csv_file] = [b for b in sent.blocks if isinstance(b, FileBlock)]
    assert csv_file.mime == "text/csv" and csv_file.data.count(b"Hey Fan") == 20

    await queue.enqueue(  # a problem a retry cannot fix is answered, not retried
        "personalize_segment",
        {"account_id": acct, "template": "Hey {nme}", "segment": "tier:vip"},
    )
    await asyncio.wait_for(queue.join(), 30)
    assert "template" in notifier.texts(acct)[-1]
    assert await queue.dead.list() == []


# ---------------------------------------------------------------- SAQ over Redis


@pytest.fixture
def queue_name(redis_url: str, redis_prefix: str) -> Iterator[str]:
    import redis

    name = redis_prefix.rstrip(":") + "-jobs"
    yield name
    client = redis.Redis.from_url(redis_url)
    try:
        for pattern in (f"saq:{name}:*", f"saq:job:{name}:*", f"saq:abort:{name}:*"):
            keys = list(client.scan_iter(match=pattern, count=500))
            if keys:
                client.delete(*keys)
        client.delete(f"{name}:jobs:dead")
    finally:
        client.close()


@contextlib.asynccontextmanager
async def saq_worker(
    redis_url: str, name: str, runner: JobRunner, dead: RedisDeadLetters, clock: FakeClock
) -> AsyncIterator[SaqJobQueue]:
    jobs = SaqJobQueue(saq_queue(redis_url, name), runner)
    worker = build_worker(jobs.queue, runner, dead, clock, cron=False)
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(worker, stop))
    try:
        yield jobs
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await jobs.aclose()


# ---------------------------------------------------------------- the sweeper and starting jobs


async def dequeued_not_started(queue: Any, key: str) -> Any:
    """The first half of a worker's dequeue: the job is in the active list, still QUEUED (the
    worker marks it ACTIVE a moment later)."""
    await queue.enqueue("huntaze_job", key=key, name="x", payload={}, retries=3)
    job_id = await queue.redis.lmove(queue._queued, queue._active, "LEFT", "RIGHT")
    return await queue._get_job_by_id(job_id)


async def started_soon(job: Any) -> None:
    """The second half, as SAQ's worker does it, 0.1 s later (inside the sweep's grace)."""
    from saq.job import Status
    from saq.utils import now

    await asyncio.sleep(0.1)
    job.started = now()
    job.attempts += 1
    await job.update(status=Status.ACTIVE)


async def test_sweep_leaves_a_job_that_is_starting_alone(redis_url: str, queue_name: str) -> None:
    from saq.job import Status

    queue = saq_queue(redis_url, queue_name)
    queue.sweep_grace = 0.5
    try:
        job = await dequeued_not_started(queue, "starting")
        assert job.status == Status.QUEUED
        starting = asyncio.create_task(started_soon(job))
        assert await queue.sweep() == []
        await starting
        assert (await queue.job("starting")).status == Status.ACTIVE
        assert await queue.redis.lrange(queue._active, 0, -1) == [job.id.encode()]
    finally:
        await queue.disconnect()


async def test_sweep_still_requeues_a_job_whose_worker_died_while_starting_it(
    redis_url: str, queue_name: str
) -> None:
    from saq.job import Status

    queue = saq_queue(redis_url, queue_name)
    queue.sweep_grace = 0.2
    try:
        job = await dequeued_not_started(queue, "orphan")
        assert await queue.sweep() == [job.id]
        again = await queue.job("orphan")
        assert again.status == Status.QUEUED and again.error == "swept"
        assert await queue.redis.lrange(queue._active, 0, -1) == []
        assert await queue.redis.lrange(queue._queued, 0, -1) == [job.id.encode()]
    finally:
        await queue.disconnect()


async def test_stock_saq_sweep_aborts_a_starting_job(redis_url: str, queue_name: str) -> None:
    """Why ``saq_queue`` has its own sweep. When this fails, SAQ has fixed the race
    (tobymao/saq#124, #277) and ``SweepSafeRedisQueue`` can go."""
    from saq.queue.redis import RedisQueue

    queue = RedisQueue.from_url(redis_url, name=queue_name)
    try:
        job = await dequeued_not_started(queue, "starting")
        starting = asyncio.create_task(started_soon(job))
        assert await queue.sweep(abort=0.5) == [job.id]  # swept, though it was starting
        await starting
        assert (await queue.job("starting")).error == "swept"
    finally:
        await queue.disconnect()


async def test_redis_worker_imports_a_big_csv_with_progress(
    app: Assistant, redis_url: str, redis_client: Any, queue_name: str, clock: FakeClock
) -> None:
    notifier = RecordingNotifier()
    runner = JobRunner(app, notifier)
    dead = RedisDeadLetters(redis_client, key=f"{queue_name}:jobs:dead")
    acct = await account(app)
    data, total = export_csv(3000)
    async with saq_worker(redis_url, queue_name, runner, dead, clock) as jobs:
        await enqueue_import(app, jobs, acct, attachment("big.csv", data))
        done = notifier.wait_until(lambda: any("3,000" in t for t in notifier.texts(acct)))
        await asyncio.wait_for(done, 60)
    texts = notifier.texts(acct)
    assert any(t.startswith("Importing big.csv…") for t in texts[:-1])
    buckets = await app.store.earnings.buckets(  # type: ignore[attr-defined]
        acct, None, datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert sum(b.amount for b in buckets) == total
    assert await dead.list() == []


async def test_redis_failing_job_is_dead_lettered_and_cli_retry_reruns_it(
    app: Assistant,
    redis_url: str,
    redis_client: Any,
    queue_name: str,
    clock: FakeClock,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bot.__main__ import _jobs

    notifier, flaky = RecordingNotifier(), Flaky(failures=3)
    runner = runner_with(app, notifier, flaky)
    dead = RedisDeadLetters(redis_client, key=f"{queue_name}:jobs:dead")
    acct = await account(app)

    settings = Settings(
        jobs_queue=queue_name,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/cli.db",
        redis_url=redis_url,
        data_dir=tmp_path / "data",
        http_enabled=False,
    )
    async with saq_worker(redis_url, queue_name, runner, dead, clock) as jobs:
        job_id = await jobs.enqueue("flaky", {"account_id": acct})
        await asyncio.wait_for(eventually(dead.list), 30)
        letters = await dead.list()
        assert [(d.id, d.name, d.account_id, d.attempts) for d in letters] == [
            (job_id, "flaky", acct, 3)
        ]
        assert "upstream down (call 3)" in letters[0].error
        assert flaky.calls == [1, 2, 3] and notifier.sent == []

        assert await _jobs(settings, "dead", None) == 0
        listed = capsys.readouterr().out
        assert job_id in listed and "flaky" in listed

        # ``huntaze jobs retry ID`` re-queues it on the shared Redis; the worker runs it again.
        assert await _jobs(settings, "retry", job_id) == 0
        assert "re-queued" in capsys.readouterr().out
        done = notifier.wait_until(lambda: notifier.texts(acct) == ["flaky job done"])
        await asyncio.wait_for(done, 30)
    assert len(flaky.calls) == 4
    assert await dead.list() == []
    assert await _jobs(settings, "retry", job_id) == 1  # gone from the list


def test_every_job_has_a_spec_with_retries() -> None:
    assert set(JOBS) == {"import_csv", "personalize_segment", "summary", "reminder"}
    assert all(spec.attempts >= 2 for spec in JOBS.values())


# ---------------------------------------------------------------- huntaze worker


def test_worker_needs_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.__main__ import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("REDIS_URL", raising=False)
    assert main(["worker"]) == 2


async def test_huntaze_worker_runs_queued_jobs_and_stops_on_sigterm(
    tmp_path: Path, redis_url: str, redis_client: Any
) -> None:
    """The real CLI on a queue of this test's own (JOBS_QUEUE): another test run sharing the
    Redis server - a second checkout, CI next to a developer - cannot take its job or stop the
    worker that holds it. Its HTTP port serves metrics (the dead letter counted) and health,
    and no webhook or API route."""
    import os
    import signal
    import sys

    from saq.job import Status

    db = tmp_path / "worker.db"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_"))}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{db}",
        REDIS_URL=redis_url,
        DATA_DIR=str(tmp_path / "data"),
        LOG_FORMAT="json",
        HTTP_PORT=str(port := free_port()),
    )
    for key in [k for k in env if k.startswith(("TELEGRAM_", "DISCORD_", "JOBS_"))]:
        del env[key]
    name = f"huntaze-test-{os.getpid()}-{os.urandom(4).hex()}"
    env["JOBS_QUEUE"] = name
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "worker",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
    )
    queue = saq_queue(redis_url, name)
    jobs = SaqJobQueue(queue)
    key = "test-worker"
    try:
        # An unknown job name: the worker refuses it -> retried, then dead-lettered.
        await jobs.enqueue("no_such_job", {"account_id": 1}, job_id=key)

        polled: list[str] = []  # the job's states as seen, for the report below
        dead = RedisDeadLetters(redis_client, key=f"{name}:jobs:dead")

        async def finished() -> Any:
            # SAQ saves the FAILED status before its after_process hook writes the dead letter,
            # so the two are waited for together.
            job = await queue.job(key)
            lettered = any(letter.id == key for letter in await dead.list())
            state = "missing" if job is None else f"{job.status} after {job.attempts} attempts"
            state += ", dead-lettered" if lettered else ""
            if not polled or polled[-1] != state:
                polled.append(state)
            return job if job is not None and job.status == Status.FAILED and lettered else None

        job = None
        with contextlib.suppress(TimeoutError):  # reported below, with the worker's own log
            job = await asyncio.wait_for(eventually(finished), 60)
        if job is not None:
            assert job.attempts == 3
            letter = await dead.take(key)
            assert letter is not None and letter.name == "no_such_job"
            assert "unknown job" in letter.error
            async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as http:
                async with http.get("/metrics") as r:
                    assert r.status == 200
                    metrics = await r.text()
                assert 'huntaze_jobs_dead_total{name="no_such_job"} 1.0' in metrics
                async with http.get("/health/live") as r:
                    assert r.status == 200
                for path in ("/webhooks/stripe", "/api/v1/imports"):
                    async with http.post(path) as r:
                        assert r.status in (404, 405), path
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        out = b""
        with contextlib.suppress(TimeoutError):
            out, _ = await asyncio.wait_for(proc.communicate(), 40)
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        leftovers = [k async for k in redis_client.scan_iter(match=f"*{name}*")]
        if leftovers:
            await redis_client.delete(*leftovers)
        await jobs.aclose()
    assert job is not None, (
        f"no dead letter within 60 s; the job was {' -> '.join(polled) or 'never read'}; "
        "the worker said:\n" + out.decode(errors="replace")[-6000:]
    )
    assert proc.returncode == 0, out.decode(errors="replace")[-3000:]
    assert b'"worker_started"' in out and b'"worker_stopped"' in out, out[-3000:]
    assert b"unknown job 'no_such_job'" in out  # the job's own failures are logged


async def test_a_big_csv_sent_in_chat_goes_to_the_queue(app: Assistant, tmp_path: Path) -> None:
    from core.chat import ExternalUser, Incoming

    notifier, queue = local_queue(app, tmp_path)
    app.jobs = queue
    data, total = export_csv(50_000, every_minutes=1)  # > BACKGROUND_IMPORT_BYTES
    assert len(data) > 2 * 1024 * 1024
    user = ExternalUser(platform="telegram", id="77", username="big")
    reply = await app.handle(
        Incoming(user=user, chat_id="77", attachments=[attachment("earnings.csv", data)])
    )
    assert "background" in reply.plain_text
    await asyncio.wait_for(queue.join(), 120)
    acct = (await app.store.accounts.resolve(user.identity())).id
    assert "50,000 new transactions" in notifier.texts(acct)[-1]
    buckets = await app.store.earnings.buckets(acct, None, datetime(2027, 1, 1, tzinfo=UTC))
    assert sum(b.amount for b in buckets) == total


class DownImporter:
    """An importer whose database is down on every try."""

    async def import_csv(
        self, account_id: int, name: str, data: bytes, platform: str | None = None
    ) -> str:
        raise ServiceUnavailable("The database is unavailable right now.")


async def test_an_import_failing_every_try_reads_failed_until_a_retry_imports_it(
    app: Assistant, tmp_path: Path
) -> None:
    notifier = RecordingNotifier()
    dead = FileDeadLetters(tmp_path / "dead.json")
    runner = JobRunner(app, notifier)
    runner.specs["import_csv"] = replace(JOBS["import_csv"], backoff=0.01, max_backoff=0.02)
    queue = LocalJobQueue(runner, dead, app.clock)
    acct, other = await account(app), await account(app, "zoe")
    data, total = export_csv(300)

    async def chunks() -> AsyncIterator[bytes]:
        yield data[:1000]
        yield data[1000:]

    working, app.importer = app.importer, DownImporter()
    started = await start_import(app, queue, acct, "e.csv", chunks(), "fansly", notify=False)
    assert (started.state, started.size) == ("queued", len(data))
    await asyncio.wait_for(queue.join(), 20)
    status = await read_import_status(app.kv, acct, started.id)
    assert status is not None
    assert (status.state, status.attempt) == ("failed", JOBS["import_csv"].attempts)
    assert status.error == "The database is unavailable right now."
    assert notifier.sent == []  # an API import tells no one in chat
    assert await read_import_status(app.kv, other, started.id) is None  # the account's own
    [letter] = await dead.list()
    assert letter.pending_blob and await app.blobs.exists(letter.pending_blob)  # type: ignore[union-attr]

    # ``huntaze jobs retry`` re-queues it under a new id; the status the caller holds follows.
    app.importer = working
    assert await retry_dead(dead, queue, letter.id) not in (None, started.id)
    await asyncio.wait_for(queue.join(), 20)
    status = await read_import_status(app.kv, acct, started.id)
    assert status is not None and (status.state, status.error) == ("done", "")
    assert status.report is not None and status.report["added"] == 300
    buckets = await app.store.earnings.buckets(  # type: ignore[attr-defined]
        acct, None, datetime(2027, 1, 1, tzinfo=UTC)
    )
    assert sum(b.amount for b in buckets) == total and {b.platform for b in buckets} == {"fansly"}
    assert not await app.blobs.exists(letter.pending_blob)  # type: ignore[union-attr]


async def test_summary_subscriptions_are_kept_in_the_database(app: Assistant) -> None:
    # /summary answered "needs the background worker" on the embedded default, and kept its
    # subscriptions in the key-value store (lost with the in-memory one at every restart)
    from core.chat import ExternalUser, Incoming

    user = ExternalUser(platform="telegram", id="5")

    async def say(text: str) -> str:
        return (await app.handle(Incoming(user=user, chat_id="5", text=text))).plain_text

    assert "You get no scheduled summary" in await say("/summary")
    assert "every Monday, last week's, at 08:00 UTC" in await say("/summary weekly")
    assert "You get your summary every Monday" in await say("/summary")
    await say("/timezone Europe/Berlin")
    assert "every Monday, last week's, at 08:00 Europe/Berlin" in await say("/summary weekly")
    assert "every day, yesterday's figures, at 08:00 Europe/Berlin" in await say("/summary daily")
    acct = (await app.store.accounts.resolve(user.identity())).id
    assert await app.store.summaries.all() == {acct: "daily"}
    assert not await app.kv.get(SUMMARY_KEY)
    assert "off" in await say("/summary off")
    assert await app.store.summaries.all() == {}
    assert "You get no scheduled summary" in await say("/summary")


async def test_subscriptions_kept_by_the_old_version_move_to_the_database(
    app: Assistant,
) -> None:
    mia, zoe, gone = await account(app, "mia"), await account(app, "zoe"), 10_000
    await app.store.summaries.set(zoe, "weekly")  # set since: the database's is newer
    old = {str(mia): "daily", str(zoe): "daily", str(gone): "weekly", "7": "hourly"}
    await app.kv.set(SUMMARY_KEY, json.dumps(old).encode())
    assert await adopt_kv_summaries(app.kv, app.store.summaries) == 1
    assert await app.store.summaries.all() == {mia: "daily", zoe: "weekly"}
    assert not await app.kv.get(SUMMARY_KEY)
    assert await adopt_kv_summaries(app.kv, app.store.summaries) == 0


async def test_without_redis_run_and_serve_keep_the_schedule(
    app: Assistant, clock: FakeClock, tmp_path: Path
) -> None:
    # without Redis there is no `huntaze worker`: summaries were never sent, the vault never
    # swept. run/serve now run the worker's schedule: the hour's summaries, the night's sweep.
    from bot.jobs import run_schedule
    from core.services.vault import new_blob_key

    notifier, queue = local_queue(app, tmp_path)
    dead = FileDeadLetters(tmp_path / "dead.json")
    mia, zoe = await account(app, "mia"), await account(app, "zoe")
    await app.store.summaries.set(mia, "daily")
    await app.store.summaries.set(zoe, "weekly")
    assert app.blobs is not None
    orphan = new_blob_key(mia)
    await app.blobs.put(orphan, b"left by a crash", "application/octet-stream")

    async def run_until(when: datetime, done: Any) -> None:
        clock.advance((when - clock.now()).total_seconds())
        stop = asyncio.Event()
        task = asyncio.create_task(run_schedule(queue.runner, queue, dead, clock, stop))
        try:
            await asyncio.wait_for(eventually(done), 30)
            await asyncio.wait_for(queue.join(), 30)
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)

    async def sent_two() -> bool:
        return len(notifier.sent) == 2

    # a Monday, 0.2 s before 08:00 UTC: both summaries are due at the hour
    monday = (datetime.now(UTC) + timedelta(days=7 - datetime.now(UTC).weekday())).replace(
        hour=7, minute=59, second=59, microsecond=800_000
    )
    await run_until(monday, sent_two)
    assert notifier.texts(mia)[0].startswith("**Your daily summary**")
    assert notifier.texts(zoe)[0].startswith("**Your weekly summary**")
    assert await app.blobs.exists(orphan)  # 08:00 is not the sweep's hour
    # the next night, just before the sweep's hour: the orphan is swept, no summary is due
    night = (monday + timedelta(days=1)).replace(hour=VAULT_SWEEP_HOUR - 1)
    await run_until(night, lambda: _gone(app, orphan))
    assert len(notifier.sent) == 2


async def _gone(app: Assistant, key: str) -> bool:
    assert app.blobs is not None
    return not await app.blobs.exists(key)


async def test_the_worker_sweeps_the_vault_every_night(
    redis_url: str, queue_name: str, app: Assistant, clock: FakeClock, tmp_path: Path
) -> None:
    from bot.jobs import VAULT_SWEEP_CRON
    from core.services.vault import new_blob_key

    account = await app.store.accounts.resolve(Identity(platform="console", external_id="mia"))
    assert app.blobs is not None
    orphan = new_blob_key(account.id)
    await app.blobs.put(orphan, b"left by a crash", "application/octet-stream")
    queue = saq_queue(redis_url, queue_name)
    try:
        runner = JobRunner(app, RecordingNotifier())
        worker = build_worker(queue, runner, FileDeadLetters(tmp_path / "dead.json"), clock)
        [sweep] = [c for c in worker.cron_jobs if c.cron == VAULT_SWEEP_CRON]
        assert await sweep.function({}) == 0  # the blob is newer than the grace period
        clock.advance((datetime.now(UTC) - clock.now()).total_seconds() + 2 * 86400)
        assert await sweep.function({}) == 1
        assert not await app.blobs.exists(orphan)
        abandoned = pending_key(account.id)  # an import upload whose job is gone
        await app.blobs.put(abandoned, b"date,amount\n", "text/csv")
        clock.advance(8 * 86400)
        assert await sweep.function({}) == 1
        assert not await app.blobs.exists(abandoned)
    finally:
        await queue.disconnect()
