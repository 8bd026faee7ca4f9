"""Blob stores (``core.ports.BlobStore``): a local directory or an S3 bucket.

Keys are the caller's (the vault gives each file its own); ``blob_key(sha256)`` gives a
content-addressed ``"ab/cd/<sha256>"`` for callers that want one.

- ``LocalBlobStore(root_dir)``: writes go to a temporary file in the target directory and are
  renamed into place (``os.replace``), so a reader never sees half a file and an interrupted
  ``put_stream`` leaves nothing behind.
- ``S3BlobStore(bucket, ...)``: one boto3 client, every call through ``asyncio.to_thread``.
  ``put_stream`` sends a stream shorter than ``multipart_threshold`` (32 MiB by default) with
  one ``PutObject``, and a longer one as a multipart upload in parts of ``part_size`` (>= 5 MiB),
  each part read while the one before it goes up; on any failure or cancellation the multipart
  upload is aborted, so no parts are left orphaned and no object appears.

  Why 32 MiB and not boto3's 8: the vault's files are small (the default upload limit is
  20 MiB, and Telegram lets a bot download at most 20 MB), and below that size a multipart
  upload buys nothing but cost: four or five requests (create, two or three parts, complete)
  instead of one, each a round trip, and an incomplete upload to abort when a client goes
  away. Larger files (``MAX_UPLOAD_MB`` raised) still stream with bounded memory. The price is
  up to ``multipart_threshold`` bytes held per upload in flight.

  Integrity: every object and part goes with its SHA-256 (``ChecksumSHA256``), which S3
  checks on arrival, and the body is not signed (the checksum, which is, covers it). A
  stream's chunks are hashed once, in the worker thread that sends them, and handed to botocore
  as they are (``_ChunksBody``), never joined into one buffer.

Both stores' ``put_stream`` return ``Written(size, sha256)`` of the bytes they stored.

Missing blobs raise ``core.errors.NotFound``; an unreachable store raises
``core.errors.ServiceUnavailable``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import io
import os
import re
import tempfile
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from core.errors import NotFound, ServiceUnavailable
from core.ports import BlobInfo, Written

T = TypeVar("T")

MIN_PART_SIZE = 5 * 1024 * 1024  # S3's minimum for every part but the last
DEFAULT_PART_SIZE = 8 * 1024 * 1024
DEFAULT_MULTIPART_THRESHOLD = 32 * 1024 * 1024  # larger streams go as a multipart upload
STREAM_CHUNK = 256 * 1024  # what ``stream`` reads at a time
SCAN_PAGE = 1000  # blobs a ``scan`` lists per step (S3's page size)
BLOB_MISSING_MESSAGE = "That file is no longer in the vault."
BLOB_UNAVAILABLE_MESSAGE = (
    "The file store is not reachable right now; nothing was changed. Please try again in a minute."
)

_NO_FILE = (FileNotFoundError, IsADirectoryError, NotADirectoryError)  # a local key that is no blob
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def blob_key(sha256: str) -> str:
    """``"ab/cd/abcd..."`` for a hex SHA-256 digest."""
    digest = sha256.strip().lower()
    if not _SHA256.match(digest):
        raise ValueError(f"not a hex SHA-256 digest: {sha256!r}")
    return f"{digest[:2]}/{digest[2:4]}/{digest}"


def check_key(key: str) -> str:
    """Refuse keys that could escape the store (``..``, absolute paths, odd characters)."""
    if len(key) > 512 or not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise ValueError(f"invalid blob key: {key!r}")
    return key


# ---------------------------------------------------------------- local directory


class LocalBlobStore:
    """Blobs as files under ``root_dir`` (created on first write)."""

    def __init__(self, root_dir: str | os.PathLike[str]) -> None:
        self._root = Path(root_dir).absolute()

    @property
    def root(self) -> Path:
        return self._root

    def path_for(self, key: str) -> Path:
        return self._root / check_key(key)

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(self._write_all, path, bytes(data))

    def _write_all(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except BaseException:
            _unlink_quietly(tmp)
            raise

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> Written:
        path = self.path_for(key)

        def _open() -> tuple[Any, str]:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
            return os.fdopen(fd, "wb"), tmp

        handle, tmp = await asyncio.to_thread(_open)
        hasher, total = hashlib.sha256(), 0

        def _write(chunk: bytes) -> None:
            handle.write(chunk)
            hasher.update(chunk)  # in the worker thread: hashlib lets go of the GIL

        try:
            async for chunk in chunks:
                if chunk:
                    await asyncio.to_thread(_write, chunk)
                    total += len(chunk)

            def _finish() -> None:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
                os.replace(tmp, path)

            await asyncio.to_thread(_finish)
        except BaseException:
            handle.close()
            _unlink_quietly(tmp)
            raise
        return Written(total, hasher.hexdigest())

    async def get(self, key: str) -> bytes:
        path = self.path_for(key)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except _NO_FILE as error:
            raise NotFound(BLOB_MISSING_MESSAGE) from error

    async def stream(self, key: str, chunk_size: int = STREAM_CHUNK) -> AsyncGenerator[bytes, None]:
        path = self.path_for(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except _NO_FILE as error:
            raise NotFound(BLOB_MISSING_MESSAGE) from error
        return _chunks(handle.read, handle.close, chunk_size)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self.path_for(key).is_file)

    async def delete(self, key: str) -> None:
        path = self.path_for(key)
        await asyncio.to_thread(_unlink_quietly, str(path))

    async def scan(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """Files under the root whose key starts with ``prefix``; the temporary files of writes
        in progress (``.tmp-*``) are not blobs and are left out."""
        walker = os.walk(self._root)

        def _page() -> list[BlobInfo]:
            page: list[BlobInfo] = []
            for folder, dirs, files in walker:
                dirs[:] = [d for d in dirs if not d.startswith(".")]
                relative = Path(folder).relative_to(self._root).as_posix()
                base = "" if relative == "." else relative + "/"
                if not (base.startswith(prefix) or prefix.startswith(base)):
                    dirs[:] = []  # nothing under here can match
                    continue
                for name in files:
                    key = base + name
                    if name.startswith(".") or not key.startswith(prefix):
                        continue
                    try:
                        st = os.stat(os.path.join(folder, name))
                    except FileNotFoundError:  # deleted since the walk saw it
                        continue
                    modified = datetime.fromtimestamp(st.st_mtime, UTC)
                    page.append(BlobInfo(key=key, size=st.st_size, modified=modified))
                if len(page) >= SCAN_PAGE:
                    break
            return page

        while page := await asyncio.to_thread(_page):
            for info in page:
                yield info

    async def clear_partial(self, prefix: str, before: datetime) -> int:
        """Temporary files (``.tmp-*``) under the folder ``prefix`` last written before
        ``before``: a write in progress touches its file with every chunk, so only dead ones
        are that old."""
        start = self._root / prefix.rstrip("/") if prefix.strip("/") else self._root

        def _clear() -> int:
            removed = 0
            for folder, _dirs, files in os.walk(start):
                for name in files:
                    if not name.startswith(".tmp-"):
                        continue
                    path = os.path.join(folder, name)
                    try:
                        if datetime.fromtimestamp(os.stat(path).st_mtime, UTC) < before:
                            os.unlink(path)
                            removed += 1
                    except FileNotFoundError:  # finished (renamed) or removed meanwhile
                        continue
            return removed

        return await asyncio.to_thread(_clear)

    async def ping(self) -> bool:
        """True when the directory exists (or can be created) and is writable."""

        def _probe() -> bool:
            try:
                self._root.mkdir(parents=True, exist_ok=True)
                fd, probe = tempfile.mkstemp(prefix=".ping-", dir=self._root)
                os.close(fd)
                os.unlink(probe)
                return True
            except OSError:
                return False

        return await asyncio.to_thread(_probe)


async def _chunks(
    read: Callable[[int], bytes], close: Callable[[], object], size: int
) -> AsyncGenerator[bytes, None]:
    """``read(size)`` in a worker thread until it returns nothing; ``close()`` in every case."""
    try:
        while chunk := await asyncio.to_thread(read, size):
            yield chunk
    finally:
        await asyncio.to_thread(close)


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


# ---------------------------------------------------------------- S3


Chunk = bytes | memoryview


class _PartBuffer:
    """Chunks held until a part is full. A part is handed on as its chunks (a chunk that
    straddles the boundary split without copying), never joined: ``_ChunksBody`` sends them
    as they are."""

    def __init__(self, part_size: int) -> None:
        self.part_size = part_size
        self.chunks: list[Chunk] = []
        self.size = 0  # bytes held
        self.total = 0  # bytes seen

    @property
    def full(self) -> bool:
        return self.size >= self.part_size

    def add(self, chunk: Chunk) -> None:
        if chunk:
            self.chunks.append(chunk)
            self.size += len(chunk)
            self.total += len(chunk)

    def take_all(self) -> list[Chunk]:
        chunks, self.chunks, self.size = self.chunks, [], 0
        return chunks

    def take_part(self) -> list[Chunk]:
        """Exactly ``part_size`` bytes; the rest of a straddling chunk stays for the next part."""
        need, out = self.part_size, []
        while need:
            chunk = self.chunks.pop(0)
            if len(chunk) <= need:
                out.append(chunk)
                need -= len(chunk)
            else:
                view = memoryview(chunk)
                out.append(view[:need])
                self.chunks.insert(0, view[need:])
                need = 0
        self.size -= self.part_size
        return out


class _ChunksBody:
    """A request body read straight out of the received chunks, for botocore.

    botocore wraps a ``bytes`` body in a ``BytesIO`` and urllib3 reads it 128 KiB at a time, so
    a body joined from its chunks was copied twice more before the socket. Here ``read`` hands
    out views of the chunks themselves (urllib3 sends any bytes-like block); ``seek(0)`` lets
    botocore rewind for a retry. The body is never signed (``payload_signing_enabled`` is off):
    S3 checks the ``ChecksumSHA256`` sent with it instead, so botocore never reads it to hash it.
    """

    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = [memoryview(chunk) for chunk in chunks if len(chunk)]
        self._size = sum(map(len, self._chunks))
        self._index = self._offset = self._position = 0

    def __len__(self) -> int:
        return self._size

    def sha256(self) -> Any:
        hasher = hashlib.sha256()
        for chunk in self._chunks:
            hasher.update(chunk)
        return hasher

    def tell(self) -> int:
        return self._position

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._size}[whence]
        target = min(max(target + offset, 0), self._size)
        self._index = self._offset = 0
        self._position = target
        while self._index < len(self._chunks) and target >= len(self._chunks[self._index]):
            target -= len(self._chunks[self._index])
            self._index += 1
        self._offset = target
        return self._position

    def read(self, size: int = -1) -> memoryview | bytes:
        """The next block: at most ``size`` bytes (all of the current chunk when negative)."""
        if self._index >= len(self._chunks):
            return b""
        chunk = self._chunks[self._index]
        end = len(chunk) if size < 0 else min(len(chunk), self._offset + size)
        block = chunk[self._offset : end]
        self._offset = end
        if end == len(chunk):
            self._index, self._offset = self._index + 1, 0
        self._position += len(block)
        return block


def _checksum(hasher: Any) -> str:
    """A SHA-256 as S3's ``x-amz-checksum-sha256`` carries it (base64)."""
    return base64.b64encode(hasher.digest()).decode()


class S3BlobStore:
    """Blobs in an S3 (or S3-compatible) bucket, through one boto3 client.

    ``client`` may be passed in (tests, custom sessions); otherwise one is built from the
    arguments. Credentials left as None come from the usual boto3 chain (env, profile, role).
    """

    def __init__(
        self,
        bucket: str,
        endpoint_url: str | None = None,
        region: str | None = "us-east-1",
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
        session_token: str | None = None,
        *,
        client: Any | None = None,
        part_size: int = DEFAULT_PART_SIZE,
        multipart_threshold: int = DEFAULT_MULTIPART_THRESHOLD,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
    ) -> None:
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes (S3's minimum)")
        self.bucket = bucket
        self.part_size = part_size
        self.multipart_threshold = multipart_threshold
        if client is None:
            import boto3
            from botocore.config import Config

            config = Config(
                region_name=region,
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"mode": "standard", "max_attempts": max_attempts},
                max_pool_connections=32,
                # Bodies go unsigned: every object and part is sent with its SHA-256 as
                # ``ChecksumSHA256``, which S3 checks on arrival and keeps with the object. For
                # a stream that hash is the one the store makes anyway, so no byte is hashed a
                # second time (botocore signed the body's SHA-256 over plain http and added a
                # CRC32 over https, each another pass over every byte).
                s3={
                    "payload_signing_enabled": False,
                    **({"addressing_style": "path"} if endpoint_url else {}),
                },
                request_checksum_calculation="when_required",
            )
            client = boto3.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                aws_access_key_id=access_key_id,
                aws_secret_access_key=secret_access_key,
                aws_session_token=session_token,
                config=config,
            )
        self.client = client

    async def _call(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except Exception as error:
            if _is_unavailable(error):
                raise ServiceUnavailable(BLOB_UNAVAILABLE_MESSAGE) from error
            raise

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        await self._call(self._put_object, check_key(key), [data], content_type)

    def _put_object(self, key: str, chunks: list[Chunk], content_type: str) -> str:
        """One ``PutObject`` (in a worker thread), hashed here and checked by S3; the hex
        SHA-256."""
        body = _ChunksBody(chunks)
        hasher = body.sha256()
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=body,
            ContentLength=len(body),
            ContentType=content_type,
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=_checksum(hasher),
        )
        return str(hasher.hexdigest())

    async def put_stream(
        self, key: str, chunks: AsyncIterator[bytes], content_type: str
    ) -> Written:
        check_key(key)
        pending = _PartBuffer(self.part_size)
        iterator = chunks.__aiter__()
        # Below the threshold the stream is held: if it ends there, it is one PutObject.
        while pending.size < self.multipart_threshold:
            try:
                pending.add(await iterator.__anext__())
            except StopAsyncIteration:
                size = pending.size
                digest = await self._call(self._put_object, key, pending.take_all(), content_type)
                return Written(size, digest)

        upload_id = await self._create_multipart(key, content_type)
        whole = hashlib.sha256()  # the object's; each part also carries its own
        parts: list[dict[str, Any]] = []
        in_flight: asyncio.Task[dict[str, Any]] | None = None
        ended = False
        try:
            while not ended or pending.size:
                if not ended and not pending.full:
                    try:
                        pending.add(await iterator.__anext__())
                    except StopAsyncIteration:
                        ended = True
                    continue
                part = pending.take_part() if pending.full else pending.take_all()
                # One part in flight at a time: the next one is read while this one goes up
                # (and parts are hashed into ``whole`` in their order).
                if in_flight is not None:
                    # shield: when we are cancelled the part still finishes before the abort.
                    parts.append(await asyncio.shield(in_flight))
                in_flight = asyncio.ensure_future(
                    self._call(self._upload_part, key, upload_id, len(parts) + 1, part, whole)
                )
            if in_flight is not None:
                parts.append(await asyncio.shield(in_flight))
                in_flight = None
            await self._call(
                self.client.complete_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
            )
        except BaseException:
            await asyncio.shield(self._abort(key, upload_id, in_flight))
            raise
        return Written(pending.total, whole.hexdigest())

    def _upload_part(
        self, key: str, upload_id: str, number: int, chunks: list[Chunk], whole: Any
    ) -> dict[str, Any]:
        """One ``UploadPart`` (in a worker thread); the part's entry for the completion."""
        body = _ChunksBody(chunks)
        hasher = body.sha256()
        for chunk in chunks:
            whole.update(chunk)
        checksum = _checksum(hasher)
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=key,
            UploadId=upload_id,
            PartNumber=number,
            Body=body,
            ContentLength=len(body),
            ChecksumAlgorithm="SHA256",
            ChecksumSHA256=checksum,
        )
        return {"ETag": response["ETag"], "PartNumber": number, "ChecksumSHA256": checksum}

    async def _create_multipart(self, key: str, content_type: str) -> str:
        task = asyncio.ensure_future(
            self._call(
                self.client.create_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                ContentType=content_type,
                ChecksumAlgorithm="SHA256",
            )
        )
        try:
            created = await asyncio.shield(task)
        except asyncio.CancelledError:
            # The upload may exist by now: wait for its id so it can be aborted, not orphaned.
            await asyncio.wait({task})
            if not task.cancelled() and task.exception() is None:
                await asyncio.shield(self._abort(key, task.result()["UploadId"], None))
            raise
        return str(created["UploadId"])

    async def _abort(self, key: str, upload_id: str, in_flight: asyncio.Task[Any] | None) -> None:
        if in_flight is not None:
            await asyncio.wait({in_flight})
            if not in_flight.cancelled():
                in_flight.exception()  # mark retrieved; the original error is what matters
        # Best effort: an S3 lifecycle rule for incomplete uploads is the backstop.
        with contextlib.suppress(Exception):
            await asyncio.to_thread(
                self.client.abort_multipart_upload,
                Bucket=self.bucket,
                Key=key,
                UploadId=upload_id,
            )

    async def _body(self, key: str) -> Any:
        """The object's streaming body; ``NotFound`` when there is no such object."""
        try:
            response = await self._call(
                self.client.get_object, Bucket=self.bucket, Key=check_key(key)
            )
        except Exception as error:
            if _is_missing(error):
                raise NotFound(BLOB_MISSING_MESSAGE) from error
            raise
        return response["Body"]

    async def get(self, key: str) -> bytes:
        body = await self._body(key)
        try:
            return await asyncio.to_thread(body.read)
        finally:
            body.close()

    async def stream(self, key: str, chunk_size: int = STREAM_CHUNK) -> AsyncGenerator[bytes, None]:
        body = await self._body(key)
        return _chunks(body.read, body.close, chunk_size)

    async def exists(self, key: str) -> bool:
        try:
            await self._call(self.client.head_object, Bucket=self.bucket, Key=check_key(key))
        except Exception as error:
            if _is_missing(error):
                return False
            raise
        return True

    async def delete(self, key: str) -> None:
        await self._call(self.client.delete_object, Bucket=self.bucket, Key=check_key(key))

    async def scan(self, prefix: str) -> AsyncIterator[BlobInfo]:
        """``ListObjectsV2`` page by page (up to ``SCAN_PAGE`` keys each)."""
        token: str | None = None
        while True:
            extra = {"ContinuationToken": token} if token else {}
            page = await self._call(
                self.client.list_objects_v2,
                Bucket=self.bucket,
                Prefix=prefix,
                MaxKeys=SCAN_PAGE,
                **extra,
            )
            for item in page.get("Contents", []):
                modified = _aware(item["LastModified"])
                yield BlobInfo(key=item["Key"], size=int(item["Size"]), modified=modified)
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def clear_partial(self, prefix: str, before: datetime) -> int:
        """Abort the multipart uploads under ``prefix`` initiated before ``before`` (their parts
        are stored, and billed, until aborted; ``put_stream`` aborts its own unless the process
        dies)."""
        removed = 0
        markers: dict[str, str] = {}
        while True:
            page = await self._call(
                self.client.list_multipart_uploads, Bucket=self.bucket, Prefix=prefix, **markers
            )
            for upload in page.get("Uploads", []):
                if _aware(upload["Initiated"]) >= before:
                    continue
                try:
                    await self._call(
                        self.client.abort_multipart_upload,
                        Bucket=self.bucket,
                        Key=upload["Key"],
                        UploadId=upload["UploadId"],
                    )
                except ServiceUnavailable:
                    raise
                except Exception as error:
                    if _error_code(error) != "NoSuchUpload":  # finished or aborted meanwhile
                        raise
                    continue
                removed += 1
            if not page.get("IsTruncated"):
                return removed
            markers = {
                "KeyMarker": page.get("NextKeyMarker", ""),
                "UploadIdMarker": page.get("NextUploadIdMarker", ""),
            }

    async def ping(self) -> bool:
        """True when the bucket answers ``HeadBucket``."""
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
        except Exception:
            return False
        return True


def _aware(stamp: datetime) -> datetime:
    """A listing's timestamp, as UTC when the server sent it without a zone."""
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _error_code(error: BaseException) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _status(error: BaseException) -> int:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return int(status or 0)
    return 0


def _is_missing(error: BaseException) -> bool:
    return _error_code(error) in ("NoSuchKey", "404", "NotFound") or _status(error) == 404


def _is_unavailable(error: BaseException) -> bool:
    from botocore import exceptions as boto_errors

    if isinstance(
        error,
        boto_errors.EndpointConnectionError
        | boto_errors.ConnectionClosedError
        | boto_errors.ConnectTimeoutError
        | boto_errors.ReadTimeoutError,
    ):
        return True
    return _status(error) >= 500


__all__ = [
    "BLOB_MISSING_MESSAGE",
    "BLOB_UNAVAILABLE_MESSAGE",
    "DEFAULT_PART_SIZE",
    "MIN_PART_SIZE",
    "LocalBlobStore",
    "S3BlobStore",
    "blob_key",
    "check_key",
]
