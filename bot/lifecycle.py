"""Start what is configured, run until stopped (SIGTERM/SIGINT or the terminal closing), drain."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from bot.container import Container, build
from bot.settings import Settings
from core.errors import StartupError
from core.services.imports import CsvImporter
from webhooks.app import HttpServer, HttpServices, create_app
from webhooks.stripe import StripeWebhook
from webhooks.telegram import UpdateSink
from webhooks.uploads import UploadsApi

if TYPE_CHECKING:
    from adapters.discord.app import DiscordAdapter
    from adapters.telegram import TelegramAdapter

log = structlog.get_logger("huntaze.lifecycle")

DRAIN_SECONDS = 15.0
Service = Callable[[Container, asyncio.Event], Awaitable[None]]


GC_YOUNG_THRESHOLD = 10_000  # allocations between young collections (CPython's default: 700)


def tune_gc() -> None:
    """Set the garbage collector up for serving; once, after start-up, before the first request.

    - Everything alive after start-up (modules, pydantic and SQLAlchemy schemas, the container)
      lives as long as the process. It is frozen: out of the collector's reach. CPython's full
      collections walk every tracked object; in the Telegram benchmark each one stopped the
      event loop for 110-190 ms, about once a second at 200 updates/s, which alone broke the
      p95 goal. With the start-up heap frozen they take 3-8 ms. Garbage made at start-up is
      collected first.
    - Young collections run every ``GC_YOUNG_THRESHOLD`` allocations instead of 700: one update
      allocates thousands of short-lived objects, and collecting after every few hundred
      promoted live ones to the older generations (more full collections later) and cost
      ~10% of the CPU of an ``/ideas`` update. Cycles still go within a few requests."""
    gc.collect()
    gc.freeze()
    _, older, oldest = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, older, oldest)


@dataclass
class Adapters:
    """The chat adapters built for this process (they also deliver billing notices)."""

    telegram: TelegramAdapter | None = None
    discord: DiscordAdapter | None = None

    async def aclose(self) -> None:
        if self.telegram is not None:
            await self.telegram.aclose()


def build_adapters(container: Container) -> Adapters:
    s = container.settings
    adapters = Adapters()
    if s.telegram_bot_token:
        from adapters.telegram import TelegramAdapter

        secret = s.telegram_webhook_secret.get_secret_value() if s.telegram_webhook_secret else None
        token = s.telegram_bot_token.get_secret_value()
        pacer = None
        if container.redis is not None:  # instances sharing a bot token share its flood limits
            from adapters.telegram.redis_pacer import RedisChatPacer, pacer_namespace

            pacer = RedisChatPacer(container.redis, pacer_namespace(token))
        try:
            adapters.telegram = TelegramAdapter(
                container.assistant,
                token,
                api_base=s.telegram_api_base,
                webhook_url=s.telegram_webhook_url,
                webhook_secret=secret,
                state_kv=container.kv,
                max_upload_bytes=s.max_upload_bytes,
                pacer=pacer,
            )
        except ValueError as exc:
            raise StartupError(str(exc)) from exc
        container.notifier.add(adapters.telegram)
    if s.discord_bot_token:
        from adapters.discord.app import DiscordAdapter

        adapters.discord = DiscordAdapter(
            container.assistant,
            s.discord_bot_token.get_secret_value(),
            api_base=s.discord_api_base,
            gateway_url=s.discord_gateway_url,
            state_kv=container.kv,
            clock=container.clock,
        )
        container.notifier.add(adapters.discord)
    return adapters


def configured_services(
    settings: Settings, interactive: bool, adapters: Adapters
) -> dict[str, Service]:
    """Each service runs until ``stop`` is set (or returns by itself: the terminal closing)."""
    services: dict[str, Service] = {}
    if interactive:
        services["terminal"] = _terminal
    if adapters.telegram is not None:
        services["telegram"] = _runner(adapters.telegram)
    if adapters.discord is not None:
        services["discord"] = _runner(adapters.discord)
    if settings.http_enabled:
        webhook = adapters.telegram if settings.telegram_webhook_url else None
        services["http"] = _http_service(fatal=not interactive, telegram=webhook)
    if services and not settings.redis_url:  # no `huntaze worker`: keep its schedule here
        services["schedule"] = _schedule
    return services


async def _schedule(container: Container, stop: asyncio.Event) -> None:
    from bot.jobs import run_schedule

    assert container.job_runner is not None and container.dead_letters is not None
    await run_schedule(
        container.job_runner, container.jobs, container.dead_letters, container.clock, stop
    )


def _runner(adapter: TelegramAdapter | DiscordAdapter) -> Service:
    async def run(container: Container, stop: asyncio.Event) -> None:
        await adapter.run(stop)

    return run


def build_http_app(
    container: Container,
    *,
    telegram: UpdateSink | None = None,
    telegram_secret: str | None = None,
    public: bool = True,
) -> web.Application:
    """The HTTP application on the container's parts. Slot: the Telegram adapter in webhook
    mode passes itself as ``telegram`` (and its secret) to get ``POST /webhooks/telegram``.
    ``public=False`` (``huntaze worker``): metrics and health only, no webhooks or API."""
    if not public:
        return create_app(services=HttpServices(metrics=container.metrics, health=container.health))
    s = container.settings
    assistant = container.assistant
    stripe = (
        StripeWebhook(
            container.billing,
            s.webhook_secrets,
            tolerance=s.stripe_webhook_tolerance,
            metrics=container.metrics,
        )
        if container.billing is not None
        else None
    )
    uploads = UploadsApi(
        assistant.vault,
        container.store.api_keys,  # type: ignore[attr-defined]
        container.store.assets,
        metrics=container.metrics,
        store_name="s3" if s.s3_bucket else "local",
        importer=assistant.importer if isinstance(assistant.importer, CsvImporter) else None,
        max_import_bytes=assistant.limits.max_import_bytes,
        assistant=assistant,
    )
    services = HttpServices(
        metrics=container.metrics, health=container.health, stripe=stripe, uploads=uploads
    )
    return create_app(telegram=telegram, telegram_secret=telegram_secret, services=services)


def _http_service(fatal: bool, telegram: TelegramAdapter | None = None) -> Service:
    """The HTTP server until ``stop``; graceful: in-flight requests and webhook follow-ups finish
    (bounded by HTTP_SHUTDOWN_TIMEOUT). A port that cannot be bound stops ``huntaze serve`` but
    only logs under ``huntaze run`` in a terminal (the chat still works)."""

    async def run(container: Container, stop: asyncio.Event) -> None:
        secret = container.settings.telegram_webhook_secret
        app = build_http_app(
            container,
            telegram=telegram,
            telegram_secret=secret.get_secret_value() if secret else None,
        )
        server = await _start_http(container, app, fatal=fatal)
        if server is None:
            await stop.wait()
            return
        try:
            await stop.wait()
        finally:
            await server.stop()

    return run


async def _start_http(
    container: Container, app: web.Application, *, fatal: bool = False
) -> HttpServer | None:
    """``app`` listening on HTTP_HOST:HTTP_PORT; a port that cannot be bound is logged (and
    raised when ``fatal``), and None is answered."""
    s = container.settings
    server = HttpServer(app, s.http_host, s.http_port, shutdown_timeout=s.http_shutdown_timeout)
    try:
        await server.start()
    except OSError as exc:
        log.error("http_start_failed", host=s.http_host, port=s.http_port, error=str(exc))
        if fatal:
            raise
        return None
    return server


async def _terminal(container: Container, stop: asyncio.Event) -> None:
    from adapters.console import ConsoleChat, default_user

    chat = ConsoleChat(
        container.assistant.handle,
        user=default_user(),
        out_dir=container.settings.data_dir / "out",
        accounts=container.store.accounts,
    )
    container.notifier.add(chat)  # summaries and background imports reach the terminal too
    session = asyncio.create_task(chat.loop())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([session, stopped], return_when=asyncio.FIRST_COMPLETED)
    for task in (session, stopped):
        task.cancel()


async def run_services(settings: Settings, interactive: bool) -> int:
    container = await build(settings)
    try:
        adapters = build_adapters(container)
    except BaseException:
        await container.aclose()
        raise
    services = configured_services(settings, interactive, adapters)
    if not services:
        await container.aclose()
        log.error("nothing_to_run", hint="attach a terminal, or enable HTTP / a chat adapter")
        print("huntaze: nothing to run: no terminal attached and nothing configured")
        return 2
    tune_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(fn(container, stop), name=name) for name, fn in services.items()]
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if task is not stopper and task.exception() is not None:
                log.error("service_failed", service=task.get_name(), error=repr(task.exception()))
        stop.set()
        _, pending = await asyncio.wait(tasks, timeout=DRAIN_SECONDS)  # let answers finish
        for task in pending:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stopper.cancel()
        await container.drain_jobs()  # in-process jobs finish while adapters can still notify
        await adapters.aclose()  # after the HTTP server stopped: webhook work has finished
        await container.aclose()
    log.info("stopped")
    return 0


async def run_worker_process(settings: Settings) -> int:
    """``huntaze worker``: consume the Redis job queue (and queue scheduled summaries) until
    SIGTERM/SIGINT; running jobs finish first. Chat adapters are built only to notify; the HTTP
    server (``HTTP_PORT``) serves metrics and health only."""
    from bot.jobs import SaqJobQueue, build_worker, run_worker

    if not settings.redis_url:
        print(
            "huntaze: the worker needs REDIS_URL; without it `huntaze run` / `serve` run jobs "
            "in-process"
        )
        return 2
    container = await build(settings)
    try:
        adapters = build_adapters(container)
    except BaseException:
        await container.aclose()
        raise
    try:
        assert isinstance(container.jobs, SaqJobQueue) and container.job_runner is not None
        assert container.dead_letters is not None
        worker = build_worker(
            container.jobs.queue,
            container.job_runner,
            container.dead_letters,
            container.clock,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        tune_gc()
        server = await _worker_http(container)
        log.info("worker_started")
        try:
            await run_worker(worker, stop)
        finally:
            if server is not None:
                await server.stop()
    finally:
        await adapters.aclose()
        await container.aclose()
    log.info("worker_stopped")
    return 0


async def _worker_http(container: Container) -> HttpServer | None:
    """The worker's ``/metrics`` and ``/health/*`` (for Prometheus and the container's health
    check) when HTTP is enabled; a port that cannot be bound is logged, and jobs still run."""
    if not container.settings.http_enabled:
        return None
    server = await _start_http(container, build_http_app(container, public=False))
    if server is not None:
        log.info("worker_http_started", url=server.url)
    return server
