"""/goal: a monthly earnings goal, where the month stands against it and where it is heading.

The figures are the imported earnings in the goal's currency (nothing is converted), on the
account's clock; the projection is the pace of the last 30 days (the month's own before there
are 30 days of earnings) over the days left. Daily and weekly summaries end with it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, Field, field_validator

from core.chat import Button, Reply, escape_markup
from core.commands.registry import Registry
from core.context import Context
from core.errors import UsageError
from core.models import MAX_AMOUNT
from core.ports import RevenueGoal
from core.services.analytics import PACE_DAYS, AnalyticsService, GoalProgress, format_money
from core.services.imports import parse_money
from core.timezones import get_zone

_OFF = {"off", "clear", "remove", "delete", "none", "stop", "0"}
_BAR = 10


class GoalArgs(BaseModel):
    amount: Decimal | None = Field(
        None,
        ge=Decimal("0.01"),
        le=MAX_AMOUNT,
        description="this month's earnings goal (5000, $5k, 4000 EUR)",
    )
    currency: str | None = Field(None, pattern=r"^[A-Z]{3}$", description="its currency")
    off: bool = Field(False, description="remove the goal")

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value


def parse_goal(raw: str) -> dict[str, Any]:
    """``5000``, ``$5,000``, ``5k``, ``4.5k EUR``, ``€4000``, ``off``."""
    text = raw.strip().removeprefix("amount=").strip()
    if not text:
        return {}
    if text.lower() in _OFF:
        return {"off": True}
    thousands = re.fullmatch(r"(.*?\d)\s*k\b(.*)", text, flags=re.IGNORECASE)
    if thousands:
        text = thousands.group(1) + thousands.group(2)
    try:
        amount, currency = parse_money(text)
    except ValueError:
        raise UsageError(
            f"“{escape_markup(raw.strip())}” is not an amount: /goal 5000, /goal $5k, "
            "/goal 4000 EUR, or /goal off."
        ) from None
    if thousands:
        amount *= 1000
    out: dict[str, Any] = {"amount": amount}  # validated (bounds) before it is rounded
    if currency:
        out["currency"] = currency
    return out


def _bar(share: float) -> str:
    filled = max(0, min(_BAR, int(share * _BAR + 1e-9)))
    return "▓" * filled + "░" * (_BAR - filled)


def _date(when: datetime, zone: tzinfo) -> str:
    local = when.astimezone(zone)
    return f"{local:%B} {local.day}"


def render_goal(p: GoalProgress, timezone: str) -> str:
    """The goal's lines (markup), dates on the account's clock."""
    zone = get_zone(timezone)
    m = lambda v: format_money(v, p.goal.currency)  # noqa: E731
    month = f"{p.month:%B}"
    last_day = _date(p.month_end - timedelta(microseconds=1), zone)
    days_left = p.calendar_days_left
    lines = [
        f"**{month} goal: {m(p.goal.amount)}**",
        f"{_bar(p.share)} {p.share:.0%} — {m(p.earned)} so far, "
        f"{days_left} day{'' if days_left == 1 else 's'} left",
    ]
    if p.reached:
        over = p.earned - p.goal.amount
        lines.append("🎉 Goal reached" + (f", {m(over)} over it." if over else "."))
    elif p.projected is not None and p.daily_pace is not None and p.latest is not None:
        days = f"{p.pace_days} day{'' if p.pace_days == 1 else 's'}"
        pace = f"the last {days}" if p.pace_days >= PACE_DAYS else f"this month's {days}"
        head = f"At the pace of {pace}, {m(p.daily_pace)} a day, you'd end near {m(p.projected)}"
        if p.projected >= p.goal.amount:
            lines.append(f"{head}: on track.")
        else:
            lines.append(f"{head}, {m(p.goal.amount - p.projected)} short.")
    if p.needed_daily is not None:
        lines.append(f"To reach it: {m(p.needed_daily)} a day until {last_day}.")
    if p.latest is None:
        lines.append("No earnings imported yet: send your earnings CSV export to track it.")
    elif p.other_currency:
        lines.append(
            f"_Your earnings are mostly in {p.other_currency}; this goal counts "
            f"{p.goal.currency} only (nothing is converted): /goal {p.goal.amount.normalize():f} "
            f"{p.other_currency} sets it in {p.other_currency}._"
        )
    if p.latest is not None and p.stale:
        lines.append(
            f"_Counted up to {_date(p.as_of - timedelta(microseconds=1), zone)}, where your "
            "latest import ends: send a newer export to count the days since._"
        )
    if p.last_month:
        last = f"{p.month - timedelta(days=1):%B}"
        share = float(p.last_month / p.goal.amount)
        lines.append(f"{last}: {m(p.last_month)}, {share:.0%} of this goal.")
    return "\n".join(lines)


async def progress(ctx: Context, goal: RevenueGoal) -> tuple[GoalProgress, str]:
    zone = await ctx.timezone()
    service = AnalyticsService(ctx.app.store, ctx.app.clock)
    return await service.goal_progress(ctx.account_id, goal, zone), zone


def _reply(p: GoalProgress, zone: str, head: str = "") -> Reply:
    text = (head + "\n" if head else "") + render_goal(p, zone)
    return Reply.text(
        text,
        result=p.facts(),
        buttons=[[Button("📊 This month", "cmd:stats thismonth")]],
    )


def register(reg: Registry) -> None:
    @reg.command(
        "goal",
        "Monthly earnings goal and pace",
        usage="/goal [amount|off]",
        args=GoalArgs,
        parser=parse_goal,
        access="manager",
        examples=["/goal", "/goal 5000", "/goal $5k", "/goal 4000 EUR", "/goal off"],
    )
    async def goal(ctx: Context, args: GoalArgs) -> Reply:
        goals = ctx.app.store.goals
        if args.off:
            await goals.set(ctx.account_id, None)
            return Reply.text("Your monthly goal is removed.", result={"goal": None})
        if args.amount is None:
            current = await goals.get(ctx.account_id)
            if current is None:
                return Reply.text(
                    "You have no monthly goal. Set one with /goal 5000 (or /goal 4000 EUR): "
                    "I'll show how the month is going against it, the pace it needs, and add "
                    "it to your summaries.",
                    result={"goal": None},
                )
            return _reply(*await progress(ctx, current))
        currency = args.currency or await ctx.app.store.earnings.currency(ctx.account_id) or "USD"
        new = RevenueGoal(args.amount.quantize(Decimal("0.01")), currency)
        await goals.set(ctx.account_id, new)
        p, zone = await progress(ctx, new)
        return _reply(
            p, zone, head=f"Done — your goal is {format_money(new.amount, currency)} a month."
        )
