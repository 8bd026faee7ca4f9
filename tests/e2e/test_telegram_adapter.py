"""The Telegram adapter end to end: the real aiogram client talks HTTP to the local Bot API
server (tests/fakes/telegram_api.py); updates arrive by long polling or are POSTed to the real
aiohttp webhook route; the Assistant runs on SQLite, the offline engine and a local blob store.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
import structlog.testing
from aiogram.types import Update
from aiohttp import web

from adapters.telegram import TelegramAdapter
from adapters.telegram.inbound import TokenBucketLimiter
from adapters.telegram.outbound import ChatPacer
from core.app import Assistant, Limits
from core.chat import Button, ExternalUser, ImageBlock, Incoming, Reply, TextBlock
from core.llm.offline import OfflineEngine
from core.models import Account, Identity
from core.resilience.cache import MemoryKV
from core.services.imports import CsvImporter
from storage.blobs import LocalBlobStore
from storage.db import create_engine
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.telegram_api import FakeTelegramAPI, Sent
from webhooks.app import TELEGRAM_WEBHOOK, create_app
from webhooks.telegram import SECRET_HEADER, TelegramWebhookHandler

USER = 777_001  # a private chat's id is the user's id
SECRET = "s3cret-Token_for-tests"
WEBHOOK_URL = "https://bot.example.com/webhooks/telegram"
MB = 1024 * 1024
PROFILE = (
    "/profile set niches=fitness platforms=instagram content_types=photo "
    "equipment=phone locations=gym tone=playful"
)


def png(width: int, height: int, shade: int = 0x40) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + bytes([shade, 0x80, 0xF0]) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


# ---------------------------------------------------------------- harness


@dataclass
class World:
    """An Assistant on a real SQLite file, blobs on disk."""

    assistant: Assistant
    blob_root: Path
    kv: MemoryKV


@dataclass
class Harness:
    tg: FakeTelegramAPI
    world: World
    adapter: TelegramAdapter
    hook: TelegramWebhookHandler
    http: aiohttp.ClientSession
    url: str
    cleanups: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def assistant(self) -> Assistant:
        return self.world.assistant

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with self.http.post(self.url, json=update, headers=headers) as resp:
            return resp.status

    async def deliver(self, update: dict[str, Any]) -> None:
        assert await self.post(update) == 200

    async def answer(
        self, update: dict[str, Any], method: str = "sendMessage", chat_id: int = USER
    ) -> Sent:
        since = len(self.tg.sent)
        await self.deliver(update)
        return await self.tg.wait_for(method=method, chat_id=chat_id, since=since, timeout=10)

    async def say(self, text: str, chat_id: int = USER, user_id: int = USER) -> Sent:
        return await self.answer(
            self.tg.make_message_update(chat_id, user_id, text), "sendMessage", chat_id
        )

    async def settle(self) -> None:
        """Wait until every POSTed update is fully answered."""
        await self.hook.drain()
        await self.adapter.handlers.drain()

    async def account(self, user_id: int = USER) -> Account:
        return await self.assistant.store.accounts.resolve(
            Identity(platform="telegram", external_id=str(user_id))
        )

    def text_of(self, sent: Sent) -> str:
        message = self.tg.message(sent.chat_id, sent.result["message_id"])
        assert message is not None
        return str(message.get("text", message.get("caption", "")))


def keyboard_of(message: dict[str, Any]) -> list[list[tuple[str, str]]]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [[(b["text"], b["callback_data"]) for b in row] for row in rows]


def find_button(message: dict[str, Any], label: str) -> str:
    for row in keyboard_of(message):
        for text, data in row:
            if text.removeprefix("✓ ").startswith(label):
                return data
    raise AssertionError(f"no button {label!r} in {keyboard_of(message)}")


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as server:
        yield server


WorldFactory = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[WorldFactory]:
    engines: list[Any] = []

    async def make(max_upload_bytes: int = 20 * MB, generator: Any = None) -> World:
        engine = create_engine(migrated_sqlite_url)
        engines.append(engine)
        kv = MemoryKV(max_entries=10_000, clock=clock)
        root = tmp_path / "blobs"
        assistant = Assistant(
            store=SqlStore(engine, clock),
            generator=generator or OfflineEngine(),
            kv=kv,
            clock=clock,
            blobs=LocalBlobStore(root),
            limits=Limits(max_upload_bytes=max_upload_bytes),
        )
        return World(assistant, root, kv)

    yield make
    for engine in engines:
        await engine.dispose()


HarnessFactory = Callable[..., Awaitable[Harness]]


def fast_pacer() -> ChatPacer:
    return ChatPacer(private_rate=1000, group_rate=1000, burst=1000)


@pytest.fixture
async def make_harness(
    tg: FakeTelegramAPI, make_world: WorldFactory
) -> AsyncIterator[HarnessFactory]:
    made: list[Harness] = []

    async def make(world: World | None = None, **options: Any) -> Harness:
        world = world or await make_world()
        options.setdefault("pacer", fast_pacer())
        options.setdefault("album_window", 0.2)
        options.setdefault("state_kv", world.kv)
        adapter = TelegramAdapter(
            world.assistant,
            tg.token,
            webhook_url=WEBHOOK_URL,
            webhook_secret=SECRET,
            session=tg.make_bot().session,
            **options,
        )
        app = create_app(telegram=adapter, telegram_secret=SECRET)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        http = aiohttp.ClientSession()
        hook = app[TELEGRAM_WEBHOOK]
        harness = Harness(
            tg, world, adapter, hook, http, f"http://127.0.0.1:{port}/webhooks/telegram"
        )
        harness.cleanups += [http.close, runner.cleanup, adapter.aclose]
        made.append(harness)
        return harness

    yield make
    for harness in made:
        for cleanup in harness.cleanups:
            await cleanup()


@pytest.fixture
async def h(make_harness: HarnessFactory) -> Harness:
    return await make_harness()


# ---------------------------------------------------------------- polling: /start and the wizard


class Mirror:
    """The same person in the terminal: the reference the Telegram wizard must match."""

    def __init__(self, assistant: Assistant, display_name: str) -> None:
        self.assistant = assistant
        self.user = ExternalUser("console", "mirror", "mirror", display_name)

    async def say(self, text: str) -> Reply:
        return await self.assistant.handle(Incoming(self.user, "mirror", text=text))

    async def press(self, action: str) -> Reply:
        return await self.assistant.handle(Incoming(self.user, "mirror", action=action))


def labels(reply: Reply) -> list[list[tuple[str, str]]]:
    return [[(b.label, b.action) for b in row] for row in reply.buttons]


async def test_start_and_the_wizard_over_polling_match_the_terminal(
    tg: FakeTelegramAPI, make_world: WorldFactory
) -> None:
    world = await make_world()
    tg.add_user(USER, first_name="Mia", last_name=None, username="mia")
    bot = tg.make_bot()
    await bot.set_webhook("https://old.example.com/hook")  # left over: polling must remove it
    await bot.session.close()
    adapter = TelegramAdapter(
        world.assistant,
        tg.token,
        session=tg.make_bot().session,
        pacer=fast_pacer(),
        inbound_limiter=TokenBucketLimiter(rate=100, burst=100),
        polling_timeout=1,
        state_kv=world.kv,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(adapter.run_polling(stop))
    mirror = Mirror(world.assistant, "Mia")
    steps = [
        ("say", "/start"),
        ("press", "Fitness"),
        ("press", "Yoga"),
        ("press", "Fitness"),  # tap again: removed
        ("press", "Fitness"),
        ("press", "Next"),
        ("press", "Instagram"),
        ("press", "Next"),
        ("say", "photo, short video"),
        ("say", "ring light, phone"),
        ("say", "gym"),
        ("press", "Skip"),
        ("press", "Playful"),
        ("say", "skip"),
    ]
    try:
        for kind, value in steps:
            since = len(tg.sent)
            if kind == "say":
                expected = await mirror.say(value)
                tg.queue_update(tg.make_message_update(USER, USER, value))
                sent = await tg.wait_for(method="sendMessage", chat_id=USER, since=since)
            else:
                shown = tg.last_message_to(USER)
                assert shown is not None
                action = find_button(shown, value)
                expected = await mirror.press(action)
                update = tg.make_callback_update(USER, USER, shown["message_id"], action)
                tg.queue_update(update)
                sent = await tg.wait_for(method="editMessageText", chat_id=USER, since=since)
                assert sent.result["message_id"] == shown["message_id"]  # the wizard edits
                await tg.wait_for(method="answerCallbackQuery", since=since)
                assert tg.is_callback_answered(update["callback_query"]["id"])
            message = tg.message(USER, sent.result["message_id"])
            assert message is not None
            assert message["text"] == expected.plain_text, value
            assert keyboard_of(message) == labels(expected), value
        assert "Saved!" in tg.texts_to(USER)[-1]
        await adapter.handlers.drain()
        # Typed answers moved the wizard to new messages; the old questions lost their buttons,
        # so only the current question could ever be answered (as in the terminal).
        assert len(tg.calls("editMessageReplyMarkup")) == 4
        stale = [
            m
            for m in tg.messages_to(USER)
            if any(d.startswith("wz:") for r in keyboard_of(m) for _, d in r)
        ]
        assert stale == []
        assert [c["command"] for c in tg.commands()] == [c.command for c in adapter.menu()]
        assert "start" in [c["command"] for c in tg.commands()]
        assert tg.webhook is None
    finally:
        stop.set()
        await running
        await adapter.aclose()
    account = await world.assistant.store.accounts.resolve(
        Identity(platform="telegram", external_id=str(USER))
    )
    profile = await world.assistant.store.profiles.get(account.id)
    assert profile is not None
    assert profile.niches == ["yoga", "fitness"]
    assert profile.content_types == ["photo", "short_video"]
    assert profile.tone == "playful"


# ---------------------------------------------------------------- webhook mode


async def test_ideas_then_buttons(h: Harness) -> None:
    await h.say(PROFILE)
    sent = await h.say("/ideas 3")
    message = h.tg.message(USER, sent.result["message_id"])
    assert message is not None
    rows = keyboard_of(message)
    assert len(rows) == 3
    assert [label for label, _ in rows[0]] == ["1. Caption", "Save", "More like this"]
    assert all(len(data.encode()) <= 64 for row in rows for _, data in row)
    assert message["text"].startswith("Here are 3 ideas for you:")
    assert any(e["type"] == "bold" for e in message["entities"])  # rendered as HTML

    save = rows[0][1][1]
    update = h.tg.make_callback_update(USER, USER, message["message_id"], save)
    saved = await h.answer(update)
    assert h.text_of(saved).startswith("Saved “")
    assert h.tg.is_callback_answered(update["callback_query"]["id"])
    account = await h.account()
    assert len(await h.assistant.store.ideas.saved(account.id)) == 1
    assert h.tg.message(USER, message["message_id"]) == message  # the ideas stay as they were

    more = await h.answer(
        h.tg.make_callback_update(USER, USER, message["message_id"], rows[1][2][1])
    )
    assert h.text_of(more).startswith("More like “")
    caption = await h.answer(
        h.tg.make_callback_update(USER, USER, message["message_id"], rows[2][0][1])
    )
    assert len(h.text_of(caption)) > 20


async def test_a_price_test_splits_a_mass_message_from_a_button_and_a_typed_number(
    h: Harness,
) -> None:
    started = await h.say("/price test 7.99 9.99 14.99")
    message = h.tg.message(USER, started.result["message_id"])
    assert message is not None and "Price test started" in message["text"]
    [split] = [data for row in keyboard_of(message) for label, data in row if "Split" in label]
    asked = await h.answer(h.tg.make_callback_update(USER, USER, message["message_id"], split))
    assert "How many fans will get your next PPV mass message?" in h.text_of(asked)
    groups = h.text_of(await h.say("1,500"))
    assert "Split your next PPV mass message to 1,500 fans" in groups, groups
    fans = re.findall(r"([\d,]+) fans at \$([\d.]+)", groups)
    assert sum(int(n.replace(",", "")) for n, _ in fans) == 1500


async def test_photo_goes_to_the_vault_once(h: Harness) -> None:
    image = png(64, 48)
    sent = await h.answer(h.tg.make_photo_update(USER, USER, image, caption="beach day #sunset"))
    text = h.text_of(sent)
    assert "Stored 1 file in your vault" in text
    assert len(h.tg.calls("getFile")) == 1 and len(h.tg.downloads) == 1
    message = h.tg.message(USER, sent.result["message_id"])
    assert message is not None
    caption_action = find_button(message, "Caption this")

    account = await h.account()
    assets = await h.assistant.store.assets.list(account.id)
    assert len(assets) == 1
    asset = assets[0]
    assert asset.sha256 == hashlib.sha256(image).hexdigest()
    assert asset.mime == "image/png"  # sniffed from the bytes; Telegram declared image/jpeg
    assert asset.tags == ["sunset"]
    stored = [p for p in h.world.blob_root.rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in stored] == [image]

    again = await h.answer(h.tg.make_photo_update(USER, USER, image, caption="same again"))
    assert "Already in your vault" in h.text_of(again)
    assert len(await h.assistant.store.assets.list(account.id)) == 1
    assert len([p for p in h.world.blob_root.rglob("*") if p.is_file()]) == 1

    drafted = await h.answer(
        h.tg.make_callback_update(USER, USER, message["message_id"], caption_action)
    )
    assert len(h.text_of(drafted)) > 20
    listing = await h.say("/vault sunset")
    assert "1 file tagged" in h.text_of(listing) and "#sunset" in h.text_of(listing)

    # Back out of the vault: the original bytes, as a document (a photo would be recompressed).
    sent_back = await h.answer(
        h.tg.make_message_update(USER, USER, f"/vault send {asset.id}"), "sendDocument"
    )
    document = sent_back[1]["document"]
    assert (document.content, document.filename) == (image, asset.name)


async def test_a_notice_with_a_chart_reaches_the_private_chat(h: Harness) -> None:
    # What a scheduled summary sends: its text, then its chart as a photo; no buttons.
    await h.say("/start")
    account = await h.account()
    chart = png(80, 40)
    summary = Reply(
        blocks=[TextBlock("**Your daily summary**"), ImageBlock(png=chart, caption="Revenue")],
        buttons=[[Button("7d", "cmd:stats 7d")]],
    )
    since = len(h.tg.sent)
    await h.adapter.notify(account.id, summary)
    sent = h.tg.sent[since:]
    assert [method for method, _ in sent] == ["sendMessage", "sendPhoto"]
    assert sent[0][1]["text"] == "<b>Your daily summary</b>" and sent[0][1]["chat_id"] == USER
    assert sent[1][1]["photo"].content == chart and "reply_markup" not in sent[1][1]


async def test_album_is_one_answer(h: Harness) -> None:
    group = "13000000000000777"
    parts = [
        h.tg.make_photo_update(
            USER, USER, png(10, 10, 1), caption="#gym set", media_group_id=group
        ),
        h.tg.make_photo_update(USER, USER, png(10, 10, 2), media_group_id=group),
        h.tg.make_video_update(
            USER, USER, b"\x00\x00\x00\x18ftypmp42" + b"v" * 500, media_group_id=group
        ),
    ]
    since = len(h.tg.sent)
    for part in parts:
        await h.deliver(part)
    sent = await h.tg.wait_for(method="sendMessage", chat_id=USER, since=since, timeout=10)
    assert "Stored 3 files in your vault" in h.text_of(sent)
    await h.settle()
    assert [s.method for s in h.tg.sent[since:] if s.method != "sendChatAction"] == ["sendMessage"]
    account = await h.account()
    assets = await h.assistant.store.assets.list(account.id)
    assert len(assets) == 3 and all(a.tags == ["gym"] for a in assets)


async def test_voice_and_document_are_stored(h: Harness) -> None:
    voice = await h.answer(h.tg.make_voice_update(USER, USER, b"OggS" + b"\x00" * 200))
    assert "Stored 1 file" in h.text_of(voice)
    pdf = b"%PDF-1.4\n" + b"x" * 300
    doc = await h.answer(h.tg.make_document_update(USER, USER, pdf, "media-kit.pdf", caption="kit"))
    assert "Stored 1 file" in h.text_of(doc) and "media-kit.pdf" in h.text_of(doc)
    account = await h.account()
    mimes = sorted(a.mime for a in await h.assistant.store.assets.list(account.id))
    assert "application/pdf" in mimes and len(mimes) == 2


async def test_csv_goes_to_the_importer(h: Harness) -> None:
    sent = await h.answer(
        h.tg.make_document_update(USER, USER, b"date,amount\n2026-01-01,10\n", "earnings.csv")
    )
    assert "imports are not available yet" in h.text_of(sent)


async def test_a_csv_sent_with_its_platform_as_caption_is_imported_with_it(h: Harness) -> None:
    h.assistant.importer = CsvImporter(h.assistant.store, h.assistant.clock)
    data = b"Date,Amount,Fan\n2026-11-20 12:00:00,40.00,@leo\n2026-11-21 12:00:00,oops,@zoe\n"
    update = h.tg.make_document_update(USER, USER, data, "november.csv", caption="OF")
    text = h.text_of(await h.answer(update))
    assert "november.csv — earnings, 2 rows read" in text and "line 3" in text
    assert "Platform: OnlyFans (as you said)." in text
    account = await h.account()
    assert await h.assistant.store.earnings.platforms(account.id) == ["onlyfans"]


async def test_an_excel_workbook_sent_as_a_document_is_imported(h: Harness) -> None:
    from tests.unit.test_imports import workbook

    h.assistant.importer = CsvImporter(h.assistant.store, h.assistant.clock)
    data = workbook(("Sheet1", [["Date", "Amount", "Fan"], ["2026-11-20", 40, "@leo"]]))
    # Telegram types it from the name: application/vnd.openxmlformats-…spreadsheetml.sheet
    update = h.tg.make_document_update(USER, USER, data, "november.xlsx", caption="fansly")
    text = h.text_of(await h.answer(update))
    assert "november.xlsx — earnings, 1 row read" in text and "Excel workbook" in text
    account = await h.account()
    assert await h.assistant.store.assets.list(account.id) == []  # imported, not in the vault
    assert await h.assistant.store.earnings.platforms(account.id) == ["fansly"]


async def test_file_over_the_limit_is_never_downloaded(h: Harness) -> None:
    sent = await h.answer(
        h.tg.make_document_update(USER, USER, b"tiny", "movie.mov", file_size=25 * MB)
    )
    assert "Not stored" in h.text_of(sent) and "20 MB" in h.text_of(sent)
    assert h.tg.calls("getFile") == [] and h.tg.downloads == []


async def test_bot_api_download_limit_holds_when_the_product_limit_is_higher(
    make_world: WorldFactory, make_harness: HarnessFactory
) -> None:
    world = await make_world(max_upload_bytes=50 * MB)
    h = await make_harness(world, max_upload_bytes=50 * MB)
    sent = await h.answer(
        h.tg.make_document_update(USER, USER, b"tiny", "long.mp4", file_size=30 * MB)
    )
    assert "up to 20 MB" in h.text_of(sent)
    assert h.tg.calls("getFile") == [] and h.tg.downloads == []


async def test_flood_wait_is_waited_out(h: Harness) -> None:
    h.tg.fail_next("sendMessage", 429, retry_after=1)
    sent = await h.say("/help")
    assert "What I can do" in h.text_of(sent)
    statuses = [c.status for c in h.tg.calls("sendMessage")]
    assert statuses == [429, 200]
    assert h.adapter.outbound.retries == 1


async def test_webhook_secret_and_body_are_checked(h: Harness) -> None:
    update = h.tg.make_command(USER, USER, "help")
    assert await h.post(update, secret="forged") == 401
    assert await h.post(update, secret=None) == 401
    async with h.http.post(h.url, data=b"{not json", headers={SECRET_HEADER: SECRET}) as resp:
        assert resp.status == 400
    async with h.http.post(h.url, json=[1, 2], headers={SECRET_HEADER: SECRET}) as resp:
        assert resp.status == 400
    await h.settle()
    assert h.tg.sent == []
    assert h.hook.rejected == 2


async def test_replayed_update_is_ignored(h: Harness) -> None:
    update = h.tg.make_command(USER, USER, "help")
    await h.answer(update)
    assert await h.post(update) == 200  # Telegram re-sent it: accepted, not answered twice
    await h.settle()
    assert len([s for s in h.tg.sent if s.method == "sendMessage"]) == 1


async def test_edits_and_membership_changes_do_not_crash(h: Harness) -> None:
    first = await h.say("/help")
    user_message_id = first.result["message_id"] - 1
    await h.deliver(h.tg.make_edited_message_update(USER, USER, user_message_id, "/ideas"))
    await h.deliver(h.tg.make_my_chat_member_update(USER, USER, "member", "kicked"))
    await h.settle()
    assert len(h.tg.sent) == 1
    await h.deliver(h.tg.make_command(USER, USER, "help"))  # blocked: the send fails quietly
    await h.settle()
    await h.deliver(h.tg.make_my_chat_member_update(USER, USER, "kicked", "member"))
    again = await h.say("/help")
    assert "What I can do" in h.text_of(again)


async def test_set_webhook_and_commands_only_when_changed(
    h: Harness, make_harness: HarnessFactory
) -> None:
    assert await h.adapter.setup_webhook() is True
    assert await h.adapter.setup_webhook() is False
    assert len(h.tg.calls("setWebhook")) == 1
    hook = h.tg.webhook
    assert hook is not None and hook["url"] == WEBHOOK_URL and hook["secret_token"] == SECRET
    assert set(hook["allowed_updates"]) >= {"message", "callback_query", "my_chat_member"}

    assert await h.adapter.set_commands() is True
    assert await h.adapter.set_commands() is False
    assert len(h.tg.calls("setMyCommands")) == 1
    registry = [c.name for c in h.assistant.registry.all() if c.menu]
    assert [c["command"] for c in h.tg.commands()] == registry

    other = TelegramAdapter(
        h.assistant,
        h.tg.token,
        webhook_url=WEBHOOK_URL,
        webhook_secret="rotated-secret",
        state_kv=h.world.kv,
        session=h.tg.make_bot().session,
    )
    try:
        assert await other.setup_webhook() is True
        assert h.tg.webhook is not None and h.tg.webhook["secret_token"] == "rotated-secret"
    finally:
        await other.aclose()


async def test_run_in_webhook_mode_sets_up_and_drains(h: Harness) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(h.adapter.run(stop))
    for _ in range(100):
        if h.tg.webhook is not None and h.tg.commands():
            break
        await asyncio.sleep(0.02)
    assert h.tg.webhook is not None and h.tg.webhook["url"] == WEBHOOK_URL
    sent = await h.say("/help")
    assert "What I can do" in h.text_of(sent)
    stop.set()
    await asyncio.wait_for(running, 5)


async def test_one_time_codes_come_with_a_deep_link_that_redeems_them(h: Harness) -> None:
    # The adapter gives core the bot's t.me link when it starts (getMe); an invite carries a
    # link that opens the bot and sends "/start join-CODE", which joins the team.
    stop = asyncio.Event()
    running = asyncio.create_task(h.adapter.run(stop))
    for _ in range(100):
        if "telegram" in h.assistant.start_links:
            break
        await asyncio.sleep(0.02)
    invite = h.text_of(await h.say("/team invite"))
    found = re.search(r"https://t\.me/huntaze_test_bot\?start=(join-[A-Z0-9]{8})\b", invite)
    assert found, invite
    member = USER + 1
    joined = await h.say(f"/start {found.group(1)}", chat_id=member, user_id=member)
    assert "You joined" in h.text_of(joined)
    creator = await h.account()
    assert (await h.account(member)).id == creator.id  # working on the creator's account
    # The link works once, like the code; an unknown payload is a plain /start.
    again = await h.say(f"/start {found.group(1)}", chat_id=USER + 2, user_id=USER + 2)
    assert "unknown or has expired" in h.text_of(again)
    plain = await h.say("/start ref-campaign7", chat_id=USER + 3, user_id=USER + 3)
    assert "I'm Huntaze" in h.text_of(plain)
    stop.set()
    await asyncio.wait_for(running, 5)


class SlowEngine(OfflineEngine):
    async def ideas(self, req: Any, *, account_id: int) -> Any:
        await asyncio.sleep(0.6)
        return await super().ideas(req, account_id=account_id)


async def test_typing_indicator_while_a_slow_answer_is_made(
    make_world: WorldFactory, make_harness: HarnessFactory
) -> None:
    world = await make_world(generator=SlowEngine())
    h = await make_harness(world, typing_delay=0.05)
    await h.say(PROFILE)
    since = len(h.tg.sent)
    sent = await h.say("/ideas 2")
    actions = [s for s in h.tg.sent[since:] if s.method == "sendChatAction"]
    assert actions and actions[0].params["action"] == "typing"
    assert h.tg.sent.index(actions[0]) < h.tg.sent.index(sent)


async def test_fast_answers_show_no_typing(make_harness: HarnessFactory) -> None:
    h = await make_harness(typing_delay=5.0)
    await h.say("/help")
    assert h.tg.calls("sendChatAction") == []


async def test_inbound_throttle_answers_politely_once(make_harness: HarnessFactory) -> None:
    h = await make_harness(inbound_limiter=TokenBucketLimiter(rate=0.001, burst=2))
    for _ in range(4):
        await h.deliver(h.tg.make_command(USER, USER, "help"))
        await h.settle()
    texts = h.tg.texts_to(USER)
    assert len(texts) == 3
    assert sum("What I can do" in t for t in texts) == 2
    assert texts[-1].startswith("Slow down a little — try again in ")
    # A throttled button press still gets its callback answered, with the note.
    update = h.tg.make_callback_update(USER, USER, 1, "cmd:help")
    await h.deliver(update)
    await h.settle()
    assert h.tg.is_callback_answered(update["callback_query"]["id"])
    answer = h.tg.calls("answerCallbackQuery")[-1]
    assert answer.params["text"].startswith("Slow down")


async def test_groups_only_get_answers_addressed_to_the_bot(h: Harness) -> None:
    group = -100_555
    h.tg.add_chat(group, "supergroup", title="Creators")
    await h.deliver(h.tg.make_message_update(group, USER, "/help@some_other_bot"))
    await h.deliver(h.tg.make_message_update(group, USER, "just chatting"))
    await h.settle()
    assert h.tg.sent == []
    sent = await h.say("/help@huntaze_test_bot", chat_id=group)
    assert "What I can do" in h.text_of(sent)
    # a sentence that mentions the bot: the mention is no part of what is asked for (it was
    # taken into the topic: ideas about "@huntaze_test_bot … halloween")
    await h.say("/profile set niches=fitness platforms=instagram content_types=photo")
    asked = await h.say("@Huntaze_Test_Bot give me 2 ideas for halloween", chat_id=group)
    assert "Here are 2 ideas about “halloween”" in h.text_of(asked)


async def test_unknown_command_gets_a_suggestion(h: Harness) -> None:
    sent = await h.say("/idea 3")
    assert "Did you mean /ideas" in h.text_of(sent)


async def test_private_answers_asked_for_in_a_group_go_to_the_private_chat(h: Harness) -> None:
    group = -100_777
    h.tg.add_chat(group, "supergroup", title="Agency")
    since = len(h.tg.sent)
    await h.deliver(h.tg.make_message_update(group, USER, "/link"))
    await h.settle()
    in_group = [s for s in h.tg.sent[since:] if s.chat_id == group]
    in_private = [s for s in h.tg.sent[since:] if s.chat_id == USER]
    assert [s.text for s in in_group] == ["I've sent you the answer in our private chat."]
    assert len(in_private) == 1 and "link code" in (in_private[0].text or "")


async def test_answers_go_to_the_forum_topic_they_were_asked_in(h: Harness) -> None:
    forum = -100_880
    h.tg.add_chat(forum, "supergroup", title="Agency desk", is_forum=True)
    topic = h.tg.add_topic(forum, "Ideas", USER)
    await h.say(PROFILE)

    def topic_of(sent: Sent) -> int | None:
        message = h.tg.message(sent.chat_id, sent.result["message_id"])
        assert message is not None
        return message.get("message_thread_id")

    asked = h.tg.make_message_update(forum, USER, "/ideas 2", thread_id=topic)
    ideas = await h.answer(asked, chat_id=forum)
    assert topic_of(ideas) == topic
    assert ideas.params["message_thread_id"] == topic
    message = h.tg.message(forum, ideas.result["message_id"])
    assert message is not None
    more = find_button(message, "More like this")
    pressed = h.tg.make_callback_update(forum, USER, message["message_id"], more)
    assert topic_of(await h.answer(pressed, chat_id=forum)) == topic  # a button's answer too

    since = len(h.tg.sent)  # an ephemeral answer: the note stays in the topic
    await h.deliver(h.tg.make_message_update(forum, USER, "/link", thread_id=topic))
    await h.settle()
    [note] = [s for s in h.tg.sent[since:] if s.chat_id == forum]
    assert note.text == "I've sent you the answer in our private chat."
    assert note.params["message_thread_id"] == topic

    general = await h.say("/help", chat_id=forum)  # the General topic: no thread id
    assert topic_of(general) is None and "message_thread_id" not in general.params
    failed = [c for c in h.tg.log if not c.ok]
    assert failed == []  # the fake refuses a thread that is not a topic of the chat


async def test_in_a_group_only_the_asker_can_press_the_buttons_of_an_answer(h: Harness) -> None:
    group, other = -100_883, USER + 5
    h.tg.add_chat(group, "supergroup", title="Agency")
    asked = h.tg.make_message_update(group, USER, "/start")
    start = await h.answer(asked, chat_id=group)
    wizard = h.tg.message(group, start.result["message_id"])
    assert wizard is not None  # the answer replies to the person who asked
    assert wizard["reply_to_message"]["message_id"] == asked["message"]["message_id"]
    fitness = find_button(wizard, "Fitness")

    since = len(h.tg.sent)
    pressed = h.tg.make_callback_update(group, other, wizard["message_id"], fitness)
    await h.deliver(pressed)
    await h.settle()
    [toast] = h.tg.sent[since:]  # someone else: a notice on their screen, nothing else
    assert toast.method == "answerCallbackQuery"
    assert toast.params["text"].startswith("These buttons answer someone else")
    assert h.tg.message(group, wizard["message_id"]) == wizard  # the asker's wizard is intact

    mine = await h.answer(
        h.tg.make_callback_update(group, USER, wizard["message_id"], fitness),
        "editMessageText",
        chat_id=group,
    )
    assert mine.params["message_id"] == wizard["message_id"]  # the asker's press works
    assert "✓ Fitness" in [t for row in keyboard_of(mine.result) for t, _ in row]


async def test_an_answer_follows_a_group_upgraded_to_a_supergroup(h: Harness) -> None:
    group, supergroup = -4_001, -100_4_001
    h.tg.add_chat(group, "group", title="Team")
    asked = h.tg.make_message_update(group, USER, "/help")
    h.tg.migrate_chat(group, supergroup)  # upgraded while the update was on its way
    sent = await h.answer(asked, chat_id=supergroup)
    assert "What I can do" in h.text_of(sent)


GROUP_ANONYMOUS_BOT = {"id": 1_087_968_824, "is_bot": True, "first_name": "Group"}


async def test_posts_on_behalf_of_a_chat_are_never_anyones_account(h: Harness) -> None:
    """An anonymous admin, or a channel, posting in a group: ``from`` is a placeholder shared by
    everyone who posts that way (here GroupAnonymousBot), so it must not become an account."""
    group = -100_881
    chat = h.tg.add_chat(group, "supergroup", title="Agency")
    channel = {"id": -100_882, "type": "channel", "title": "Studio news"}

    def on_behalf(text: str, sender_chat: dict[str, Any], **extra: Any) -> dict[str, Any]:
        update = h.tg.make_message_update(group, USER, text)
        update["message"].update({"from": GROUP_ANONYMOUS_BOT, "sender_chat": sender_chat, **extra})
        return update

    since = len(h.tg.sent)
    await h.deliver(on_behalf("/ideas 3", chat))  # an anonymous admin
    await h.deliver(on_behalf("/vault", channel))  # a channel posting in the group
    await h.deliver(on_behalf("/ideas", channel, is_automatic_forward=True))  # a linked channel
    await h.settle()
    notes = [s.text for s in h.tg.sent[since:]]
    assert len(notes) == 2 and all("can't tell who you are" in (n or "") for n in notes)
    assert {s.chat_id for s in h.tg.sent[since:]} == {group}

    placeholder = Identity(platform="telegram", external_id=str(GROUP_ANONYMOUS_BOT["id"]))
    account = await h.assistant.store.accounts.resolve(placeholder)
    assert await h.assistant.store.ideas.recent_titles(account.id) == []
    sent = await h.say("/help", chat_id=group)  # people posting as themselves are answered
    assert "What I can do" in h.text_of(sent)


async def test_the_vault_asked_for_in_a_group_answers_in_private(h: Harness) -> None:
    image = png(32, 32)
    await h.answer(h.tg.make_photo_update(USER, USER, image, caption="#teaser"))
    [asset] = await h.assistant.store.assets.list((await h.account()).id)
    group = -100_778
    h.tg.add_chat(group, "supergroup", title="Agency")
    for text in ("/vault", f"/vault {asset.id}", f"/vault send {asset.id}"):
        since = len(h.tg.sent)
        await h.deliver(h.tg.make_message_update(group, USER, text))
        await h.settle()
        in_group = [s for s in h.tg.sent[since:] if s.chat_id == group]
        in_private = [s for s in h.tg.sent[since:] if s.chat_id == USER]
        assert [s.text for s in in_group] == ["I've sent you the answer in our private chat."]
        assert in_private, text
    assert in_private[-1][0] == "sendDocument"
    assert in_private[-1][1]["document"].content == image


async def test_throttle_shared_through_redis_across_instances(
    make_world: WorldFactory, make_harness: HarnessFactory, redis_url: str, redis_prefix: str
) -> None:
    """Two adapter instances (two replicas) share one per-user limit kept in Redis."""
    from limits.storage import storage_from_string

    from core.resilience.ratelimit import RateLimiter, limits_storage_uri

    storage = storage_from_string(
        limits_storage_uri(redis_url), implementation="redispy", key_prefix=redis_prefix + "LIMITS"
    )
    world = await make_world()

    def limiter() -> RateLimiter:
        return RateLimiter("2/minute", storage=storage, namespace="tg")

    first = await make_harness(world, inbound_limiter=limiter())
    second = await make_harness(world, inbound_limiter=limiter())
    for harness in (first, second, first):
        await harness.deliver(harness.tg.make_command(USER, USER, "help"))
        await harness.settle()
    texts = first.tg.texts_to(USER)
    assert sum("What I can do" in t for t in texts) == 2
    assert texts[-1].startswith("Slow down a little — try again in ")


async def test_replay_to_another_instance_is_ignored_through_redis(
    make_world: WorldFactory, make_harness: HarnessFactory, redis_client: Any, redis_prefix: str
) -> None:
    """Telegram re-sends an update; the load balancer gives it to the other replica."""
    from storage.cache import RedisKV

    world = await make_world()
    shared = RedisKV(redis_client, prefix=redis_prefix)
    first = await make_harness(world, state_kv=shared)
    second = await make_harness(world, state_kv=shared)
    update = first.tg.make_command(USER, USER, "help")
    await first.answer(update)
    assert await second.post(update) == 200
    await second.settle()
    assert len(first.tg.calls("sendMessage")) == 1
    assert await redis_client.exists(
        f"{redis_prefix}telegram:123456789:update:{update['update_id']}"
    )


async def test_webhook_sheds_load_when_too_much_is_pending() -> None:
    from webhooks.telegram import add_telegram_webhook

    class Blocked:
        def __init__(self) -> None:
            self.release = asyncio.Event()
            self.seen: list[int] = []

        async def feed_webhook_update(self, update: dict[str, Any]) -> bool:
            self.seen.append(update["update_id"])
            await self.release.wait()
            return True

    sink = Blocked()
    app = web.Application()
    hook = add_telegram_webhook(app, sink, SECRET, max_pending=2)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/webhooks/telegram"
    try:
        async with aiohttp.ClientSession(headers={SECRET_HEADER: SECRET}) as http:
            statuses = []
            for update_id in (1, 2, 3):
                async with http.post(url, json={"update_id": update_id}) as resp:
                    statuses.append(resp.status)
                    retry_after = resp.headers.get("Retry-After")
            assert statuses == [200, 200, 503] and retry_after == "1"
            sink.release.set()
            await hook.drain()
            async with http.post(url, json={"update_id": 3}) as resp:  # Telegram's retry
                assert resp.status == 200
            await hook.drain()
        assert sink.seen == [1, 2, 3] and hook.shed == 1
    finally:
        await runner.cleanup()


def media_update(tg: FakeTelegramAPI, content: dict[str, Any]) -> dict[str, Any]:
    """A message update carrying ``content`` (fields the fake has no builder for)."""
    update = tg.make_message_update(USER, USER, "placeholder")
    message = update["message"]
    del message["text"]
    message.update(content)
    return update


async def test_audio_animation_and_video_note_are_stored(h: Harness) -> None:
    song = h.tg.register_file(b"ID3\x04" + b"s" * 400, "audio", file_name="song.mp3")
    loop = h.tg.register_file(b"\x00\x00\x00\x18ftypmp42" + b"a" * 300, "video")
    note = h.tg.register_file(b"\x00\x00\x00\x18ftypisom" + b"n" * 300, "video")

    def ids(f: Any) -> dict[str, Any]:
        return {"file_id": f.file_id, "file_unique_id": f.file_unique_id, "file_size": f.file_size}

    updates = [
        {"audio": {**ids(song), "duration": 3, "file_name": "song.mp3", "mime_type": "audio/mpeg"}},
        {  # Telegram sends an animation also as a document
            "animation": {**ids(loop), "width": 8, "height": 8, "duration": 1,
                          "file_name": "loop.mp4", "mime_type": "video/mp4"},
            "document": {**ids(loop), "file_name": "loop.mp4", "mime_type": "video/mp4"},
        },
        {"video_note": {**ids(note), "length": 240, "duration": 2}},
    ]  # fmt: skip
    for content in updates:
        sent = await h.answer(media_update(h.tg, content))
        assert "Stored 1 file" in h.text_of(sent)
    account = await h.account()
    names = sorted(a.name for a in await h.assistant.store.assets.list(account.id))
    assert names[:2] == ["loop.mp4", "song.mp3"]
    assert names[2] == f"video_note_{note.file_unique_id}.mp4"
    assert len(h.tg.downloads) == 3


def _raw_updates(first_id: int) -> list[dict[str, Any]]:
    """Update kinds as Telegram sends them (raw JSON, not built by the fake): none may crash."""
    user = {"id": USER, "is_bot": False, "first_name": "Mia", "language_code": "en"}
    private = {"id": USER, "type": "private", "first_name": "Mia"}
    group = {"id": -100_123, "type": "supergroup", "title": "Team"}
    channel = {"id": -100_999, "type": "channel", "title": "News"}
    now = 1_790_000_000

    def member_update(chat: dict[str, Any], old: str, new: str) -> dict[str, Any]:
        def member(status: str) -> dict[str, Any]:
            extra = {"until_date": 0} if status == "kicked" else {}
            return {"status": status, "user": user, **extra}

        return {
            "chat": chat,
            "from": user,
            "date": now,
            "old_chat_member": member(old),
            "new_chat_member": member(new),
        }

    def msg(chat: dict[str, Any], **extra: Any) -> dict[str, Any]:
        base = {"message_id": 9_000 + len(extra), "date": now, "chat": chat}
        if chat["type"] != "channel":
            base["from"] = user
        return {**base, **extra}

    kinds: list[tuple[str, Any]] = [
        (
            "message",
            msg(
                private,
                sticker={
                    "file_id": "stk",
                    "file_unique_id": "stk-u",
                    "type": "regular",
                    "width": 512,
                    "height": 512,
                    "is_animated": False,
                    "is_video": False,
                },
            ),
        ),
        ("message", msg(private, location={"latitude": 48.85, "longitude": 2.35})),
        ("message", msg(private, contact={"phone_number": "+100", "first_name": "Ann"})),
        ("message", msg(private, dice={"emoji": "🎲", "value": 4})),
        (
            "message",
            msg(
                private,
                text="hi",
                forward_origin={
                    "type": "hidden_user",
                    "date": now,
                    "sender_user_name": "Someone",
                },
            ),
        ),
        ("message", msg(group, new_chat_members=[user])),
        ("message", msg(group, left_chat_member=user)),
        (
            "message",
            msg(
                group,
                text="/ideas@some_other_bot 3",
                entities=[{"type": "bot_command", "offset": 0, "length": 20}],
            ),
        ),
        ("channel_post", msg(channel, text="/ideas 3")),
        ("edited_channel_post", msg(channel, text="edited", edit_date=now + 5)),
        ("inline_query", {"id": "iq1", "from": user, "query": "ideas", "offset": ""}),
        (
            "poll",
            {
                "id": "p1",
                "question": "Which set?",
                "total_voter_count": 1,
                "options": [
                    {"persistent_id": "a", "text": "A", "voter_count": 1},
                    {"persistent_id": "b", "text": "B", "voter_count": 0},
                ],
                "allows_revoting": True,
                "members_only": False,
                "is_closed": False,
                "is_anonymous": True,
                "type": "regular",
                "allows_multiple_answers": False,
            },
        ),
        (
            "poll_answer",
            {"poll_id": "p1", "user": user, "option_ids": [0], "option_persistent_ids": ["a"]},
        ),
        ("chat_join_request", {"chat": group, "from": user, "user_chat_id": USER, "date": now}),
        (
            "message_reaction",
            {
                "chat": private,
                "message_id": 1,
                "user": user,
                "date": now,
                "old_reaction": [],
                "new_reaction": [{"type": "emoji", "emoji": "👍"}],
            },
        ),
        ("chat_member", member_update(group, "left", "member")),
        ("my_chat_member", member_update(group, "member", "kicked")),
        (
            "message_reaction_count",
            {
                "chat": group,
                "message_id": 5,
                "date": now,
                "reactions": [{"type": {"type": "emoji", "emoji": "🔥"}, "total_count": 3}],
            },
        ),
        (
            "callback_query",  # a button under a message sent in inline mode: no message
            {"id": "cb1", "from": user, "chat_instance": "ci", "inline_message_id": "AAA"},
        ),
        (
            "callback_query",  # a button under a message the bot can no longer see
            {
                "id": "cb2",
                "from": user,
                "chat_instance": "ci",
                "message": {"chat": private, "message_id": 3, "date": 0},
                "data": "idea:save:999999",
            },
        ),
        (
            "callback_query",  # a game button
            {"id": "cb3", "from": user, "chat_instance": "ci", "game_short_name": "g"},
        ),
        (
            "chosen_inline_result",
            {"result_id": "r1", "from": user, "query": "ideas"},
        ),
        (
            "shipping_query",
            {
                "id": "sq1",
                "from": user,
                "invoice_payload": "p",
                "shipping_address": {
                    "country_code": "FR",
                    "state": "",
                    "city": "Paris",
                    "street_line1": "1 rue",
                    "street_line2": "",
                    "post_code": "75001",
                },
            },
        ),
        (
            "pre_checkout_query",
            {
                "id": "pq1",
                "from": user,
                "currency": "XTR",
                "total_amount": 50,
                "invoice_payload": "p",
            },
        ),
        ("purchased_paid_media", {"from": user, "paid_media_payload": "set-1"}),
        (
            "chat_boost",
            {
                "chat": channel,
                "boost": {
                    "boost_id": "b1",
                    "add_date": now,
                    "expiration_date": now + 86_400,
                    "source": {"source": "premium", "user": user},
                },
            },
        ),
        (
            "removed_chat_boost",
            {
                "chat": channel,
                "boost_id": "b1",
                "remove_date": now,
                "source": {"source": "premium", "user": user},
            },
        ),
        (
            "business_connection",
            {
                "id": "bc1",
                "user": user,
                "user_chat_id": USER,
                "date": now,
                "is_enabled": True,
            },
        ),
        ("business_message", {**msg(private, text="/ideas"), "business_connection_id": "bc1"}),
        (
            "deleted_business_messages",
            {"business_connection_id": "bc1", "chat": private, "message_ids": [1, 2]},
        ),
        (
            "message",
            msg(private, paid_media={"star_count": 5, "paid_media": [{"type": "preview"}]}),
        ),
        ("message", msg(private, story={"chat": channel, "id": 7})),
        ("message", msg(private, web_app_data={"data": "{}", "button_text": "Open"})),
        (
            "message",
            msg(
                private,
                successful_payment={
                    "currency": "XTR",
                    "total_amount": 50,
                    "invoice_payload": "p",
                    "telegram_payment_charge_id": "c1",
                    "provider_payment_charge_id": "c2",
                },
            ),
        ),
        ("message", msg(private, users_shared={"request_id": 1, "users": [{"user_id": 5}]})),
        ("message", msg(group, pinned_message={"chat": group, "message_id": 2, "date": 0})),
        ("message", msg(group, migrate_to_chat_id=-100_124)),
        ("message", msg(group, text="/help", sender_chat=group)),  # an anonymous admin
    ]
    updates = [{"update_id": first_id + i, kind: body} for i, (kind, body) in enumerate(kinds)]
    for update in updates:  # as Telegram sends them: aiogram's own models take every one
        Update.model_validate(update)
    # A kind newer than the installed aiogram (Telegram adds kinds to the default list).
    updates.append({"update_id": first_id + len(kinds), "some_future_update": {"x": 1}})
    return updates


async def test_every_kind_of_update_is_accepted_without_a_crash(
    h: Harness, recwarn: pytest.WarningsRecorder
) -> None:
    with structlog.testing.capture_logs() as logs:
        for update in _raw_updates(first_id=50_000):
            assert await h.post(update) == 200, update
        await h.settle()
    errors = [e for e in logs if e["log_level"] in {"error", "critical", "exception", "warning"}]
    assert errors == []
    assert [str(w.message)[:40] for w in recwarn] == []  # aiogram's "unknown update type"
    [unknown] = [e for e in logs if e["event"] == "telegram_update_unknown_kind"]
    assert unknown["kinds"] == ["some_future_update"]
    answered = {
        c.params["callback_query_id"] for c in h.tg.log if c.method == "answerCallbackQuery"
    }
    assert {"cb1", "cb2", "cb3"} <= answered  # every button press is answered (the fake does
    # not know these made-up query ids, so it refuses them as Telegram would), and so is the
    # inline query
    assert [c.params["inline_query_id"] for c in h.tg.log if c.method == "answerInlineQuery"] == [
        "iq1"
    ]
    refused_ok = {"answerCallbackQuery", "answerInlineQuery"}
    failed = [c for c in h.tg.log if not c.ok and c.method not in refused_ok]
    assert failed == []  # nothing else the bot sent was refused
    to_others = [s for s in h.tg.sent if s.method == "sendMessage" and s.chat_id != USER]
    # channels and other bots' commands get no answer; the anonymous admin is told why
    assert [(s.chat_id, (s.text or "")[:24]) for s in to_others] == [
        (-100_123, "I can't tell who you are")
    ]
    # and the bot still answers (someone else: this user has used up the inbound throttle)
    again = await h.say("/help", chat_id=USER + 1, user_id=USER + 1)
    assert "What I can do" in h.text_of(again)


async def test_inline_mode_offers_a_caption_and_hashtags(h: Harness) -> None:
    # "@bot beach day" typed in any chat got no answer at all (Telegram shows a spinner, then
    # nothing): inline mode was not handled
    await h.say("/profile set niches=fitness platforms=tiktok content_types=photo")
    update = h.tg.make_inline_query_update(USER, "  golden hour beach run ")
    await h.deliver(update)
    await h.settle()
    answer = h.tg.inline_answers[update["inline_query"]["id"]]
    assert answer is not None and answer["is_personal"] is True
    full, bare, tags = answer["results"]
    assert [r["title"] for r in answer["results"]] == [
        "Caption for tiktok",
        "Caption without hashtags",
        "Hashtags only",
    ]
    text = full["input_message_content"]["message_text"]
    assert "#goldenhour" in text and len(text) <= 2200  # TikTok's limit, from core's rules
    assert "#" not in bare["input_message_content"]["message_text"]
    hashtags = tags["input_message_content"]["message_text"]
    assert hashtags.startswith("#goldenhour") and hashtags in text
    # an empty query is answered too (with nothing), so Telegram stops waiting
    empty = h.tg.make_inline_query_update(USER, "   ")
    await h.deliver(empty)
    await h.settle()
    assert h.tg.inline_answers[empty["inline_query"]["id"]]["results"] == []
