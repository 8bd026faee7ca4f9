"""An Assistant on real SQLite + the offline engine + in-memory KV, and chat helpers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path

import pytest

from bot.jobs import FileDeadLetters, LocalJobQueue
from core.app import Assistant
from core.chat import ExternalUser, Incoming, Reply
from core.jobs import JobRunner, enqueue_summaries
from core.llm.offline import OfflineEngine
from core.resilience.cache import MemoryKV
from storage.db import create_engine, migrate
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import RecordingNotifier


class Chat:
    """One person talking to the assistant on one platform."""

    def __init__(self, app: Assistant, user: str, platform: str = "console") -> None:
        self.app = app
        self.user = ExternalUser(platform=platform, id=user, username=user, display_name=user)
        self.last: Reply | None = None

    async def say(self, text: str) -> Reply:
        self.last = await self.app.handle(Incoming(user=self.user, chat_id=self.user.id, text=text))
        return self.last

    async def press(self, action: str) -> Reply:
        self.last = await self.app.handle(
            Incoming(user=self.user, chat_id=self.user.id, action=action)
        )
        return self.last

    async def press_label(self, label: str) -> Reply:
        assert self.last is not None
        for row in self.last.buttons:
            for button in row:
                if button.label.lstrip("✓ ").startswith(label):
                    return await self.press(button.action)
        raise AssertionError(f"no button {label!r} in {self.last.buttons}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def assistant(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Assistant]:
    url = f"sqlite+aiosqlite:///{tmp_path}/huntaze.db"
    await migrate(url)
    engine = create_engine(url)
    yield Assistant(
        store=SqlStore(engine, clock),
        generator=OfflineEngine(),
        kv=MemoryKV(max_entries=1000, clock=clock),
        clock=clock,
    )
    await engine.dispose()


def assistant_on(store: SqlStore, clock: FakeClock, **kw: object) -> Assistant:
    """An assistant on ``store`` (either backend: the ``store`` fixture), with the offline
    engine and an in-memory key-value store; ``kw`` as ``Assistant`` takes them."""
    kv = MemoryKV(max_entries=1000, clock=clock)
    return Assistant(store=store, generator=OfflineEngine(), kv=kv, clock=clock, **kw)  # type: ignore[arg-type]


@pytest.fixture
def chat(assistant: Assistant) -> Chat:
    return Chat(assistant, "alice")


async def run_summaries(
    app: Assistant, notices: RecordingNotifier, when: datetime, tmp_path: Path
) -> None:
    """Move the clock (a ``FakeClock``) to ``when`` and run the scheduled summaries due then,
    told to ``notices`` (dead letters in ``tmp_path``)."""
    clock = app.clock
    assert isinstance(clock, FakeClock)
    dead = FileDeadLetters(tmp_path / "dead-letters.json")
    queue = LocalJobQueue(JobRunner(app, notices), dead, clock)
    clock.advance((when - clock.now()).total_seconds())
    await enqueue_summaries(app.store.summaries, queue, app.store.profiles, when)
    await asyncio.wait_for(queue.join(), 30)
