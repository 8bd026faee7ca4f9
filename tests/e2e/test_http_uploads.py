"""``POST /api/v1/uploads`` and ``GET /api/v1/assets`` on the real HTTP server, with the local
blob store and with S3 (moto's server on 127.0.0.1, through boto3)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.contract.test_blob_contract import open_files_under
from tests.fakes.clock import FakeClock
from tests.fakes.s3_server import S3Endpoint
from tests.fakes.stripe_api import HttpWorld, start_world

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40
PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n" + b"1 0 obj << >> endobj\n" * 200
MP4_HEAD = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
MiB = 1024 * 1024


def mp4(size: int, seed: int = 0) -> bytes:
    body = hashlib.sha256(str(seed).encode()).digest() * (size // 32 + 1)
    return (MP4_HEAD + body)[:size]


@pytest.fixture(params=["local", "s3"])
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def s3(
    store_kind: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> S3Endpoint | None:
    if store_kind != "s3":
        return None
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", endpoint.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", endpoint.secret_access_key)
    return endpoint


def s3_settings(s3: S3Endpoint | None) -> dict[str, Any]:
    if s3 is None:
        return {}
    # Multipart from 8 MiB (the default is 32), so that these tests' 10-14 MiB files take the
    # multipart path; test_large_files_stream_into_s3[default-one-put] covers the default.
    return {
        "s3_bucket": s3.bucket,
        "s3_endpoint_url": s3.url,
        "s3_region": s3.region,
        "s3_multipart_mb": 8,
    }


@pytest.fixture
async def world(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock, s3: S3Endpoint | None
) -> AsyncIterator[HttpWorld]:
    w = await start_world(migrated_sqlite_url, tmp_path, clock, **s3_settings(s3))
    try:
        yield w
    finally:
        await w.aclose()


async def api_key(world: HttpWorld, user: str) -> str:
    reply = await world.say(user, "/apikey")
    return str(reply.result["key"])


async def upload(
    world: HttpWorld,
    key: str | None,
    data: bytes,
    filename: str = "photo.png",
    content_type: str = "image/png",
    fields: dict[str, str] | None = None,
) -> tuple[int, Any]:
    form = aiohttp.FormData()
    for name, value in (fields or {}).items():
        form.add_field(name, value)
    form.add_field("file", data, filename=filename, content_type=content_type)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with world.http.post(f"{world.url}/api/v1/uploads", data=form, headers=headers) as r:
        return r.status, await r.json()


async def assets(world: HttpWorld, key: str, **params: str) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    async with world.http.get(f"{world.url}/api/v1/assets", headers=headers, params=params) as r:
        return r.status, await r.json()


def stored_blobs(world: HttpWorld, s3: S3Endpoint | None) -> list[str]:
    """Every object in the blob store (temporary files and pending multipart uploads too)."""
    if s3 is None:
        root = world.container.settings.blob_root
        return [str(p) for p in root.rglob("*") if p.is_file() and not p.name.startswith(".ping")]
    client = s3.client()
    objects = client.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
    uploads = client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])
    return [o["Key"] for o in objects] + [f"multipart:{u['Key']}" for u in uploads]


async def asset_rows(world: HttpWorld) -> int:
    from sqlalchemy import func, select

    from storage.tables import AssetRow

    async with world.store.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(AssetRow)) or 0)


# ---------------------------------------------------------------- storing


async def test_upload_sniffs_stores_and_dedupes(world: HttpWorld, s3: S3Endpoint | None) -> None:
    key = await api_key(world, "mia")
    status, body = await upload(world, key, PNG, fields={"tags": "#beach, sunset"})
    assert status == 201, body
    asset = body["asset"]
    assert body["created"] is True
    assert asset["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert (asset["mime"], asset["size"], asset["source"]) == ("image/png", len(PNG), "api")
    assert asset["tags"] == ["beach", "sunset"]
    assert "blob_key" not in asset

    status, again = await upload(world, key, PNG, filename="copy.png")
    assert (status, again["created"], again["asset"]["id"]) == (200, False, asset["id"])
    assert len(stored_blobs(world, s3)) == 1

    status, listed = await assets(world, key)
    assert status == 200 and [a["id"] for a in listed["assets"]] == [asset["id"]]
    tagged = await assets(world, key, tag="beach")
    assert len(tagged[1]["assets"]) == 1
    assert (await assets(world, key, tag="nope"))[1]["assets"] == []
    # The bytes are really there.
    account = await world.identity("mia")
    [row] = await world.store.assets.list(account.id)
    assert await world.container.blobs.get(row.blob_key) == PNG
    vault = await world.say("mia", "/vault")
    assert "photo.png" in vault.plain_text


@pytest.mark.parametrize("multipart", [True, False], ids=["multipart", "default-one-put"])
async def test_large_files_stream_into_s3(
    migrated_sqlite_url: str,
    tmp_path: Path,
    clock: FakeClock,
    s3_endpoint: S3Endpoint,
    monkeypatch: pytest.MonkeyPatch,
    multipart: bool,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_endpoint.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_endpoint.secret_access_key)
    settings = s3_settings(s3_endpoint)
    if not multipart:
        del settings["s3_multipart_mb"]  # the product's default: one PutObject below 32 MiB
    world = await start_world(migrated_sqlite_url, tmp_path, clock, **settings)
    try:
        key = await api_key(world, "mia")
        data = mp4(12 * MiB + 12345, seed=1)
        status, body = await upload(world, key, data, "clip.mp4", "video/mp4")
        assert status == 201, body
        assert body["asset"]["size"] == len(data)
        assert body["asset"]["mime"] == "video/mp4"
        [name] = stored_blobs(world, s3_endpoint)
        head = s3_endpoint.client().head_object(Bucket=s3_endpoint.bucket, Key=name)
        assert head["ContentLength"] == len(data)
        # A multipart upload's ETag is "<md5 of the parts' md5s>-<parts>"; one PutObject's, an md5.
        if multipart:
            assert head["ETag"].strip('"').endswith("-2"), head["ETag"]
        else:
            assert head["ETag"].strip('"') == hashlib.md5(data).hexdigest()
        account = await world.identity("mia")
        [row] = await world.store.assets.list(account.id)
        assert hashlib.sha256(await world.container.blobs.get(row.blob_key)).hexdigest() == (
            hashlib.sha256(data).hexdigest()
        )
    finally:
        await world.aclose()


async def test_the_same_bytes_from_two_accounts_are_two_assets(world: HttpWorld) -> None:
    mia, zoe = await api_key(world, "mia"), await api_key(world, "zoe")
    assert (await upload(world, mia, PNG))[0] == 201
    assert (await upload(world, zoe, PNG))[0] == 201
    assert len((await assets(world, mia))[1]["assets"]) == 1
    assert len((await assets(world, zoe))[1]["assets"]) == 1


# ---------------------------------------------------------------- refusals


async def test_over_the_limit_is_413_and_leaves_nothing(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock, s3: S3Endpoint | None
) -> None:
    w = await start_world(migrated_sqlite_url, tmp_path, clock, max_upload_mb=1, **s3_settings(s3))
    try:
        key = await api_key(w, "mia")
        big = mp4(3 * MiB)
        status, body = await upload(w, key, big, filename="big.mp4", content_type="video/mp4")
        assert status == 413, body  # refused from Content-Length, before reading
        assert "limit" in body["error"]

        async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: refused mid-stream
            boundary = b"--XyZ\r\n"
            yield boundary
            yield b'Content-Disposition: form-data; name="file"; filename="big.mp4"\r\n'
            yield b"Content-Type: video/mp4\r\n\r\n"
            for i in range(0, len(big), 256 * 1024):
                yield big[i : i + 256 * 1024]
            yield b"\r\n--XyZ--\r\n"

        headers = {
            "Authorization": f"Bearer {key}",
            "Content-Type": "multipart/form-data; boundary=XyZ",
        }
        async with w.http.post(f"{w.url}/api/v1/uploads", data=chunked(), headers=headers) as r:
            assert r.status == 413
        assert stored_blobs(w, s3) == []
        assert await asset_rows(w) == 0
    finally:
        await w.aclose()


@pytest.mark.parametrize(
    ("data", "filename", "content_type"),
    [
        (b"just some text, not a picture\n" * 50, "photo.png", "image/png"),
        (PDF, "photo.jpg", "image/jpeg"),
        (PNG, "report.pdf", "application/octet-stream"),
        (b"MZ\x90\x00" + b"\x00" * 4000, "tool.exe", "application/octet-stream"),
    ],
    ids=["text-as-png", "pdf-as-jpeg", "png-named-pdf", "executable"],
)
async def test_a_file_that_is_not_what_it_claims_is_415(
    world: HttpWorld, s3: S3Endpoint | None, data: bytes, filename: str, content_type: str
) -> None:
    key = await api_key(world, "mia")
    status, body = await upload(world, key, data, filename=filename, content_type=content_type)
    assert status == 415, body
    assert stored_blobs(world, s3) == []
    assert await asset_rows(world) == 0


async def test_honest_files_of_other_kinds_are_kept(world: HttpWorld) -> None:
    key = await api_key(world, "mia")
    assert (await upload(world, key, PDF, "rates.pdf", "application/pdf"))[0] == 201
    # A generic declared type is fine when the name and the bytes agree.
    status, body = await upload(world, key, mp4(4096), "clip.mp4", "application/octet-stream")
    assert (status, body["asset"]["mime"]) == (201, "video/mp4")


async def test_bad_requests_are_400(world: HttpWorld) -> None:
    key = await api_key(world, "mia")
    assert (await upload(world, key, b"", "empty.png"))[0] == 400
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "image/png"}
    async with world.http.post(f"{world.url}/api/v1/uploads", data=PNG, headers=headers) as r:
        assert r.status == 400 and "multipart" in (await r.json())["error"]
    form = aiohttp.FormData()
    form.add_field("caption", "no file here")
    async with world.http.post(
        f"{world.url}/api/v1/uploads", data=form, headers={"Authorization": f"Bearer {key}"}
    ) as r:
        assert r.status == 400


# ---------------------------------------------------------------- keys and tenancy


async def test_keys_are_required_and_scoped_to_their_account(world: HttpWorld) -> None:
    mia, zoe = await api_key(world, "mia"), await api_key(world, "zoe")
    assert (await upload(world, None, PNG))[0] == 401
    assert (await upload(world, "hz_not-a-real-key", PNG))[0] == 401
    status, body = await upload(world, zoe, PNG)
    assert status == 201
    zoe_asset = body["asset"]["id"]

    status, listed = await assets(world, mia)
    assert status == 200 and listed["assets"] == []  # mia never sees zoe's files
    async with world.http.get(f"{world.url}/api/v1/assets") as r:
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    mia_account = await world.identity("mia")
    assert await world.store.assets.get(mia_account.id, zoe_asset) is None

    await world.say("zoe", "/apikey revoke")
    assert (await assets(world, zoe))[0] == 401
    assert (await upload(world, zoe, PDF, "a.pdf", "application/pdf"))[0] == 401


async def test_list_limit_is_checked(world: HttpWorld) -> None:
    key = await api_key(world, "mia")
    assert (await assets(world, key, limit="0"))[0] == 400
    assert (await assets(world, key, limit="many"))[0] == 400
    assert (await assets(world, key, limit="5"))[0] == 200


async def test_pages_follow_the_cursor_without_repeats_or_gaps(world: HttpWorld) -> None:
    key, zoe = await api_key(world, "mia"), await api_key(world, "zoe")
    ids = []
    for n in range(5):
        status, body = await upload(world, key, mp4(4096, seed=n), f"c{n}.mp4", "video/mp4")
        assert status == 201, body
        ids.append(body["asset"]["id"])
    assert (await upload(world, zoe, PNG))[0] == 201  # never on mia's pages

    seen: list[int] = []
    cursor, pages = None, 0
    while True:
        status, body = await assets(world, key, limit="2", **({"cursor": cursor} if cursor else {}))
        assert status == 200, body
        seen += [a["id"] for a in body["assets"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True) and pages == 3  # newest first, each once

    # A file deleted between two pages - the first page's last one - moves nothing.
    first = (await assets(world, key, limit="2"))[1]
    assert (await asset_call(world, "DELETE", key, first["assets"][-1]["id"]))[0] == 204
    second = (await assets(world, key, limit="2", cursor=first["next_cursor"]))[1]
    assert [a["id"] for a in second["assets"]] == seen[2:4]

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode()

    for bad in (
        "x",
        "%%%",
        b64("yesterday|1"),
        b64("2026-01-01T00:00:00|1"),
        b64("2026-01-01T00:00:00+00:00|0"),
    ):
        status, body = await assets(world, key, cursor=bad)
        assert status == 400 and "cursor" in body["error"], bad


# ---------------------------------------------------------------- one asset, deleting


async def asset_call(world: HttpWorld, method: str, key: str | None, asset_id: Any) -> tuple:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = f"{world.url}/api/v1/assets/{asset_id}"
    async with world.http.request(method, url, headers=headers) as r:
        return r.status, (await r.json() if r.status != 204 else None)


async def test_delete_removes_the_row_and_the_blob(world: HttpWorld, s3: S3Endpoint | None) -> None:
    key = await api_key(world, "mia")
    png = (await upload(world, key, PNG))[1]["asset"]
    pdf = (await upload(world, key, PDF, "a.pdf", "application/pdf"))[1]["asset"]
    assert len(stored_blobs(world, s3)) == 2

    status, body = await asset_call(world, "GET", key, png["id"])
    assert (status, body["asset"]) == (200, png)

    assert await asset_call(world, "DELETE", key, png["id"]) == (204, None)
    assert (await asset_call(world, "GET", key, png["id"]))[0] == 404
    assert (await asset_call(world, "DELETE", key, png["id"]))[0] == 404  # once only
    assert [a["id"] for a in (await assets(world, key))[1]["assets"]] == [pdf["id"]]
    assert len(stored_blobs(world, s3)) == 1 and await asset_rows(world) == 1
    mia = await world.identity("mia")
    assert await world.store.assets.total_size(mia.id) == len(PDF)  # the plan's room is back

    # The same bytes again are a new file with a blob of their own.
    status, body = await upload(world, key, PNG)
    assert (status, body["created"]) == (201, True) and body["asset"]["id"] != png["id"]
    assert len(stored_blobs(world, s3)) == 2
    blob = await world.container.blobs.get(
        (await world.store.assets.get(mia.id, body["asset"]["id"])).blob_key
    )
    assert blob == PNG


async def test_content_downloads_the_stored_bytes(world: HttpWorld, s3: S3Endpoint | None) -> None:
    mia, zoe = await api_key(world, "mia"), await api_key(world, "zoe")
    data = mp4(3 * MiB + 17, seed=5)
    asset = (await upload(world, mia, data, "beach day ☀.mp4", "video/mp4"))[1]["asset"]
    url = f"{world.url}/api/v1/assets/{asset['id']}/content"
    auth = {"Authorization": f"Bearer {mia}"}
    async with world.http.get(url, headers=auth) as r:
        assert r.status == 200 and await r.read() == data
        assert r.headers["Content-Type"] == "video/mp4"
        assert r.headers["ETag"] == f'"{asset["sha256"]}"'
        assert r.headers["Content-Disposition"] == (
            "attachment; filename=\"beach day _.mp4\"; filename*=UTF-8''beach%20day%20%E2%98%80.mp4"
        )
    async with world.http.get(url, headers={**auth, "If-None-Match": r.headers["ETag"]}) as r:
        assert r.status == 304 and await r.read() == b""
    async with world.http.head(url, headers=auth) as r:
        assert r.status == 200 and r.headers["Content-Length"] == str(len(data))

    # A client that goes away mid-download: the blob is closed, the server goes on.
    async with aiohttp.ClientSession() as other, other.get(url, headers=auth) as r:
        assert len(await r.content.readexactly(64 * 1024)) == 64 * 1024
        r.close()
    for _ in range(100):
        if s3 is not None or not open_files_under(world.container.settings.blob_root):
            break
        await asyncio.sleep(0.02)
    assert s3 is not None or not open_files_under(world.container.settings.blob_root)
    async with world.http.get(url, headers=auth) as r:
        assert r.status == 200 and await r.read() == data
    async with world.http.get(url, headers={"Authorization": f"Bearer {zoe}"}) as r:
        assert r.status == 404  # another account's file, whoever asks
    async with world.http.get(url) as r:
        assert r.status == 401

    notes = b"shoot list: beach, gym\n"
    status, body = await upload(world, mia, notes, "notes.txt", "text/plain; charset=utf-8")
    assert status == 201, body
    async with world.http.get(
        f"{world.url}/api/v1/assets/{body['asset']['id']}/content", headers=auth
    ) as r:
        assert r.status == 200 and await r.read() == notes
        assert r.headers["Content-Type"] == body["asset"]["mime"]

    mine = await world.store.assets.get((await world.identity("mia")).id, asset["id"])
    await world.container.blobs.delete(mine.blob_key)  # the bytes went missing
    async with world.http.get(url, headers=auth) as r:
        assert r.status == 404 and "missing" in (await r.json())["error"]


async def test_other_accounts_assets_are_404_and_untouched(
    world: HttpWorld, s3: S3Endpoint | None
) -> None:
    mia, zoe = await api_key(world, "mia"), await api_key(world, "zoe")
    zoe_asset = (await upload(world, zoe, PNG))[1]["asset"]["id"]
    for method in ("GET", "DELETE"):
        assert (await asset_call(world, method, mia, zoe_asset))[0] == 404
        assert (await asset_call(world, method, None, zoe_asset))[0] == 401
        for bad in ("abc", "0", "-1", "99999999999999999999"):
            assert (await asset_call(world, method, zoe, bad))[0] == 404
    assert (await asset_call(world, "GET", zoe, zoe_asset))[0] == 200
    assert await asset_rows(world) == 1 and len(stored_blobs(world, s3)) == 1


# ---------------------------------------------------------------- a client that goes away


async def test_a_client_that_disconnects_halfway_leaves_nothing(
    world: HttpWorld, s3: S3Endpoint | None
) -> None:
    key = await api_key(world, "mia")
    # Past S3's first part (8 MiB) so a multipart upload exists when the client vanishes.
    total = 14 * MiB
    sent = 10 * MiB if s3 is not None else 2 * MiB
    data = mp4(total, seed=7)
    head = (
        b"--B0undary\r\n"
        b'Content-Disposition: form-data; name="file"; filename="clip.mp4"\r\n'
        b"Content-Type: video/mp4\r\n\r\n"
    )
    tail = b"\r\n--B0undary--\r\n"
    port = world.server.port
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST /api/v1/uploads HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Authorization: Bearer {key}\r\n"
        "Content-Type: multipart/form-data; boundary=B0undary\r\n"
        f"Content-Length: {len(head) + total + len(tail)}\r\n\r\n"
    ).encode()
    writer.write(request + head)
    for i in range(0, sent, 256 * 1024):
        writer.write(data[i : i + 256 * 1024])
        await writer.drain()
    await asyncio.sleep(0.3)  # let the server get well into the stream
    writer.transport.abort()  # gone, mid-file

    metrics = world.container.metrics
    store = "s3" if s3 is not None else "local"
    for _ in range(200):  # the handler notices, cleans up, and counts the abort
        if metrics.uploads.labels(store, "aborted")._value.get() >= 1:
            break
        await asyncio.sleep(0.05)
    assert metrics.uploads.labels(store, "aborted")._value.get() == 1
    assert stored_blobs(world, s3) == []
    assert await asset_rows(world) == 0
    # And the server is fine afterwards.
    status, _ = await upload(world, key, PNG)
    assert status == 201
    if s3 is None:
        assert len(os.listdir(world.container.settings.blob_root)) >= 1
