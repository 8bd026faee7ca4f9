"""Earnings analytics for /stats: computed figures, a rule-based narrative, an LLM hook.

Statistics, not prompts: every figure is computed here from the imported transactions. A
``Narrator`` (an LLM) may only phrase the narrative around them; its text is rejected when it
mentions a number the figures don't contain, and the rule-based narrative is used instead.

Periods are ``7d``, ``30d``, ``90d`` (the last N days up to now, compared with the N days
before), ``all`` (everything, no comparison), and the calendar days, weeks (Monday first) and
months ``today``, ``yesterday``, ``thisweek``, ``lastweek``, ``thismonth``, ``lastmonth``, each
compared with the one before it (up to the same time while it is still running: today so far
against yesterday by this time, December so far against November's as many days). Days,
weekdays and hours are on the account's clock (its profile's time zone, UTC when it has none):
the period's first and last days are the local dates of its ends, and each transaction counts
in the day and hour it was imported with
(see ``core.ports.Transaction``).

Currencies: nothing is converted (there are no exchange rates offline). The figures are for the
account's *main currency* in the period — the one with the most revenue — and the totals of any
other currency are listed beside them.

Figures (main currency, period ``[start, end)``):
- revenue (refunds, negative, included), transactions, paying fans, average per transaction
  (over single payments: the categories of a daily earnings breakdown are totals, counted
  apart as ``category_totals``);
- change against the previous period of the same length (None when it had no revenue);
- revenue by category with shares, and the change of each category;
- the top 10% of paying fans (at least one fan) and their share of the revenue fans brought
  (transactions without a fan are left out of that share);
- best weekday (highest average revenue per occurrence of that weekday in the period) and
  best hour (highest total); no best hour when the export has dates only;
- new spenders (first transaction ever inside the period) against returning ones.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from typing import Any, Literal, cast

from core import vocab
from core.ports import AnalyticsStore, Clock, FanSpend, Narrator, RevenueBucket, RevenueGoal
from core.timezones import get_zone, zone_label

PERIODS: dict[str, int | None] = {"7d": 7, "30d": 30, "90d": 90, "365d": 365, "all": None}


@dataclass(frozen=True)
class CalendarPeriod:
    """A calendar day, week (weeks start on Monday), month or year on the account's clock,
    ``back`` of them before the current one, compared with the one before it (up to the same
    time while it is still running)."""

    unit: Literal["day", "week", "month", "year"]
    back: int
    words: str
    before: str

    def first_day(self, today: date, back: int) -> date:
        """The first day of the unit ``back`` units before the one holding ``today``."""
        if self.unit == "year":
            return date(today.year - back, 1, 1)
        if self.unit == "month":
            months = today.year * 12 + today.month - 1 - back
            return date(months // 12, months % 12 + 1, 1)
        if self.unit == "week":
            return today - timedelta(days=today.weekday() + 7 * back)
        return today - timedelta(days=back)


CALENDAR: dict[str, CalendarPeriod] = {
    "today": CalendarPeriod("day", 0, "today", "yesterday by this time"),
    "yesterday": CalendarPeriod("day", 1, "yesterday", "the day before"),
    "thisweek": CalendarPeriod("week", 0, "this week", "last week by this time"),
    "lastweek": CalendarPeriod("week", 1, "last week", "the week before"),
    "thismonth": CalendarPeriod("month", 0, "this month", "last month by this day"),
    "lastmonth": CalendarPeriod("month", 1, "last month", "the month before"),
    "thisyear": CalendarPeriod("year", 0, "this year", "last year by this day"),
    "lastyear": CalendarPeriod("year", 1, "last year", "the year before"),
}
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
CATEGORY_LABELS = {
    "subscription": "subscriptions",
    "tip": "tips",
    "ppv": "PPV",
    "message": "messages",
    "referral": "referrals",
    "other": "other",
}
_SYMBOL = {"USD": "$", "EUR": "€", "GBP": "£"}
ZERO = Decimal("0")


def format_money(amount: Decimal, currency: str = "USD") -> str:
    """``$1,234.50``, ``-€12.00``, ``1,000.00 CAD``."""
    sign = "-" if amount < 0 else ""
    body = f"{abs(amount):,.2f}"
    symbol = _SYMBOL.get(currency.upper())
    if symbol:
        return f"{sign}{symbol}{body}"
    return f"{sign}{body} {currency.upper()}"


def format_change(change: float | None) -> str:
    """``+12%``, ``-0.4%`` (one decimal below 1%), ``n/a``."""
    if change is None:
        return "n/a"
    if change == 0:
        return "±0%"
    return f"{change:+.1%}" if abs(change) < 0.01 else f"{change:+.0%}"


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---------------------------------------------------------------- figures


@dataclass
class CategoryFigure:
    category: str
    amount: Decimal
    share: float | None  # of the period's revenue (None when revenue <= 0)
    previous: Decimal


#: Periods long enough for revenue by month (``StatsSummary.months``), and how many are shown.
MONTHLY = frozenset({"thisyear", "lastyear", "365d", "all"})
MONTHS_SHOWN = 12


@dataclass(frozen=True)
class MonthFigure:
    first: date  # the month's first day
    revenue: Decimal
    whole: bool  # False: the period ends inside it (still running)


@dataclass
class StatsSummary:
    period: str
    start: datetime
    end: datetime
    currency: str
    totals_by_currency: dict[str, Decimal]
    revenue: Decimal
    transactions: int
    previous_revenue: Decimal | None  # None for "all"
    previous_transactions: int | None
    change: float | None  # revenue against the previous period
    average: Decimal | None  # per transaction
    by_category: list[CategoryFigure]
    #: Revenue per platform ("" when the import did not say), biggest first: (slug, amount,
    #: share of revenue); empty when all of it is from one platform, or none is known.
    by_platform: list[tuple[str, Decimal, float | None]]
    paying_fans: int
    previous_paying_fans: int | None
    top_fans: int  # how many fans are the top 10%
    top_share: float | None  # their share of the revenue fans brought
    fan_revenue: Decimal
    best_weekday: str | None
    best_weekday_average: Decimal | None
    best_hour: int | None  # hour on the account's clock, None when the export has no times
    best_hour_revenue: Decimal | None
    new_fans: int
    new_revenue: Decimal
    returning_fans: int
    returning_revenue: Decimal
    daily: list[tuple[date, dict[str, Decimal]]] = field(default_factory=list)
    weekday_revenue: list[Decimal] = field(default_factory=list)  # Monday first, totals
    weekday_average: list[Decimal] = field(default_factory=list)  # per occurrence in the period
    hourly: list[dict[str, Decimal]] = field(default_factory=list)  # 24 hours: per category
    latest: datetime | None = None  # the account's latest transaction, whatever the period
    timezone: str = "UTC"  # how the account's clock is named ("Europe/Berlin")
    category_totals: int = 0  # entries that are totals of several payments (daily breakdowns)
    platform: str = ""  # the one platform these figures are about ("" for all of them)
    #: The period's three biggest spenders (handle, amount): in the reply, never in the
    #: narrator's facts (fans' handles stay out of the model's prompt).
    biggest: list[tuple[str, Decimal]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return self.transactions == 0 and self.category_totals == 0

    def months(self) -> list[MonthFigure]:
        """Revenue per calendar month for a year or longer (``MONTHLY`` periods; [] for
        shorter ones): the last ``MONTHS_SHOWN`` months, from the first with earnings (365d's
        13th, a part month, falls off), the month still running marked not ``whole``."""
        if self.period not in MONTHLY or not self.daily:
            return []
        months = by_month(self.daily)[-MONTHS_SHOWN:]
        while months and not any(months[0][1].values()):  # before the earnings begin
            months.pop(0)
        last_day = self.daily[-1][0]
        running = (last_day + timedelta(days=1)).day != 1  # the period ends inside its month
        return [
            MonthFigure(
                first,
                sum(cats.values(), ZERO),
                not (running and first == last_day.replace(day=1)),
            )
            for first, cats in months
        ]

    def best_month(self) -> MonthFigure | None:
        """The whole month with the most revenue (None: no whole month with any, or under two
        months to compare)."""
        months = self.months()
        whole = [m for m in months if m.whole and m.revenue > 0]
        if len(months) < 2 or not whole:
            return None
        return max(whole, key=lambda m: (m.revenue, m.first))

    def facts(self) -> dict[str, Any]:
        """JSON-able figures (what a narrator may use, and the reply's ``result``)."""
        data = asdict(self)
        data.pop("daily")
        data.pop("hourly")  # best_hour says it; the chart draws it
        data.pop("biggest")
        out = json.loads(json.dumps(data, default=str))
        out["daily"] = [
            {"day": d.isoformat(), **{k: str(v) for k, v in cats.items()}} for d, cats in self.daily
        ]
        if best := self.best_month():
            out["best_month"] = f"{best.first:%B %Y}"
            out["best_month_revenue"] = str(best.revenue)
        return cast(dict[str, Any], out)


def _weekday_occurrences(start: date, end: date) -> list[int]:
    """How many times each weekday (Monday first) occurs in ``[start, end]``."""
    counts = [0] * 7
    days = (end - start).days + 1
    if days <= 0:
        return counts
    full, rest = divmod(days, 7)
    counts = [full] * 7
    for i in range(rest):
        counts[(start.weekday() + i) % 7] += 1
    return counts


def _main_currency(*bucket_lists: list[RevenueBucket], default: str) -> str:
    for buckets in bucket_lists:
        totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
        for b in buckets:
            totals[b.currency] += b.amount
        if totals:
            return sorted(totals, key=lambda c: (-totals[c], c))[0]
    return default


def _midnight(day: date, zone: tzinfo) -> datetime:
    """The first moment of ``day`` on a clock, in UTC."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def compute_summary(
    period: str,
    start: datetime,
    end: datetime,
    current: list[RevenueBucket],
    previous: list[RevenueBucket] | None,
    fans: list[FanSpend],
    previous_fans: list[FanSpend] | None,
    default_currency: str = "USD",
    timezone: str = "",
    data_from: datetime | None = None,
) -> StatsSummary:
    """All /stats figures from the period's buckets and fan spend (pure; see module doc).
    ``data_from``: the account's first transaction; the weekdays of the period before it are
    not averaged over (they are days without data, not days without earnings)."""
    currency = _main_currency(current, previous or [], default=default_currency)
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for b in current:
        totals[b.currency] += b.amount
    mine = [b for b in current if b.currency == currency]
    revenue = sum((b.amount for b in mine), ZERO)
    single = [b for b in mine if not b.aggregate]
    transactions = sum(b.count for b in single)
    category_totals = sum(b.count for b in mine if b.aggregate)

    prev_revenue: Decimal | None = None
    prev_transactions: int | None = None
    prev_by_category: dict[str, Decimal] = defaultdict(lambda: ZERO)
    if previous is not None:
        prev_mine = [b for b in previous if b.currency == currency]
        prev_revenue = sum((b.amount for b in prev_mine), ZERO)
        prev_transactions = sum(b.count for b in prev_mine if not b.aggregate)
        for b in prev_mine:
            prev_by_category[b.category] += b.amount
    change = None
    if prev_revenue is not None and prev_revenue != 0:
        change = float((revenue - prev_revenue) / abs(prev_revenue))

    by_cat: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for b in mine:
        by_cat[b.category] += b.amount
    categories = [
        CategoryFigure(
            category=c,
            amount=by_cat[c],
            share=float(by_cat[c] / revenue) if revenue > 0 else None,
            previous=prev_by_category.get(c, ZERO),
        )
        for c in sorted(by_cat, key=lambda c: (-by_cat[c], c))
    ]

    per_platform: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for b in mine:
        per_platform[b.platform] += b.amount
    by_platform = []
    if len(per_platform) > 1:
        by_platform = [
            (p, per_platform[p], float(per_platform[p] / revenue) if revenue > 0 else None)
            for p in sorted(per_platform, key=lambda p: (-per_platform[p], p))
        ]

    # fans
    spend = sorted(
        (f for f in fans if f.currency == currency and f.amount > 0),
        key=lambda f: (-f.amount, f.handle),
    )
    fan_revenue = sum((f.amount for f in spend), ZERO)
    top_n = max(1, math.ceil(len(spend) * 0.10)) if spend else 0
    top_share = float(sum((f.amount for f in spend[:top_n]), ZERO) / fan_revenue) if spend else None
    new = [f for f in spend if f.first_seen >= start]
    returning = [f for f in spend if f.first_seen < start]
    prev_paying = None
    if previous_fans is not None:
        prev_paying = len(
            {f.handle for f in previous_fans if f.currency == currency and f.amount > 0}
        )

    # when
    zone = get_zone(timezone)
    first_day = start.astimezone(zone).date()
    last_day = (end - timedelta(microseconds=1)).astimezone(zone).date()
    one_day = is_one_day(period)  # a best weekday of one day says nothing
    data_day = data_from.astimezone(zone).date() if data_from is not None else first_day
    occurrences = _weekday_occurrences(max(first_day, data_day), last_day)
    weekday_total = [ZERO] * 7
    hour_total = [ZERO] * 24
    hourly: list[dict[str, Decimal]] = [{} for _ in range(24)]
    has_times = False
    for b in mine:
        weekday_total[b.day.weekday()] += b.amount
        hour_total[b.hour] += b.amount
        hourly[b.hour][b.category] = hourly[b.hour].get(b.category, ZERO) + b.amount
        has_times = has_times or b.hour != 0
    averages = [
        (weekday_total[i] / occurrences[i]).quantize(Decimal("0.01")) if occurrences[i] else ZERO
        for i in range(7)
    ]
    best_weekday = best_weekday_avg = None
    if mine and not one_day:
        best = max(range(7), key=lambda i: (averages[i], -i))
        best_weekday, best_weekday_avg = WEEKDAYS[best], averages[best]
    best_hour = best_hour_revenue = None
    if mine and has_times:
        best_hour = max(range(24), key=lambda h: (hour_total[h], -h))
        best_hour_revenue = hour_total[best_hour]

    daily_map: dict[date, dict[str, Decimal]] = {}
    for b in mine:
        cats = daily_map.setdefault(b.day, defaultdict(lambda: ZERO))
        cats[b.category] += b.amount
    daily = []
    day = first_day
    while day <= last_day:
        daily.append((day, dict(daily_map.get(day, {}))))
        day += timedelta(days=1)

    return StatsSummary(
        period=period,
        start=start,
        end=end,
        currency=currency,
        totals_by_currency=dict(sorted(totals.items())),
        revenue=revenue,
        transactions=transactions,
        previous_revenue=prev_revenue,
        previous_transactions=prev_transactions,
        change=change,
        average=(
            (sum((b.amount for b in single), ZERO) / transactions).quantize(Decimal("0.01"))
            if transactions
            else None
        ),
        by_category=categories,
        by_platform=by_platform,
        paying_fans=len(spend),
        previous_paying_fans=prev_paying,
        top_fans=top_n,
        top_share=top_share,
        fan_revenue=fan_revenue,
        best_weekday=best_weekday,
        best_weekday_average=best_weekday_avg,
        best_hour=best_hour,
        best_hour_revenue=best_hour_revenue,
        new_fans=len(new),
        new_revenue=sum((f.amount for f in new), ZERO),
        returning_fans=len(returning),
        returning_revenue=sum((f.amount for f in returning), ZERO),
        daily=daily,
        weekday_revenue=weekday_total,
        weekday_average=averages,
        hourly=hourly,
        timezone=zone_label(timezone),
        category_totals=category_totals,
        biggest=[(f.handle, f.amount) for f in spend[:3]],
    )


# ---------------------------------------------------------------- narrative


def by_month(
    daily: list[tuple[date, dict[str, Decimal]]],
) -> list[tuple[date, dict[str, Decimal]]]:
    """Per-category revenue of each day summed per calendar month: ``(first of the month,
    {category: amount})``, in order (a month the days do not reach is left out)."""
    months: list[tuple[date, dict[str, Decimal]]] = []
    for day, cats in daily:
        first = day.replace(day=1)
        if not months or months[-1][0] != first:
            months.append((first, {}))
        merged = months[-1][1]
        for category, amount in cats.items():
            merged[category] = merged.get(category, ZERO) + amount
    return months


def is_one_day(period: str) -> bool:
    return period in CALENDAR and CALENDAR[period].unit == "day"


def period_words(period: str) -> str:
    if period in CALENDAR:
        return CALENDAR[period].words
    days = PERIODS.get(period)
    return "all time" if days is None else f"the last {days} days"


def during(period: str) -> str:
    """A period after a verb: "in the last 7 days", "in all time", "yesterday", "last week"."""
    return period_words(period) if period in CALENDAR else f"in {period_words(period)}"


def before_words(period: str) -> str:
    """The period a period is compared with: "the 7 days before", "the day before"."""
    if period in CALENDAR:
        return CALENDAR[period].before
    return f"the {PERIODS[period]} days before"


def rule_narrative(s: StatsSummary) -> str:
    """Plain sentences from the figures (no markup)."""
    m = lambda v: format_money(v, s.currency)  # noqa: E731
    if s.empty:
        if s.previous_revenue:
            return (
                f"No earnings {during(s.period)}, against {m(s.previous_revenue)} "
                f"{before_words(s.period)}. Upload a newer export if this looks wrong."
            )
        if s.latest is not None and s.latest < s.start:
            day = s.latest.astimezone(get_zone(s.timezone)).date()
            return (
                f"No earnings {during(s.period)}: your latest imported earnings are from "
                f"{day:%b %d, %Y}. Upload a newer export, or look at a longer period "
                "(/stats 30d, /stats all)."
            )
        return f"No earnings {during(s.period)}."
    out: list[str] = []
    if s.change is not None and s.previous_revenue is not None:
        direction = "up" if s.change > 0 else "down" if s.change < 0 else "flat"
        how = f" {format_change(abs(s.change)).lstrip('+')}" if direction != "flat" else ""
        out.append(
            f"Revenue was {m(s.revenue)}, {direction}{how} on {before_words(s.period)} "
            f"({m(s.previous_revenue)})."
        )
        moves = sorted(s.by_category, key=lambda c: -abs(c.amount - c.previous))
        if moves and moves[0].amount != moves[0].previous:
            c = moves[0]
            delta = c.amount - c.previous
            verb = "grew" if delta > 0 else "fell"
            out.append(
                f"{_upper_first(CATEGORY_LABELS.get(c.category, c.category))} {verb} the most "
                f"({'+' if delta > 0 else '-'}{m(abs(delta))})."
            )
    elif s.previous_revenue is not None:
        out.append(f"Revenue was {m(s.revenue)}; there is nothing to compare with before that.")
    else:
        over = f" over {s.transactions:,} transactions" if not s.category_totals else ""
        out.append(f"Revenue was {m(s.revenue)}{over}.")
    if s.by_category and s.by_category[0].share is not None:
        top = s.by_category[0]
        out.append(
            f"{_upper_first(CATEGORY_LABELS.get(top.category, top.category))} brought the most: "
            f"{top.share:.0%} of revenue."
        )
    if s.by_platform and s.by_platform[0][0] and s.by_platform[0][2] is not None:
        platform, _, share = s.by_platform[0]
        out.append(
            f"{vocab.label('platforms', platform)} was your biggest platform: {share:.0%} of "
            "revenue."
        )
    if s.top_share is not None and s.paying_fans >= 2:
        fans = f"{s.top_fans} fan{'s' * (s.top_fans != 1)}"
        out.append(
            f"Your top 10% of fans ({fans}) brought {s.top_share:.0%} of what fans spent"
            + (" — worth a personal thank-you." if s.top_share >= 0.5 else ".")
        )
    when: list[str] = []
    if s.best_weekday:
        when.append(f"best day {s.best_weekday}")
    if s.best_hour is not None:
        when.append(f"best hour {s.best_hour:02d}:00 {s.timezone}")
    if when:
        out.append(_upper_first("; ".join(when)) + " — schedule posts and PPV drops then.")
    if best := s.best_month():
        out.append(f"Your best month was {best.first:%B %Y} ({m(best.revenue)}).")
    if s.period != "all" and (s.new_fans or s.returning_fans):
        out.append(
            f"{s.new_fans} new spender{'s' * (s.new_fans != 1)} brought {m(s.new_revenue)}, "
            f"{s.returning_fans} returning {m(s.returning_revenue)}."
        )
    return " ".join(out)


_NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def numbers_in(text: str) -> set[Decimal]:
    found: set[Decimal] = set()
    for raw in _NUMBER.findall(text):
        try:
            found.add(Decimal(raw.replace(",", "")).normalize())
        except Exception:  # pragma: no cover - the regex only matches numbers
            continue
    return found


def ungrounded_numbers(text: str, allowed_sources: Iterable[str]) -> set[Decimal]:
    """The numbers in ``text`` that appear in none of ``allowed_sources``."""
    allowed: set[Decimal] = set()
    for source in allowed_sources:
        allowed |= numbers_in(source)
    return numbers_in(text) - allowed


def narrative_is_grounded(text: str, allowed_sources: Iterable[str]) -> bool:
    """True when every number in ``text`` appears in one of ``allowed_sources``."""
    return not ungrounded_numbers(text, allowed_sources)


# ---------------------------------------------------------------- monthly goal

#: The pace a goal's projection assumes: the last 30 days' revenue per day, once the earnings
#: go back that far (a steadier rate than the month's first days); the month's own rate before.
PACE_DAYS = 30


@dataclass(frozen=True)
class GoalProgress:
    """Where a month stands against a monthly goal (``/goal``), in the goal's currency only.

    ``as_of`` is where the figures end: now, or, when the latest import stops before today, the
    end of its last day, so days with nothing imported yet count neither as earned nor as
    gone."""

    goal: RevenueGoal
    month: date  # its first day, on the account's clock
    month_end: datetime
    earned: Decimal
    as_of: datetime
    stale: bool  # the figures stop before now: the latest import ends on an earlier day
    daily_pace: Decimal | None  # what the projection assumes per day (None: under a day of data)
    pace_days: int  # the days that pace was measured over
    last_month: Decimal
    latest: datetime | None  # the latest transaction of any kind (None: no earnings at all)
    other_currency: str = ""  # most earnings are in this one, not the goal's

    @property
    def share(self) -> float:
        return float(self.earned / self.goal.amount)

    @property
    def reached(self) -> bool:
        return self.earned >= self.goal.amount

    @property
    def days_left(self) -> float:
        """From ``as_of`` to the month's end."""
        return (self.month_end - self.as_of).total_seconds() / 86_400

    @property
    def projected(self) -> Decimal | None:
        if self.daily_pace is None:
            return None
        days = Decimal(str(round(self.days_left, 4)))
        return (self.earned + self.daily_pace * days).quantize(Decimal("0.01"))

    @property
    def calendar_days_left(self) -> int:
        """The days left counting the one ``as_of`` is in (7 on the 24th of a 30-day month)."""
        return max(0, math.ceil(self.days_left - 1e-9))

    @property
    def needed_daily(self) -> Decimal | None:
        """What each day left must bring to reach the goal (None: reached, or no day left)."""
        if self.reached or not self.calendar_days_left:
            return None
        return ((self.goal.amount - self.earned) / self.calendar_days_left).quantize(
            Decimal("0.01")
        )

    def facts(self) -> dict[str, Any]:
        return {
            "goal": str(self.goal.amount),
            "currency": self.goal.currency,
            "month": self.month.isoformat(),
            "earned": str(self.earned),
            "share": round(self.share, 4),
            "as_of": self.as_of.isoformat(),
            "days_left": round(self.days_left, 2),
            "daily_pace": None if self.daily_pace is None else str(self.daily_pace),
            "pace_days": self.pace_days,
            "projected": None if self.projected is None else str(self.projected),
            "needed_daily": None if self.needed_daily is None else str(self.needed_daily),
            "last_month": str(self.last_month),
            "reached": self.reached,
        }


# ---------------------------------------------------------------- service


@dataclass
class AnalyticsService:
    store: AnalyticsStore
    clock: Clock
    narrator: Narrator | None = None
    default_currency: str = "USD"

    def window(
        self, period: str, timezone: str = ""
    ) -> tuple[datetime | None, datetime, tuple[datetime, datetime] | None]:
        """``(start, end, previous)`` of a period: ``start`` None for "all", ``previous`` the
        ``[start, end)`` it is compared with (None for "all")."""
        now = self.clock.now()
        if period in CALENDAR:
            cal, zone = CALENDAR[period], get_zone(timezone)
            today = now.astimezone(zone).date()
            start = _midnight(cal.first_day(today, cal.back), zone)
            after = _midnight(cal.first_day(today, cal.back - 1), zone)
            before = _midnight(cal.first_day(today, cal.back + 1), zone)
            if now >= after:  # a whole period against the whole one before
                return start, after, (before, start)
            # A running one against the one before as far into it (capped at its end: the 31st
            # of March so far against all of February).
            return start, now, (before, min(start, before + (now - start)))
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}")
        days = PERIODS[period]
        if days is None:
            return None, now, None
        start = now - timedelta(days=days)
        return start, now, (start - timedelta(days=days), start)

    async def summary(
        self, account_id: int, period: str, timezone: str = "", platform: str | None = None
    ) -> StatsSummary | None:
        """The period's figures on the clock of ``timezone`` (a profile's), of one platform's
        earnings when ``platform`` is given; None when there are no transactions at all (of
        that platform)."""
        repo = self.store.earnings
        span = await repo.span(account_id, platform)
        if span is None:
            return None
        start, end, compare = self.window(period, timezone)
        current = await repo.buckets(account_id, start, end, platform)
        fans = await repo.fan_spend(account_id, start, end, platform)
        previous = previous_fans = None
        if compare is not None:
            previous = await repo.buckets(account_id, *compare, platform)
            previous_fans = await repo.fan_spend(account_id, *compare, platform)
        if start is None:
            start = min(span[0], end)
        summary = compute_summary(
            period,
            start,
            end,
            current,
            previous,
            fans,
            previous_fans,
            self.default_currency,
            timezone,
            data_from=span[0],
        )
        summary.latest = span[1]
        summary.platform = platform or ""
        return summary

    async def revenue(
        self, account_id: int, period: str = "7d", timezone: str = ""
    ) -> tuple[Decimal, str, float | None] | None:
        """``(revenue, currency, change)`` of a period in the currency most of the account's
        earnings are in, the change against the period before as ``summary`` counts it (None
        when that had none); None when the account has no earnings. Three light statements, for
        a list of accounts (``/accounts``)."""
        repo = self.store.earnings
        currency = await repo.currency(account_id)
        if currency is None:
            return None
        start, end, compare = self.window(period, timezone)

        def total(buckets: list[RevenueBucket]) -> Decimal:
            return sum((b.amount for b in buckets if b.currency == currency), Decimal(0))

        now = total(await repo.buckets(account_id, start, end))
        before = total(await repo.buckets(account_id, *compare)) if compare else Decimal(0)
        change = float((now - before) / abs(before)) if before else None
        return now, currency, change

    async def goal_progress(
        self, account_id: int, goal: RevenueGoal, timezone: str = ""
    ) -> GoalProgress:
        """This month against ``goal`` on the clock of ``timezone``: what came in, the pace and
        where it leads by the month's end, and last month for comparison."""
        repo, now, zone = self.store.earnings, self.clock.now(), get_zone(timezone)
        start, _, _ = self.window("thismonth", timezone)
        month = start.astimezone(zone).date()
        month_end = _midnight(CALENDAR["thismonth"].first_day(month, -1), zone)
        span = await repo.span(account_id)
        main = await repo.currency(account_id) if span is not None else None
        as_of = now
        if span is not None:
            latest_day_end = _midnight(span[1].astimezone(zone).date() + timedelta(days=1), zone)
            as_of = min(now, max(start, latest_day_end))

        async def total(since: datetime | None, until: datetime) -> Decimal:
            buckets = await repo.buckets(account_id, since, until)
            return sum((b.amount for b in buckets if b.currency == goal.currency), ZERO)

        earned = await total(start, as_of)
        last_start, last_end, _ = self.window("lastmonth", timezone)
        last_month = await total(last_start, last_end)
        elapsed = (as_of - start).total_seconds() / 86_400
        pace: Decimal | None = None
        pace_days = 0
        if span is not None and span[0] <= as_of - timedelta(days=PACE_DAYS):
            pace_days = PACE_DAYS
            pace = await total(as_of - timedelta(days=PACE_DAYS), as_of) / PACE_DAYS
        elif elapsed >= 1:
            pace_days = int(elapsed)
            pace = earned / Decimal(str(round(elapsed, 4)))
        return GoalProgress(
            goal=goal,
            month=month,
            month_end=month_end,
            earned=earned,
            as_of=as_of,
            stale=as_of < now,
            daily_pace=None if pace is None else pace.quantize(Decimal("0.01")),
            pace_days=pace_days,
            last_month=last_month,
            latest=None if span is None else span[1],
            other_currency=main if main and main != goal.currency else "",
        )

    async def narrative(self, account_id: int, summary: StatsSummary) -> tuple[str, bool]:
        """``(text, from_llm)``: the narrator's text when it stays within the figures."""
        rules = rule_narrative(summary)
        if self.narrator is None or summary.empty:
            return rules, False
        facts = summary.facts()
        try:
            text = await self.narrator.narrate(facts, rules, account_id=account_id)
        except Exception:
            return rules, False
        if not text or not text.strip():
            return rules, False
        if not narrative_is_grounded(text, [json.dumps(facts), rules]):
            return rules, False
        return text.strip(), True


__all__ = [
    "CALENDAR",
    "CATEGORY_LABELS",
    "MONTHLY",
    "PACE_DAYS",
    "PERIODS",
    "WEEKDAYS",
    "AnalyticsService",
    "CategoryFigure",
    "GoalProgress",
    "MonthFigure",
    "StatsSummary",
    "before_words",
    "by_month",
    "compute_summary",
    "during",
    "format_change",
    "format_money",
    "is_one_day",
    "narrative_is_grounded",
    "numbers_in",
    "period_words",
    "rule_narrative",
    "ungrounded_numbers",
]
