"""Job queues behind ``core.jobs.JobQueue``, dead-letter stores, and the worker.

- ``LocalJobQueue``: the embedded default. Jobs run as asyncio tasks in this process, with the
  same retry/backoff/dead-letter semantics as the Redis queue; dead letters go to a JSON file
  under ``DATA_DIR`` so ``huntaze jobs dead`` (another process) can list them.
- ``SaqJobQueue``: SAQ (https://github.com/tobymao/saq) over Redis. ``enqueue`` only queues;
  ``huntaze worker`` (``run_worker``) consumes. SAQ was picked over arq because arq 0.28 pins
  ``redis<6`` (this project runs redis-py 8); SAQ has retries with exponential backoff, job
  timeouts, unique job keys, cron jobs and a sweeper that re-queues jobs of a dead worker
  (``saq_queue`` fixes a race in that sweeper: see ``_sweep_safe_queue_class``).
- ``RedisDeadLetters`` / ``FileDeadLetters``: the dead-letter list.

Every job is one SAQ function, ``huntaze_job(name, payload)``, that dispatches through
``core.jobs.JobRunner``; its SAQ job carries the spec's attempts, backoff and timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from core.jobs import (
    TEAM_ACTION_DAYS,
    DeadLetter,
    DeadLetters,
    JobFailed,
    JobQueue,
    JobRunner,
    JobSpec,
    enqueue_reminders,
    enqueue_summaries,
    sweep_leftovers,
)
from core.ports import Clock

log = structlog.get_logger("huntaze.jobs")

SAQ_FUNCTION = "huntaze_job"
DEAD_KEY = "huntaze:jobs:dead"
QUEUE_NAME = "huntaze"
#: Every hour the worker queues the summaries due at 08:00 on their accounts' clocks and the
#: reminders due before the next hour.
HOURLY_CRON = "0 * * * *"
#: The hour (UTC) of the nightly vault sweep (orphaned blobs, abandoned import uploads).
VAULT_SWEEP_HOUR = 3
VAULT_SWEEP_CRON = f"30 {VAULT_SWEEP_HOUR} * * *"


def _error_text(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    return text[:2000]


# ---------------------------------------------------------------- dead letters


class FileDeadLetters:
    """Dead letters in one JSON file (the embedded default; one process writes at a time)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = asyncio.Lock()

    def _read(self) -> dict[str, str]:
        try:
            return dict(json.loads(self.path.read_text("utf-8")))
        except FileNotFoundError:
            return {}

    def _write(self, items: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(items), "utf-8")
        os.replace(tmp, self.path)

    async def add(self, letter: DeadLetter) -> None:
        async with self._lock:
            items = await asyncio.to_thread(self._read)
            items[letter.id] = letter.to_json()
            await asyncio.to_thread(self._write, items)

    async def list(self, limit: int | None = 100) -> list[DeadLetter]:
        items = await asyncio.to_thread(self._read)
        letters = [DeadLetter.from_json(v) for v in items.values()]
        return sorted(letters, key=lambda d: d.failed_at, reverse=True)[:limit]

    async def take(self, letter_id: str) -> DeadLetter | None:
        async with self._lock:
            items = await asyncio.to_thread(self._read)
            raw = items.pop(letter_id, None)
            if raw is None:
                return None
            await asyncio.to_thread(self._write, items)
            return DeadLetter.from_json(raw)


class RedisDeadLetters:
    """Dead letters in a Redis hash (id -> JSON), shared by every instance and worker."""

    def __init__(self, redis: Any, key: str = DEAD_KEY) -> None:
        self.redis = redis
        self.key = key

    async def add(self, letter: DeadLetter) -> None:
        await self.redis.hset(self.key, letter.id, letter.to_json())

    async def list(self, limit: int | None = 100) -> list[DeadLetter]:
        raw = await self.redis.hvals(self.key)
        letters = [DeadLetter.from_json(v) for v in raw]
        return sorted(letters, key=lambda d: d.failed_at, reverse=True)[:limit]

    async def take(self, letter_id: str) -> DeadLetter | None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hget(self.key, letter_id)
            pipe.hdel(self.key, letter_id)
            raw, deleted = await pipe.execute()
        if raw is None or not deleted:
            return None
        return DeadLetter.from_json(raw)


# ---------------------------------------------------------------- in-process queue


class LocalJobQueue:
    """``JobQueue`` on asyncio tasks in this process (embedded default)."""

    def __init__(
        self,
        runner: JobRunner,
        dead: DeadLetters,
        clock: Clock,
        *,
        concurrency: int = 4,
        delay_scale: float = 1.0,
    ) -> None:
        self.runner = runner
        self.dead = dead
        self.clock = clock
        self.delay_scale = delay_scale  # tests shrink backoff delays
        self._sem = asyncio.Semaphore(concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._closing = False

    async def enqueue(
        self, name: str, payload: dict[str, Any], *, job_id: str | None = None
    ) -> str:
        self.runner.spec(name)  # unknown job: raise now, not in a task
        if self._closing:
            raise JobFailed("the job queue is shutting down")
        job_id = job_id or uuid.uuid4().hex
        if job_id in self._tasks:
            return job_id
        payload = json.loads(json.dumps(payload))  # same as Redis: JSON in, JSON out
        task = asyncio.create_task(self._run(name, payload, job_id), name=f"job:{name}")
        self._tasks[job_id] = task
        task.add_done_callback(lambda _t: self._tasks.pop(job_id, None))
        return job_id

    async def _run(self, name: str, payload: dict[str, Any], job_id: str) -> None:
        spec = self.runner.spec(name)
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self._sem:
                    await asyncio.wait_for(
                        self.runner.run(name, payload, job_id, attempt), spec.timeout
                    )
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("job_failed", job=name, job_id=job_id, attempt=attempt, exc_info=True)
                if attempt >= spec.attempts:
                    self.runner.app.observer.job_dead(name)
                    await self.dead.add(
                        DeadLetter(
                            id=job_id,
                            name=name,
                            payload=payload,
                            error=_error_text(exc),
                            attempts=attempt,
                            failed_at=self.clock.now(),
                        )
                    )
                    return
                await asyncio.sleep(spec.delay(attempt) * self.delay_scale)

    async def join(self) -> None:
        """Wait until no job is queued or running (retries included)."""
        while self._tasks:
            await asyncio.wait(list(self._tasks.values()))

    async def aclose(self, grace: float = 15.0) -> None:
        """Let running jobs finish (bounded), then cancel the rest."""
        self._closing = True
        tasks = list(self._tasks.values())
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


# ---------------------------------------------------------------- SAQ over Redis


async def _unknown(env: Any, payload: dict[str, Any]) -> None:
    raise JobFailed("unknown job")


def saq_queue(redis_url: str, name: str = QUEUE_NAME) -> Any:
    return _sweep_safe_queue_class().from_url(redis_url, name=name)


# The sweep's snapshot, as SAQ 0.26 takes it: under a lock key (one sweep per ``lock`` seconds
# across workers), every job id in the active list with its stored job.
_SWEEP_SNAPSHOT = """
local id_jobs = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, v in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        id_jobs[i] = {v, redis.call('GET', v)}
    end
end
return id_jobs
"""


@functools.cache
def _sweep_safe_queue_class() -> type:
    from saq.job import Status
    from saq.queue.redis import RedisQueue

    class SweepSafeRedisQueue(RedisQueue):
        """SAQ's Redis queue with one fix to its sweeper.

        SAQ's sweep treats every job in the active list whose status is not ACTIVE as orphaned
        and aborts it. But a worker moves a job into the active list first (``BLMOVE``) and
        marks it ACTIVE a moment later, so a sweep in between aborts a job that is starting
        (tobymao/saq#124, and #277, open in 0.26.4, the latest release). A worker restarting
        with a backlog sweeps and dequeues at once; a job caught on its last attempt ended
        ABORTED, with no dead letter. Here a job seen QUEUED in the active list is looked at
        again after ``sweep_grace`` seconds and swept only if it is still there, still QUEUED:
        a worker that died between the two steps. Everything else is swept as SAQ does.
        """

        sweep_grace = 1.0

        async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
            if not self._cleanup_script:
                self._cleanup_script = self.redis.register_script(_SWEEP_SNAPSHOT)
            id_jobs = await self._cleanup_script(
                keys=[self._sweep, self._active], args=[lock], client=self.redis
            )
            jobs = [(job_id.decode(), self.deserialize(data)) for job_id, data in id_jobs]

            def unstarted(job: Any) -> bool:
                return job is not None and job.status == Status.QUEUED

            if any(unstarted(job) for _, job in jobs):
                await asyncio.sleep(self.sweep_grace)
                active = {v.decode() for v in await self.redis.lrange(self._active, 0, -1)}
                jobs = [
                    (job_id, await self._get_job_by_id(job_id) if unstarted(job) else job)
                    for job_id, job in jobs
                    if not unstarted(job) or job_id in active
                ]
            swept: list[str] = []
            for job_id, job in jobs:
                if job is None:
                    swept.append(job_id)
                    async with self.redis.pipeline(transaction=True) as pipe:
                        await (
                            pipe.lrem(self._active, 0, job_id)
                            .zrem(self._incomplete, job_id)
                            .execute()
                        )
                    log.info("job_swept_missing", job_id=job_id)
                elif job.status != Status.ACTIVE or job.stuck:
                    swept.append(job_id)
                    log.info("job_swept", job_id=job_id, status=str(job.status))
                    await self.abort(job, error=self.swept_error_message)
                    with contextlib.suppress(TimeoutError):
                        await job.refresh(abort)
                    if job.retryable:
                        await self.retry(job, error=self.swept_error_message)
                    else:
                        await self.finish(job, Status.ABORTED, error=self.swept_error_message)
            return swept

    return SweepSafeRedisQueue


class SaqJobQueue:
    """``JobQueue`` that puts jobs on a SAQ queue in Redis (consumed by ``huntaze worker``)."""

    def __init__(self, queue: Any, specs: JobRunner | None = None) -> None:
        self.queue = queue
        self.runner = specs

    async def enqueue(
        self, name: str, payload: dict[str, Any], *, job_id: str | None = None
    ) -> str:
        from core.jobs import JOBS

        specs = self.runner.specs if self.runner is not None else JOBS
        # The worker is the authority on job names (it may run a newer release than this
        # process): a name unknown here is queued with the default retry policy.
        spec = specs.get(name) or JobSpec(name, _unknown)
        key = job_id or uuid.uuid4().hex
        await self.queue.enqueue(
            SAQ_FUNCTION,
            key=key,
            name=name,
            payload=json.loads(json.dumps(payload)),
            retries=spec.attempts,
            retry_delay=spec.backoff,
            retry_backoff=spec.max_backoff,
            timeout=int(spec.timeout),
        )
        return key

    async def aclose(self) -> None:
        try:
            await self.queue.disconnect()
        except Exception:  # Redis already gone: nothing left to release
            log.warning("job_queue_close_failed", exc_info=True)


def build_worker(
    queue: Any,
    runner: JobRunner,
    dead: DeadLetters,
    clock: Clock,
    *,
    concurrency: int = 4,
    cron: bool = True,
    sweep_seconds: int = 60,
) -> Any:
    """A SAQ worker running ``runner``'s jobs; exhausted jobs become dead letters. With
    ``cron`` it also queues the daily and weekly summaries (hourly, for the accounts whose
    08:00 it is) and the reminders due before the next hour, and, with a vault, sweeps the blob
    store every night (orphaned vault blobs, abandoned import uploads). Without Redis,
    :func:`run_schedule` keeps the same schedule."""
    from saq import CronJob, Worker
    from saq.job import Status

    async def huntaze_job(ctx: dict[str, Any], *, name: str, payload: dict[str, Any]) -> None:
        job = ctx["job"]
        await runner.run(name, payload, job.key, job.attempts)

    async def after_process(ctx: dict[str, Any]) -> None:
        job = ctx.get("job")
        if job is None or job.status != Status.FAILED:
            return
        kwargs = job.kwargs or {}
        exc = ctx.get("exception")
        runner.app.observer.job_dead(str(kwargs.get("name", job.function)))
        await dead.add(
            DeadLetter(
                id=job.key,
                name=str(kwargs.get("name", job.function)),
                payload=dict(kwargs.get("payload") or {}),
                error=_error_text(exc) if exc is not None else (job.error or "failed")[-2000:],
                attempts=job.attempts,
                failed_at=clock.now(),
            )
        )
        log.error("job_dead", job=kwargs.get("name"), job_id=job.key, attempts=job.attempts)

    cron_jobs = []
    if cron:
        jobs = SaqJobQueue(queue, runner)

        async def queue_hourly(ctx: dict[str, Any]) -> int:
            return len(await due_hourly(runner, jobs, clock.now()))

        cron_jobs = [CronJob(queue_hourly, cron=HOURLY_CRON, unique=True)]
    vault = runner.app.vault
    if cron and vault is not None:

        async def sweep_vault(ctx: dict[str, Any]) -> int:
            report = await sweep_leftovers(vault, dead, clock.now())
            return report.removed + report.pending

        cron_jobs.append(CronJob(sweep_vault, cron=VAULT_SWEEP_CRON, unique=True))
    worker = Worker(
        queue,
        functions=[(SAQ_FUNCTION, huntaze_job)],
        concurrency=concurrency,
        cron_jobs=cron_jobs,
        after_process=after_process,
        timers={"sweep": sweep_seconds},
        shutdown_grace_period_s=15,
        dequeue_timeout=1.0,  # idle consumers notice a stop within a second
    )
    worker.SIGNALS = []  # the caller owns signals (``huntaze worker`` / tests)
    return worker


async def retry_dead(dead: DeadLetters, jobs: JobQueue, letter_id: str) -> str | None:
    """Re-queue a dead letter under a new id; None when there is no such letter."""
    letter = await dead.take(letter_id)
    if letter is None:
        return None
    try:
        return await jobs.enqueue(letter.name, letter.payload)
    except BaseException:
        await dead.add(letter)  # nothing lost
        raise


def format_dead(letters: Iterable[DeadLetter]) -> str:
    rows = ["ID\tJOB\tACCOUNT\tATTEMPTS\tFAILED AT\tERROR"]
    for d in letters:
        error = d.error.strip().splitlines()[-1] if d.error.strip() else ""
        rows.append(
            f"{d.id}\t{d.name}\t{d.account_id if d.account_id is not None else '-'}\t"
            f"{d.attempts}\t{d.failed_at.astimezone(UTC).isoformat(timespec='seconds')}\t"
            f"{error[:120]}"
        )
    return "\n".join(rows)


async def due_hourly(runner: JobRunner, jobs: JobQueue, now: datetime) -> list[str]:
    """What the hourly schedule queues: the summaries of the hour, the reminders before the
    next; and it forgets team activity older than ``TEAM_ACTION_DAYS``."""
    store = runner.app.store
    await store.team.prune(now - timedelta(days=TEAM_ACTION_DAYS))
    summaries = await enqueue_summaries(store.summaries, jobs, store.profiles, now)
    return summaries + await enqueue_reminders(store.reminders, jobs, now)


async def run_schedule(
    runner: JobRunner, jobs: JobQueue, dead: DeadLetters, clock: Clock, stop: asyncio.Event
) -> None:
    """The worker's schedule inside ``huntaze run`` / ``serve`` when there is no Redis (and so
    no ``huntaze worker``): on every hour the summaries and reminders due, at
    ``VAULT_SWEEP_HOUR`` UTC the vault sweep too. Hours are taken from ``clock``; a failure is
    logged and the next hour comes anyway."""
    last: datetime | None = None
    while not stop.is_set():
        now = clock.now()
        tick = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
        if last is not None and tick <= last:
            tick = last + timedelta(hours=1)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), (tick - now).total_seconds())
            return
        last = tick
        try:
            queued = await due_hourly(runner, jobs, tick)
            swept = None
            vault = runner.app.vault
            if tick.hour == VAULT_SWEEP_HOUR and vault is not None:
                report = await sweep_leftovers(vault, dead, tick)
                swept = report.removed + report.pending
            log.info("schedule_ran", at=tick.isoformat(), queued=len(queued), swept=swept)
        except Exception:
            log.exception("schedule_failed", at=tick.isoformat())


async def run_worker(worker: Any, stop: asyncio.Event) -> None:
    """Run a SAQ worker until ``stop``; running jobs finish (SAQ's grace period)."""
    task = asyncio.create_task(worker.start(), name="saq-worker")
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopper.cancel()
        worker.event.set()
        for task in list(worker.tasks):
            if task.get_name() != "process":  # upkeep loops sleep for minutes: end them now
                task.cancel()
        await worker.stop()  # running jobs finish (grace period), idle consumers return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
