"""Changing a fan from chat keeps what the list knows about them; notes written in chat
(``/fans note``) stay through imports; a fan who paid only in another currency shows it; on
SQLite and PostgreSQL, within one account."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

from core.services.imports import CsvImporter
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.unit.conftest import Chat, assistant_on
from tests.unit.test_team import _code

FAN_EXPORT = (
    b"Handle,Name,Total spent,Last active,Tags,Notes,Status\n"
    b"cara,Cara,900,2026-11-10,cosplay,met at con,Active\n"
)


async def test_changing_a_fan_keeps_the_rest(store: SqlStore, clock: FakeClock) -> None:
    # "/fans add @cara tier=vip" on an imported fan replaced the whole row: her $900, her tags,
    # her notes, when she was last active and her subscription were gone.
    app = assistant_on(store, clock)
    mia = Chat(app, "mia")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    await CsvImporter(store, clock).import_csv(mia_id, "fans.csv", FAN_EXPORT)
    reply = await mia.say("/fans add @cara tier=vip")
    assert reply.plain_text.startswith("Updated @cara (Cara) — vip, spent $900.00")
    fan = await store.fans.get(mia_id, "cara")
    assert fan is not None
    assert (fan.tier, fan.total_spent, fan.tags, fan.notes) == (
        "vip",
        Decimal("900.00"),
        ["cosplay"],
        "met at con",
    )
    assert fan.last_active is not None and fan.subscribed is True
    # Fields given are written; a new handle is a new fan with the defaults.
    await mia.say("/fans add cara spent=950 tags=cosplay,feet")
    fan = await store.fans.get(mia_id, "cara")
    assert fan is not None and (fan.total_spent, fan.tags) == (
        Decimal("950.00"),
        ["cosplay", "feet"],
    )
    added = await mia.say("/fans add @Newbie")
    assert added.plain_text.startswith("Added @newbie — regular, spent $0.00")
    again = await mia.say("/fans add cara")
    assert again.plain_text.startswith("Already in your list: @cara (Cara) — vip, spent $950.00")


async def test_notes_from_chat_survive_imports(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia, zoe, leo = Chat(app, "mia"), Chat(app, "zoe"), Chat(app, "leo")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    await CsvImporter(store, clock).import_csv(mia_id, "fans.csv", FAN_EXPORT)
    noted = await mia.say("/fans note @Cara birthday   March 3, loves *red*")
    assert noted.result["journal"] == "2026-11-24: birthday March 3, loves *red*"
    clock.advance(86_400)
    # A chatter on her team writes to the same card.
    await leo.say("/team join " + _code(await mia.say("/team invite")))
    await leo.say("/fans note cara asked for a custom video")
    # The fan export again (and one with other notes): the import's notes change, hers stay.
    await CsvImporter(store, clock).import_csv(mia_id, "fans.csv", FAN_EXPORT)
    await CsvImporter(store, clock).import_csv(
        mia_id, "fans2.csv", FAN_EXPORT.replace(b"met at con", b"VIP since 2024")
    )
    fan = await store.fans.get(mia_id, "cara")
    assert fan is not None and fan.notes == "VIP since 2024"
    assert fan.journal == (
        "2026-11-24: birthday March 3, loves *red*\n2026-11-25: asked for a custom video"
    )
    card = await mia.say("/fans @cara")
    assert "Your notes:\n2026-11-24: birthday March 3, loves *red*\n2026-11-25" in card.plain_text
    # In the fan list's spreadsheet, and nowhere else: another creator has no such fan.
    exported = await mia.say("/fans export")
    [file] = [b for b in exported.blocks if hasattr(b, "data")]
    rows = list(csv.DictReader(io.StringIO(file.data.decode("utf-8-sig"))))
    assert rows[0]["your_notes"].endswith("asked for a custom video")
    missing = await zoe.say("/fans note @cara hello")
    assert "I don't have a fan called @cara" in missing.plain_text
    assert "Write it after the fan's handle" in (await mia.say("/fans note @cara")).plain_text


async def test_notes_keep_the_newest_when_long(store: SqlStore, clock: FakeClock) -> None:
    app = assistant_on(store, clock)
    mia = Chat(app, "mia")
    await mia.say("/fans add cara")
    for n in range(12):
        await mia.say(f"/fans note cara {n:02d} " + "x" * 480)
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    fan = await store.fans.get(mia_id, "cara")
    assert fan is not None and len(fan.journal) == 4000
    assert fan.journal.startswith("…") and "11 xxx" in fan.journal and "00 xxx" not in fan.journal
    too_long = await mia.say("/fans note cara " + "y" * 501)
    assert "at most 500" in too_long.plain_text


async def test_a_fan_who_paid_only_in_another_currency_shows_what_they_paid(
    store: SqlStore, clock: FakeClock
) -> None:
    # The fan list's totals are in the earnings' main currency: a fan who paid only in euros
    # read "spent $0.00" in /fans and on her card, though her payments were right there.
    app = assistant_on(store, clock)
    mia, zoe = Chat(app, "mia"), Chat(app, "zoe")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    zoe_id = (await store.accounts.resolve(zoe.user.identity())).id
    earnings = (
        b"Date,Amount,Currency,Fan\n"
        b"2026-11-02 21:00,40.00,USD,@leo\n"
        b"2026-11-15 20:00,15.00,EUR,@eva\n"
        b"2026-11-16 20:00,5.00,GBP,@eva\n"
        b"2026-11-17 20:00,12.00,EUR,@leo\n"
    )
    importer = CsvImporter(store, clock)
    await importer.import_csv(mia_id, "earnings.csv", earnings)
    await importer.import_csv(zoe_id, "earnings.csv", b"Date,Amount,Fan\n2026-11-03,9,@eva\n")
    listed = (await mia.say("/fans")).plain_text.splitlines()
    assert "@leo — regular, spent $40.00, active 7d ago" in listed  # dollars: his total
    assert "@eva — regular, spent €15.00 + £5.00, active 8d ago" in listed
    card = (await mia.say("/fans @eva")).plain_text
    assert card.startswith("@eva — regular, spent €15.00 + £5.00,")
    # Another account's fan of the same handle: her own dollars, nothing of mia's.
    assert "@eva — regular, spent $9.00" in (await zoe.say("/fans")).plain_text
    await mia.say("/fans add @new")
    assert "@new — regular, spent $0.00" in (await mia.say("/fans")).plain_text
