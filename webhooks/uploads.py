"""The uploads API: ``POST /api/v1/uploads``, ``GET /api/v1/assets`` and ``POST /api/v1/imports``.

Both take ``Authorization: Bearer <key>`` (``/apikey`` in chat makes one; only its SHA-256 is
stored) and only ever see the key's own account.

``GET /api/v1/assets/{id}`` shows one asset, ``GET /api/v1/assets/{id}/content`` downloads it,
``DELETE /api/v1/assets/{id}`` removes it (the row, then its blob: ``VaultService.remove``): 404
when the caller's account has no such asset (whoever else's it may be). ``GET /api/v1/export``
is ``/export``'s ZIP, for an account whose export is more than a chat can carry.

``POST /api/v1/uploads`` takes ``multipart/form-data`` with one file part (``file``; optional
text fields before it: ``tags``, comma- or space-separated, or ``caption``, whose hashtags or
words become tags as for files sent in chat). The file streams, chunk by chunk, through
``VaultService.add_stream`` into the blob store (a local file renamed into place, or S3 with a
multipart upload for large files); nothing is buffered whole. Answers:

- 201 with the asset (``"created": true``), or 200 with the existing one when the account already
  has the same bytes (sha256 de-duplication);
- 400 not multipart or malformed multipart / no file / empty file; 401 no or bad key; 413 over
  the size limit or the plan's vault room; 415 the bytes are not what the upload claims (or not a
  kind the vault keeps); 503 the blob store or the database is down.

A client that disconnects halfway leaves nothing behind: the blob store aborts the partial write
and no row is inserted.

``POST /api/v1/imports`` imports a CSV export (earnings, fans or PPV offers) into the key's
account, as a file sent in chat is (``CsvImporter``), for tools and agencies that fetch exports
on a schedule: ``multipart/form-data`` with a ``file`` part and an optional ``platform`` field
before it ("fansly": where the earnings were made). The file is received whole first (kept in
memory up to 8 MiB, then in a temporary file), so a client that goes away halfway imports
nothing; then imported. Answers 200 with the import report (``import``: rows read, added,
already there, bad rows with line numbers and reasons...; ``text``: the chat's wording), 422
with the same report when the file cannot be imported at all (not CSV, no known columns), 400
not multipart / no file / incomplete, 401, 413 over ``max_import_bytes``, 503 the database is
down (batches written before it went stay; sending the file again adds only the rest).

With ``Prefer: respond-async`` (RFC 7240) the file streams into the blob store and a background
job imports it (as big files sent in chat are): 202 at once with the job (``Location:
/api/v1/imports/{id}``, ``Preference-Applied: respond-async``). ``GET /api/v1/imports/{id}``
answers its status for 7 days: ``state`` queued / running (``progress`` 0–1) / done (``import``
and ``text`` as above) / rejected (the file cannot be imported) / failed (every try failed;
``error`` says why); 404 for another account's job. A server without a job queue or a blob
store imports within the request instead (no ``Preference-Applied``).
"""

from __future__ import annotations

import asyncio
import base64
import functools
import re
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote, unquote

import structlog
from aiohttp import BodyPartReader, ClientError, web
from aiohttp.http_exceptions import BadHttpMessage

from core.app import Assistant
from core.chat import strip_markup
from core.commands.billing import hash_api_key
from core.commands.data import EXPORT_PATH, export_name, export_zip
from core.errors import HuntazeError, NotFound, QuotaExceeded, ServiceUnavailable, UsageError
from core.jobs import ImportStatus, JobQueue, read_import_status, start_import
from core.models import Asset, clean_text, parse_id
from core.ports import ApiKeyRepository, AssetRepository
from core.services.imports import READ_CHUNK, CsvImporter
from core.services.vault import TooLarge, UnsupportedType, VaultService, tags_from_caption
from webhooks.metrics import Metrics

log = structlog.get_logger("huntaze.webhooks.uploads")

UPLOADS_PATH = "/api/v1/uploads"
IMPORTS_PATH = "/api/v1/imports"
IMPORT_PATH = IMPORTS_PATH + "/{job_id}"
IMPORT_IN_MEMORY = 8 * 1024 * 1024  # a bigger import is received into a temporary file
ASSETS_PATH = "/api/v1/assets"
ASSET_PATH = ASSETS_PATH + "/{asset_id}"
CHUNK = 256 * 1024
FORM_OVERHEAD = 1024 * 1024  # headers and text fields around the file part
TEXT_FIELD_LIMIT = 2048


def explicit_tags(text: str, limit: int = 20) -> list[str]:
    """``"#beach, sunset"`` -> ``["beach", "sunset"]``."""
    words = (w.strip().lstrip("#").lower() for w in re.split(r"[,\s]+", text))
    return list(dict.fromkeys(w[:40] for w in words if w))[:limit]


def encode_cursor(asset: Asset) -> str:
    """A page's last asset as an opaque position: ``(created_at, id)``, base64url."""
    assert asset.created_at is not None and asset.id is not None
    raw = f"{asset.created_at.isoformat()}|{asset.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int] | None:
    """``encode_cursor``'s position, or None for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        stamp, _, number = raw.partition("|")
        created_at, asset_id = datetime.fromisoformat(stamp), parse_id(number)
    except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
        return None
    if asset_id is None or created_at.tzinfo is None:
        return None
    return created_at, asset_id


NO_VAULT = "the vault is not configured on this server"
NO_SUCH_ASSET = "no such asset in your vault"


def attachment_header(name: str) -> str:
    """``Content-Disposition`` for a download (RFC 6266): an ASCII fallback name and the real
    one in UTF-8 (RFC 8187). aiohttp's helper is for multipart bodies (names percent-encoded
    inside the quotes, which browsers show as they are)."""
    fallback = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in name)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


async def form_parts(
    request: web.Request, fields: tuple[str, ...]
) -> tuple[dict[str, str], BodyPartReader | None]:
    """A multipart form's text fields named in ``fields`` that come before the file (each read
    up to ``TEXT_FIELD_LIMIT`` bytes), and the file part: the first with a file name, or named
    ``file``; None when there is none. Nested multiparts are skipped."""
    reader = await request.multipart()
    values: dict[str, str] = {}
    while (candidate := await reader.next()) is not None:
        if not isinstance(candidate, BodyPartReader):
            continue
        if candidate.filename is None and candidate.name in fields:
            raw = await candidate.read_chunk(TEXT_FIELD_LIMIT)
            values[candidate.name] = raw.decode("utf-8", "replace")
            continue
        if candidate.filename is not None or candidate.name == "file":
            return values, candidate
    return values, None


def part_name(part: BodyPartReader, default: str) -> str:
    """The file name a form part carries, as the file had it. RFC 7578 lets clients
    percent-encode it (aiohttp's client always does; browsers encode only quotes and line
    breaks); no path separators."""
    return unquote(part.filename or default).replace("/", "_").replace("\\", "_")


def json_error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def asset_json(asset: Asset) -> dict[str, Any]:
    return {
        "id": asset.id,
        "sha256": asset.sha256,
        "size": asset.size,
        "mime": asset.mime,
        "name": asset.name,
        "tags": list(asset.tags),
        "source": asset.source,
        "created_at": asset.created_at.isoformat() if asset.created_at else None,
    }


Route = Callable[["UploadsApi", web.Request], Awaitable[web.StreamResponse]]


def with_account(
    handler: Callable[[UploadsApi, web.Request, int], Awaitable[web.StreamResponse]],
) -> Route:
    """The route runs for the account behind the request's bearer key; 401 without a valid one."""

    @functools.wraps(handler)
    async def route(api: UploadsApi, request: web.Request) -> web.StreamResponse:
        account_id = await api.authenticate(request)
        if account_id is None:
            return api.unauthorized()
        return await handler(api, request, account_id)

    return route


class UploadsApi:
    def __init__(
        self,
        vault: VaultService | None,
        api_keys: ApiKeyRepository,
        assets: AssetRepository,
        *,
        metrics: Metrics | None = None,
        store_name: str = "local",
        chunk_size: int = CHUNK,
        importer: CsvImporter | None = None,
        max_import_bytes: int = 100 * 1024 * 1024,
        assistant: Assistant | None = None,
    ) -> None:
        self.importer = importer
        self.assistant = assistant  # background imports and their statuses
        self.max_import_bytes = max_import_bytes
        self.vault = vault
        self.api_keys = api_keys
        self.assets = assets
        self.metrics = metrics
        self.store_name = store_name
        self.chunk_size = chunk_size

    def _count(self, outcome: str, size: int) -> None:
        if self.metrics is not None:
            self.metrics.upload(self.store_name, outcome, size)

    async def authenticate(self, request: web.Request) -> int | None:
        """The account behind the request's bearer key, or None."""
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return await self.api_keys.account_for(hash_api_key(secret))

    @staticmethod
    def unauthorized() -> web.Response:
        response = json_error(401, "send Authorization: Bearer <key> (/apikey in chat makes one)")
        response.headers["WWW-Authenticate"] = 'Bearer realm="huntaze"'
        return response

    # ------------------------------------------------------------ POST /api/v1/uploads

    @with_account
    async def upload(self, request: web.Request, account_id: int) -> web.Response:
        if self.vault is None:
            return json_error(503, NO_VAULT)
        if not request.content_type.startswith("multipart/"):
            return json_error(400, "send multipart/form-data with a file part named 'file'")
        length = request.content_length
        if length is not None and length > self.vault.max_bytes + FORM_OVERHEAD:
            self._count("too_large", 0)
            return json_error(413, f"the file is {self.vault.too_big(length)}")
        received = 0
        try:
            fields, part = await form_parts(request, ("tags", "caption"))
            if part is None:
                return json_error(400, "no file part: send the file in a part named 'file'")
            if "tags" in fields:
                tags = explicit_tags(fields["tags"])
            else:
                tags = tags_from_caption(fields.get("caption", ""))
            name = part_name(part, "upload")
            declared = part.headers.get("Content-Type", "application/octet-stream")
            chunk_size = self.chunk_size

            async def chunks() -> AsyncIterator[bytes]:
                nonlocal received
                while True:
                    chunk = await part.read_chunk(chunk_size)
                    if not chunk:
                        return
                    received += len(chunk)
                    yield chunk

            asset, created = await self.vault.add_stream(
                account_id, chunks(), name, declared, tags, source="api"
            )
        except TooLarge as exc:
            self._count("too_large", received)
            return json_error(413, exc.message)
        except QuotaExceeded as exc:
            self._count("too_large", received)
            return json_error(413, exc.message)
        except UnsupportedType as exc:
            self._count("unsupported", received)
            return json_error(415, exc.message)
        except UsageError as exc:
            self._count("rejected", received)
            return json_error(400, exc.message)
        except ServiceUnavailable as exc:
            self._count("unavailable", received)
            return json_error(503, exc.message)
        except BadHttpMessage as exc:
            # A part's headers are not valid HTTP (control characters, no colon...).
            self._count("rejected", received)
            log.info("upload_malformed", error=type(exc).__name__, received=received)
            return json_error(400, "the multipart/form-data body is malformed")
        except (ConnectionError, ClientError, asyncio.IncompleteReadError, ValueError) as exc:
            # The client went away (or sent a broken body) midway: nothing was kept.
            self._count("aborted", received)
            log.info("upload_aborted", error=type(exc).__name__, received=received)
            return json_error(400, "the upload did not arrive complete")
        except HuntazeError as exc:
            self._count("rejected", received)
            return json_error(400, exc.message)
        self._count("stored" if created else "duplicate", received)
        log.info("upload_stored", created=created, size=asset.size, mime=asset.mime)
        return web.json_response(
            {"asset": asset_json(asset), "created": created}, status=201 if created else 200
        )

    # ------------------------------------------------------------ POST /api/v1/imports

    @with_account
    async def import_csv(self, request: web.Request, account_id: int) -> web.Response:
        if self.importer is None:
            return json_error(503, "imports are not available on this server")
        if not request.content_type.startswith("multipart/"):
            return json_error(400, "send multipart/form-data with the CSV in a part named 'file'")
        limit = self.max_import_bytes
        too_big = f"the file is over the {limit // (1024 * 1024)} MB import limit"
        length = request.content_length
        if length is not None and length > limit + FORM_OVERHEAD:
            return json_error(413, too_big)
        background = self._background(request)
        received = 0
        with tempfile.SpooledTemporaryFile(max_size=IMPORT_IN_MEMORY) as spool:
            try:
                fields, part = await form_parts(request, ("platform",))
                platform = fields.get("platform", "").strip() or None
                if part is None:
                    return json_error(400, "no file part: send the CSV in a part named 'file'")
                name = part_name(part, "import.csv")

                async def chunks() -> AsyncIterator[bytes]:
                    nonlocal received
                    while chunk := await part.read_chunk(self.chunk_size):
                        received += len(chunk)
                        if received > limit:
                            raise TooLarge(too_big)
                        yield chunk

                if background is not None:
                    app, queue = background
                    status = await start_import(
                        app, queue, account_id, name, chunks(), platform, notify=False
                    )
                    return self._accepted(status)
                async for chunk in chunks():
                    spool.write(chunk)
            except TooLarge as exc:
                return json_error(413, exc.message)
            except BadHttpMessage:
                return json_error(400, "the multipart/form-data body is malformed")
            except (ConnectionError, ClientError, asyncio.IncompleteReadError, ValueError) as exc:
                log.info("import_aborted", error=type(exc).__name__, received=received)
                return json_error(400, "the file did not arrive complete: nothing was imported")
            except ServiceUnavailable as exc:  # the blob store or the queue
                return json_error(503, strip_markup(exc.message))
            spool.seek(0)
            try:
                report = await self.importer.import_stream(
                    account_id,
                    name,
                    iter(functools.partial(spool.read, READ_CHUNK), b""),
                    total_bytes=received,
                    platform=platform,
                )
            except ServiceUnavailable as exc:
                return json_error(503, strip_markup(exc.message))
            except NotFound as exc:  # the key's account was deleted meanwhile
                return json_error(404, exc.message)
        log.info("import_done", kind=report.kind, rows=report.rows, added=report.added)
        body = {"import": report.to_dict(), "text": strip_markup(report.text())}
        return web.json_response(body, status=200 if report.ok else 422)

    def _background(self, request: web.Request) -> tuple[Assistant, JobQueue] | None:
        """The app and queue to import with in the background, when the client asked for it
        (``Prefer: respond-async``, RFC 7240) and this server has both (a server that cannot
        may ignore the preference: the import is then done within the request)."""
        prefer = {
            p.split("=", 1)[0].strip().lower()
            for value in request.headers.getall("Prefer", [])
            for p in value.split(",")
        }
        app = self.assistant
        if "respond-async" not in prefer or app is None or app.jobs is None or app.blobs is None:
            return None
        return app, app.jobs

    @staticmethod
    def _accepted(status: ImportStatus) -> web.Response:
        log.info("import_queued", job_id=status.id, size=status.size)
        response = web.json_response({"job": status.public()}, status=202)
        response.headers["Location"] = f"{IMPORTS_PATH}/{status.id}"
        response.headers["Preference-Applied"] = "respond-async"
        return response

    @with_account
    async def import_status(self, request: web.Request, account_id: int) -> web.Response:
        """``GET /api/v1/imports/{id}``: a background import of the caller's account."""
        app = self.assistant
        job_id = request.match_info["job_id"]
        status = await read_import_status(app.kv, account_id, job_id) if app else None
        if status is None:
            return json_error(404, "no such import for your account (statuses are kept 7 days)")
        return web.json_response({"job": status.public()})

    # ------------------------------------------------------------ GET /api/v1/assets

    @with_account
    async def list_assets(self, request: web.Request, account_id: int) -> web.Response:
        """Newest first, ``limit`` at a time; ``next_cursor`` (when the page is full) passed
        back as ``cursor`` gives the next page: a keyset position, so files added or deleted
        meanwhile never make a page repeat or skip one."""
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return json_error(400, "limit must be a number from 1 to 500")
        if not 1 <= limit <= 500:
            return json_error(400, "limit must be a number from 1 to 500")
        before = None
        if "cursor" in request.query:
            before = decode_cursor(request.query["cursor"])
            if before is None:
                return json_error(400, "cursor must be a next_cursor this API gave out")
        tag = clean_text(request.query.get("tag", "")) or None
        assets = await self.assets.list(account_id, tag=tag, limit=limit, before=before)
        full = len(assets) == limit
        return web.json_response(
            {
                "assets": [asset_json(a) for a in assets],
                "next_cursor": encode_cursor(assets[-1]) if full else None,
            }
        )

    # ------------------------------------------------------------ GET /api/v1/export

    @with_account
    async def export(self, request: web.Request, account_id: int) -> web.Response:
        """Everything the service holds about the key's account, as ``/export`` sends it in
        chat (a ZIP of CSV files, one per table): for an account whose export is more than a
        chat lets the bot send (Discord 10 MiB, Telegram 50 MB)."""
        if self.assistant is None:
            return json_error(503, "exports are not available on this server")
        data, counts = await export_zip(self.assistant.store, account_id)
        log.info("export_downloaded", rows=sum(counts.values()), bytes=len(data))
        name = export_name(self.assistant.clock.now())
        headers = {"Content-Disposition": attachment_header(name), "Cache-Control": "no-store"}
        return web.Response(body=data, content_type="application/zip", headers=headers)

    # ------------------------------------------------------------ one asset

    async def _asset(self, request: web.Request, account_id: int) -> Asset | None:
        """The route's ``{asset_id}`` if it is the account's own (a malformed id is no asset)."""
        asset_id = parse_id(request.match_info["asset_id"])
        return await self.assets.get(account_id, asset_id) if asset_id else None

    @with_account
    async def get_asset(self, request: web.Request, account_id: int) -> web.Response:
        asset = await self._asset(request, account_id)
        if asset is None:
            return json_error(404, NO_SUCH_ASSET)
        return web.json_response({"asset": asset_json(asset)})

    @with_account
    async def asset_content(self, request: web.Request, account_id: int) -> web.StreamResponse:
        """The file's bytes, as stored, streamed from the blob store (``ETag`` = its sha256, so
        a client can skip a download it already has with ``If-None-Match``)."""
        if self.vault is None:
            return json_error(503, NO_VAULT)
        asset = await self._asset(request, account_id)
        if asset is None:
            return json_error(404, NO_SUCH_ASSET)
        etag = f'"{asset.sha256}"'
        headers = {"ETag": etag, "Cache-Control": "private, max-age=0"}
        if etag in (t.strip() for t in request.headers.get("If-None-Match", "").split(",")):
            return web.Response(status=304, headers=headers)
        try:
            chunks = await self.vault.blobs.stream(asset.blob_key)
        except NotFound:
            log.warning("asset_blob_missing", asset_id=asset.id)
            return json_error(404, "the file's bytes are missing from the blob store")
        headers["Content-Disposition"] = attachment_header(asset.file_name)
        headers["Content-Type"] = asset.mime  # as stored: may carry a charset parameter
        response = web.StreamResponse(headers=headers)
        response.content_length = asset.size  # a cut-off download is visible as one
        try:
            await response.prepare(request)
            if request.method != "HEAD":  # aiohttp would send a HEAD's body all the same
                async for chunk in chunks:
                    await response.write(chunk)
        finally:
            await chunks.aclose()
        await response.write_eof()
        return response

    @with_account
    async def delete_asset(self, request: web.Request, account_id: int) -> web.Response:
        if self.vault is None:
            return json_error(503, NO_VAULT)
        asset_id = parse_id(request.match_info["asset_id"])
        removed = await self.vault.remove(account_id, asset_id) if asset_id else None
        if removed is None:
            return json_error(404, NO_SUCH_ASSET)
        log.info("asset_deleted", asset_id=removed.id, size=removed.size)
        return web.Response(status=204)


def add_uploads_api(app: web.Application, api: UploadsApi) -> UploadsApi:
    app.router.add_post(UPLOADS_PATH, api.upload)
    app.router.add_post(IMPORTS_PATH, api.import_csv)
    app.router.add_get(IMPORT_PATH, api.import_status)
    app.router.add_get(ASSETS_PATH, api.list_assets)
    app.router.add_get(ASSET_PATH, api.get_asset)
    app.router.add_delete(ASSET_PATH, api.delete_asset)
    app.router.add_get(ASSET_PATH + "/content", api.asset_content)
    app.router.add_get(EXPORT_PATH, api.export)
    return api


__all__ = [
    "ASSETS_PATH",
    "ASSET_PATH",
    "IMPORTS_PATH",
    "IMPORT_PATH",
    "UPLOADS_PATH",
    "UploadsApi",
    "add_uploads_api",
    "asset_json",
    "decode_cursor",
    "encode_cursor",
]
