"""Core ``Reply`` -> Telegram messages: HTML text, photos, documents and an inline keyboard.

- Markup runs (``core.chat.parse_markup``) become ``<b>``, ``<i>`` and ``<code>`` with every run
  ``html.escape``-d, so user text can never inject a tag.
- Long text is split at 4,096 characters (counted in UTF-16 code units, as Telegram counts them,
  which is never less than Python's count) on a line break, else a word boundary, else hard.
  The split happens on the *plain* text and each piece is rendered on its own, so a split can
  never fall inside a tag or an HTML entity, and a bold span that crosses the cut is closed in
  one message and reopened in the next.
- Consecutive text blocks share one message (separated by a blank line); an image or a file
  starts a new one. A caption over 1,024 characters moves to a message right after the photo.
- The reply's buttons become the inline keyboard of the last message; ``Button.action`` is the
  ``callback_data`` verbatim (core guarantees 1-64 bytes).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup

from core.chat import (
    Button,
    FileBlock,
    ImageBlock,
    Reply,
    TextBlock,
    file_too_big,
    parse_markup,
)

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
EMPTY_WITH_BUTTONS = "Choose an option:"

Runs = list[tuple[str, str]]

_TAGS = {"b": ("<b>", "</b>"), "i": ("<i>", "</i>"), "code": ("<code>", "</code>")}
_BLOCK_SEPARATOR: Runs = [("", "\n\n")]


def u16len(text: str) -> int:
    """Length in UTF-16 code units (what Telegram's limits count)."""
    return len(text.encode("utf-16-le")) // 2


def runs_to_html(runs: Runs) -> str:
    out: list[str] = []
    for style, run in runs:
        escaped = html.escape(run, quote=False)
        tags = _TAGS.get(style)
        out.append(f"{tags[0]}{escaped}{tags[1]}" if tags else escaped)
    return "".join(out)


def to_html(markup: str) -> str:
    """One markup string as Telegram HTML (no splitting)."""
    return runs_to_html(parse_markup(markup))


def plain_length(markup: str) -> int:
    return u16len("".join(run for _, run in parse_markup(markup)))


def _fit(plain: str, start: int, limit: int) -> int:
    """The largest end such that ``plain[start:end]`` is at most ``limit`` UTF-16 units."""
    end = min(len(plain), start + limit)
    while (excess := u16len(plain[start:end]) - limit) > 0:
        end -= max(1, excess // 2)  # a character is 1 or 2 units: never cuts below the answer
    return end


def _cut(plain: str, start: int, end: int) -> tuple[int, int]:
    """Where to end this piece and where the next starts, within ``plain[start:end]``."""
    window = plain[start:end]
    floor = len(window) // 4  # a break this early would make a tiny message: look further
    for separators in ("\n", " \t"):
        best = max(window.rfind(sep) for sep in separators)
        if best > floor:
            return start + best, start + best + 1
    for separators in ("\n", " \t"):
        best = max(window.rfind(sep) for sep in separators)
        if best > 0:
            return start + best, start + best + 1
    return end, end


def _ranges(plain: str, limit: int) -> list[tuple[int, int]]:
    """Piece boundaries over ``plain``: each piece non-blank and at most ``limit`` units."""
    pieces: list[tuple[int, int]] = []
    pos = 0
    n = len(plain)
    while pos < n:
        while pos < n and plain[pos].isspace():
            pos += 1
        if pos >= n:
            break
        end = _fit(plain, pos, limit)
        if end >= n:
            piece_end, next_pos = n, n
        else:
            piece_end, next_pos = _cut(plain, pos, end)
        stripped_end = piece_end
        while stripped_end > pos and plain[stripped_end - 1].isspace():
            stripped_end -= 1
        if stripped_end > pos:
            pieces.append((pos, stripped_end))
        pos = max(next_pos, pos + 1)
    return pieces


def split_runs(runs: Runs, limit: int = TEXT_LIMIT) -> list[Runs]:
    """Split styled runs into pieces of at most ``limit`` plain UTF-16 units each."""
    spans: list[tuple[int, int, str]] = []
    plain_parts: list[str] = []
    pos = 0
    for style, run in runs:
        spans.append((pos, pos + len(run), style))
        plain_parts.append(run)
        pos += len(run)
    plain = "".join(plain_parts)
    pieces: list[Runs] = []
    for a, b in _ranges(plain, limit):
        piece: Runs = []
        for s, e, style in spans:
            lo, hi = max(a, s), min(b, e)
            if lo < hi:
                piece.append((style, plain[lo:hi]))
        pieces.append(piece)
    return pieces


def split_html(markup: str, limit: int = TEXT_LIMIT) -> list[str]:
    """Markup as one or more HTML messages, each at most ``limit`` characters once parsed."""
    return [runs_to_html(piece) for piece in split_runs(parse_markup(markup), limit)]


# ---------------------------------------------------------------- whole replies


@dataclass(frozen=True)
class OutText:
    html: str


@dataclass(frozen=True)
class OutPhoto:
    png: bytes
    caption_html: str | None = None


@dataclass(frozen=True)
class OutDocument:
    name: str
    data: bytes
    mime: str


Outgoing = OutText | OutPhoto | OutDocument


def keyboard(buttons: list[list[Button]]) -> InlineKeyboardMarkup | None:
    rows = [
        [InlineKeyboardButton(text=b.label, callback_data=b.action) for b in row]
        for row in buttons
        if row
    ]
    return InlineKeyboardMarkup(inline_keyboard=rows) if rows else None


def render_reply(reply: Reply, file_limit: int | None = None) -> list[Outgoing]:
    """The messages that show ``reply``, in order (the keyboard is not included). A file over
    ``file_limit`` bytes (what the Bot API accepts from a bot) becomes a note saying so."""
    out: list[Outgoing] = []
    pending: Runs = []

    def flush() -> None:
        if pending:
            out.extend(OutText(runs_to_html(p)) for p in split_runs(pending, TEXT_LIMIT))
            pending.clear()

    for block in reply.blocks:
        if isinstance(block, TextBlock):
            runs = parse_markup(block.text)
            if not "".join(r for _, r in runs).strip():
                continue
            if pending:
                pending.extend(_BLOCK_SEPARATOR)
            pending.extend(runs)
        elif isinstance(block, ImageBlock):
            flush()
            caption = block.caption.strip()
            if caption and plain_length(caption) <= CAPTION_LIMIT:
                out.append(OutPhoto(block.png, to_html(caption)))
            else:
                out.append(OutPhoto(block.png, None))
                if caption:
                    pending.extend(parse_markup(caption))
        elif isinstance(block, FileBlock):
            if file_limit is not None and len(block.data) > file_limit:
                if pending:
                    pending.extend(_BLOCK_SEPARATOR)
                pending.extend(parse_markup(file_too_big(block, file_limit, "Telegram")))
                continue
            flush()
            out.append(OutDocument(block.name, block.data, block.mime))
    flush()
    if not out and any(reply.buttons):
        out.append(OutText(EMPTY_WITH_BUTTONS))
    return out
