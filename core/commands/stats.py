"""/stats [7d|30d|90d|all]: earnings figures, a narrative and a chart, from imported CSVs."""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, ImageBlock, Reply, escape_markup
from core.commands.registry import Registry, split_args
from core.context import Context
from core.errors import UsageError
from core.jobs import set_summary, summary_subscribers
from core.services.analytics import (
    CATEGORY_LABELS,
    AnalyticsService,
    StatsSummary,
    before_words,
    format_change,
    format_money,
    period_words,
)
from core.services.charts import stats_chart
from core.timezones import zone_label

Period = Literal["today", "yesterday", "thisweek", "lastweek", "7d", "30d", "90d", "all"]
#: Whole phrases first: "last week" is the calendar week, "last 7 days" a rolling 7d.
_PERIOD_PHRASES = {
    "this week": "thisweek", "thisweek": "thisweek", "week so far": "thisweek",
    "last week": "lastweek", "lastweek": "lastweek", "previous week": "lastweek",
}  # fmt: skip
_PERIOD_WORDS = {
    "today": "today", "now": "today", "yesterday": "yesterday", "yday": "yesterday",
    "7": "7d", "7d": "7d", "week": "7d", "1w": "7d", "w": "7d",
    "30": "30d", "30d": "30d", "month": "30d", "1m": "30d", "m": "30d",
    "90": "90d", "90d": "90d", "quarter": "90d", "3m": "90d", "q": "90d",
    "all": "all", "alltime": "all", "ever": "all", "total": "all",
}  # fmt: skip
NO_DATA = (
    "No earnings yet. Send me your earnings CSV export (date, amount, and optionally currency, "
    "category and fan) as a file, then try /stats again."
)


class StatsArgs(BaseModel):
    period: Period = Field(
        "30d", description="today, yesterday, thisweek, lastweek, 7d, 30d, 90d or all"
    )


def parse_stats(raw: str) -> dict[str, Any]:
    tokens = [t.lower() for t in split_args(raw)]
    phrase = " ".join(t for t in tokens if t not in {"the", "period="}).removeprefix("period=")
    if phrase in _PERIOD_PHRASES:
        return {"period": _PERIOD_PHRASES[phrase]}
    joined = "".join(t for t in tokens if t not in {"last", "days", "day", "the", "period="})
    if not joined:
        return {}
    joined = joined.removeprefix("period=")
    period = _PERIOD_WORDS.get(joined)
    if period is None:
        raise UsageError(
            f"“{escape_markup(raw.strip())}” is not a period: use today, yesterday, this week, "
            "last week, 7d, 30d, 90d or all."
        )
    return {"period": period}


def render(s: StatsSummary, narrative: str) -> str:
    m = lambda v: format_money(v, s.currency)  # noqa: E731
    first_day = s.daily[0][0] if s.daily else s.start.date()
    last_day = s.daily[-1][0] if s.daily else s.end.date()
    days = f"{first_day:%b %d, %Y}"
    if last_day != first_day:
        days += f" – {last_day:%b %d, %Y}"
    lines = [f"**Earnings — {period_words(s.period)}** ({days}, {s.timezone})"]
    if s.empty:
        lines.append(escape_markup(narrative))
        return "\n".join(lines)
    head = f"Revenue **{m(s.revenue)}**"
    if s.previous_revenue is not None:
        if s.change is not None:
            head += (
                f" ({format_change(s.change)} vs {m(s.previous_revenue)} {before_words(s.period)})"
            )
        else:
            head += f" (nothing {before_words(s.period)})"
    if s.transactions:
        head += f" · {s.transactions:,} transactions"
    if s.average is not None:
        head += f" · avg {m(s.average)}"
    if s.category_totals:
        head += " · from daily totals" if not s.transactions else " (and daily totals)"
    lines.append(head)
    if s.by_category:
        parts = []
        for c in s.by_category:
            share = f" ({c.share:.0%})" if c.share is not None else ""
            parts.append(f"{CATEGORY_LABELS.get(c.category, c.category)} {m(c.amount)}{share}")
        lines.append("By category: " + " · ".join(parts))
    if s.by_platform:
        parts = []
        for platform, amount, share in s.by_platform:
            name = vocab.label("platforms", platform) if platform else "platform not said"
            parts.append(f"{name} {m(amount)}" + (f" ({share:.0%})" if share is not None else ""))
        lines.append("By platform: " + " · ".join(parts))
    if s.top_share is not None:
        fans = "fan" if s.paying_fans == 1 else "fans"
        lines.append(
            f"Top 10% of fans ({s.top_fans} of {s.paying_fans} paying {fans}) brought "
            f"**{s.top_share:.0%}** of the {m(s.fan_revenue)} fans spent"
        )
        if s.previous_paying_fans is not None:
            were = "paying fan" if s.previous_paying_fans == 1 else "paying fans"
            lines[-1] += f"; {s.previous_paying_fans} {were} {before_words(s.period)}"
    if len(s.biggest) > 1:
        lines.append(
            "Biggest spenders: "
            + " · ".join(f"@{escape_markup(handle)} {m(amount)}" for handle, amount in s.biggest)
        )
    when: list[str] = []
    if s.best_weekday and s.best_weekday_average is not None:
        when.append(f"best day **{s.best_weekday}** (avg {m(s.best_weekday_average)})")
    if s.best_hour is not None:
        when.append(
            f"best hour **{s.best_hour:02d}:00–{(s.best_hour + 1) % 24:02d}:00 {s.timezone}**"
        )
    elif s.best_weekday:
        when.append("no times in your export, so no best hour")
    if when:
        lines.append(when[0][0].upper() + when[0][1:] + "".join(" · " + w for w in when[1:]))
    if s.period != "all" and (s.new_fans or s.returning_fans):
        lines.append(
            f"New spenders: {s.new_fans} ({m(s.new_revenue)}) · returning: "
            f"{s.returning_fans} ({m(s.returning_revenue)})"
        )
    others = {c: v for c, v in s.totals_by_currency.items() if c != s.currency}
    if others:
        lines.append(
            "Also in other currencies (not converted, not in the figures above): "
            + " · ".join(format_money(v, c) for c, v in others.items())
        )
    lines.append("")
    lines.append(escape_markup(narrative))
    return "\n".join(lines)


def _buttons(current: str) -> list[list[Button]]:
    return [
        [
            Button(("✓ " if p == current else "") + p, f"cmd:stats {p}")
            for p in ("yesterday", "7d", "30d", "90d", "all")
        ]
    ]


class SummaryArgs(BaseModel):
    period: Literal["daily", "weekly", "off"] | None = Field(
        None,
        description="daily (08:00 your time), weekly (Mondays 08:00 your time) or off; "
        "empty: what you get now",
    )


def _summary_when(period: str, zone: str) -> str:
    day = "every day, yesterday's figures" if period == "daily" else "every Monday, last week's"
    return f"{day}, at 08:00 {zone_label(zone)}"


def register(reg: Registry) -> None:
    @reg.command(
        "summary",
        "Get your stats summary every day or week",
        usage="/summary [daily|weekly|off]",
        args=SummaryArgs,
    )
    async def summary(ctx: Context, args: SummaryArgs) -> Reply:
        if not ctx.app.limits.scheduled_summaries:
            return Reply.text(
                "Scheduled summaries need the background worker, which this server does not run. "
                "Ask for /stats 7d any time."
            )
        zone = await ctx.timezone()
        hint = "" if zone else " /timezone sets your time zone."
        if args.period is None:
            current = (await summary_subscribers(ctx.app.kv)).get(ctx.account_id)
            if current is None:
                return Reply.text(
                    "You get no scheduled summary. /summary daily sends yesterday's figures "
                    "every morning at 08:00 your time, /summary weekly last week's on Mondays."
                    + hint,
                    result={"summary": None},
                )
            return Reply.text(
                f"You get your summary {_summary_when(current, zone)}. /summary off stops it."
                + hint,
                result={"summary": current},
            )
        await set_summary(ctx.app.kv, ctx.account_id, args.period)
        if args.period == "off":
            return Reply.text("Scheduled summaries are off.", result={"summary": None})
        return Reply.text(
            f"Done — you'll get your summary {_summary_when(args.period, zone)}. "
            "/summary off stops it." + hint,
            result={"summary": args.period},
        )

    @reg.command(
        "stats",
        "Earnings stats and a chart from your uploaded CSV exports",
        usage="/stats [today|yesterday|thisweek|lastweek|7d|30d|90d|all]",
        args=StatsArgs,
        parser=parse_stats,
        examples=["/stats", "/stats yesterday", "/stats last week", "/stats 7d", "/stats all"],
    )
    async def stats(ctx: Context, args: StatsArgs) -> Reply:
        service = AnalyticsService(
            ctx.app.store,
            ctx.app.clock,
            narrator=ctx.app.narrator,
        )
        zone = await ctx.timezone()
        summary = await service.summary(ctx.account_id, args.period, zone)
        if summary is None:
            return Reply.text(NO_DATA)
        narrative, from_llm = await service.narrative(ctx.account_id, summary)
        reply = Reply(result=summary.facts())
        reply.add_text(render(summary, narrative))
        if not zone and summary.best_hour is not None:
            reply.add_text(
                "_Hours are UTC. Set your time zone (/timezone New York, /timezone Europe/Berlin) "
                "and later uploads are counted on your clock._"
            )
        if not summary.empty:
            png = await asyncio.to_thread(stats_chart, summary)
            caption = (
                f"Revenue, {period_words(summary.period)}: "
                f"{format_money(summary.revenue, summary.currency)}"
            )
            reply.blocks.append(ImageBlock(png=png, caption=caption))
        reply.buttons = _buttons(args.period)
        reply.result["narrative_source"] = "llm" if from_llm else "rules"
        return reply
