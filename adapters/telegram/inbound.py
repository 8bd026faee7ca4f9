"""Telegram events -> core ``Incoming`` parts: users, attachments (lazy download), albums,
the per-user inbound throttle and the typing indicator.
"""

from __future__ import annotations

import asyncio
import io
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Protocol

import structlog
from aiogram import Bot
from aiogram.enums import ChatAction
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.types import Message, User

from core.chat import Attachment, ExternalUser
from core.errors import HuntazeError
from core.resilience.ratelimit import RateDecision

log = structlog.get_logger("huntaze.telegram")

MB = 1024 * 1024
BOT_API_DOWNLOAD_LIMIT = 20 * MB  # getFile on api.telegram.org; a --local server has none


def topic_of(message: object) -> int | None:
    """The forum topic ``message`` sits in, where its answers belong: None in the General topic,
    outside forums, and for messages the bot cannot see (a button under a deleted message)."""
    if isinstance(message, Message) and message.is_topic_message:
        return message.message_thread_id
    return None


def external_user(user: User) -> ExternalUser:
    return ExternalUser(
        platform="telegram",
        id=str(user.id),
        username=user.username or "",
        display_name=user.full_name,
        language=user.language_code or "en",
    )


# ---------------------------------------------------------------- attachments


class FileTooBig(HuntazeError):
    """Raised by ``Attachment.read`` instead of downloading a file over the limit."""


class DownloadFailed(HuntazeError):
    pass


class _CappedBuffer(io.BytesIO):
    """A download destination that refuses to grow past ``limit`` bytes."""

    def __init__(self, limit: int, name: str) -> None:
        super().__init__()
        self._limit = limit
        self._name = name

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if self.tell() + len(data) > self._limit:
            raise FileTooBig(f"{self._name} is bigger than the {self._limit // MB} MB I can take.")
        return super().write(data)


@dataclass(frozen=True)
class _FileRef:
    file_id: str
    unique_id: str
    size: int
    name: str
    mime: str
    kind: str  # photo | video | voice | audio | document


def _file_refs(message: Message) -> list[_FileRef]:
    """The file a message carries (Telegram messages carry at most one), as a reference."""
    refs: list[_FileRef] = []
    if message.photo:
        largest = max(message.photo, key=lambda p: (p.width * p.height, p.file_size or 0))
        uid = largest.file_unique_id
        refs.append(
            _FileRef(
                largest.file_id,
                uid,
                largest.file_size or 0,
                f"photo_{uid}.jpg",
                "image/jpeg",
                "photo",
            )
        )
    elif message.animation:  # an animation message also carries it as ``document``
        a = message.animation
        name = a.file_name or f"animation_{a.file_unique_id}.mp4"
        mime = a.mime_type or "video/mp4"
        refs.append(_FileRef(a.file_id, a.file_unique_id, a.file_size or 0, name, mime, "video"))
    elif message.video:
        v = message.video
        name = v.file_name or f"video_{v.file_unique_id}.mp4"
        mime = v.mime_type or "video/mp4"
        refs.append(_FileRef(v.file_id, v.file_unique_id, v.file_size or 0, name, mime, "video"))
    elif message.video_note:
        n = message.video_note
        name = f"video_note_{n.file_unique_id}.mp4"
        refs.append(
            _FileRef(n.file_id, n.file_unique_id, n.file_size or 0, name, "video/mp4", "video")
        )
    elif message.voice:
        vc = message.voice
        name = f"voice_{vc.file_unique_id}.ogg"
        mime = vc.mime_type or "audio/ogg"
        refs.append(_FileRef(vc.file_id, vc.file_unique_id, vc.file_size or 0, name, mime, "voice"))
    elif message.audio:
        au = message.audio
        name = au.file_name or f"audio_{au.file_unique_id}.mp3"
        mime = au.mime_type or "audio/mpeg"
        refs.append(_FileRef(au.file_id, au.file_unique_id, au.file_size or 0, name, mime, "audio"))
    elif message.document:
        d = message.document
        name = d.file_name or f"document_{d.file_unique_id}"
        mime = d.mime_type or "application/octet-stream"
        refs.append(_FileRef(d.file_id, d.file_unique_id, d.file_size or 0, name, mime, "document"))
    return refs


async def has_file(message: Message) -> bool:
    """The files router's filter. A coroutine: aiogram runs a plain function filter in a worker
    thread (``asyncio.to_thread``), a thread hop on every message for four attribute reads."""
    return bool(
        message.photo
        or message.animation
        or message.video
        or message.video_note
        or message.voice
        or message.audio
        or message.document
    )


def _reader(bot: Bot, ref: _FileRef, limit: int) -> Callable[[], Awaitable[bytes]]:
    async def read() -> bytes:
        if ref.size > limit:
            raise FileTooBig(
                f"{ref.name} is {ref.size / MB:.1f} MB; I can only fetch files up to "
                f"{limit // MB} MB from Telegram."
            )
        try:
            file = await bot.get_file(ref.file_id)
            if file.file_size and file.file_size > limit:
                raise FileTooBig(f"{ref.name} is over the {limit // MB} MB I can fetch.")
            if not file.file_path:
                raise DownloadFailed(f"Telegram did not give me {ref.name}; please send it again.")
            buffer = _CappedBuffer(limit, ref.name)
            await bot.download_file(file.file_path, destination=buffer, seek=False)
            return buffer.getvalue()
        except TelegramBadRequest as exc:
            if "too big" in exc.message:
                raise FileTooBig(f"{ref.name} is too big for me to fetch from Telegram.") from exc
            log.warning("telegram_download_failed", error=exc.message)
            raise DownloadFailed(f"I couldn't fetch {ref.name}; please send it again.") from exc
        except (TelegramAPIError, OSError) as exc:
            log.warning("telegram_download_failed", error=repr(exc))
            raise DownloadFailed(f"I couldn't fetch {ref.name}; please send it again.") from exc

    return read


def attachments(bot: Bot, message: Message, download_limit: int) -> list[Attachment]:
    """Core attachments for the file in ``message``; nothing is downloaded until ``read()``.

    ``size`` is the size Telegram declares, so core can refuse a file over its limit without
    fetching it; ``read()`` itself refuses anything over ``download_limit``.
    """
    return [
        Attachment(
            name=ref.name,
            mime=ref.mime,
            size=ref.size,
            read=_reader(bot, ref, download_limit),
            kind=ref.kind,
        )
        for ref in _file_refs(message)
    ]


# ---------------------------------------------------------------- albums


AlbumHandler = Callable[[list[Message]], Awaitable[None]]


@dataclass
class _Album:
    started: float
    messages: list[Message] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None


class AlbumCollector:
    """Collects the messages of one media group (album) and hands them over together.

    Telegram delivers an album as separate messages sharing ``media_group_id``. Each part
    restarts a ``window``-second timer (never past ``max_wait`` after the first part); when it
    runs out, or the album reaches ``max_items``, ``on_album`` gets the parts in message order.
    """

    def __init__(
        self,
        on_album: AlbumHandler,
        window: float = 0.8,
        *,
        max_wait: float = 5.0,
        max_items: int = 10,
    ) -> None:
        self._on_album = on_album
        self.window = window
        self.max_wait = max_wait
        self.max_items = max_items
        self._albums: dict[tuple[int, str], _Album] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def add(self, message: Message) -> None:
        assert message.media_group_id is not None
        loop = asyncio.get_running_loop()
        key = (message.chat.id, message.media_group_id)
        album = self._albums.get(key)
        if album is None:
            album = self._albums[key] = _Album(started=loop.time())
        album.messages.append(message)
        if album.timer is not None:
            album.timer.cancel()
        if len(album.messages) >= self.max_items:
            self._fire(key)
            return
        delay = min(self.window, max(0.0, album.started + self.max_wait - loop.time()))
        album.timer = loop.call_later(delay, self._fire, key)

    def _fire(self, key: tuple[int, str]) -> None:
        album = self._albums.pop(key, None)
        if album is None:
            return
        if album.timer is not None:
            album.timer.cancel()
        parts = sorted(album.messages, key=lambda m: m.message_id)
        task = asyncio.get_running_loop().create_task(self._deliver(parts))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, parts: list[Message]) -> None:
        try:
            await self._on_album(parts)
        except Exception:
            log.exception("telegram_album_failed", parts=len(parts))

    @property
    def pending(self) -> int:
        return len(self._albums)

    async def drain(self) -> None:
        """Hand over every album still collecting, and wait for all deliveries."""
        for key in list(self._albums):
            self._fire(key)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)


# ---------------------------------------------------------------- inbound throttle


class InboundLimiter(Protocol):
    """``core.resilience.ratelimit.RateLimiter`` fits (shared through Redis across instances)."""

    async def hit(self, key: str, cost: int = 1) -> RateDecision: ...


@dataclass
class _Tokens:
    tokens: float
    updated: float


class TokenBucketLimiter:
    """An in-process token bucket per key: ``burst`` at once, then ``rate`` per second."""

    def __init__(
        self,
        rate: float = 1.0,
        burst: int = 10,
        *,
        max_keys: int = 100_000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be positive and burst at least 1")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._monotonic = monotonic
        self._buckets: OrderedDict[str, _Tokens] = OrderedDict()

    async def hit(self, key: str, cost: int = 1) -> RateDecision:
        now = self._monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Tokens(float(self.burst), now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        if bucket.tokens >= cost:
            bucket.tokens -= cost
            return RateDecision(True, 0.0, None, f"{self.burst}/{self.rate}s")
        retry_after = (cost - bucket.tokens) / self.rate
        return RateDecision(False, retry_after, int(bucket.tokens), f"{self.burst}/{self.rate}s")


class InboundGuard:
    """Per-user throttle that answers politely once per streak of refused messages."""

    def __init__(self, limiter: InboundLimiter, *, max_warned: int = 10_000) -> None:
        self.limiter = limiter
        self._warned: OrderedDict[str, None] = OrderedDict()
        self._max_warned = max_warned

    async def check(self, key: str) -> tuple[bool, str | None]:
        """``(allowed, message)``: a refused user gets a message the first time only."""
        decision = await self.limiter.hit(key)
        if decision.allowed:
            self._warned.pop(key, None)
            return True, None
        if key in self._warned:
            return False, None
        self._warned[key] = None
        if len(self._warned) > self._max_warned:
            self._warned.popitem(last=False)
        seconds = max(1, math.ceil(decision.retry_after))
        return False, f"Slow down a little — try again in {seconds} s."


# ---------------------------------------------------------------- typing indicator


class Typing:
    """``async with Typing(bot, chat_id, delay)``: shows "typing…" in the chat when the body
    takes longer than ``delay`` seconds, renewed every ``interval`` (Telegram shows it ~5 s).
    A ``delay`` of None turns it off."""

    def __init__(
        self,
        bot: Bot,
        chat_id: int,
        delay: float | None = 0.5,
        interval: float = 4.5,
        *,
        thread_id: int | None = None,
    ) -> None:
        self._bot = bot
        self._chat_id = chat_id
        self._thread_id = thread_id
        self._delay = delay
        self._interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Typing:
        if self._delay is not None:
            loop = asyncio.get_running_loop()
            self._handle = loop.call_later(self._delay, self._start)
        return self

    def _start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            try:
                await self._bot.send_chat_action(
                    self._chat_id, ChatAction.TYPING, message_thread_id=self._thread_id
                )
            except TelegramAPIError as exc:
                log.debug("telegram_typing_failed", error=str(exc))
                return
            await asyncio.sleep(self._interval)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._handle is not None:
            self._handle.cancel()
        if self._task is not None:
            self._task.cancel()  # not awaited: an outer cancellation must not be swallowed
