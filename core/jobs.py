"""Background jobs: the ``JobQueue`` port, the job handlers and dead letters, platform-neutral.

A job is a name and a JSON payload. ``bot/`` picks the queue: in-process asyncio tasks on the
embedded default, SAQ over Redis when ``REDIS_URL`` is set (consumed by ``huntaze worker``).
Either way a job runs ``run_job(env, name, payload)`` with the same semantics: a failing handler
is retried with exponential backoff up to its spec's ``attempts``; after the last failure the job
becomes a ``DeadLetter`` the operator lists (``huntaze jobs dead``) and re-queues
(``huntaze jobs retry ID``).

Handlers tell the creator about progress and results through the ``Notifier`` port (long
imports report "Importing… 40%"); they never raise for a problem that a retry cannot fix (a bad
file, an empty segment): they answer it instead.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, Protocol

import structlog

from core.chat import Attachment, ExternalUser, FileBlock, Incoming, Reply, TextBlock
from core.errors import HuntazeError
from core.log_context import log_context
from core.ports import (
    BlobStore,
    KeyValueStore,
    Notifier,
    ProfileRepository,
    ReminderRepository,
    SummaryRepository,
)
from core.services.vault import SWEEP_GRACE, SweepReport, VaultService
from core.timezones import account_timezone, get_zone

if TYPE_CHECKING:
    from core.app import Assistant
    from core.services.imports import ImportProgress

log = structlog.get_logger("huntaze.jobs")

#: CSV attachments bigger than this are imported by a background job (core answers at once).
BACKGROUND_IMPORT_BYTES = 2 * 1024 * 1024
#: Segments with more fans than this are drafted by a background job.
BACKGROUND_SEGMENT_FANS = 200
#: Blob keys of uploads waiting for their import job.
PENDING_PREFIX = "jobs/pending"
#: A pending upload this old that no dead letter keeps is abandoned (its job is long gone: a
#: process killed mid-import, a dropped queue); far beyond any job's retries.
PENDING_GRACE = timedelta(days=7)
#: How long an import job's status can be read back (``GET /api/v1/imports/{id}``).
IMPORT_STATUS_TTL = timedelta(days=7)
#: KV key where versions before migration 0011 kept the summary subscriptions (JSON:
#: {account_id: "daily"|"weekly"}); ``adopt_kv_summaries`` moves them to the database.
SUMMARY_KEY = "jobs:summaries"
SUMMARY_PERIODS = ("daily", "weekly")
#: The local hour summaries arrive at.
SUMMARY_HOUR = 8
#: The hourly schedule sends the reminders due before its next run (a slot on the hour arrives
#: on time; one at :30 in a half-hour zone half an hour ahead, saying when). One that could not
#: go out within this long after its time (the service was down) is dropped, not sent late.
REMINDER_LATE = timedelta(hours=2)
#: How long a team member's actions on an account are kept for ``/team activity``.
TEAM_ACTION_DAYS = 90


class JobQueue(Protocol):
    async def enqueue(
        self, name: str, payload: dict[str, Any], *, job_id: str | None = None
    ) -> str:
        """Queue a job; returns its id. A ``job_id`` already queued or running is not queued
        twice."""
        ...


@dataclass(frozen=True)
class DeadLetter:
    """A job that failed on every attempt."""

    id: str
    name: str
    payload: dict[str, Any]
    error: str
    attempts: int
    failed_at: datetime

    @property
    def account_id(self) -> int | None:
        value = self.payload.get("account_id")
        return int(value) if isinstance(value, int | str) and str(value).isdigit() else None

    @property
    def pending_blob(self) -> str | None:
        """The upload the job was to import, kept for a retry (None for other jobs)."""
        key = self.payload.get("blob_key")
        return key if isinstance(key, str) and key.startswith(PENDING_PREFIX + "/") else None

    def to_json(self) -> str:
        return json.dumps(
            {
                "id": self.id,
                "name": self.name,
                "payload": self.payload,
                "error": self.error,
                "attempts": self.attempts,
                "failed_at": self.failed_at.isoformat(),
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> DeadLetter:
        d = json.loads(raw)
        return cls(
            id=d["id"],
            name=d["name"],
            payload=d["payload"],
            error=d["error"],
            attempts=int(d["attempts"]),
            failed_at=datetime.fromisoformat(d["failed_at"]),
        )


class DeadLetters(Protocol):
    """Where exhausted jobs are kept for the operator (a Redis hash, or a file)."""

    async def add(self, letter: DeadLetter) -> None: ...

    async def list(self, limit: int | None = 100) -> list[DeadLetter]:
        """Newest first (all of them with ``limit=None``)."""
        ...

    async def take(self, letter_id: str) -> DeadLetter | None:
        """Remove and return one letter (None when there is no such id)."""
        ...


@dataclass
class JobEnv:
    """What a job handler gets: the assistant's services and a way to talk to the creator."""

    app: Assistant
    notifier: Notifier
    job_id: str = ""
    attempt: int = 1
    attempts: int = 1  # the spec's tries in all: ``attempt == attempts`` is the last one


JobHandler = Callable[[JobEnv, dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class JobSpec:
    name: str
    handler: JobHandler
    attempts: int = 3  # tries in all, the first included
    backoff: float = 1.0  # seconds before the second try; doubles each time
    max_backoff: float = 60.0
    timeout: float = 600.0

    def delay(self, failed_attempts: int) -> float:
        return float(min(self.max_backoff, self.backoff * 2 ** max(0, failed_attempts - 1)))


class JobFailed(HuntazeError):
    """A job payload that can never run (unknown job, missing account)."""


# ---------------------------------------------------------------- progress


class Progress:
    """Steps of ``step`` (a fraction) through a long job; with a notifier, each step is also a
    "Importing x… 40%" notice to the creator."""

    def __init__(
        self, notifier: Notifier | None, account_id: int, what: str, step: float = 0.2
    ) -> None:
        self.notifier = notifier
        self.account_id = account_id
        self.what = what
        self.step = step
        self._next = step
        self.sent: list[int] = []

    async def update(self, fraction: float | None) -> bool:
        """Whether ``fraction`` passed the next step."""
        if fraction is None or fraction >= 1.0 or fraction < self._next:
            return False
        percent = int(fraction * 100) // int(self.step * 100) * int(self.step * 100)
        self._next = (percent / 100) + self.step
        self.sent.append(percent)
        if self.notifier is not None:
            await self.notifier.notify(self.account_id, f"{self.what}… {percent}%")
        return True


# ---------------------------------------------------------------- import status

ImportState = Literal["queued", "running", "done", "rejected", "failed"]
_JOB_ID = re.compile(r"[0-9a-f]{32}")


@dataclass
class ImportStatus:
    """Where a background import stands, kept for ``IMPORT_STATUS_TTL`` under the account:
    queued (again after a failed try), running, done (imported; the report may list bad rows),
    rejected (the file cannot be imported: not CSV, no known columns) or failed (every try
    failed: the upload is kept for ``huntaze jobs retry``)."""

    id: str
    account_id: int
    name: str
    size: int
    platform: str | None
    created: str  # ISO 8601, UTC
    updated: str
    state: ImportState = "queued"
    progress: float = 0.0
    attempt: int = 0
    report: dict[str, Any] | None = None
    text: str = ""
    error: str = ""

    def public(self) -> dict[str, Any]:
        """The API's view (the account is the caller's own)."""
        out = asdict(self)
        del out["account_id"]
        out["import"] = out.pop("report")
        return out


def import_status_key(account_id: int, job_id: str) -> str:
    return f"jobs:imports:{account_id}:{job_id}"


async def save_import_status(kv: KeyValueStore, status: ImportStatus, now: datetime) -> None:
    status.updated = now.isoformat()
    ttl = IMPORT_STATUS_TTL.total_seconds()
    key = import_status_key(status.account_id, status.id)
    await kv.set(key, json.dumps(asdict(status)).encode(), ttl=ttl)


async def read_import_status(
    kv: KeyValueStore, account_id: int, job_id: str
) -> ImportStatus | None:
    """The status of one of the account's imports; None for an unknown, expired or another
    account's job (the key holds the account)."""
    if not _JOB_ID.fullmatch(job_id):
        return None
    raw = await kv.get(import_status_key(account_id, job_id))
    return ImportStatus(**json.loads(raw)) if raw else None


# ---------------------------------------------------------------- helpers


def reply_text(reply: Reply) -> str:
    """A reply as one chat message (text blocks only; files and images are announced)."""
    parts: list[str] = []
    for block in reply.blocks:
        if isinstance(block, TextBlock):
            parts.append(block.text)
        elif isinstance(block, FileBlock):
            parts.append(f"(file {block.name})")
    return "\n\n".join(p for p in parts if p)


async def job_context(app: Assistant, account_id: int, request_id: str) -> Any:
    """A ``Context`` for running command code on behalf of an account outside a chat."""
    from core.context import Context

    account = await app.store.accounts.get(account_id)
    user = ExternalUser(platform="job", id=str(account_id))
    incoming = Incoming(user=user, chat_id=f"job:{account_id}", request_id=request_id)
    return Context(incoming=incoming, account=account, app=app, request_id=request_id)


def pending_key(account_id: int) -> str:
    return f"{PENDING_PREFIX}/{account_id}/{uuid.uuid4().hex}.csv"


# ---------------------------------------------------------------- enqueue helpers (core side)


async def start_import(
    app: Assistant,
    queue: JobQueue,
    account_id: int,
    name: str,
    chunks: AsyncIterator[bytes],
    platform: str | None = None,
    *,
    notify: bool = True,
) -> ImportStatus:
    """Keep a CSV upload as a pending blob (streamed: a stream that fails leaves nothing) and
    queue its import. ``notify``: tell the creator in chat about progress and the result (the
    chat's imports); the API's callers read the status instead."""
    if app.blobs is None:
        raise JobFailed("Background imports need a file store.")
    key = pending_key(account_id)
    written = await app.blobs.put_stream(key, chunks, "text/csv")
    now = app.clock.now().isoformat()
    status = ImportStatus(
        id=uuid.uuid4().hex,
        account_id=account_id,
        name=name,
        size=written.size,
        platform=platform,
        created=now,
        updated=now,
    )
    payload = {
        "account_id": account_id,
        "blob_key": key,
        "name": name,
        "size": written.size,
        "platform": platform,
        "notify": notify,
        "status_id": status.id,  # a dead letter re-queued under a new id keeps its status
    }
    try:
        await save_import_status(app.kv, status, app.clock.now())
        await queue.enqueue("import_csv", payload, job_id=status.id)
    except BaseException:
        await app.blobs.delete(key)
        raise
    return status


async def enqueue_import(
    app: Assistant, queue: JobQueue, account_id: int, att: Attachment, platform: str | None = None
) -> str:
    """A big CSV sent in chat, imported in the background; answers what to tell the creator
    right away."""
    data = await att.read()

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    await start_import(app, queue, account_id, att.name, chunks(), platform)
    return "Importing in the background — I'll tell you when it's done."


async def enqueue_personalize(queue: JobQueue, account_id: int, template: str, segment: str) -> str:
    await queue.enqueue(
        "personalize_segment",
        {"account_id": account_id, "template": template, "segment": segment},
    )
    return "That's a big segment — drafting in the background, I'll send the drafts when done."


async def adopt_kv_summaries(kv: KeyValueStore, summaries: SummaryRepository) -> int:
    """Move subscriptions kept by an earlier version in the key-value store (one JSON value
    under ``SUMMARY_KEY``) into the database, once; returns how many moved. A subscription the
    database already holds is newer and stays."""
    raw = await kv.get(SUMMARY_KEY)
    if not raw:
        return 0
    held = await summaries.all()
    moved = 0
    for key, period in json.loads(raw).items():
        if period in SUMMARY_PERIODS and int(key) not in held:
            try:
                await summaries.set(int(key), period)
            except HuntazeError:  # the account was deleted meanwhile
                continue
            moved += 1
    await kv.delete(SUMMARY_KEY)
    return moved


async def enqueue_summaries(
    summaries: SummaryRepository, queue: JobQueue, profiles: ProfileRepository, now: datetime
) -> list[str]:
    """Queue the summaries due in the hour of ``now`` (the scheduler runs every hour): a daily
    summary at 08:00 on the account's clock (its profile's time zone, UTC when none), a weekly
    one on its Mondays at 08:00. Job ids hold the period and the local date, so several
    schedulers never send one summary twice."""
    ids = []
    for account_id, wanted in sorted((await summaries.all()).items()):
        local = now.astimezone(get_zone(await account_timezone(profiles, account_id)))
        if local.hour != SUMMARY_HOUR or (wanted == "weekly" and local.weekday() != 0):
            continue
        ids.append(
            await queue.enqueue(
                "summary",
                {"account_id": account_id, "period": wanted},
                job_id=f"summary-{wanted}-{local:%Y%m%d}-{account_id}",
            )
        )
    return ids


async def enqueue_reminders(
    reminders: ReminderRepository, queue: JobQueue, now: datetime
) -> list[str]:
    """Queue the reminders due before the next hourly run; job ids hold the reminder's id, so
    several schedulers never send one twice (the job takes the row, too). One more than
    ``REMINDER_LATE`` past its time (the service was down, its job dead) is dropped here."""
    ids = []
    for r in await reminders.due(now + timedelta(hours=1)):
        if r.due_at < now - REMINDER_LATE:
            await reminders.take(r.account_id, r.id)
            log.info("reminder_dropped_late", account_id=r.account_id, due_at=r.due_at)
            continue
        payload = {"account_id": r.account_id, "reminder_id": r.id}
        ids.append(await queue.enqueue("reminder", payload, job_id=f"reminder-{r.id}"))
    return ids


# ---------------------------------------------------------------- dead letters and leftovers


async def drop_dead(
    dead: DeadLetters, blobs: BlobStore | None, letter_id: str
) -> DeadLetter | None:
    """Give up on a dead letter for good: remove it and the upload it kept for a retry; None
    when there is no such letter."""
    letter = await dead.take(letter_id)
    if letter is not None and letter.pending_blob and blobs is not None:
        await blobs.delete(letter.pending_blob)  # deleting a missing blob is no error
    return letter


async def sweep_pending(
    blobs: BlobStore,
    dead: DeadLetters,
    now: datetime,
    grace: timedelta = PENDING_GRACE,
    *,
    dry_run: bool = False,
) -> int:
    """Delete pending uploads older than ``grace`` that no dead letter keeps for a retry (with
    ``dry_run``, only count them); how many."""
    kept = {letter.pending_blob for letter in await dead.list(limit=None)}
    cutoff, found = now - grace, 0
    async for info in blobs.scan(PENDING_PREFIX + "/"):
        if info.modified > cutoff or info.key in kept:
            continue
        found += 1
        if not dry_run:
            await blobs.delete(info.key)
            log.info("pending_upload_removed", key=info.key, size=info.size)
    return found


async def sweep_leftovers(
    vault: VaultService,
    dead: DeadLetters | None,
    now: datetime,
    grace: timedelta = SWEEP_GRACE,
    *,
    dry_run: bool = False,
) -> SweepReport:
    """The blob store's maintenance (``huntaze vault sweep``, nightly in ``huntaze worker``):
    orphaned vault blobs (``VaultService.sweep_orphans``) and abandoned import uploads."""
    report = await vault.sweep_orphans(now, grace, dry_run=dry_run)
    if dead is not None:
        report.pending = await sweep_pending(vault.blobs, dead, now, dry_run=dry_run)
        if not dry_run:  # an import upload's write killed halfway
            cutoff = now - PENDING_GRACE
            report.partial += await vault.blobs.clear_partial(PENDING_PREFIX + "/", cutoff)
    return report


# ---------------------------------------------------------------- handlers


async def import_csv_job(env: JobEnv, payload: dict[str, Any]) -> None:
    from core.errors import NotFound
    from core.services.imports import READ_CHUNK, CsvImporter, chunks_of

    app = env.app
    account_id = int(payload["account_id"])
    key = str(payload["blob_key"])
    name = str(payload.get("name") or "import.csv")
    platform = payload.get("platform")
    notifier = env.notifier if payload.get("notify", True) else None
    if app.blobs is None or app.importer is None:
        raise JobFailed("imports are not configured")
    status_id = str(payload.get("status_id") or env.job_id)
    status = await read_import_status(app.kv, account_id, status_id)
    if status is None:  # queued before statuses were kept, or a retry after they expired
        now = app.clock.now().isoformat()
        size = int(payload.get("size") or 0)
        status = ImportStatus(status_id, account_id, name, size, platform, now, now)
    status.state, status.attempt, status.error = "running", env.attempt, ""
    await save_import_status(app.kv, status, app.clock.now())
    try:
        data = await app.blobs.get(key)
    except NotFound:
        lost = f"I lost the upload of {name} before importing it — please send it again."
        status.state, status.error = "failed", lost
        await save_import_status(app.kv, status, app.clock.now())
        if notifier is not None:
            await notifier.notify(account_id, lost)
        return
    progress = Progress(notifier, account_id, f"Importing {name}")

    async def on_progress(p: ImportProgress) -> None:
        if await progress.update(p.fraction) and p.fraction is not None:
            status.progress = round(p.fraction, 2)
            await save_import_status(app.kv, status, app.clock.now())

    importer = app.importer
    try:
        if isinstance(importer, CsvImporter):
            report = await importer.import_stream(
                account_id,
                name,
                chunks_of(data, max(16 * 1024, min(READ_CHUNK, len(data) // 25))),  # progress
                total_bytes=len(data),
                progress=on_progress,
                platform=platform,
            )
            text, ok, status.report = report.text(), report.ok, report.to_dict()
        else:
            text = await importer.import_csv(account_id, name, data, platform=platform)
            ok = True
    except BaseException as exc:  # a retry may fix it; the last try's failure is final
        status.state = "failed" if env.attempt >= env.attempts else "queued"
        status.error = exc.message if isinstance(exc, HuntazeError) else "the import failed"
        await save_import_status(app.kv, status, app.clock.now())
        raise
    status.state, status.progress, status.text = ("done" if ok else "rejected"), 1.0, text
    await save_import_status(app.kv, status, app.clock.now())
    if notifier is not None:
        await notifier.notify(account_id, text)
    await app.blobs.delete(key)


async def personalize_segment_job(env: JobEnv, payload: dict[str, Any]) -> None:
    from core.commands.fans import _personalize_segment

    app = env.app
    account_id = int(payload["account_id"])
    ctx = await job_context(app, account_id, env.job_id or "job")
    try:
        reply = await _personalize_segment(ctx, str(payload["template"]), str(payload["segment"]))
    except HuntazeError as exc:  # usage problems, quota: a retry cannot fix them
        await env.notifier.notify(account_id, exc.message)
        return
    files = [b for b in reply.blocks if isinstance(b, FileBlock)]
    text = reply_text(Reply(blocks=[b for b in reply.blocks if isinstance(b, TextBlock)]))
    if files and app.vault is not None:  # a copy for later, and in case the notice is lost
        stored = await _keep_files(app, account_id, files)
        if stored:
            text += "\n\nThe drafts CSV is in your vault too: " + ", ".join(
                f"`/vault send {number}`" for number in stored
            )
    await env.notifier.notify(account_id, Reply(blocks=[TextBlock(text), *files]))


async def _keep_files(app: Assistant, account_id: int, files: list[FileBlock]) -> list[str]:
    assert app.vault is not None
    atts = []
    for f in files:
        data = f.data

        async def read(data: bytes = data) -> bytes:
            return data

        atts.append(Attachment(name=f.name, mime=f.mime, size=len(data), read=read))
    out = await app.vault.ingest(account_id, atts, "#drafts", source="job")
    return [str(a.id) for a in out.stored + out.duplicates]


async def summary_job(env: JobEnv, payload: dict[str, Any]) -> None:
    app = env.app
    account_id = int(payload["account_id"])
    period = str(payload.get("period", "weekly"))
    ctx = await job_context(app, account_id, env.job_id or "job")
    # At 08:00 on the account's clock: yesterday for a daily summary, on Mondays the calendar
    # week that just ended for a weekly one.
    window = "yesterday" if period == "daily" else "lastweek"
    _, reply = await app.run_command(ctx, f"/stats {window}")
    what = "daily summary" if period == "daily" else "weekly summary"
    # The figures and their chart (the period buttons stay in /stats), then the monthly goal.
    figures = reply.blocks
    _, goal = await app.run_command(ctx, "/goal")
    if goal.result and goal.result.get("goal") is not None:  # only when one is set
        figures = [*figures, *goal.blocks]
    # Big spenders who went quiet: every week all of them, every day those who just did.
    from core.commands.fans import new_fans, quiet_big_spenders

    today = app.clock.now().astimezone(get_zone(await ctx.timezone())).date()
    quiet = await quiet_big_spenders(app.store, account_id, today, just_now=period == "daily")
    if quiet:
        figures = [*figures, TextBlock(quiet)]
    # Fans who joined since the last summary, with the welcome to send them.
    joined = await new_fans(app.store, account_id, today, 1 if period == "daily" else 7)
    if joined:
        figures = [*figures, TextBlock(joined)]
    await env.notifier.notify(account_id, Reply(blocks=[TextBlock(f"**Your {what}**"), *figures]))
    # The account's managers (/team invite manager) get it too, in their own chats, named.
    managers = [m for m in await app.store.team.members(account_id) if m.role == "manager"]
    if managers:
        from core.commands.team import account_name

        head = TextBlock(f"**{await account_name(app.store, account_id)}: {what}**")
        for manager in managers:
            await env.notifier.notify(manager.account_id, Reply(blocks=[head, *figures]))


async def reminder_job(env: JobEnv, payload: dict[str, Any]) -> None:
    app = env.app
    account_id = int(payload["account_id"])
    reminder = await app.store.reminders.take(account_id, int(payload["reminder_id"]))
    if reminder is None:  # sent by another scheduler's job, or cleared
        return
    if reminder.due_at < app.clock.now() - REMINDER_LATE:
        log.info("reminder_dropped_late", account_id=account_id, due_at=reminder.due_at)
        return
    from core.commands.reminders import notice

    zone = await account_timezone(app.store.profiles, account_id)
    await env.notifier.notify(account_id, notice(reminder.due_at, zone, reminder.text))


JOBS: dict[str, JobSpec] = {
    spec.name: spec
    for spec in (
        JobSpec("import_csv", import_csv_job, attempts=3, timeout=1800.0),
        JobSpec("personalize_segment", personalize_segment_job, attempts=3, timeout=1800.0),
        JobSpec("summary", summary_job, attempts=2, timeout=300.0),
        JobSpec("reminder", reminder_job, attempts=2, timeout=60.0),
    )
}


# ---------------------------------------------------------------- running


@dataclass
class JobRunner:
    """Runs one attempt of a job by name. Queues call ``run`` and own retries and dead
    letters (``specs`` lets tests register their own jobs)."""

    app: Assistant
    notifier: Notifier
    specs: dict[str, JobSpec] = field(default_factory=lambda: dict(JOBS))

    def spec(self, name: str) -> JobSpec:
        spec = self.specs.get(name)
        if spec is None:
            raise JobFailed(f"unknown job {name!r}")
        return spec

    async def run(self, name: str, payload: dict[str, Any], job_id: str, attempt: int) -> None:
        spec = self.spec(name)
        env = JobEnv(
            app=self.app,
            notifier=self.notifier,
            job_id=job_id,
            attempt=attempt,
            attempts=spec.attempts,
        )
        observer = self.app.observer
        started, outcome = time.perf_counter(), "failed"
        try:
            with log_context(job=name, job_id=job_id, attempt=attempt):
                await spec.handler(env, payload)
            outcome = "ok"
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        finally:
            observer.job(name, outcome, time.perf_counter() - started)
