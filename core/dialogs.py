"""Multi-step flows as small state machines whose state lives behind the KeyValueStore port.

State is keyed by platform, chat and user (``Context.dialog_key``), so the same person can be in a
wizard in a Telegram DM and chat normally in a Discord server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel, Field, ValidationError

from core.ports import KeyValueStore
from core.services.imports import parse_count

if TYPE_CHECKING:
    from core.chat import Reply
    from core.context import Context


class DialogState(BaseModel):
    name: str
    step: int = 0
    data: dict[str, Any] = Field(default_factory=dict)
    then: str | None = None  # a command to run when the dialog completes
    then_options: dict[str, Any] | None = None  # its typed options, when it came with them
    done: bool = False


class Dialog(Protocol):
    name: str

    async def render(self, ctx: Context, state: DialogState) -> Reply:
        """The current step's question."""
        ...

    async def on_text(self, ctx: Context, state: DialogState, text: str) -> Reply: ...

    async def on_action(self, ctx: Context, state: DialogState, args: list[str]) -> Reply: ...


class Dialogs:
    def __init__(self, kv: KeyValueStore, ttl_seconds: float = 24 * 3600) -> None:
        self._kv = kv
        self._ttl = ttl_seconds
        self._dialogs: dict[str, Dialog] = {}

    def register(self, dialog: Dialog) -> None:
        self._dialogs[dialog.name] = dialog

    def get(self, name: str) -> Dialog | None:
        return self._dialogs.get(name)

    async def load(self, ctx: Context) -> DialogState | None:
        raw = await self._kv.get(ctx.dialog_key)
        if raw is None:
            return None
        try:
            state = DialogState.model_validate_json(raw)
        except ValidationError:
            await self._kv.delete(ctx.dialog_key)
            return None
        return state if state.name in self._dialogs else None

    async def save(self, ctx: Context, state: DialogState) -> None:
        if state.done:
            await self._kv.delete(ctx.dialog_key)
        else:
            await self._kv.set(ctx.dialog_key, state.model_dump_json().encode(), ttl=self._ttl)

    async def ask_number(
        self, ctx: Context, question: str, command: str, low: int, high: int
    ) -> Reply:
        """Ask ``question``; a whole number in ``[low, high]`` runs ``command`` with it."""
        data = {"question": question, "command": command, "low": low, "high": high}
        return await self.start(ctx, NumberQuestion.name, data=data)

    async def clear(self, ctx: Context) -> bool:
        had = await self._kv.get(ctx.dialog_key) is not None
        await self._kv.delete(ctx.dialog_key)
        return had

    async def start(
        self,
        ctx: Context,
        name: str,
        then: str | None = None,
        then_options: dict[str, Any] | None = None,
        data: dict[str, Any] | None = None,
    ) -> Reply:
        state = DialogState(name=name, then=then, then_options=then_options, data=data or {})
        reply = await self._dialogs[name].render(ctx, state)
        await self.save(ctx, state)
        return reply


class NumberQuestion:
    """One question answered with a whole number, then a command with it.

    ``data``: ``question``, ``command`` (with ``{n}`` where the number goes), ``low``, ``high``.
    Started with ``Dialogs.ask_number``; the answer "1,200" runs ``command.format(n=1200)``.
    """

    name = "number"

    async def render(self, ctx: Context, state: DialogState) -> Reply:
        from core.chat import Button, Reply

        return Reply.text(state.data["question"], buttons=[[Button("Cancel", "wz:x")]])

    async def on_text(self, ctx: Context, state: DialogState, text: str) -> Reply:
        from core.chat import Reply

        low, high = int(state.data["low"]), int(state.data["high"])
        try:
            n: int | None = parse_count(text)
        except ValueError:
            n = None
        if n is None or not low <= n <= high:
            return Reply.text(f"Send a whole number from {low:,} to {high:,}, or /cancel.")
        state.done = True
        state.then = str(state.data["command"]).format(n=n)
        return Reply()

    async def on_action(self, ctx: Context, state: DialogState, args: list[str]) -> Reply:
        from core.chat import Reply

        if args[:1] == ["x"]:
            state.done = True
            return Reply.text("Cancelled.")
        return await self.render(ctx, state)
