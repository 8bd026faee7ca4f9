"""The ``BlobStore`` contract, run against a local directory and S3 (moto's server on 127.0.0.1).

Includes streams larger than one S3 part (multipart upload) and streams that fail or are
cancelled half-way: they must leave no object, no temporary file and no pending multipart upload.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import storage.blobs
from core.errors import NotFound, ServiceUnavailable
from core.ports import BlobStore, Written
from storage.blobs import MIN_PART_SIZE, LocalBlobStore, S3BlobStore, blob_key, check_key
from tests.fakes.s3_server import S3Endpoint
from tests.services import free_port

MiB = 1024 * 1024


@dataclass
class BlobHarness:
    store: BlobStore
    leftovers: Callable[[], list[str]]  # temp files / pending uploads after a failed stream


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobHarness:
    if request.param == "local":
        root = tmp_path / "vault"
        local = LocalBlobStore(root)

        def local_leftovers() -> list[str]:
            if not root.exists():
                return []
            return [str(p) for p in root.rglob("*") if p.is_file() and p.name.startswith(".")]

        return BlobHarness(local, local_leftovers)

    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    s3 = endpoint.blob_store(part_size=MIN_PART_SIZE, multipart_threshold=MIN_PART_SIZE)
    client = endpoint.client()

    def s3_leftovers() -> list[str]:
        uploads = client.list_multipart_uploads(Bucket=endpoint.bucket).get("Uploads", [])
        return [f"{u['Key']} ({u['UploadId']})" for u in uploads]

    return BlobHarness(s3, s3_leftovers)


def key_for(data: bytes) -> str:
    return blob_key(hashlib.sha256(data).hexdigest())


async def chunked(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]
        await asyncio.sleep(0)


class Boom(Exception):
    pass


async def test_put_get_exists_delete(blobs: BlobHarness) -> None:
    store = blobs.store
    data = b"\x00\xffhello vault" * 10
    key = key_for(data)
    assert await store.exists(key) is False
    await store.put(key, data, "application/octet-stream")
    assert await store.exists(key) is True
    assert await store.get(key) == data

    await store.put(key, b"replaced", "text/plain")
    assert await store.get(key) == b"replaced"

    await store.delete(key)
    assert await store.exists(key) is False
    await store.delete(key)  # deleting what is gone is fine
    with pytest.raises(NotFound):
        await store.get(key)


async def test_stream_reads_a_blob_back_in_chunks(blobs: BlobHarness) -> None:
    data = os.urandom(MiB + 4321)
    key = key_for(data)
    await blobs.store.put(key, data, "video/mp4")
    chunks = [c async for c in await blobs.store.stream(key, chunk_size=256 * 1024)]
    assert b"".join(chunks) == data and len(chunks) == 5
    assert max(map(len, chunks)) <= 256 * 1024

    early = await blobs.store.stream(key, chunk_size=1024)  # a reader that stops early
    assert len(await early.__anext__()) == 1024
    await early.aclose()
    with pytest.raises(NotFound):  # raised when asked, before any chunk
        await blobs.store.stream(key_for(b"never stored"))
    empty = key_for(b"")
    await blobs.store.put(empty, b"", "text/plain")
    assert [c async for c in await blobs.store.stream(empty)] == []


def open_files_under(root: Path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if str(root) in os.path.realpath(fd))


async def test_local_stream_closes_its_file_when_the_reader_stops(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "vault")
    await store.put("a/b", b"x" * 10_000, "text/plain")
    early = await store.stream("a/b", chunk_size=100)
    await early.__anext__()
    assert open_files_under(tmp_path / "vault") == 1
    await early.aclose()
    assert open_files_under(tmp_path / "vault") == 0


async def test_empty_blob(blobs: BlobHarness) -> None:
    key = key_for(b"")
    await blobs.store.put(key, b"", "text/plain")
    assert await blobs.store.get(key) == b""
    written = await blobs.store.put_stream(key_for(b"x"), chunked(b"", 10), "text/plain")
    assert written == Written(0, hashlib.sha256(b"").hexdigest())
    assert await blobs.store.get(key_for(b"x")) == b""


async def test_small_stream(blobs: BlobHarness) -> None:
    data = os.urandom(300_000)
    key = key_for(data)
    written = await blobs.store.put_stream(key, chunked(data, 64 * 1024), "image/jpeg")
    assert written == Written(len(data), hashlib.sha256(data).hexdigest())
    assert await blobs.store.get(key) == data
    assert blobs.leftovers() == []


async def test_large_stream_in_uneven_chunks(blobs: BlobHarness) -> None:
    data = os.urandom(11 * MiB + 12345)  # three parts: 5 MiB, 5 MiB, the rest
    key = key_for(data)
    written = await blobs.store.put_stream(key, chunked(data, 3 * MiB + 17), "video/mp4")
    assert written == Written(len(data), hashlib.sha256(data).hexdigest())
    assert await blobs.store.get(key) == data
    assert blobs.leftovers() == []
    if isinstance(blobs.store, S3BlobStore):
        head = blobs.store.client.head_object(Bucket=blobs.store.bucket, Key=key)
        assert head["ETag"].strip('"').endswith("-3"), head["ETag"]  # a 3-part multipart upload
        assert head["ContentType"] == "video/mp4"


async def test_failed_stream_leaves_nothing(blobs: BlobHarness) -> None:
    key = blob_key("f" * 64)

    async def failing() -> AsyncIterator[bytes]:
        yield os.urandom(6 * MiB)  # more than one part has gone up
        yield os.urandom(1 * MiB)
        raise Boom("client went away")

    with pytest.raises(Boom):
        await blobs.store.put_stream(key, failing(), "video/mp4")
    assert await blobs.store.exists(key) is False
    assert blobs.leftovers() == []


async def test_cancelled_stream_leaves_nothing(blobs: BlobHarness) -> None:
    key = blob_key("e" * 64)
    first_part_sent = asyncio.Event()
    never = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        yield os.urandom(MIN_PART_SIZE)  # a full part: S3 starts a multipart upload
        first_part_sent.set()  # asked for more: the first part is written / going up
        await never.wait()
        yield b"never"

    task = asyncio.create_task(blobs.store.put_stream(key, stalls(), "video/mp4"))
    await asyncio.wait_for(first_part_sent.wait(), timeout=30)
    if isinstance(blobs.store, S3BlobStore):
        assert blobs.leftovers() != []  # the upload is pending before the cancellation
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await blobs.store.exists(key) is False
    assert blobs.leftovers() == []


async def test_ping(blobs: BlobHarness) -> None:
    assert await blobs.store.ping() is True


async def test_scan_lists_what_is_under_a_prefix(
    blobs: BlobHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    wanted = {f"acct/7/up/{n:04d}": bytes(n % 50) for n in range(23)}
    for key, data in wanted.items():
        await blobs.store.put(key, data, "application/octet-stream")
    await blobs.store.put("acct/70/up/x", b"other account", "text/plain")
    await blobs.store.put("pending/7/x.csv", b"a,b", "text/csv")
    monkeypatch.setattr(storage.blobs, "SCAN_PAGE", 5)  # several pages
    got = {info.key: info async for info in blobs.store.scan("acct/7/")}
    everything = {info.key async for info in blobs.store.scan("")}
    assert set(got) == set(wanted)
    assert all(got[k].size == len(v) for k, v in wanted.items())
    assert all(before < info.modified <= datetime.now(UTC) for info in got.values())
    assert everything == set(wanted) | {"acct/70/up/x", "pending/7/x.csv"}
    assert [info async for info in blobs.store.scan("nothing/here/")] == []


async def test_local_clear_partial_removes_only_dead_temporary_files(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    await store.put("acct/1/up/done", b"finished", "text/plain")
    folder, elsewhere = tmp_path / "acct" / "1" / "up", tmp_path / "pending" / "1"
    elsewhere.mkdir(parents=True)
    dead, live, other = folder / ".tmp-dead", folder / ".tmp-live", elsewhere / ".tmp-dead"
    for path in (dead, live, other):
        path.write_bytes(b"half a file")
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).timestamp()
    for path in (dead, other):
        os.utime(path, (two_days_ago, two_days_ago))
    assert await store.clear_partial("acct/", datetime.now(UTC) - timedelta(hours=1)) == 1
    assert not dead.exists() and live.exists() and other.exists()
    assert await store.get("acct/1/up/done") == b"finished"
    assert [i.key async for i in store.scan("acct/")] == ["acct/1/up/done"]  # no temp files


async def test_s3_clear_partial_aborts_old_multipart_uploads(s3_endpoint: S3Endpoint) -> None:
    store, client, bucket = s3_endpoint.blob_store(), s3_endpoint.client(), s3_endpoint.bucket
    ours = client.create_multipart_upload(Bucket=bucket, Key="acct/1/up/killed")["UploadId"]
    client.upload_part(
        Bucket=bucket, Key="acct/1/up/killed", UploadId=ours, PartNumber=1, Body=b"x" * 1024
    )
    client.create_multipart_upload(Bucket=bucket, Key="pending/1/other")

    def open_uploads() -> list[str]:
        return [u["Key"] for u in client.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]

    # moto reports every upload as initiated on 2010-11-10: "young" is before that here.
    assert await store.clear_partial("acct/", datetime(2000, 1, 1, tzinfo=UTC)) == 0
    assert sorted(open_uploads()) == ["acct/1/up/killed", "pending/1/other"]
    assert await store.clear_partial("acct/", datetime.now(UTC)) == 1
    assert open_uploads() == ["pending/1/other"]


def test_blob_key() -> None:
    digest = hashlib.sha256(b"x").hexdigest()
    assert blob_key(digest) == f"{digest[:2]}/{digest[2:4]}/{digest}"
    assert blob_key(digest.upper()) == blob_key(digest)
    for bad in ("", "abc", "g" * 64, "../" + "a" * 61):
        with pytest.raises(ValueError):
            blob_key(bad)


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", "a//b", "a/./b", ""])
def test_keys_cannot_escape(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


async def test_local_store_refuses_escaping_keys(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "vault")
    with pytest.raises(ValueError):
        await store.put("../outside", b"x", "text/plain")
    assert not (tmp_path / "outside").exists()


async def test_local_ping_false_when_root_unusable(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    assert await LocalBlobStore(a_file / "vault").ping() is False


async def test_s3_ping_false_for_a_missing_bucket(s3_endpoint: S3Endpoint) -> None:
    store = S3BlobStore(
        "no-such-bucket-here",
        endpoint_url=s3_endpoint.url,
        access_key_id=s3_endpoint.access_key_id,
        secret_access_key=s3_endpoint.secret_access_key,
    )
    assert await store.ping() is False


async def test_s3_unreachable_is_service_unavailable() -> None:
    store = S3BlobStore(
        "bucket",
        endpoint_url=f"http://127.0.0.1:{free_port()}",
        access_key_id="x",
        secret_access_key="y",
        max_attempts=1,
        connect_timeout=1,
    )
    assert await store.ping() is False
    with pytest.raises(ServiceUnavailable):
        await store.put(blob_key("a" * 64), b"x", "text/plain")
    with pytest.raises(ServiceUnavailable):
        await store.get(blob_key("a" * 64))


def test_s3_part_size_has_a_floor() -> None:
    with pytest.raises(ValueError):
        S3BlobStore("bucket", client=object(), part_size=MIN_PART_SIZE - 1)


async def test_s3_streams_below_the_threshold_go_as_one_put(s3_endpoint: S3Endpoint) -> None:
    store = s3_endpoint.blob_store(part_size=MIN_PART_SIZE, multipart_threshold=12 * MiB)

    async def etag_of(size: int) -> str:
        data = os.urandom(size)
        key = key_for(data)
        assert (await store.put_stream(key, chunked(data, 1 * MiB + 7), "video/mp4")).size == size
        assert await store.get(key) == data
        head = store.client.head_object(Bucket=store.bucket, Key=key)
        return str(head["ETag"]).strip('"')

    assert "-" not in await etag_of(12 * MiB - 1)  # one PutObject, though it spans two parts
    assert (await etag_of(12 * MiB)).endswith("-3")  # at the threshold: parts of 5, 5 and 2 MiB
    assert (
        s3_endpoint.client().list_multipart_uploads(Bucket=s3_endpoint.bucket).get("Uploads", [])
        == []
    )


@pytest.mark.parametrize("endpoint", ["http://127.0.0.1:9000", "https://s3.example.com", None])
def test_s3_bodies_are_checked_by_checksum_not_by_signature(endpoint: str | None) -> None:
    """Over plain http as over https: no payload signing and no CRC32 from botocore, since
    every put carries the SHA-256 the store makes itself."""
    store = S3BlobStore("bucket", endpoint_url=endpoint, access_key_id="a", secret_access_key="b")
    config = store.client.meta.config
    assert config.request_checksum_calculation == "when_required"
    assert config.s3["payload_signing_enabled"] is False


def capture_requests(store: S3BlobStore) -> list[Any]:
    """The requests botocore sends (just before they go out on the wire)."""
    sent: list[Any] = []
    store.client.meta.events.register("before-send.s3", lambda request, **_: sent.append(request))
    return sent


def header(request: Any, name: str) -> str:
    value = request.headers.get(name)
    return value.decode() if isinstance(value, bytes) else str(value)


@pytest.mark.parametrize("size", [3 * MiB + 5, 11 * MiB + 12345])  # one PutObject; 3 parts
async def test_s3_sends_each_body_with_its_sha256_unsigned(
    s3_endpoint: S3Endpoint, size: int
) -> None:
    store = s3_endpoint.blob_store(part_size=MIN_PART_SIZE, multipart_threshold=6 * MiB)
    sent = capture_requests(store)
    data = os.urandom(size)
    key = key_for(data)
    await store.put_stream(key, chunked(data, 1 * MiB + 7), "video/mp4")
    bodies = [r for r in sent if r.method == "PUT"]
    assert len(bodies) == (1 if size < 6 * MiB else 3)
    offset = 0
    for request in bodies:
        length = int(header(request, "Content-Length"))
        piece = data[offset : offset + length]
        offset += length
        assert header(request, "x-amz-content-sha256") == "UNSIGNED-PAYLOAD"
        expected = base64.b64encode(hashlib.sha256(piece).digest()).decode()
        assert header(request, "x-amz-checksum-sha256") == expected
        assert "x-amz-checksum-crc32" not in request.headers
    assert offset == size
    assert await store.get(key) == data
    if size < 6 * MiB:  # the server keeps the object's checksum
        head = store.client.head_object(Bucket=store.bucket, Key=key, ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


async def test_s3_put_is_sent_with_its_sha256(s3_endpoint: S3Endpoint) -> None:
    store = s3_endpoint.blob_store()
    sent = capture_requests(store)
    data = b"a small csv,1\n" * 100
    await store.put(key_for(data), data, "text/csv")
    (request,) = sent
    assert (
        header(request, "x-amz-checksum-sha256")
        == base64.b64encode(hashlib.sha256(data).digest()).decode()
    )
    assert await store.get(key_for(data)) == data


async def test_s3_retried_put_sends_the_whole_body_again(s3_endpoint: S3Endpoint) -> None:
    """botocore rewinds the body for a retry: the chunks are sent again from the start."""
    store = s3_endpoint.blob_store()
    sent = capture_requests(store)
    retried: list[int] = []

    def retry_once(attempts: int, **_: Any) -> float | None:
        if attempts == 1:
            retried.append(attempts)
            return 0.0  # "retry now", after the first attempt really went through
        return None

    store.client.meta.events.register_first("needs-retry.s3.PutObject", retry_once)
    data = os.urandom(2 * MiB + 3)
    written = await store.put_stream(key_for(data), chunked(data, 300_001), "video/mp4")
    assert retried == [1] and len(sent) == 2
    assert written == Written(len(data), hashlib.sha256(data).hexdigest())
    assert await store.get(key_for(data)) == data


def test_chunks_body_reads_views_and_seeks() -> None:
    from storage.blobs import _ChunksBody

    chunks = [b"abc", memoryview(b"xdefg")[1:], b"", b"hij"]
    body = _ChunksBody(chunks)
    assert len(body) == 10
    assert bytes(body.read(2)) == b"ab" and body.tell() == 2
    assert bytes(body.read(100)) == b"c"  # a block never spans two chunks
    assert bytes(body.read()) == b"defg"
    assert bytes(body.read(3)) == b"hij" and body.read(3) == b""
    assert body.seek(0) == 0 and bytes(body.read(-1)) == b"abc"
    assert body.seek(4) == 4 and bytes(body.read(10)) == b"efg"
    assert body.seek(-2, 2) == 8 and bytes(body.read()) == b"ij"
    assert body.seek(5, 2) == 10 and body.read() == b""
    assert body.sha256().digest() == hashlib.sha256(b"abcdefghij").digest()


async def test_s3_part_that_fails_mid_upload_aborts_it(s3_endpoint: S3Endpoint) -> None:
    """The server refuses part 2 while part 3 is being read: the error surfaces, the multipart
    upload is aborted, no object appears."""
    real = s3_endpoint.client()

    class RefusesPartTwo:
        def __getattr__(self, name: str) -> Any:
            return getattr(real, name)

        def upload_part(self, **kwargs: Any) -> Any:
            if kwargs["PartNumber"] == 2:
                raise Boom("the S3 server refused part 2")
            return real.upload_part(**kwargs)

    store = S3BlobStore(
        s3_endpoint.bucket,
        client=RefusesPartTwo(),
        part_size=MIN_PART_SIZE,
        multipart_threshold=MIN_PART_SIZE,
    )
    data = os.urandom(4 * MIN_PART_SIZE)
    key = key_for(data)
    with pytest.raises(Boom):
        await store.put_stream(key, chunked(data, 1 * MiB), "video/mp4")
    assert await store.exists(key) is False
    assert real.list_multipart_uploads(Bucket=s3_endpoint.bucket).get("Uploads", []) == []
