"""The vault: files a creator sends, stored once per account by content hash.

Every blob gets a key of its own (``new_blob_key``), so each row owns exactly one blob and a
blob belongs to at most one row. Order of writes keeps blobs and rows consistent: look up the
hash first (a repeat stores nothing), put the blob, then insert the row; if the row fails, or
the same bytes won a race to the index, the blob just written is removed.

``add_stream`` is the same for a stream of unknown length (the HTTP uploads API): the first bytes
are sniffed before anything is written (a file that is not what it claims, or not a kind the vault
keeps, raises ``UnsupportedType``), the rest streams into the blob store under a key of its own
while it is hashed and counted (over the limit: ``TooLarge``, and the blob store aborts the
partial write), then the hash is looked up (a repeat drops the new blob) and the row inserted.
Whatever fails or is cancelled midway, no blob is left without a row and no row without a blob.

``remove`` deletes the row first (the file leaves the vault, and the plan's vault size, at once),
then its blob. Had the key been derived from the hash, an upload of the same bytes right after a
removal could have put the same key between the two steps and lost its blob to the removal.

What no order of writes can cover - a process killed between the blob and its row, a blob the
store failed to delete after its row went (``blob_cleanup_failed``), an account deleted with its
rows - leaves a blob no row refers to, and a process killed mid-upload leaves a partial write
(a temporary file, an S3 multipart upload). ``sweep_orphans`` finds vault blobs older than a
grace period (an upload in progress is never that old) that no asset row refers to, deletes
them and clears partial writes as old (``huntaze vault sweep``; daily in ``huntaze worker``).
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import re
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import puremagic
import structlog

from core.chat import Attachment, human_size
from core.errors import HuntazeError, QuotaExceeded, UsageError
from core.models import Asset, clean_text
from core.ports import BlobInfo, BlobStore, QuotaGuard, Store

log = structlog.get_logger("huntaze.vault")

_STOP = {
    "the", "and", "for", "with", "this", "that", "from", "your", "my", "our", "new", "just",
    "some", "into", "over", "about", "have", "here", "more", "what", "when",
}  # fmt: skip
CSV_TYPES = {
    "text/csv",
    "application/csv",
    "text/comma-separated-values",
    "application/vnd.ms-excel",
}
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IMPORT_EXTENSIONS = (".csv", ".xlsx")


MAX_NAME = 255  # the vault index's name and mime columns


def storable_name(name: str, limit: int = MAX_NAME) -> str:
    """``name`` cut to ``limit`` characters, keeping a short extension: a file sent from a
    phone may carry a name longer than the index holds."""
    if len(name) <= limit:
        return name
    stem, dot, ext = name.rpartition(".")
    if dot and stem and 0 < len(ext) <= 16:
        return stem[: limit - len(ext) - 1] + "." + ext
    return name[:limit]


def _storable(name: str, declared_mime: str, tags: list[str]) -> tuple[str, str, list[str]]:
    """What a file arrives with, as the vault index can hold it (every way in goes through)."""
    declared_mime = clean_text(declared_mime)
    if len(declared_mime) > MAX_NAME:  # no real type is that long (RFC 6838: 127 + 127)
        declared_mime = "application/octet-stream"
    return storable_name(clean_text(name)), declared_mime, [clean_text(tag) for tag in tags]


def sniff(data: bytes, declared: str, name: str) -> str:
    """The type the bytes really are; text files fall back to the declared type or the name."""
    try:
        return str(puremagic.from_string(data[:8192], mime=True)) or declared
    except puremagic.PureError:
        pass
    if name.lower().endswith(".csv"):
        return "text/csv"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return "application/octet-stream"
    return declared if declared.startswith("text/") else "text/plain"


SNIFF_BYTES = 8192
GENERIC_TYPES = {"", "application/octet-stream", "binary/octet-stream", "application/unknown"}


class TooLarge(HuntazeError):
    """The file is over the upload limit (or over what the plan's vault has room for)."""


class UnsupportedType(HuntazeError):
    """The bytes are not what the file claims to be, or not a kind the vault keeps."""


def family(mime: str) -> str:
    """A coarse kind: image | av (audio and video share containers) | pdf | text | other."""
    mime = mime.split(";", 1)[0].strip().lower()
    if mime.startswith("image/"):
        return "image"
    if mime.startswith(("video/", "audio/")):
        return "av"
    if mime == "application/pdf":
        return "pdf"
    if mime.startswith("text/") or mime in CSV_TYPES:
        return "text"
    return "other"


def check_claim(sniffed: str, declared: str, name: str) -> None:
    """Raise ``UnsupportedType`` unless the bytes (``sniffed``) are a kind the vault keeps and
    agree with what the upload claims: its declared type and its file name's extension."""
    kind = family(sniffed)
    if kind == "other":
        raise UnsupportedType(f"{sniffed} files can't go in the vault")
    claims = []
    declared = declared.split(";", 1)[0].strip().lower()
    if declared not in GENERIC_TYPES:
        claims.append(declared)
    guessed, _ = mimetypes.guess_type(name or "")
    if guessed:
        claims.append(guessed)
    for claim in claims:
        if family(claim) != kind:
            raise UnsupportedType(f"the file says {claim} but its content is {sniffed}")


def is_import(attachment: Attachment) -> bool:
    """A file for the importer, not the vault: a CSV export, or an Excel workbook (.xlsx)."""
    mime = attachment.mime.lower()
    return (
        mime in CSV_TYPES
        or mime == XLSX_TYPE
        or attachment.name.lower().endswith(IMPORT_EXTENSIONS)
    )


_LEADING_COMMAND = re.compile(r"^\s*/\w+(@\w+)?")
_MENTION = re.compile(r"@\w+")


def tags_from_caption(caption: str, limit: int = 8) -> list[str]:
    """#hashtags first; without any, the caption's meaningful words. A command the caption
    starts with ("/caption beach day") and @mentions (the bot's, in a group) are not tags."""
    caption = _MENTION.sub(" ", _LEADING_COMMAND.sub("", caption))
    tags = [t.lower() for t in re.findall(r"#(\w{2,40})", caption)]
    if not tags:
        words = re.findall(r"[A-Za-z][A-Za-z0-9_-]{2,30}", caption)
        tags = [w.lower() for w in words if w.lower() not in _STOP]
    return list(dict.fromkeys(tags))[:limit]


VAULT_PREFIX = "acct/"
# Vault blob keys, and nothing else: new_blob_key's, and the content-hash keys of earlier
# versions (acct/<id>/<first two hex digits>/<sha256>).
_VAULT_KEY = re.compile(r"^acct/[0-9]+/(up/[0-9a-f]{32}|[0-9a-f]{2}/[0-9a-f]{64})$")
SWEEP_GRACE = timedelta(hours=24)  # an orphan younger than this may be an upload in progress
_SWEEP_BATCH = 500
HOUR = timedelta(hours=1)


def new_blob_key(account_id: int) -> str:
    """A key no other blob has: one per stored file, under the account's prefix."""
    return f"{VAULT_PREFIX}{account_id}/up/{secrets.token_hex(16)}"


@dataclass
class SweepReport:
    scanned: int = 0  # vault blobs listed
    recent: int = 0  # younger than the grace period: not judged
    orphans: int = 0  # older, and no asset row refers to them
    orphan_bytes: int = 0
    removed: int = 0
    partial: int = 0  # unfinished uploads cleared (temporary files, multipart uploads)
    pending: int = 0  # abandoned CSV uploads of import jobs (``core.jobs.sweep_pending``)

    def text(self, *, dry_run: bool, grace: timedelta) -> str:
        old = self.scanned - self.recent
        judged = f"{old} vault blob{'' if old == 1 else 's'} older than {grace / HOUR:g} h"
        if not self.orphans:
            found = f"No orphaned blob among {judged}"
        else:
            found = f"{self.orphans} orphaned ({human_size(self.orphan_bytes)}) among {judged}"
        done = " (dry run: nothing deleted)" if dry_run else f"; removed {self.removed}"
        partial = f"; cleared {self.partial} unfinished uploads" if self.partial else ""
        pending = ""
        if self.pending:
            verb = "found" if dry_run else "removed"
            pending = f" Import uploads abandoned over a week ago: {verb} {self.pending}."
        return f"{found}{done}; {self.recent} newer ones not judged{partial}.{pending}"


@dataclass
class Stored:
    stored: list[Asset] = field(default_factory=list)
    duplicates: list[Asset] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (name, reason)


@dataclass
class VaultService:
    store: Store
    blobs: BlobStore
    max_bytes: int
    quotas: QuotaGuard | None = None  # plan vault size ("vault_bytes"); None: no plan limit

    def too_big(self, size: int) -> str:
        return f"over the {self.max_bytes // (1024 * 1024)} MB limit ({size / 1048576:.1f} MB)"

    async def add_bytes(
        self,
        account_id: int,
        data: bytes,
        name: str,
        declared_mime: str,
        tags: list[str],
        source: str,
    ) -> tuple[Asset, bool]:
        """Store one file; ``(asset, created)``. Never leaves a blob without a row."""
        name, declared_mime, tags = _storable(name, declared_mime, tags)
        digest = hashlib.sha256(data).hexdigest()
        existing = await self.store.assets.by_sha256(account_id, digest)
        if existing is not None:
            return existing, False
        mime = sniff(data, declared_mime, name)
        if self.quotas is not None:
            await self.quotas.consume(account_id, "vault_bytes", len(data))
        key = new_blob_key(account_id)
        await self.blobs.put(key, data, mime)
        asset = Asset(
            sha256=digest,
            size=len(data),
            mime=mime,
            name=name,
            tags=tags,
            blob_key=key,
            source=source,
        )
        try:
            saved, created = await self.store.assets.add(account_id, asset)
        except BaseException:
            await asyncio.shield(self._delete_quietly(key))
            raise
        if not created:  # the same bytes won a race to the index: keep one blob
            await self._delete_quietly(key)
        return saved, created

    async def remove(self, account_id: int, asset_id: int) -> Asset | None:
        """Delete one of the account's files; the asset that was removed, or None when the
        account has no such file (another account's id included). See the module docstring."""
        asset = await self.store.assets.get(account_id, asset_id)
        if asset is None or not await self.store.assets.delete(account_id, asset_id):
            return None
        # The row is gone: the file no longer shows or counts. A blob the store could not
        # delete takes space until the next orphan sweep (logged as blob_cleanup_failed).
        await self._delete_quietly(asset.blob_key)
        return asset

    async def erase(self, account_id: int, prefixes: Sequence[str] = ()) -> int:
        """Delete every blob under the account's prefix (and under ``prefixes``: its pending
        uploads), once its rows are gone (``AccountRepository.delete``); how many. One the store
        could not delete is left to the orphan sweep (logged)."""
        removed = 0
        for prefix in (f"{VAULT_PREFIX}{account_id}/", *prefixes):
            keys = [info.key async for info in self.blobs.scan(prefix)]
            for key in keys:
                await self._delete_quietly(key)
            removed += len(keys)
        return removed

    async def sweep_orphans(
        self, now: datetime, grace: timedelta = SWEEP_GRACE, *, dry_run: bool = False
    ) -> SweepReport:
        """Delete vault blobs older than ``grace`` that no asset row (of any account) refers
        to, and clear unfinished uploads older than that; with ``dry_run`` only count the
        blobs. See the module docstring."""
        report = SweepReport()
        cutoff = now - grace
        batch: list[BlobInfo] = []
        async for info in self.blobs.scan(VAULT_PREFIX):
            if not _VAULT_KEY.match(info.key):
                continue
            report.scanned += 1
            if info.modified > cutoff:
                report.recent += 1
                continue
            batch.append(info)
            if len(batch) >= _SWEEP_BATCH:
                await self._sweep_batch(batch, report, dry_run)
                batch = []
        if batch:
            await self._sweep_batch(batch, report, dry_run)
        if not dry_run:
            report.partial = await self.blobs.clear_partial(VAULT_PREFIX, cutoff)
        log.info("vault_sweep", dry_run=dry_run, **asdict(report))
        return report

    async def _sweep_batch(self, batch: list[BlobInfo], report: SweepReport, dry_run: bool) -> None:
        referenced = await self.store.assets.referenced_blob_keys([b.key for b in batch])
        for info in batch:
            if info.key in referenced:
                continue
            report.orphans += 1
            report.orphan_bytes += info.size
            if not dry_run:
                await self.blobs.delete(info.key)
                report.removed += 1
                log.info("blob_orphan_removed", key=info.key, size=info.size)

    async def ingest(
        self, account_id: int, attachments: list[Attachment], caption: str, source: str
    ) -> Stored:
        result = Stored()
        tags = tags_from_caption(caption)
        for att in attachments:
            if att.size > self.max_bytes:
                result.rejected.append((att.name, self.too_big(att.size)))
                continue
            data = await att.read()
            if len(data) > self.max_bytes:
                result.rejected.append((att.name, self.too_big(len(data))))
                continue
            if not data:
                result.rejected.append((att.name, "the file is empty"))
                continue
            try:
                asset, created = await self.add_bytes(
                    account_id, data, att.name, att.mime, tags, source
                )
            except QuotaExceeded as exc:
                result.rejected.append((att.name, exc.message.rstrip(".")))
                continue
            (result.stored if created else result.duplicates).append(asset)
        return result

    # ------------------------------------------------------------ streaming (HTTP uploads)

    async def add_stream(
        self,
        account_id: int,
        chunks: AsyncIterator[bytes],
        name: str,
        declared_mime: str,
        tags: list[str],
        source: str,
        *,
        declared_size: int | None = None,
        max_bytes: int | None = None,
        check_type: bool = True,
    ) -> tuple[Asset, bool]:
        """Store a stream; ``(asset, created)``. See the module docstring for the guarantees.

        Raises ``TooLarge`` (over ``max_bytes``/the service limit, or the plan's vault room),
        ``UnsupportedType`` (``check_type``: the sniffed type disagrees with the declared type or
        the name, or is not a kind the vault keeps), ``UsageError`` (empty file) and whatever
        the blob store or the database raise (nothing is left behind)."""
        name, declared_mime, tags = _storable(name, declared_mime, tags)
        limit = min(self.max_bytes, max_bytes) if max_bytes is not None else self.max_bytes
        too_big = self.too_big
        room = await self._vault_room(account_id)
        if room is not None and room < limit:
            limit = room

            def too_big(size: int) -> str:
                return (
                    "over the room left in your vault for your plan "
                    f"({room / 1048576:.1f} MB left) — /plan shows bigger plans"
                )

        if declared_size is not None and declared_size > limit:
            raise TooLarge(f"{name or 'The file'} is {too_big(declared_size)}.")
        iterator = chunks.__aiter__()
        head = bytearray()
        while len(head) < SNIFF_BYTES:
            try:
                head += await iterator.__anext__()
            except StopAsyncIteration:
                break
            if len(head) > limit:
                raise TooLarge(f"{name or 'The file'} is {too_big(len(head))}.")
        if not head:
            raise UsageError("The file is empty.")
        mime = sniff(bytes(head[:SNIFF_BYTES]), declared_mime, name)
        if check_type:
            check_claim(mime, declared_mime, name)
        size = len(head)

        async def body() -> AsyncIterator[bytes]:
            nonlocal size
            yield bytes(head)
            async for chunk in iterator:
                size += len(chunk)
                if size > limit:
                    raise TooLarge(f"{name or 'The file'} is {too_big(size)}.")
                yield chunk

        key = new_blob_key(account_id)
        written = await self.blobs.put_stream(key, body(), mime)  # hashed as it is stored
        try:
            digest, size = written.sha256, written.size
            existing = await self.store.assets.by_sha256(account_id, digest)
            if existing is not None:
                await self.blobs.delete(key)
                return existing, False
            asset = Asset(
                sha256=digest,
                size=size,
                mime=mime,
                name=name,
                tags=tags,
                blob_key=key,
                source=source,
            )
            if self.quotas is not None:
                try:
                    await self.quotas.consume(account_id, "vault_bytes", size)
                except QuotaExceeded as exc:
                    raise TooLarge(exc.message) from exc
            saved, created = await self.store.assets.add(account_id, asset)
            if not created:  # the same content won a race: keep one blob
                await self.blobs.delete(key)
            return saved, created
        except BaseException:
            await asyncio.shield(self._delete_quietly(key))
            raise

    async def _vault_room(self, account_id: int) -> int | None:
        room = getattr(self.quotas, "vault_room", None)
        if room is None:
            return None
        value = await room(account_id)
        return None if value is None else int(value)

    async def _delete_quietly(self, key: str) -> None:
        try:
            await self.blobs.delete(key)
        except Exception:  # the original error matters more; the log has this one
            log.warning("blob_cleanup_failed", key=key, exc_info=True)
