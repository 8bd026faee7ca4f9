"""/stats [period] [platform]: earnings figures, a narrative and a chart, from imported CSVs."""

from __future__ import annotations

import asyncio
import difflib
import re
from typing import Any, Literal

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, ImageBlock, Reply, escape_markup
from core.commands.registry import Choice, Registry, split_args
from core.context import Context
from core.errors import UsageError
from core.rules import asked_platform
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

Period = Literal[
    "today", "yesterday", "thisweek", "lastweek", "thismonth", "lastmonth", "thisyear",
    "lastyear", "7d", "30d", "90d", "365d", "all",
]  # fmt: skip
#: Whole phrases first: "last week" is the calendar week, "last 7 days" a rolling 7d.
_PERIOD_PHRASES = {
    "this week": "thisweek", "thisweek": "thisweek", "week so far": "thisweek",
    "last week": "lastweek", "lastweek": "lastweek", "previous week": "lastweek",
    "this month": "thismonth", "thismonth": "thismonth", "month so far": "thismonth",
    "mtd": "thismonth", "last month": "lastmonth", "lastmonth": "lastmonth",
    "previous month": "lastmonth", "this year": "thisyear", "thisyear": "thisyear",
    "year so far": "thisyear", "ytd": "thisyear", "last year": "lastyear",
    "lastyear": "lastyear", "previous year": "lastyear",
}  # fmt: skip
_PERIOD_WORDS = {
    "today": "today", "now": "today", "yesterday": "yesterday", "yday": "yesterday",
    "7": "7d", "7d": "7d", "week": "7d", "1w": "7d", "w": "7d",
    "30": "30d", "30d": "30d", "month": "30d", "1m": "30d", "m": "30d",
    "90": "90d", "90d": "90d", "quarter": "90d", "3m": "90d", "q": "90d",
    "365": "365d", "365d": "365d", "year": "365d", "12m": "365d", "1y": "365d", "y": "365d",
    "12months": "365d",
    "all": "all", "alltime": "all", "ever": "all", "total": "all",
}  # fmt: skip
NO_DATA = (
    "No earnings yet. Send me your earnings CSV export (date, amount, and optionally currency, "
    "category and fan) as a file, then try /stats again."
)


class StatsArgs(BaseModel):
    period: Period = Field(
        "30d",
        description="today, yesterday, this/last week, month or year, 7d, 30d, 90d, 365d or all",
    )
    platform: str | None = Field(
        None,
        max_length=32,
        description="only the earnings of one platform (onlyfans, fansly, ...), as your imports "
        "named it",
    )


_FILLER = {"on", "from", "for", "in", "at"}


def parse_stats(raw: str) -> dict[str, Any]:
    """``[period] [platform]`` in any order: "last week", "30d fansly", "OF this week",
    "platform=fanvue". A word that is neither is taken for a platform of the creator's own
    (checked against their imports) when it is the only one."""
    tokens = [t.lower() for t in split_args(raw)]
    out: dict[str, Any] = {}
    rest: list[str] = []
    for token in tokens:
        named = token.removeprefix("platform=")
        slug = None if token in _PERIOD_WORDS else vocab.normalise("platforms", named)
        if token.startswith("platform=") and named:
            out["platform"] = slug or named
        elif slug and "platform" not in out:
            out["platform"] = slug
        elif token not in _FILLER:
            rest.append(token)
    phrase = " ".join(t for t in rest if t not in {"the", "period="}).removeprefix("period=")
    if phrase in _PERIOD_PHRASES:
        return {**out, "period": _PERIOD_PHRASES[phrase]}
    joined = "".join(t for t in rest if t not in {"last", "days", "day", "the", "period="})
    joined = joined.removeprefix("period=")
    if not joined:
        return out
    period = _PERIOD_WORDS.get(joined)
    if period is not None:
        return {**out, "period": period}
    word = rest[0] if len(rest) == 1 and "platform" not in out else ""
    periods = [*_PERIOD_WORDS, *_PERIOD_PHRASES]
    if re.fullmatch(r"[a-z][a-z0-9_.-]{2,31}", word) and not difflib.get_close_matches(
        word, periods, n=1, cutoff=0.75
    ):
        return {"platform": word}  # a platform of their own ("fanvue")?
    raise UsageError(
        f"“{escape_markup(raw.strip())}” is not a period: use today, yesterday, this week, "
        "last week, this month, last month, this year, last year, 7d, 30d, 90d, 365d or all, and a "
        "platform if you like (/stats 30d fansly)."
    )


def render(s: StatsSummary, narrative: str) -> str:
    m = lambda v: format_money(v, s.currency)  # noqa: E731
    first_day = s.daily[0][0] if s.daily else s.start.date()
    last_day = s.daily[-1][0] if s.daily else s.end.date()
    days = f"{first_day:%b %d, %Y}"
    if last_day != first_day:
        days += f" – {last_day:%b %d, %Y}"
    on = f" on {vocab.label('platforms', s.platform)}" if s.platform else ""
    lines = [f"**Earnings{on} — {period_words(s.period)}** ({days}, {s.timezone})"]
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
        head += f" · {s.transactions:,} transaction{'' if s.transactions == 1 else 's'}"
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
    if months := _months_line(s):
        lines.append(months)
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


def _months_line(s: StatsSummary) -> str:
    """The line "By month: Jan $1,200 · **Feb $1,350** · …" for a year or longer
    (``StatsSummary.months``: the best whole month in bold, a running one marked "so far");
    "" when there is under two months to show."""
    months = s.months()
    if len(months) < 2:
        return ""
    best = s.best_month()
    years = len({m.first.year for m in months}) > 1
    shown = []
    for m in months:
        text = (f"{m.first:%b %Y}" if years else f"{m.first:%b}") + ("" if m.whole else " (so far)")
        text += f" {format_money(m.revenue, s.currency)}"
        shown.append(f"**{text}**" if m == best else text)
    return "By month: " + " · ".join(shown)


def _buttons(current: str, platform: str = "") -> list[list[Button]]:
    also = f" {platform}" if platform else ""
    return [
        [
            Button(("✓ " if p == current else "") + p, f"cmd:stats {p}{also}")
            for p in ("yesterday", "7d", "30d", "90d", "all")
        ]
    ]


async def complete_platform(ctx: Context, prefix: str) -> list[Choice]:
    """The platforms the account's earnings name, those starting with what was typed."""
    typed = prefix.strip().lower()
    known = await ctx.app.store.earnings.platforms(ctx.account_id)
    return [
        Choice(p, vocab.label("platforms", p))
        for p in known
        if p.startswith(typed) or vocab.label("platforms", p).lower().startswith(typed)
    ]


async def _no_such_platform(ctx: Context, platform: str) -> str:
    name = vocab.label("platforms", platform)
    known = await ctx.app.store.earnings.platforms(ctx.account_id)
    if not known:
        return (
            f"None of your earnings are marked {escape_markup(name)}. Send an export with its "
            "platform as the caption (“fansly”, “OF”) and /stats can tell your platforms apart."
        )
    yours = ", ".join(f"{vocab.label('platforms', p)} (/stats 30d {p})" for p in known)
    return f"None of your earnings are marked {escape_markup(name)}. Yours: {yours}."


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
        "A stats summary every day or week",
        usage="/summary [daily|weekly|off]",
        args=SummaryArgs,
        access="manager",
    )
    async def summary(ctx: Context, args: SummaryArgs) -> Reply:
        zone = await ctx.timezone()
        hint = "" if zone else " /timezone sets your time zone."
        if args.period is None:
            current = await ctx.app.store.summaries.get(ctx.account_id)
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
        wanted = None if args.period == "off" else args.period
        await ctx.app.store.summaries.set(ctx.account_id, wanted)
        if args.period == "off":
            return Reply.text("Scheduled summaries are off.", result={"summary": None})
        return Reply.text(
            f"Done — you'll get your summary {_summary_when(args.period, zone)}. "
            "/summary off stops it." + hint,
            result={"summary": args.period},
        )

    @reg.command(
        "stats",
        "Earnings stats and a chart",
        usage="/stats [period] [platform]",
        args=StatsArgs,
        parser=parse_stats,
        complete={"platform": complete_platform},
        access="manager",
        examples=[
            "/stats",
            "/stats yesterday",
            "/stats last week",
            "/stats this month",
            "/stats 7d",
            "/stats all",
            "/stats 30d fansly",
        ],
    )
    async def stats(ctx: Context, args: StatsArgs) -> Reply:
        service = AnalyticsService(
            ctx.app.store,
            ctx.app.clock,
            narrator=ctx.app.narrator,
        )
        zone = await ctx.timezone()
        platform = asked_platform(args.platform)
        summary = await service.summary(ctx.account_id, args.period, zone, platform)
        if summary is None and platform:
            return Reply.text(await _no_such_platform(ctx, platform))
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
            on = f" on {vocab.label('platforms', summary.platform)}" if summary.platform else ""
            caption = (
                f"Revenue{on}, {period_words(summary.period)}: "
                f"{format_money(summary.revenue, summary.currency)}"
            )
            reply.blocks.append(ImageBlock(png=png, caption=caption))
        reply.buttons = _buttons(args.period, summary.platform)
        reply.result["narrative_source"] = "llm" if from_llm else "rules"
        return reply
