"""Big spenders gone quiet, and fans who just joined, in the scheduled summaries: the weekly
one names all quiet ones, the daily one those whose quiet reached 14 days that day; new fans of
the day or week before; never another account's fans."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from core.commands.fans import QUIET_TOP, new_fans, quiet_big_spenders
from core.services.imports import CsvImporter
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import RecordingNotifier
from tests.unit.conftest import Chat, assistant_on, run_summaries

TODAY = date(2026, 11, 24)  # the clock's day


def _ago(days: int) -> str:
    return (TODAY - timedelta(days=days)).isoformat()


async def test_who_is_named_and_when(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    for handle, spent, days in [
        ("cara", 900, 14),  # quiet for exactly 14 days: named today, in both summaries
        ("leo", 450, 30),  # quiet for a month
        ("ann", 300, 3),  # active
        ("old", 800, 120),  # gone long ago: /fans lapsed, not this
        ("tiny", 0, 20),  # never paid
    ]:
        await mia.say(f"/fans add {handle} spent={spent} last_active={_ago(days)}")
    await zoe.say(f"/fans add zoes_whale spent=5000 last_active={_ago(14)}")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id

    weekly = await quiet_big_spenders(store, mia_id, TODAY)
    assert weekly is not None
    assert "@cara ($900.00, 14 days) · @leo ($450.00, 30 days)." in weekly
    assert "ann" not in weekly and "old" not in weekly and "tiny" not in weekly
    assert "zoes_whale" not in weekly
    assert '/personalize "Hey {name}, I\'ve missed you" for @cara' in weekly
    daily = await quiet_big_spenders(store, mia_id, TODAY, just_now=True)
    assert daily is not None and "@cara" in daily and "@leo" not in daily
    assert await quiet_big_spenders(store, mia_id, TODAY + timedelta(days=1), just_now=True) is None
    # The suggested command works as written.
    drafted = await mia.say('/personalize "Hey {name}, I\'ve missed you" for @cara')
    assert "cara" in drafted.plain_text and "I've missed you" in drafted.plain_text

    # Only the biggest spenders: below the top, quiet fans are not named.
    for n in range(QUIET_TOP):
        await mia.say(f"/fans add big{n} spent={1000 + n} last_active={_ago(1)}")
    assert await quiet_big_spenders(store, mia_id, TODAY) is None


async def test_summaries_name_them(store: SqlStore, clock: FakeClock, tmp_path: Path) -> None:
    notices = RecordingNotifier()
    app = assistant_on(store, clock, notifier=notices)
    mia = Chat(app, "mia")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    await mia.say("/summary weekly")
    # Monday 30 November, 08:00: cara has been quiet for 20 days, leo for 14.
    await mia.say(f"/fans add cara spent=900 last_active={_ago(14)}")
    await mia.say(f"/fans add leo spent=450 last_active={_ago(8)}")
    await run_summaries(app, notices, datetime(2026, 11, 30, 8, tzinfo=UTC), tmp_path)
    [weekly] = notices.to(mia_id)
    assert "Big spenders gone quiet" in weekly
    assert "@cara ($900.00, 20 days) · @leo ($450.00, 14 days)" in weekly


async def test_summaries_welcome_the_fans_who_joined(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    """The daily summary names the fans who joined the day before, the weekly one those of
    the last 7 days, with the /personalize that welcomes them; never another account's."""
    notices = RecordingNotifier()
    app = assistant_on(store, clock, notifier=notices)
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    zoe_id = (await store.accounts.resolve(zoe.user.identity())).id
    clock.advance((datetime(2026, 11, 30, 7, tzinfo=UTC) - clock.now()).total_seconds())
    subscribers = (
        b"Username,Join Date,Total spent\n"
        b"ann,2026-11-29,10\n"  # Sunday, the day before Monday's summaries
        b"bo,2026-11-25,50\n"  # earlier that week
        b"cy,2026-11-02,5\n"  # weeks ago
    )
    await CsvImporter(store, clock).import_csv(mia_id, "subscribers.csv", subscribers)
    zeds = b"Username,Join Date\nzed,2026-11-29\n"
    await CsvImporter(store, clock).import_csv(zoe_id, "s.csv", zeds)
    await mia.say("/summary daily")
    await run_summaries(app, notices, datetime(2026, 11, 30, 8, tzinfo=UTC), tmp_path)
    [daily] = notices.to(mia_id)
    assert "**New fans** (1 joined yesterday): @ann. Welcome them:" in daily
    assert '/personalize "Welcome, {name}! So happy you\'re here" to joined:1d' in daily
    await mia.say("/summary weekly")
    await run_summaries(app, notices, datetime(2026, 12, 7, 8, tzinfo=UTC), tmp_path)
    weekly = notices.to(mia_id)[-1]
    assert "New fans" not in weekly  # nobody joined in the week to December 6
    assert await new_fans(store, mia_id, date(2026, 11, 30), 7) == (
        "**New fans** (2 joined in the last 7 days): @bo · @ann. Welcome them: "
        '`/personalize "Welcome, {name}! So happy you\'re here" to joined:7d`.'
    )
    assert "zed" not in (await new_fans(store, mia_id, date(2026, 11, 30), 30) or "")
