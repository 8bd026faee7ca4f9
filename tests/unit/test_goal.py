"""/goal: a monthly earnings goal against hand-computed figures, on SQLite and PostgreSQL, and
the calendar months of /stats it stands on.

``tests/fixtures/csv/earnings_week.csv`` with the clock at 2026-11-24 12:00 UTC: November's USD
rows add up to 226.00 (10 + 40 + 50 + 1 + 10 + 25 + 20 + 15 + 50 + 10 + 5 - 10; the EUR tip of
30.00 apart), October's to 100.00 (erin's tip); the latest row is on Nov 23 at 22:00, so the
month is counted up to Nov 24 00:00, with 7 days left (Nov 24 to 30). The earnings go back
further than 30 days, so the pace is the 30 days before Nov 24 00:00: all of November's 226.00,
7.53 a day -> 226.00 + 7 x 7.53 = 278.71 by the month's end; a goal of 500 needs
(500 - 226) / 7 = 39.14 a day.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from core.models import Identity
from core.ports import RevenueGoal
from core.services.analytics import AnalyticsService
from core.services.imports import CsvImporter
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import RecordingNotifier
from tests.unit.conftest import Chat, assistant_on, run_summaries
from tests.unit.test_team import _code

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "csv"
D = Decimal


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


async def _account(store: SqlStore, name: str) -> int:
    return (await store.accounts.resolve(Identity(platform="console", external_id=name))).id


async def _import(store: SqlStore, clock: FakeClock, account: int, data: bytes) -> None:
    await CsvImporter(store, clock).import_csv(account, "earnings.csv", data)


async def test_a_months_progress_by_hand(store: SqlStore, clock: FakeClock) -> None:
    alice, bea = await _account(store, "alice"), await _account(store, "bea")
    await _import(store, clock, alice, (FIXTURES / "earnings_week.csv").read_bytes())
    # bea's earnings start this month: her pace is the month's own, 150.00 over the 20 days up
    # to the end of her latest row's day (Nov 21 00:00) = 7.50 a day, 10 days left.
    await _import(store, clock, bea, b"Date,Amount\n2026-11-10 09:00,100\n2026-11-20 18:00,50\n")
    service = AnalyticsService(store, clock)

    p = await service.goal_progress(alice, RevenueGoal(D("500"), "USD"))
    assert p.facts() == {
        "goal": "500",
        "currency": "USD",
        "month": "2026-11-01",
        "earned": "226.00",
        "share": 0.452,
        "as_of": "2026-11-24T00:00:00+00:00",
        "days_left": 7.0,
        "daily_pace": "7.53",
        "pace_days": 30,
        "projected": "278.71",
        "needed_daily": "39.14",
        "last_month": "100.00",
        "reached": False,
    }
    assert p.stale and p.other_currency == ""

    p = await service.goal_progress(bea, RevenueGoal(D("300"), "USD"))
    assert (p.earned, p.daily_pace, p.pace_days, p.projected) == (D("150"), D("7.50"), 20, D("225"))
    assert (p.calendar_days_left, p.needed_daily, p.last_month) == (10, D("15.00"), D("0"))

    # The goal counts its own currency only, and says where the money is.
    p = await service.goal_progress(alice, RevenueGoal(D("30"), "EUR"))
    assert (p.earned, p.reached, p.needed_daily, p.other_currency) == (D("30"), True, None, "USD")


async def test_the_month_is_the_creators_own(store: SqlStore, clock: FakeClock) -> None:
    # 23:30 UTC on Oct 31 is 00:30 on Nov 1 in Berlin: November's there, October's in UTC.
    mia = await _account(store, "mia")
    await _import(store, clock, mia, b"Date,Amount\n2026-10-31T23:30:00Z,80\n2026-11-23 10:00,20\n")
    service = AnalyticsService(store, clock)
    goal = RevenueGoal(D("100"), "USD")
    utc = await service.goal_progress(mia, goal)
    berlin = await service.goal_progress(mia, goal, "Europe/Berlin")
    assert (utc.earned, utc.last_month) == (D("20"), D("80"))
    assert (berlin.earned, berlin.last_month, berlin.reached) == (D("100"), D("0"), True)
    assert berlin.month_end == at(2026, 11, 30, 23)


def test_calendar_months_on_the_accounts_clock(store: SqlStore) -> None:
    service = AnalyticsService(store, FakeClock(at(2026, 12, 7, 10)))
    # December so far against November up to the same point, on Berlin's clock (UTC+1).
    assert service.window("thismonth", "Europe/Berlin") == (
        at(2026, 11, 30, 23),
        at(2026, 12, 7, 10),
        (at(2026, 10, 31, 23), at(2026, 11, 7, 10)),
    )
    # A whole month against the whole one before: October has 31 days, November 30.
    assert service.window("lastmonth") == (
        at(2026, 11, 1),
        at(2026, 12, 1),
        (at(2026, 10, 1), at(2026, 11, 1)),
    )
    # The 31st of March so far against all of February (capped at its end).
    service = AnalyticsService(store, FakeClock(at(2026, 3, 31, 12)))
    assert service.window("thismonth") == (
        at(2026, 3, 1),
        at(2026, 3, 31, 12),
        (at(2026, 2, 1), at(2026, 3, 1)),
    )
    # January's "last month" is the year before's December.
    service = AnalyticsService(store, FakeClock(at(2027, 1, 5)))
    assert service.window("lastmonth")[:2] == (at(2026, 12, 1), at(2027, 1, 1))


async def test_goal_in_chat(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia, leo, ann = Chat(app, "mia"), Chat(app, "leo"), Chat(app, "ann")
    assert "You have no monthly goal" in (await mia.say("/goal")).plain_text
    # Before any earnings: what it takes, and what to send.
    first = await mia.say("/goal $5k")
    assert first.result["goal"] == "5000.00" and first.result["currency"] == "USD"
    assert "To reach it: $714.29 a day until November 30" in first.plain_text  # 5000 / 7
    assert "No earnings imported yet" in first.plain_text
    assert "At the pace" not in first.plain_text

    mia_id = await _account(store, "mia")
    await _import(store, clock, mia_id, (FIXTURES / "earnings_week.csv").read_bytes())
    text = (await mia.say("/goal 500")).plain_text
    assert "November goal: $500.00" in text
    assert "45% — $226.00 so far, 7 days left" in text
    assert "$7.53 a day, you'd end near $278.71, $221.29 short" in text
    assert "To reach it: $39.14 a day until November 30" in text
    assert "Counted up to November 23" in text and "October: $100.00, 20% of this goal" in text
    assert (await mia.say("how close am I to my goal?")).result["goal"] == "500.00"
    # A sentence never sets it.
    assert (await mia.say("set my goal to 9000")).result["goal"] == "500.00"
    # Amounts as people write them; the currency of the earnings unless one is named.
    assert (await mia.say("/goal 4.5k EUR")).result["currency"] == "EUR"
    assert (await mia.say("/goal €4,000")).result["goal"] == "4000.00"
    bad = await mia.say("/goal lots")
    assert "is not an amount" in bad.plain_text and bad.result is None
    assert "from 0.01" in (await mia.say("/goal -5")).plain_text
    assert "from 0.01" in (await mia.say("/goal 0.001")).plain_text
    assert "to 9,999,999,999" in (await mia.say("/goal " + "9" * 40)).plain_text
    assert (await mia.say("/goal")).result["goal"] == "4000.00"  # the bad ones changed nothing

    # A manager sees and sets it; a chatter sees no earnings.
    await ann.say("/team join " + _code(await mia.say("/team invite manager")))
    await leo.say("/team join " + _code(await mia.say("/team invite")))
    assert (await ann.say("/goal")).result["goal"] == "4000.00"
    assert "owner and managers" in (await leo.say("/goal")).plain_text
    assert "owner and managers" in (await leo.say("/goal off")).plain_text
    assert (await mia.say("/goal")).result["goal"] == "4000.00"
    assert (await mia.say("/goal off")).result == {"goal": None}
    assert await store.goals.get(mia_id) is None


async def test_goals_are_each_accounts_own(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    await _import(
        store, clock, await _account(store, "mia"), b"Date,Amount\n2026-11-20 10:00,250\n"
    )
    await mia.say("/goal 1000")
    assert "You have no monthly goal" in (await zoe.say("/goal")).plain_text
    zoe_goal = await zoe.say("/goal 100")
    assert zoe_goal.result["earned"] == "0" and zoe_goal.result["currency"] == "USD"
    assert (await mia.say("/goal")).result["earned"] == "250.00"


async def test_summaries_end_with_the_goal(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    notices = RecordingNotifier()
    app = assistant_on(store, clock, notifier=notices)
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    mia_id, zoe_id = await _account(store, "mia"), await _account(store, "zoe")
    for chat, account in ((mia, mia_id), (zoe, zoe_id)):
        await _import(store, clock, account, b"Date,Amount\n2026-11-24 09:00,42\n")
        await chat.say("/summary daily")
    await mia.say("/goal 100")
    await run_summaries(app, notices, at(2026, 11, 25, 8), tmp_path)
    [mine] = notices.to(mia_id)
    assert "$42.00" in mine and "November goal: $100.00" in mine and "42% — $42.00" in mine
    [hers] = notices.to(zoe_id)
    assert "$42.00" in hers and "goal" not in hers
