"""The vault: files a creator sends, stored once per account by content hash.

Order of writes keeps blobs and rows consistent: look up the hash first (a repeat stores nothing),
put the blob, then insert the row; if the row fails, the blob just written is removed.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

import puremagic

from core.chat import Attachment
from core.models import Asset
from core.ports import BlobStore, Store

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


def is_csv(attachment: Attachment) -> bool:
    return attachment.mime.lower() in CSV_TYPES or attachment.name.lower().endswith(".csv")


def tags_from_caption(caption: str, limit: int = 8) -> list[str]:
    """#hashtags first; without any, the caption's meaningful words."""
    tags = [t.lower() for t in re.findall(r"#(\w{2,40})", caption)]
    if not tags:
        words = re.findall(r"[A-Za-z][A-Za-z0-9_-]{2,30}", caption)
        tags = [w.lower() for w in words if w.lower() not in _STOP]
    return list(dict.fromkeys(tags))[:limit]


def blob_key(account_id: int, sha256: str) -> str:
    return f"acct/{account_id}/{sha256[:2]}/{sha256}"


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
        digest = hashlib.sha256(data).hexdigest()
        existing = await self.store.assets.by_sha256(account_id, digest)
        if existing is not None:
            return existing, False
        mime = sniff(data, declared_mime, name)
        key = blob_key(account_id, digest)
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
            await self.blobs.delete(key)
            raise
        return saved, created

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
            asset, created = await self.add_bytes(
                account_id, data, att.name, att.mime, tags, source
            )
            (result.stored if created else result.duplicates).append(asset)
        return result
