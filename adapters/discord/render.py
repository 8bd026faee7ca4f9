"""Core ``Reply`` -> Discord messages (plain data; ``app.py`` turns them into API calls).

- Text: core markup (``**bold**``, ``_italic_``, ```code```) becomes Discord markdown; every
  plain run is escaped so user text never turns into formatting, mentions, links, headings,
  quotes or lists.
- Messages hold at most 2,000 characters: text is split on line boundaries, then on word
  boundaries, and a span is closed and reopened rather than cut in half.
- Images and files become attachments, in the order of the blocks.
- Buttons: at most 5 a row and 5 rows a message. A grid of alternatives for one choice (the
  profile wizard's options) is re-flowed into rows of 5 when that makes it fit; rows that
  belong to different records (one row per idea) keep their shape and spill over into
  further messages. A custom_id appears at most once per message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.chat import (
    Button,
    FileBlock,
    ImageBlock,
    Reply,
    TextBlock,
    file_too_big,
    parse_markup,
)

MAX_CONTENT = 2000
DEFAULT_FILE_LIMIT = 10 * 1024 * 1024  # what a bot may attach in a DM (servers may allow more)
MAX_ROWS = 5
MAX_ROW_BUTTONS = 5
MAX_LABEL = 80

Run = tuple[str, str]  # (style, text) as core.chat.parse_markup returns


@dataclass
class OutFile:
    name: str
    data: bytes
    elsewhere: str = ""  # FileBlock.elsewhere


@dataclass
class OutMessage:
    """One Discord message: content (already Discord markdown), files, button rows."""

    content: str = ""
    files: list[OutFile] = field(default_factory=list)
    rows: list[list[Button]] = field(default_factory=list)


# ---------------------------------------------------------------- escaping

_URL = re.compile(r"https?://[^\s<]+[^<.,:;\"')\]\s]")
# Inline markdown anywhere in a line: emphasis, underline, strike, spoilers, code, masked
# links and the <...> forms (mentions, channels, timestamps, slash-command mentions, emoji).
_INLINE = re.compile(r"([\\*_~|`\[\]<>])")
# Block markdown, only at the start of a line: headings, -# subtext, lists ("> " quotes are
# already escaped inline). "#hashtag" without a space is no heading and stays as it is.
_LINE_START = re.compile(r"^(\s*)(#{1,3}\s|-#\s|[-+*]\s)")
_ORDERED = re.compile(r"^(\s*\d+)(\.)(\s)")


def _escape_inline(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _URL.finditer(text):
        out.append(_INLINE.sub(r"\\\1", text[pos : m.start()]))
        out.append(m.group(0))  # links stay clickable: no backslashes inside a URL
        pos = m.end()
    out.append(_INLINE.sub(r"\\\1", text[pos:]))
    return "".join(out)


def escape(text: str, line_start: bool = False) -> str:
    """Make ``text`` literal in Discord markdown (``discord.utils.escape_markdown`` semantics,
    aware of whether the text begins a line)."""
    escaped = _escape_inline(text)
    if line_start:
        ordered = _ORDERED.match(escaped)
        if ordered:
            escaped = ordered.group(1) + "\\." + escaped[ordered.end(2) :]
        else:
            block = _LINE_START.match(escaped)
            if block:
                escaped = block.group(1) + "\\" + escaped[block.end(1) :]
    return escaped


def _code(text: str) -> str:
    if "`" not in text:
        return f"`{text}`"
    inner = text.replace("``", "`\u200b`")
    return f"`` {inner} ``"


def render_run(style: str, text: str, line_start: bool = False) -> str:
    if style == "code":
        return _code(text)
    if style == "b":
        return f"**{escape(text)}**"
    if style == "i":
        return f"_{escape(text)}_"
    return escape(text, line_start)


def render_line(runs: list[Run]) -> str:
    """One line of runs (no newlines inside) as Discord markdown."""
    merged: list[Run] = []
    for style, text in runs:
        if merged and merged[-1][0] == style and style != "code":
            merged[-1] = (style, merged[-1][1] + text)
        else:
            merged.append((style, text))
    out: list[str] = []
    for style, text in merged:
        if style and not text.strip():
            out.append(text)  # markup around blanks does not render: keep the blanks
            continue
        out.append(render_run(style, text, line_start=not out))
    return "".join(out)


def markup_lines(text: str) -> list[list[Run]]:
    """Core markup split into lines of runs (a span crossing a newline is split in two)."""
    lines: list[list[Run]] = [[]]
    for style, run in parse_markup(text):
        for index, part in enumerate(run.split("\n")):
            if index:
                lines.append([])
            if part:
                lines[-1].append((style, part))
    return lines


def to_markdown(text: str) -> str:
    """Core markup -> Discord markdown (no length limit; see :func:`split_markup`)."""
    return "\n".join(render_line(line) for line in markup_lines(text))


# ---------------------------------------------------------------- splitting


def _cut(word: str, budget: int) -> list[str]:
    """A word too long for a message, in pieces whose escaped form fits ``budget``."""
    pieces: list[str] = []
    start = size = 0
    for index, char in enumerate(word):
        width = len(_escape_inline(char))
        if size + width > budget and index > start:
            pieces.append(word[start:index])
            start, size = index, 0
        size += width
    pieces.append(word[start:])
    return pieces


def _split_line(runs: list[Run], limit: int) -> list[str]:
    """A line too long for one message, split between words (a word longer than a message,
    between characters)."""
    tokens: list[Run] = []
    for style, text in runs:
        for token in re.split(r"(\s+)", text):
            if not token:
                continue
            if token.strip() and len(render_run(style, token, True)) > limit:
                tokens.extend((style, piece) for piece in _cut(token, limit - 8))
            else:
                tokens.append((style, token))
    chunks: list[str] = []
    current: list[Run] = []
    size = 0
    for style, token in tokens:
        if not current and not token.strip():
            continue  # no leading blanks in a message
        piece = len(render_run(style, token, line_start=not current))
        if current and size + piece > limit:
            chunks.append(render_line(current).rstrip())
            current, size = [], 0
            if not token.strip():
                continue
            piece = len(render_run(style, token, line_start=True))
        current.append((style, token))
        size += piece  # an upper bound: rendering merges neighbouring runs of one style
    if current:
        chunks.append(render_line(current).rstrip())
    return [c for c in chunks if c.strip()]


def split_markup(texts: list[str], limit: int = MAX_CONTENT) -> list[str]:
    """Text blocks (core markup) -> message contents of at most ``limit`` characters.

    Blocks are separated by a blank line; a message breaks between lines when it can,
    between words when a line is too long, and never inside a formatting span."""
    lines: list[str] = []
    for index, text in enumerate(texts):
        if index and lines:
            lines.append("")
        for runs in markup_lines(text):
            rendered = render_line(runs)
            if len(rendered) <= limit:
                lines.append(rendered)
            else:
                lines.extend(_split_line(runs, limit))
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if not current and not line.strip():
            continue
        extra = len(line) + (1 if current else 0)
        if current and size + extra > limit:
            chunks.append("\n".join(current).rstrip())
            current, size = [], 0
            if not line.strip():
                continue
            extra = len(line)
        current.append(line)
        size += extra
    if current:
        chunks.append("\n".join(current).rstrip())
    return [c for c in chunks if c.strip()]


# ---------------------------------------------------------------- buttons


def _choice_key(action: str) -> str:
    return action.rsplit(":", 1)[0] if ":" in action else action


def layout_buttons(rows: list[list[Button]]) -> list[list[list[Button]]]:
    """Button rows -> pages (one page per message) of at most 5 rows of at most 5 buttons."""
    fitted = [
        row[i : i + MAX_ROW_BUTTONS] for row in rows for i in range(0, len(row), MAX_ROW_BUTTONS)
    ]
    fitted = [row for row in fitted if row]
    if not fitted:
        return []
    if len(fitted) > MAX_ROWS:
        body, last = fitted[:-1], fitted[-1]
        flat = [b for row in body for b in row]
        if len({_choice_key(b.action) for b in flat}) == 1:
            grid = [flat[i : i + MAX_ROW_BUTTONS] for i in range(0, len(flat), MAX_ROW_BUTTONS)]
            if len(grid) + 1 <= MAX_ROWS:
                fitted = [*grid, last]
    pages = [fitted[i : i + MAX_ROWS] for i in range(0, len(fitted), MAX_ROWS)]
    out: list[list[list[Button]]] = []
    for page in pages:
        seen: set[str] = set()
        kept: list[list[Button]] = []
        for row in page:
            unique: list[Button] = []
            for button in row:
                if button.action not in seen:
                    seen.add(button.action)
                    unique.append(button)
            if unique:
                kept.append(unique)
        if kept:
            out.append(kept)
    return out


def button_label(label: str) -> str:
    label = label.strip() or "…"
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


# ---------------------------------------------------------------- replies


def render_reply(
    reply: Reply,
    extra_buttons: list[Button] | None = None,
    limit: int = MAX_CONTENT,
    file_limit: int = DEFAULT_FILE_LIMIT,
) -> list[OutMessage]:
    """The messages that show ``reply``, in order. ``extra_buttons`` join the last row (or a
    row of their own when it is full). A file over ``file_limit`` bytes (the interaction's
    ``attachment_size_limit``; 10 MiB in DMs) becomes a note saying so."""
    messages: list[OutMessage] = []
    pending: list[str] = []
    images = 0

    def flush() -> None:
        messages.extend(OutMessage(content=chunk) for chunk in split_markup(pending, limit))
        pending.clear()

    for block in reply.blocks:
        if isinstance(block, TextBlock):
            pending.append(block.text)
            continue
        flush()
        if isinstance(block, ImageBlock):
            images += 1
            name = "image.png" if images == 1 else f"image-{images}.png"
            captions = split_markup([block.caption], limit) if block.caption else []
            messages.extend(OutMessage(content=c) for c in captions[:-1])
            content = captions[-1] if captions else ""
            messages.append(OutMessage(content=content, files=[OutFile(name, block.png)]))
        elif isinstance(block, FileBlock):
            if len(block.data) > file_limit:
                pending.append(file_too_big(block, file_limit, "Discord"))
                continue
            name = block.name.replace("/", "_").replace("\\", "_") or "file"
            messages.append(OutMessage(files=[OutFile(name, block.data, block.elsewhere)]))
    flush()

    rows = [list(row) for row in reply.buttons if row]
    if extra_buttons:
        if rows and len(rows[-1]) + len(extra_buttons) <= MAX_ROW_BUTTONS:
            rows[-1].extend(extra_buttons)
        else:
            rows.append(list(extra_buttons))
    pages = layout_buttons(rows)
    if pages:
        if not messages:
            messages.append(OutMessage())
        messages[-1].rows = pages[0]
        messages.extend(OutMessage(rows=page) for page in pages[1:])
    if not messages or all(not m.content.strip() and not m.files and not m.rows for m in messages):
        return [OutMessage(content="Done.")]
    return messages
