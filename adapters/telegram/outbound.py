"""Sending to Telegram: flood control on the bot session, and a ``Reply`` sender.

``OutboundMiddleware`` is a request middleware on the bot's session (aiogram does not retry by
itself). For every method that sends into a chat it first takes a token from that chat's
``ChatPacer`` bucket (Telegram allows about one message per second in a chat with short bursts,
and 20 per minute in a group), and when Telegram still answers 429 it waits ``retry_after`` -
holding back other sends to the same chat meanwhile - and tries again, a bounded number of
times. A wait longer than ``max_wait`` is not worth holding a handler for: the error is raised.

``ReplySender`` turns a core ``Reply`` into sendMessage / sendPhoto / sendDocument calls (or an
editMessageText of the message a button was pressed on), in HTML parse mode.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
import structlog
from aiogram import Bot, methods
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.enums import ParseMode
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.methods import Response, TelegramMethod
from aiogram.methods.base import TelegramType
from aiogram.types import (
    BufferedInputFile,
    InlineKeyboardMarkup,
    InputFile,
    MessageId,
    ReplyParameters,
)
from aiohttp import ClientError

from adapters.telegram.render import (
    Outgoing,
    OutPhoto,
    OutText,
    keyboard,
    render_reply,
)
from core.chat import Reply

log = structlog.get_logger("huntaze.telegram")

Sleep = Callable[[float], Awaitable[None]]

BOT_API_UPLOAD_LIMIT = 50 * 1024 * 1024  # files a bot sends through api.telegram.org

# Methods that put something into a chat and count against its flood limits.
PACED_METHODS = frozenset(
    {
        "sendMessage",
        "sendPhoto",
        "sendDocument",
        "sendVideo",
        "sendAudio",
        "sendVoice",
        "sendAnimation",
        "sendMediaGroup",
        "sendSticker",
        "sendLocation",
        "sendContact",
        "sendPoll",
        "copyMessage",
        "forwardMessage",
        "editMessageText",
        "editMessageCaption",
        "editMessageMedia",
        "editMessageReplyMarkup",
    }
)


@dataclass
class _Bucket:
    tokens: float
    updated: float
    blocked_until: float = 0.0


class ChatPacer:
    """A token bucket per chat; ``wait(chat_id)`` returns when a send to it may go out.

    Private chats (positive ids) refill at ``private_rate`` per second, groups and channels at
    ``group_rate``; both hold up to ``burst`` tokens. A 429 for a chat holds the whole chat
    (``hold``). Buckets of idle chats are forgotten once more than ``max_chats`` are kept.
    """

    def __init__(
        self,
        private_rate: float = 1.0,
        group_rate: float = 20 / 60,
        burst: int = 4,
        *,
        max_chats: int = 50_000,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if private_rate <= 0 or group_rate <= 0 or burst < 1:
            raise ValueError("rates must be positive and burst at least 1")
        self.private_rate = private_rate
        self.group_rate = group_rate
        self.burst = burst
        self.max_chats = max_chats
        self._monotonic = monotonic
        self._sleep = sleep
        self._buckets: dict[int | str, _Bucket] = {}

    def _rate(self, chat_id: int | str) -> float:
        is_private = isinstance(chat_id, int) and chat_id > 0
        return self.private_rate if is_private else self.group_rate

    def _bucket(self, chat_id: int | str, now: float) -> _Bucket:
        bucket = self._buckets.get(chat_id)
        if bucket is None:
            if len(self._buckets) >= self.max_chats:
                self._prune(now)
            bucket = _Bucket(float(self.burst), now)
            self._buckets[chat_id] = bucket
        return bucket

    def _prune(self, now: float) -> None:
        for key in [k for k, b in self._buckets.items() if self._idle(k, b, now)]:
            del self._buckets[key]
        while len(self._buckets) >= self.max_chats:  # all busy: forget the oldest
            del self._buckets[next(iter(self._buckets))]

    def _idle(self, chat_id: int | str, bucket: _Bucket, now: float) -> bool:
        refilled = bucket.tokens + (now - bucket.updated) * self._rate(chat_id)
        return refilled >= self.burst and now >= bucket.blocked_until

    def reserve(self, chat_id: int | str) -> float:
        """Take a token now; the seconds to wait before using it (0 when one was free)."""
        now = self._monotonic()
        bucket = self._bucket(chat_id, now)
        rate = self._rate(chat_id)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        bucket.tokens -= 1.0
        delay = -bucket.tokens / rate if bucket.tokens < 0 else 0.0
        return max(delay, bucket.blocked_until - now)

    async def wait(self, chat_id: int | str) -> None:
        delay = self.reserve(chat_id)
        if delay > 0:
            await self._sleep(delay)

    def hold(self, chat_id: int | str, seconds: float) -> None:
        """Telegram said "retry after ``seconds``" for this chat: nothing goes out before."""
        now = self._monotonic()
        bucket = self._bucket(chat_id, now)
        bucket.blocked_until = max(bucket.blocked_until, now + seconds)

    def __len__(self) -> int:
        return len(self._buckets)


class OutboundMiddleware(BaseRequestMiddleware):
    """Paces sends per chat and waits out ``TelegramRetryAfter`` (see the module docstring)."""

    def __init__(
        self,
        pacer: ChatPacer | None = None,
        *,
        max_retries: int = 3,
        max_wait: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.pacer = pacer
        self.max_retries = max_retries
        self.max_wait = max_wait
        self._sleep = sleep
        self.retries = 0  # 429s waited out (for tests and metrics)

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[TelegramType],
        bot: Bot,
        method: TelegramMethod[TelegramType],
    ) -> Response[TelegramType]:
        chat_id: Any = None
        if method.__api_method__ in PACED_METHODS:
            chat_id = getattr(method, "chat_id", None)
        attempt = 0
        while True:
            if chat_id is not None and self.pacer is not None:
                await self.pacer.wait(chat_id)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as exc:
                attempt += 1
                wait = float(exc.retry_after)
                if attempt > self.max_retries or wait > self.max_wait:
                    log.warning(
                        "telegram_flood_give_up",
                        method=method.__api_method__,
                        retry_after=wait,
                        attempt=attempt,
                    )
                    raise
                log.info(
                    "telegram_flood_wait",
                    method=method.__api_method__,
                    retry_after=wait,
                    attempt=attempt,
                )
                self.retries += 1
                if chat_id is not None and self.pacer is not None:
                    self.pacer.hold(chat_id, wait)
                await self._sleep(wait)


# ---------------------------------------------------------------- sends read for their id
#
# aiogram parses what a send returns (the whole sent ``Message``: its text, entities and
# keyboard) into pydantic models, ~0.1 ms for an ``/ideas`` answer. The sender reads only the new
# message's id, so it calls these, which parse the answer as a ``MessageId`` (the other fields
# kept raw, as ``extra``). Same API method, same request.


class SendMessageForId(methods.SendMessage):
    __returning__ = MessageId


class SendPhotoForId(methods.SendPhoto):
    __returning__ = MessageId


class SendDocumentForId(methods.SendDocument):
    __returning__ = MessageId


# ---------------------------------------------------------------- response types

# The methods this adapter calls. aiogram parses every answer through ``Response[T]``, a pydantic
# generic class that pydantic caches in a WeakValueDictionary: once garbage-collected it is
# rebuilt (~25 ms of CPU, stalling the event loop) on the next call. Holding a reference to each
# one keeps them built - it doubled the send rate in the throughput benchmark.
USED_METHODS: tuple[type[TelegramMethod[Any]], ...] = (
    methods.GetMe,
    methods.GetUpdates,
    methods.SetWebhook,
    methods.DeleteWebhook,
    methods.GetWebhookInfo,
    methods.SetMyCommands,
    methods.GetMyCommands,
    methods.SendMessage,
    methods.SendPhoto,
    methods.SendDocument,
    methods.SendChatAction,
    methods.EditMessageText,
    methods.EditMessageReplyMarkup,
    methods.AnswerCallbackQuery,
    methods.GetFile,
    SendMessageForId,
)


def pin_response_types(
    used: tuple[type[TelegramMethod[Any]], ...] = USED_METHODS,
) -> list[type[Any]]:
    """Build (once) and return the ``Response[T]`` classes of ``used``; keep the list alive."""
    pinned: list[type[Any]] = []
    seen: list[Any] = []
    for method in used:
        returning = method.__returning__
        if returning in seen:
            continue
        seen.append(returning)
        pinned.append(Response[returning])  # type: ignore[valid-type]
    return pinned


# ---------------------------------------------------------------- request bodies


def _orjson_text(value: Any) -> str:
    return orjson.dumps(value).decode()


class JsonBodySession(AiohttpSession):
    """aiogram's aiohttp session, sending a method without uploads as one JSON body.

    aiogram form-encodes every request. The Bot API takes ``application/json`` as well, and
    percent-encoding an ``/ideas`` answer (about 3 kB of text and a 15-button keyboard, one byte at
    a time in ``urllib``) cost more CPU than serialising it. A method that uploads a file still
    goes as aiogram's multipart form. JSON is read and written with orjson, through the
    ``json_loads``/``json_dumps`` hooks aiogram's session has for that."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("json_loads", orjson.loads)
        kwargs.setdefault("json_dumps", _orjson_text)
        super().__init__(**kwargs)

    async def make_request(
        self,
        bot: Bot,
        method: TelegramMethod[TelegramType],
        timeout: int | None = None,  # noqa: ASYNC109 - aiogram's signature
    ) -> TelegramType:
        files: dict[str, InputFile] = {}
        # Unset fields dropped by pydantic (in Rust) rather than by ``prepare_value``'s walk,
        # which drops them too: a 15-button keyboard has ~200 of them.
        body = self.prepare_value(
            method.model_dump(warnings=False, exclude_none=True),
            bot=bot,
            files=files,
            _dumps_json=False,
        )
        if files:
            return await super().make_request(bot, method, timeout)
        session = await self.create_session()
        url = self.api.api_url(token=bot.token, method=method.__api_method__)
        try:
            async with session.post(
                url,
                data=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
                timeout=self.timeout if timeout is None else timeout,  # type: ignore[arg-type]
            ) as resp:
                raw_result = await resp.text()
        except TimeoutError as e:
            raise TelegramNetworkError(method=method, message="Request timeout error") from e
        except ClientError as e:
            raise TelegramNetworkError(method=method, message=f"{type(e).__name__}: {e}") from e
        response = self.check_response(
            bot=bot, method=method, status_code=resp.status, content=raw_result
        )
        return cast(TelegramType, response.result)


# ---------------------------------------------------------------- sending replies


def _is_not_modified(exc: TelegramBadRequest) -> bool:
    return "message is not modified" in exc.message


def _is_parse_error(exc: TelegramBadRequest) -> bool:
    return "can't parse entities" in exc.message


_TAG = re.compile(r"<[^>]+>")


def html_to_plain(text: str) -> str:
    return html.unescape(_TAG.sub("", text))


class ReplySender:
    """Shows a core ``Reply`` in a chat. Telegram refusals are logged, never raised: a blocked
    chat stops the reply, any other refusal skips that one message. Files over ``upload_limit``
    (the Bot API's 50 MB; None with a local Bot API server, which takes 2,000 MB) are not
    sent: the chat is told why instead."""

    def __init__(self, upload_limit: int | None = BOT_API_UPLOAD_LIMIT) -> None:
        self.upload_limit = upload_limit

    async def send(
        self,
        bot: Bot,
        chat_id: int,
        reply: Reply,
        *,
        edit_message_id: int | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> list[int]:
        """Send (or edit) the messages of ``reply`` (new ones into forum topic ``thread_id``,
        if given, the first of them as a reply to message ``reply_to``); the ids of those that
        went through (the keyboard, if any, is on the last one)."""
        items = render_reply(reply, self.upload_limit)
        markup = keyboard(reply.buttons)
        shown: list[int] = []
        answering = (
            ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to is not None
            else None
        )
        for index, item in enumerate(items):
            item_markup = markup if index == len(items) - 1 else None
            try:
                if (
                    index == 0
                    and edit_message_id is not None
                    and isinstance(item, OutText)
                    and await self._edit(bot, chat_id, edit_message_id, item, item_markup)
                ):
                    shown.append(edit_message_id)
                    continue
                try:
                    message = await self._send_one(
                        bot, chat_id, item, item_markup, thread_id, answering
                    )
                except TelegramMigrateToChat as exc:
                    # The group became a supergroup (a new id) while this was being answered:
                    # the reply follows it there (the message answered stayed behind).
                    log.info("telegram_chat_migrated", old=chat_id, new=exc.migrate_to_chat_id)
                    chat_id, answering = exc.migrate_to_chat_id, None
                    message = await self._send_one(bot, chat_id, item, item_markup, thread_id)
                answering = None
                shown.append(message.message_id)
            except TelegramForbiddenError as exc:
                log.info("telegram_chat_forbidden", chat_id=chat_id, error=exc.message)
                break
            except (TelegramBadRequest, TelegramNotFound, TelegramRetryAfter) as exc:
                log.warning("telegram_send_failed", chat_id=chat_id, error=str(exc))
        return shown

    async def clear_keyboard(self, bot: Bot, chat_id: int, message_id: int) -> None:
        """Remove the buttons under a message (best effort)."""
        try:
            await bot.edit_message_reply_markup(
                chat_id=chat_id, message_id=message_id, reply_markup=None
            )
        except (TelegramBadRequest, TelegramForbiddenError, TelegramNotFound) as exc:
            log.debug("telegram_clear_keyboard_failed", chat_id=chat_id, error=str(exc))

    async def _edit(
        self,
        bot: Bot,
        chat_id: int,
        message_id: int,
        item: OutText,
        markup: InlineKeyboardMarkup | None,
    ) -> bool:
        """Edit in place; False when the message cannot be edited (then a new one is sent)."""
        try:
            await bot.edit_message_text(
                text=item.html,
                chat_id=chat_id,
                message_id=message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        except TelegramBadRequest as exc:
            if _is_not_modified(exc):
                return True  # already shows exactly this
            log.info("telegram_edit_failed", chat_id=chat_id, error=exc.message)
            return False
        return True

    async def _send_one(
        self,
        bot: Bot,
        chat_id: int,
        item: Outgoing,
        markup: InlineKeyboardMarkup | None,
        thread_id: int | None = None,
        answering: ReplyParameters | None = None,
    ) -> MessageId:
        if isinstance(item, OutText):
            try:
                return await bot(
                    SendMessageForId(
                        chat_id=chat_id,
                        message_thread_id=thread_id,
                        reply_parameters=answering,
                        text=item.html,
                        parse_mode=ParseMode.HTML,
                        reply_markup=markup,
                    )
                )
            except TelegramBadRequest as exc:
                if not _is_parse_error(exc):
                    raise
                # Should never happen (every run is escaped); plain text beats no answer.
                log.error("telegram_html_rejected", error=exc.message)
                return await bot(
                    SendMessageForId(
                        chat_id=chat_id,
                        message_thread_id=thread_id,
                        reply_parameters=answering,
                        text=html_to_plain(item.html),
                        parse_mode=None,
                        reply_markup=markup,
                    )
                )
        if isinstance(item, OutPhoto):
            return await bot(
                SendPhotoForId(
                    chat_id=chat_id,
                    message_thread_id=thread_id,
                    reply_parameters=answering,
                    photo=BufferedInputFile(item.png, filename="image.png"),
                    caption=item.caption_html,
                    parse_mode=ParseMode.HTML if item.caption_html else None,
                    reply_markup=markup,
                )
            )
        return await bot(
            SendDocumentForId(
                chat_id=chat_id,
                message_thread_id=thread_id,
                reply_parameters=answering,
                document=BufferedInputFile(item.data, filename=item.name or "file"),
                reply_markup=markup,
            )
        )
