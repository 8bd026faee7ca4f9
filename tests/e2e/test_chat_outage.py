"""The database goes away while creators chat (PostgreSQL behind a TCP proxy that stops).

Every kind of input - a command, a button press, a wizard step, a file for the vault - gets a
clear "try again" answer (never the failed-handler apology, never an error logged as a crash),
nothing is half-written, and once the database is back the same inputs work.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import structlog

from core.app import Assistant
from core.chat import Attachment, ExternalUser, Incoming
from core.llm.offline import OfflineEngine
from core.resilience.cache import MemoryKV
from storage.blobs import LocalBlobStore
from storage.db import create_engine
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.services import TcpProxy

PROFILE = (
    "/profile set niches=fitness platforms=instagram content_types=photo "
    "equipment=phone locations=gym tone=playful"
)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
async def proxied(migrated_postgres_url: str) -> AsyncIterator[tuple[str, TcpProxy]]:
    from sqlalchemy.engine import make_url

    real = make_url(migrated_postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    try:
        yield real.set(host="127.0.0.1", port=proxy.port).render_as_string(False), proxy
    finally:
        await proxy.stop()


@pytest.mark.postgres
async def test_chat_while_the_database_is_down_answers_and_loses_nothing(
    proxied: tuple[str, TcpProxy], clock: FakeClock, tmp_path: Path
) -> None:
    url, proxy = proxied
    engine = create_engine(url)
    app = Assistant(
        store=SqlStore(engine, clock),
        generator=OfflineEngine(),
        kv=MemoryKV(max_entries=1000, clock=clock),
        clock=clock,
        blobs=LocalBlobStore(tmp_path / "blobs"),
    )
    user = ExternalUser(platform="telegram", id="42", username="mia", display_name="Mia")

    async def send(text: str = "", action: str | None = None, files: int = 0) -> str:
        async def read() -> bytes:
            return PNG

        attachments = [
            Attachment(name=f"p{i}.png", mime="image/png", size=len(PNG), read=read)
            for i in range(files)
        ]
        incoming = Incoming(user=user, chat_id="42", text=text, action=action)
        incoming.attachments = attachments
        return (await app.handle(incoming)).plain_text

    try:
        await send(PROFILE)
        ideas = await app.handle(Incoming(user=user, chat_id="42", text="/ideas 2"))
        save = next(b.action for row in ideas.buttons for b in row if "save" in b.action)
        account = await app.store.accounts.resolve(user.identity())

        await proxy.stop()
        inputs = [
            {"text": "/ideas 2"},
            {"text": "/fans add @kim spent=20"},
            {"text": "/sold 9.99"},
            {"text": "/profile"},  # the wizard's first step reads the profile
            {"action": save},
            {"text": "beach day", "files": 1},
            {"text": "/vault"},
        ]
        with structlog.testing.capture_logs() as logs:
            answers = [await send(**kw) for kw in inputs]  # type: ignore[arg-type]
        crashes = [e for e in logs if e["log_level"] in {"error", "critical"}]
        assert crashes == []
        for kw, answer in zip(inputs, answers, strict=True):
            assert "try again" in answer.lower() and "went wrong" not in answer, (kw, answer)

        await proxy.start()
        assert "Saved @kim" in await send("/fans add @kim spent=20")
        assert await app.store.fans.get(account.id, "kim") is not None
        assert "Saved" in await send(action=save)
        # The photo sent during the outage left neither a row nor a blob behind.
        assert await app.store.assets.list(account.id) == []
        assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == []
        assert "Stored 1 file" in await send("beach day", files=1)
    finally:
        await engine.dispose()
