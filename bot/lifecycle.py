"""Start what is configured, run until stopped (SIGTERM/SIGINT or the terminal closing), drain."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable

import structlog

from bot.container import Container, build
from bot.settings import Settings

log = structlog.get_logger("huntaze.lifecycle")

DRAIN_SECONDS = 15.0
Service = Callable[[Container, asyncio.Event], Awaitable[None]]


def configured_services(settings: Settings, interactive: bool) -> dict[str, Service]:
    """Each service runs until ``stop`` is set (or returns by itself: the terminal closing)."""
    services: dict[str, Service] = {}
    if interactive:
        services["terminal"] = _terminal
    if settings.discord_bot_token:
        services["discord"] = _discord
    return services


async def _discord(container: Container, stop: asyncio.Event) -> None:
    from adapters.discord.app import DiscordAdapter

    s = container.settings
    assert s.discord_bot_token is not None
    await DiscordAdapter(
        container.assistant,
        s.discord_bot_token.get_secret_value(),
        api_base=s.discord_api_base,
        gateway_url=s.discord_gateway_url,
        state_kv=container.kv,
        clock=container.clock,
    ).run(stop)


async def _terminal(container: Container, stop: asyncio.Event) -> None:
    from adapters.console import ConsoleChat, default_user

    chat = ConsoleChat(
        container.assistant.handle, user=default_user(), out_dir=container.settings.data_dir / "out"
    )
    session = asyncio.create_task(chat.loop())
    stopped = asyncio.create_task(stop.wait())
    await asyncio.wait([session, stopped], return_when=asyncio.FIRST_COMPLETED)
    for task in (session, stopped):
        task.cancel()


async def run_services(settings: Settings, interactive: bool) -> int:
    services = configured_services(settings, interactive)
    if not services:
        log.error(
            "nothing_to_run",
            hint="attach a terminal, or set TELEGRAM_BOT_TOKEN / DISCORD_BOT_TOKEN",
        )
        print("huntaze: nothing to run: no terminal attached and no adapter configured")
        return 2
    container = await build(settings)
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
        await container.aclose()
    log.info("stopped")
    return 0
