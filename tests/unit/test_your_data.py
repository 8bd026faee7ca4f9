"""/export and /deleteaccount, on SQLite and PostgreSQL. The export holds every row of the
account and no one else's. Deletion: everything of one account goes — its rows, its vault files
in the blob store — and nothing of anyone else's; only its owner can do it, only with a fresh
confirmation, and not while Stripe would go on charging for it."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from core.app import Assistant, Limits
from core.chat import FileBlock, Incoming, Reply
from core.commands.fans import defused
from core.ports import BillingState
from core.services.billing import BillingService, default_catalog
from core.services.imports import CsvImporter
from storage.blobs import LocalBlobStore
from storage.repositories import SqlStore
from storage.tables import Base
from tests.fakes.clock import FakeClock
from tests.unit.conftest import Chat, assistant_on
from tests.unit.test_vault_and_link import attachment, png

PROFILE = (
    "/profile set niches=fitness platforms=instagram content_types=photo equipment=phone "
    "locations=gym tone=playful"
)


def _app(store: SqlStore, clock: FakeClock, tmp_path: Path, **kw: object) -> Assistant:
    blobs = LocalBlobStore(tmp_path / "blobs")
    return assistant_on(store, clock, blobs=blobs, limits=Limits(max_upload_bytes=2**20), **kw)


async def _fill(app: Assistant, chat: Chat, seed: int) -> int:
    """A creator with a bit of everything; returns the account id."""
    await chat.say(PROFILE)
    await chat.say("/ideas 2")
    await chat.say("/fans add whale1 tier=vip spent=900")
    week = await chat.say("/week 2")
    await chat.press(week.buttons[-1][0].action)  # reminders
    await chat.say("/summary daily")
    await chat.say("/apikey")
    photo = attachment("p.png", png(seed), "image/png")
    await app.handle(Incoming(user=chat.user, chat_id=chat.user.id, attachments=[photo]))
    account = (await app.store.accounts.resolve(chat.user.identity())).id
    earnings = b"Date,Amount,Fan\n2026-11-20,50,@whale1\n"
    await CsvImporter(app.store, app.clock).import_csv(account, "e.csv", earnings)
    return account


async def _rows(store: SqlStore, account_id: int) -> dict[str, int]:
    """Rows naming the account, per table (any column called account_id or member_id)."""
    counts: dict[str, int] = {}
    async with store.sessions() as session:
        for table in Base.metadata.sorted_tables:
            for column in ("account_id", "member_id"):
                if column in table.c:
                    n = await session.scalar(
                        select(func.count()).select_from(table).where(table.c[column] == account_id)
                    )
                    if n:
                        counts[f"{table.name}.{column}"] = int(n)
    return counts


async def test_deleting_an_account_removes_all_of_it_and_nothing_else(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    app = _app(store, clock, tmp_path)
    mia, zoe = Chat(app, "mia", platform="telegram"), Chat(app, "zoe", platform="telegram")
    leo = Chat(app, "leo", platform="discord")  # Mia's chatter
    mia_id, zoe_id = await _fill(app, mia, 1), await _fill(app, zoe, 2)
    leo_id = (await store.accounts.resolve(leo.user.identity())).id
    await leo.say("/team join " + (await mia.say("/team invite")).result["code"])
    assert await _rows(store, leo_id) == {"identities.account_id": 1, "members.member_id": 1}
    before = await _rows(store, mia_id)
    assert {"ideas.account_id", "fans.account_id", "transactions.account_id"} <= set(before)
    assert {"assets.account_id", "reminders.account_id", "members.account_id"} <= set(before)
    zoe_before = await _rows(store, zoe_id)
    blobs = tmp_path / "blobs" / "acct"
    assert (blobs / str(mia_id)).exists() and (blobs / str(zoe_id)).exists()

    # A team member cannot, by command or by the owner's button.
    assert "for the account's owner" in (await leo.say("/deleteaccount")).plain_text
    ask = await mia.say("/deleteaccount")
    assert ask.ephemeral and "cannot be undone" in ask.plain_text
    [[yes, keep]] = ask.buttons
    assert "Only the account's owner" in (await leo.press(yes.action)).plain_text
    # Someone else's press, a made-up token, "Keep": nothing happens.
    assert "expired" in (await zoe.press(yes.action)).plain_text
    assert "expired" in (await mia.press("erase:" + "0" * 16)).plain_text
    assert "Nothing was deleted" in (await mia.press(keep.action)).plain_text
    assert "expired" in (await mia.press(yes.action)).plain_text  # Keep spent the token
    # nothing deleted; Leo's two attempts are in the team's activity
    assert await _rows(store, mia_id) == {**before, "team_actions.account_id": 2}

    # Ten minutes later a confirmation has expired.
    [[yes, _]] = (await mia.say("/deleteaccount")).buttons
    clock.advance(601)
    assert "expired" in (await mia.press(yes.action)).plain_text
    [[yes, _]] = (await mia.say("/deleteaccount")).buttons
    done = await mia.press(yes.action)
    assert "deleted" in done.plain_text and done.result == {"deleted": mia_id, "files": 1}

    assert await _rows(store, mia_id) == {}
    assert not [p for p in (blobs / str(mia_id)).rglob("*") if p.is_file()]
    # Zoe's account is whole; Leo is back on his own.
    assert await _rows(store, zoe_id) == zoe_before
    assert [p for p in (blobs / str(zoe_id)).rglob("*") if p.is_file()]
    assert "Your fan list is empty" in (await leo.say("/fans")).plain_text  # his own
    assert await _rows(store, leo_id) == {"identities.account_id": 1}  # no membership left
    # Mia writing again starts afresh: a new, empty account.
    again = await mia.say("/fans")
    assert "empty" in again.plain_text
    assert (await store.accounts.resolve(mia.user.identity())).id != mia_id


async def test_a_running_subscription_must_end_first(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    billing = BillingService(store.billing, store.accounts, default_catalog(), clock)
    app = _app(store, clock, tmp_path, billing=billing)
    mia = Chat(app, "mia")
    account = (await store.accounts.resolve(mia.user.identity())).id
    state = BillingState(
        account_id=account,
        customer_id="cus_1",
        subscription_id="sub_1",
        plan="pro",
        status="active",
        current_period_end=datetime(2026, 12, 24, tzinfo=UTC),
        state_at=clock.now() - timedelta(days=1),
    )
    async with store.billing.unit() as unit:
        await unit.save_state(state)
    asked: Reply = await mia.say("/deleteaccount")
    assert "subscription is still running" in asked.plain_text and not asked.buttons
    state.cancel_at_period_end = True  # set to end: it will not charge again
    async with store.billing.unit() as unit:
        await unit.save_state(state)
    [[yes, _]] = (await mia.say("/deleteaccount")).buttons
    assert "deleted" in (await mia.press(yes.action)).plain_text
    assert await store.billing.state(account) is None


async def test_export_hands_over_every_row_of_the_account_and_no_one_elses(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    app = _app(store, clock, tmp_path)
    mia, zoe = Chat(app, "mia", platform="telegram"), Chat(app, "zoe", platform="telegram")
    leo = Chat(app, "leo", platform="discord")
    mia_id, zoe_id = await _fill(app, mia, 1), await _fill(app, zoe, 2)
    await leo.say("/team join " + (await mia.say("/team invite")).result["code"])
    refund = b"Date,Amount,Fan\n2026-11-21,-5.00,@whale1\n2026-11-22,9,=HYPERLINK(1)\n"
    await CsvImporter(store, clock).import_csv(mia_id, "r.csv", refund)
    assert "for the account's owner" in (await leo.say("/export")).plain_text

    reply = await mia.say("/export")
    [file] = [b for b in reply.blocks if isinstance(b, FileBlock)]
    assert file.name == "huntaze-export-2026-11-24.zip" and file.mime == "application/zip"
    assert reply.ephemeral
    archive = zipfile.ZipFile(io.BytesIO(file.data))
    tables = {
        name[: -len(".csv")]: list(
            csv.DictReader(io.StringIO(archive.read(name).decode("utf-8-sig")))
        )
        for name in archive.namelist()
        if name.endswith(".csv")
    }
    assert "README.txt" in archive.namelist()
    # Every table that has rows of hers is there, with exactly her rows.
    expected = {name.split(".")[0]: n for name, n in (await _rows(store, mia_id)).items()}
    expected["members"] = 1  # Leo, on her team (member_id rows are teams she is on: none)
    assert {t: len(rows) for t, rows in tables.items() if t != "accounts"} == expected
    assert reply.result["tables"] == {t: len(r) for t, r in tables.items()}
    assert [r["id"] for r in tables["accounts"]] == [str(mia_id)]
    assert {
        r["account_id"]
        for t, rows in tables.items()
        if t != "accounts"
        for r in rows
        if "account_id" in r
    } == {str(mia_id)}
    assert "whale1" in {r["handle"] for r in tables["fans"]}
    # Numbers stay numbers (a refund), formulas are defused, secrets stay out.
    amounts = {r["amount_cents"] for r in tables["transactions"]}
    assert "-500" in amounts
    assert {r["fan_handle"] for r in tables["transactions"]} == {"whale1", "'=hyperlink(1)"}
    assert all("hash" not in column for column in tables["api_keys"][0])
    assert json.loads(tables["profiles"][0]["data"])["niches"] == ["fitness"]
    assert zoe_id not in {int(r["account_id"]) for r in tables["ideas"]}


def test_spreadsheet_cells_defuse_formulas_not_numbers() -> None:
    cells = ["-5.00", "+12", "-2+3", "=A1", "@SUM(A1)", "-x", "plain", ""]
    assert defused(cells) == ["-5.00", "+12", "'-2+3", "'=A1", "'@SUM(A1)", "'-x", "plain", ""]


def test_the_exports_readme_names_every_table_it_can_hold() -> None:
    """A table added to the schema is in the export without a change (``Store.export``); its
    README must say what it is, or the creator gets a file no one explains."""
    import re

    from core.commands.data import EXPORT_README

    named = set(re.findall(r"\b([a-z_]+)\.csv\b", EXPORT_README))
    exported = {
        t.name
        for t in Base.metadata.sorted_tables
        if t.name == "accounts" or "account_id" in t.c or "member_id" in t.c
    }
    assert exported - named == set() and named - exported == set()
