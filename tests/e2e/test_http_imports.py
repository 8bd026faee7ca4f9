"""``POST /api/v1/imports`` on the real HTTP server: a CSV export into the API key's account."""

from __future__ import annotations

import asyncio
import io
import zipfile
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import func, select

from core.chat import FileBlock
from core.jobs import PENDING_PREFIX
from storage.tables import TransactionRow
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import HttpWorld, start_world

EARNINGS = (
    b"Date,Amount,Type,Fan\n"
    b"2026-11-20 21:00:00,40.00,Tip,@leo\n"
    b"2026-11-21 12:00:00,oops,Tip,@zoe\n"
    b"2026-11-22 09:30:00,15.00,Subscription,@ann\n"
)


async def api_key(world: HttpWorld, user: str) -> str:
    return str((await world.say(user, "/apikey")).result["key"])


async def post(
    world: HttpWorld,
    key: str | None,
    data: bytes,
    filename: str = "earnings.csv",
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any, Any]:
    """(status, JSON body, headers) of a CSV posted to the imports API."""
    form = aiohttp.FormData()
    for name, value in (fields or {}).items():
        form.add_field(name, value)
    form.add_field("file", data, filename=filename, content_type="text/csv")
    sent = {**({"Authorization": f"Bearer {key}"} if key else {}), **(headers or {})}
    async with world.http.post(f"{world.url}/api/v1/imports", data=form, headers=sent) as r:
        return r.status, await r.json(), r.headers


ASYNC = {"Prefer": "return=minimal, respond-async"}


async def job_status(world: HttpWorld, key: str | None, location: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with world.http.get(world.url + location, headers=headers) as r:
        return r.status, await r.json()


def pending_uploads(world: HttpWorld) -> list[str]:
    pending = world.container.settings.data_dir / "blobs" / PENDING_PREFIX
    return [p.name for p in pending.rglob("*") if p.is_file()] if pending.exists() else []


async def transactions(world: HttpWorld) -> int:
    async with world.store.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(TransactionRow)) or 0)


async def test_an_export_is_imported_into_the_keys_account(world: HttpWorld) -> None:
    key = await api_key(world, "mia")
    status, body, _ = await post(world, key, EARNINGS, fields={"platform": "Fansly"})
    assert status == 200, body
    report = body["import"]
    assert (report["kind"], report["rows"], report["added"], report["bad_count"]) == (
        "earnings",
        3,
        2,
        1,
    )
    assert report["bad"] == [{"line": 3, "reason": "amount “oops” is not a number"}]
    assert report["platforms"] == {"fansly": 2}
    assert "Platform: Fansly (as you said)." in body["text"] and "**" not in body["text"]
    again_status, again, _ = await post(world, key, EARNINGS, fields={"platform": "fansly"})
    assert again_status == 200 and (again["import"]["added"], again["import"]["unchanged"]) == (
        0,
        2,
    )
    stats = await world.say("mia", "/stats all")
    assert stats.result["revenue"] == "55.00"
    # Only the key's account: another creator's figures are untouched.
    assert "No earnings yet" in (await world.say("zoe", "/stats all")).plain_text


async def test_the_export_downloads_the_keys_account_only(world: HttpWorld) -> None:
    """``GET /api/v1/export``: /export's ZIP, for an account whose export a chat cannot carry
    (the chat's note on a file too big for it points here)."""
    mia, zoe = await api_key(world, "mia"), await api_key(world, "zoe")
    assert (await post(world, mia, EARNINGS))[0] == 200

    async def export(key: str | None) -> tuple[int, aiohttp.typedefs.LooseHeaders, bytes]:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        async with world.http.get(f"{world.url}/api/v1/export", headers=headers) as r:
            return r.status, r.headers, await r.read()

    status, headers, body = await export(mia)
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert headers["Content-Disposition"].startswith('attachment; filename="huntaze-export-')
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        earnings = archive.read("transactions.csv").decode("utf-8-sig").splitlines()
        in_chat = (await world.say("mia", "/export")).blocks[-1]
        assert isinstance(in_chat, FileBlock) and in_chat.elsewhere.startswith(
            "`GET /api/v1/export` on the uploads API"
        )
        with zipfile.ZipFile(io.BytesIO(in_chat.data)) as chat_archive:
            assert chat_archive.namelist() == archive.namelist()
    assert len(earnings) == 3 and ",leo," in earnings[1] and ",ann," in earnings[2]
    status, _, body = await export(zoe)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert status == 200 and "transactions.csv" not in archive.namelist()
        assert b",leo," not in b"".join(archive.read(n) for n in archive.namelist())
    assert (await export(None))[0] == 401
    assert (await export(mia + "x"))[0] == 401


async def test_what_the_api_refuses(world: HttpWorld) -> None:
    key = await api_key(world, "mia")
    assert (await post(world, None, EARNINGS))[0] == 401
    assert (await post(world, key + "x", EARNINGS))[0] == 401
    headers = {"Authorization": f"Bearer {key}"}
    async with world.http.post(f"{world.url}/api/v1/imports", data=EARNINGS, headers=headers) as r:
        assert r.status == 400 and "multipart/form-data" in (await r.json())["error"]
    status, body, _ = await post(world, key, b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, "photo.csv")
    assert status == 422 and body["import"]["error"], body
    status, body, _ = await post(world, key, b"")
    assert status == 422 and "empty" in body["import"]["error"]
    form = aiohttp.FormData()
    form.add_field("platform", "fansly")
    async with world.http.post(f"{world.url}/api/v1/imports", data=form, headers=headers) as r:
        assert r.status == 400
    assert await transactions(world) == 0


async def test_an_import_over_the_limit_or_cut_short_imports_nothing(world: HttpWorld) -> None:
    key = await api_key(world, "mia")
    port = world.server.port
    head = (
        b"--B0undary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        b"Content-Type: text/csv\r\n\r\n"
    )

    def request(declared: int) -> bytes:
        return (
            f"POST /api/v1/imports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {key}\r\n"
            "Content-Type: multipart/form-data; boundary=B0undary\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        ).encode()

    # Declares 2 GB: refused before a byte of it is read.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request(2 * 10**9) + head)
    await writer.drain()
    assert b" 413 " in await asyncio.wait_for(reader.readline(), 10)
    writer.close()
    rows = b"".join(f"2026-11-{1 + i % 28:02d},1.00\n".encode() for i in range(20000))
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request(len(head) + 2 * len(rows)) + head + b"Date,Amount\n" + rows)
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.transport.abort()  # gone, halfway through the file
    await asyncio.sleep(0.5)
    assert await transactions(world) == 0  # half a file is never imported
    status, _, _ = await post(world, key, EARNINGS)  # and the server is fine afterwards
    assert status == 200 and await transactions(world) == 2


async def test_an_export_imports_in_the_background_when_asked(world: HttpWorld) -> None:
    key = await api_key(world, "mia")
    status, body, headers = await post(
        world, key, EARNINGS, fields={"platform": "OF"}, headers=ASYNC
    )
    assert status == 202, body
    job = body["job"]
    assert (job["state"], job["name"], job["size"], job["platform"]) == (
        "queued",
        "earnings.csv",
        len(EARNINGS),
        "OF",
    )
    assert headers["Location"] == f"/api/v1/imports/{job['id']}"
    assert headers["Preference-Applied"] == "respond-async"
    await asyncio.wait_for(world.container.jobs.join(), 30)

    status, body = await job_status(world, key, headers["Location"])
    assert status == 200, body
    job = body["job"]
    assert (job["state"], job["progress"], job["attempt"], job["error"]) == ("done", 1.0, 1, "")
    report = job["import"]
    assert (report["kind"], report["added"], report["bad"]) == (
        "earnings",
        2,
        [{"line": 3, "reason": "amount “oops” is not a number"}],
    )
    assert report["platforms"] == {"onlyfans": 2}
    assert "Platform: OnlyFans (as you said)." in job["text"]
    assert await transactions(world) == 2
    assert pending_uploads(world) == []  # the kept upload is gone once imported
    assert world.notices.sent == []  # the API's caller reads the status: no chat notices

    # Only the key's account can read it; an unknown id is 404 too.
    zoe = await api_key(world, "zoe")
    assert (await job_status(world, zoe, headers["Location"]))[0] == 404
    assert (await job_status(world, None, headers["Location"]))[0] == 401
    assert (await job_status(world, key, "/api/v1/imports/" + "0" * 32))[0] == 404
    assert (await job_status(world, key, "/api/v1/imports/../../metrics"))[0] == 404

    # A file that cannot be imported is "rejected", with the reason.
    status, body, headers = await post(
        world, key, b"\x89PNG\r\n\x1a\n" + b"\x00" * 99, headers=ASYNC
    )
    assert status == 202
    await asyncio.wait_for(world.container.jobs.join(), 30)
    job = (await job_status(world, key, headers["Location"]))[1]["job"]
    assert job["state"] == "rejected" and job["import"]["error"], job
    assert await transactions(world) == 2 and pending_uploads(world) == []


async def test_a_background_import_over_the_limit_or_cut_short_keeps_nothing(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    world = await start_world(migrated_sqlite_url, tmp_path, clock, max_import_mb=1)
    try:
        key = await api_key(world, "mia")
        rows = b"".join(f"2026-11-{1 + i % 28:02d},1.00\n".encode() for i in range(120_000))
        assert len(rows) > 1024 * 1024
        status, body, _ = await post(world, key, b"Date,Amount\n" + rows, headers=ASYNC)
        assert status == 413 and "1 MB import limit" in body["error"], body
        assert pending_uploads(world) == []
        # Without Content-Length (chunked): refused while streaming into the store.
        form = aiohttp.FormData()
        form.add_field("file", io.BytesIO(b"Date,Amount\n" + rows), filename="big.csv")
        headers = {"Authorization": f"Bearer {key}", **ASYNC}
        async with world.http.post(
            f"{world.url}/api/v1/imports", data=form, headers=headers, chunked=True
        ) as r:
            assert r.status == 413, await r.text()
        assert pending_uploads(world) == [] and await transactions(world) == 0
        # Under the limit: queued and imported.
        status, _, headers = await post(world, key, EARNINGS, headers=ASYNC)
        assert status == 202
        await asyncio.wait_for(world.container.jobs.join(), 30)
        assert (await job_status(world, key, headers["Location"]))[1]["job"]["state"] == "done"
    finally:
        await world.aclose()


async def test_an_excel_workbook_imports_at_once_and_in_the_background(world: HttpWorld) -> None:
    from tests.unit.test_imports import workbook

    key = await api_key(world, "mia")
    rows: list[list[object]] = [["Date", "Amount", "Type", "Fan"]]
    rows.append(["2026-11-20", 40, "Tip", "@leo"])
    status, body, _ = await post(world, key, workbook(("Export", rows)), "earnings.xlsx")
    assert status == 200 and body["import"]["added"] == 1, body
    rows.append(["2026-11-21", 15, "Tip", "@ann"])
    status, body, headers = await post(
        world, key, workbook(("Export", rows)), "earnings.xlsx", headers=ASYNC
    )
    assert status == 202, body
    await asyncio.wait_for(world.container.jobs.join(), 30)
    status, body = await job_status(world, key, headers["Location"])
    report = body["job"]["import"]
    assert (body["job"]["state"], report["added"], report["unchanged"]) == ("done", 1, 1)
    assert await transactions(world) == 2
