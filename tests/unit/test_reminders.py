"""Post reminders: /week's "Remind me at these times", /reminders, and the hourly schedule
sending each one as a chat notice at its time on the creator's clock (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.jobs import FileDeadLetters, LocalJobQueue
from core.jobs import JobRunner, enqueue_reminders
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import RecordingNotifier
from tests.unit.conftest import Chat, assistant_on

PROFILE = (
    "/profile set niches=fitness platforms=instagram,tiktok content_types=photo,reel "
    "equipment=phone locations=gym tone=playful timezone=Europe/Berlin"
)


async def test_a_planned_week_reminds_the_creator_at_each_posts_time(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    app = assistant_on(store, clock)
    notices = RecordingNotifier()
    queue = LocalJobQueue(JobRunner(app, notices), FileDeadLetters(tmp_path / "d.json"), clock)
    mia, zoe = Chat(app, "mia", platform="telegram"), Chat(app, "zoe", platform="telegram")
    await mia.say(PROFILE)
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    assert "You have no reminders" in (await mia.say("/reminders")).plain_text

    # Tuesday 24 November, 13:00 in Berlin: the plan starts on Wednesday.
    week = await mia.say("/week 3")
    planned = re.findall(r"Post: (\w{3} \w{3} \d+, \d\d:\d\d)", week.plain_text)
    assert len(planned) == 3 and planned[0].startswith("Wed Nov 25")
    titles = [idea["title"] for idea in week.result]
    [[button]] = [row for row in week.buttons if row[0].action.startswith("remind:")]
    assert button.label == "⏰ Remind me at these times"
    # Someone else pressing Mia's button (a forged action) sets nothing, for anyone.
    assert "expired" in (await zoe.press(button.action)).plain_text
    set_ = await mia.press(button.action)
    assert set_.result == {"added": 3}
    assert f"the first {planned[0]} (Europe/Berlin)" in set_.plain_text
    assert "set already" in (await mia.press(button.action)).plain_text
    # /reminders shows them at the times /week gave, on her clock.
    listed = await mia.say("/reminders")
    assert [r["text"] for r in listed.result] == [
        f"time to post “{t}” ({kind} for {where}). A caption: /caption {t}"
        for t, kind, where in zip(
            titles,
            [
                {"photo": "photo", "short_video": "short video"}[i["content_type"]]
                for i in week.result
            ],
            [{"instagram": "Instagram", "tiktok": "TikTok"}[i["platform"]] for i in week.result],
            strict=True,
        )
    ]
    for when in planned:
        assert f"• {when} — time to post" in listed.plain_text
    assert (await zoe.say("/reminders")).result == []

    # The hourly schedule: nothing is due before the first post's hour.
    first = datetime.fromisoformat(listed.result[0]["due_at"]).astimezone(UTC)
    assert (first.minute, first.second) == (0, 0)  # the slots are on the hour
    assert await enqueue_reminders(store.reminders, queue, first - timedelta(hours=1)) == []
    clock.advance((first - clock.now()).total_seconds())
    ids = await enqueue_reminders(store.reminders, queue, first)
    assert len(ids) == 1
    await asyncio.wait_for(queue.join(), 30)
    local = planned[0].split(", ")[1]
    assert notices.to(mia_id) == [
        f"⏰ **{local}** — time to post “{titles[0]}” " + listed.result[0]["text"].split("” ", 1)[1]
    ]
    # Sent once, even when another scheduler asks again.
    assert await enqueue_reminders(store.reminders, queue, first) == []
    assert len(await store.reminders.upcoming(mia_id)) == 2
    # Down for three days: the missed reminders are dropped, not sent late — by the schedule,
    # or by their job when it runs late.
    second = (await store.reminders.upcoming(mia_id))[0]
    clock.advance(3 * 86_400)
    await queue.enqueue("reminder", {"account_id": mia_id, "reminder_id": second.id})
    await asyncio.wait_for(queue.join(), 30)
    assert len(await store.reminders.upcoming(mia_id)) == 1
    assert await enqueue_reminders(store.reminders, queue, clock.now()) == []
    await asyncio.wait_for(queue.join(), 30)
    assert len(notices.sent) == 1
    assert await store.reminders.upcoming(mia_id) == []


async def test_reminders_off_cancels_only_ones_own(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    for chat in (mia, zoe):
        await chat.say(PROFILE)
        week = await chat.say("/week 2")
        await chat.press(week.buttons[-1][0].action)
    off = await mia.say("/reminders off")
    assert off.result == {"cleared": 2} and "Cancelled 2 reminders." in off.plain_text
    assert (await mia.say("/reminders")).result == []
    assert len((await zoe.say("/reminders")).result) == 2
    assert "You have no reminders." in (await mia.say("/reminders off")).plain_text
