"""The fake Discord against the REAL discord.py client: login, gateway, commands, interactions."""

from __future__ import annotations

import asyncio
import hashlib
import io
import struct
import zlib
from collections.abc import AsyncIterator

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakes.discord_api import (
    DEFAULT_USER_ID,
    FakeDiscord,
    point_discord_py_at,
    running_client,
)

NICHES = ["fitness", "fashion", "food", "finance", "travel"]


class PersistentMenu(discord.ui.View):
    """Buttons with fixed custom_ids, registered once at start-up (survives restarts)."""

    def __init__(self, log: list[str]) -> None:
        super().__init__(timeout=None)
        self.log = log

    @discord.ui.button(label="Save", custom_id="menu:save", style=discord.ButtonStyle.primary)
    async def save(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        assert interaction.message is not None
        self.log.append(f"save by {interaction.user.id} on {interaction.message.id}")
        await interaction.response.edit_message(content="Saved ✅", view=None)

    @discord.ui.button(label="More", custom_id="menu:more")
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        await interaction.response.send_message("More ideas coming", ephemeral=True)

    @discord.ui.select(
        custom_id="menu:niche",
        options=[discord.SelectOption(label=n, value=n) for n in ("food", "travel")],
        row=1,
    )
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select) -> None:
        await interaction.response.send_message(f"niche {select.values[0]}", ephemeral=True)


class FeedbackModal(discord.ui.Modal, title="Feedback"):
    topic: discord.ui.TextInput = discord.ui.TextInput(
        label="Topic", custom_id="feedback:topic", max_length=50
    )
    body: discord.ui.TextInput = discord.ui.TextInput(
        label="Details",
        custom_id="feedback:body",
        style=discord.TextStyle.paragraph,
        required=False,
    )

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(
            f"Thanks! topic={self.topic.value} body={self.body.value}", ephemeral=True
        )


class BotUnderTest(discord.Client):
    def __init__(self, intents: discord.Intents | None = None) -> None:
        super().__init__(intents=intents or discord.Intents.default())
        self.tree = app_commands.CommandTree(self)
        self.log: list[str] = []
        self.error_codes: list[int] = []
        self.gate = asyncio.Event()
        self.resumed = asyncio.Event()
        self.seen: list[tuple[bool, str, int]] = []
        self._register()

    async def setup_hook(self) -> None:
        self.add_view(PersistentMenu(self.log))

    async def on_resumed(self) -> None:
        self.resumed.set()

    async def on_message(self, message: discord.Message) -> None:
        if message.author != self.user:
            self.seen.append((message.guild is None, message.content, len(message.attachments)))

    def _register(self) -> None:
        tree = self.tree

        @tree.command(description="Content ideas")
        @app_commands.describe(count="How many", topic="About what")
        async def ideas(
            interaction: discord.Interaction, count: int, topic: str | None = None
        ) -> None:
            await interaction.response.defer(thinking=True)
            self.log.append(f"ideas guild={interaction.guild_id} dm={interaction.guild is None}")
            await interaction.followup.send(f"{count} ideas about {topic or 'anything'}")

        @tree.command(description="Show the menu")
        async def menu(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("Pick one", view=PersistentMenu(self.log))

        @tree.command(description="Send feedback")
        async def feedback(interaction: discord.Interaction) -> None:
            await interaction.response.send_modal(FeedbackModal(custom_id="feedback"))

        @tree.command(description="Upload a file")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            digest = hashlib.sha256(data).hexdigest()[:16]
            await interaction.response.send_message(f"{file.filename} {len(data)} {digest}")

        @tree.command(description="Pick a niche")
        async def niche(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(f"niche={name}")

        @niche.autocomplete("name")
        async def niche_names(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            return [app_commands.Choice(name=n, value=n) for n in NICHES if n.startswith(current)]

        @tree.command(description="Get the draft in DMs")
        async def dm(interaction: discord.Interaction) -> None:
            draft = discord.File(io.BytesIO(b"draft body"), filename="draft.txt")
            await interaction.user.send("Your draft is ready", file=draft)
            await interaction.response.send_message("Sent you a DM", ephemeral=True)

        @tree.command(description="Report progress")
        async def status(interaction: discord.Interaction) -> None:
            await interaction.response.defer(thinking=True)
            await interaction.edit_original_response(content="working")
            original = await interaction.original_response()
            extra = await interaction.followup.send(f"part 2 after {original.content}", wait=True)
            await extra.delete()

        @tree.command(description="Answers late")
        async def slow(interaction: discord.Interaction) -> None:
            await self.gate.wait()
            try:
                await interaction.response.defer()
            except discord.HTTPException as exc:
                self.error_codes.append(exc.code)

        @tree.command(description="Too long an answer")
        async def toolong(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("x" * 2001)
            except discord.HTTPException as exc:
                self.error_codes.append(exc.code)
                await interaction.response.send_message("too long rejected")


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_750_000_000.0

    def __call__(self) -> float:
        return self.now


def tiny_png(width: int = 2, height: int = 3) -> bytes:
    def chunk(tag: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(tag + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        with point_discord_py_at(server):
            yield server
        assert server.server_errors == []


@pytest.fixture
async def bot(fake: FakeDiscord) -> AsyncIterator[BotUnderTest]:
    async with running_client(BotUnderTest(), fake) as client:
        yield client


async def test_client_logs_in_connects_and_reaches_ready(
    fake: FakeDiscord, bot: BotUnderTest
) -> None:
    assert bot.is_ready()
    assert bot.user is not None and bot.user.id == int(fake.bot_user["id"])
    assert bot.application_id == int(fake.application_id)
    guild = bot.get_guild(int(fake.guild_id))
    assert guild is not None
    channel = guild.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel) and channel.name == "general"

    assert [r.path for r in fake.requests[:2]] == ["/users/@me", "/oauth2/applications/@me"]
    assert fake.requests[0].headers["Authorization"] == f"Bot {fake.token}"
    [identify] = fake.identify_payloads
    assert identify["intents"] == discord.Intents.default().value
    [connection] = fake.gateway_connections
    assert connection.compress == "zlib-stream"
    assert connection.query["v"] == "10" and connection.query["encoding"] == "json"
    assert connection.heartbeats >= 1
    assert [e["t"] for e in connection.sent if e["op"] == 0][:2] == ["READY", "GUILD_CREATE"]


async def test_tree_sync_records_global_and_guild_commands(
    fake: FakeDiscord, bot: BotUnderTest
) -> None:
    synced = await bot.tree.sync()
    names = {"ideas", "menu", "feedback", "upload", "niche", "dm", "status", "slow", "toolong"}
    assert {c.name for c in synced} == names
    assert {c["name"] for c in fake.synced_commands} == names
    ideas = next(c for c in fake.synced_commands if c["name"] == "ideas")
    assert [(o["name"], o["type"], o.get("required", False)) for o in ideas["options"]] == [
        ("count", 4, True),
        ("topic", 3, False),
    ]
    assert next(c for c in synced if c.name == "ideas").id == int(ideas["id"])

    again = await bot.tree.sync()
    assert {c.id for c in again} == {c.id for c in synced}  # ids survive a re-sync

    guild = discord.Object(int(fake.guild_id))
    bot.tree.copy_global_to(guild=guild)
    await bot.tree.sync(guild=guild)
    assert {c["name"] for c in fake.guild_commands[fake.guild_id]} == names
    assert [record.guild_id for record in fake.sync_history] == [None, None, fake.guild_id]


async def test_slash_command_defers_then_follows_up(fake: FakeDiscord, bot: BotUnderTest) -> None:
    await bot.tree.sync()
    handle = await fake.slash_command("ideas", {"count": 3, "topic": "beach"})
    [followup] = await fake.wait_for_followups(handle)

    [response] = fake.responses_for(handle)
    assert response.type == 5
    assert response.message is not None and response.message["flags"] & 128  # "thinking..."
    assert followup.message["content"] == "3 ideas about beach"
    assert followup.replaced_deferred
    original = fake.original_message(handle)
    assert original is not None
    assert original["content"] == "3 ideas about beach" and not original["flags"] & 128
    assert bot.log == [f"ideas guild={fake.guild_id} dm=False"]

    in_dm = await fake.slash_command("ideas", {"count": 1}, guild=False)
    [dm_followup] = await fake.wait_for_followups(in_dm)
    assert dm_followup.message["channel_id"] == fake.dm_channel(DEFAULT_USER_ID)["id"]
    assert bot.log[-1] == "ideas guild=None dm=True"


async def test_slash_command_options_are_checked_against_synced_schema(
    fake: FakeDiscord, bot: BotUnderTest
) -> None:
    await bot.tree.sync()
    with pytest.raises(TypeError):
        await fake.slash_command("ideas", {"count": "three"})
    with pytest.raises(ValueError, match="required"):
        await fake.slash_command("ideas", {"topic": "beach"})
    with pytest.raises(ValueError, match="not part"):
        await fake.slash_command("ideas", {"count": 1, "colour": "red"})


async def test_button_press_is_handled_by_the_persistent_view(
    fake: FakeDiscord, bot: BotUnderTest
) -> None:
    # A menu the bot posted before a restart: only the persistent view can answer it.
    row = {
        "type": 1,
        "components": [{"type": 2, "style": 1, "label": "Save", "custom_id": "menu:save"}],
    }
    old = fake.add_bot_message("Pick one", components=[row])
    handle = await fake.button_press("menu:save", old["id"])
    response = await fake.wait_for_response(handle)
    assert response.type == 7
    updated = fake.message(old["id"])
    assert updated is not None
    assert updated["content"] == "Saved ✅" and updated["components"] == []
    assert bot.log == [f"save by {DEFAULT_USER_ID} on {old['id']}"]

    # A menu sent in this run: its buttons are on the recorded message.
    shown = await fake.wait_for_response(await fake.slash_command("menu"))
    assert shown.message is not None
    more = await fake.button_press("menu:more", shown.message["id"])
    answer = await fake.wait_for_response(more)
    assert answer.type == 4
    assert answer.message is not None
    assert answer.message["content"] == "More ideas coming" and answer.message["flags"] & 64

    picked = await fake.select_menu("menu:niche", ["travel"], shown.message["id"])
    chosen = await fake.wait_for_response(picked)
    assert chosen.message is not None and chosen.message["content"] == "niche travel"


async def test_modal_submit_is_handled(fake: FakeDiscord, bot: BotUnderTest) -> None:
    opened = await fake.wait_for_response(await fake.slash_command("feedback"))
    assert opened.type == 9
    assert opened.data is not None and opened.data["custom_id"] == "feedback"
    assert opened.data["title"] == "Feedback"

    submitted = await fake.modal_submit(
        "feedback", {"feedback:topic": "beach", "feedback:body": "more please"}
    )
    answer = await fake.wait_for_response(submitted)
    assert answer.type == 4
    assert answer.message is not None
    assert answer.message["content"] == "Thanks! topic=beach body=more please"


async def test_attachment_option_bytes_are_downloaded(fake: FakeDiscord, bot: BotUnderTest) -> None:
    png = tiny_png()
    attachment = fake.add_attachment("beach photo.png", png, "image/png")
    assert attachment["filename"] == "beach_photo.png"
    assert (attachment["width"], attachment["height"]) == (2, 3)

    handle = await fake.slash_command("upload", {"file": attachment})
    response = await fake.wait_for_response(handle)
    digest = hashlib.sha256(png).hexdigest()[:16]
    assert response.message is not None
    assert response.message["content"] == f"beach_photo.png {len(png)} {digest}"
    assert fake.cdn_downloads == [attachment["id"]]


async def test_rate_limited_followup_is_waited_out(fake: FakeDiscord, bot: BotUnderTest) -> None:
    limited = fake.fail_next("POST /webhooks/*", status=429, retry_after=0.05)
    handle = await fake.slash_command("ideas", {"count": 2})
    [followup] = await fake.wait_for_followups(handle)
    assert followup.message["content"] == "2 ideas about anything"
    assert len(limited.hits) == 1
    assert [r.status for r in fake.requests_matching("POST /webhooks/*")] == [429, 200]

    # The bot's own REST calls go through discord.py's bucket logic; a global 429 too.
    channel = bot.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel)
    fake.fail_next("POST /channels/{channel_id}/messages", retry_after=0.05, global_=True)
    sent = await channel.send("hello")
    assert fake.message(sent.id) is not None
    statuses = [r.status for r in fake.requests_matching("POST /channels/*/messages")]
    assert statuses == [429, 200]


async def test_discord_message_limits_are_enforced(fake: FakeDiscord, bot: BotUnderTest) -> None:
    channel = bot.get_channel(int(fake.channel_id))
    assert isinstance(channel, discord.TextChannel)
    with pytest.raises(discord.HTTPException) as too_long:
        await channel.send("x" * 2001)
    assert (too_long.value.status, too_long.value.code) == (400, 50035)
    with pytest.raises(discord.HTTPException) as too_big:
        await channel.send(embeds=[discord.Embed(description="y" * 3500) for _ in range(2)])
    assert too_big.value.code == 50035
    assert fake.channel_messages(fake.channel_id) == []

    async with aiohttp.ClientSession() as http:
        response = await http.post(
            f"{fake.api_base}/channels/{fake.channel_id}/messages",
            json={"embeds": [{"title": str(i)} for i in range(11)]},
            headers={"Authorization": f"Bot {fake.token}"},
        )
        body = await response.json()
    assert response.status == 400 and body["code"] == 50035
    assert body["errors"]["embeds"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"

    handle = await fake.slash_command("toolong")
    response_record = await fake.wait_for_response(handle)
    assert bot.error_codes == [50035]
    assert response_record.message is not None
    assert response_record.message["content"] == "too long rejected"


async def test_dm_with_file_is_recorded_and_downloadable(
    fake: FakeDiscord, bot: BotUnderTest
) -> None:
    handle = await fake.slash_command("dm")
    await fake.wait_for_response(handle)
    dm_id = fake.dm_channel(DEFAULT_USER_ID)["id"]
    [message] = await fake.wait_for(lambda: fake.channel_messages(dm_id))
    assert message["content"] == "Your draft is ready"
    [attachment] = message["attachments"]
    assert attachment["filename"] == "draft.txt" and attachment["content_type"] == "text/plain"
    async with aiohttp.ClientSession() as http, http.get(attachment["url"]) as download:
        assert await download.read() == b"draft body"
    assert fake.requests_matching("POST /users/@me/channels")


async def test_original_response_edit_and_followup_delete(
    fake: FakeDiscord, bot: BotUnderTest
) -> None:
    handle = await fake.slash_command("status")
    [followup] = await fake.wait_for_followups(handle)
    await fake.wait_for(lambda: followup.message["id"] in fake.deleted_message_ids)
    original = fake.original_message(handle)
    assert original is not None and original["content"] == "working"
    assert not followup.replaced_deferred  # the original was already edited
    assert followup.message["content"] == "part 2 after working"
    assert fake.message(followup.message["id"]) is None
    assert [e.payload.get("content") for e in fake.edits] == ["working"]
    assert fake.requests_matching("GET /webhooks/*/messages/@original")


async def test_user_messages_respect_the_message_content_intent(
    fake: FakeDiscord, bot: BotUnderTest
) -> None:
    photo = fake.add_attachment("me.png", tiny_png())
    await fake.user_message("hello everyone")
    await fake.user_message("hello bot", mentions_bot=True)
    await fake.user_message("here is a photo", dm=True, attachments=[photo])
    await fake.wait_for(lambda: len(bot.seen) == 3)
    mention = f"<@{fake.bot_user['id']}> hello bot"
    assert bot.seen == [(False, "", 0), (False, mention, 0), (True, "here is a photo", 1)]


async def test_autocomplete_choices_are_recorded(fake: FakeDiscord, bot: BotUnderTest) -> None:
    await bot.tree.sync()
    handle = await fake.autocomplete("niche", "name", "fi")
    response = await fake.wait_for_response(handle)
    assert response.type == 8
    assert response.data is not None
    assert [c["value"] for c in response.data["choices"]] == ["fitness", "finance"]


async def test_client_resumes_and_gets_missed_events(fake: FakeDiscord, bot: BotUnderTest) -> None:
    await fake.drop_connections()
    # Dispatched while the client is away: replayed after RESUME.
    handle = await fake.slash_command("ideas", {"count": 4})
    [followup] = await fake.wait_for_followups(handle)
    assert followup.message["content"] == "4 ideas about anything"
    await asyncio.wait_for(bot.resumed.wait(), 2)
    assert fake.resumes == 1
    assert fake.gateway_connections[-1].path == "/gateway-resume"
    assert len(fake.identify_payloads) == 1


async def test_wrong_token_and_privileged_intents_are_refused(fake: FakeDiscord) -> None:
    with pytest.raises(discord.LoginFailure):
        async with running_client(BotUnderTest(), fake, token="not-the-token"):
            pass
    intents = discord.Intents.default()
    intents.message_content = True
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with running_client(BotUnderTest(intents=intents), fake):
            pass


async def test_first_response_after_three_seconds_is_refused() -> None:
    clock = ManualClock()
    async with FakeDiscord(clock=clock) as server:
        with point_discord_py_at(server):
            async with running_client(BotUnderTest(), server) as client:
                handle = await server.slash_command("slow")
                clock.now += 3.5
                client.gate.set()
                await server.wait_for(lambda: client.error_codes)
                assert client.error_codes == [10062]
                assert server.responses_for(handle) == []


async def test_raw_protocol_details(fake: FakeDiscord, bot: BotUnderTest) -> None:
    auth = {"Authorization": f"Bot {fake.token}"}
    handle = await fake.slash_command("ideas", {"count": 1})
    await fake.wait_for_followups(handle)
    async with aiohttp.ClientSession() as http:
        fake.fail_next("GET /users/@me", status=500)
        async with http.get(f"{fake.api_base}/users/@me", headers=auth) as failed:
            assert failed.status == 500
            assert failed.headers["Content-Type"] == "application/json"
        async with http.get(f"{fake.api_base}/users/@me", headers=auth) as ok:
            assert ok.status == 200 and (await ok.json())["id"] == fake.bot_user["id"]
        async with http.get(f"{fake.api_base}/users/@me") as anonymous:
            assert anonymous.status == 401
        callback = f"{fake.api_base}/interactions/{handle.id}/{handle.token}/callback"
        async with http.post(callback, json={"type": 4, "data": {"content": "again"}}) as twice:
            assert twice.status == 400 and (await twice.json())["code"] == 40060
        async with http.get(f"{fake.api_base}/gateway") as gateway:
            assert (await gateway.json())["url"] == fake.gateway_url
    with pytest.raises(TimeoutError):
        await fake.wait_for(lambda: False, timeout=0.05)
