"""The fake Telegram Bot API, driven by the real aiogram client over HTTP."""

from __future__ import annotations

import asyncio
import struct
import zlib
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Bot, Dispatcher
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.types import (
    BotCommand,
    BotCommandScopeChat,
    BufferedInputFile,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    Update,
)

from tests.fakes.clock import FakeClock
from tests.fakes.telegram_api import (
    FakeTelegramAPI,
    FloodLimits,
    UploadedFile,
    parse_html,
    parse_markdown_v2,
)

CHAT = 4242
USER = 4242


def png(width: int, height: int) -> bytes:
    """A real (tiny, valid) PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\x10\x80\xf0" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def keyboard(*data: str) -> InlineKeyboardMarkup:
    buttons = [InlineKeyboardButton(text=f"b{i}", callback_data=d) for i, d in enumerate(data)]
    return InlineKeyboardMarkup(inline_keyboard=[buttons])


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


async def test_get_me_reports_the_bot_of_the_token(tg: FakeTelegramAPI, bot: Bot) -> None:
    me = await bot.get_me()
    assert me.id == bot.id == 123456789
    assert me.is_bot is True
    assert me.username == tg.bot_username
    assert [c.method for c in tg.calls("getme")] == ["getMe"]


async def test_send_message_html_with_inline_keyboard(tg: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(
        CHAT,
        "<b>Ideas</b> for you 😀 &amp; <i>more</i>",
        parse_mode="HTML",
        reply_markup=keyboard("caption:1", "save:1"),
    )
    assert sent.text == "Ideas for you 😀 & more"
    assert [(e.type, e.offset, e.length) for e in sent.entities or []] == [
        ("bold", 0, 5),
        ("italic", 19, 4),  # the emoji counts as two UTF-16 units
    ]
    assert sent.reply_markup is not None
    assert sent.reply_markup.inline_keyboard[0][1].callback_data == "save:1"
    assert sent.chat.id == CHAT and sent.from_user is not None and sent.from_user.is_bot

    second = await bot.send_message(CHAT, "again")
    assert second.message_id == sent.message_id + 1
    assert tg.texts_to(CHAT) == ["Ideas for you 😀 & more", "again"]
    method, params = tg.sent[0]
    assert method == "sendMessage"
    assert params["parse_mode"] == "HTML"
    assert params["text"].startswith("<b>Ideas</b>")
    assert params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "caption:1"


async def test_text_length_is_checked_after_entity_parsing(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message is too long"):
        await bot.send_message(CHAT, "a" * 4097)
    ok = await bot.send_message(CHAT, "<b>" + "a" * 4096 + "</b>", parse_mode="HTML")
    assert ok.text is not None and len(ok.text) == 4096


async def test_empty_text_and_long_caption_are_rejected(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="message text is empty"):
        await bot.send_message(CHAT, "   \n ")
    with pytest.raises(TelegramBadRequest, match="message caption is too long"):
        await bot.send_photo(CHAT, BufferedInputFile(png(4, 4), "p.png"), caption="c" * 1025)


async def test_callback_data_is_limited_to_64_bytes(tg: FakeTelegramAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "pick", reply_markup=keyboard("x" * 65))
    with pytest.raises(TelegramBadRequest, match="BUTTON_DATA_INVALID"):
        await bot.send_message(CHAT, "pick", reply_markup=keyboard("é" * 33))  # 66 bytes
    await bot.send_message(CHAT, "pick", reply_markup=keyboard("é" * 32))  # exactly 64 bytes
    assert tg.texts_to(CHAT) == ["pick"]
    text_only = InlineKeyboardMarkup(inline_keyboard=[[InlineKeyboardButton(text="no action")]])
    with pytest.raises(TelegramBadRequest, match="Text buttons are unallowed"):
        await bot.send_message(CHAT, "pick", reply_markup=text_only)


@pytest.mark.parametrize(
    ("markup", "error"),
    [
        ("<b>bold", 'end tag corresponding to start tag "b"'),
        ("if a < b then", 'Unsupported start tag ""'),
        ("Tom & Jerry", 'Character "&"'),
        ("line<br>break", 'Unsupported start tag "br"'),
        ("<b>x</i>", "Unmatched end tag"),
        ("<span>x</span>", 'must have class "tg-spoiler"'),
        ("x</b>", "Unexpected end tag"),
    ],
)
async def test_bad_html_is_rejected(bot: Bot, markup: str, error: str) -> None:
    with pytest.raises(TelegramBadRequest, match="can't parse entities") as info:
        await bot.send_message(CHAT, markup, parse_mode="HTML")
    assert error in info.value.message


async def test_markdown_v2_reserved_characters_must_be_escaped(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match=r"Character '\.' is reserved"):
        await bot.send_message(CHAT, "Price: *5.99*", parse_mode="MarkdownV2")
    ok = await bot.send_message(CHAT, "Price: *5\\.99* \\- ok", parse_mode="MarkdownV2")
    assert ok.text == "Price: 5.99 - ok"
    assert [(e.type, e.offset, e.length) for e in ok.entities or []] == [("bold", 7, 4)]


def test_parse_html_entities_and_offsets() -> None:
    text, entities = parse_html(
        '🎉 <a href="https://x.y/?a=1&amp;b=2">link</a> <pre><code class="language-py">'
        'x = 1</code></pre> <tg-spoiler>s</tg-spoiler> <span class="tg-spoiler">t</span>'
    )
    assert text == "🎉 link x = 1 s t"
    assert entities == [
        {"type": "text_link", "offset": 3, "length": 4, "url": "https://x.y/?a=1&b=2"},
        {"type": "pre", "offset": 8, "length": 5, "language": "py"},
        {"type": "spoiler", "offset": 14, "length": 1},
        {"type": "spoiler", "offset": 16, "length": 1},
    ]
    text, entities = parse_markdown_v2("__u__ ||s|| [a](https://e.x/\\)) `c\\`d`")
    assert text == "u s a c`d"
    assert [e["type"] for e in entities] == ["underline", "spoiler", "text_link", "code"]
    assert entities[2]["url"] == "https://e.x/)"


async def test_send_photo_then_get_file_and_download_roundtrip(
    tg: FakeTelegramAPI, bot: Bot
) -> None:
    image = png(640, 480)
    message = await bot.send_photo(
        CHAT, BufferedInputFile(image, "chart.png"), caption="<b>30d</b> revenue", parse_mode="HTML"
    )
    assert message.caption == "30d revenue"
    assert message.photo is not None
    largest = message.photo[-1]
    assert (largest.width, largest.height) == (640, 480)
    assert message.photo[0].width < largest.width

    upload = tg.sent[-1].params["photo"]
    assert isinstance(upload, UploadedFile)
    assert upload.content == image and upload.filename == "chart.png"

    file = await bot.get_file(largest.file_id)
    assert file.file_size == len(image)
    downloaded = await bot.download(file)
    assert downloaded is not None and downloaded.read() == image
    assert tg.downloads == [file.file_path]

    again = await bot.send_photo(CHAT, largest.file_id)  # resend by file_id, no upload
    assert again.photo is not None and again.photo[-1].file_id == largest.file_id


async def test_send_photo_rejects_bytes_that_are_not_an_image(bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="IMAGE_PROCESS_FAILED"):
        await bot.send_photo(CHAT, BufferedInputFile(b"not an image", "x.png"))
    with pytest.raises(TelegramBadRequest, match="wrong file identifier"):
        await bot.send_photo(CHAT, "AgACAgIAAxkBAAI-unknown")


async def test_user_document_download_and_size_limit(tg: FakeTelegramAPI, bot: Bot) -> None:
    data = b"date,amount\n2026-11-01,120.50\n"
    update = tg.make_document_update(CHAT, USER, data, "earnings.csv", "text/csv")
    document = update["message"]["document"]
    assert document["file_name"] == "earnings.csv" and document["file_size"] == len(data)
    file = await bot.get_file(document["file_id"])
    downloaded = await bot.download(file)
    assert downloaded is not None and downloaded.read() == data

    big = tg.make_document_update(CHAT, USER, b"x", "big.mp4", file_size=25 * 1024 * 1024)
    with pytest.raises(TelegramBadRequest, match="file is too big"):
        await bot.get_file(big["message"]["document"]["file_id"])
    with pytest.raises(TelegramBadRequest, match="invalid file_id"):
        await bot.get_file("nope")


async def test_media_group(tg: FakeTelegramAPI, bot: Bot) -> None:
    media = [
        InputMediaPhoto(media=BufferedInputFile(png(8, 8), f"{i}.png"), caption=f"#{i}")
        for i in range(2)
    ]
    messages = await bot.send_media_group(CHAT, media)
    assert len(messages) == 2
    assert messages[0].media_group_id is not None
    assert messages[0].media_group_id == messages[1].media_group_id
    assert [m.caption for m in messages] == ["#0", "#1"]
    items = tg.sent[-1].params["media"]
    assert all(isinstance(item["media"], UploadedFile) for item in items)

    with pytest.raises(TelegramBadRequest, match="2-10"):
        await bot.send_media_group(CHAT, media[:1])
    with pytest.raises(TelegramBadRequest, match="Too much messages"):
        await bot.send_media_group(CHAT, media * 6)


async def test_dispatcher_polling_echo_bot(tg: FakeTelegramAPI, bot: Bot) -> None:
    dp = Dispatcher()

    @dp.message()
    async def echo(message: Message) -> None:
        await message.answer(f"echo: {message.text}")

    polling = asyncio.create_task(
        dp.start_polling(bot, handle_signals=False, close_bot_session=False, polling_timeout=5)
    )
    try:
        update = tg.queue_update(tg.make_message_update(CHAT, USER, "hello"))
        reply = await tg.wait_for(method="sendMessage", chat_id=CHAT, timeout=5)
        assert reply.params["text"] == "echo: hello"
        assert reply.result["chat"]["id"] == CHAT
        first_poll = tg.calls("getUpdates")[0]
        assert first_poll.params["allowed_updates"] == ["message"]
        assert update["update_id"] > 0
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, 5)
    assert polling.exception() is None


async def test_long_poll_waits_for_a_queued_update_and_honours_offset(
    tg: FakeTelegramAPI, bot: Bot
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await asyncio.sleep(0.05)
    tg.queue_update(tg.make_command(CHAT, USER, "ideas", "5"))
    updates = await asyncio.wait_for(poll, 5)
    assert len(updates) == 1
    message = updates[0].message
    assert message is not None and message.text == "/ideas 5"
    assert message.entities is not None and message.entities[0].type == "bot_command"

    tg.queue_update(tg.make_message_update(CHAT, USER, "a"))
    tg.queue_update(tg.make_message_update(CHAT, USER, "b"))
    last = updates[0].update_id
    assert len(await bot.get_updates()) == 3  # nothing confirmed yet
    pending = await bot.get_updates(offset=last + 1)
    assert [u.message.text for u in pending if u.message] == ["a", "b"]
    assert await bot.get_updates(offset=pending[-1].update_id + 1) == []
    assert tg.pending_updates == []


async def test_stop_releases_a_pending_long_poll() -> None:
    server = await FakeTelegramAPI().start()
    client = server.make_bot()
    try:
        poll = asyncio.create_task(client.get_updates(timeout=30))
        while not server.polls_waiting:  # noqa: ASYNC110 - until the request reaches the server
            await asyncio.sleep(0.01)
        await server.stop()
        assert await asyncio.wait_for(poll, 5) == []
    finally:
        await client.session.close()


async def test_allowed_updates_drop_other_update_types(tg: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "pick", reply_markup=keyboard("a"))
    tg.make_callback_update(CHAT, USER, sent.message_id, "a", queue=True)
    tg.make_message_update(CHAT, USER, "text", queue=True)
    updates = await bot.get_updates(allowed_updates=["message"])
    assert [u.message.text for u in updates if u.message] == ["text"]
    assert len(updates) == 1


async def test_fail_next_429_raises_retry_after(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.fail_next("sendMessage", 429, retry_after=7)
    with pytest.raises(TelegramRetryAfter) as info:
        await bot.send_message(CHAT, "hi")
    assert info.value.retry_after == 7
    assert "Too Many Requests: retry after 7" in info.value.message
    await bot.send_message(CHAT, "hi")  # only the next call fails
    assert [c.status for c in tg.calls("sendMessage")] == [429, 200]
    assert [s.method for s in tg.sent] == ["sendMessage"]

    tg.fail_next("*", 502)
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.get_me()


async def test_webhook_makes_get_updates_conflict(tg: FakeTelegramAPI, bot: Bot) -> None:
    with pytest.raises(TelegramBadRequest, match="HTTPS url must be provided"):
        await bot.set_webhook("http://bot.example.com/webhooks/telegram")
    await bot.set_webhook("https://bot.example.com/webhooks/telegram", secret_token="s3cr3t-tok_en")
    assert tg.webhook is not None and tg.webhook["secret_token"] == "s3cr3t-tok_en"
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    tg.make_message_update(CHAT, USER, "queued", queue=True)
    info = await bot.get_webhook_info()
    assert info.url == "https://bot.example.com/webhooks/telegram"
    assert info.pending_update_count == 1

    await bot.delete_webhook(drop_pending_updates=True)
    assert tg.webhook is None
    assert await bot.get_updates() == []


async def test_update_builders_make_valid_updates(tg: FakeTelegramAPI, bot: Bot) -> None:
    photo = tg.make_photo_update(CHAT, USER, png(1600, 1200), caption="beach", media_group_id="g1")
    video = tg.make_video_update(CHAT, USER, b"\x00\x00\x00\x18ftypmp42", caption="clip")
    voice = tg.make_voice_update(CHAT, USER, b"OggS voice")
    edited = tg.make_edited_message_update(CHAT, USER, photo["message"]["message_id"], "new")
    member = tg.make_my_chat_member_update(CHAT, USER, "member", "kicked")
    built = [photo, video, voice, edited, member]
    ids = [u["update_id"] for u in built]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    parsed = [Update.model_validate(u) for u in built]
    assert [p.event_type for p in parsed] == [
        "message",
        "message",
        "message",
        "edited_message",
        "my_chat_member",
    ]
    sizes = photo["message"]["photo"]
    assert sizes[-1]["width"] == 1600 and sizes[0]["width"] == 90
    assert photo["message"]["media_group_id"] == "g1"
    for update, key in ((video, "video"), (voice, "voice")):
        file = await bot.get_file(update["message"][key]["file_id"])
        assert file.file_path is not None

    # The dicts are what a webhook receives: aiogram's Dispatcher processes them as they are.
    seen: list[str] = []
    dp = Dispatcher()

    @dp.message()
    async def on_message(message: Message) -> None:
        seen.append(message.caption or message.text or "")

    await dp.feed_webhook_update(bot, photo)
    assert seen == ["beach"]


async def test_blocked_user_gets_forbidden(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.make_my_chat_member_update(CHAT, USER, "member", "kicked")
    with pytest.raises(TelegramForbiddenError, match="bot was blocked by the user"):
        await bot.send_message(CHAT, "hello?")
    tg.make_my_chat_member_update(CHAT, USER, "kicked", "member")
    await bot.send_message(CHAT, "welcome back")
    assert tg.texts_to(CHAT) == ["welcome back"]


async def test_callback_answer_edit_and_delete(tg: FakeTelegramAPI, bot: Bot) -> None:
    sent = await bot.send_message(CHAT, "idea 1", reply_markup=keyboard("save:1"))
    update = tg.make_callback_update(CHAT, USER, sent.message_id, "save:1")
    query = update["callback_query"]
    assert query["message"]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "save:1"

    await bot.answer_callback_query(query["id"], text="Saved")
    assert tg.is_callback_answered(query["id"])
    with pytest.raises(TelegramBadRequest, match="query is too old"):
        await bot.answer_callback_query(query["id"])

    with pytest.raises(TelegramBadRequest, match="message is not modified"):
        await bot.edit_message_text(
            "idea 1", chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard("save:1")
        )
    edited = await bot.edit_message_text("idea 1 (saved)", chat_id=CHAT, message_id=sent.message_id)
    assert isinstance(edited, Message) and edited.reply_markup is None
    assert edited.edit_date is not None
    await bot.edit_message_reply_markup(
        chat_id=CHAT, message_id=sent.message_id, reply_markup=keyboard("undo:1")
    )
    current = tg.message(CHAT, sent.message_id)
    assert current is not None and current["text"] == "idea 1 (saved)"
    assert current["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "undo:1"

    assert await bot.delete_message(CHAT, sent.message_id) is True
    with pytest.raises(TelegramBadRequest, match="message to delete not found"):
        await bot.delete_message(CHAT, sent.message_id)
    with pytest.raises(TelegramBadRequest, match="message to edit not found"):
        await bot.edit_message_text("x", chat_id=CHAT, message_id=sent.message_id)
    assert tg.messages_to(CHAT) == []


async def test_commands_and_chat_action(tg: FakeTelegramAPI, bot: Bot) -> None:
    commands = [
        BotCommand(command="ideas", description="Content ideas"),
        BotCommand(command="stats", description="Earnings stats"),
    ]
    await bot.set_my_commands(commands)
    await bot.set_my_commands(commands[:1], scope=BotCommandScopeChat(chat_id=CHAT))
    assert [c.command for c in await bot.get_my_commands()] == ["ideas", "stats"]
    scoped = await bot.get_my_commands(scope=BotCommandScopeChat(chat_id=CHAT))
    assert [c.command for c in scoped] == ["ideas"]
    assert tg.commands() == [
        {"command": "ideas", "description": "Content ideas"},
        {"command": "stats", "description": "Earnings stats"},
    ]
    with pytest.raises(TelegramBadRequest, match="BOT_COMMAND_INVALID"):
        await bot.set_my_commands([BotCommand(command="/Ideas", description="x")])
    await bot.delete_my_commands()
    assert await bot.get_my_commands() == []

    assert await bot.send_chat_action(CHAT, "upload_photo") is True
    with pytest.raises(TelegramBadRequest, match="wrong parameter action"):
        await bot.send_chat_action(CHAT, "dancing")
    assert [s.method for s in tg.sent] == ["sendChatAction"]


async def test_flood_control_answers_429_until_time_passes() -> None:
    clock = FakeClock()
    async with FakeTelegramAPI(clock=clock, flood=FloodLimits(per_chat_burst=2)) as limited:
        client = limited.make_bot()
        try:
            await client.send_message(CHAT, "1")
            await client.send_message(CHAT, "2")
            with pytest.raises(TelegramRetryAfter) as info:
                await client.send_message(CHAT, "3")
            assert info.value.retry_after == 1
            await client.send_message(CHAT + 1, "other chat")  # per-chat bucket
            clock.advance(1.0)
            await client.send_message(CHAT, "3")
        finally:
            await client.session.close()
        assert limited.texts_to(CHAT) == ["1", "2", "3"]


async def test_plain_http_clients_json_body_and_unknown_method(tg: FakeTelegramAPI) -> None:
    base = f"{tg.base_url}/bot{tg.token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/fooBar", json={}) as resp:
            assert resp.status == 404
            assert await resp.json() == {
                "ok": False,
                "error_code": 404,
                "description": "Not Found: method not found",
            }
        body = {
            "chat_id": CHAT,
            "text": "json body",
            "reply_markup": {"inline_keyboard": [[{"text": "a", "callback_data": "a"}]]},
        }
        async with http.post(f"{base}/sendmessage", json=body) as resp:
            answer = await resp.json()
            assert resp.status == 200 and answer["ok"] is True
            assert answer["result"]["text"] == "json body"
            assert isinstance(answer["result"]["date"], int)
        async with http.get(f"{base}/sendMessage", params={"chat_id": str(CHAT)}) as resp:
            answer = await resp.json()
            assert resp.status == 400
            assert answer["description"] == "Bad Request: message text is empty"
        async with http.get(f"{tg.base_url}/botnot-a-token/getMe") as resp:
            assert resp.status == 401
        async with http.get(f"{tg.base_url}/file/bot{tg.token}/documents/missing.bin") as resp:
            assert resp.status == 404


async def test_forum_topics(tg: FakeTelegramAPI, bot: Bot) -> None:
    forum, group = -100_4242, -100_4343
    tg.add_chat(forum, "supergroup", title="Desk", is_forum=True)
    tg.add_chat(group, "supergroup", title="Plain")
    topic = tg.add_topic(forum, "Captions", CHAT)
    update = Update.model_validate(tg.make_message_update(forum, CHAT, "hi", thread_id=topic))
    assert update.message is not None and update.message.is_topic_message
    assert update.message.message_thread_id == topic

    sent = await bot.send_message(forum, "in the topic", message_thread_id=topic)
    assert sent.message_thread_id == topic and sent.is_topic_message
    general = await bot.send_message(forum, "in General")
    assert general.message_thread_id is None
    assert await bot.send_chat_action(forum, "typing", message_thread_id=topic)
    for chat, thread in ((forum, topic + 100), (group, topic)):
        with pytest.raises(TelegramBadRequest, match="message thread not found"):
            await bot.send_message(chat, "nowhere", message_thread_id=thread)
    with pytest.raises(TelegramBadRequest, match="message thread not found"):
        await bot.send_chat_action(group, "typing", message_thread_id=topic)
    with pytest.raises(ValueError, match="not a forum"):
        tg.add_topic(group, "No", CHAT)


async def test_a_group_upgraded_to_a_supergroup(tg: FakeTelegramAPI, bot: Bot) -> None:
    tg.add_chat(-4_242, "group", title="Team")
    tg.migrate_chat(-4_242, -100_4_242)
    with pytest.raises(TelegramMigrateToChat) as caught:
        await bot.send_message(-4_242, "hello?")
    assert caught.value.migrate_to_chat_id == -100_4_242
    sent = await bot.send_message(-100_4_242, "hello")
    assert sent.chat.type == "supergroup" and sent.chat.title == "Team"
