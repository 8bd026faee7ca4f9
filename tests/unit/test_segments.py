"""Fan segments: the filter grammar, SQL against the Python rule on both backends, tenancy, and
the chat commands that use them (/fans filters, /personalize ... to <segment>)."""

from __future__ import annotations

import csv
import io
import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from core.app import Assistant
from core.chat import FileBlock
from core.commands import fans as fans_commands
from core.errors import QuotaExceeded, UsageError
from core.models import Fan, Identity
from core.ports import FanPatch, FanQuery
from core.services.imports import CsvImporter
from core.services.segments import is_segment_term, matches, parse_segment
from storage.repositories import SqlStore
from storage.tables import FanRow
from tests.fakes.clock import FakeClock
from tests.unit.conftest import Chat

TODAY = date(2026, 11, 24)  # the FakeClock's day


# ---------------------------------------------------------------- grammar


@pytest.mark.parametrize(
    ("text", "canonical", "query"),
    [
        ("all", "all", FanQuery()),
        (
            "inactive:14d spent>=100 tier:vip tag:cosplay",
            "inactive:14d spent>=100 tier:vip tag:cosplay",
            FanQuery(
                tiers=frozenset({"vip"}),
                tags_all=(frozenset({"cosplay"}),),
                spent=((">=", Decimal("100")),),
                active_until=date(2026, 11, 10),
            ),
        ),
        ("inactive-14d", "inactive:14d", FanQuery(active_until=date(2026, 11, 10))),
        ("inactive>=2w", "inactive:14d", FanQuery(active_until=date(2026, 11, 10))),
        ("active:7d", "active:7d", FanQuery(active_from=date(2026, 11, 17))),
        ("!inactive:7d", "active:7d", FanQuery(active_from=date(2026, 11, 17))),
        ("lapsed", "inactive:30d", FanQuery(active_until=date(2026, 10, 25))),
        ("spent:$50", "spent>=50", FanQuery(spent=((">=", Decimal("50")),))),
        (
            "on:OF platform:Fansly,Fanvue !platform:x",
            "platform:onlyfans platform:fansly,fanvue !platform:x",
            FanQuery(
                platforms_all=(frozenset({"onlyfans"}), frozenset({"fansly", "fanvue"})),
                platforms_none=frozenset({"x"}),
            ),
        ),
        (
            "spent>10 spent<=1,000",
            "spent>10 spent<=1000",
            FanQuery(spent=((">", Decimal("10")), ("<=", Decimal("1000")))),
        ),
        (
            "whales #Cosplay,feet",
            "tier:whale tag:cosplay,feet",
            FanQuery(tiers=frozenset({"whale"}), tags_all=(frozenset({"cosplay", "feet"}),)),
        ),
        (
            "tier:vip,whale tier:whale",
            "tier:vip,whale tier:whale",
            FanQuery(tiers=frozenset({"whale"})),
        ),
        (
            "!tier:new -tag:muted",
            "!tier:new !tag:muted",
            FanQuery(exclude_tiers=frozenset({"new"}), tags_none=frozenset({"muted"})),
        ),
        ("joined:7d", "joined:7d", FanQuery(joined_from=date(2026, 11, 17))),
        ("!joined:1m", "!joined:30d", FanQuery(joined_until=date(2026, 10, 24))),
        ("joined<2w", "joined:14d", FanQuery(joined_from=date(2026, 11, 10))),
        ("expired", "status:expired", FanQuery(subscribed=False)),
        ("Status:Cancelled", "status:expired", FanQuery(subscribed=False)),
        ("!status:expired", "status:subscribed", FanQuery(subscribed=True)),
        (
            "subscribers status:active tier:vip",
            "status:subscribed status:subscribed tier:vip",
            FanQuery(subscribed=True, tiers=frozenset({"vip"})),
        ),
    ],
)
def test_grammar(text: str, canonical: str, query: FanQuery) -> None:
    assert parse_segment(text, TODAY) == (query, canonical)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rich", "don't understand the filter “rich”"),
        ("inactive:soon", "not a duration"),
        ("tier:gold", "not a tier"),
        ("spent-100", "spent>=100"),
        ("spent>=lots", "not an amount"),
        ("tag:", "don't understand"),
        ("status:gone", "Write status:expired"),
        ("joined>5d", "Write joined:7d"),
        ("status>=expired", "Write status:expired"),
        ("expired status:subscribed", "either subscribed or expired"),
    ],
)
def test_grammar_errors_show_the_filters(text: str, message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse_segment(text, TODAY)
    assert message in info.value.message


def test_segment_terms_against_handles() -> None:
    assert is_segment_term("inactive:14d") and is_segment_term("vip") and is_segment_term("#x")
    assert is_segment_term("expired") and is_segment_term("status:subscribed")
    assert not is_segment_term("@mia") and not is_segment_term("mia_rose")


# ---------------------------------------------------------------- SQL == the rule, per account


def random_fans(seed: int, n: int) -> list[Fan]:
    rng = random.Random(seed)
    tags = ["cosplay", "feet", "gym", "muted", "outdoors"]
    out = []
    for i in range(n):
        last = None if rng.random() < 0.15 else TODAY - timedelta(days=rng.randint(0, 90))
        joined = None if rng.random() < 0.2 else TODAY - timedelta(days=rng.randint(0, 200))
        out.append(
            Fan(
                handle=f"fan{i:03d}",
                tier=rng.choice(["new", "regular", "vip", "whale"]),
                total_spent=Decimal(rng.randint(0, 50000)) / 100,
                last_active=last,
                first_seen=joined,
                tags=rng.sample(tags, rng.randint(0, 3)),
                subscribed=rng.choice([True, False, None]),
                platforms=sorted(rng.sample(["fansly", "fanvue", "onlyfans"], rng.randint(0, 2))),
            )
        )
    return out


async def put(store: SqlStore, account_id: int, fans: list[Fan]) -> None:
    patches = [
        FanPatch(f.handle, {k: v for k, v in f.model_dump().items() if k != "handle"}) for f in fans
    ]
    added, updated = await store.fan_lists.upsert_many(account_id, patches)
    assert (added, updated) == (len(fans), 0)


SEGMENTS = [
    "all",
    "inactive:14d",
    "active:7d",
    "inactive:30d spent>=100",
    "spent>=100 tier:vip",
    "tier:vip,whale tag:cosplay",
    "tag:cosplay tag:gym",
    "tag:cosplay,feet !tag:muted",
    "!tier:new spent<50",
    "spent=0",
    "inactive:14d spent>=100 tier:vip tag:cosplay",
    "status:expired",
    "!status:expired spent>=100",
    "expired inactive:30d !tier:new",
    "platform:fansly",
    "platform:fansly,onlyfans !platform:fanvue",
    "platform:fansly platform:onlyfans",
    "on:OF spent>=100",
    "!platform:onlyfans tier:vip",
    "joined:7d",
    "joined:30d active:7d",
    "!joined:30d spent>=100",
    "joined:90d !joined:7d",
]


async def test_sql_matches_the_rule_and_never_crosses_accounts(store: SqlStore) -> None:
    alice = (await store.accounts.resolve(Identity(platform="console", external_id="a"))).id
    bob = (await store.accounts.resolve(Identity(platform="console", external_id="b"))).id
    mine = random_fans(1, 160)
    # Bob's fans have the same handles but other tiers, tags, spend and dates: any leak shows.
    theirs = random_fans(2, 160)
    await put(store, alice, mine)
    await put(store, bob, theirs)
    for text in SEGMENTS:
        query, _ = parse_segment(text, TODAY)
        expected = {f.handle: f for f in mine if matches(query, f)}
        found = await store.fan_lists.query(alice, query, limit=1000)
        assert {f.handle for f in found} == set(expected), text
        assert all(f == expected[f.handle] for f in found), text  # Alice's own rows
        assert await store.fan_lists.count(alice, query) == len(expected), text
        spent = [f.total_spent for f in found]
        assert spent == sorted(spent, reverse=True)  # biggest spenders first
    vip, _ = parse_segment("tier:vip", TODAY)
    assert len(await store.fan_lists.query(alice, vip, limit=3)) == 3
    assert await store.fan_lists.query(alice + bob + 100, FanQuery()) == []


async def test_upsert_writes_only_what_changed(store: SqlStore, clock: FakeClock) -> None:
    alice = (await store.accounts.resolve(Identity(platform="console", external_id="a"))).id
    bob = (await store.accounts.resolve(Identity(platform="console", external_id="b"))).id
    mine = random_fans(3, 50)
    await put(store, alice, mine)
    await put(store, bob, mine)
    stamps = await updated_at(store, alice)
    clock.advance(60)
    again = [
        FanPatch(f.handle, {"total_spent": Decimal(f.total_spent), "tags": f.tags}) for f in mine
    ]
    assert await store.fan_lists.upsert_many(alice, again) == (0, 0)
    patches = [
        FanPatch("fan001", {"tier": "whale", "total_spent": Decimal("1.5")}),
        FanPatch("fan002", {"tags": ["new-tag"]}),
        FanPatch("fan002", {"notes": "later patches win"}),
        FanPatch("fan003", {"tier": mine[3].tier}),  # as stored: not written
        FanPatch("someone", {"name": "Someone"}),
    ]
    assert await store.fan_lists.upsert_many(alice, patches) == (1, 2)
    after = {f.handle: f for f in await store.fan_lists.query(alice, FanQuery())}
    assert (after["fan001"].tier, after["fan001"].total_spent) == ("whale", Decimal("1.50"))
    assert after["fan001"].tags == mine[1].tags  # fields not in the patch stay
    assert (after["fan002"].tags, after["fan002"].notes) == (["new-tag"], "later patches win")
    assert after["fan002"].tier == mine[2].tier
    assert (after["someone"].name, after["someone"].tier) == ("Someone", "regular")
    moved = {h for h, at in (await updated_at(store, alice)).items() if at != stamps.get(h)}
    assert moved == {"fan001", "fan002", "someone"}
    theirs = {f.handle: f for f in await store.fan_lists.query(bob, FanQuery())}
    assert theirs == {f.handle: f for f in mine}  # Bob's list with the same handles never moves


async def updated_at(store: SqlStore, account_id: int) -> dict[str, datetime]:
    async with store.sessions() as session:
        rows = await session.execute(
            select(FanRow.handle, FanRow.updated_at).where(FanRow.account_id == account_id)
        )
        return {handle: at for handle, at in rows}


# ---------------------------------------------------------------- chat


class Quota:
    def __init__(self, credits: int) -> None:
        self.credits = credits
        self.spent: list[tuple[int, str, int]] = []

    async def consume(self, account_id: int, feature: str, amount: int = 1) -> None:
        if amount > self.credits:
            raise QuotaExceeded(
                f"You have {self.credits} message credits left; this needs {amount}. "
                "Buy more with /buy credits."
            )
        self.credits -= amount
        self.spent.append((account_id, feature, amount))

    async def remaining(self, account_id: int) -> dict[str, int]:
        return {"personalize": self.credits}


FAN_LIST = [
    "/fans add @mia name=Mia tier=vip spent=240 last_active=2026-10-01 tags=cosplay",
    "/fans add @leo name=Leo tier=whale spent=980 last_active=2026-11-01 tags=cosplay,gym",
    "/fans add @zoe name=Zoe tier=vip spent=40 last_active=2026-09-01 tags=cosplay",
    "/fans add @kim name=Kim tier=new spent=0 last_active=2026-11-23",
]


async def fill(chat: Chat) -> None:
    for line in FAN_LIST:
        await chat.say(line)


async def test_fans_filters(chat: Chat) -> None:
    await fill(chat)
    reply = await chat.say("/fans inactive:14d spent>=100 tag:cosplay")
    text = reply.plain_text
    assert "2 of 4 fans match inactive:14d spent>=100 tag:cosplay" in text
    assert [f["handle"] for f in reply.result] == ["leo", "mia"]  # biggest spender first
    assert "@zoe" not in text and "@kim" not in text
    assert "/personalize" in text  # the next step
    reply = await chat.say("/fans list whales")
    assert [f["handle"] for f in reply.result] == ["leo"]
    none = await chat.say("/fans tier:vip active:7d")
    assert "0 of 4 fans" in none.plain_text and "Filters:" in none.plain_text
    bad = await chat.say("/fans rich")
    assert "don't understand the filter" in bad.plain_text and "Usage: /fans" in bad.plain_text
    # Another account sees none of these.
    other = await Chat(chat.app, "bob").say("/fans tier:vip")
    assert "fan list is empty" in other.plain_text


async def test_fans_by_subscription_status(chat: Chat) -> None:
    await fill(chat)
    assert "subscribed" not in (await chat.say("/fans")).plain_text  # no status known yet
    unknown = (await chat.say("/fans expired")).plain_text
    assert "0 of 4 fans match status:expired" in unknown
    assert "No fan has a subscription status yet: send your subscriber export" in unknown
    saved = await chat.say("/fans add @ava name=Ava spent=75 status=Cancelled")
    assert saved.plain_text.endswith("activity unknown, expired")
    await chat.say("/fans add @kim name=Kim tier=new spent=0 status=subscribed")
    assert "5 fans — 1 subscribed, 1 expired" in (await chat.say("/fans")).plain_text
    reply = await chat.say("/fans expired")
    assert "1 of 5 fans match status:expired" in reply.plain_text
    assert [f["handle"] for f in reply.result] == ["ava"]
    reply = await chat.say("/fans !status:expired")
    assert [(f["handle"], f["subscribed"]) for f in reply.result] == [("kim", True)]
    bad = await chat.say("/fans add @eve status=maybe")
    assert "status" in bad.plain_text and "Usage: /fans" in bad.plain_text
    assert "fan list is empty" in (await Chat(chat.app, "bob").say("/fans expired")).plain_text
    drafts = await chat.say('/personalize "Come back, {name}!" to expired')
    [file] = [b for b in drafts.blocks if isinstance(b, FileBlock)]
    rows = list(csv.DictReader(io.StringIO(file.data.decode("utf-8-sig"))))
    assert [(r["handle"], r["subscription"]) for r in rows] == [("ava", "expired")]


async def test_personalize_a_segment(chat: Chat, assistant: Assistant) -> None:
    quota = Quota(credits=10)
    assistant.quotas = quota
    await fill(chat)
    template = "Hey {name}, it has been {days_inactive} days!"
    reply = await chat.say(f'/personalize "{template}" to inactive:14d tag:cosplay')
    text = reply.plain_text
    assert "3 drafts for inactive:14d tag:cosplay" in text and "3 message credits used" in text
    files = [b for b in reply.blocks if isinstance(b, FileBlock)]
    assert len(files) == 1 and files[0].mime == "text/csv"
    assert files[0].name == "drafts-inactive-14d-tag-cosplay.csv"
    rows = list(csv.DictReader(io.StringIO(files[0].data.decode("utf-8-sig"))))
    assert [r["handle"] for r in rows] == ["leo", "mia", "zoe"]
    by_handle = {r["handle"]: r for r in rows}
    assert "Mia" in by_handle["mia"]["draft"] and "54" in by_handle["mia"]["draft"]
    assert "Zoe" in by_handle["zoe"]["draft"] and "84" in by_handle["zoe"]["draft"]
    assert all("{" not in r["draft"] for r in rows)
    assert by_handle["leo"]["tier"] == "whale" and by_handle["leo"]["total_spent"] == "980.00"
    assert [d["fan_handle"] for d in reply.result["drafts"]] == ["leo", "mia", "zoe"]
    account = await assistant.store.accounts.resolve(
        Identity(platform="console", external_id="alice")
    )
    assert quota.spent == [(account.id, "personalize", 3)] and quota.credits == 7

    # The single-fan forms still work, and spend one credit.
    one = await chat.say('/personalize "Hey {name}!" for @kim')
    assert "Draft for @kim" in one.plain_text and quota.credits == 6
    also = await chat.say('/personalize "Hey {name}!" to @kim')
    assert "Draft for @kim" in also.plain_text and quota.credits == 5


async def test_personalize_without_enough_credits_drafts_nothing(
    chat: Chat, assistant: Assistant
) -> None:
    quota = Quota(credits=2)
    assistant.quotas = quota
    await fill(chat)
    reply = await chat.say('/personalize "Hey {name}!" to tag:cosplay')
    assert "2 message credits left; this needs 3" in reply.plain_text
    assert not any(isinstance(b, FileBlock) for b in reply.blocks)
    assert quota.spent == [] and quota.credits == 2


async def test_personalize_segment_edge_cases(
    chat: Chat, assistant: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    quota = Quota(credits=100)
    assistant.quotas = quota
    await fill(chat)
    empty = await chat.say('/personalize "Hi {name}" to tier:whale active:1d')
    assert "No fans match tier:whale active:1d" in empty.plain_text
    broken = await chat.say('/personalize "Hi {nmae}" to all')
    assert "nmae" in broken.plain_text
    monkeypatch.setattr(fans_commands, "MAX_SEGMENT_DRAFTS", 3)
    big = await chat.say('/personalize "Hi {name}" to all')
    assert "has 4 fans; I draft for up to 3 at a time" in big.plain_text
    assert quota.spent == []  # nothing was spent on any of these
    wrong = await chat.say('/personalize "Hi {name}" at vips')
    assert 'then "for" and a fan\'s handle, or "to" and a segment' in wrong.plain_text


async def test_personalize_segment_from_typed_options(chat: Chat, assistant: Assistant) -> None:
    """Discord sends typed options instead of text."""
    from core.chat import Incoming

    await fill(chat)
    reply = await assistant.handle(
        Incoming(
            user=chat.user,
            chat_id="c",
            text="/personalize",
            options={"template": "Hi {name}!", "segment": "tier:vip", "handle": None},
        )
    )
    assert [d["fan_handle"] for d in reply.result["drafts"]] == ["mia", "zoe"]
    both = await assistant.handle(
        Incoming(
            user=chat.user,
            chat_id="c",
            text="/personalize",
            options={"template": "Hi {name}!", "segment": "tier:vip", "handle": "@mia"},
        )
    )
    assert "either a fan's handle or a segment" in both.plain_text


async def test_the_whole_list_counts_every_fan_and_shows_the_biggest_spenders(
    chat: Chat,
) -> None:
    # /fans read at most 1,000 fans: with 1,200 it said "1000 fans", "…and 950 more", listed
    # them by handle and put all 1,000 in the result
    await chat.say("/fans")  # the account
    account = (await chat.app.store.accounts.resolve(chat.user.identity())).id
    patches = [
        FanPatch(f"fan{n:04d}", {"total_spent": Decimal(n % 500), "tier": "regular"})
        for n in range(1200)
    ]
    await chat.app.store.fan_lists.upsert_many(account, patches)
    reply = await chat.say("/fans")
    lines = reply.plain_text.splitlines()
    assert lines[0] == "1,200 fans (biggest spenders first):"
    assert lines[1].startswith("@fan0499 — regular, spent $499.00")
    assert lines[-1] == "…and 1,150 more."
    assert len(reply.result) == 50
    assert [f["total_spent"] for f in reply.result] == sorted(
        (f["total_spent"] for f in reply.result), key=Decimal, reverse=True
    )


async def test_fans_export_as_a_spreadsheet(chat: Chat, monkeypatch: pytest.MonkeyPatch) -> None:
    # the list showed 50 fans at most, and nothing took the rest out of the chat
    await fill(chat)
    await chat.say('/fans add @eve name="=HYPERLINK(1)" spent=5')
    reply = await chat.say("/fans export")
    [file] = [b for b in reply.blocks if isinstance(b, FileBlock)]
    assert file.name == "fans.csv" and file.mime == "text/csv"
    rows = list(csv.reader(io.StringIO(file.data.decode("utf-8-sig"))))
    assert rows[0] == [
        *("handle", "name", "tier", "total_spent", "last_active", "subscription"),
        *("joined", "currency", "platforms", "tags", "notes", "your_notes"),
    ]
    assert [r[0] for r in rows[1:]] == ["leo", "mia", "zoe", "eve", "kim"]  # biggest first
    assert rows[1][1:4] == ["Leo", "whale", "980.00"] and rows[1][7:10] == [
        "USD",
        "",
        "cosplay, gym",
    ]
    assert next(r for r in rows if r[0] == "eve")[1] == "'=HYPERLINK(1)"  # no formula
    assert reply.plain_text.startswith("Your fan list as a spreadsheet: 5 fans, biggest")
    vips = await chat.say("/fans export tier:vip")
    [vip_file] = [b for b in vips.blocks if isinstance(b, FileBlock)]
    assert vip_file.name == "fans-tier-vip.csv" and vip_file.data.decode().count("\r\n") == 3
    assert "No fans match" in (await chat.say("/fans export tier:new spent>=1")).plain_text
    # another account exports nothing of these
    assert "fan list is empty" in (await Chat(chat.app, "bob").say("/fans export")).plain_text
    monkeypatch.setattr(fans_commands, "MAX_EXPORT", 2)  # more than one file holds
    capped = await chat.say("/fans export")
    assert "the 2 biggest spenders of 5 fans" in capped.plain_text
    assert capped.result == {"fans": 2, "matching": 5}


async def test_one_fans_card(chat: Chat) -> None:
    # "/fans @leo" was "I don't understand the filter": a chatter could not look a fan up
    await fill(chat)
    account = (await chat.app.store.accounts.resolve(chat.user.identity())).id
    earnings = b"date,amount,type,fan\n2026-11-02,25,tip,@leo\n2026-11-20,9.99,ppv,@leo\n"
    await CsvImporter(chat.app.store, chat.app.clock).import_csv(account, "e.csv", earnings)
    card = await chat.say("/fans @Leo")
    lines = card.plain_text.splitlines()
    assert lines[0].startswith("@leo (Leo) — whale, spent $980.00")
    assert lines[1] == "Joined Nov 2 · Tags: cosplay, gym"  # her first payment
    assert lines[2] == "2 payments since Nov 2: tips $25.00 (1) · PPV $9.99 (1)"
    assert lines[3] == "Latest: Nov 20 $9.99 PPV · Nov 2 $25.00 tip"
    assert card.result["payments"] == 2 and card.result["handle"] == "leo"
    assert (await chat.say("/fans leo")).plain_text == card.plain_text  # a bare handle too
    assert "No payments from them" in (await chat.say("/fans show kim")).plain_text
    assert "don't understand the filter “rich”" in (await chat.say("/fans rich")).plain_text
    assert "Close matches: @leo" in (await chat.say("/fans @lee")).plain_text
    # another account has no such fan, and never sees this one's payments
    other = await Chat(chat.app, "bob").say("/fans @leo")
    assert "I don't have a fan called @leo" in other.plain_text


async def test_fans_who_joined_lately(store: SqlStore, clock: FakeClock) -> None:
    """A subscriber list's join date, lowered to a first payment the earnings show, segments
    the fans who joined lately (``joined:7d``: a welcome message), per account."""
    from tests.unit.conftest import assistant_on

    app = assistant_on(store, clock)
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    zoe_id = (await store.accounts.resolve(zoe.user.identity())).id
    importer = CsvImporter(store, clock)
    await mia.say("/fans add @old spent=5")
    hint = (await mia.say("/fans joined:7d")).plain_text
    assert "No fan has a join date yet: send your subscriber export" in hint
    subscribers = (
        b"Username,Name,Status,Join Date,Total spent\n"
        b"ann,Ann,Active,2026-11-20,10\n"  # 4 days before the clock's Nov 24
        b"bo,Bo,Active,2026-11-01,50\n"
        b"cy,Cy,Expired,2026-11-22,0\n"
    )
    await importer.import_csv(mia_id, "subscribers.csv", subscribers)
    await importer.import_csv(zoe_id, "subscribers.csv", b"Username,Join Date\nann,2026-01-01\n")
    # cy paid before the list says she joined: her first payment is when she joined.
    await importer.import_csv(mia_id, "e.csv", b"Date,Amount,Fan\n2026-10-30,9,@cy\n")
    lately = await mia.say("/fans joined:7d")
    assert [f["handle"] for f in lately.result] == ["ann"]
    assert lately.result[0]["first_seen"] == "2026-11-20"
    assert "1 of 4 fans match joined:7d" in lately.plain_text
    assert [f["handle"] for f in (await mia.say("/fans !joined:7d")).result] == ["bo", "cy"]
    assert "Joined Oct 30" in (await mia.say("/fans @cy")).plain_text
    # zoe's ann joined in January: not in mia's segment, nor mia's in hers.
    assert (await zoe.say("/fans joined:30d")).plain_text.startswith("0 of 1 fans match")
    drafts = await mia.say('/personalize "Welcome {name}!" to joined:7d')
    assert drafts.plain_text.startswith("1 draft for joined:7d")
    # By hand too, never in the future.
    await mia.say("/fans add @dee joined=2026-11-23")
    assert [f["handle"] for f in (await mia.say("/fans joined:7d")).result] == ["ann", "dee"]
    assert (
        "joined 2026-12-30 is in the future"
        in (await mia.say("/fans add @dee joined=2026-12-30")).plain_text
    )
