"""The terminal chat: an interactive loop, and one-shot ``chat --once``.

Buttons are shown as numbered choices; typing the number presses the button. Images and files
are written under ``<data_dir>/out`` and their paths printed.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from core.chat import (
    Button,
    ExternalUser,
    FileBlock,
    ImageBlock,
    Incoming,
    Reply,
    TextBlock,
    as_notice,
    parse_markup,
)
from core.ports import AccountRepository

Handle = Callable[[Incoming], Awaitable[Reply]]

_ANSI = {"b": ("\033[1m", "\033[0m"), "i": ("\033[3m", "\033[0m"), "code": ("\033[36m", "\033[0m")}


def render_text(text: str, color: bool) -> str:
    out = []
    for style, run in parse_markup(text):
        if color and style:
            start, end = _ANSI[style]
            out.append(f"{start}{run}{end}")
        else:
            out.append(run)
    return "".join(out)


def render(reply: Reply, out_dir: Path, color: bool) -> tuple[str, list[Button]]:
    """The reply as terminal text, and the buttons in the order they are numbered."""
    parts: list[str] = []
    for block in reply.blocks:
        if isinstance(block, TextBlock):
            parts.append(render_text(block.text, color))
        else:
            out_dir.mkdir(parents=True, exist_ok=True)
            if isinstance(block, ImageBlock):
                path = out_dir / f"image-{abs(hash(block.png)) % 10**8}.png"
                path.write_bytes(block.png)
                parts.append(f"[image: {path}] {render_text(block.caption, color)}".rstrip())
            elif isinstance(block, FileBlock):
                path = out_dir / Path(block.name).name
                path.write_bytes(block.data)
                parts.append(f"[file: {path}]")
    buttons = [b for row in reply.buttons for b in row]
    if buttons:
        numbers = iter(range(1, len(buttons) + 1))
        rows = ["  ".join(f"[{next(numbers)}] {b.label}" for b in row) for row in reply.buttons]
        parts.append("\n".join(rows))
    return "\n\n".join(parts), buttons


def default_user() -> str:
    """Who is typing in the terminal: the login name."""
    try:
        return getpass.getuser()
    except Exception:
        return "local"


#: Typed lines that end a terminal session (a session word, not a command: chat platforms
#: have no session to end).
QUIT_WORDS = frozenset({"/quit", "/exit", "/q", "quit", "exit"})


class ConsoleChat:
    def __init__(
        self,
        handle: Handle,
        user: str,
        out_dir: Path,
        stdout: TextIO = sys.stdout,
        color: bool | None = None,
        accounts: AccountRepository | None = None,
    ) -> None:
        self._handle = handle
        self._accounts = accounts  # for notices (summaries, background imports)
        self._user = ExternalUser(platform="console", id=user, username=user, display_name=user)
        self._out_dir = out_dir
        self._stdout = stdout
        self._color = stdout.isatty() if color is None else color
        self._buttons: list[Button] = []

    def incoming(self, line: str) -> Incoming:
        """A typed line; a bare number presses that button of the last answer."""
        text = line.strip()
        if text.isdigit() and 1 <= int(text) <= len(self._buttons):
            return Incoming(
                user=self._user, chat_id=self._user.id, action=self._buttons[int(text) - 1].action
            )
        return Incoming(user=self._user, chat_id=self._user.id, text=text)

    async def send(self, line: str) -> Reply:
        reply = await self._handle(self.incoming(line))
        text, self._buttons = render(reply, self._out_dir, self._color)
        print(text, file=self._stdout, flush=True)
        return reply

    async def once(self, line: str, as_json: bool) -> Reply:
        reply = await self._handle(self.incoming(line))
        if as_json:
            print(json.dumps(reply.to_dict(), ensure_ascii=False, default=str), file=self._stdout)
        else:
            print(render(reply, self._out_dir, self._color)[0], file=self._stdout)
        return reply

    async def notify(self, account_id: int, message: str | Reply) -> None:
        """``core.ports.Notifier``: a notice for this terminal's user is printed (the buttons
        of the last answer stay the ones a number presses)."""
        if self._accounts is None:
            return
        mine = any(
            i.platform == "console" and i.external_id == self._user.id
            for i in await self._accounts.identities(account_id)
        )
        if mine:
            text, _ = render(as_notice(message), self._out_dir, self._color)
            print(f"\n{text}\n\n> ", end="", file=self._stdout, flush=True)

    async def loop(self, stdin: TextIO = sys.stdin) -> None:
        print(
            "Huntaze — type /start to begin, /help for commands, /quit (or Ctrl-D) to quit.",
            file=self._stdout,
        )
        lines = _read_lines(stdin)
        while True:
            print("\n> ", end="", file=self._stdout, flush=True)
            line = await lines.get()
            if not line or line.strip().lower() in QUIT_WORDS:
                print(file=self._stdout)
                return
            if line.strip():
                await self.send(line)


def _read_lines(stdin: TextIO) -> asyncio.Queue[str]:
    """Lines from a daemon thread, so a blocked read never holds up shutdown ("" = end)."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()

    def pump() -> None:
        while True:
            line = stdin.readline()
            loop.call_soon_threadsafe(queue.put_nowait, line)
            if not line:
                return

    threading.Thread(target=pump, name="stdin", daemon=True).start()
    return queue
