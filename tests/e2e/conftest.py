"""Fixtures the end-to-end files share."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import HttpWorld, start_world


@pytest.fixture
async def world(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[HttpWorld]:
    """The product's HTTP server on a migrated SQLite database (a file may define its own
    ``world`` with other settings)."""
    w = await start_world(migrated_sqlite_url, tmp_path, clock)
    try:
        yield w
    finally:
        await w.aclose()
