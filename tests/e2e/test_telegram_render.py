"""The Telegram adapter's building blocks: HTML rendering and splitting, sending a Reply through
the real aiogram client to the local Bot API server, the per-chat pacer, the inbound throttle,
the album collector."""

from __future__ import annotations

import asyncio
import random
import struct
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from aiogram import Bot
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramNetworkError
from aiogram.types import Chat, Message, PhotoSize, User

from adapters.telegram.inbound import AlbumCollector, InboundGuard, TokenBucketLimiter
from adapters.telegram.outbound import ChatPacer, JsonBodySession, ReplySender
from adapters.telegram.render import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    OutDocument,
    OutPhoto,
    OutText,
    render_reply,
    split_html,
    to_html,
    u16len,
)
from core.chat import Button, FileBlock, ImageBlock, Reply, TextBlock, api_download, strip_markup
from tests.fakes.telegram_api import FakeTelegramAPI, parse_html
from tests.services import free_port

CHAT = 5151


def png(width: int = 4, height: int = 3) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x20\x40\x60" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def words(text: str) -> list[str]:
    return text.split()


# ---------------------------------------------------------------- HTML


def test_markup_becomes_escaped_html() -> None:
    html = to_html("**Tips & <tricks>** for _you_: `a<b>&c` and <script> & co")
    assert html == (
        "<b>Tips &amp; &lt;tricks&gt;</b> for <i>you</i>: <code>a&lt;b&gt;&amp;c</code> "
        "and &lt;script&gt; &amp; co"
    )
    plain, entities = parse_html(html)
    assert plain == "Tips & <tricks> for you: a<b>&c and <script> & co"
    assert [e["type"] for e in entities] == ["bold", "italic", "code"]


def test_escaped_markup_characters_stay_literal() -> None:
    html = to_html(r"price \*not bold\* and snake\_case")
    assert parse_html(html)[0] == "price *not bold* and snake_case"


def test_short_text_is_one_message() -> None:
    assert split_html("hello **world**") == ["hello <b>world</b>"]


def test_long_text_splits_on_line_boundaries() -> None:
    lines = [f"Line {n}: " + "x" * 90 for n in range(120)]  # ~12,000 characters
    pieces = split_html("\n".join(lines))
    assert len(pieces) == 3
    seen: list[str] = []
    for piece in pieces:
        plain, _ = parse_html(piece)
        assert 0 < len(plain) <= TEXT_LIMIT
        seen.extend(plain.split("\n"))
    assert seen == lines  # no line was cut, none lost, order kept


def test_text_without_newlines_splits_on_words() -> None:
    text = " ".join(f"w{n}" for n in range(3000))  # ~14,000 characters, one line
    pieces = split_html(text)
    assert len(pieces) > 1
    plains = [parse_html(p)[0] for p in pieces]
    assert all(len(p) <= TEXT_LIMIT for p in plains)
    assert words(" ".join(plains)) == words(text)


def test_bold_span_crossing_a_cut_is_closed_and_reopened() -> None:
    text = "intro\n**" + "bold words " * 600 + "end** & after <tail>"
    pieces = split_html(text)
    assert len(pieces) == 2
    for piece in pieces:
        plain, entities = parse_html(piece)  # valid HTML: balanced tags, escaped & and <
        assert len(plain) <= TEXT_LIMIT
        assert any(e["type"] == "bold" for e in entities)
    assert parse_html(pieces[1])[0].endswith("end & after <tail>")


def test_entities_are_never_cut() -> None:
    rng = random.Random(7)
    alphabet = ["&", "<", ">", "a", "b", " ", "\n", "é", "😀", "**", "_", "`"]
    for _ in range(30):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(4000, 9000)))
        pieces = split_html(text, limit=1000)
        total = ""
        for piece in pieces:
            plain, _ = parse_html(piece)  # raises on a cut entity or tag
            assert 0 < u16len(plain) <= 1000
            total += plain
        expected = strip_markup(text)
        assert "".join(expected.split()) == "".join(total.split())


def test_astral_characters_count_as_two_units() -> None:
    text = "😀" * 3000  # 3,000 characters, 6,000 UTF-16 units
    pieces = split_html(text)
    assert [u16len(parse_html(p)[0]) for p in pieces] == [4096, 6000 - 4096]


# ---------------------------------------------------------------- whole replies


def test_reply_layout_text_image_file_and_keyboard() -> None:
    reply = Reply(
        blocks=[
            TextBlock("**Stats**"),
            TextBlock("up 12%"),
            ImageBlock(png(), "chart _30d_"),
            FileBlock("report.csv", b"a,b\n1,2\n", "text/csv"),
            TextBlock("done"),
        ],
        buttons=[[Button("Again", "cmd:stats 30d")]],
    )
    items = render_reply(reply)
    assert items == [
        OutText("<b>Stats</b>\n\nup 12%"),
        OutPhoto(png(), "chart <i>30d</i>"),
        OutDocument("report.csv", b"a,b\n1,2\n", "text/csv"),
        OutText("done"),
    ]


def test_a_file_over_the_upload_limit_becomes_a_note() -> None:
    reply = Reply(
        blocks=[
            TextBlock("Here:"),
            FileBlock("big clip.mp4", b"x" * 2048, "video/mp4", api_download("/x/7")),
            FileBlock("small.csv", b"a,b\n", "text/csv"),
        ]
    )
    items = render_reply(reply, file_limit=1024)
    assert isinstance(items[0], OutText) and items[1:] == [
        OutDocument("small.csv", b"a,b\n", "text/csv")
    ]
    assert items[0].html.startswith("Here:\n\nbig clip.mp4 is 2 KB: more than Telegram lets")
    assert items[0].html.endswith(
        "<code>GET /x/7</code> on the uploads API (with a key from /apikey) downloads it."
    )
    assert render_reply(reply)[1] == OutDocument("big clip.mp4", b"x" * 2048, "video/mp4")


def test_long_caption_moves_to_the_next_message() -> None:
    caption = "c" * (CAPTION_LIMIT + 1)
    items = render_reply(Reply(blocks=[ImageBlock(png(), caption), TextBlock("next")]))
    assert items == [OutPhoto(png(), None), OutText(caption + "\n\nnext")]
    exact = render_reply(Reply(blocks=[ImageBlock(png(), "d" * CAPTION_LIMIT)]))
    assert exact == [OutPhoto(png(), "d" * CAPTION_LIMIT)]


def test_buttons_without_text_still_get_a_message() -> None:
    items = render_reply(Reply(buttons=[[Button("Go", "cmd:help")]]))
    assert len(items) == 1 and isinstance(items[0], OutText)


@pytest.fixture
async def tg() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
async def bot(tg: FakeTelegramAPI) -> AsyncIterator[Bot]:
    client = tg.make_bot()
    try:
        yield client
    finally:
        await client.session.close()


async def test_sender_delivers_long_reply_image_and_file(tg: FakeTelegramAPI, bot: Bot) -> None:
    long_text = "\n".join(f"**{n}.** idea <{n}> & more " + "y" * 60 for n in range(150))
    reply = Reply(
        blocks=[
            TextBlock(long_text),
            ImageBlock(png(8, 6), "x" * 1500),
            FileBlock("fans.csv", b"handle,spent\nann,10\n", "text/csv"),
        ],
        buttons=[[Button("More", "idea:more:1"), Button("Save", "idea:save:1")]],
    )
    delivered = await ReplySender().send(bot, CHAT, reply)
    methods = [s.method for s in tg.sent]
    pieces = len(methods) - 3
    assert pieces == 4  # ~14,000 characters of text
    assert methods == ["sendMessage"] * pieces + ["sendPhoto", "sendMessage", "sendDocument"]
    assert delivered == [m["message_id"] for m in tg.messages_to(CHAT)]
    texts = tg.texts_to(CHAT)
    assert all(len(t) <= TEXT_LIMIT for t in texts)
    assert "\n".join(texts[:pieces]).split("\n") == strip_markup(long_text).split("\n")
    assert texts[pieces + 1] == "x" * 1500  # the caption, in its own message after the photo
    last = tg.messages_to(CHAT)[-1]
    assert last["document"]["file_name"] == "fans.csv"
    buttons = last["reply_markup"]["inline_keyboard"][0]
    assert [b["callback_data"] for b in buttons] == ["idea:more:1", "idea:save:1"]
    assert all("reply_markup" not in m for m in tg.messages_to(CHAT)[:-1])


async def test_adapter_session_sends_json_and_keeps_multipart_for_uploads(
    tg: FakeTelegramAPI,
) -> None:
    """The adapter's session sends a method without files as one JSON body (the fake validates
    it with aiogram's models, as for a form) and an upload as aiogram's multipart form."""
    bot = Bot(tg.token, session=JsonBodySession(api=tg.api_server))
    try:
        reply = Reply(
            blocks=[TextBlock("**Hi** <there> & ünïcode 🎉")],
            buttons=[[Button("Save", "idea:save:1"), Button("More", "idea:more:1")]],
        )
        await ReplySender().send(bot, CHAT, reply)
        await ReplySender().send(bot, CHAT, Reply(blocks=[ImageBlock(png(4, 4), "a photo")]))
        await bot.send_chat_action(CHAT, "typing")
    finally:
        await bot.session.close()
    kinds = {(c.method, c.content_type) for c in tg.log}
    assert kinds == {
        ("sendMessage", "application/json"),
        ("sendPhoto", "multipart/form-data"),
        ("sendChatAction", "application/json"),
    }
    assert all(c.ok for c in tg.log)
    text = tg.messages_to(CHAT)[0]
    assert text["text"] == "Hi <there> & ünïcode 🎉"
    assert [b["callback_data"] for b in text["reply_markup"]["inline_keyboard"][0]] == [
        "idea:save:1",
        "idea:more:1",
    ]
    assert tg.messages_to(CHAT)[1]["caption"] == "a photo"


async def test_adapter_session_reports_an_unreachable_or_silent_api_as_network_errors() -> None:
    """Like aiogram's own session: a refused connection or no answer in time is a
    ``TelegramNetworkError``, which the sender and the outbound middleware handle."""
    refused = TelegramAPIServer.from_base(f"http://127.0.0.1:{free_port()}")
    bot = Bot("123:abc", session=JsonBodySession(api=refused))
    try:
        with pytest.raises(TelegramNetworkError, match="ClientConnectorError"):
            await bot.send_message(CHAT, "hello")
    finally:
        await bot.session.close()

    accepted: list[asyncio.StreamWriter] = []

    async def never_answers(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)  # keep the connection open, say nothing

    server = await asyncio.start_server(never_answers, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent = TelegramAPIServer.from_base(f"http://127.0.0.1:{port}")
    bot = Bot("123:abc", session=JsonBodySession(api=silent, timeout=0.3))
    try:
        with pytest.raises(TelegramNetworkError, match="timeout"):
            await bot.send_message(CHAT, "hello")
    finally:
        await bot.session.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_sender_edits_in_place_and_falls_back(tg: FakeTelegramAPI, bot: Bot) -> None:
    sender = ReplySender()
    await sender.send(bot, CHAT, Reply.text("step 1", buttons=[[Button("A", "wz:t:a")]]))
    first = tg.messages_to(CHAT)[0]
    await sender.send(
        bot,
        CHAT,
        Reply.text("step **2**", buttons=[[Button("B", "wz:t:b")]]),
        edit_message_id=first["message_id"],
    )
    edited = tg.message(CHAT, first["message_id"])
    assert edited is not None and edited["text"] == "step 2"
    assert edited["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "wz:t:b"
    # The same content again: Telegram says "not modified"; nothing new is sent.
    again = Reply.text("step **2**", buttons=[[Button("B", "wz:t:b")]])
    shown = await sender.send(bot, CHAT, again, edit_message_id=first["message_id"])
    assert shown == [first["message_id"]]
    assert len(tg.messages_to(CHAT)) == 1
    # A message that cannot be edited: a new message is sent instead.
    await sender.send(bot, CHAT, Reply.text("fresh"), edit_message_id=9999)
    assert tg.texts_to(CHAT) == ["step 2", "fresh"]


async def test_sender_survives_a_blocked_chat(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.block_chat(CHAT)
    assert await ReplySender().send(bot, CHAT, Reply(blocks=[TextBlock("a"), TextBlock("b")])) == []


# ---------------------------------------------------------------- pacing and throttling


class ManualTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


async def test_pacer_allows_a_burst_then_one_per_second_per_chat() -> None:
    t = ManualTime()
    pacer = ChatPacer(private_rate=1.0, group_rate=0.5, burst=2, monotonic=t.monotonic)
    delays = [pacer.reserve(1) for _ in range(4)]
    assert delays == [0.0, 0.0, 1.0, 2.0]  # reserved ahead: concurrent senders queue up
    assert pacer.reserve(2) == 0.0  # another chat has its own bucket
    group = [pacer.reserve(-100) for _ in range(3)]
    assert group == [0.0, 0.0, 2.0]  # groups refill slower
    t.now += 10
    assert pacer.reserve(1) == 0.0


async def test_pacer_hold_blocks_the_chat_after_a_429() -> None:
    t = ManualTime()
    pacer = ChatPacer(burst=5, monotonic=t.monotonic, sleep=t.sleep)
    pacer.hold(7, 3.0)
    await pacer.wait(7)
    assert t.slept == [3.0]
    await pacer.wait(8)
    assert t.slept == [3.0]


async def test_pacer_forgets_idle_chats() -> None:
    t = ManualTime()
    pacer = ChatPacer(monotonic=t.monotonic, max_chats=10)
    for chat in range(30):
        pacer.reserve(chat)
        t.now += 60
    assert len(pacer) <= 10


async def test_guard_warns_once_per_streak() -> None:
    t = ManualTime()
    guard = InboundGuard(TokenBucketLimiter(rate=0.5, burst=2, monotonic=t.monotonic))
    results = [await guard.check("u1") for _ in range(4)]
    assert [allowed for allowed, _ in results] == [True, True, False, False]
    assert results[2][1] == "Slow down a little — try again in 2 s."
    assert results[3][1] is None  # silent after the first warning
    assert (await guard.check("u2"))[0] is True  # per user
    t.now += 2
    assert await guard.check("u1") == (True, None)
    allowed, note = await guard.check("u1")
    assert not allowed and note is not None  # a new streak is warned again


# ---------------------------------------------------------------- albums


@dataclass
class _Collected:
    parts: list[list[int]]


def _photo_message(message_id: int, group: str, chat_id: int = CHAT) -> Message:
    return Message(
        message_id=message_id,
        date=datetime(2026, 1, 1, tzinfo=UTC),
        chat=Chat(id=chat_id, type="private"),
        from_user=User(id=chat_id, is_bot=False, first_name="A"),
        media_group_id=group,
        photo=[
            PhotoSize(file_id=f"f{message_id}", file_unique_id=f"u{message_id}", width=1, height=1)
        ],
    )


async def test_album_parts_are_delivered_together_in_order() -> None:
    got = _Collected([])

    async def on_album(parts: list[Message]) -> None:
        got.parts.append([p.message_id for p in parts])

    albums = AlbumCollector(on_album, window=0.05)
    for mid in (3, 1, 2):
        albums.add(_photo_message(mid, "g1"))
    albums.add(_photo_message(10, "g2"))
    assert albums.pending == 2
    await asyncio.sleep(0.3)
    await albums.drain()
    assert sorted(got.parts) == [[1, 2, 3], [10]]


async def test_album_drain_delivers_what_is_still_collecting() -> None:
    got = _Collected([])

    async def on_album(parts: list[Message]) -> None:
        got.parts.append([p.message_id for p in parts])

    albums = AlbumCollector(on_album, window=60)
    albums.add(_photo_message(1, "g"))
    albums.add(_photo_message(2, "g"))
    await albums.drain()
    assert got.parts == [[1, 2]]


async def test_album_of_ten_is_delivered_without_waiting() -> None:
    got = _Collected([])

    async def on_album(parts: list[Message]) -> None:
        got.parts.append([p.message_id for p in parts])

    albums = AlbumCollector(on_album, window=60)
    for mid in range(1, 11):
        albums.add(_photo_message(mid, "big"))
    assert albums.pending == 0
    await albums.drain()
    assert got.parts == [list(range(1, 11))]
