"""A local fake Telegram Bot API server that the real aiogram client talks to over HTTP.

It listens on 127.0.0.1 (ephemeral port) and serves the two URL patterns of
``aiogram.client.telegram.TelegramAPIServer``: ``/bot{token}/{method}`` and
``/file/bot{token}/{path}``::

    async with FakeTelegramAPI() as tg:
        bot = tg.make_bot()          # Bot(tg.token, session=AiohttpSession(api=tg.api_server))
        await bot.send_message(42, "<b>hi</b>", parse_mode="HTML")
        assert tg.texts_to(42) == ["hi"]
        tg.queue_update(tg.make_message_update(chat_id=42, user_id=42, text="/start"))
        record = await tg.wait_for(lambda s: s.method == "sendMessage", timeout=2)

What it does
------------
* Parses requests the way aiogram sends them (url-encoded or multipart form fields, nested
  objects JSON-encoded, uploads as multipart parts referenced by ``attach://<name>``), and
  also plain JSON bodies and query strings, then validates them against aiogram's own method
  models (``aiogram.methods.*``). Invalid input gets a Telegram-style error
  (``{"ok": false, "error_code": 400, "description": "Bad Request: ..."}``): text longer than
  4096 characters after entity parsing, captions over 1024, ``callback_data`` over 64 bytes,
  empty text, bad HTML / MarkdownV2 / Markdown markup, unknown file ids, albums outside 2-10
  items, edits that change nothing, answering an unknown callback query, and so on.
* Answers with objects validated through ``aiogram.types`` and serialised like Telegram
  (``model_dump(mode="json", exclude_none=True, by_alias=True)``): message ids increase per
  chat, ``date`` is unix time.
* Records everything: ``log`` (every request, :class:`ApiCall`), ``sent`` (successful
  send*/edit*/answerCallbackQuery/sendChatAction calls as ``(method, params)`` tuples, each
  with ``.result``), ``calls(method)``, ``messages_to(chat_id)``, ``texts_to(chat_id)``,
  ``wait_for(predicate, timeout)``.
* Is scriptable: ``queue_update()`` feeds ``getUpdates`` (long polling honours ``timeout``,
  ``offset``, ``limit`` and ``allowed_updates``; 409 while a webhook is set or when a newer
  ``getUpdates`` takes over); ``make_*_update()`` build realistic updates validated through
  ``aiogram.types.Update`` (files they carry are registered, so ``getFile`` and downloads
  work).
* Injects failures: ``fail_next(method, status=429, retry_after=N)`` (also 5xx and any other
  status), ``delay_next(method, seconds)``, ``block_chat(chat_id)`` (403), optional flood
  control (:class:`FloodLimits`). ``getFile`` refuses files over 20 MB ("file is too big").

Deliberate simplifications: one update queue and one message store for all bot tokens; all
sizes of a photo download as the same bytes; URLs are never fetched (sending a file by URL
answers "failed to get HTTP URL content"); an unescaped ``&`` in HTML is rejected (Telegram
documents that it must be escaped, although its parser tolerates it); ``local_mode=True`` only
lifts the size limits (2000 MB uploads, no download limit).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import json
import math
import mimetypes
import re
import struct
import time
import types
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import TYPE_CHECKING, Annotated, Any, Protocol, Union, get_args, get_origin
from urllib.parse import urlsplit

from aiogram import methods as tm
from aiogram import types as tt
from aiogram.client.default import Default
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import BufferedInputFile, InputFile
from aiohttp import web
from pydantic import BaseModel, ValidationError

if TYPE_CHECKING:
    from types import TracebackType

    from aiogram import Bot

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "ApiError",
    "FakeTelegramAPI",
    "FloodLimits",
    "Sent",
    "StoredFile",
    "UploadedFile",
    "parse_html",
    "parse_markdown",
    "parse_markdown_v2",
]

JSON = dict[str, Any]

DEFAULT_TOKEN = "123456789:AAHfakeTelegramTokenForHuntazeTests0"
MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_DATA = 64
MAX_CALLBACK_ANSWER = 200
MB = 1024 * 1024
DOWNLOAD_LIMIT = 20 * MB
UPLOAD_LIMIT = 50 * MB
LOCAL_UPLOAD_LIMIT = 2000 * MB
PHOTO_LIMIT = 10 * MB

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WRONG_FILE = "Bad Request: wrong file identifier/HTTP URL specified"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

_TOKEN_RE = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{1,100}$")
_INT_RE = re.compile(r"^-?\d{1,20}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_CHAT_ID_FIELDS = frozenset({"chat_id", "from_chat_id"})
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
# Update types Telegram only sends when asked for explicitly in allowed_updates.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_BUTTON_COSMETIC = frozenset({"text", "icon_custom_emoji_id", "style"})
_BUTTON_URL_SCHEMES = frozenset({"http", "https", "tg"})

_KIND_PREFIX = {
    "photo": "AgACAgIAAxkBAAI",
    "document": "BQACAgIAAxkBAAI",
    "video": "BAACAgIAAxkBAAI",
    "voice": "AwACAgIAAxkBAAI",
    "audio": "CQACAgIAAxkBAAI",
}
_KIND_FOLDER = {
    "photo": "photos",
    "document": "documents",
    "video": "videos",
    "voice": "voice",
    "audio": "music",
}
_KIND_EXT = {"photo": ".jpg", "document": ".bin", "video": ".mp4", "voice": ".oga", "audio": ".mp3"}


# --------------------------------------------------------------------------------------------
# Errors and records
# --------------------------------------------------------------------------------------------


class ApiError(Exception):
    """A Telegram-style error answer: HTTP status == error_code, plus a description."""

    def __init__(self, status: int, description: str, parameters: JSON | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.status, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


def _entities_error(description: str) -> ApiError:
    return _bad(f"can't parse entities: {description}")


class UploadedFile(BufferedInputFile):
    """A multipart upload as the server received it (``.data``/``.content``, ``.filename``)."""

    def __init__(self, data: bytes, filename: str, content_type: str | None = None) -> None:
        super().__init__(data, filename=filename)
        self.content_type = content_type

    @property
    def content(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"UploadedFile(filename={self.filename!r}, size={len(self.data)})"


@dataclass
class StoredFile:
    """A file the fake knows: uploaded by the bot or carried by a ``make_*_update``."""

    file_id: str
    file_unique_id: str
    kind: str  # photo | document | video | voice | audio
    content: bytes
    file_size: int
    file_path: str
    file_name: str | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    photo_sizes: list[JSON] | None = None  # for the largest size of a photo: all its sizes


@dataclass(frozen=True)
class ApiCall:
    """One request to ``/bot<token>/<method>``, whatever its outcome."""

    method: str
    params: JSON
    status: int
    response: JSON
    token: str
    content_type: str = ""  # of the request body: application/json, multipart/form-data, ...

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        return self.response.get("description")


class Sent(tuple[str, JSON]):
    """A successful send*/edit*/answerCallbackQuery/sendChatAction call.

    Unpacks as ``(method, params)``; ``.result`` is the JSON result that was returned (a message
    dict, a list of them for sendMediaGroup, or ``True``). Uploaded files appear in ``params``
    as :class:`UploadedFile` objects.
    """

    result: Any

    def __new__(cls, method: str, params: JSON, result: Any = None) -> Sent:
        self = super().__new__(cls, (method, params))
        self.result = result
        return self

    @property
    def method(self) -> str:
        return self[0]

    @property
    def params(self) -> JSON:
        return self[1]

    @property
    def chat_id(self) -> Any:
        return self[1].get("chat_id")

    @property
    def text(self) -> str | None:
        """The raw text or caption that was sent (before entity parsing)."""
        value = self[1].get("text", self[1].get("caption"))
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:
        return f"Sent({self[0]!r}, {self[1]!r})"


@dataclass(frozen=True)
class FloodLimits:
    """Optional flood control on sends, as token buckets (Telegram: ~1/s per chat, ~30/s)."""

    per_chat_rate: float = 1.0
    per_chat_burst: int = 3
    global_rate: float = 30.0
    global_burst: int = 30


class _Clock(Protocol):
    def now(self) -> datetime: ...

    def monotonic(self) -> float: ...


class _SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class _Failure:
    status: int
    description: str
    parameters: JSON | None


@dataclass
class _StoredMessage:
    data: JSON
    from_bot: bool
    deleted: bool = False


@dataclass
class _ChatState:
    chat: JSON
    next_message_id: int = 1
    messages: dict[int, _StoredMessage] = field(default_factory=dict)
    topics: set[int] = field(default_factory=set)  # forum topics (message_thread_id)

    def allocate(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


# --------------------------------------------------------------------------------------------
# Text formatting: HTML, MarkdownV2, Markdown -> (plain text, entities with UTF-16 offsets)
# --------------------------------------------------------------------------------------------


def _u16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


class _TextBuilder:
    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0  # in UTF-16 code units
        self.entities: list[JSON] = []

    def add(self, chunk: str) -> None:
        self.parts.append(chunk)
        self.pos += _u16(chunk) if len(chunk) != 1 or ord(chunk) > 0xFFFF else 1

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        if self.pos > start:
            self.entities.append(
                {"type": kind, "offset": start, "length": self.pos - start, **extra}
            )

    def result(self) -> tuple[str, list[JSON]]:
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.parts), self.entities


_HTML_TAGS = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_SPECIAL_RE = re.compile(r"[<&]")
_HTML_ENTITY_RE = re.compile(r"&(?:#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6})|([a-zA-Z]{1,10}));")
_HTML_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_ATTR_NAME_RE = re.compile(r"[a-zA-Z0-9_-]+")
_WS = " \t\r\n"


def _decode_html_entity(text: str, index: int) -> tuple[str, int] | None:
    match = _HTML_ENTITY_RE.match(text, index)
    if match is None:
        return None
    if match.group(1) or match.group(2):
        code = int(match.group(1)) if match.group(1) else int(match.group(2), 16)
        if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
            return None
        return chr(code), match.end()
    char = _HTML_NAMED.get(match.group(3))
    return (char, match.end()) if char else None


def _unescape_attribute(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&" and (decoded := _decode_html_entity(value, i)) is not None:
            out.append(decoded[0])
            i = decoded[1]
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


@dataclass
class _OpenTag:
    name: str
    offset: int
    attrs: dict[str, str]


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Parse Telegram's HTML subset; return plain text and entities (UTF-16 offsets).

    Raises :class:`ApiError` ("Bad Request: can't parse entities: ...") on unsupported tags,
    unbalanced tags, an unescaped ``<`` or ``&``.
    """
    out = _TextBuilder()
    stack: list[_OpenTag] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "&":
            decoded = _decode_html_entity(text, i)
            if decoded is None:
                raise _entities_error(
                    f'Character "&" at byte offset {_byte_offset(text, i)} must be escaped '
                    'as "&amp;"'
                )
            out.add(decoded[0])
            i = decoded[1]
            continue
        if char != "<":
            special = _HTML_SPECIAL_RE.search(text, i)  # plain text up to the next < or &
            end = special.start() if special else n
            out.add(text[i:end])
            i = end
            continue
        start = i
        if text.startswith("</", i):
            end = text.find(">", i)
            if end < 0:
                raise _entities_error(f"Unclosed end tag at byte offset {_byte_offset(text, i)}")
            name = text[i + 2 : end].strip().lower()
            if not stack:
                raise _entities_error(f"Unexpected end tag at byte offset {_byte_offset(text, i)}")
            tag = stack.pop()
            if name != tag.name:
                raise _entities_error(
                    f"Unmatched end tag at byte offset {_byte_offset(text, i)}, "
                    f'expected "</{tag.name}>", found "</{name}>"'
                )
            _close_html_tag(out, tag, stack)
            i = end + 1
            continue
        name_match = _TAG_NAME_RE.match(text, i + 1)
        assert name_match is not None  # the pattern matches the empty string
        name = name_match.group(0).lower()
        if name not in _HTML_TAGS:
            raise _entities_error(
                f'Unsupported start tag "{name}" at byte offset {_byte_offset(text, start)}'
            )
        j = name_match.end()
        attrs: dict[str, str] = {}
        while True:
            while j < n and text[j] in _WS:
                j += 1
            if j >= n:
                raise _entities_error(
                    f"Unclosed start tag at byte offset {_byte_offset(text, start)}"
                )
            if text[j] == ">":
                j += 1
                break
            attr_match = _ATTR_NAME_RE.match(text, j)
            if attr_match is None:
                raise _entities_error(
                    f'Empty attribute name in the tag "{name}" at byte offset '
                    f"{_byte_offset(text, start)}"
                )
            attr = attr_match.group(0).lower()
            j = attr_match.end()
            while j < n and text[j] in _WS:
                j += 1
            if j < n and text[j] == "=":
                j += 1
                while j < n and text[j] in _WS:
                    j += 1
                if j < n and text[j] in "\"'":
                    close = text.find(text[j], j + 1)
                    if close < 0:
                        raise _entities_error(
                            f"Unclosed start tag at byte offset {_byte_offset(text, start)}"
                        )
                    raw_value = text[j + 1 : close]
                    j = close + 1
                else:
                    k = j
                    while k < n and text[k] not in _WS and text[k] != ">":
                        k += 1
                    raw_value = text[j:k]
                    j = k
                attrs[attr] = _unescape_attribute(raw_value)
            else:
                attrs[attr] = ""
        if name == "span" and attrs.get("class") != "tg-spoiler":
            raise _entities_error(
                f'Tag "span" must have class "tg-spoiler" at byte offset '
                f"{_byte_offset(text, start)}"
            )
        if name == "tg-emoji" and not attrs.get("emoji-id"):
            raise _entities_error(
                f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset '
                f"{_byte_offset(text, start)}"
            )
        stack.append(_OpenTag(name, out.pos, attrs))
        i = j
    if stack:
        raise _entities_error(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    return out.result()


def _close_html_tag(out: _TextBuilder, tag: _OpenTag, stack: list[_OpenTag]) -> None:
    css_class = tag.attrs.get("class", "")
    if tag.name == "code" and stack and stack[-1].name == "pre":
        if css_class.startswith("language-") and len(css_class) > 9:
            stack[-1].attrs["language"] = css_class[9:]
        return  # <pre><code>: one pre entity
    kind = _HTML_TAGS[tag.name]
    extra: JSON = {}
    if kind == "text_link":
        href = tag.attrs.get("href", "").strip()
        if not href:
            return
        extra["url"] = href
    elif kind == "pre" and tag.attrs.get("language"):
        extra["language"] = tag.attrs["language"]
    elif kind == "custom_emoji":
        extra["custom_emoji_id"] = tag.attrs["emoji-id"]
    elif kind == "blockquote" and "expandable" in tag.attrs:
        kind = "expandable_blockquote"
    out.entity(kind, tag.offset, **extra)


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_TOGGLES = {
    "*": ("bold", "Bold"),
    "_": ("italic", "Italic"),
    "__": ("underline", "Underline"),
    "~": ("strikethrough", "Strikethrough"),
    "||": ("spoiler", "Spoiler"),
}


def _find_unescaped(text: str, needle: str, start: int) -> int:
    i = start
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text.startswith(needle, i):
            return i
        i += 1
    return -1


def _unescape_backslashes(text: str) -> str:
    return re.sub(r"\\([\x01-\x7e])", r"\1", text)


def parse_markdown_v2(text: str) -> tuple[str, list[JSON]]:
    """Parse MarkdownV2: reserved characters outside entities must be escaped with ``\\``."""
    out = _TextBuilder()
    stack: list[tuple[str, int, int]] = []  # (marker, utf-16 offset, index in text)
    quote_start: int | None = None
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            if i + 1 < n and 0 < ord(text[i + 1]) <= 126:
                out.add(text[i + 1])
                i += 2
            else:
                out.add(char)
                i += 1
            continue
        if char == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = _find_unescaped(text, fence, i + len(fence))
            if end < 0:
                name = "Pre" if fence == "```" else "Code"
                raise _entities_error(
                    f"Can't find end of {name} entity at byte offset {_byte_offset(text, i)}"
                )
            body = text[i + len(fence) : end]
            extra: JSON = {}
            if fence == "```" and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and not any(c in first for c in _WS):
                    extra["language"] = first
                body = rest
            start = out.pos
            out.add(_unescape_backslashes(body))
            out.entity("pre" if fence == "```" else "code", start, **extra)
            i = end + len(fence)
            continue
        if char == "[":
            stack.append(("[", out.pos, i))
            i += 1
            continue
        if char == "]" and stack and stack[-1][0] == "[":
            _, start, _ = stack.pop()
            if i + 1 < n and text[i + 1] == "(":
                close = _find_unescaped(text, ")", i + 2)
                if close < 0:
                    raise _entities_error(
                        f"Can't find end of a URL at byte offset {_byte_offset(text, i + 1)}"
                    )
                url = _unescape_backslashes(text[i + 2 : close])
                if url:
                    out.entity("text_link", start, url=url)
                i = close + 1
            else:
                i += 1
            continue
        marker = (
            "__"
            if text.startswith("__", i)
            else "||"
            if text.startswith("||", i)
            else char
            if char in "*_~"
            else ""
        )
        if marker:
            if stack and stack[-1][0] == marker:
                _, start, _ = stack.pop()
                out.entity(_MDV2_TOGGLES[marker][0], start)
            else:
                stack.append((marker, out.pos, i))
            i += len(marker)
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            if quote_start is None:
                quote_start = out.pos
            i += 1
            continue
        if char == "\n" and quote_start is not None and not text.startswith(">", i + 1):
            out.entity("blockquote", quote_start)
            quote_start = None
        if char in _MDV2_RESERVED:
            raise _entities_error(
                f"Character '{char}' is reserved and must be escaped with the preceding '\\'"
            )
        out.add(char)
        i += 1
    if stack:
        marker, _, index = stack[-1]
        name = "TextUrl" if marker == "[" else _MDV2_TOGGLES[marker][1]
        raise _entities_error(
            f"Can't find end of {name} entity at byte offset {_byte_offset(text, index)}"
        )
    if quote_start is not None:
        out.entity("blockquote", quote_start)
    return out.result()


def parse_markdown(text: str) -> tuple[str, list[JSON]]:
    """Parse legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out = _TextBuilder()
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.add(text[i + 1])
            i += 2
            continue
        if char in "*_`[":
            fence = "```" if text.startswith("```", i) else char
            close_with = "]" if char == "[" else fence
            end = text.find(close_with, i + len(fence))
            if end < 0:
                raise _entities_error(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(text, i)}"
                )
            body = text[i + len(fence) : end]
            start = out.pos
            if char == "[":
                if end + 1 < n and text[end + 1] == "(" and (close := text.find(")", end)) > 0:
                    out.add(body)
                    out.entity("text_link", start, url=text[end + 2 : close])
                    i = close + 1
                else:
                    out.add(text[i : end + 1])
                    i = end + 1
                continue
            extra: JSON = {}
            if fence == "```" and "\n" in body:
                first, rest = body.split("\n", 1)
                if first and not any(c in first for c in _WS):
                    extra["language"] = first
                body = rest
            out.add(body)
            kind = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}[fence]
            out.entity(kind, start, **extra)
            i = end + len(fence)
            continue
        out.add(char)
        i += 1
    return out.result()


def format_text(
    text: str, parse_mode: str | None, entities: list[JSON] | None
) -> tuple[str, list[JSON]]:
    """Apply parse_mode (or explicit entities), then trim whitespace like Telegram."""
    if entities:
        plain, ents = text, [dict(e) for e in entities]
    elif parse_mode:
        mode = parse_mode.lower()
        if mode == "html":
            plain, ents = parse_html(text)
        elif mode == "markdownv2":
            plain, ents = parse_markdown_v2(text)
        elif mode == "markdown":
            plain, ents = parse_markdown(text)
        else:
            raise _bad(f"unsupported parse_mode {parse_mode!r}")
    else:
        plain, ents = text, []
    stripped = plain.strip()
    if stripped == plain:
        return plain, ents
    shift = _u16(plain[: len(plain) - len(plain.lstrip())])
    total = _u16(stripped)
    trimmed: list[JSON] = []
    for ent in ents:
        begin = max(0, ent["offset"] - shift)
        end = min(total, ent["offset"] - shift + ent["length"])
        if end > begin:
            trimmed.append({**ent, "offset": begin, "length": end - begin})
    return stripped, trimmed


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of a PNG, JPEG, GIF, BMP or WebP image; None when not an image."""
    if data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        width, height = struct.unpack("<HH", data[6:10])
        return int(width), int(height)
    if data.startswith(b"BM") and len(data) >= 26:
        width, height = struct.unpack("<ii", data[18:26])
        return abs(int(width)), abs(int(height))
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            width = int.from_bytes(data[24:27], "little") + 1
            height = int.from_bytes(data[27:30], "little") + 1
            return width, height
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", data[26:30])
            return int(width) & 0x3FFF, int(height) & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
        return None
    if data.startswith(b"\xff\xd8"):
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            (length,) = struct.unpack(">H", data[i + 2 : i + 4])
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[i + 5 : i + 9])
                return int(width), int(height)
            i += 2 + length
    return None


# --------------------------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------------------------


def _is_structured(annotation: Any) -> bool:
    origin = get_origin(annotation)
    if origin in (list, dict, tuple):
        return True
    if origin in (Union, types.UnionType, Annotated):
        return any(_is_structured(arg) for arg in get_args(annotation))
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


@functools.cache
def _json_fields(model: type[BaseModel]) -> frozenset[str]:
    """Fields aiogram sends JSON-encoded (objects and arrays); the others travel as text."""
    return frozenset(
        name for name, info in model.model_fields.items() if _is_structured(info.annotation)
    )


def _attach(value: Any, files: dict[str, UploadedFile]) -> Any:
    if isinstance(value, str):
        if value.startswith("attach://") and value[9:] in files:
            return files[value[9:]]
        return value
    if isinstance(value, dict):
        return {k: _attach(v, files) for k, v in value.items()}
    if isinstance(value, list):
        return [_attach(v, files) for v in value]
    return value


_PARSE_ERRORS = {
    "reply_markup": "Bad Request: can't parse reply keyboard markup JSON object",
    "media": "Bad Request: can't parse media JSON object",
    "entities": "Bad Request: can't parse entities JSON object",
    "caption_entities": "Bad Request: can't parse entities JSON object",
    "commands": "Bad Request: can't parse commands JSON object",
}


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    loc = first.get("loc") or ("?",)
    name = str(loc[0])
    if first.get("type") == "missing" and len(loc) == 1:
        if name == "text":
            return "Bad Request: message text is empty"
        if name == "message_id":
            return "Bad Request: message identifier is not specified"
        return f"Bad Request: {name} is empty"
    if name in _PARSE_ERRORS:
        return _PARSE_ERRORS[name]
    return f"Bad Request: can't parse {name}: {first.get('msg', 'invalid value')}"


async def _read_params(request: web.Request) -> tuple[JSON, dict[str, UploadedFile]]:
    raw: JSON = dict(request.query)
    files: dict[str, UploadedFile] = {}
    if request.method != "POST" or not request.body_exists:
        return raw, files
    ctype = request.content_type
    if ctype == "application/json":
        try:
            body = await request.json()
        except ValueError as exc:
            raise _bad("can't parse JSON encoded request body") from exc
        if not isinstance(body, dict):
            raise _bad("request body must be a JSON object")
        raw.update(body)
    elif ctype in ("multipart/form-data", "application/x-www-form-urlencoded"):
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files[key] = UploadedFile(
                    value.file.read(),
                    filename=value.filename or key,
                    content_type=value.content_type,
                )
            else:
                raw[key] = value
    return raw, files


def _validate(
    model: type[tm.TelegramMethod[Any]], raw: JSON, files: dict[str, UploadedFile]
) -> tm.TelegramMethod[Any]:
    structured = _json_fields(model)
    data: JSON = {}
    for key, value in raw.items():
        if isinstance(value, str):
            if key in structured and value[:1] in ("[", "{"):
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise ApiError(
                        400, _PARSE_ERRORS.get(key, f"Bad Request: can't parse {key} JSON object")
                    ) from exc
            elif key in _CHAT_ID_FIELDS and _INT_RE.match(value):
                value = int(value)
        data[key] = _attach(value, files)
    for key, upload in files.items():  # files posted directly under a field's own name
        if key in model.model_fields and key not in data:
            data[key] = upload
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(400, _describe(exc)) from exc


def _value(value: Any) -> Any:
    """A method field's value, with aiogram's Default(...) sentinels read as 'not given'."""
    return None if isinstance(value, Default) else value


def _dump(model: BaseModel | None) -> Any:
    if model is None:
        return None
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def _dump_list(models: Iterable[BaseModel] | None) -> list[JSON] | None:
    if not models:
        return None
    return [_dump(m) for m in models]


@functools.cache
def _required_bool_fields(model: type[BaseModel]) -> tuple[str, ...]:
    return tuple(
        name
        for name, info in model.model_fields.items()
        if info.is_required() and info.annotation is bool
    )


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

Handler = Callable[["FakeTelegramAPI", "_Call"], Any]


@dataclass
class _Call:
    token: str
    req: Any  # the validated aiogram method model
    params: JSON


@dataclass(frozen=True)
class _Spec:
    name: str
    model: type[tm.TelegramMethod[Any]]
    handler: Handler
    records_sent: bool


_METHODS: dict[str, _Spec] = {}


def _method(
    model: type[tm.TelegramMethod[Any]], *, sent: bool = False
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        name = model.__api_method__
        _METHODS[name.lower()] = _Spec(name, model, handler, sent)
        return handler

    return register


class FakeTelegramAPI:
    """The fake Bot API server. See the module docstring for an overview."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        strict_token: bool = False,
        bot_first_name: str = "Huntaze Test Bot",
        bot_username: str = "huntaze_test_bot",
        clock: _Clock | None = None,
        flood: FloodLimits | None = None,
        strict_webhook: bool = True,
        local_mode: bool = False,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.strict_token = strict_token
        self.bot_first_name = bot_first_name
        self.bot_username = bot_username
        self.clock: _Clock = clock or _SystemClock()
        self.flood = flood
        self.strict_webhook = strict_webhook
        self.local_mode = local_mode
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._closing = False

        # records
        self.log: list[ApiCall] = []
        self.sent: list[Sent] = []
        self.downloads: list[str] = []
        self._waiters: list[tuple[Callable[[Sent], bool], asyncio.Future[Sent]]] = []

        # state
        self._chats: dict[int, _ChatState] = {}
        self._users: dict[int, JSON] = {}
        self._bot_users: dict[str, JSON] = {}
        self._blocked: dict[int, str] = {}
        self._migrated: dict[int, int] = {}  # a group upgraded to a supergroup: old -> new id
        self._files: dict[str, StoredFile] = {}
        self._files_by_path: dict[str, StoredFile] = {}
        self._file_seq = 0
        self._updates: list[JSON] = []
        self._update_seq = 100_000_000
        self._updates_changed = asyncio.Event()
        self._poll_seq = 0
        self._polls_waiting = 0
        self._allowed_updates: frozenset[str] | None = None
        self._webhook: JSON | None = None
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._callbacks: dict[str, JSON] = {}
        # inline queries delivered (by id): the answer the bot gave, None until answered
        self.inline_answers: dict[str, JSON | None] = {}
        self._callback_seq = 4_382_000_000_000_000_000
        self._media_group_seq = 13_000_000_000_000_000
        self._failures: dict[str, deque[_Failure]] = {}
        self._delays: dict[str, deque[float]] = {}
        self._buckets: dict[int | None, _Bucket] = {}

    # ---------------------------------------------------------------- lifecycle

    async def start(self) -> FakeTelegramAPI:
        app = web.Application(
            client_max_size=(LOCAL_UPLOAD_LIMIT if self.local_mode else UPLOAD_LIMIT) + MB
        )
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        self._closing = False
        return self

    async def stop(self) -> None:
        self._closing = True
        self._notify_updates()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeTelegramAPI:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._host}:{self._port}"

    @property
    def api_server(self) -> TelegramAPIServer:
        return TelegramAPIServer.from_base(self.base_url, is_local=False)

    def make_bot(self, token: str | None = None, **kwargs: Any) -> Bot:
        """A real aiogram Bot whose session talks to this server.

        Close it with ``await bot.session.close()``. The session is aiogram's
        ``AiohttpSession`` minus the 0.25 s pause its ``close()`` takes for TLS connections,
        which a plain-HTTP loopback server does not need.
        """
        from aiogram import Bot

        return Bot(token or self.token, session=_LoopbackSession(api=self.api_server), **kwargs)

    # ---------------------------------------------------------------- HTTP handlers

    async def _handle_method(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        name = request.match_info["method"]
        params: JSON = {}
        spec = _METHODS.get(name.lower())
        if spec is not None:
            name = spec.name
        try:
            if not _TOKEN_RE.match(token) or (self.strict_token and token != self.token):
                raise ApiError(401, "Unauthorized")
            if spec is None:
                raise ApiError(404, "Not Found: method not found")
            try:
                raw, files = await _read_params(request)
            except web.HTTPRequestEntityTooLarge as exc:
                raise ApiError(413, "Request Entity Too Large") from exc
            params = raw
            await self._injected(name)
            req = _validate(spec.model, raw, files)
            params = req.model_dump(mode="python", exclude_unset=True, exclude_none=True)
            result = await spec.handler(self, _Call(token, req, params))
        except ApiError as exc:
            return self._answer(name, params, token, exc.status, exc.payload(), request)
        except Exception as exc:  # a bug in the fake: answer like Telegram's 500, keep the log
            error = ApiError(500, f"Internal Server Error: fake failed: {exc!r}")
            return self._answer(name, params, token, 500, error.payload(), request)
        response = self._answer(name, params, token, 200, {"ok": True, "result": result}, request)
        if spec.records_sent:
            self._record_sent(Sent(name, params, result))
        return response

    def _answer(
        self,
        method: str,
        params: JSON,
        token: str,
        status: int,
        body: JSON,
        request: web.Request,
    ) -> web.Response:
        ctype = request.content_type if request.body_exists else ""
        self.log.append(ApiCall(method, params, status, body, token, ctype))
        return web.Response(
            body=json.dumps(body, ensure_ascii=False).encode(),
            status=status,
            content_type="application/json",
        )

    async def _handle_file(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        stored = self._files_by_path.get(request.match_info["path"])
        if not _TOKEN_RE.match(token) or stored is None:
            body = {"ok": False, "error_code": 404, "description": "Not Found"}
            return web.json_response(body, status=404)
        self.downloads.append(stored.file_path)
        return web.Response(
            body=stored.content, content_type=stored.mime_type or "application/octet-stream"
        )

    async def _injected(self, method: str) -> None:
        key = method.lower()
        for queue_key in (key, "*"):
            delays = self._delays.get(queue_key)
            if delays:
                await asyncio.sleep(delays.popleft())
                break
        for queue_key in (key, "*"):
            failures = self._failures.get(queue_key)
            if failures:
                failure = failures.popleft()
                raise ApiError(failure.status, failure.description, failure.parameters)

    # ---------------------------------------------------------------- scripting & inspection

    def fail_next(
        self,
        method: str,
        status: int = 429,
        *,
        retry_after: int | None = None,
        description: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` calls of ``method`` ("*" = any method) fail with ``status``.

        429 answers carry ``parameters.retry_after`` (default 1 s), so aiogram raises
        ``TelegramRetryAfter``; 5xx make it raise ``TelegramServerError``.
        """
        parameters: JSON | None = None
        if status == 429:
            retry_after = 1 if retry_after is None else retry_after
            parameters = {"retry_after": retry_after}
            default = f"Too Many Requests: retry after {retry_after}"
        elif status == 400:
            default = "Bad Request"
        elif status == 403:
            default = "Forbidden: bot was blocked by the user"
        else:
            try:
                default = HTTPStatus(status).phrase
            except ValueError:
                default = "Error"
        queue = self._failures.setdefault(method.lower(), deque())
        for _ in range(times):
            queue.append(_Failure(status, description or default, parameters))

    def delay_next(self, method: str, seconds: float, *, times: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` ("*" = any) only after ``seconds``."""
        queue = self._delays.setdefault(method.lower(), deque())
        queue.extend([seconds] * times)

    def block_chat(
        self, chat_id: int, description: str = "Forbidden: bot was blocked by the user"
    ) -> None:
        """Sends to ``chat_id`` answer 403 with ``description`` until :meth:`unblock_chat`."""
        self._blocked[chat_id] = description

    def unblock_chat(self, chat_id: int) -> None:
        self._blocked.pop(chat_id, None)

    def migrate_chat(self, group_id: int, supergroup_id: int, *, title: str | None = None) -> None:
        """Upgrade a group to a supergroup, as Telegram does: from then on a call naming the
        old id answers 400 with ``parameters.migrate_to_chat_id`` (aiogram raises
        ``TelegramMigrateToChat``)."""
        old = self._chat_state(group_id)
        self.add_chat(supergroup_id, "supergroup", title=title or old.chat.get("title"))
        self._migrated[group_id] = supergroup_id

    def add_user(
        self,
        user_id: int,
        *,
        first_name: str | None = None,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
        is_premium: bool | None = None,
    ) -> JSON:
        """Register (or replace) the user that ``make_*_update`` puts in ``from``."""
        user: JSON = {
            "id": user_id,
            "is_bot": False,
            "first_name": first_name or f"User{user_id}",
            "last_name": last_name,
            "username": username if username is not None else f"user{user_id}",
            "language_code": language_code,
            "is_premium": is_premium,
        }
        self._users[user_id] = _dump(tt.User.model_validate(user))
        return self._users[user_id]

    def add_chat(
        self, chat_id: int, chat_type: str, *, title: str | None = None, is_forum: bool = False
    ) -> JSON:
        """Register a group/supergroup/channel chat (private chats are created on demand);
        ``is_forum``: a supergroup with topics (see ``add_topic``)."""
        chat: JSON = {"id": chat_id, "type": chat_type}
        if is_forum:
            if chat_type != "supergroup":
                raise ValueError("only supergroups can be forums")
            chat["is_forum"] = True
        if chat_type == "private":
            user = self._user(chat_id)
            chat.update(first_name=user["first_name"], username=user.get("username"))
        else:
            chat["title"] = title or f"Chat {chat_id}"
        state = self._chat_state(chat_id)
        state.chat = _dump(tt.Chat.model_validate(chat))
        return state.chat

    def add_topic(self, chat_id: int, name: str, user_id: int) -> int:
        """Create a forum topic as ``user_id`` (its ``forum_topic_created`` service message is
        stored); returns its ``message_thread_id``, the id of that message."""
        state = self._chat_state(chat_id)
        if not state.chat.get("is_forum"):
            raise ValueError(f"chat {chat_id} is not a forum")
        message_id = state.next_message_id
        created = {"name": name, "icon_color": 0x6FB9F0}
        content = {
            "forum_topic_created": created,
            "message_thread_id": message_id,
            "is_topic_message": True,
        }
        self._incoming(chat_id, user_id, content)
        state.topics.add(message_id)
        return message_id

    def register_file(
        self,
        content: bytes,
        kind: str = "document",
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
    ) -> StoredFile:
        """Store a file so getFile/download and sending by file_id work.

        ``file_size`` overrides the reported size (e.g. to simulate a 25 MB file cheaply).
        """
        return self._register_file(
            content, kind, file_name=file_name, mime_type=mime_type, file_size=file_size
        )

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.get(file_id)

    def queue_update(self, update: JSON) -> JSON:
        """Queue an update for getUpdates (validated through aiogram.types.Update).

        An update without ``update_id`` gets the next one. Returns the queued JSON dict.
        """
        if "update_id" not in update:
            self._update_seq += 1
            update = {"update_id": self._update_seq, **update}
        else:
            self._update_seq = max(self._update_seq, int(update["update_id"]))
        data = _dump(tt.Update.model_validate(update))
        self._updates.append(data)
        self._notify_updates()
        return data

    @property
    def polls_waiting(self) -> int:
        """How many getUpdates long polls are waiting right now."""
        return self._polls_waiting

    @property
    def pending_updates(self) -> list[JSON]:
        return list(self._updates)

    @property
    def webhook(self) -> JSON | None:
        """The webhook as set: url, secret_token, max_connections, allowed_updates... or None."""
        return dict(self._webhook) if self._webhook else None

    def commands(self, scope: JSON | None = None, language_code: str = "") -> list[JSON]:
        """The command list stored by setMyCommands for ``scope`` (default scope) and language."""
        return list(self._commands.get((self._scope_key(scope), language_code), []))

    def calls(self, method: str) -> list[ApiCall]:
        """Every request to ``method`` (case-insensitive), successful or not, in order."""
        key = method.lower()
        return [c for c in self.log if c.method.lower() == key]

    def sent_to(self, chat_id: int | str) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        """The current state of a message (bot's or user's), None if unknown or deleted."""
        state = self._chats.get(chat_id)
        stored = state.messages.get(message_id) if state else None
        return stored.data if stored and not stored.deleted else None

    def messages_to(self, chat_id: int) -> list[JSON]:
        """The bot's messages in ``chat_id`` as they are now (edits applied, deletions gone)."""
        state = self._chats.get(chat_id)
        if state is None:
            return []
        return [m.data for m in state.messages.values() if m.from_bot and not m.deleted]

    def texts_to(self, chat_id: int) -> list[str]:
        """Text (or caption) of each current bot message in ``chat_id``, after entity parsing."""
        return [m.get("text", m.get("caption", "")) for m in self.messages_to(chat_id)]

    def last_message_to(self, chat_id: int) -> JSON | None:
        messages = self.messages_to(chat_id)
        return messages[-1] if messages else None

    def is_callback_answered(self, callback_query_id: str) -> bool:
        entry = self._callbacks.get(callback_query_id)
        return bool(entry and entry["answered"])

    def clear_records(self) -> None:
        """Forget recorded calls (log, sent, downloads); state (chats, files) is kept."""
        self.log.clear()
        self.sent.clear()
        self.downloads.clear()

    async def wait_for(
        self,
        predicate: Callable[[Sent], bool] | None = None,
        timeout: float = 5.0,  # noqa: ASYNC109 - part of this helper's contract
        *,
        method: str | None = None,
        chat_id: int | str | None = None,
        since: int = 0,
    ) -> Sent:
        """Wait for a successful send*/edit*/answer call matching all given conditions.

        Looks at ``sent[since:]`` first, then at new calls. Returns the :class:`Sent` record;
        raises ``TimeoutError`` (listing what was sent) when none matches in ``timeout``.
        """
        wanted = method.lower() if method else None

        def match(record: Sent) -> bool:
            if wanted and record.method.lower() != wanted:
                return False
            if chat_id is not None and record.chat_id != chat_id:
                return False
            return predicate is None or bool(predicate(record))

        for record in self.sent[since:]:
            if match(record):
                return record
        future: asyncio.Future[Sent] = asyncio.get_running_loop().create_future()
        waiter = (match, future)
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            recent = ", ".join(f"{s.method}({s.chat_id}): {s.text!r}" for s in self.sent[-5:])
            raise TimeoutError(
                f"no matching Telegram call within {timeout}s; last sent: [{recent}]"
            ) from None
        finally:
            self._waiters.remove(waiter)

    def _record_sent(self, record: Sent) -> None:
        self.sent.append(record)
        for match, future in list(self._waiters):
            if future.done():
                continue
            try:
                if match(record):
                    future.set_result(record)
            except Exception as exc:  # a broken predicate fails the waiting test
                future.set_exception(exc)

    # ---------------------------------------------------------------- update builders

    def make_message_update(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        *,
        entities: list[JSON] | None = None,
        reply_to_message_id: int | None = None,
        thread_id: int | None = None,
        queue: bool = False,
    ) -> JSON:
        """A ``message`` update with ``text`` (a leading /command gets its bot_command entity),
        in forum topic ``thread_id`` if given."""
        if entities is None and text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            entities = [{"type": "bot_command", "offset": 0, "length": _u16(command)}]
        content: JSON = {"text": text, "entities": entities}
        if thread_id is not None:
            if thread_id not in self._chat_state(chat_id).topics:
                raise ValueError(f"no topic {thread_id} in chat {chat_id}")
            content.update(message_thread_id=thread_id, is_topic_message=True)
        message = self._incoming(chat_id, user_id, content, reply_to_message_id=reply_to_message_id)
        return self._make_update({"message": message}, queue)

    def make_command(
        self, chat_id: int, user_id: int, command: str, args: str = "", *, queue: bool = False
    ) -> JSON:
        """A ``/command args`` message update (``command`` with or without the slash)."""
        text = "/" + command.lstrip("/")
        if args:
            text = f"{text} {args}"
        return self.make_message_update(chat_id, user_id, text, queue=queue)

    def make_callback_update(
        self, chat_id: int, user_id: int, message_id: int, data: str, *, queue: bool = False
    ) -> JSON:
        """The user pressing an inline button with ``data`` under message ``message_id``."""
        state = self._chat_state(chat_id, user_id)
        stored = state.messages.get(message_id)
        if stored is None:
            message: JSON = {
                "message_id": message_id,
                "from": self._bot_user(self.token),
                "chat": state.chat,
                "date": self._now(),
                "text": "…",
            }
        elif stored.deleted:
            message = {"chat": state.chat, "message_id": message_id, "date": 0}
        else:
            message = stored.data
        self._callback_seq += 1
        query_id = str(self._callback_seq)
        self._callbacks[query_id] = {
            "answered": False,
            "chat_id": chat_id,
            "message_id": message_id,
        }
        query = {
            "id": query_id,
            "from": self._user(user_id),
            "message": message,
            "chat_instance": str(-(abs(chat_id) * 7919 % 10**18) - 1),
            "data": data,
        }
        return self._make_update({"callback_query": query}, queue)

    def make_inline_query_update(self, user_id: int, query: str, *, queue: bool = False) -> JSON:
        """The user typing ``@bot <query>`` in any chat (inline mode)."""
        self._callback_seq += 1
        query_id = str(self._callback_seq)
        self.inline_answers[query_id] = None
        body = {"id": query_id, "from": self._user(user_id), "query": query, "offset": ""}
        return self._make_update({"inline_query": body}, queue)

    def make_photo_update(
        self,
        chat_id: int,
        user_id: int,
        file_bytes: bytes,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        queue: bool = False,
    ) -> JSON:
        """A photo message: ``photo`` is a list of PhotoSize, the last one the largest."""
        width, height = image_size(file_bytes) or (1280, 960)
        sizes = self._photo_sizes(file_bytes, width, height)
        content: JSON = {"photo": sizes, "caption": caption, "media_group_id": media_group_id}
        return self._make_update({"message": self._incoming(chat_id, user_id, content)}, queue)

    def make_document_update(
        self,
        chat_id: int,
        user_id: int,
        file_bytes: bytes,
        file_name: str = "document.bin",
        mime_type: str | None = None,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        file_size: int | None = None,
        queue: bool = False,
    ) -> JSON:
        """A document message. ``file_size`` overrides the reported size (big-file tests)."""
        mime = mime_type or mimetypes.guess_type(file_name)[0] or "application/octet-stream"
        stored = self._register_file(
            file_bytes, "document", file_name=file_name, mime_type=mime, file_size=file_size
        )
        document = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": file_name,
            "mime_type": mime,
            "file_size": stored.file_size,
        }
        content: JSON = {"document": document, "caption": caption, "media_group_id": media_group_id}
        return self._make_update({"message": self._incoming(chat_id, user_id, content)}, queue)

    def make_video_update(
        self,
        chat_id: int,
        user_id: int,
        file_bytes: bytes,
        caption: str | None = None,
        media_group_id: str | None = None,
        *,
        duration: int = 5,
        width: int = 1280,
        height: int = 720,
        file_name: str = "video.mp4",
        mime_type: str = "video/mp4",
        file_size: int | None = None,
        queue: bool = False,
    ) -> JSON:
        stored = self._register_file(
            file_bytes, "video", file_name=file_name, mime_type=mime_type, file_size=file_size
        )
        video = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": width,
            "height": height,
            "duration": duration,
            "file_name": file_name,
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        content: JSON = {"video": video, "caption": caption, "media_group_id": media_group_id}
        return self._make_update({"message": self._incoming(chat_id, user_id, content)}, queue)

    def make_voice_update(
        self,
        chat_id: int,
        user_id: int,
        file_bytes: bytes,
        *,
        duration: int = 3,
        mime_type: str = "audio/ogg",
        file_size: int | None = None,
        queue: bool = False,
    ) -> JSON:
        stored = self._register_file(file_bytes, "voice", mime_type=mime_type, file_size=file_size)
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": mime_type,
            "file_size": stored.file_size,
        }
        return self._make_update(
            {"message": self._incoming(chat_id, user_id, {"voice": voice})}, queue
        )

    def make_edited_message_update(
        self, chat_id: int, user_id: int, message_id: int, text: str, *, queue: bool = False
    ) -> JSON:
        """The user editing their message ``message_id`` to ``text``."""
        state = self._chat_state(chat_id, user_id)
        stored = state.messages.get(message_id)
        base: JSON = (
            dict(stored.data)
            if stored and not stored.from_bot
            else {
                "message_id": message_id,
                "from": self._user(user_id),
                "chat": state.chat,
                "date": self._now(),
            }
        )
        base.pop("entities", None)
        base.update(text=text, edit_date=self._now())
        message = _dump(tt.Message.model_validate(base))
        if stored and not stored.from_bot:
            stored.data = message
        return self._make_update({"edited_message": message}, queue)

    def make_my_chat_member_update(
        self,
        chat_id: int,
        user_id: int,
        old_status: str = "member",
        new_status: str = "kicked",
        *,
        queue: bool = False,
    ) -> JSON:
        """The bot's membership changing; in a private chat "kicked" means the user blocked it.

        A private chat moved to "kicked" is blocked (sends answer 403) until moved back.
        """
        state = self._chat_state(chat_id, user_id)
        bot = self._bot_user(self.token)
        payload = {
            "chat": state.chat,
            "from": self._user(user_id),
            "date": self._now(),
            "old_chat_member": self._member(bot, old_status),
            "new_chat_member": self._member(bot, new_status),
        }
        if state.chat["type"] == "private":
            if new_status == "kicked":
                self.block_chat(chat_id)
            elif new_status == "member":
                self.unblock_chat(chat_id)
        return self._make_update({"my_chat_member": payload}, queue)

    def _member(self, user: JSON, status: str) -> JSON:
        member: JSON = {"status": status, "user": user}
        if status == "kicked":
            member["until_date"] = 0
        elif status == "administrator":
            member.update(dict.fromkeys(_required_bool_fields(tt.ChatMemberAdministrator), False))
            member.update(can_be_edited=False, can_manage_chat=True, can_delete_messages=True)
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "restricted":
            member.update(dict.fromkeys(_required_bool_fields(tt.ChatMemberRestricted), False))
            member.update(is_member=True, until_date=0)
        elif status not in ("member", "left"):
            raise ValueError(f"unknown chat member status {status!r}")
        return member

    def _make_update(self, payload: JSON, queue: bool) -> JSON:
        self._update_seq += 1
        update = _dump(tt.Update.model_validate({"update_id": self._update_seq, **payload}))
        if queue:
            self._updates.append(update)
            self._notify_updates()
        return update

    def _incoming(
        self,
        chat_id: int,
        user_id: int,
        content: JSON,
        *,
        reply_to_message_id: int | None = None,
    ) -> JSON:
        state = self._chat_state(chat_id, user_id)
        message: JSON = {
            "message_id": state.allocate(),
            "from": self._user(user_id),
            "chat": state.chat,
            "date": self._now(),
            **{k: v for k, v in content.items() if v is not None},
        }
        if reply_to_message_id is not None:
            target = self.message(chat_id, reply_to_message_id)
            if target is not None:
                message["reply_to_message"] = _without_reply(target)
        data = _dump(tt.Message.model_validate(message))
        state.messages[data["message_id"]] = _StoredMessage(data, from_bot=False)
        return data

    # ---------------------------------------------------------------- state helpers

    def _now(self) -> int:
        return int(self.clock.now().timestamp())

    def _notify_updates(self) -> None:
        event = self._updates_changed
        self._updates_changed = asyncio.Event()
        event.set()

    def _user(self, user_id: int) -> JSON:
        return self._users.get(user_id) or self.add_user(user_id)

    def _bot_user(self, token: str) -> JSON:
        user = self._bot_users.get(token)
        if user is None:
            user = {
                "id": int(token.split(":", 1)[0]),
                "is_bot": True,
                "first_name": self.bot_first_name,
                "username": self.bot_username,
            }
            self._bot_users[token] = user
        return user

    def _chat_state(self, chat_id: int, user_id: int | None = None) -> _ChatState:
        state = self._chats.get(chat_id)
        if state is None:
            if chat_id > 0:
                user = self._user(chat_id)
                chat: JSON = {"id": chat_id, "type": "private", "first_name": user["first_name"]}
                if user.get("username"):
                    chat["username"] = user["username"]
            else:
                kind = "supergroup" if str(chat_id).startswith("-100") else "group"
                chat = {"id": chat_id, "type": kind, "title": f"Group {chat_id}"}
            state = _ChatState(chat)
            self._chats[chat_id] = state
        return state

    def _resolve_chat(self, chat_id: int | str) -> _ChatState:
        if isinstance(chat_id, str):
            name = chat_id[1:].lower() if chat_id.startswith("@") else None
            found = [
                s
                for s in self._chats.values()
                if name and s.chat.get("username", "").lower() == name
            ]
            if not found:
                raise _bad("chat not found")
            chat_id = int(found[0].chat["id"])
        if chat_id == 0:
            raise _bad("chat not found")
        if chat_id in self._blocked:
            raise ApiError(403, self._blocked[chat_id])
        if chat_id in self._migrated:
            raise ApiError(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": self._migrated[chat_id]},
            )
        return self._chat_state(chat_id)

    def _scope_key(self, scope: JSON | None) -> str:
        return json.dumps(scope or {"type": "default"}, sort_keys=True)

    def _register_file(
        self,
        content: bytes,
        kind: str,
        *,
        file_name: str | None = None,
        mime_type: str | None = None,
        file_size: int | None = None,
        variant: str = "",
        width: int | None = None,
        height: int | None = None,
    ) -> StoredFile:
        if kind not in _KIND_PREFIX:
            raise ValueError(f"unknown file kind {kind!r}")
        self._file_seq += 1
        digest = hashlib.sha256(f"{kind}:{variant}:".encode() + content).digest()
        unique = "AQAD" + base64.urlsafe_b64encode(digest[:9]).decode()
        file_id = f"{_KIND_PREFIX[kind]}{self._file_seq:06d}{unique}"
        ext = _KIND_EXT[kind]
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        elif kind == "document" and mime_type:
            ext = mimetypes.guess_extension(mime_type) or ext
        path = f"{_KIND_FOLDER[kind]}/file_{self._file_seq}{ext}"
        stored = StoredFile(
            file_id=file_id,
            file_unique_id=unique,
            kind=kind,
            content=content,
            file_size=len(content) if file_size is None else file_size,
            file_path=path,
            file_name=file_name,
            mime_type=mime_type,
            width=width,
            height=height,
        )
        self._files[file_id] = stored
        self._files_by_path[path] = stored
        return stored

    def _photo_sizes(self, content: bytes, width: int, height: int) -> list[JSON]:
        longest = max(width, height, 1)
        dims: list[tuple[int, int]] = []
        if longest > 90:
            scale = 90 / longest
            dims.append((max(1, round(width * scale)), max(1, round(height * scale))))
        if longest > 2560:
            scale = 2560 / longest
            width, height = max(1, round(width * scale)), max(1, round(height * scale))
        dims.append((width, height))
        sizes: list[JSON] = []
        last: StoredFile | None = None
        for w, h in dims:
            last = self._register_file(
                content, "photo", mime_type="image/jpeg", variant=f"{w}x{h}", width=w, height=h
            )
            sizes.append(
                {
                    "file_id": last.file_id,
                    "file_unique_id": last.file_unique_id,
                    "width": w,
                    "height": h,
                    "file_size": last.file_size,
                }
            )
        assert last is not None
        last.photo_sizes = sizes
        return sizes

    # ---------------------------------------------------------------- send helpers

    def _format(
        self,
        text: str | None,
        parse_mode: Any,
        entities: Any,
        *,
        caption: bool,
        edit: bool = False,
    ) -> tuple[str | None, list[JSON] | None]:
        if text is None or (caption and text == ""):
            if caption:
                return None, None
            raise _bad("message text is empty")
        plain, ents = format_text(text, _value(parse_mode), _dump_list(entities))
        if caption:
            if len(plain) > MAX_CAPTION:
                raise _bad("message caption is too long")
            return (plain or None), (ents or None)
        if not plain:
            raise _bad("message text is empty")
        if len(plain) > MAX_TEXT:
            raise _bad("MESSAGE_TOO_LONG" if edit else "message is too long")
        return plain, (ents or None)

    def _markup(self, markup: Any) -> JSON | None:
        data = _dump(markup)
        if not data or "inline_keyboard" not in data:
            return None
        for row in data["inline_keyboard"]:
            for button in row:
                if not any(key not in _BUTTON_COSMETIC for key in button):
                    raise _bad(
                        "can't parse inline keyboard button: "
                        "Text buttons are unallowed in the inline keyboard"
                    )
                if "callback_data" in button:
                    size = len(button["callback_data"].encode("utf-8"))
                    if not 1 <= size <= MAX_CALLBACK_DATA:
                        raise _bad("BUTTON_DATA_INVALID")
                if "url" in button:
                    parts = urlsplit(button["url"])
                    if parts.scheme.lower() not in _BUTTON_URL_SCHEMES or not parts.netloc:
                        raise _bad("BUTTON_URL_INVALID")
        return data

    def _check_flood(self, chat_id: int, count: int = 1) -> None:
        if self.flood is None:
            return
        now = self.clock.monotonic()
        limits = self.flood
        plan = (
            (chat_id, limits.per_chat_rate, limits.per_chat_burst),
            (None, limits.global_rate, limits.global_burst),
        )
        waits = []
        for key, rate, burst in plan:
            bucket = self._buckets.setdefault(key, _Bucket(float(burst), now))
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            waits.append(0.0 if bucket.tokens >= count else (count - bucket.tokens) / rate)
        wait = max(waits)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise ApiError(
                429,
                f"Too Many Requests: retry after {retry_after}",
                {"retry_after": retry_after},
            )
        for key, _, _ in plan:
            self._buckets[key].tokens -= count

    def _thread(self, state: _ChatState, req: Any) -> int | None:
        """The request's ``message_thread_id``: a topic of this forum, or an error as
        Telegram gives (no topic: the General topic / a chat without topics)."""
        thread = _value(getattr(req, "message_thread_id", None))
        if thread is None:
            return None
        if not state.chat.get("is_forum") or thread not in state.topics:
            raise _bad("message thread not found")
        return int(thread)

    def _reply_target(self, state: _ChatState, req: Any) -> JSON | None:
        reply = getattr(req, "reply_parameters", None)
        message_id = reply.message_id if reply else getattr(req, "reply_to_message_id", None)
        if message_id is None:
            return None
        allow = bool(
            (reply and _value(reply.allow_sending_without_reply))
            or _value(getattr(req, "allow_sending_without_reply", None))
        )
        target_state = state
        if reply and reply.chat_id is not None and reply.chat_id != state.chat["id"]:
            target_state = self._resolve_chat(reply.chat_id)
        stored = target_state.messages.get(message_id)
        if stored is None or stored.deleted:
            if allow:
                return None
            raise _bad("message to be replied not found")
        return _without_reply(stored.data)

    def _input_file(self, value: Any, kind: str) -> tuple[StoredFile, bool]:
        """Resolve an InputFile/file_id to a stored file; (file, freshly_uploaded)."""
        if isinstance(value, InputFile):
            if not isinstance(value, UploadedFile):
                raise _bad("wrong file identifier/HTTP URL specified")
            content = value.data
            if not content:
                raise _bad("file must be non-empty")
            limit = LOCAL_UPLOAD_LIMIT if self.local_mode else UPLOAD_LIMIT
            if len(content) > limit:
                raise ApiError(413, "Request Entity Too Large")
            mime = value.content_type
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(value.filename or "")[0] or mime
            if kind == "photo":
                dims = image_size(content)
                if dims is None:
                    raise _bad("IMAGE_PROCESS_FAILED")
                w, h = dims
                if w <= 0 or h <= 0 or w + h > 10000 or max(w, h) > 20 * min(w, h):
                    raise _bad("PHOTO_INVALID_DIMENSIONS")
                if len(content) > PHOTO_LIMIT and not self.local_mode:
                    raise _bad("PHOTO_SAVE_FILE_INVALID")
                sizes = self._photo_sizes(content, w, h)
                return self._files[sizes[-1]["file_id"]], True
            stored = self._register_file(content, kind, file_name=value.filename, mime_type=mime)
            return stored, True
        if isinstance(value, str):
            if value.startswith(("http://", "https://")):
                raise _bad("failed to get HTTP URL content")
            stored_file = self._files.get(value)
            if stored_file is None:
                raise ApiError(400, WRONG_FILE)
            if stored_file.kind != kind:
                raise _bad(f"can't use file of type {stored_file.kind.title()} as {kind.title()}")
            return stored_file, False
        raise ApiError(400, WRONG_FILE)

    def _media_object(self, stored: StoredFile, kind: str, req: Any) -> Any:
        base: JSON = {"file_id": stored.file_id, "file_unique_id": stored.file_unique_id}
        if kind == "photo":
            if stored.photo_sizes:
                return stored.photo_sizes
            return [
                {
                    **base,
                    "width": stored.width or 1280,
                    "height": stored.height or 960,
                    "file_size": stored.file_size,
                }
            ]
        base["file_size"] = stored.file_size
        if stored.mime_type:
            base["mime_type"] = stored.mime_type
        if kind == "document":
            return {**base, "file_name": stored.file_name}
        duration = _value(getattr(req, "duration", None)) or 0
        if kind == "video":
            return {
                **base,
                "file_name": stored.file_name,
                "width": _value(getattr(req, "width", None)) or 1280,
                "height": _value(getattr(req, "height", None)) or 720,
                "duration": duration,
            }
        if kind == "audio":
            return {
                **base,
                "file_name": stored.file_name,
                "duration": duration,
                "performer": _value(getattr(req, "performer", None)),
                "title": _value(getattr(req, "title", None)),
            }
        return {**base, "duration": duration}  # voice

    def _new_bot_message(
        self,
        token: str,
        state: _ChatState,
        content: JSON,
        *,
        reply_to: JSON | None = None,
        markup: JSON | None = None,
        protect: bool = False,
        thread: int | None = None,
    ) -> JSON:
        message: JSON = {
            "message_id": state.allocate(),
            "from": self._bot_user(token),
            "chat": state.chat,
            "date": self._now(),
            **{k: v for k, v in content.items() if v is not None},
        }
        if thread is not None:
            message.update(message_thread_id=thread, is_topic_message=True)
        if reply_to is not None:
            message["reply_to_message"] = reply_to
        if markup is not None:
            message["reply_markup"] = markup
        if protect:
            message["has_protected_content"] = True
        data = _dump(tt.Message.model_validate(message))
        state.messages[data["message_id"]] = _StoredMessage(data, from_bot=True)
        return data

    async def _send_media(self, call: _Call, kind: str, field_name: str) -> JSON:
        req = call.req
        state = self._resolve_chat(req.chat_id)
        caption, caption_entities = self._format(
            _value(req.caption), req.parse_mode, req.caption_entities, caption=True
        )
        markup = self._markup(req.reply_markup)
        reply_to = self._reply_target(state, req)
        thread = self._thread(state, req)
        stored, _ = self._input_file(getattr(req, field_name), kind)
        self._check_flood(int(state.chat["id"]))
        content = {
            kind: self._media_object(stored, kind, req),
            "caption": caption,
            "caption_entities": caption_entities,
        }
        return self._new_bot_message(
            call.token,
            state,
            content,
            reply_to=reply_to,
            markup=markup,
            protect=_value(req.protect_content) is True,
            thread=thread,
        )

    def _editable(self, req: Any) -> tuple[_ChatState, _StoredMessage] | None:
        if _value(getattr(req, "inline_message_id", None)):
            return None
        if req.chat_id is None or req.message_id is None:
            raise _bad("message identifier is not specified")
        state = self._resolve_chat(req.chat_id)
        stored = state.messages.get(req.message_id)
        if stored is None or stored.deleted:
            raise _bad("message to edit not found")
        if not stored.from_bot:
            raise _bad("message can't be edited")
        return state, stored

    def _apply_edit(self, stored: _StoredMessage, changes: JSON) -> JSON:
        """Apply ``changes`` (None removes a field); refuse an edit that changes nothing."""
        updated = {k: v for k, v in stored.data.items() if k not in changes}
        updated.update({k: v for k, v in changes.items() if v is not None})
        new = _dump(tt.Message.model_validate(updated))
        if all(new.get(k) == stored.data.get(k) for k in changes):
            raise ApiError(400, NOT_MODIFIED)
        new["edit_date"] = self._now()
        stored.data = new
        return new


class _LoopbackSession(AiohttpSession):
    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _without_reply(message: JSON) -> JSON:
    return {k: v for k, v in message.items() if k != "reply_to_message"}


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------


@_method(tm.GetMe)
async def _get_me(api: FakeTelegramAPI, call: _Call) -> JSON:
    user = {
        **api._bot_user(call.token),
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }
    return _dump(tt.User.model_validate(user))


@_method(tm.GetUpdates)
async def _get_updates(api: FakeTelegramAPI, call: _Call) -> list[JSON]:
    req: tm.GetUpdates = call.req
    if api._webhook is not None:
        raise ApiError(409, WEBHOOK_CONFLICT)
    if req.allowed_updates is not None:
        api._allowed_updates = frozenset(req.allowed_updates) or None
    if req.offset:
        if req.offset > 0:
            api._updates = [u for u in api._updates if u["update_id"] >= req.offset]
        else:
            api._updates = api._updates[req.offset :]
    limit = min(max(req.limit or 100, 1), 100)
    timeout = max(0, req.timeout or 0)
    api._poll_seq += 1
    me = api._poll_seq
    api._notify_updates()  # an older long poll notices it was superseded
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if me != api._poll_seq:
            raise ApiError(409, POLL_CONFLICT)
        if api._webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        batch = _deliverable(api)
        if batch or api._closing:
            return batch[:limit]
        remaining = deadline - loop.time()
        if remaining <= 0:
            return []
        api._polls_waiting += 1
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(api._updates_changed.wait(), remaining)
        finally:
            api._polls_waiting -= 1


def _deliverable(api: FakeTelegramAPI) -> list[JSON]:
    allowed = api._allowed_updates
    kept: list[JSON] = []
    for update in api._updates:
        kind = next((k for k in update if k != "update_id"), "")
        if (kind in allowed) if allowed else (kind not in _OPT_IN_UPDATES):
            kept.append(update)
    api._updates = kept  # Telegram drops updates of types the bot did not ask for
    return kept


@_method(tm.SetWebhook)
async def _set_webhook(api: FakeTelegramAPI, call: _Call) -> bool:
    req: tm.SetWebhook = call.req
    url = req.url.strip()
    if req.drop_pending_updates:
        api._updates.clear()
    if not url:
        api._webhook = None
        return True
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise _bad("bad webhook: Unsupported URL protocol")
    if not parts.hostname:
        raise _bad("bad webhook: Failed to resolve host: Name or service not known")
    if api.strict_webhook:
        if parts.scheme != "https":
            raise _bad("bad webhook: HTTPS url must be provided for webhook")
        if parts.port not in (None, 80, 88, 443, 8443):
            raise _bad("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
    if req.secret_token is not None and not _SECRET_RE.match(req.secret_token):
        raise _bad("secret token contains unallowed characters")
    if req.max_connections is not None and not 1 <= req.max_connections <= 100:
        raise _bad("bad webhook: max_connections must be between 1 and 100")
    if req.allowed_updates is not None:
        api._allowed_updates = frozenset(req.allowed_updates) or None
    api._webhook = {
        "url": url,
        "secret_token": req.secret_token,
        "max_connections": req.max_connections or 40,
        "allowed_updates": req.allowed_updates,
        "ip_address": req.ip_address,
        "has_custom_certificate": req.certificate is not None,
        "drop_pending_updates": bool(req.drop_pending_updates),
    }
    api._notify_updates()  # a running long poll ends with 409
    return True


@_method(tm.DeleteWebhook)
async def _delete_webhook(api: FakeTelegramAPI, call: _Call) -> bool:
    req: tm.DeleteWebhook = call.req
    api._webhook = None
    if req.drop_pending_updates:
        api._updates.clear()
    return True


@_method(tm.GetWebhookInfo)
async def _get_webhook_info(api: FakeTelegramAPI, call: _Call) -> JSON:
    hook = api._webhook
    info: JSON = {
        "url": hook["url"] if hook else "",
        "has_custom_certificate": bool(hook and hook["has_custom_certificate"]),
        "pending_update_count": len(api._updates),
    }
    if hook:
        info.update(
            max_connections=hook["max_connections"],
            allowed_updates=sorted(api._allowed_updates) if api._allowed_updates else None,
            ip_address=hook["ip_address"] or "127.0.0.1",
        )
    return _dump(tt.WebhookInfo.model_validate(info))


def _commands_key(api: FakeTelegramAPI, req: Any) -> tuple[str, str]:
    language = req.language_code or ""
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise _bad("invalid language code specified")
    return api._scope_key(_dump(req.scope)), language


@_method(tm.SetMyCommands)
async def _set_my_commands(api: FakeTelegramAPI, call: _Call) -> bool:
    req: tm.SetMyCommands = call.req
    if len(req.commands) > 100:
        raise _bad("too many commands specified")
    commands = []
    for command in req.commands:
        if not _COMMAND_RE.match(command.command):
            raise _bad("BOT_COMMAND_INVALID")
        if not 1 <= len(command.description.strip()) <= 256:
            raise _bad("BOT_COMMAND_DESCRIPTION_INVALID")
        commands.append({"command": command.command, "description": command.description})
    key = _commands_key(api, req)
    if commands:
        api._commands[key] = commands
    else:
        api._commands.pop(key, None)
    return True


@_method(tm.GetMyCommands)
async def _get_my_commands(api: FakeTelegramAPI, call: _Call) -> list[JSON]:
    return list(api._commands.get(_commands_key(api, call.req), []))


@_method(tm.DeleteMyCommands)
async def _delete_my_commands(api: FakeTelegramAPI, call: _Call) -> bool:
    api._commands.pop(_commands_key(api, call.req), None)
    return True


@_method(tm.SendMessage, sent=True)
async def _send_message(api: FakeTelegramAPI, call: _Call) -> JSON:
    req: tm.SendMessage = call.req
    state = api._resolve_chat(req.chat_id)
    text, entities = api._format(req.text, req.parse_mode, req.entities, caption=False)
    markup = api._markup(req.reply_markup)
    reply_to = api._reply_target(state, req)
    thread = api._thread(state, req)
    api._check_flood(int(state.chat["id"]))
    return api._new_bot_message(
        call.token,
        state,
        {"text": text, "entities": entities},
        reply_to=reply_to,
        markup=markup,
        protect=_value(req.protect_content) is True,
        thread=thread,
    )


@_method(tm.SendPhoto, sent=True)
async def _send_photo(api: FakeTelegramAPI, call: _Call) -> JSON:
    return await api._send_media(call, "photo", "photo")


@_method(tm.SendDocument, sent=True)
async def _send_document(api: FakeTelegramAPI, call: _Call) -> JSON:
    return await api._send_media(call, "document", "document")


@_method(tm.SendVideo, sent=True)
async def _send_video(api: FakeTelegramAPI, call: _Call) -> JSON:
    return await api._send_media(call, "video", "video")


@_method(tm.SendAudio, sent=True)
async def _send_audio(api: FakeTelegramAPI, call: _Call) -> JSON:
    return await api._send_media(call, "audio", "audio")


@_method(tm.SendVoice, sent=True)
async def _send_voice(api: FakeTelegramAPI, call: _Call) -> JSON:
    return await api._send_media(call, "voice", "voice")


@_method(tm.SendMediaGroup, sent=True)
async def _send_media_group(api: FakeTelegramAPI, call: _Call) -> list[JSON]:
    req: tm.SendMediaGroup = call.req
    state = api._resolve_chat(req.chat_id)
    if len(req.media) > 10:
        raise _bad("Too much messages to send as an album")
    if len(req.media) < 2:
        raise _bad("media group must include 2-10 items")
    kinds = [str(item.type) for item in req.media]
    if "live_photo" in kinds:
        raise _bad("live photos are not supported by this fake")
    for grouped in ("document", "audio"):
        if grouped in kinds and any(k != grouped for k in kinds):
            raise _bad(f"{grouped} can't be mixed with other media types in an album")
    prepared = []
    for item in req.media:
        caption, entities = api._format(
            _value(item.caption), item.parse_mode, item.caption_entities, caption=True
        )
        prepared.append((item, caption, entities))
    reply_to = api._reply_target(state, req)
    thread = api._thread(state, req)
    stored = [api._input_file(item.media, str(item.type))[0] for item in req.media]
    api._check_flood(int(state.chat["id"]), len(req.media))
    api._media_group_seq += 1
    group_id = str(api._media_group_seq)
    messages = []
    for (item, caption, entities), file in zip(prepared, stored, strict=True):
        kind = str(item.type)
        content = {
            kind: api._media_object(file, kind, item),
            "caption": caption,
            "caption_entities": entities,
            "media_group_id": group_id,
        }
        messages.append(
            api._new_bot_message(
                call.token,
                state,
                content,
                reply_to=reply_to,
                protect=_value(req.protect_content) is True,
                thread=thread,
            )
        )
    return messages


@_method(tm.SendChatAction, sent=True)
async def _send_chat_action(api: FakeTelegramAPI, call: _Call) -> bool:
    req: tm.SendChatAction = call.req
    api._thread(api._resolve_chat(req.chat_id), req)
    if req.action not in _CHAT_ACTIONS:
        raise _bad("wrong parameter action in request")
    return True


@_method(tm.EditMessageText, sent=True)
async def _edit_message_text(api: FakeTelegramAPI, call: _Call) -> JSON | bool:
    req: tm.EditMessageText = call.req
    target = api._editable(req)
    text, entities = api._format(req.text, req.parse_mode, req.entities, caption=False, edit=True)
    markup = api._markup(req.reply_markup)
    if target is None:
        return True
    _, stored = target
    if "text" not in stored.data:
        raise _bad("there is no text in the message to edit")
    changes = {"text": text, "entities": entities, "reply_markup": markup}
    return api._apply_edit(stored, changes)


@_method(tm.EditMessageCaption, sent=True)
async def _edit_message_caption(api: FakeTelegramAPI, call: _Call) -> JSON | bool:
    req: tm.EditMessageCaption = call.req
    target = api._editable(req)
    caption, entities = api._format(
        _value(req.caption), req.parse_mode, req.caption_entities, caption=True
    )
    markup = api._markup(req.reply_markup)
    if target is None:
        return True
    _, stored = target
    if "text" in stored.data:
        raise _bad("there is no caption in the message to edit")
    changes = {"caption": caption, "caption_entities": entities, "reply_markup": markup}
    return api._apply_edit(stored, changes)


@_method(tm.EditMessageReplyMarkup, sent=True)
async def _edit_message_reply_markup(api: FakeTelegramAPI, call: _Call) -> JSON | bool:
    req: tm.EditMessageReplyMarkup = call.req
    target = api._editable(req)
    markup = api._markup(req.reply_markup)
    if target is None:
        return True
    return api._apply_edit(target[1], {"reply_markup": markup})


@_method(tm.DeleteMessage)
async def _delete_message(api: FakeTelegramAPI, call: _Call) -> bool:
    req: tm.DeleteMessage = call.req
    state = api._resolve_chat(req.chat_id)
    stored = state.messages.get(req.message_id)
    if stored is None or stored.deleted:
        raise _bad("message to delete not found")
    stored.deleted = True
    return True


@_method(tm.AnswerCallbackQuery, sent=True)
async def _answer_callback_query(api: FakeTelegramAPI, call: _Call) -> bool:
    req: tm.AnswerCallbackQuery = call.req
    entry = api._callbacks.get(req.callback_query_id)
    if entry is None or entry["answered"]:
        raise ApiError(400, QUERY_INVALID)
    if req.text is not None and len(req.text) > MAX_CALLBACK_ANSWER:
        raise _bad("MESSAGE_TOO_LONG")
    entry["answered"] = True
    return True


@_method(tm.AnswerInlineQuery, sent=True)
async def _answer_inline_query(api: FakeTelegramAPI, call: _Call) -> bool:
    """As Telegram: once per query, at most 50 results with distinct ids of 1-64 bytes, each
    article's text 1-4,096 characters."""
    req: tm.AnswerInlineQuery = call.req
    if req.inline_query_id not in api.inline_answers or api.inline_answers[req.inline_query_id]:
        raise ApiError(400, QUERY_INVALID)
    if len(req.results) > 50:
        raise _bad("RESULTS_TOO_MUCH")
    ids = [r.id for r in req.results]
    if len(set(ids)) != len(ids) or any(not 1 <= len(i.encode()) <= 64 for i in ids):
        raise _bad("RESULT_ID_INVALID")
    for result in req.results:
        content = getattr(result, "input_message_content", None)
        text = getattr(content, "message_text", None)
        if text is not None and not 1 <= len(text) <= MAX_TEXT:
            raise _bad("MESSAGE_TOO_LONG" if text else "MESSAGE_EMPTY")
    api.inline_answers[req.inline_query_id] = call.params
    return True


@_method(tm.GetFile)
async def _get_file(api: FakeTelegramAPI, call: _Call) -> JSON:
    req: tm.GetFile = call.req
    stored = api._files.get(req.file_id.strip())
    if stored is None:
        raise _bad("invalid file_id")
    if stored.file_size > DOWNLOAD_LIMIT and not api.local_mode:
        raise _bad("file is too big")
    info = {
        "file_id": stored.file_id,
        "file_unique_id": stored.file_unique_id,
        "file_size": stored.file_size,
        "file_path": stored.file_path,
    }
    return _dump(tt.File.model_validate(info))
