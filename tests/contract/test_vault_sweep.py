"""The orphaned-blob sweep, on both databases and both blob stores: it deletes vault blobs no
asset row refers to once they are older than the grace period, and nothing else."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.jobs import FileDeadLetters
from core.jobs import PENDING_GRACE, DeadLetter, drop_dead, pending_key, sweep_pending
from core.models import Asset, Identity
from core.ports import BlobStore
from core.services.vault import SWEEP_GRACE, VaultService, new_blob_key
from storage.blobs import LocalBlobStore
from storage.repositories import SqlStore
from tests.fakes.s3_server import S3Endpoint


@pytest.fixture(params=["local", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    endpoint: S3Endpoint = request.getfixturevalue("s3_endpoint")
    return endpoint.blob_store()


async def _account(store: SqlStore, name: str) -> int:
    identity = Identity(platform="telegram", external_id=name, display_name=name)
    return (await store.accounts.resolve(identity)).id


async def _asset(store: SqlStore, blobs: BlobStore, account_id: int, key: str, data: bytes) -> None:
    await blobs.put(key, data, "application/pdf")
    sha = hashlib.sha256(data).hexdigest()
    asset = Asset(
        sha256=sha, size=len(data), mime="application/pdf", name="f.pdf", tags=[], blob_key=key
    )
    _, created = await store.assets.add(account_id, asset)
    assert created


async def test_sweep_deletes_old_unreferenced_vault_blobs_only(
    store: SqlStore, blob_store: BlobStore
) -> None:
    vault = VaultService(store, blob_store, max_bytes=1 << 20)
    a, b = await _account(store, "a"), await _account(store, "b")
    old_sha = hashlib.sha256(b"old").hexdigest()
    kept = [new_blob_key(a), new_blob_key(b), f"acct/{a}/{old_sha[:2]}/{old_sha}"]
    await _asset(store, blob_store, a, kept[0], b"%PDF-1.4 a")
    await _asset(store, blob_store, b, kept[1], b"%PDF-1.4 b")
    await _asset(store, blob_store, a, kept[2], b"old")  # an earlier version's content-hash key
    orphans = [new_blob_key(a), new_blob_key(b), f"acct/{b}/00/{'0' * 64}"]
    for key in orphans:
        await blob_store.put(key, b"left by a crash", "application/octet-stream")
    others = [  # not vault blobs: never judged
        f"pending/{a}/import.csv",
        f"acct/{a}/exports/x.csv",
        f"acct/{a}/up/not-a-token",
        f"acct/{a}/zz/{'0' * 64}",
    ]
    for key in others:
        await blob_store.put(key, b"not the vault's", "text/csv")

    now = datetime.now(UTC)
    fresh = await vault.sweep_orphans(now)  # everything was just written: nothing is judged
    assert (fresh.scanned, fresh.recent, fresh.orphans, fresh.removed) == (6, 6, 0, 0)

    later = now + SWEEP_GRACE + timedelta(minutes=1)
    dry = await vault.sweep_orphans(later, dry_run=True)
    assert (dry.scanned, dry.recent, dry.orphans, dry.removed) == (6, 0, 3, 0)
    assert dry.orphan_bytes == 3 * len(b"left by a crash")
    assert "3 orphaned" in dry.text(dry_run=True, grace=SWEEP_GRACE)
    assert all([await blob_store.exists(k) for k in orphans])

    swept = await vault.sweep_orphans(later)
    assert (swept.orphans, swept.removed) == (3, 3)
    assert not any([await blob_store.exists(k) for k in orphans])
    assert all([await blob_store.exists(k) for k in kept + others])
    assert await blob_store.get(kept[0]) == b"%PDF-1.4 a"

    again = await vault.sweep_orphans(later)
    assert (again.scanned, again.orphans, again.removed) == (3, 0, 0)


async def test_a_removed_file_whose_blob_stayed_is_swept(
    store: SqlStore, blob_store: BlobStore
) -> None:
    vault = VaultService(store, blob_store, max_bytes=1 << 20)
    a = await _account(store, "a")
    key = new_blob_key(a)
    await _asset(store, blob_store, a, key, b"%PDF-1.4 gone")
    (listed,) = await store.assets.list(a)
    assert await store.assets.delete(a, listed.id)  # the row went; the blob delete "failed"
    later = datetime.now(UTC) + SWEEP_GRACE * 2
    assert (await vault.sweep_orphans(later)).removed == 1
    assert not await blob_store.exists(key)


async def test_abandoned_import_uploads_go_unless_a_dead_letter_keeps_them(
    blob_store: BlobStore, tmp_path: Path
) -> None:
    dead = FileDeadLetters(tmp_path / "dead.json")
    abandoned, kept = pending_key(1), pending_key(2)
    for key in (abandoned, kept):
        await blob_store.put(key, b"date,amount\n2026-01-01,5\n", "text/csv")
    letter = DeadLetter(
        id="job-1",
        name="import_csv",
        payload={"account_id": 2, "blob_key": kept, "name": "big.csv"},
        error="ImportError: boom",
        attempts=3,
        failed_at=datetime.now(UTC),
    )
    await dead.add(letter)
    assert letter.pending_blob == kept
    vault_blob = f"acct/1/up/{'a' * 32}"  # the vault's, judged by the vault sweep
    await blob_store.put(vault_blob, b"x", "application/octet-stream")

    now = datetime.now(UTC)
    assert await sweep_pending(blob_store, dead, now) == 0  # a job may still be on its way
    week_later = now + PENDING_GRACE + timedelta(minutes=1)
    assert await sweep_pending(blob_store, dead, week_later, dry_run=True) == 1
    assert await blob_store.exists(abandoned)
    assert await sweep_pending(blob_store, dead, week_later) == 1
    assert not await blob_store.exists(abandoned)
    assert await blob_store.exists(kept) and await blob_store.exists(vault_blob)

    # Giving up on the dead letter takes the upload it kept with it.
    assert await drop_dead(dead, blob_store, "job-1") == letter
    assert not await blob_store.exists(kept)
    assert await dead.list() == [] and await drop_dead(dead, blob_store, "job-1") is None
