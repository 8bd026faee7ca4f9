"""/imports and /imports undo: an import sent to the wrong account or with the wrong platform
is taken back — what it added, never what other imports or the creator added — on SQLite and
PostgreSQL, and only by the account's owner or managers."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from core.chat import Reply
from core.ports import Transaction
from core.services.imports import CsvImporter
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.unit.conftest import Chat, assistant_on
from tests.unit.test_team import _code

A = b"Date,Amount,Type,Fan\n2026-11-20 10:00,10,tip,@anna\n2026-11-21 10:00,25,tip,@ben\n"
B = b"Date,Amount,Type,Fan\n2026-11-22 10:00,40,tip,@anna\n2026-11-22 11:00,5,tip,@cara\n"


async def _revenue(chat: Chat) -> str:
    return (await chat.say("/stats all")).result["revenue"]


async def _undo(chat: Chat, n: int) -> Reply:
    """``/imports undo N``, then its confirmation's Take it back (when it asks)."""
    asked = await chat.say(f"/imports undo {n}")
    if asked.result is None or "confirm" not in asked.result:
        return asked
    return await chat.press_label("Take it back")


async def test_an_import_is_taken_back_and_nothing_else(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock, importer=CsvImporter(store, clock))
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    importer = CsvImporter(store, clock)
    first = await importer.import_csv(mia_id, "a.csv", A)
    assert "/imports takes an import back" in first
    clock.advance(60)
    await importer.import_csv(mia_id, "b.csv", B)
    clock.advance(60)
    again = await importer.import_csv(mia_id, "b.csv", B)  # nothing new: not recorded
    assert "/imports" not in again
    await zoe.say("/fans add zoefan spent=5")
    listed = await mia.say("/imports")
    assert len(listed.result["imports"]) == 2
    assert "1. b.csv — earnings, Nov 24 12:01: 2 added, 1 new fans" in listed.plain_text
    assert "2. a.csv — earnings, Nov 24 12:00: 2 added, 2 new fans" in listed.plain_text
    assert await _revenue(mia) == "80.00"
    clock.advance(60)

    undone = await _undo(mia, 2)
    assert undone.result == {
        "import_id": listed.result["imports"][1],
        "transactions": 2,
        "offers": 0,
        "fans": 1,  # ben; anna paid in b.csv too
    }
    assert await _revenue(mia) == "45.00"
    fans = {f["handle"]: f["total_spent"] for f in (await mia.say("/fans")).result}
    assert fans == {"anna": "40.00", "cara": "5.00"}  # anna's total follows the earnings down
    assert "taken back" in (await mia.say("/imports")).plain_text
    assert "taken back already" in (await _undo(mia, 2)).plain_text
    # Sent again (to the right account, this time), it is new again.
    assert "2 new transactions added" in await importer.import_csv(mia_id, "a.csv", A)
    assert await _revenue(mia) == "80.00"
    # zoe's list was never touched.
    assert [f["handle"] for f in (await zoe.say("/fans")).result] == ["zoefan"]


async def test_a_wrong_platform_is_taken_back(store: SqlStore, clock: FakeClock) -> None:
    # The same file captioned "fansly" after "onlyfans": its rows count as Fansly's too, and
    # /stats doubles. Taking the second import back leaves the OnlyFans figures as they were.
    app = assistant_on(store, clock)
    mia = Chat(app, "mia")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    importer = CsvImporter(store, clock)
    await importer.import_csv(mia_id, "export.csv", A, platform="onlyfans")
    await importer.import_csv(mia_id, "export.csv", A, platform="fansly")
    assert await _revenue(mia) == "70.00"
    assert "Fansly" in (await mia.say("/imports")).plain_text
    await _undo(mia, 1)
    assert await _revenue(mia) == "35.00"
    assert "None of your earnings are marked Fansly" in (await mia.say("/stats fansly")).plain_text


async def test_fan_lists_and_offers(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia = Chat(app, "mia")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    importer = CsvImporter(store, clock)
    await mia.say("/fans add dora tier=vip spent=300")
    clock.advance(60)
    fans = b"Handle,Name,Total spent\ndora,Dora,350\neli,Eli,20\nfay,Fay,15\ngus,Gus,9\n"
    await importer.import_csv(mia_id, "fans.csv", fans)
    clock.advance(60)
    await mia.say("/fans note fay asked for a custom set")  # a note of hers: fay stays
    await mia.say("/fans add gus tier=vip")  # changed since: gus stays
    offers = b"Date,Price,Sent,Bought\n2026-11-20,9.99,100,7\n2026-11-21,14.99,100,4\n"
    await importer.import_csv(mia_id, "ppv.csv", offers)
    undone = await _undo(mia, 1)
    assert (undone.result["offers"], undone.result["transactions"]) == (2, 0)
    assert await store.offers.list(mia_id, "ppv") == []
    undone = await _undo(mia, 2)
    assert undone.result["fans"] == 1  # eli; dora was there before, fay has a note, gus changed
    left = {f["handle"]: f["total_spent"] for f in (await mia.say("/fans")).result}
    assert left == {"dora": "350.00", "fay": "15.00", "gus": "9.00"}  # dora keeps its change


async def test_only_the_accounts_owner_and_managers(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia, zoe, leo = Chat(app, "mia"), Chat(app, "zoe"), Chat(app, "leo")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    await CsvImporter(store, clock).import_csv(mia_id, "a.csv", A)
    [import_id] = (await mia.say("/imports")).result["imports"]
    # A forged button from another account, and a chatter on her team, take nothing back.
    forged = await zoe.press(f"imports:undo:{import_id}")
    assert "not one of yours" in forged.plain_text
    await leo.say("/team join " + _code(await mia.say("/team invite")))
    assert "owner and managers" in (await leo.say("/imports")).plain_text
    assert "owner and managers" in (await leo.press(f"imports:undo:{import_id}")).plain_text
    assert await _revenue(mia) == "35.00"
    assert (await mia.press(f"imports:undo:{import_id}")).result["transactions"] == 2
    assert "No earnings yet" in (await mia.say("/stats")).plain_text


async def test_an_import_still_running_is_not_taken_back(store: SqlStore, clock: FakeClock) -> None:
    # A big export imported in the background writes batch after batch: taken back half-way,
    # the batches after would stay, tagged with an import that can no longer be undone.
    app = assistant_on(store, clock)
    mia = Chat(app, "mia")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    running = await store.imports.begin(mia_id, "big.csv", "")
    row = Transaction(
        row_key="k1",
        occurred_at=datetime(2026, 11, 20, 10, tzinfo=UTC),
        amount=Decimal("12"),
        currency="USD",
        category="tip",
    )
    await store.earnings.add_many(mia_id, [row], running)
    assert (
        "1. big.csv — CSV, Nov 24 12:00: 0 added — still running"
        in (await mia.say("/imports")).plain_text
    )
    refused = await mia.press(f"imports:undo:{running}")
    assert "still being imported" in refused.plain_text
    assert await _revenue(mia) == "12.00"
    # An hour on, it stopped before the end (a crash): what it wrote can go.
    clock.advance(3601)
    assert "stopped before the end" in (await mia.say("/imports")).plain_text
    assert (await _undo(mia, 1)).result["transactions"] == 1


async def test_a_typed_number_asks_first_naming_the_import(
    store: SqlStore, clock: FakeClock
) -> None:
    # Numbers are the list's as it was shown: an import that finished since moves them, so
    # "/imports undo 1" names the import it would take back and waits for the button.
    app = assistant_on(store, clock)
    mia = Chat(app, "mia")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    importer = CsvImporter(store, clock)
    await importer.import_csv(mia_id, "a.csv", A)
    assert "1. a.csv" in (await mia.say("/imports")).plain_text
    clock.advance(60)
    await importer.import_csv(mia_id, "b.csv", B)  # lands while she reads the list
    asked = await mia.say("/imports undo 1")
    assert asked.plain_text.startswith("Take this import back? What it added is removed.\nb.csv")
    assert "2 added, 1 new fans" in asked.plain_text
    kept = await mia.press_label("Keep it")
    assert kept.plain_text == "Kept it: nothing was taken back." and await _revenue(mia) == "80.00"
    await mia.say("/imports undo 2")
    assert (await mia.press_label("Take it back")).result["transactions"] == 2
    assert await _revenue(mia) == "45.00"


async def test_a_fan_still_paid_for_or_noted_stays(store: SqlStore, clock: FakeClock) -> None:
    # Each condition on its own (the clock does not move here, so "changed since the import"
    # cannot tell): a fan another import's payments name stays, and so does one with a note.
    app = assistant_on(store, clock)
    mia = Chat(app, "mia")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    importer = CsvImporter(store, clock)
    fans = b"Handle,Name,Total spent\nhal,Hal,20\nivy,Ivy,30\njo,Jo,5\n"
    await importer.import_csv(mia_id, "fans.csv", fans)
    await importer.import_csv(mia_id, "e.csv", b"Date,Amount,Fan\n2026-11-20,50,@hal\n")
    await mia.say("/fans note ivy prefers voice notes")
    undone = await _undo(mia, 2)
    assert undone.result["fans"] == 1  # jo
    assert sorted(f["handle"] for f in (await mia.say("/fans")).result) == ["hal", "ivy"]
