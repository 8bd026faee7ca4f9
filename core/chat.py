"""The platform-neutral conversation types: what comes in, what goes out.

Adapters turn a platform event into an ``Incoming`` and render a ``Reply``; nothing else about a
platform reaches core.

Text blocks use a small markup both renderers understand:
``**bold**``, ``_italic_`` and ```code``` spans; everything else is plain text, which
renderers escape.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from core.models import Identity, clean_text

MAX_ACTION_BYTES = 64  # Telegram's callback_data limit; Discord custom_id allows 100


@dataclass(frozen=True)
class ExternalUser:
    platform: str  # telegram | discord | console | api
    id: str
    username: str = ""
    display_name: str = ""
    language: str = "en"

    def identity(self) -> Identity:
        return Identity(
            platform=self.platform,
            external_id=self.id,
            username=self.username,
            display_name=self.display_name,
            language=self.language or "en",
        )


@dataclass(frozen=True)
class Attachment:
    name: str
    mime: str
    size: int
    read: Callable[[], Awaitable[bytes]]
    kind: str = "document"  # photo | video | voice | audio | document


@dataclass
class Incoming:
    user: ExternalUser
    chat_id: str
    text: str = ""
    attachments: list[Attachment] = field(default_factory=list)
    action: str | None = None  # a button's payload, when a button was pressed
    request_id: str = ""
    group_id: str | None = None  # album / media group
    options: dict[str, Any] | None = (
        None  # typed command options (Discord), instead of parsing text
    )

    def __post_init__(self) -> None:
        self.text = clean_text(self.text)
        if self.options:
            self.options = {
                k: clean_text(v) if isinstance(v, str) else v for k, v in self.options.items()
            }


@dataclass(frozen=True)
class TextBlock:
    text: str


@dataclass(frozen=True)
class ImageBlock:
    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class FileBlock:
    name: str
    data: bytes
    mime: str = "application/octet-stream"
    #: Where else the file can be had when a chat cannot carry it (markup; empty: nowhere).
    elsewhere: str = ""


Block = TextBlock | ImageBlock | FileBlock


@dataclass(frozen=True)
class Button:
    label: str
    action: str

    def __post_init__(self) -> None:
        if not 1 <= len(self.action.encode()) <= MAX_ACTION_BYTES:
            raise ValueError(f"button action must be 1-{MAX_ACTION_BYTES} bytes: {self.action!r}")


@dataclass
class Reply:
    blocks: list[Block] = field(default_factory=list)
    buttons: list[list[Button]] = field(default_factory=list)
    ephemeral: bool = False
    result: Any = None  # the structured result behind the text (JSON-able)
    degraded: bool = False  # answered in limited mode

    @classmethod
    def text(cls, text: str, **kwargs: Any) -> Reply:
        return cls(blocks=[TextBlock(text)], **kwargs)

    def add_text(self, text: str) -> Reply:
        self.blocks.append(TextBlock(text))
        return self

    @property
    def plain_text(self) -> str:
        """All text blocks, markup removed (for logs, tests, the terminal)."""
        return "\n\n".join(strip_markup(b.text) for b in self.blocks if isinstance(b, TextBlock))

    def to_dict(self) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = []
        for b in self.blocks:
            if isinstance(b, TextBlock):
                blocks.append({"type": "text", "text": b.text})
            elif isinstance(b, ImageBlock):
                blocks.append({"type": "image", "caption": b.caption, "bytes": len(b.png)})
            else:
                blocks.append(
                    {"type": "file", "name": b.name, "mime": b.mime, "bytes": len(b.data)}
                )
        return {
            "blocks": blocks,
            "buttons": [
                [{"label": b.label, "action": b.action} for b in row] for row in self.buttons
            ],
            "ephemeral": self.ephemeral,
            "degraded": self.degraded,
            "result": self.result,
        }


# ---------------------------------------------------------------- markup

_SPAN = re.compile(r"\\(.)|\*\*(.+?)\*\*|(?<![\w\\])_(.+?)_(?!\w)|`([^`]+)`", re.S)
_UNESCAPE = re.compile(r"\\(.)", re.S)
_MARKUP_CHARS = re.compile(r"([\\*_`])")


def parse_markup(text: str) -> list[tuple[str, str]]:
    """Split markup into ``(style, text)`` runs; style is '', 'b', 'i' or 'code'.

    A backslash makes the next character literal (see ``escape_markup``).
    """
    runs: list[tuple[str, str]] = []
    plain: list[str] = []
    pos = 0
    for m in _SPAN.finditer(text):
        plain.append(text[pos : m.start()])
        pos = m.end()
        if m.group(1) is not None:
            plain.append(m.group(1))
            continue
        if plain:
            runs.append(("", "".join(plain)))
            plain = []
        if m.group(2) is not None:
            runs.append(("b", _UNESCAPE.sub(r"\1", m.group(2))))
        elif m.group(3) is not None:
            runs.append(("i", _UNESCAPE.sub(r"\1", m.group(3))))
        else:
            runs.append(("code", m.group(4)))
    plain.append(text[pos:])
    rest = "".join(plain)
    if rest:
        runs.append(("", rest))
    return [r for r in runs if r[1]]


def strip_markup(text: str) -> str:
    return "".join(t for _, t in parse_markup(text))


def escape_markup(text: str) -> str:
    """Make user text literal inside markup: ``*``, ``_``, backticks and backslashes escaped."""
    return _MARKUP_CHARS.sub(r"\\\1", text)


def human_size(size: int) -> str:
    """``"12.3 MB"`` or ``"640 KB"`` (binary units, as chat apps show sizes)."""
    return f"{size / 1048576:.1f} MB" if size >= 1048576 else f"{max(1, size // 1024)} KB"


def api_download(path: str) -> str:
    """``FileBlock.elsewhere`` for a file the uploads API serves at ``path`` (markup)."""
    return f"`GET {path}` on the uploads API (with a key from /apikey) downloads it."


def file_too_big(block: FileBlock, limit: int, where: str) -> str:
    """What a chat shows instead of a file it cannot carry (markup)."""
    said = (
        f"{escape_markup(block.name or 'The file')} is {human_size(len(block.data))}: more than "
        f"{where} lets me send ({human_size(limit)})."
    )
    return f"{said} {block.elsewhere}" if block.elsewhere else said


def as_notice(message: str | Reply) -> Reply:
    """A notice (``core.ports.Notifier``) as the adapters send it: text becomes a Reply; a
    Reply keeps its text, images and files but not its buttons (a notice opens no
    conversation to press them in)."""
    if isinstance(message, str):
        return Reply.text(message)
    return Reply(blocks=list(message.blocks))
