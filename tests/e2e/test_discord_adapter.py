"""The Discord adapter end to end: the REAL discord.py client (inside ``DiscordAdapter``) logs
into the local fake Discord (``tests/fakes/discord_api.py``) and talks to a real ``Assistant``
on SQLite, the offline engine and a local blob directory."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import struct
import zlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.app import ANSWER_ACTION, ANSWER_FIELD, ANSWER_MODAL, DiscordAdapter
from adapters.discord.render import MAX_CONTENT
from core.app import Assistant
from core.chat import Button, ExternalUser, ImageBlock, Incoming, Reply, TextBlock
from core.llm.offline import OfflineEngine
from core.models import Identity
from core.ports import FanPatch, Transaction
from core.resilience.cache import MemoryKV
from storage.blobs import LocalBlobStore
from storage.db import create_engine
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.discord_api import DEFAULT_USER_ID, FakeDiscord, InteractionHandle

JSON = dict[str, Any]
EPHEMERAL, LOADING = 1 << 6, 1 << 7
PROFILE = "niches=fitness platforms=instagram content_types=photo,video"


class CsvImporter:
    """A small importer (the ``core.ports.Importer`` port): counts the data rows it got."""

    def __init__(self) -> None:
        self.files: list[tuple[int, str, bytes]] = []
        self.platforms: list[str | None] = []

    async def import_csv(
        self, account_id: int, name: str, data: bytes, *, platform: str | None = None
    ) -> str:
        self.files.append((account_id, name, data))
        self.platforms.append(platform)
        rows = [line for line in data.decode().splitlines()[1:] if line.strip()]
        return f"Imported {len(rows)} rows from {name}."


def tiny_png(width: int = 2, height: int = 2) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class World:
    """The fake Discord, the assistant behind the adapter, and helpers to read answers."""

    def __init__(
        self,
        fake: FakeDiscord,
        assistant: Assistant,
        kv: MemoryKV,
        clock: FakeClock,
        blobs: LocalBlobStore,
        importer: CsvImporter,
    ) -> None:
        self.fake = fake
        self.assistant = assistant
        self.kv = kv
        self.clock = clock
        self.blobs = blobs
        self.importer = importer
        self.adapter: DiscordAdapter | None = None

    def make_adapter(
        self, kv: MemoryKV | None = None, assistant: Assistant | None = None
    ) -> DiscordAdapter:
        return DiscordAdapter(
            assistant or self.assistant,
            self.fake.token,
            api_base=self.fake.api_base,
            gateway_url=self.fake.gateway_url,
            state_kv=kv if kv is not None else self.kv,
            clock=self.clock,
            guild_ready_timeout=0.05,
        )

    @contextlib.asynccontextmanager
    async def running(self, adapter: DiscordAdapter | None = None) -> AsyncIterator[DiscordAdapter]:
        adapter = adapter or self.make_adapter()
        stop = asyncio.Event()
        task = asyncio.create_task(adapter.run(stop))
        ready = asyncio.create_task(adapter.ready.wait())
        done, _ = await asyncio.wait({task, ready}, timeout=5, return_when=asyncio.FIRST_COMPLETED)
        if ready not in done:
            ready.cancel()
            stop.set()
            if task.done():
                task.result()
            raise TimeoutError(f"adapter not ready; {self.fake.summary()}")
        self.adapter = adapter
        try:
            yield adapter
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
            self.adapter = None

    async def settled(self, handle: InteractionHandle) -> None:
        """Wait until the interaction was acknowledged and the adapter finished answering."""
        await self.fake.wait_for_response(handle)
        adapter = self.adapter
        assert adapter is not None
        await self.fake.wait_for(lambda: not adapter.busy, timeout=5)

    async def answer(self, handle: InteractionHandle) -> list[JSON]:
        """The messages that answer a deferred interaction (current state), in order."""
        await self.settled(handle)
        messages = [self.fake.message(f.message["id"]) for f in self.fake.followups_for(handle)]
        return [m for m in messages if m is not None]

    async def slash(self, name: str, options: JSON | None = None, **kwargs: Any) -> list[JSON]:
        return await self.answer(await self.fake.slash_command(name, options or {}, **kwargs))

    async def account_id(self, platform: str, external_id: str) -> int:
        account = await self.assistant.store.accounts.resolve(
            Identity(platform=platform, external_id=external_id)
        )
        return account.id


def text_of(messages: list[JSON]) -> str:
    return "\n".join(m["content"] for m in messages)


def custom_ids(message: JSON) -> list[str]:
    return [c["custom_id"] for row in message.get("components", []) for c in row["components"]]


def find_button(messages: list[JSON], prefix: str) -> tuple[JSON, str]:
    for message in messages:
        for custom_id in custom_ids(message):
            if custom_id.startswith(prefix):
                return message, custom_id
    raise AssertionError(f"no button {prefix!r} in {[custom_ids(m) for m in messages]}")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def world(migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock) -> AsyncIterator[World]:
    engine = create_engine(migrated_sqlite_url)
    kv = MemoryKV(max_entries=1000, clock=clock)
    blobs = LocalBlobStore(tmp_path / "blobs")
    importer = CsvImporter()
    assistant = Assistant(
        store=SqlStore(engine, clock),
        generator=OfflineEngine(),
        kv=kv,
        clock=clock,
        blobs=blobs,
        importer=importer,
    )
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    try:
        async with FakeDiscord(clock=lambda: clock.now().timestamp()) as fake:
            yield World(fake, assistant, kv, clock, blobs, importer)
            assert fake.server_errors == []
    finally:
        await engine.dispose()
    # The adapter points discord.py at the fake only while it runs.
    assert (base, gateway) == (Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)


@pytest.fixture
async def bot(world: World) -> AsyncIterator[World]:
    async with world.running():
        yield world


async def set_profile(world: World, **kwargs: Any) -> None:
    [answer] = await world.slash("profile", {"action": "set", "rest": PROFILE}, **kwargs)
    assert answer["content"].startswith("Updated."), answer["content"]


# ---------------------------------------------------------------- start-up


async def test_commands_are_synced_once_and_only_when_they_change(world: World) -> None:
    async with world.running() as adapter:
        assert adapter.last_sync is True
    [sync] = world.fake.sync_history
    assert sync.guild_id is None
    names = [c["name"] for c in sync.commands]
    menu = [c.name for c in world.assistant.registry.all() if c.menu]
    assert names == [*menu, "upload"]
    by_name = {c["name"]: c for c in sync.commands}
    ideas = {o["name"]: o for o in by_name["ideas"]["options"]}
    assert ideas["count"]["type"] == 4
    assert (ideas["count"]["min_value"], ideas["count"]["max_value"]) == (1, 10)
    assert [c["value"] for c in ideas["creativity"]["choices"]] == [
        "conservative",
        "balanced",
        "creative",
    ]
    assert "required" not in ideas["count"]  # it has a default
    assert (ideas["topic"]["type"], ideas["topic"]["max_length"]) == (3, 80)
    fans = {o["name"]: o for o in by_name["fans"]["options"]}
    assert fans["handle"].get("autocomplete") is True
    assert fans["spent"]["type"] == 10 and fans["spent"]["min_value"] == 0
    assert "YYYY-MM-DD" in fans["last_active"]["description"]
    personalize = by_name["personalize"]["options"]
    assert [(o["name"], o.get("required")) for o in personalize] == [
        ("template", True),
        ("handle", None),
        ("segment", None),
    ]
    assert "options" not in by_name["help"]
    upload = {o["name"]: o for o in by_name["upload"]["options"]}
    assert upload["file"]["type"] == 11 and upload["file"]["required"] is True
    assert all(c["contexts"] == [0, 1] for c in sync.commands)  # servers and DMs

    # Same commands, same state: no request about commands at all.
    before = len(world.fake.requests)
    async with world.running() as adapter:
        assert adapter.last_sync is False
    assert len(world.fake.sync_history) == 1
    assert not [r for r in world.fake.requests[before:] if "/commands" in r.path]

    # No stored hash (a fresh KV): Discord's copy is compared, still no overwrite.
    async with world.running(world.make_adapter(kv=MemoryKV(max_entries=10))) as adapter:
        assert adapter.last_sync is False
    assert len(world.fake.sync_history) == 1
    assert world.fake.requests_matching("GET /applications/*/commands")

    # A new command in the registry: synced again, with it.
    @world.assistant.registry.command("hello", "Say hello")
    async def hello(ctx: object, _: None) -> Reply:
        return Reply.text("hello")

    async with world.running() as adapter:
        assert adapter.last_sync is True
    assert len(world.fake.sync_history) == 2
    assert "hello" in [c["name"] for c in world.fake.sync_history[-1].commands]


# ---------------------------------------------------------------- slash commands and buttons


async def test_ideas_are_deferred_then_followed_up_with_buttons(bot: World) -> None:
    await set_profile(bot)
    handle = await bot.fake.slash_command("ideas", {"count": 5, "creativity": "creative"})
    messages = await bot.answer(handle)

    [response] = bot.fake.responses_for(handle)
    assert response.type == 5  # deferred, "thinking"
    assert response.message is not None
    assert response.message["flags"] & LOADING and response.message["flags"] & EPHEMERAL
    followups = bot.fake.followups_for(handle)
    assert followups[0].replaced_deferred
    assert all(m["flags"] & EPHEMERAL for m in messages)  # private answers in a server

    text = text_of(messages)
    assert "Here are 5 ideas for you:" in text
    for n in range(1, 6):
        assert f"**{n}. " in text
    assert all(len(m["content"]) <= MAX_CONTENT for m in messages)
    ids = [cid for m in messages for cid in custom_ids(m)]
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    saved_ideas = [int(cid.split(":")[2]) for cid in ids if cid.startswith("idea:save:")]
    assert len(saved_ideas) == 5
    for idea_id in saved_ideas:
        assert await bot.assistant.store.ideas.get(account, idea_id) is not None
    assert len([cid for cid in ids if cid.startswith("idea:")]) == 15
    last = messages[-1]
    assert len(last["components"]) == 5
    assert all(len(row["components"]) == 3 for row in last["components"])


async def test_pressing_an_idea_button_runs_its_action(bot: World) -> None:
    await set_profile(bot)
    topic = await bot.slash("ideas", {"count": 2, "topic": "halloween"})
    assert topic[-1]["content"].startswith("Here are 2 ideas about “halloween”")
    messages = await bot.slash("ideas", {"count": 2})
    message, save = find_button(messages, "idea:save:")
    idea_id = int(save.rsplit(":", 1)[1])

    press = await bot.fake.button_press(save, message["id"])
    [answer] = await bot.answer(press)
    assert bot.fake.responses_for(press)[0].type == 5
    assert answer["content"].startswith("Saved “")
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    assert [i.id for i in await bot.assistant.store.ideas.saved(account)] == [idea_id]

    # A message sent before a restart: its buttons still work (custom_id = core action).
    _, caption = find_button(messages, "idea:cap:")
    old = bot.fake.add_bot_message(
        "old ideas",
        components=[
            {
                "type": 1,
                "components": [{"type": 2, "style": 2, "label": "Caption", "custom_id": caption}],
            }
        ],
    )
    [captioned] = await bot.answer(await bot.fake.button_press(caption, old["id"]))
    assert captioned["content"].startswith("**Caption for instagram**")


async def test_autocomplete_offers_the_creators_fan_handles(bot: World) -> None:
    for handle, name in (("@mia", "Mia"), ("@milo", "Milo"), ("@zoe", "Zoe")):
        [added] = await bot.slash(
            "fans",
            {
                "action": "add",
                "handle": handle,
                "name": name,
                "tier": "vip",
                "spent": 240.5,
                "last_active": "2026-11-01",
            },
        )
        assert added["content"].startswith("Added @"), added["content"]
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    fan = await bot.assistant.store.fans.get(account, "mia")
    assert fan is not None and fan.total_spent == Decimal("240.5") and fan.tier == "vip"

    typing = await bot.fake.autocomplete("personalize", "handle", "mi")
    response = await bot.fake.wait_for_response(typing)
    assert response.type == 8
    assert response.data is not None
    assert sorted(c["value"] for c in response.data["choices"]) == ["mia", "milo"]

    # Another user has no fans: nothing to offer.
    other = await bot.fake.autocomplete("personalize", "handle", "", user_id=4242)
    assert (await bot.fake.wait_for_response(other)).data == {"choices": []}


async def test_stats_for_one_platform_autocompletes_the_creators_platforms(bot: World) -> None:
    await bot.slash("help", {})  # the account exists
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    noon = datetime(2026, 11, 20, 12, tzinfo=UTC)
    earnings = [
        Transaction(f"k{i}", noon, Decimal(amount), "USD", "tip", platform=platform)
        for i, (amount, platform) in enumerate((("40", "fansly"), ("25", "fanvue"), ("9", "")))
    ]
    await bot.assistant.store.earnings.add_many(account, earnings)
    typing = await bot.fake.autocomplete("stats", "platform", "fa")
    response = await bot.fake.wait_for_response(typing)
    assert response.data is not None
    assert [(c["value"], c["name"]) for c in response.data["choices"]] == [
        ("fansly", "Fansly"),
        ("fanvue", "Fanvue"),
    ]
    other = await bot.fake.autocomplete("stats", "platform", "", user_id=4242)
    assert (await bot.fake.wait_for_response(other)).data == {"choices": []}
    answers = await bot.slash("stats", {"period": "30d", "platform": "Fanvue"})  # typed, not picked
    content = "\n".join(a.get("content") or "" for a in answers)
    assert "**Earnings on Fanvue — the last 30 days**" in content
    assert "Revenue **$25.00**" in content
    # /sold takes the same option: picked from the list, or typed ("OF")
    sold_typing = await bot.fake.autocomplete("sold", "platform", "fans")
    sold_choices = (await bot.fake.wait_for_response(sold_typing)).data
    assert sold_choices == {"choices": [{"name": "Fansly", "value": "fansly"}]}
    answers = await bot.slash("sold", {"price": 9.99, "count": 2, "platform": "OF"})
    content = "\n".join(a.get("content") or "" for a in answers)
    assert "Recorded 2 offers at $9.99 (PPV) on OnlyFans, sold." in content, content


async def test_time_zone_autocompletes_and_is_set_by_slash_command(bot: World) -> None:
    typing = await bot.fake.autocomplete("timezone", "zone", "berl")
    response = await bot.fake.wait_for_response(typing)
    assert response.data is not None
    now = bot.assistant.clock.now().astimezone(ZoneInfo("Europe/Berlin"))
    assert response.data["choices"] == [
        {"name": f"Europe/Berlin · {now:%H:%M} now", "value": "Europe/Berlin"}
    ]
    [answer] = await bot.slash("timezone", {"zone": "Europe/Berlin"})
    assert answer["content"].startswith("Time zone set: Europe/Berlin"), answer["content"]
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    profile = await bot.assistant.store.profiles.get(account)
    assert profile is not None and profile.timezone == "Europe/Berlin"


async def test_autocomplete_names_the_creators_vault_files(bot: World) -> None:
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    other = await bot.account_id("discord", "4242")
    assert bot.assistant.vault is not None
    add = bot.assistant.vault.add_bytes
    beach, _ = await add(account, b"%PDF-1.4\nbeach", "beach-day.pdf", "application/pdf", [], "t")
    gym, _ = await add(account, b"%PDF-1.4\ngym", "gym.pdf", "application/pdf", ["leg"], "t")
    await add(other, b"%PDF-1.4\nnot yours", "beach-secret.pdf", "application/pdf", [], "t")

    typing = await bot.fake.autocomplete("vault", "asset_id", "")
    response = await bot.fake.wait_for_response(typing)
    assert response.data is not None
    assert response.data["choices"] == [
        {"name": f"#{gym.id} gym.pdf · 1 KB", "value": gym.id},
        {"name": f"#{beach.id} beach-day.pdf · 1 KB", "value": beach.id},
    ]
    by_name = await bot.fake.autocomplete("vault", "asset_id", "beach")
    assert [c["value"] for c in (await bot.fake.wait_for_response(by_name)).data["choices"]] == [
        beach.id
    ]
    by_tag = await bot.fake.autocomplete("vault", "asset_id", "leg")
    assert [c["value"] for c in (await bot.fake.wait_for_response(by_tag)).data["choices"]] == [
        gym.id
    ]


# ---------------------------------------------------------------- files


async def test_an_uploaded_photo_is_stored_in_the_vault(bot: World) -> None:
    png = tiny_png()
    attachment = bot.fake.add_attachment("beach day.png", png, "image/png")
    [answer] = await bot.slash("upload", {"file": attachment, "caption": "#beach #summer"})
    assert answer["content"].startswith("Stored 1 file in your vault"), answer["content"]
    assert bot.fake.cdn_downloads == [attachment["id"]]

    account = await bot.account_id("discord", DEFAULT_USER_ID)
    [asset] = await bot.assistant.store.assets.list(account)
    assert asset.sha256 == hashlib.sha256(png).hexdigest()
    assert asset.mime == "image/png" and asset.tags == ["beach", "summer"]
    assert asset.source == "discord"
    assert await bot.blobs.get(asset.blob_key) == png
    assert custom_ids(answer) == [f"vault:cap:{asset.id}"]

    again = bot.fake.add_attachment("copy.png", png, "image/png")
    [repeat] = await bot.slash("upload", {"file": again})
    assert "Already in your vault" in repeat["content"]
    assert len(await bot.assistant.store.assets.list(account)) == 1


async def test_a_csv_attachment_goes_to_the_importer(bot: World) -> None:
    data = b"date,amount,fan\n2026-11-01,20.00,mia\n2026-11-02,35.50,zoe\n"
    attachment = bot.fake.add_attachment("earnings.csv", data, "text/csv")
    [answer] = await bot.slash("upload", {"file": attachment})
    assert answer["content"] == "Imported 2 rows from earnings.csv."
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    assert bot.importer.files == [(account, "earnings.csv", data)]
    assert await bot.assistant.store.assets.list(account) == []  # imported, not vaulted
    # Where the earnings were made, said in the upload's caption.
    again = bot.fake.add_attachment("november.csv", data, "text/csv")
    await bot.slash("upload", {"file": again, "caption": "my Fansly export"})
    assert bot.importer.platforms == [None, "fansly"]


async def test_files_sent_in_a_dm_arrive_as_one_album(bot: World) -> None:
    first = bot.fake.add_attachment("a.png", tiny_png(2, 2), "image/png")
    second = bot.fake.add_attachment("b.png", tiny_png(3, 3), "image/png")
    await bot.fake.user_message("gym set #gym", dm=True, attachments=[first, second])
    dm = bot.fake.dm_channel(DEFAULT_USER_ID)["id"]

    def bot_replies() -> list[JSON]:
        return [
            m for m in bot.fake.channel_messages(dm) if m["author"]["id"] == bot.fake.bot_user["id"]
        ]

    [reply] = await bot.fake.wait_for(bot_replies, timeout=5)
    assert reply["content"].startswith("Stored 2 files in your vault")
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    assets = await bot.assistant.store.assets.list(account)
    assert len(assets) == 2 and all(a.tags == ["gym"] for a in assets)


async def test_a_price_test_splits_a_mass_message_from_a_button_and_a_typed_number(
    bot: World,
) -> None:
    # In a server Discord cannot read typed text: the question gets "Type an answer".
    [started] = await bot.slash("price", {"action": "test", "ladder": "7.99 9.99 14.99"})
    assert "Price test started" in started["content"], started["content"]
    ask = await bot.fake.button_press("cmd:price split ppv", started["id"])
    [question] = await bot.answer(ask)
    assert "How many fans will get your next PPV mass message?" in question["content"]
    assert ANSWER_ACTION in custom_ids(question) and "wz:x" in custom_ids(question)
    opened = await bot.fake.button_press(ANSWER_ACTION, question["id"])
    await bot.fake.wait_for_response(opened)
    await bot.settled(await bot.fake.modal_submit(ANSWER_MODAL, {ANSWER_FIELD: "1,500"}))
    answer = bot.fake.message(question["id"])
    assert answer is not None and "mass message to 1,500 fans" in answer["content"], answer
    groups = re.findall(r"([\d,]+) fans at \$([\d.]+)", answer["content"])
    assert sum(int(n.replace(",", "")) for n, _ in groups) == 1500
    assert {price for _, price in groups} <= {"7.99", "9.99", "14.99"}


# ---------------------------------------------------------------- the profile wizard


async def test_profile_wizard_buttons_update_in_place_and_a_modal_takes_typed_answers(
    bot: World,
) -> None:
    [question] = await bot.slash("profile")
    assert "Profile 1/8" in question["content"]
    ids = custom_ids(question)
    assert "wz:t:fitness" in ids and ANSWER_ACTION in ids
    assert len(question["components"]) <= 5
    assert all(len(row["components"]) <= 5 for row in question["components"])

    # A choice button: acknowledged as an update, the question is edited in place.
    press = await bot.fake.button_press("wz:t:fitness", question["id"])
    await bot.settled(press)
    assert bot.fake.responses_for(press)[0].type == 6
    edited = bot.fake.message(question["id"])
    assert edited is not None and "Chosen: fitness" in edited["content"]
    chosen = [
        c
        for row in edited["components"]
        for c in row["components"]
        if c["custom_id"] == "wz:t:fitness"
    ]
    assert chosen[0]["label"].startswith("✓") and chosen[0]["style"] == 3

    # "Type an answer" opens a modal; the submitted text is the answer to the step.
    opened = await bot.fake.button_press(ANSWER_ACTION, question["id"])
    modal = await bot.fake.wait_for_response(opened)
    assert modal.type == 9
    assert modal.data is not None and modal.data["custom_id"] == ANSWER_MODAL
    submitted = await bot.fake.modal_submit(ANSWER_MODAL, {ANSWER_FIELD: "yoga, dance"})
    await bot.settled(submitted)
    step2 = bot.fake.message(question["id"])
    assert step2 is not None and "Profile 2/8" in step2["content"], step2
    assert "wz:t:instagram" in custom_ids(step2)

    # The core wizard kept the typed answer.
    for step in ("wz:t:instagram", "wz:n", "wz:t:photo", "wz:n", "wz:n", "wz:n", "wz:n"):
        await bot.settled(await bot.fake.button_press(step, question["id"]))
    await bot.settled(await bot.fake.button_press("wz:t:playful", question["id"]))
    opened = await bot.fake.button_press(ANSWER_ACTION, question["id"])
    await bot.fake.wait_for_response(opened)
    await bot.settled(await bot.fake.modal_submit(ANSWER_MODAL, {ANSWER_FIELD: "skip"}))
    done = bot.fake.message(question["id"])
    assert done is not None and done["content"].startswith("Saved!"), done["content"]
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    profile = await bot.assistant.store.profiles.get(account)
    assert profile is not None
    assert profile.niches == ["yoga", "dance"] and profile.platforms == ["instagram"]


# ---------------------------------------------------------------- delivery


async def test_a_rate_limited_followup_is_retried_not_lost(bot: World) -> None:
    once = bot.fake.fail_next("POST /webhooks/*", status=429, retry_after=0.01)
    [answer] = await bot.slash("help")
    assert answer["content"].startswith("**What I can do**")
    assert len(once.hits) == 1

    # Beyond discord.py's own five tries the adapter waits and tries again.
    stubborn = bot.fake.fail_next("POST /webhooks/*", status=429, retry_after=0.01, times=6)
    handle = await bot.fake.slash_command("help")
    [answer] = await bot.answer(handle)
    assert answer["content"].startswith("**What I can do**")
    assert len(stubborn.hits) == 6
    statuses = [r.status for r in bot.fake.requests if r.path.startswith("/webhooks/")]
    assert statuses[-7:] == [429] * 6 + [200]


async def test_when_followups_keep_failing_the_answer_goes_to_a_dm(bot: World) -> None:
    bot.fake.fail_next("POST /webhooks/*", status=429, retry_after=0.01, times=100)
    handle = await bot.fake.slash_command("help")
    await bot.settled(handle)
    assert bot.fake.followups_for(handle) == []
    dm = bot.fake.dm_channel(DEFAULT_USER_ID)["id"]
    [private] = bot.fake.channel_messages(dm)
    assert private["content"].startswith("**What I can do**")
    public = [m for m in bot.fake.channel_messages(bot.fake.channel_id) if not m["flags"] & 64]
    assert [m for m in public if "What I can do" in m["content"]] == []


async def test_with_dms_closed_the_channel_only_hears_that_an_answer_waits(bot: World) -> None:
    bot.fake.block_dms(DEFAULT_USER_ID)
    bot.fake.fail_next("POST /webhooks/*", status=429, retry_after=0.01, times=100)
    handle = await bot.fake.slash_command("profile", {"action": "set", "rest": PROFILE})
    await bot.settled(handle)
    [note] = [
        m
        for m in bot.fake.channel_messages(bot.fake.channel_id)
        if m["author"]["id"] == bot.fake.bot_user["id"] and not m["flags"] & EPHEMERAL
    ]
    assert note["content"].startswith(f"<@{DEFAULT_USER_ID}> your answer is ready")
    assert "Fitness" not in note["content"]  # the private answer itself stays private


async def test_a_file_a_boosted_server_takes_becomes_a_note_in_the_dm_fallback(
    bot: World,
) -> None:
    # The server allows 25 MiB (boosts), a DM 10 MiB: the answer, rendered for the server,
    # must not be refused as a DM (and the user told their DMs are closed) when it goes there.
    bot.fake.attachment_size_limit = 25 * 1024 * 1024
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    assert bot.assistant.vault is not None
    big = b"%PDF-1.4\n" + bytes(12 * 1024 * 1024)
    asset, _ = await bot.assistant.vault.add_bytes(
        account, big, "big.pdf", "application/pdf", [], "test"
    )
    small, _ = await bot.assistant.vault.add_bytes(
        account, b"%PDF-1.4\nsmall", "small.pdf", "application/pdf", [], "test"
    )
    bot.fake.fail_next("POST /webhooks/*", status=429, retry_after=0.01, times=100)
    for item in (asset, small):
        handle = await bot.fake.slash_command("vault", {"action": "send", "asset_id": item.id})
        await bot.settled(handle)
    dm = bot.fake.dm_channel(DEFAULT_USER_ID)["id"]
    note, sent = bot.fake.channel_messages(dm)
    assert "big.pdf is 12.0 MB: more than Discord lets me send (10.0 MB)" in note["content"]
    assert f"`GET /api/v1/assets/{asset.id}/content` on the uploads API" in note["content"]
    assert note["attachments"] == []
    assert [a["filename"] for a in sent["attachments"]] == ["small.pdf"]
    channel = bot.fake.channel_messages(bot.fake.channel_id)
    assert [m for m in channel if "can't send you a DM" in m["content"]] == []


async def test_a_notice_with_a_chart_is_a_direct_message_with_the_image(bot: World) -> None:
    # What a scheduled summary sends: its text and its chart, as a DM; no buttons.
    await bot.slash("start", {})  # the Discord identity becomes an account
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    chart = b"\x89PNG\r\n\x1a\n" + b"chart" * 10
    summary = Reply(
        blocks=[TextBlock("**Your daily summary**"), ImageBlock(png=chart, caption="Revenue")],
        buttons=[[Button("7d", "cmd:stats 7d")]],
    )
    assert bot.adapter is not None
    await bot.adapter.notify(account, summary)
    dm = bot.fake.dm_channel(DEFAULT_USER_ID)["id"]
    text, image = bot.fake.channel_messages(dm)
    assert text["content"] == "**Your daily summary**" and text["attachments"] == []
    assert image["content"] == "Revenue"
    assert [a["filename"] for a in image["attachments"]] == ["image.png"]
    assert not text.get("components") and not image.get("components")


async def test_past_14_minutes_the_token_is_not_used(
    world: World,
) -> None:
    clock = world.clock

    class SlowAssistant(Assistant):
        async def handle(self, incoming: Incoming) -> Reply:
            reply = await super().handle(incoming)
            clock.advance(14.5 * 60)  # the answer took 14.5 minutes
            return reply

    a = world.assistant
    slow = SlowAssistant(
        store=a.store, generator=a.generator, kv=a.kv, clock=a.clock, blobs=a.blobs
    )
    async with world.running(world.make_adapter(assistant=slow)):
        in_server = await world.fake.slash_command("help")
        await world.settled(in_server)
        in_dm = await world.fake.slash_command("help", guild=False)
        await world.settled(in_dm)
    assert world.fake.requests_matching("POST /webhooks/*") == []
    assert world.fake.requests_matching("PATCH /webhooks/*") == []
    dm = world.fake.dm_channel(DEFAULT_USER_ID)["id"]
    answers = [m for m in world.fake.channel_messages(dm) if "What I can do" in m["content"]]
    assert len(answers) == 2  # the private server answer by DM, the DM answer in the DM
    general = world.fake.channel_messages(world.fake.channel_id)
    assert [m for m in general if "What I can do" in m["content"]] == []


async def test_long_answers_are_split_under_2000_characters(bot: World) -> None:
    account = await bot.account_id("discord", DEFAULT_USER_ID)
    for n in range(50):
        await bot.assistant.fans.save(
            account,
            FanPatch(f"fan_number_{n:02d}_with_a_long_handle", {"name": f"Name {n} " + "x" * 20}),
        )
    messages = await bot.slash("fans")
    assert len(messages) >= 3
    assert all(0 < len(m["content"]) <= MAX_CONTENT for m in messages)
    text = text_of(messages)
    assert text.startswith("**50 fans**")
    for n in range(50):
        assert f"fan\\_number\\_{n:02d}\\_with\\_a\\_long\\_handle" in text  # escaped once
    assert all(m["flags"] & EPHEMERAL for m in messages)
    # Lines are never cut: every message ends at a fan line's end.
    assert all(m["content"].endswith("activity unknown") for m in messages)


# ---------------------------------------------------------------- identity


async def test_dms_and_server_channels_are_separate_chats_of_one_account(bot: World) -> None:
    await set_profile(bot, guild=False)  # in the DM
    handle = await bot.fake.slash_command("profile", {"action": "show"})  # in the server
    [shown] = await bot.answer(handle)
    assert shown["flags"] & EPHEMERAL and shown["channel_id"] == bot.fake.channel_id
    assert "Fitness" in shown["content"]

    in_dm = await bot.fake.slash_command("help", guild=False)
    [answer] = await bot.answer(in_dm)
    assert not answer["flags"] & EPHEMERAL
    assert answer["channel_id"] == bot.fake.dm_channel(DEFAULT_USER_ID)["id"]

    # A wizard started in the server is not continued by text typed in the DM.
    await bot.slash("profile")
    await bot.fake.user_message("cosplay", dm=True)
    dm = bot.fake.dm_channel(DEFAULT_USER_ID)["id"]
    [reply] = await bot.fake.wait_for(
        lambda: [
            m
            for m in bot.fake.channel_messages(dm)
            if m["author"]["id"] == bot.fake.bot_user["id"]
            and "I didn't catch that" in m["content"]
        ],
        timeout=5,
    )
    assert reply is not None

    # Another Discord user is another account.
    other = await bot.fake.slash_command("profile", {"action": "show"}, user_id=777)
    [theirs] = await bot.answer(other)
    assert theirs["content"].startswith("You have no profile yet")


async def test_link_joins_a_telegram_and_a_discord_identity(bot: World) -> None:
    telegram = ExternalUser("telegram", "555000", username="mia", display_name="Mia")

    async def on_telegram(text: str) -> Reply:
        return await bot.assistant.handle(Incoming(user=telegram, chat_id="555000", text=text))

    set_on_telegram = await on_telegram(
        "/profile set niches=cosplay platforms=tiktok content_types=video"
    )
    assert set_on_telegram.plain_text.startswith("Updated.")
    code = (await on_telegram("/link")).result["code"]

    [linked] = await bot.slash("link", {"code": code.lower()})
    assert linked["content"].startswith("Linked!")
    assert await bot.account_id("discord", DEFAULT_USER_ID) == await bot.account_id(
        "telegram", "555000"
    )

    [shown] = await bot.slash("profile", {"action": "show"})
    assert "Cosplay" in shown["content"] and "TikTok" in shown["content"]

    [reused] = await bot.slash("link", {"code": code})
    assert "unknown or has expired" in reused["content"]  # one-time
