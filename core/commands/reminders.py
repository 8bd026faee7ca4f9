"""Reminders: ``/week``'s "Remind me at these times" and ``/reminders``.

A planned week is kept for a week under a token (``core.services.codes``; the button carries
the token: 64 bytes hold no seven times); pressing the button turns it into reminder rows, which
the hourly schedule sends as chat notices (``core.jobs.reminder_job``) — at the slot's time
when it is on the hour. The notice says the time on the creator's clock and how to get a
caption for the post.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, Reply, escape_markup
from core.commands.registry import Registry
from core.context import Context
from core.models import Idea
from core.services import codes
from core.timezones import get_zone, zone_label

PLAN_TTL = 7 * 86_400
MAX_SHOWN = 20


class RemindersArgs(BaseModel):
    action: Literal["off"] | None = Field(None, description="off: cancel every reminder")


async def remind_button(ctx: Context, posts: list[tuple[datetime, str]]) -> Button | None:
    """A button that sets a reminder for each ``(local time, what to post)``; None when every
    time has passed."""
    now = ctx.app.clock.now()
    items = [(when.isoformat(), what) for when, what in posts if when > now]
    if not items:
        return None
    token = await codes.issue(ctx.app.store, "plan", ctx.account_id, json.dumps(items), PLAN_TTL)
    return Button("⏰ Remind me at these times", f"remind:{token}")


def when_text(due: datetime, zone: str) -> str:
    local = due.astimezone(get_zone(zone))
    return f"{local:%a %b} {local.day}, {local:%H:%M}"


def post_reminder(idea: Idea) -> str:
    """What a planned post's reminder says (plain text: notices escape it)."""
    kind = vocab.label("content_types", idea.content_type).lower()
    where = vocab.label("platforms", idea.platform)
    title = idea.title if len(idea.title) <= 200 else idea.title[:199] + "…"
    return f"time to post “{title}” ({kind} for {where}). A caption: /caption {title}"


def notice(due: datetime, zone: str, text: str) -> str:
    """A reminder as sent: its time on the creator's clock, then what it says."""
    local = due.astimezone(get_zone(zone))
    return f"⏰ **{local:%H:%M}** — {escape_markup(text)}"


def register(reg: Registry) -> None:
    @reg.action("remind")
    async def remind(ctx: Context, args: list[str]) -> Reply:
        plan = await codes.look_up(ctx.app.store, "plan", args[0]) if args else None
        if plan is None or plan.account_id != ctx.account_id:
            return Reply.text("That plan has expired. Send /week for a new one.")
        now = ctx.app.clock.now()
        items = [
            (due, what)
            for due, what in ((datetime.fromisoformat(d), w) for d, w in json.loads(plan.value))
            if due > now
        ]
        if not items:
            return Reply.text("Those times have all passed. Send /week for a new plan.")
        added = await ctx.app.store.reminders.add_many(ctx.account_id, items)
        zone = await ctx.timezone()
        if not added:
            return Reply.text("Those reminders are set already. /reminders lists them.")
        first = min(due for due, _ in items)
        return Reply.text(
            f"Done — {added} reminder{'s' * (added != 1)} set: I'll tell you here when each "
            f"post is due, the first {when_text(first, zone)} ({zone_label(zone)}). "
            "/reminders lists them; /reminders off cancels them.",
            result={"added": added},
        )

    @reg.command(
        "reminders",
        "Your post reminders",
        usage="/reminders [off]",
        args=RemindersArgs,
    )
    async def reminders(ctx: Context, args: RemindersArgs) -> Reply:
        store = ctx.app.store.reminders
        if args.action == "off":
            gone = await store.clear(ctx.account_id)
            if not gone:
                return Reply.text("You have no reminders.", result={"cleared": 0})
            return Reply.text(
                f"Cancelled {gone} reminder{'s' * (gone != 1)}.", result={"cleared": gone}
            )
        upcoming = await store.upcoming(ctx.account_id, limit=MAX_SHOWN + 1)
        if not upcoming:
            return Reply.text(
                "You have no reminders. /week plans your posts; press “Remind me at these "
                "times” under it and I'll tell you here when each one is due.",
                result=[],
            )
        zone = await ctx.timezone()
        lines = [f"Your reminders ({zone_label(zone)}):"]
        for r in upcoming[:MAX_SHOWN]:
            lines.append(f"• {when_text(r.due_at, zone)} — {escape_markup(r.text)}")
        if len(upcoming) > MAX_SHOWN:
            lines.append("…and more.")
        lines.append("/reminders off cancels them.")
        return Reply.text(
            "\n".join(lines),
            result=[{"due_at": r.due_at.isoformat(), "text": r.text} for r in upcoming],
        )
