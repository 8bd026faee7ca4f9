"""PNG charts for chat replies (matplotlib, Agg backend, no pyplot global state).

Figures are built with ``matplotlib.figure.Figure`` and rendered by ``FigureCanvasAgg``: no
display, no global figure registry, safe to call from a worker thread (``asyncio.to_thread``).
"""

from __future__ import annotations

import io
from decimal import Decimal

from core.services.analytics import (
    CALENDAR,
    CATEGORY_LABELS,
    WEEKDAYS,
    StatsSummary,
    by_month,
    format_change,
    format_money,
    is_one_day,
    period_words,
)

#: Category colours (colour-blind friendly, Okabe-Ito).
COLOURS = {
    "subscription": "#0072B2",
    "tip": "#E69F00",
    "ppv": "#009E73",
    "message": "#CC79A7",
    "referral": "#56B4E9",
    "other": "#999999",
}
ORDER = ("subscription", "ppv", "message", "tip", "referral", "other")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _series(summary: StatsSummary) -> tuple[list[str], dict[str, list[float]], str]:
    """Revenue per category by hour (a one-day period), day, or calendar month (periods over
    120 days: a year, all time)."""
    days = summary.daily
    grouped: list[dict[str, Decimal]]
    if is_one_day(summary.period):
        names, grouped, unit = [f"{h:02d}:00" for h in range(24)], summary.hourly, "hour"
    elif len(days) <= 120:
        names = [d.strftime("%b %d") for d, _ in days]
        grouped = [cats for _, cats in days]
        unit = "day"
    else:
        months = by_month(days)
        grouped = [cats for _, cats in months]
        years = len({first.year for first, _ in months}) > 1
        names = [first.strftime("%b %y" if years else "%b") for first, _ in months]
        unit = "month"
    present = [c for c in ORDER if any(c in g for g in grouped)]
    series = {c: [float(g.get(c, 0)) for g in grouped] for c in present}
    return names, series, unit


def stats_chart(summary: StatsSummary, *, dpi: int = 100) -> bytes:
    """Revenue over the period (stacked by category) and revenue by weekday, as PNG bytes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    one_day = is_one_day(summary.period)  # no weekdays to compare: one panel, by hour
    fig = Figure(figsize=(8, 4 if one_day else 6), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    if one_day:
        top, bottom = fig.subplots(1, 1), None
    else:
        top, bottom = fig.subplots(2, 1, height_ratios=[3, 2])

    labels, series, unit = _series(summary)
    xs = list(range(len(labels)))
    base = [0.0] * len(xs)
    neg_base = [0.0] * len(xs)
    for category, values in series.items():
        pos = [max(v, 0.0) for v in values]
        neg = [min(v, 0.0) for v in values]
        top.bar(
            xs,
            pos,
            bottom=base,
            color=COLOURS.get(category, "#999999"),
            label=CATEGORY_LABELS.get(category, category),
            width=0.85,
        )
        if any(neg):
            top.bar(xs, neg, bottom=neg_base, color=COLOURS.get(category, "#999999"), width=0.85)
        base = [b + p for b, p in zip(base, pos, strict=True)]
        neg_base = [b + n for b, n in zip(neg_base, neg, strict=True)]
    if series:
        top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8, frameon=False)
    ticks = xs[:: max(1, len(xs) // 8)]
    top.set_xticks(ticks, [labels[i] for i in ticks], fontsize=8)
    top.set_ylabel(summary.currency)
    top.spines[["top", "right"]].set_visible(False)
    change = ""
    if summary.change is not None:
        change = f" ({format_change(summary.change)} vs previous)"
    top.set_title(
        f"Revenue per {unit}, {_period_title(summary)}: "
        f"{format_money(summary.revenue, summary.currency)}{change}",
        fontsize=11,
        loc="left",
    )

    if bottom is not None:
        weekday = [float(v) for v in summary.weekday_average] or [0.0] * 7
        colours = ["#0072B2"] * 7
        if summary.best_weekday in WEEKDAYS:
            colours[WEEKDAYS.index(summary.best_weekday)] = "#E69F00"
        bottom.bar([d[:3] for d in WEEKDAYS], weekday, color=colours)
        title = f"Average revenue per weekday ({summary.timezone})"
        bottom.set_title(title, fontsize=10, loc="left")
        bottom.set_ylabel(summary.currency)
        bottom.spines[["top", "right"]].set_visible(False)

    out = io.BytesIO()
    fig.savefig(out, format="png", metadata={"Software": None})
    return out.getvalue()


def _period_title(summary: StatsSummary) -> str:
    if summary.period in CALENDAR:
        first = summary.daily[0][0] if summary.daily else summary.start.date()
        last = summary.daily[-1][0] if summary.daily else first
        days = f"{first:%b %d}" + (f"–{last:%b %d}" if last != first else "")
        return f"{period_words(summary.period)} ({days}, {summary.timezone})"
    if summary.period == "all":
        return f"since {summary.start:%b %d, %Y}"
    return f"last {summary.period[:-1]} days"


__all__ = ["COLOURS", "PNG_SIGNATURE", "stats_chart"]
