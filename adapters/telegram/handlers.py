"""aiogram routers built from the core command registry. No command logic lives here: every
handler maps a Telegram event to one ``Incoming``, calls ``Assistant.handle`` and shows the
``Reply``.

Routers, in the order they are tried:

- ``telegram.files``: photos, videos, animations, video notes, voice notes, audio and
  documents. Album parts (``media_group_id``) are collected and answered once.
- ``telegram.commands``: ``/name`` for every command in the registry (aiogram's ``Command``
  filter, so ``/name@otherbot`` in a group is left to the other bot).
- ``telegram.buttons``: inline button presses. Every callback query is answered (the spinner
  stops) before the work starts; a dialog button (``wz:`` payloads by default) edits the
  message it sits on, so the wizard stays one message that changes step by step. When a
  typed answer moves the dialog on, the new question comes as a new message and the old one
  loses its buttons: only the current question can be answered, as in the terminal.
- ``telegram.text``: everything else - dialog answers, unknown commands (core suggests the
  right one). In groups only messages that reply to the bot or mention it are taken.
- ``telegram.system``: edited messages and ``my_chat_member`` changes are logged, not answered.

An ephemeral reply (``Reply.ephemeral``, e.g. a ``/link`` code) asked for in a group is sent to
the user's private chat instead, with a short note in the group.

In a group an answer replies to the message it answers, and only that message's sender can
press its buttons (anyone else gets a short notice, and the answer stays as it was). In a forum
(a supergroup with topics) every answer, note and typing indicator goes to the topic the
message or button came from. A message sent on behalf of a chat (an anonymous admin, a
channel posting in a group, a channel post forwarded into its discussion group) has a placeholder
``from`` shared by everyone who posts that way: it is never turned into an account; the sender is
told to post as themselves (automatic forwards are ignored).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
from collections import OrderedDict
from typing import TYPE_CHECKING

import structlog
from aiogram import Bot, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    InlineQuery,
    InlineQueryResultArticle,
    InputTextMessageContent,
    Message,
    Update,
)

from adapters.telegram.inbound import (
    AlbumCollector,
    InboundGuard,
    Typing,
    attachments,
    external_user,
    has_file,
    topic_of,
)
from adapters.telegram.outbound import ReplySender
from core.chat import Attachment, Incoming, Reply
from core.log_context import log_context
from core.models import CaptionDraft

if TYPE_CHECKING:
    from core.app import Assistant

log = structlog.get_logger("huntaze.telegram")

SLOW_DOWN = "Slow down a little."
PRIVATE_SENT = "I've sent you the answer in our private chat."
PRIVATE_NEEDED = (
    "That answer is private. Open a chat with me (tap my name, then Start) and send it there."
)
NOT_YOURS = "These buttons answer someone else. Send the command yourself to get your own."
ANONYMOUS = (
    "I can't tell who you are when you post as the group or as a channel. Turn off "
    '"Remain anonymous" for a moment, or send it to me in a private chat.'
)


def _request_id(update: Update | None) -> str:
    return f"tg{update.update_id}" if update is not None else ""


INLINE_TOPIC_CHARS = 200  # of what is typed after "@bot" (Telegram allows 256)
INLINE_CACHE_SECONDS = 60


def _inline_articles(reply: Reply) -> list[InlineQueryResultArticle]:
    """Inline results from a /caption reply: the caption with its hashtags, the caption alone
    and the hashtags alone (none for a refusal, such as the rate limit)."""
    if not isinstance(reply.result, dict) or not reply.result.get("text"):
        return []
    draft = CaptionDraft.model_validate(reply.result)
    tags = " ".join("#" + t for t in draft.hashtags)
    choices = [
        (f"Caption for {draft.platform}", draft.full_text()),
        ("Caption without hashtags", draft.text),
        ("Hashtags only", tags),
    ]
    return [
        InlineQueryResultArticle(
            id=hashlib.blake2b(f"{n}|{text}".encode(), digest_size=16).hexdigest(),
            title=title,
            description=text[:120],
            input_message_content=InputTextMessageContent(message_text=text[:4096]),
        )
        for n, (title, text) in enumerate(choices)
        if text.strip()
    ]


_MENTION_GAP = re.compile(r"[ \t]{2,}")


@functools.cache
def _mention(username: str) -> re.Pattern[str]:
    return re.compile(rf"@{re.escape(username)}\b[,:]?", re.IGNORECASE)


def _in_group(message: Message) -> bool:
    return message.chat.type != ChatType.PRIVATE


def _answered(message: object) -> Message | None:
    """The message a bot message in a group answers (groups get answers as replies), if known."""
    if isinstance(message, Message) and _in_group(message):
        return message.reply_to_message
    return None


class TelegramHandlers:
    """The event handlers of one bot, and the routers that dispatch to them."""

    def __init__(
        self,
        assistant: Assistant,
        bot: Bot,
        *,
        sender: ReplySender | None = None,
        guard: InboundGuard | None = None,
        download_limit: int = 20 * 1024 * 1024,
        album_window: float = 0.8,
        typing_delay: float | None = 0.5,
        edit_prefixes: tuple[str, ...] = ("wz:",),
    ) -> None:
        self.assistant = assistant
        self.bot = bot
        self.sender = sender or ReplySender()
        self.guard = guard
        self.download_limit = download_limit
        self.typing_delay = typing_delay
        self.edit_prefixes = edit_prefixes
        self.albums = AlbumCollector(self.on_album, window=album_window)
        self.max_tracked = 50_000
        self._dialog_messages: OrderedDict[tuple[int, str], int] = OrderedDict()
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()

    # ---------------------------------------------------------------- routers

    def routers(self) -> list[Router]:
        files = Router(name="telegram.files")
        files.message.register(self.on_file, has_file)

        commands = Router(name="telegram.commands")
        names = [c.name for c in self.assistant.registry.all()]
        commands.message.register(self.on_command, Command(*names, ignore_case=True))

        buttons = Router(name="telegram.buttons")
        buttons.callback_query.register(self.on_button)

        text = Router(name="telegram.text")
        text.message.register(self.on_message)

        inline = Router(name="telegram.inline")
        inline.inline_query.register(self.on_inline)

        system = Router(name="telegram.system")
        system.edited_message.register(self.on_edited)
        system.my_chat_member.register(self.on_membership)
        return [files, commands, buttons, text, inline, system]

    # ---------------------------------------------------------------- handlers

    async def on_command(self, message: Message, event_update: Update | None = None) -> None:
        if message.from_user is None or await self._anonymous(message):
            return
        if not await self._allow(message):
            return
        incoming = Incoming(
            user=external_user(message.from_user),
            chat_id=str(message.chat.id),
            text=message.text or message.caption or "",
            request_id=_request_id(event_update),
        )
        await self._process(message.chat.id, incoming, thread_id=topic_of(message), asked=message)

    async def on_message(self, message: Message, event_update: Update | None = None) -> None:
        if message.from_user is None or not await self._addressed(message):
            return
        if message.text is None and _in_group(message):
            return
        if await self._anonymous(message) or not await self._allow(message):
            return
        incoming = Incoming(
            user=external_user(message.from_user),
            chat_id=str(message.chat.id),
            text=await self._asked(message, message.text or ""),
            request_id=_request_id(event_update),
        )
        await self._process(message.chat.id, incoming, thread_id=topic_of(message), asked=message)

    async def on_file(self, message: Message, event_update: Update | None = None) -> None:
        if message.from_user is None or not await self._addressed(message):
            return
        if message.media_group_id is not None:  # answered once, when the album is complete
            self.albums.add(message)
            return
        if await self._anonymous(message) or not await self._allow(message):
            return
        incoming = Incoming(
            user=external_user(message.from_user),
            chat_id=str(message.chat.id),
            text=await self._asked(message, message.caption or ""),
            attachments=attachments(self.bot, message, self.download_limit),
            request_id=_request_id(event_update),
        )
        await self._process(message.chat.id, incoming, thread_id=topic_of(message), asked=message)

    async def on_album(self, parts: list[Message]) -> None:
        first = parts[0]
        if first.from_user is None or await self._anonymous(first):
            return
        if not await self._allow(first):
            return
        files: list[Attachment] = []
        for part in parts:
            files.extend(attachments(self.bot, part, self.download_limit))
        caption = next((p.caption for p in parts if p.caption), "")
        incoming = Incoming(
            user=external_user(first.from_user),
            chat_id=str(first.chat.id),
            text=caption,
            attachments=files,
            group_id=first.media_group_id,
            request_id=f"tgalbum{first.media_group_id}",
        )
        await self._process(first.chat.id, incoming, thread_id=topic_of(first), asked=first)

    async def on_button(self, query: CallbackQuery, event_update: Update | None = None) -> None:
        data = query.data
        if not data:
            await self._answer(query)
            return
        if self.guard is not None:
            allowed, note = await self.guard.check(str(query.from_user.id))
            if not allowed:
                await self._answer(query, note or SLOW_DOWN)
                return
        message = query.message
        asked = _answered(message)
        owner = asked.from_user if asked is not None else None
        if owner is not None and owner.id != query.from_user.id:  # another person's answer
            await self._answer(query, NOT_YOURS)
            return
        await self._answer(query)
        chat_id = message.chat.id if message is not None else query.from_user.id
        edit_id = None
        if isinstance(message, Message) and data.startswith(self.edit_prefixes):
            edit_id = message.message_id
        incoming = Incoming(
            user=external_user(query.from_user),
            chat_id=str(chat_id),
            action=data,
            request_id=_request_id(event_update),
        )
        await self._process(
            chat_id, incoming, edit_message_id=edit_id, thread_id=topic_of(message), asked=asked
        )

    async def on_edited(self, edited_message: Message) -> None:
        log.info("telegram_edit_ignored", chat_id=edited_message.chat.id)

    async def on_inline(self, query: InlineQuery, event_update: Update | None = None) -> None:
        """Inline mode ("@bot beach day" typed in any chat, when the operator enabled it with
        BotFather): core's caption for what was typed (/caption: one command a query, as it
        counts against the creator's command rate), offered with and without its hashtags.
        An empty or throttled query is answered with nothing; the answer is the user's own
        (``is_personal``)."""
        topic = " ".join(query.query.split())[:INLINE_TOPIC_CHARS]
        results: list[InlineQueryResultArticle] = []
        allowed = self.guard is None or (await self.guard.check(str(query.from_user.id)))[0]
        if topic and allowed:
            reply = await self.assistant.handle(
                Incoming(
                    user=external_user(query.from_user),
                    chat_id=str(query.from_user.id),
                    text=f"/caption {topic}",
                    request_id=_request_id(event_update),
                )
            )
            results = _inline_articles(reply)
        try:
            await query.answer(results, cache_time=INLINE_CACHE_SECONDS, is_personal=True)
        except TelegramAPIError as exc:  # answered too late (Telegram waits ~10 s), or twice
            log.info("telegram_inline_answer_failed", error=str(exc))

    async def on_membership(self, my_chat_member: ChatMemberUpdated) -> None:
        log.info(
            "telegram_membership",
            chat_id=my_chat_member.chat.id,
            old=my_chat_member.old_chat_member.status,
            new=my_chat_member.new_chat_member.status,
        )

    # ---------------------------------------------------------------- helpers

    async def _addressed(self, message: Message) -> bool:
        """Private chats: always. Groups: a reply to the bot, or a mention of it."""
        if not _in_group(message):
            return True
        me = await self.bot.me()
        reply = message.reply_to_message
        if reply is not None and reply.from_user is not None and reply.from_user.id == me.id:
            return True
        text = message.text or message.caption or ""
        return bool(me.username) and f"@{me.username}".lower() in text.lower()

    async def _asked(self, message: Message, text: str) -> str:
        """What a message asks, without the bot's @mention that addressed it in a group ("@bot
        ideas for halloween", "@bot /caption beach day" under a photo)."""
        if not _in_group(message):
            return text
        me = await self.bot.me()
        if not me.username:
            return text
        return _MENTION_GAP.sub(" ", _mention(me.username).sub("", text)).strip()

    async def _anonymous(self, message: Message) -> bool:
        """True for a message sent on behalf of a chat: an anonymous group admin, a channel
        posting in a group, a channel post forwarded into its discussion group. Its ``from`` is
        a placeholder user shared by everyone who posts that way, so it must never stand for an
        account. The sender is told why (throttled per chat); automatic forwards are ignored."""
        sender = message.sender_chat
        if sender is None:
            return False
        if not message.is_automatic_forward and await self._allow(message, f"chat:{sender.id}"):
            await self._note(message.chat.id, topic_of(message), ANONYMOUS)
        return True

    async def _allow(self, message: Message, key: str | None = None) -> bool:
        """The inbound throttle for the message's sender (or ``key``); a throttled sender is
        told once."""
        if key is None and message.from_user is not None:
            key = str(message.from_user.id)
        if self.guard is None or key is None:
            return True
        allowed, note = await self.guard.check(key)
        if not allowed and note:
            await self._note(message.chat.id, topic_of(message), note)
        return allowed

    async def _note(self, chat_id: int, thread_id: int | None, text: str) -> None:
        """A short plain-text notice (best effort)."""
        try:
            await self.bot.send_message(chat_id, text, message_thread_id=thread_id, parse_mode=None)
        except TelegramAPIError as exc:
            log.info("telegram_note_failed", chat_id=chat_id, error=str(exc))

    async def _answer(self, query: CallbackQuery, text: str | None = None) -> None:
        try:
            await query.answer(text=text)
        except TelegramAPIError as exc:  # too old, or already answered
            log.info("telegram_callback_answer_failed", error=str(exc))

    async def _process(
        self,
        chat_id: int,
        incoming: Incoming,
        *,
        edit_message_id: int | None = None,
        thread_id: int | None = None,
        asked: Message | None = None,
    ) -> None:
        """Run ``incoming`` through core and show the reply. In a group the reply answers
        ``asked`` (the person's message), which also marks whose buttons it carries."""
        reply_to = asked.message_id if asked is not None and _in_group(asked) else None
        self._active += 1
        self._idle.clear()
        try:
            with log_context(request_id=incoming.request_id):
                async with Typing(self.bot, chat_id, self.typing_delay, thread_id=thread_id):
                    reply = await self.assistant.handle(incoming)
                user_chat = int(incoming.user.id)
                if reply.ephemeral and chat_id != user_chat:
                    await self._send_privately(chat_id, thread_id, user_chat, reply)
                else:
                    shown = await self.sender.send(
                        self.bot,
                        chat_id,
                        reply,
                        edit_message_id=edit_message_id,
                        thread_id=thread_id,
                        reply_to=reply_to,
                    )
                    await self._retire_dialog_keyboard(chat_id, incoming.user.id, reply, shown)
        except Exception:
            log.exception("telegram_update_failed", chat_id=chat_id)
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    async def _retire_dialog_keyboard(
        self, chat_id: int, user_id: str, reply: Reply, shown: list[int]
    ) -> None:
        """Only the newest dialog question keeps its buttons, as in the terminal (where only
        the last answer's buttons can be pressed): a stale "Fitness" under step 1 must not
        answer step 4. The previous dialog message loses its keyboard once another message
        is shown to the same person in the chat."""
        if not shown:
            return
        key = (chat_id, user_id)
        latest = shown[-1]
        previous = self._dialog_messages.pop(key, None)
        if previous is not None and previous != latest:
            await self.sender.clear_keyboard(self.bot, chat_id, previous)
        if any(b.action.startswith(self.edit_prefixes) for row in reply.buttons for b in row):
            self._dialog_messages[key] = latest
            if len(self._dialog_messages) > self.max_tracked:
                self._dialog_messages.popitem(last=False)

    async def _send_privately(
        self, group_chat: int, thread_id: int | None, user_chat: int, reply: Reply
    ) -> None:
        """An ephemeral answer (a /link code...) asked for in a group goes to the private chat."""
        delivered = await self.sender.send(self.bot, user_chat, reply)
        await self._note(group_chat, thread_id, PRIVATE_SENT if delivered else PRIVATE_NEEDED)

    @property
    def active(self) -> int:
        return self._active

    async def drain(self, grace: float = 10.0) -> bool:
        """Answer albums still collecting and wait for answers in progress; False on timeout."""
        await self.albums.drain()
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            log.warning("telegram_drain_timeout", active=self._active)
            return False
        return True
