"""The ``huntaze`` command line.

huntaze run                 what is configured + the terminal chat when a terminal is attached
huntaze serve               adapters that are configured + the HTTP server (never the terminal chat)
huntaze chat [--once TEXT]  the terminal chat; --once answers one message and exits
huntaze migrate             apply database migrations and exit
huntaze import FILE --account ID [--platform P]   import a CSV export into an account
huntaze worker              consume background jobs from Redis (REDIS_URL)
huntaze jobs dead | retry ID | drop ID   list dead-lettered jobs / re-queue one / give one up
huntaze vault sweep [--older-than HOURS] [--dry-run]   delete stored files no vault entry uses
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import timedelta
from pathlib import Path

import structlog
from pydantic import ValidationError

from adapters.console import default_user as console_user
from bot import logging as bot_logging
from bot.settings import Settings
from core.errors import HuntazeError, StartupError
from core.services.vault import SWEEP_GRACE

log = structlog.get_logger("huntaze.bot")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="huntaze", description="Huntaze content assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="run everything configured (terminal chat when interactive)")
    sub.add_parser("serve", help="run adapters and the HTTP server, no terminal chat")
    chat = sub.add_parser("chat", help="terminal chat")
    chat.add_argument("--once", metavar="TEXT", help="answer one message and exit")
    chat.add_argument("--user", default=None, help="who is talking (default: your login name)")
    chat.add_argument("--json", action="store_true", help="print the reply as JSON (with --once)")
    sub.add_parser("migrate", help="apply database migrations and exit")
    imp = sub.add_parser("import", help="import a CSV export (earnings, fans, PPV offers)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--account", required=True, help="account id, @username or platform:id")
    imp.add_argument(
        "--platform", help="where the earnings were made (onlyfans, fansly, ...) for /stats"
    )
    sub.add_parser("worker", help="run background jobs from the Redis queue")
    jobs = sub.add_parser("jobs", help="background jobs: list dead letters, re-queue or drop one")
    jobs_sub = jobs.add_subparsers(dest="jobs_command", required=True)
    jobs_sub.add_parser("dead", help="list jobs that failed on every attempt")
    retry = jobs_sub.add_parser("retry", help="re-queue a dead-lettered job")
    retry.add_argument("id")
    drop = jobs_sub.add_parser(
        "drop", help="give up on a dead-lettered job (and delete the upload it kept)"
    )
    drop.add_argument("id")
    vault = sub.add_parser("vault", help="vault maintenance")
    vault_sub = vault.add_subparsers(dest="vault_command", required=True)
    sweep = vault_sub.add_parser(
        "sweep",
        help="delete stored files no vault entry refers to (a crash's leftovers) and import "
        "uploads abandoned over a week ago",
    )
    sweep.add_argument(
        "--older-than",
        type=_hours,
        default=SWEEP_GRACE,
        metavar="HOURS",
        help="only files at least this old (default 24; never below 1: uploads in progress)",
    )
    sweep.add_argument("--dry-run", action="store_true", help="count them, delete nothing")
    return parser


def _hours(text: str) -> timedelta:
    try:
        hours = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {text!r}") from None
    if not 1 <= hours <= 24 * 365:
        raise argparse.ArgumentTypeError("between 1 and 8760 hours")
    return timedelta(hours=hours)


async def _vault_sweep(settings: Settings, grace: timedelta, dry_run: bool) -> int:
    from bot.container import build
    from core.jobs import sweep_leftovers

    container = await build(settings)
    try:
        vault = container.assistant.vault
        assert vault is not None  # the container always sets a blob store up
        report = await sweep_leftovers(
            vault, container.dead_letters, container.clock.now(), grace, dry_run=dry_run
        )
        print(report.text(dry_run=dry_run, grace=grace))
        return 0
    finally:
        await container.aclose()


async def _chat(settings: Settings, once: str | None, user: str, as_json: bool) -> int:
    from adapters.console import ConsoleChat
    from bot.container import build

    container = await build(settings)
    try:
        chat = ConsoleChat(container.assistant.handle, user=user, out_dir=settings.data_dir / "out")
        if once is not None:
            await chat.once(once, as_json)
        else:
            await chat.loop()
        return 0
    finally:
        await container.aclose()


async def _migrate(settings: Settings) -> int:
    from storage.db import migrate

    await migrate(settings.database_url)
    print("database is up to date")
    return 0


async def _import(settings: Settings, path: Path, ref: str, platform: str | None = None) -> int:
    from bot.container import build
    from core.chat import strip_markup
    from core.services.imports import CsvImporter, import_file
    from storage.analytics import find_accounts

    container = await build(settings)
    try:
        ids = await find_accounts(container.store, ref)  # type: ignore[arg-type]
        if len(ids) != 1:
            what = "no account matches" if not ids else f"several accounts ({ids}) match"
            print(f"huntaze: {what} {ref!r}", file=sys.stderr)
            return 2
        importer = CsvImporter(container.store, container.clock)
        report = await import_file(importer, ids[0], path, err=sys.stderr, platform=platform)
        print(strip_markup(report.text(max_bad=len(report.bad))))
        return 0 if report.ok else 1
    finally:
        await container.aclose()


async def _jobs(settings: Settings, action: str, job_id: str | None) -> int:
    from bot.container import build
    from bot.jobs import LocalJobQueue, format_dead, retry_dead
    from bot.lifecycle import build_adapters
    from core.jobs import drop_dead

    container = await build(settings)
    adapters = None
    try:
        assert container.dead_letters is not None and container.jobs is not None
        if action == "dead":
            letters = await container.dead_letters.list()
            print(format_dead(letters) if letters else "no dead-lettered jobs")
            return 0
        assert job_id is not None
        if action == "drop":
            dropped = await drop_dead(container.dead_letters, container.assistant.blobs, job_id)
            if dropped is None:
                print(f"huntaze: no dead-lettered job {job_id!r}", file=sys.stderr)
                return 1
            kept = " and the upload it kept" if dropped.pending_blob else ""
            print(f"dropped job {job_id} ({dropped.name}){kept}")
            return 0
        if isinstance(container.jobs, LocalJobQueue):
            adapters = build_adapters(container)  # the job runs here: let it notify
        new_id = await retry_dead(container.dead_letters, container.jobs, job_id)
        if new_id is None:
            print(f"huntaze: no dead-lettered job {job_id!r}", file=sys.stderr)
            return 1
        if isinstance(container.jobs, LocalJobQueue):
            await container.jobs.join()
            again = {d.id for d in await container.dead_letters.list()}
            if new_id in again:
                print(f"job {job_id} failed again (now {new_id}, dead-lettered)")
                return 1
            print(f"job {job_id} re-ran as {new_id}: done")
            return 0
        print(f"job {job_id} re-queued as {new_id}")
        return 0
    finally:
        if adapters is not None:
            await adapters.aclose()
        await container.aclose()


async def _worker(settings: Settings) -> int:
    from bot.lifecycle import run_worker_process

    return await run_worker_process(settings)


async def _run(settings: Settings, interactive: bool) -> int:
    from bot.lifecycle import run_services

    return await run_services(settings, interactive=interactive)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        print(f"huntaze: bad configuration: {first['loc'][0]}: {first['msg']}", file=sys.stderr)
        return 2
    chatting = args.command == "chat" or (args.command == "run" and sys.stdin.isatty())
    bot_logging.configure("WARNING" if chatting else settings.log_level, settings.log_format)
    try:
        if args.command == "chat":
            code = asyncio.run(_chat(settings, args.once, args.user or console_user(), args.json))
        elif args.command == "import":
            if not args.file.is_file():
                print(f"huntaze: no such file: {args.file}", file=sys.stderr)
                return 2
            code = asyncio.run(_import(settings, args.file, args.account, args.platform))
        elif args.command == "migrate":
            code = asyncio.run(_migrate(settings))
        elif args.command == "worker":
            code = asyncio.run(_worker(settings))
        elif args.command == "jobs":
            code = asyncio.run(_jobs(settings, args.jobs_command, getattr(args, "id", None)))
        elif args.command == "vault":
            code = asyncio.run(_vault_sweep(settings, args.older_than, args.dry_run))
        else:
            code = asyncio.run(_run(settings, interactive=chatting))
    except StartupError as exc:
        print(f"huntaze: cannot start: {exc.message}", file=sys.stderr)
        return 1
    except HuntazeError as exc:  # e.g. the database or the file store went away midway
        print(f"huntaze: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
