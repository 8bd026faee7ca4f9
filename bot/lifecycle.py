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

Service = Callable[[Container, asyncio.Event], Awaitable[None]]


def configured_services(settings: Settings, interactive: bool) -> dict[str, Service]:
    """Each service runs until ``stop`` is set (or returns by itself: the terminal closing)."""
    services: dict[str, Service] = {}
    if interactive:
        services["terminal"] = _terminal
    return services


async def _terminal(container: Container, stop: asyncio.Event) -> None:
    from adapters.console import ConsoleChat

    chat = ConsoleChat(
        container.assistant.handle, user="local", out_dir=container.settings.data_dir / "out"
    )
    await chat.loop()


async def run_services(settings: Settings, interactive: bool) -> int:
    services = configured_services(settings, interactive)
    if not services:
        log.error("nothing_to_run", hint="attach a terminal, or configure TELEGRAM_BOT_TOKEN")
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
        for task in tasks:
            if not task.done():
                task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        stopper.cancel()
        await container.aclose()
    log.info("stopped")
    return 0
