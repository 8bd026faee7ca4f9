"""Big spenders gone quiet, in the scheduled summaries: the weekly one names all of them, the
daily one those whose quiet reached 14 days that day; never another account's fans."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from core.commands.fans import QUIET_TOP, quiet_big_spenders
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
