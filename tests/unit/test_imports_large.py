"""A 50 MB earnings export, streamed from disk into SQLite in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from core.models import Identity
from core.services.imports import CsvImporter, ImportProgress, file_chunks
from storage.db import create_engine
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock
from tests.fakes.exports import write_export

SIZE = 50 * 1024 * 1024


@pytest.fixture
async def sqlite_store(migrated_sqlite_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    engine = create_engine(migrated_sqlite_url)
    try:
        yield SqlStore(engine, clock)
    finally:
        await engine.dispose()


@pytest.mark.timeout(300)
async def test_a_50_mb_export_is_streamed_in_batches(
    sqlite_store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    path = tmp_path / "earnings_2024_2026.csv"
    rows, cents = write_export(path, SIZE)
    assert path.stat().st_size >= SIZE
    account = await sqlite_store.accounts.resolve(Identity(platform="console", external_id="m"))
    seen: list[ImportProgress] = []

    async def progress(p: ImportProgress) -> None:
        seen.append(p)

    importer = CsvImporter(sqlite_store, clock)
    report = await importer.import_stream(
        account.id,
        path.name,
        file_chunks(path),
        total_bytes=path.stat().st_size,
        progress=progress,
    )
    assert report.ok and report.bad_count == 0, report.text()
    assert report.rows == rows and report.added == rows
    assert report.totals == {"USD": Decimal(cents) / 100}
    # Written batch by batch, with progress after each one.
    assert len(seen) == -(-rows // importer.batch_size)
    assert seen[-1].done and seen[-1].bytes_read == path.stat().st_size
    assert [p.rows for p in seen] == sorted(p.rows for p in seen)
    # Everything is in the database.
    far = datetime(2100, 1, 1, tzinfo=UTC)
    buckets = await sqlite_store.earnings.buckets(account.id, None, far)
    assert sum(b.count for b in buckets) == rows
    assert sum(b.amount for b in buckets) * 100 == cents

    # A later export that overlaps (its first 2 MB are the same rows) adds nothing twice.
    head = tmp_path / "overlap.csv"
    with path.open("rb") as src:
        data = src.read(2 * 1024 * 1024)
    head.write_bytes(data[: data.rfind(b"\n") + 1])
    again = await importer.import_stream(account.id, head.name, file_chunks(head))
    assert again.rows > 10_000 and again.added == 0 and again.unchanged == again.rows
