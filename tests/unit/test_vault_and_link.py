"""Files into the vault (de-dup, sniffing, limits, tenancy) and /link across platforms."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import struct
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import core.commands.vault as vault_command
from core.app import Assistant, Limits
from core.chat import Attachment, ExternalUser, FileBlock, Incoming, Reply
from core.llm.offline import OfflineEngine
from core.models import Asset
from core.resilience.cache import MemoryKV
from core.services.vault import tags_from_caption
from storage.blobs import LocalBlobStore
from storage.db import create_engine, migrate
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.unit.conftest import Chat


def png(seed: int) -> bytes:
    """A real 1x1 PNG whose pixel depends on ``seed``."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"\x00" + bytes([seed % 256, 0, 0])
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def attachment(name: str, data: bytes, mime: str, size: int | None = None) -> Attachment:
    reads: list[int] = []

    async def read() -> bytes:
        reads.append(1)
        return data

    att = Attachment(name=name, mime=mime, size=len(data) if size is None else size, read=read)
    object.__setattr__(att, "kind", "photo" if mime.startswith("image/") else "document")
    return att


@pytest.fixture
async def app(tmp_path: Path) -> Assistant:
    url = f"sqlite+aiosqlite:///{tmp_path}/v.db"
    await migrate(url)
    clock = FakeClock()
    engine = create_engine(url)
    yield Assistant(
        store=SqlStore(engine, clock),
        generator=OfflineEngine(),
        kv=MemoryKV(max_entries=100, clock=clock),
        clock=clock,
        blobs=LocalBlobStore(tmp_path / "blobs"),
        limits=Limits(max_upload_bytes=1024 * 1024),
    )
    await engine.dispose()


async def send(app: Assistant, user: str, caption: str, *atts: Attachment) -> Reply:
    who = ExternalUser(platform="telegram", id=user, username=user)
    return await app.handle(Incoming(user=who, chat_id=user, text=caption, attachments=list(atts)))


async def test_photo_is_stored_once_with_tags_and_sniffed_type(
    app: Assistant, tmp_path: Path
) -> None:
    data = png(1)
    reply = await send(
        app, "u1", "Beach day #beach #summer", attachment("a.jpg", data, "image/jpeg")
    )
    stored = reply.result["stored"]
    assert len(stored) == 1
    assert stored[0]["mime"] == "image/png"  # sniffed from the bytes, not the claimed type
    assert stored[0]["tags"] == ["beach", "summer"]
    assert stored[0]["sha256"] == hashlib.sha256(data).hexdigest()
    assert await app.blobs.get(stored[0]["blob_key"]) == data
    assert [b.label for row in reply.buttons for b in row] == ["Caption this"]
    again = await send(app, "u1", "", attachment("b.png", data, "image/png"))
    assert again.result["stored"] == [] and len(again.result["duplicates"]) == 1
    caption = await app.handle(
        Incoming(
            user=ExternalUser(platform="telegram", id="u1"),
            chat_id="u1",
            action=reply.buttons[0][0].action,
        )
    )
    assert caption.result["text"]


async def test_album_is_one_answer_and_limit_is_checked_before_download(app: Assistant) -> None:
    big = attachment("huge.mp4", b"x", "video/mp4", size=50 * 1024 * 1024)
    reply = await send(
        app,
        "u1",
        "",
        attachment("1.png", png(2), "image/png"),
        attachment("2.png", png(3), "image/png"),
        big,
    )
    assert len(reply.result["stored"]) == 2
    assert reply.result["rejected"][0]["name"] == "huge.mp4"
    assert "limit" in reply.plain_text


async def test_vault_is_per_account(app: Assistant) -> None:
    data = png(4)
    a = (await send(app, "alice", "#shoot", attachment("a.png", data, "image/png"))).result
    b = (await send(app, "bob", "", attachment("a.png", data, "image/png"))).result
    assert len(a["stored"]) == 1 and len(b["stored"]) == 1  # same bytes, two accounts
    bob = Chat(app, "bob", platform="telegram")
    listing = await bob.say("/vault")
    assert [x["id"] for x in listing.result] == [b["stored"][0]["id"]]
    stolen = await bob.press(f"vault:cap:{a['stored'][0]['id']}")
    assert "can't find that file" in stolen.plain_text
    assert "No files tagged #shoot" in (await bob.say("/vault shoot")).plain_text


def blob_files(tmp_path: Path) -> list[Path]:
    return [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]


async def test_a_file_is_deleted_after_a_confirmation_and_frees_its_room(
    app: Assistant, tmp_path: Path
) -> None:
    stored = (await send(app, "mia", "#beach", attachment("a.png", png(7), "image/png"))).result
    other = (await send(app, "mia", "", attachment("b.png", png(8), "image/png"))).result
    asset_id = stored["stored"][0]["id"]
    mia = Chat(app, "mia", platform="telegram")
    assert len(blob_files(tmp_path)) == 2

    shown = await mia.say(f"/vault {asset_id}")
    assert shown.result["id"] == asset_id and "a.png" in shown.plain_text
    assert [b.label for b in shown.buttons[0]] == ["Send", "Caption this", "Delete…"]
    [sent] = (await mia.press_label("Send")).blocks
    assert isinstance(sent, FileBlock) and (sent.name, sent.mime, sent.data) == (
        "a.png",
        "image/png",
        png(7),
    )
    assert (await mia.say(f"/vault send {asset_id}")).blocks == [sent]
    await mia.say(f"/vault {asset_id}")
    asked = await mia.press_label("Delete")
    assert "for good" in asked.plain_text and asked.result["confirm"]["id"] == asset_id
    assert "Kept" in (await mia.press_label("Keep")).plain_text
    assert len(await app.store.assets.list(1)) == 2  # nothing happens without a yes

    await mia.say(f"/vault delete {asset_id}")
    done = await mia.press_label("Delete for good")
    assert done.result["deleted"]["id"] == asset_id and "freed" in done.plain_text
    assert [a.id for a in await app.store.assets.list(1)] == [other["stored"][0]["id"]]
    assert len(blob_files(tmp_path)) == 1
    again = await mia.press(f"vault:del:{asset_id}")  # a second press, or an old message
    assert "can't find that file" in again.plain_text
    assert "can't find that file" in (await mia.say(f"/vault {asset_id}")).plain_text

    # The same photo can come back, with a blob of its own.
    back = (await send(app, "mia", "", attachment("a.png", png(7), "image/png"))).result
    assert len(back["stored"]) == 1 and len(blob_files(tmp_path)) == 2


async def test_a_big_vault_pages_with_an_older_files_button(app: Assistant) -> None:
    mia, bob = Chat(app, "mia"), Chat(app, "bob")
    await mia.say("/start")
    await bob.say("/start")
    mia_id = (await app.store.accounts.resolve(mia.user.identity())).id
    bob_id = (await app.store.accounts.resolve(bob.user.identity())).id
    for n in range(53):
        app.clock.advance(1)  # type: ignore[attr-defined]
        tags = ["beach"] if n % 2 else []
        data = f"file {n}".encode()
        sha = hashlib.sha256(data).hexdigest()
        await app.store.assets.add(
            mia_id,
            Asset(
                sha256=sha,
                size=len(data),
                mime="text/plain",
                name=f"f{n}.txt",
                tags=tags,
                blob_key=f"acct/{mia_id}/up/{n}",
            ),
        )
    first = await mia.say("/vault")
    assert first.plain_text.startswith("the 50 newest files")
    assert [a["name"] for a in first.result][:2] == ["f52.txt", "f51.txt"]
    [[older]] = first.buttons
    assert older.label.startswith("Older files") and len(older.action.encode()) <= 64
    second = await mia.press(older.action)
    assert second.plain_text.startswith("3 older files")
    assert [a["name"] for a in second.result] == ["f2.txt", "f1.txt", "f0.txt"]
    assert second.buttons == []

    tagged = await mia.say("/vault #beach")  # 26 files tagged: one page, no button
    assert tagged.plain_text.startswith("26 files tagged #beach") and tagged.buttons == []

    # Another account pressing the same button sees nothing of mia's.
    stolen = await bob.press(older.action)
    assert "f2.txt" not in stolen.plain_text and stolen.result is None
    assert bob_id != mia_id


async def test_paging_keeps_the_tag_and_survives_a_deleted_anchor(
    app: Assistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vault_command, "LIST_LIMIT", 3)
    mia = Chat(app, "mia")
    await mia.say("/start")
    mia_id = (await app.store.accounts.resolve(mia.user.identity())).id
    for n in range(10):
        app.clock.advance(1)  # type: ignore[attr-defined]
        data = f"file {n}".encode()
        asset = Asset(
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            mime="text/plain",
            name=f"f{n}.txt",
            tags=["beach"] if n % 2 else ["gym"],
            blob_key=f"acct/{mia_id}/up/{n}",
        )
        await app.store.assets.add(mia_id, asset)
    first = await mia.say("/vault #beach")
    assert [a["name"] for a in first.result] == ["f9.txt", "f7.txt", "f5.txt"]
    [[older]] = first.buttons
    assert older.action.endswith(":beach")
    second = await mia.press(older.action)
    assert [a["name"] for a in second.result] == ["f3.txt", "f1.txt"]
    assert second.plain_text.startswith("2 older files tagged #beach") and second.buttons == []

    assert await app.store.assets.delete(mia_id, first.result[-1]["id"])  # the page's anchor
    stale = await mia.press(older.action)
    assert "list has changed" in stale.plain_text


async def test_delete_needs_a_number_and_only_reaches_your_own_files(
    app: Assistant, tmp_path: Path
) -> None:
    alice_file = (await send(app, "alice", "", attachment("a.png", png(9), "image/png"))).result
    alice_id = alice_file["stored"][0]["id"]
    bob = Chat(app, "bob", platform="telegram")
    assert "Which file?" in (await bob.say("/vault delete")).plain_text
    assert "Which file?" in (await bob.say("/vault send")).plain_text
    assert "can't find that file" in (await bob.say(f"/vault delete {alice_id}")).plain_text
    assert "can't find that file" in (await bob.say(f"/vault send {alice_id}")).plain_text
    for forged in (
        f"vault:del:{alice_id}",
        f"vault:ask:{alice_id}",
        f"vault:get:{alice_id}",
        "vault:del:x",
        "vault:zap:1",
        "vault:older:x",
        "vault:older",
    ):
        assert "can't find that file" in (await bob.press(forged)).plain_text
    for forged in (f"vault:older:{alice_id}", f"vault:older:{alice_id}:beach", "vault:older:99999"):
        answer = await bob.press(forged)  # another account's file is no page anchor
        assert "list has changed" in answer.plain_text and answer.result is None
    assert len(await app.store.assets.list(1)) == 1 and len(blob_files(tmp_path)) == 1
    assert "#beach" in (await bob.say("/vault #beach")).plain_text  # a tag is still a tag


async def test_the_same_bytes_at_once_keep_one_row_and_one_blob(
    app: Assistant, tmp_path: Path
) -> None:
    assert app.vault is not None
    account = await app.store.accounts.resolve(ExternalUser(platform="telegram", id="x").identity())
    data = png(10)
    results = await asyncio.gather(
        *(app.vault.add_bytes(account.id, data, "a.png", "image/png", [], "t") for _ in range(4))
    )
    assert len({asset.id for asset, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(blob_files(tmp_path)) == 1


async def test_a_file_whose_bytes_are_gone_is_said_so(app: Assistant, tmp_path: Path) -> None:
    stored = (await send(app, "mia", "", attachment("a.png", png(12), "image/png"))).result
    for path in blob_files(tmp_path):
        path.unlink()
    mia = Chat(app, "mia", platform="telegram")
    reply = await mia.say(f"/vault send {stored['stored'][0]['id']}")
    assert "no longer in the vault" in reply.plain_text and not reply.buttons


class RacingBlobs(LocalBlobStore):
    """A real local store that runs ``before_delete`` (once) just before a delete."""

    before_delete: Callable[[], Awaitable[object]] | None = None

    async def delete(self, key: str) -> None:
        hook, self.before_delete = self.before_delete, None
        if hook is not None:
            await hook()
        await super().delete(key)


async def test_an_upload_right_after_a_removal_keeps_its_blob(
    app: Assistant, tmp_path: Path
) -> None:
    assert app.vault is not None
    blobs = RacingBlobs(tmp_path / "racing")
    vault = dataclasses.replace(app.vault, blobs=blobs)
    account = await app.store.accounts.resolve(ExternalUser(platform="telegram", id="r").identity())
    data = png(11)
    first, _ = await vault.add_bytes(account.id, data, "a.png", "image/png", [], "t")
    readded: list[Asset] = []

    async def same_bytes_again() -> None:  # lands between the row's delete and the blob's
        readded.append((await vault.add_bytes(account.id, data, "a.png", "image/png", [], "t"))[0])

    blobs.before_delete = same_bytes_again
    assert first.id is not None and await vault.remove(account.id, first.id) is not None
    assert readded and await app.store.assets.get(account.id, readded[0].id or 0) is not None
    assert await blobs.get(readded[0].blob_key) == data  # not deleted with the old file


async def test_csv_goes_to_the_importer(app: Assistant) -> None:
    reply = await send(app, "u1", "", attachment("earnings.csv", b"date,amount\n", "text/csv"))
    assert "import" in reply.plain_text.lower()
    assert await app.store.assets.list(1) == []  # a CSV is data to import, not a vault file


async def test_an_excel_workbook_goes_to_the_importer(app: Assistant) -> None:
    from core.services.imports import CsvImporter
    from tests.unit.test_imports import workbook

    app.importer = CsvImporter(app.store, app.clock)  # type: ignore[arg-type]
    data = workbook(("Sheet1", [["Date", "Amount", "Fan"], ["2026-11-20", 25, "@leo"]]))
    xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    for name, mime in (("earnings.xlsx", xlsx), ("earnings.xlsx", "application/octet-stream")):
        reply = await send(app, "u1", "", attachment(name, data, mime))
        assert "earnings.xlsx — earnings, 1 row read" in reply.plain_text
    assert await app.store.assets.list(1) == []  # not a vault file


async def test_link_joins_two_platforms_into_one_account(app: Assistant) -> None:
    tg = Chat(app, "111", platform="telegram")
    dc = Chat(app, "999", platform="discord")
    await tg.say("/profile set niches=gaming platforms=tiktok content_types=live")
    code = (await tg.say("/link")).result["code"]
    assert "Linked" in (await dc.say(f"/link {code.lower()}")).plain_text
    assert "Gaming" in (await dc.say("/profile show")).plain_text
    assert "unknown or has expired" in (await dc.say(f"/link {code}")).plain_text  # one-time


async def test_a_code_from_discord_comes_with_the_telegram_bots_link(app: Assistant) -> None:
    dc = Chat(app, "999", platform="discord")
    tg = Chat(app, "111", platform="telegram")
    plain = await dc.say("/link")
    assert "t.me" not in plain.plain_text  # no Telegram bot running: no link
    app.start_links["telegram"] = "https://t.me/hz_bot?start={payload}"
    issued = await dc.say("/link")
    code = issued.result["code"]
    assert f"tapping https://t.me/hz_bot?start=link-{code} sends it" in issued.plain_text
    assert "Linked" in (await tg.say(f"/start link-{code}")).plain_text
    assert (await app.store.accounts.resolve(tg.user.identity())).id == (
        await app.store.accounts.resolve(dc.user.identity())
    ).id
    # Payloads that are not a code of ours start as usual.
    for payload in ("link-", "link-a b", "join", "grant-ABCD1234", "x" * 70):
        assert "I'm Huntaze" in (await Chat(app, payload[:8]).say(f"/start {payload}")).plain_text


async def test_link_code_expires(app: Assistant) -> None:
    tg = Chat(app, "111", platform="telegram")
    code = (await tg.say("/link")).result["code"]
    app.clock.advance(601)  # type: ignore[attr-defined]
    reply = await Chat(app, "999", platform="discord").say(f"/link {code}")
    assert "expired" in reply.plain_text


async def test_photo_with_a_command_caption_is_stored_and_the_command_runs(app: Assistant) -> None:
    reply = await send(app, "u1", "/caption beach day x", attachment("p.png", png(9), "image/png"))
    assert "Stored 1 file" in reply.plain_text
    assert reply.result["platform"] == "x"  # the /caption answer
    assert len(await app.store.assets.list(1)) == 1


@pytest.mark.parametrize(
    ("caption", "tags"),
    [
        ("beach day #teaser #Summer", ["teaser", "summer"]),
        ("beach day at sunset", ["beach", "day", "sunset"]),
        ("/caption beach day", ["beach", "day"]),  # the command is not a tag
        ("/vault", []),
        ("/caption@huntaze_bot gym #pr", ["pr"]),
        ("@huntaze_bot lingerie set with @mia", ["lingerie", "set"]),  # nor are mentions
    ],
)
def test_tags_from_a_caption(caption: str, tags: list[str]) -> None:
    assert tags_from_caption(caption) == tags
