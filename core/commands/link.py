"""/link: one account across Telegram and Discord, joined with a one-time code."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.chat import Reply, escape_markup
from core.commands.registry import Registry
from core.context import Context
from core.services import codes

if TYPE_CHECKING:
    from core.app import Assistant

CODE_TTL = 600


def tap_to_send(app: Assistant, command: str, code: str) -> str:
    """The clause “ — or, on Telegram, tapping <link> sends it” for a one-time code's command,
    where an adapter gave a start link (markup; empty otherwise). ``/start`` reads the link's
    ``command-CODE`` back (``start_payload``)."""
    template = app.start_links.get("telegram")
    if not template:
        return ""
    url = template.format(payload=f"{command}-{code}")
    return f" — or, on Telegram, tapping {escape_markup(url)} sends it"


def start_payload(payload: str) -> str | None:
    """The command line a ``/start`` payload from ``tap_to_send`` stands for (None: not one)."""
    command, _, code = payload.partition("-")
    if command in START_COMMANDS and re.fullmatch(r"[A-Za-z0-9]{4,16}", code):
        return f"{START_COMMANDS[command]} {code}"
    return None


START_COMMANDS = {"join": "/team join", "link": "/link"}


class LinkArgs(BaseModel):
    code: str | None = Field(None, min_length=4, max_length=16, description="The code from /link")


def register(reg: Registry) -> None:
    @reg.command(
        "link",
        "Use one account from Telegram and Discord",
        usage="/link [code]",
        args=LinkArgs,
        access="owner",
    )
    async def link(ctx: Context, args: LinkArgs) -> Reply:
        store = ctx.app.store
        if not args.code:
            code = await codes.issue(store, "link", ctx.account_id, "", CODE_TTL)
            return Reply.text(
                f"Your link code is `{code}`. Within 10 minutes, send `/link {code}` from your "
                f"other app (Telegram or Discord){tap_to_send(ctx.app, 'link', code)}, to use "
                "this same account there.",
                ephemeral=True,
                result={"code": code, "expires_in": CODE_TTL},
            )
        found = await codes.redeem(store, "link", args.code)
        if found is None:
            return Reply.text(
                "That code is unknown or has expired. Send /link again for a new one."
            )
        target = found.account_id
        if target == ctx.account_id:
            return Reply.text("This chat already uses that account.")
        await store.accounts.move_identity(ctx.account_id, ctx.incoming.user.identity(), target)
        return Reply.text(
            "Linked! This chat now uses the same account — profile, ideas, fans and vault — as "
            "your other app.",
            result={"account_id": target},
        )
