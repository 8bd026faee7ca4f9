"""/stats figures against hand-computed expectations, the narrative guard, the chart.

The data set is ``tests/fixtures/csv/earnings_week.csv``; the clock stands at
2026-11-24 12:00 UTC (a Tuesday). For ``7d`` the period is [Nov 17 12:00, Nov 24 12:00) and the
previous one [Nov 10 12:00, Nov 17 12:00). By hand, in USD:

- current: 1 (hugo, exactly at the start) + 10 + 25 (anna) + 20 (referral, no fan) + 15 (ben)
  + 50 (cara) + 10 (dan) + 5 (erin) - 10 (ben's refund) = 126.00 over 9 transactions; the EUR
  tip (30.00) is listed apart;
- previous: 10 (anna) + 40 (cara) + 50 (gabe) = 100.00 -> +26%;
- categories: tip 76, referral 20, subscription 20, message 5, ppv 5 (15 - 10);
- paying fans: cara 50, anna 35, dan 10, ben 5, erin 5, hugo 1 = 106 -> the top 10% is one fan
  (cara), 50 / 106 = 47.2%;
- new spenders (first transaction ever in the period): ben, dan, hugo = 16.00; returning:
  anna, cara, erin (erin first paid on Oct 1) = 90.00;
- weekdays: Nov 17..24 has two Tuesdays; Saturday (Nov 21) has 50.00, the best average;
- hours: 21:00 has 10 + 25 + 50 + 5 = 90.00.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.models import Identity
from core.services.analytics import (
    AnalyticsService,
    compute_summary,
    format_change,
    format_money,
    narrative_is_grounded,
    rule_narrative,
)
from core.services.charts import PNG_SIGNATURE, stats_chart
from core.services.imports import CsvImporter
from storage.db import create_engine
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "csv"
D = Decimal


async def load(store: SqlStore, clock: FakeClock, name: str = "alice") -> int:
    acct = (await store.accounts.resolve(Identity(platform="console", external_id=name))).id
    data = (FIXTURES / "earnings_week.csv").read_bytes()
    await CsvImporter(store, clock).import_csv(acct, "earnings_week.csv", data)
    return acct


@pytest.fixture
async def sqlite_store(migrated_sqlite_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    engine = create_engine(migrated_sqlite_url)
    try:
        yield SqlStore(engine, clock)
    finally:
        await engine.dispose()


async def test_seven_days_by_hand(store: SqlStore, clock: FakeClock) -> None:
    acct = await load(store, clock)
    s = await AnalyticsService(store, clock).summary(acct, "7d")
    assert s is not None
    assert s.start == datetime(2026, 11, 17, 12, tzinfo=UTC)
    assert s.end == datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert s.currency == "USD"
    assert s.totals_by_currency == {"EUR": D("30.00"), "USD": D("126.00")}
    assert (s.revenue, s.transactions, s.average) == (D("126.00"), 9, D("14.00"))
    assert (s.previous_revenue, s.previous_transactions) == (D("100.00"), 3)
    assert s.change == pytest.approx(0.26)
    assert [(c.category, c.amount, c.previous) for c in s.by_category] == [
        ("tip", D("76.00"), D("40.00")),
        ("referral", D("20.00"), D("0")),
        ("subscription", D("20.00"), D("10.00")),
        ("message", D("5.00"), D("0")),
        ("ppv", D("5.00"), D("50.00")),
    ]
    assert s.by_category[0].share == pytest.approx(76 / 126)
    assert (s.paying_fans, s.previous_paying_fans, s.fan_revenue) == (6, 3, D("106.00"))
    assert s.top_fans == 1 and s.top_share == pytest.approx(50 / 106)
    assert s.biggest == [("cara", D("50.00")), ("anna", D("35.00")), ("dan", D("10.00"))]
    assert "biggest" not in s.facts()  # fans' handles stay out of the narrator's prompt
    assert (s.new_fans, s.new_revenue) == (3, D("16.00"))
    assert (s.returning_fans, s.returning_revenue) == (3, D("90.00"))
    assert (s.best_weekday, s.best_weekday_average) == ("Saturday", D("50.00"))
    assert s.weekday_average[1] == D("0.50")  # Tuesday: 1.00 over two Tuesdays
    assert (s.best_hour, s.best_hour_revenue) == (21, D("90.00"))
    assert [d for d, _ in s.daily] == [date(2026, 11, d) for d in range(17, 25)]
    assert s.daily[6] == (date(2026, 11, 23), {"message": D("5.00"), "ppv": D("-10.00")})


async def test_one_platforms_figures(store: SqlStore, clock: FakeClock) -> None:
    alice = (await store.accounts.resolve(Identity(platform="console", external_id="a"))).id
    bob = (await store.accounts.resolve(Identity(platform="console", external_id="b"))).id
    importer = CsvImporter(store, clock)
    of = b"Date,Amount,Fan\n2026-11-01 12:00:00,70.00,@leo\n2026-11-20 12:00:00,30.00,@mia\n"
    fansly = b"Date,Amount,Fan\n2026-11-21 12:00:00,45.00,@leo\n2026-11-22 12:00:00,5.00,@ann\n"
    await importer.import_csv(alice, "onlyfans.csv", of)
    await importer.import_csv(alice, "fansly.csv", fansly)
    await importer.import_csv(bob, "earnings.csv", of, platform="fanvue")
    service = AnalyticsService(store, clock)
    both = await service.summary(alice, "7d")
    assert both is not None and both.revenue == D("80.00") and both.platform == ""
    assert both.by_platform == [("fansly", D("50.00"), 0.625), ("onlyfans", D("30.00"), 0.375)]
    assert "Fansly was your biggest platform: 62% of revenue." in rule_narrative(both)
    one = await service.summary(alice, "7d", platform="fansly")
    assert one is not None and (one.revenue, one.transactions) == (D("50.00"), 2)
    assert one.platform == "fansly" and one.by_platform == []
    # Leo paid on OnlyFans weeks ago, but is new on Fansly.
    assert (one.new_fans, one.returning_fans) == (2, 0)
    assert (both.new_fans, both.returning_fans) == (2, 1)
    assert one.biggest == [("leo", D("45.00")), ("ann", D("5.00"))]
    assert await service.summary(alice, "7d", platform="fanvue") is None  # Bob's platform
    assert await store.earnings.platforms(alice) == ["fansly", "onlyfans"]
    assert await store.earnings.platforms(bob) == ["fanvue"]
    # The fan list's money is in the currency most of the earnings are in.
    carl = (await store.accounts.resolve(Identity(platform="console", external_id="c"))).id
    assert await store.earnings.currency(carl) is None
    mixed = b"Date,Amount,Currency\n2026-11-20,30,USD\n2026-11-21,40,EUR\n2026-11-22,-15,EUR\n"
    await importer.import_csv(carl, "mixed.csv", mixed)
    assert await store.earnings.currency(carl) == "USD"  # 30 against 25 (refunds count)
    assert await store.earnings.currency(alice) == "USD"
    # Offers keep their platform too; /price can read one platform's.
    offers = b"Date,Price,Sent,Bought,Platform\n2026-11-01,9.99,100,9,OF\n2026-11-02,19.99,50,4,\n"
    await importer.import_csv(alice, "offers.csv", offers, platform="fansly")
    assert [o.platform for o in await store.offers.list(alice, "ppv")] == ["onlyfans", "fansly"]
    assert [o.price for o in await store.offers.list(alice, "ppv", platform="fansly")] == [
        D("19.99")
    ]
    assert await store.offers.list(bob, "ppv", platform="fansly") == []
    # Offers imported without a platform get it when the file is sent again with one.
    plain = b"Date,Price,Sent,Bought\n2026-11-05,14.99,80,7\n"
    await importer.import_csv(alice, "ppv.csv", plain)
    report = await importer.import_stream(alice, "ppv.csv", [plain], platform="OF")
    assert (report.added, report.unchanged, report.relabelled) == (0, 0, 1)
    assert "1 of those imported before now have their platform." in report.text()
    assert [o.price for o in await store.offers.list(alice, "ppv", platform="onlyfans")] == [
        D("9.99"),
        D("14.99"),
    ]


async def test_thirty_days_and_all_time(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await load(sqlite_store, clock)
    service = AnalyticsService(sqlite_store, clock)
    month = await service.summary(acct, "30d")
    assert month is not None
    assert (month.revenue, month.previous_revenue) == (D("226.00"), D("100.00"))
    assert month.change == pytest.approx(1.26)
    assert (month.new_fans, month.returning_fans) == (6, 1)  # only erin paid before Oct 25
    everything = await service.summary(acct, "all")
    assert everything is not None
    assert everything.start == datetime(2026, 10, 1, 12, tzinfo=UTC)
    assert everything.revenue == D("326.00") and everything.transactions == 13
    assert everything.previous_revenue is None and everything.change is None
    assert len(everything.daily) == 55  # Oct 1 .. Nov 24


async def test_a_quiet_period_and_an_account_without_data(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    service = AnalyticsService(sqlite_store, clock)
    nobody = (await sqlite_store.accounts.resolve(Identity(platform="c", external_id="n"))).id
    assert await service.summary(nobody, "30d") is None
    acct = await load(sqlite_store, clock)
    clock.advance(20 * 86400)  # three quiet weeks later
    s = await service.summary(acct, "7d")
    assert s is not None and s.empty and s.revenue == 0 and s.change is None
    assert s.best_weekday is None and s.top_share is None
    assert rule_narrative(s) == (
        "No earnings in the last 7 days: your latest imported earnings are from Nov 23, 2026. "
        "Upload a newer export, or look at a longer period (/stats 30d, /stats all)."
    )


async def test_figures_never_include_another_accounts_rows(
    store: SqlStore, clock: FakeClock
) -> None:
    alice = await load(store, clock, "alice")
    bob = (await store.accounts.resolve(Identity(platform="console", external_id="bob"))).id
    data = b"date,amount,fan\n2026-11-20 10:00,1000,@whale\n"
    await CsvImporter(store, clock).import_csv(bob, "bob.csv", data)
    s = await AnalyticsService(store, clock).summary(alice, "7d")
    assert s is not None and s.revenue == D("126.00") and s.paying_fans == 6
    b = await AnalyticsService(store, clock).summary(bob, "7d")
    assert b is not None and b.revenue == D("1000.00") and b.paying_fans == 1


def test_calendar_days_on_the_accounts_clock(sqlite_store: SqlStore) -> None:
    def at(*parts: int) -> datetime:
        return datetime(*parts, tzinfo=UTC)

    service = AnalyticsService(sqlite_store, FakeClock(at(2026, 11, 24, 12)))
    # Berlin (UTC+1): today began at 23:00 UTC and is compared with yesterday up to noon.
    assert service.window("today", "Europe/Berlin") == (
        at(2026, 11, 23, 23),
        at(2026, 11, 24, 12),
        (at(2026, 11, 22, 23), at(2026, 11, 23, 12)),
    )
    assert service.window("yesterday", "Europe/Berlin") == (
        at(2026, 11, 22, 23),
        at(2026, 11, 23, 23),
        (at(2026, 11, 21, 23), at(2026, 11, 22, 23)),
    )
    assert service.window("yesterday") == (
        at(2026, 11, 23),
        at(2026, 11, 24),
        (at(2026, 11, 22), at(2026, 11, 23)),
    )
    # 1 November 2026 in New York had 25 hours (summer time ended).
    service = AnalyticsService(sqlite_store, FakeClock(at(2026, 11, 2, 12)))
    assert service.window("yesterday", "America/New_York") == (
        at(2026, 11, 1, 4),
        at(2026, 11, 2, 5),
        (at(2026, 10, 31, 4), at(2026, 11, 1, 4)),
    )
    start, end, previous = service.window("7d")
    assert (start, end, previous) == (
        at(2026, 10, 26, 12),
        at(2026, 11, 2, 12),
        (at(2026, 10, 19, 12), at(2026, 10, 26, 12)),
    )
    assert service.window("all") == (None, at(2026, 11, 2, 12), None)
    # Weeks start on Monday: Monday 2 November 2026 at noon, New York's clock (07:00 there).
    assert service.window("thisweek", "America/New_York") == (
        at(2026, 11, 2, 5),
        at(2026, 11, 2, 12),
        (at(2026, 10, 26, 4), at(2026, 10, 26, 11)),  # last week up to the same time
    )
    assert service.window("lastweek", "America/New_York") == (
        at(2026, 10, 26, 4),
        at(2026, 11, 2, 5),  # a week of 7 days and one hour: summer time ended on the 1st
        (at(2026, 10, 19, 4), at(2026, 10, 26, 4)),
    )


def test_main_currency_is_the_biggest() -> None:
    from core.ports import RevenueBucket

    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 11, 8, tzinfo=UTC)
    day = date(2026, 11, 2)
    buckets = [
        RevenueBucket(day, 10, "tip", "USD", D("10"), 1),
        RevenueBucket(day, 11, "tip", "EUR", D("40"), 2),
    ]
    s = compute_summary("7d", start, end, buckets, [], [], [])
    assert s.currency == "EUR" and s.revenue == D("40") and s.transactions == 2
    assert s.totals_by_currency == {"EUR": D("40"), "USD": D("10")}
    assert s.best_hour == 11


def test_no_times_in_the_export_means_no_best_hour() -> None:
    from core.ports import RevenueBucket

    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 11, 8, tzinfo=UTC)
    buckets = [RevenueBucket(date(2026, 11, 3), 0, "tip", "USD", D("10"), 1)]
    s = compute_summary("7d", start, end, buckets, [], [], [])
    assert s.best_hour is None and s.best_weekday == "Tuesday"


def test_daily_category_totals_are_revenue_but_not_transactions() -> None:
    from core.commands.stats import render
    from core.ports import RevenueBucket

    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 11, 8, tzinfo=UTC)
    totals = [
        RevenueBucket(date(2026, 11, 3), 0, "subscription", "USD", D("120"), 1, aggregate=True),
        RevenueBucket(date(2026, 11, 3), 0, "tip", "USD", D("45"), 1, aggregate=True),
    ]
    only = compute_summary("7d", start, end, totals, [], [], [])
    assert (only.revenue, only.transactions, only.category_totals) == (D("165"), 0, 2)
    assert not only.empty and only.average is None and only.best_weekday == "Tuesday"
    shown = render(only, "")
    assert "Revenue **$165.00** (nothing the 7 days before) · from daily totals\n" in shown
    # Single payments beside them: counted, and the average is theirs alone.
    single = [RevenueBucket(date(2026, 11, 4), 21, "tip", "USD", D("10"), 2)]
    mixed = compute_summary("7d", start, end, totals + single, [], [], [])
    assert (mixed.revenue, mixed.transactions, mixed.average) == (D("175"), 2, D("5.00"))
    assert "· 2 transactions · avg $5.00 (and daily totals)" in render(mixed, "")


def test_money_and_change_formats() -> None:
    assert format_money(D("1234.5"), "USD") == "$1,234.50"
    assert format_money(D("-12"), "EUR") == "-€12.00"
    assert format_money(D("1000"), "CAD") == "1,000.00 CAD"
    assert format_change(0.26) == "+26%"
    assert format_change(-0.0017) == "-0.2%"
    assert format_change(None) == "n/a"


# ---------------------------------------------------------------- narrative


async def test_rule_narrative_states_the_figures(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await load(sqlite_store, clock)
    s = await AnalyticsService(sqlite_store, clock).summary(acct, "7d")
    assert s is not None
    text = rule_narrative(s)
    assert text.startswith("Revenue was $126.00, up 26% on the 7 days before ($100.00).")
    assert "PPV fell the most (-$45.00)." in text
    assert "Tips brought the most: 60% of revenue." in text
    assert "top 10% of fans (1 fan) brought 47% of what fans spent" in text
    assert "Best day Saturday; best hour 21:00 UTC" in text
    assert "3 new spenders brought $16.00, 3 returning $90.00." in text


class Narrator:
    def __init__(self, text: str | None, fail: bool = False) -> None:
        self.text = text
        self.fail = fail
        self.facts: dict[str, object] | None = None

    async def narrate(self, facts: dict[str, object], plain: str, *, account_id: int) -> str | None:
        self.facts = facts
        if self.fail:
            raise RuntimeError("LLM down")
        return self.text


@pytest.mark.parametrize(
    ("narrator", "expected_llm"),
    [
        (Narrator("Great week: $126.00 in, 26% more than before, tips lead."), True),
        (Narrator("Great week: $150.00 in, your best ever!"), False),  # invented number
        (Narrator(None), False),
        (Narrator("anything", fail=True), False),
    ],
)
async def test_llm_may_only_phrase_the_figures(
    sqlite_store: SqlStore, clock: FakeClock, narrator: Narrator, expected_llm: bool
) -> None:
    acct = await load(sqlite_store, clock)
    service = AnalyticsService(sqlite_store, clock, narrator=narrator)
    s = await service.summary(acct, "7d")
    assert s is not None
    text, from_llm = await service.narrative(acct, s)
    assert from_llm is expected_llm
    if expected_llm:
        assert text == narrator.text
    else:
        assert text == rule_narrative(s)
    assert narrator.facts is not None and narrator.facts["revenue"] == "126.00"


def test_grounding_check() -> None:
    assert narrative_is_grounded("Up 26% to $1,234.50", ["revenue 1234.50 change 26"])
    assert not narrative_is_grounded("Up 27%", ["change 26"])


# ---------------------------------------------------------------- chart


async def test_chart_is_a_real_png(sqlite_store: SqlStore, clock: FakeClock) -> None:
    from matplotlib.image import imread

    acct = await load(sqlite_store, clock)
    s = await AnalyticsService(sqlite_store, clock).summary(acct, "7d")
    assert s is not None
    png = stats_chart(s)
    assert png.startswith(PNG_SIGNATURE)
    pixels = imread(io.BytesIO(png))
    assert pixels.shape[:2] == (600, 800)
    assert pixels.std() > 0.05  # not a blank image
    everything = await AnalyticsService(sqlite_store, clock).summary(acct, "all")
    assert everything is not None and stats_chart(everything).startswith(PNG_SIGNATURE)


async def test_one_fans_history_by_hand(store: SqlStore, clock: FakeClock) -> None:
    acct = await load(store, clock)
    other = await load(store, clock, "bob")  # the same export in another account
    anna = await store.earnings.fan_history(acct, "anna", recent=2)
    # anna: subscriptions 10 + 10 (Nov 12, Nov 18 21:15) and a 25 tip (Nov 18 21:40)
    assert anna.totals == [("USD", "tip", D("25.00"), 1), ("USD", "subscription", D("20.00"), 2)]
    assert [(p.day, p.amount, p.category) for p in anna.recent] == [
        (date(2026, 11, 18), D("25.00"), "tip"),
        (date(2026, 11, 18), D("10.00"), "subscription"),
    ]
    assert (anna.first_day, anna.last_day) == (date(2026, 11, 12), date(2026, 11, 18))
    ben = await store.earnings.fan_history(acct, "ben")  # a PPV and its refund
    assert ben.totals == [("USD", "ppv", D("5.00"), 2)]
    assert [p.amount for p in ben.recent] == [D("-10.00"), D("15.00")]
    nobody = await store.earnings.fan_history(acct, "zed")
    assert (nobody.recent, nobody.totals, nobody.first_day) == ([], [], None)
    assert (await store.earnings.fan_history(other, "anna")).totals == anna.totals  # its own


async def test_a_year_month_by_month(store: SqlStore, clock: FakeClock) -> None:
    """``/stats this year`` (the clock: 2026-11-24 12:00 UTC): January 1 to now against last
    year up to the same day; a line and a chart bar per calendar month."""
    from core.commands.stats import render
    from core.services.charts import _series

    acct = (await store.accounts.resolve(Identity(platform="console", external_id="mia"))).id
    earnings = (
        b"Date,Amount,Type,Fan\n"
        b"2025-11-20 10:00,40,tip,@ann\n"  # last year, before Nov 24: compared
        b"2025-12-20 10:00,99,tip,@ann\n"  # last year, after Nov 24: not
        b"2026-02-10 10:00,100,subscription,@ann\n"
        b"2026-03-05 10:00,250,tip,@bo\n"
        b"2026-03-06 10:00,50,ppv,@bo\n"
        b"2026-11-23 10:00,30,tip,@cy\n"
    )
    await CsvImporter(store, clock).import_csv(acct, "e.csv", earnings)
    service = AnalyticsService(store, clock)
    now = datetime(2026, 11, 24, 12, tzinfo=UTC)
    assert service.window("thisyear") == (
        datetime(2026, 1, 1, tzinfo=UTC),
        now,
        (datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 11, 24, 12, tzinfo=UTC)),
    )
    assert service.window("lastyear")[:2] == (
        datetime(2025, 1, 1, tzinfo=UTC),
        datetime(2026, 1, 1, tzinfo=UTC),
    )
    s = await service.summary(acct, "thisyear")
    assert s is not None and (s.revenue, s.previous_revenue) == (D("430.00"), D("40.00"))
    text = render(s, "")
    assert "**Earnings — this year** (Jan 01, 2026 – Nov 24, 2026, UTC)" in text
    assert "(+975% vs $40.00 last year by this day)" in text
    months = next(line for line in text.splitlines() if line.startswith("By month"))
    assert months == (
        "By month: Feb $100.00 · **Mar $300.00** · Apr $0.00 · May $0.00 · Jun $0.00 · "
        "Jul $0.00 · Aug $0.00 · Sep $0.00 · Oct $0.00 · Nov (so far) $30.00"
    )
    narrative = rule_narrative(s)
    assert "Your best month was March 2026 ($300.00)." in narrative
    # A model may say it too: its figures are among the facts it is given.
    assert (s.facts()["best_month"], s.facts()["best_month_revenue"]) == ("March 2026", "300.00")
    assert narrative_is_grounded("March 2026 ($300.00)", [json.dumps(s.facts())])
    labels, series, unit = _series(s)
    assert unit == "month" and labels == [f"{date(2026, n, 1):%b}" for n in range(1, 12)]
    assert series["tip"][2] == 250.0 and series["ppv"][2] == 50.0
    assert stats_chart(s).startswith(PNG_SIGNATURE)
    # Last year: whole months; over two years, months say their year.
    last = await service.summary(acct, "lastyear")
    assert last is not None and last.revenue == D("139.00")
    # Weekdays averaged from the first earnings (Nov 20, 2025: six Saturdays to December 31),
    # not over the months before them: $99 / 6, not / 52.
    assert (last.best_weekday, last.best_weekday_average) == ("Saturday", D("16.50"))
    assert "By month: Nov $40.00 · **Dec $99.00**" in render(last, "")
    everything = await service.summary(acct, "all")
    assert everything is not None
    assert "By month: Dec 2025 $99.00 · Jan 2026 $0.00 · Feb 2026 $100.00 · **Mar 2026" in (
        render(everything, "")
    )
    assert _series(everything)[0][:2] == ["Nov 25", "Dec 25"]
    # A month or less has no month line.
    thirty = await service.summary(acct, "30d")
    assert thirty is not None and "By month" not in render(thirty, "")


async def test_365_days_chart_every_month_it_touches(store: SqlStore, clock: FakeClock) -> None:
    from core.commands.stats import render
    from core.services.charts import _series

    acct = (await store.accounts.resolve(Identity(platform="console", external_id="mia"))).id
    earnings = b"Date,Amount\n2025-11-30 10:00,5\n2026-11-20 10:00,7\n"
    await CsvImporter(store, clock).import_csv(acct, "e.csv", earnings)
    s = await AnalyticsService(store, clock).summary(acct, "365d")
    assert s is not None and s.revenue == D("12.00")  # Nov 24, 2025 12:00 on: both count
    labels, series, _ = _series(s)
    # The bars add up to the title's total: the part of November 2025 is a bar too ...
    assert labels[0] == "Nov 25" and labels[-1] == "Nov 26" and len(labels) == 13
    assert sum(sum(v) for v in series.values()) == 12.0
    # ... while the month line names the last 12 whole months from the first with earnings:
    # here November 2026 alone, so there is no line.
    assert "By month" not in render(s, "")
