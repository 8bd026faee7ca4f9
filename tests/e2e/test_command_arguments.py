"""Every chat command against malformed arguments, on SQLite and PostgreSQL.

A creator types anything: each command, given each odd argument below, must answer in words
(a usage hint, a refusal, a result) - never the "something went wrong" apology of a failed
handler, never a traceback, never an error logged. Odd means: empty, blank, huge or non-finite
numbers, signs, separators, half key=value pairs, stray quotes, markup, control and bidi
characters, very long text, repeated or conflicting options, and format-string tricks in
templates. (This sweep once found a price, a key id and a fan's total spent that overflowed
the database's columns: now refused at the argument, with the bound.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

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

ODD = [
    "", " ", "0", "-1", "-0", "3.", ".5", "1,5", "999999999999999999999", "1e309", "nan", "inf",
    "=", "key=", "=value", "a=b=c", "niches=", "tone=🔥", '"', "'", '"unterminated', '" "',
    "to", "for", "<b>x</b>", "&amp;", "@", "@bot", "#", "#tag", "\u202e", "\x00", "\t\n",
    "é" * 5000, "x" * 10000, "30d 7d", "all all", "ppv test 1 2 3", "test", "test 0 0",
    "test -5 abc", "test 99999999999999999999 3", "stop", "floor=0 ceiling=0",
    "floor=50 ceiling=3", "floor=abc", "ceiling=99999999999999999999", "inactive:", "spent>=",
    "spent>=-1 tier:", "tag:", "inactive:99999999d", "spent>=99999999999999999999999", "add",
    "add x", "add @x spent=abc last_active=2026-13-45", "add @y spent=999999999999999999999999",
    "revoke", "revoke 999999999999999999999", "new", "list", "set", "set niches", "show extra",
    "daily weekly", "off now", "pro", "credits-500 extra", "studio studio", "10 creative tiktok",
    "11", "0 balanced", "creative creative", "instagram instagram", "3 unknownstyle",
    '"{name}" to vip', '"{name" for x', '"{0}{1}{__class__}" to all',
    '"{name!r:>9999999}" to all', "5 999999999999999999999", "add @nul name=a\x00b notes=\x00",
    "set tone=\ud800", "\udcff lone surrogate", "add @" + "h" * 300, "add @a name=" + "x" * 300,
    "add @d tier=" + "v" * 30, "²", "٣ creative", "5 ²",
]  # fmt: skip
PROFILE = (
    "/profile set niches=fitness platforms=instagram content_types=photo "
    "equipment=phone locations=gym tone=playful"
)
APOLOGY = "went wrong on our side"


@pytest.fixture
async def assistant(db_url: str, clock: FakeClock, tmp_path: Path) -> AsyncIterator[Assistant]:
    engine = create_engine(db_url)
    try:
        yield Assistant(
            store=SqlStore(engine, clock),
            generator=OfflineEngine(),
            kv=MemoryKV(max_entries=10_000, clock=clock),
            clock=clock,
            blobs=LocalBlobStore(tmp_path / "blobs"),
        )
    finally:
        await engine.dispose()


async def test_every_command_answers_odd_arguments_in_words(assistant: Assistant) -> None:
    user = ExternalUser(platform="console", id="fuzzer", username="fuzzer", display_name="F")

    async def say(text: str) -> str:
        reply = await assistant.handle(Incoming(user=user, chat_id=user.id, text=text))
        return reply.plain_text

    await say(PROFILE)
    await say("/fans add @mia name=Mia tier=vip spent=120")
    failures: list[tuple[str, Any]] = []
    commands = [c.name for c in assistant.registry.all()]
    assert len(commands) >= 15
    for name in commands:
        for odd in ODD:
            text = f"/{name} {odd}" if odd.strip() else f"/{name}{odd}"
            with structlog.testing.capture_logs() as logs:
                answer = await say(text)
            errors = [e["event"] for e in logs if e["log_level"] in {"error", "critical"}]
            if errors or APOLOGY in answer or "Traceback" in answer or not answer.strip():
                failures.append((text[:60], errors or answer[:120]))
            await say("/cancel")  # leave any question the command opened
    assert failures == []


async def test_a_fan_cannot_have_been_active_in_the_future(assistant: Assistant) -> None:
    user = ExternalUser(platform="console", id="f", username="f", display_name="F")

    async def say(text: str) -> str:
        return (await assistant.handle(Incoming(user=user, chat_id="f", text=text))).plain_text

    today = assistant.clock.now().date()
    later = today + timedelta(days=30)
    assert f"last_active {later} is in the future" in await say(f"/fans add @x last_active={later}")
    assert "Your fan list is empty" in await say("/fans")
    assert "active 0d ago" in await say(f"/fans add @x last_active={today}")


async def test_text_the_database_cannot_hold_is_cleaned_where_it_enters(
    assistant: Assistant,
) -> None:
    """NUL characters (PostgreSQL refuses them in text) and lone surrogates (not UTF-8) in a
    name, a message or a file's name and tags are dropped or replaced, not a failed write."""
    user = ExternalUser(platform="console", id="n\x00ul", username="a\ud800", display_name="\x00")
    reply = await assistant.handle(
        Incoming(user=user, chat_id="c", text="/fans add @kim name=K\x00im")
    )
    assert "Added @kim" in reply.plain_text
    account = await assistant.store.accounts.resolve(user.identity())
    fan = await assistant.store.fans.get(account.id, "kim")
    assert fan is not None and fan.name == "Kim"
    # Typed options (Discord's slash commands) are cleaned like text.
    options = {"action": "add", "handle": "@lee", "name": "L\x00ee"}
    await assistant.handle(Incoming(user=user, chat_id="c", text="/fans", options=options))
    fan = await assistant.store.fans.get(account.id, "lee")
    assert fan is not None and fan.name == "Lee"

    async def chunks() -> AsyncIterator[bytes]:
        yield b"\x89PNG\r\n\x1a\n" + b"\x00" * 64

    assert assistant.vault is not None
    asset, created = await assistant.vault.add_stream(
        account.id, chunks(), "be\x00ach\udcff.png", "image/png", ["sun\x00set"], source="api"
    )
    assert created and asset.name == "beach?.png" and asset.tags == ["sunset"]
    (stored,) = await assistant.store.assets.list(account.id)
    assert (stored.name, stored.tags) == ("beach?.png", ["sunset"])


async def test_a_file_name_or_type_longer_than_the_index_holds_is_cut_to_fit(
    assistant: Assistant,
) -> None:
    """A phone may send a 300-character file name (varchar(255) refused it on PostgreSQL)."""
    user = ExternalUser(platform="console", id="long", username="long")
    account = await assistant.store.accounts.resolve(user.identity())
    assert assistant.vault is not None

    async def chunks() -> AsyncIterator[bytes]:
        yield b"%PDF-1.4\n" + b"0" * 64

    name = "holiday " * 40 + ".pdf"
    asset, _ = await assistant.vault.add_stream(
        account.id, chunks(), name, "application/" + "x" * 300, [], source="api"
    )
    assert (
        len(asset.name) == 255 and asset.name.startswith("holiday ") and asset.name.endswith(".pdf")
    )
    (stored,) = await assistant.store.assets.list(account.id)
    assert stored.name == asset.name and stored.mime == "application/pdf"

    # The same through chat (a Telegram or Discord attachment), with a NUL in the name.
    photo = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64

    async def read() -> bytes:
        return photo

    sent = Attachment(name="beach\x00 " * 60 + ".png", mime="image/png", size=len(photo), read=read)
    reply = await assistant.handle(Incoming(user=user, chat_id="c", attachments=[sent]))
    assert "Stored 1 file" in reply.plain_text
    names = {a.name for a in await assistant.store.assets.list(account.id)} - {asset.name}
    (kept,) = names
    assert len(kept) == 255 and kept.startswith("beach beach") and kept.endswith(".png")


FORGED = ["", "1", "0", "-1", "99999999999999999999", "²", "٣", "1.5", "x", "1:2", ":", "9" * 300]
PREFIXES = ["idea:save", "idea:cap", "idea:more", "idea", "vault:cap", "vault", "px:sold:ppv",
            "px:unsold:bundle", "px:sold", "px", "wz", "wz:pick", "nope"]  # fmt: skip


async def test_forged_button_payloads_get_an_answer_and_reach_no_other_account(
    assistant: Assistant,
) -> None:
    """A modified client can send any callback data: each button prefix with odd or foreign
    ids gets words back, and another account's idea is never touched."""
    owner = ExternalUser(platform="console", id="owner", username="owner")
    other = ExternalUser(platform="console", id="other", username="other")

    async def press(user: ExternalUser, action: str) -> str:
        reply = await assistant.handle(Incoming(user=user, chat_id=user.id, action=action))
        return reply.plain_text

    for user in (owner, other):
        await assistant.handle(Incoming(user=user, chat_id=user.id, text=PROFILE))
    ideas = await assistant.handle(Incoming(user=owner, chat_id="owner", text="/ideas 2"))
    saves = [b.action for row in ideas.buttons for b in row if b.action.startswith("idea:save:")]
    owner_account = await assistant.store.accounts.resolve(owner.identity())
    idea = await assistant.store.ideas.get(owner_account.id, int(saves[0].rsplit(":", 1)[1]))
    assert idea is not None and idea.id is not None
    failures: list[tuple[str, Any]] = []
    for prefix in PREFIXES:
        for payload in [*FORGED, str(idea.id)]:
            action = f"{prefix}:{payload}" if payload else prefix
            with structlog.testing.capture_logs() as logs:
                answer = await press(other, action)
            errors = [e["event"] for e in logs if e["log_level"] in {"error", "critical"}]
            if errors or APOLOGY in answer or not answer.strip():
                failures.append((action[:40], errors or answer[:120]))
    assert failures == []
    assert "can't find that idea" in await press(other, f"idea:save:{idea.id}")
    again = await assistant.store.ideas.get(owner_account.id, idea.id)
    assert again is not None and not again.saved
