"""CSV uploads, /stats, /price and the drafts file end to end: chat messages with attachments go
through ``Assistant.handle`` (real SQLite file, offline engine, real importer) and the replies
through the terminal, Telegram and Discord renderers."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from adapters.console import render as console_render
from adapters.discord.render import render_reply as discord_render
from adapters.telegram.render import OutDocument, OutPhoto, OutText
from adapters.telegram.render import render_reply as telegram_render
from core.app import Assistant
from core.chat import Attachment, ExternalUser, FileBlock, ImageBlock, Incoming, Reply
from core.commands import build_registry, pricing, stats
from core.commands.registry import Registry
from core.commands.stats import parse_stats
from core.errors import UsageError
from core.llm.offline import OfflineEngine
from core.resilience.cache import MemoryKV
from core.services.charts import PNG_SIGNATURE
from core.services.imports import CsvImporter
from storage.db import create_engine, migrate
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "csv"


def registry() -> Registry:
    """The product registry, with /stats and /price when they are not registered yet."""
    reg = build_registry()
    if reg.get("stats") is None:
        stats.register(reg)
    if reg.get("price") is None:
        pricing.register(reg)
    return reg


@pytest.fixture
async def app(tmp_path: Path) -> AsyncIterator[Assistant]:
    url = f"sqlite+aiosqlite:///{tmp_path}/huntaze.db"
    await migrate(url)
    engine = create_engine(url)
    clock = FakeClock()
    store = SqlStore(engine, clock)
    yield Assistant(
        store=store,
        generator=OfflineEngine(),
        kv=MemoryKV(max_entries=1000, clock=clock),
        clock=clock,
        importer=CsvImporter(store, clock),
        registry=registry(),
    )
    await engine.dispose()


class Person:
    def __init__(self, app: Assistant, name: str, platform: str = "telegram") -> None:
        self.app = app
        self.user = ExternalUser(platform=platform, id=name, username=name, display_name=name)

    async def say(self, text: str) -> Reply:
        return await self.app.handle(Incoming(user=self.user, chat_id=self.user.id, text=text))

    async def press(self, action: str) -> Reply:
        return await self.app.handle(Incoming(user=self.user, chat_id=self.user.id, action=action))

    async def upload(self, name: str, caption: str = "", data: bytes | None = None) -> Reply:
        """Send a CSV: ``data``, or the fixture called ``name``."""
        data = (FIXTURES / name).read_bytes() if data is None else data

        async def read() -> bytes:
            return data

        attachment = Attachment(name=name, mime="text/csv", size=len(data), read=read)
        return await self.app.handle(
            Incoming(user=self.user, chat_id=self.user.id, text=caption, attachments=[attachment])
        )


def button(reply: Reply, label: str) -> str:
    for row in reply.buttons:
        for b in row:
            if b.label.startswith(label):
                return b.action
    raise AssertionError(f"no button {label!r} in {reply.buttons}")


async def test_upload_then_stats_on_every_renderer(app: Assistant, tmp_path: Path) -> None:
    mia = Person(app, "mia")
    assert "No earnings yet" in (await mia.say("/stats")).plain_text
    first = await mia.upload("earnings_week.csv")
    assert "14 new transactions added" in first.plain_text
    assert "Next: /stats 30d" in first.plain_text
    again = await mia.upload("earnings_week.csv")
    assert "0 new transactions added, 14 already imported" in again.plain_text

    reply = await mia.say("/stats 7d")
    text = reply.plain_text
    assert "Revenue $126.00 (+26% vs $100.00 the 7 days before) · 9 transactions" in text
    assert "tips $76.00 (60%)" in text
    assert "Top 10% of fans (1 of 6 paying fans) brought 47%" in text
    assert "Biggest spenders: @cara $50.00 · @anna $35.00 · @dan $10.00" in text
    assert "Best day Saturday (avg $50.00) · best hour 21:00–22:00 UTC" in text
    assert "New spenders: 3 ($16.00) · returning: 3 ($90.00)" in text
    assert "€30.00" in text  # the other currency, not converted
    images = [b for b in reply.blocks if isinstance(b, ImageBlock)]
    assert len(images) == 1 and images[0].png.startswith(PNG_SIGNATURE)
    assert reply.result["revenue"] == "126.00" and reply.result["narrative_source"] == "rules"

    # Terminal: the chart is written to a file.
    shown, buttons = console_render(reply, tmp_path / "out", color=False)
    labels = [b.label for b in buttons]
    assert "[image: " in shown and labels == ["yesterday", "✓ 7d", "30d", "90d", "all"]
    written = list((tmp_path / "out").glob("*.png"))
    assert len(written) == 1 and written[0].read_bytes() == images[0].png
    # Telegram: text within limits, then the photo with its caption.
    tg = telegram_render(reply)
    assert isinstance(tg[0], OutText) and isinstance(tg[-1], OutPhoto)
    assert tg[-1].png == images[0].png and "Revenue" in (tg[-1].caption_html or "")
    # Discord: content within 2,000 characters, the chart as a file.
    dc = discord_render(reply)
    assert all(len(m.content) <= 2000 for m in dc)
    assert any(f.name == "image.png" and f.data == images[0].png for m in dc for f in m.files)

    # The period buttons.
    month = await mia.press(button(reply, "30d"))
    assert "the last 30 days" in month.plain_text and "Revenue $226.00" in month.plain_text
    everything = await mia.press(button(month, "all"))
    assert "all time" in everything.plain_text and "Revenue $326.00" in everything.plain_text

    # Yesterday (the 23rd, on her clock: UTC) against the day before, by the hour.
    day = await mia.press(button(reply, "yesterday"))
    text = day.plain_text
    assert text.startswith("Earnings — yesterday (Nov 23, 2026, UTC)")
    assert "Revenue -$5.00 (-150% vs $10.00 the day before) · 2 transactions" in text
    assert "Best hour 21:00–22:00 UTC" in text and "Best day" not in text
    assert next(b for b in day.blocks if isinstance(b, ImageBlock)).png.startswith(PNG_SIGNATURE)
    today = (await mia.say("/stats today")).plain_text
    assert "Earnings — today (Nov 24, 2026, UTC)" in today
    assert "No earnings today: your latest imported earnings are from Nov 23, 2026." in today

    # Last week, Monday to Sunday, against the week before; "last 7 days" stays rolling.
    week = (await mia.say("/stats last week")).plain_text
    assert week.startswith("Earnings — last week (Nov 16, 2026 – Nov 22, 2026, UTC)")
    assert "Revenue $131.00 (+31% vs $100.00 the week before)" in week
    assert "Earnings — the last 7 days" in (await mia.say("/stats last 7 days")).plain_text

    # Someone else's /stats knows nothing of Mia's earnings.
    assert "No earnings yet" in (await Person(app, "leo").say("/stats 30d")).plain_text


async def test_stats_by_platform_from_what_the_creator_says_with_the_file(app: Assistant) -> None:
    mia = Person(app, "mia")
    of = b"Date,Amount,Fan\n2026-11-20 12:00:00,60.00,@leo\n2026-11-21 12:00:00,30.00,@zoe\n"
    first = await mia.upload("november.csv", caption="OF", data=of)
    assert "Platform: OnlyFans (as you said)." in first.plain_text
    fansly = b"Date,Amount,Fan\n2026-11-22 12:00:00,45.00,@leo\n"
    await mia.upload("fansly_earnings.csv", data=fansly)
    unsaid = b"Date,Amount\n2026-11-23 12:00:00,15.00\n"
    await mia.upload("earnings.csv", caption="here you go", data=unsaid)
    text = (await mia.say("/stats 7d")).plain_text
    assert (
        "By platform: OnlyFans $90.00 (60%) · Fansly $45.00 (30%) · platform not said $15.00 (10%)"
        in text
    )
    # One platform's figures, compared with that platform's week before.
    only = await mia.say("/stats 7d fansly")
    assert "Earnings on Fansly — the last 7 days" in only.plain_text
    assert "Revenue $45.00 (nothing the 7 days before) · 1 transaction" in only.plain_text
    assert "By platform" not in only.plain_text
    assert button(only, "30d") == "cmd:stats 30d fansly"  # the buttons stay on the platform
    assert (await mia.press("cmd:stats 30d fansly")).result["platform"] == "fansly"
    assert (await mia.say("/stats OF this week")).result["platform"] == "onlyfans"
    # Fans by where they paid: Leo on both, Zoe on OnlyFans only.
    on_fansly = (await mia.say("/fans platform:fansly")).plain_text
    assert "1 of 2 fans match platform:fansly" in on_fansly
    assert "@leo — regular, spent $105.00" in on_fansly and "on Fansly, OnlyFans" in on_fansly
    only_of = await mia.say('/personalize "hi {name}" to on:OF !platform:fansly')
    assert [d["fan_handle"] for d in only_of.result["drafts"]] == ["zoe"]
    missing = (await mia.say("/stats fanvue")).plain_text
    assert "None of your earnings are marked Fanvue. Yours: Fansly (/stats 30d fansly)" in missing
    # One platform only: no breakdown line.
    solo = Person(app, "solo")
    await solo.upload("onlyfans.csv", data=of)
    assert "By platform" not in (await solo.say("/stats 7d")).plain_text
    leo = Person(app, "leo")
    await leo.upload("earnings.csv", data=unsaid)
    unsaid_reply = (await leo.say("/stats 30d instagram")).plain_text
    assert "None of your earnings are marked Instagram. Send an export with its" in unsaid_reply


async def test_fan_money_is_in_the_currency_of_the_earnings(app: Assistant) -> None:
    # A creator paid in euros saw "spent $45.00" in /fans and "$45" in her drafts.
    ana = Person(app, "ana")
    euros = b"Date,Amount,Currency,Fan\n2026-11-20 12:00:00,45.00,EUR,@leo\n"
    await ana.upload("earnings.csv", data=euros)
    assert "@leo — regular, spent €45.00" in (await ana.say("/fans")).plain_text
    assert "@leo — regular, spent €45.00" in (await ana.say("/fans spent>=10")).plain_text
    assert "spent €120.00" in (await ana.say("/fans add @zoe spent=€120")).plain_text
    draft = (await ana.say('/personalize "thanks for the {total_spent}" for @leo')).plain_text
    assert "thanks for the €45" in draft
    segment = await ana.say('/personalize "you spent {spent}" to spent>=100')
    files = [b for b in segment.blocks if isinstance(b, FileBlock)]
    assert "you spent €120" in files[0].data.decode()
    # Before any import: dollars.
    bob = Person(app, "bob")
    assert "spent $5.00" in (await bob.say("/fans add @kim spent=5")).plain_text


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("", {}),
        ("7d", {"period": "7d"}),
        ("last 7 days", {"period": "7d"}),
        ("last week", {"period": "lastweek"}),
        ("30d fansly", {"period": "30d", "platform": "fansly"}),
        ("OF this week", {"period": "thisweek", "platform": "onlyfans"}),
        ("last week on Fansly", {"period": "lastweek", "platform": "fansly"}),
        ("instagram", {"platform": "instagram"}),
        ("fanvue", {"platform": "fanvue"}),  # a platform of the creator's own
        ("platform=Loyal_Fans all", {"period": "all", "platform": "loyal_fans"}),
        ("all x", {"period": "all", "platform": "x"}),
        ("this year", {"period": "thisyear"}),
        ("ytd OF", {"period": "thisyear", "platform": "onlyfans"}),
        ("last year", {"period": "lastyear"}),
        ("last 12 months", {"period": "365d"}),
        ("12m", {"period": "365d"}),
    ],
)
def test_stats_arguments(text: str, args: dict[str, str]) -> None:
    assert parse_stats(text) == args


@pytest.mark.parametrize("text", ["12d", "yesterdy", "30d fansly fanvue", "last fortnight"])
def test_stats_arguments_that_are_no_period(text: str) -> None:
    with pytest.raises(UsageError, match="is not a period"):
        parse_stats(text)


async def test_price_advice_and_a_test_run_from_buttons(app: Assistant) -> None:
    mia = Person(app, "mia", platform="discord")
    upload = await mia.upload("ppv_offers.csv")
    assert "5 new offer rows added" in upload.plain_text and "line 6" in upload.plain_text
    advice = await mia.say("/price ppv")
    assert "PPV price: $" in advice.plain_text and "Guardrails: $3.00–$200.00" in advice.plain_text
    assert advice.result["offers"] == 600 and advice.result["kind"] == "ppv"
    started = await mia.press(button(advice, "Start a price test"))
    assert "Price test started" in started.plain_text
    ladder = started.result["ladder"]
    assert len(ladder) >= 2 and started.result["next_price"] in ladder
    sold = await mia.press(button(started, "Sold at"))
    assert "Recorded 1 offer at" in sold.plain_text and sold.result["test"]["offers"] == 1
    assert sold.result["test"]["sales"] == 1
    unsold = await mia.press(button(sold, "Not sold"))
    assert unsold.result["test"]["offers"] == 2 and unsold.result["test"]["sales"] == 1
    by_text = await mia.say(f"/unsold {ladder[0]} x4")
    assert "Recorded 4 offers" in by_text.plain_text and by_text.result["test"]["offers"] == 6
    status = await mia.say("/price test status")
    assert status.result["offers"] == 6 and "Best so far" in status.plain_text
    stop = await mia.say("/price stop")
    assert "stopped" in stop.plain_text and stop.result["active"] is False
    nothing = await mia.say("/price stop")
    assert "No PPV price test is running" in nothing.plain_text
    # Outcomes after the test still count for the advice.
    after = await mia.say("/price")
    assert after.result["offers"] == 606


async def test_price_advice_from_one_platforms_offers(app: Assistant) -> None:
    mia = Person(app, "mia")
    fansly = b"Date,Price,Sent,Bought\n2026-11-01,19.99,200,30\n2026-11-02,24.99,150,20\n"
    onlyfans = b"Date,Price,Sent,Bought\n2026-11-03,9.99,400,60\n"
    report = (await mia.upload("fansly_ppv.csv", data=fansly)).plain_text
    assert "Platform: Fansly (from the file name)." in report
    await mia.upload("ppv.csv", caption="OF", data=onlyfans)
    everything = await mia.say("/price ppv")
    assert everything.result["offers"] == 750 and everything.result["platform"] == ""
    on_fansly = await mia.say("/price ppv fansly")
    assert on_fansly.result["offers"] == 350 and on_fansly.result["platform"] == "fansly"
    assert "PPV price on Fansly:" in on_fansly.plain_text
    assert "From 350 offers and 50 sales at 2 prices" in on_fansly.plain_text
    nothing = (await mia.say("/price ppv platform=fanvue")).plain_text
    assert "No PPV offers on Fanvue recorded yet" in nothing
    refused = (await mia.say("/price ppv fansly test")).plain_text
    assert "A price test runs on all your offers" in refused
    # Offers recorded in chat keep the platform said with them (OF last is OnlyFans, not "of").
    sold = await mia.say("/sold 24.99 5 of 50 fansly")
    assert "Recorded 50 offers at $24.99 (PPV) on Fansly, 5 sold" in sold.plain_text
    assert sold.result["offer"]["platform"] == "fansly"
    assert (await mia.say("/unsold 9.99 3 OF")).result["offer"]["platform"] == "onlyfans"
    assert (await mia.say("/price ppv fansly")).result["offers"] == 400
    assert (await mia.say("/price ppv OF")).result["offers"] == 403
    assert (await mia.say("/price ppv")).result["offers"] == 803


async def test_advice_counts_the_prices_actually_offered(app: Assistant) -> None:
    """Offers recorded at prices off the candidate grid ($5, not $4.99) are still prices tried."""
    leo = Person(app, "leo")
    assert "Recorded 1 offer at $5.00" in (await leo.say("/sold 5")).plain_text
    one = (await leo.say("/price ppv")).plain_text
    assert "From 1 offer and 1 sale at 1 price." in one and "Only 1 offer so far" in one
    await leo.say("/unsold 7 x3")
    more = (await leo.say("/price ppv")).plain_text
    assert "From 4 offers and 1 sale at 2 prices." in more


async def test_a_mass_message_split_and_its_results(app: Assistant) -> None:
    mia = Person(app, "mia")
    assert "No PPV price test is running" in (await mia.say("/price split 1200")).plain_text
    started = await mia.say("/price test 7.99 9.99 14.99 19.99")
    reply = await mia.say("/price split 1,200 fans")
    groups = reply.result["groups"]
    assert sum(g["fans"] for g in groups) == 1200 and len(groups) >= 2
    assert "Split your next PPV mass message to 1,200 fans" in reply.plain_text
    assert f"• {groups[0]['fans']:,} fans at ${groups[0]['price']}" in reply.plain_text
    # Without a number (or from the test's button) it asks for one, and the answer splits.
    asked = await mia.press(button(started, "Split a mass message"))
    assert "How many fans will get your next PPV mass message?" in asked.plain_text
    assert "whole number from 1 to 1,000,000" in (await mia.say("lots")).plain_text
    answered = await mia.say("1,000")
    assert sum(g["fans"] for g in answered.result["groups"]) == 1000
    assert "I didn't catch that" in (await mia.say("500")).plain_text  # the question is over
    cancelled = await mia.press(button(await mia.say("/price split"), "Cancel"))
    assert cancelled.plain_text == "Cancelled."

    # Each group's outcome in one line: sales "of" the group's size.
    done = await mia.say("/sold 19.99 15 of 300")
    assert done.result["offer"] == {
        "kind": "ppv",
        "price": "19.99",
        "currency": "USD",
        "sent": 300,
        "bought": 15,
        "platform": None,
    }
    assert "Recorded 300 offers at $19.99 (PPV), 15 sold (5.0%)" in done.plain_text
    none = await mia.say("/unsold 7.99 300/300")
    assert none.result["offer"]["bought"] == 0 and none.result["test"]["offers"] == 600
    assert "between 0 and 300" in (await mia.say("/sold 9.99 400 of 300")).plain_text
    assert "not a number of offers" in (await mia.say("/sold 9.99 4 of many")).plain_text
    assert "Of how many?" in (await mia.say("/sold 9.99 4 of")).plain_text


async def test_bad_inputs_get_the_usage(app: Assistant) -> None:
    mia = Person(app, "mia")
    assert "not a period" in (await mia.say("/stats 12d")).plain_text
    assert "Usage: /price" in (await mia.say("/price cheap")).plain_text
    assert "Which price?" in (await mia.say("/sold")).plain_text
    upload = await mia.upload("header_only.csv")
    assert "header but no rows" in upload.plain_text


async def test_personalize_drafts_file_reaches_the_renderers(app: Assistant) -> None:
    mia = Person(app, "mia")
    assert "4 new fans" in (await mia.upload("fans.csv")).plain_text
    reply = await mia.say('/personalize "Hey {name}, I have something new for you" to cosplay')
    assert "don't have a fan called @cosplay" in reply.plain_text  # a word alone is a handle
    reply = await mia.say('/personalize "Hey {name}, I have something new for you" to #cosplay')
    files = [b for b in reply.blocks if isinstance(b, FileBlock)]
    assert len(files) == 1
    rows = list(csv.DictReader(io.StringIO(files[0].data.decode("utf-8-sig"))))
    assert [r["handle"] for r in rows] == ["mia_rose", "leo"]
    tg = telegram_render(reply)
    assert any(isinstance(m, OutDocument) and m.data == files[0].data for m in tg)
    dc = discord_render(reply)
    assert any(f.data == files[0].data for m in dc for f in m.files)


# Friday 20 November 22:30 in New York three ways (no zone, "Z", an offset), a Saturday
# 23:15 there (Sunday 04:15 UTC), and a date-only row: with the zone set, hours and days are
# New York's; without, the file's naive times are read as UTC.
ZONED_EARNINGS = b"""Date,Amount,Type,Fan
2026-11-20 22:30,10.00,Tip,@ann
2026-11-21T03:30:00Z,20.00,Tip,@bea
2026-11-20T22:30:00-05:00,4.00,Tip,@cat
11/21/2026 11:15 PM,5.00,Tip,@dan
11/19/2026,7.00,Subscription,@eve
"""


async def test_stats_count_days_and_hours_on_the_creators_clock(app: Assistant) -> None:
    mia, leo = Person(app, "mia"), Person(app, "leo")
    shown = (await mia.say("/profile set niches=fitness")).plain_text
    assert "Time zone: UTC (/timezone sets yours)" in shown
    answer = (await mia.say("/timezone new york")).plain_text
    assert "Time zone set: America/New_York (it is 07:00 there now)" in answer  # 12:00 UTC
    assert (await mia.say("/timezone")).result == {"timezone": "America/New_York"}
    shown = (await mia.say("/profile show")).plain_text
    assert "Niches: Fitness" in shown and "Time zone: America/New_York\n" in shown + "\n"
    assert "5 new transactions added" in (await mia.upload("e.csv", data=ZONED_EARNINGS)).plain_text
    text = (await mia.say("/stats 7d")).plain_text
    assert "(Nov 17, 2026 – Nov 24, 2026, America/New_York)" in text
    assert "Best day Friday (avg $34.00) · best hour 22:00–23:00 America/New_York" in text
    assert "Hours are UTC" not in text

    # Leo never set a zone: the naive times are UTC, the Z one at 03:00 UTC, and he is told.
    await leo.upload("e.csv", data=ZONED_EARNINGS)
    text = (await leo.say("/stats 7d")).plain_text
    assert "Best day Saturday (avg $29.00) · best hour 03:00–04:00 UTC" in text
    assert "Hours are UTC. Set your time zone" in text
    # He sets it and sends the file again: nothing is added, the rows move onto his clock.
    await leo.say("/timezone EST")
    again = (await leo.upload("e.csv", data=ZONED_EARNINGS)).plain_text
    assert "0 new transactions added, 5 moved to your time zone, 0 already imported" in again
    text = (await leo.say("/stats 7d")).plain_text
    assert "Best day Friday (avg $34.00) · best hour 22:00–23:00 America/New_York" in text
    assert (await leo.say("/stats all")).result["revenue"] == "46.00"
    # Mia's figures never moved with Leo's.
    assert "Best day Friday (avg $34.00)" in (await mia.say("/stats 7d")).plain_text


async def test_days_since_a_fan_was_active_count_on_the_creators_clock(app: Assistant) -> None:
    # 12:00 UTC on the 24th is 02:00 on the 25th in Kiritimati (UTC+14): a fan last active on
    # the 11th is 14 days away there, 13 in UTC.
    mia = Person(app, "mia")
    await mia.say("/fans add @ana name=Ana last_active=2026-11-11")
    assert "0 of 1 fans match" in (await mia.say("/fans inactive:14d")).plain_text
    await mia.say("/timezone Pacific/Kiritimati")
    listed = (await mia.say("/fans inactive:14d")).plain_text
    assert "@ana (Ana)" in listed and "active 14d ago" in listed


async def test_a_time_zone_is_read_from_what_people_type(app: Assistant) -> None:
    mia = Person(app, "mia")
    for typed, stored in (
        ("Europe/Berlin", "Europe/Berlin"),
        ("europe/berlin", "Europe/Berlin"),
        ("Los Angeles", "America/Los_Angeles"),
        ("PST", "America/Los_Angeles"),
        ("UTC+5:30", "UTC+05:30"),
        ("gmt", "UTC"),
    ):
        assert (await mia.say(f"/timezone {typed}")).result == {"timezone": stored}, typed
    bad = (await mia.say("/timezone Berln")).plain_text
    assert "I don't know the time zone “Berln”. Try: Europe/Berlin" in bad
    assert "not an offset" in (await mia.say("/timezone UTC+15")).plain_text
    assert (await mia.say("/timezone")).result == {"timezone": "UTC"}  # unchanged by the errors
    updated = await mia.say('/profile set timezone="new york"')
    assert updated.result["timezone"] == "America/New_York"
