"""Migrations on SQLite and PostgreSQL, and start-up failures an operator must be told about.

- stairway: every revision upgrades, downgrades and upgrades again;
- the models in storage/tables.py and the migrated schema agree (autogenerate finds nothing);
- ``migrate`` is idempotent and safe when two instances start together;
- an unwritable SQLite path or an unreachable PostgreSQL is a one-sentence ``StartupError``.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from core.errors import StartupError
from storage.db import (
    DEFAULT_DATABASE_URL,
    alembic_config,
    create_engine,
    current_revision,
    downgrade,
    migrate,
    normalise_url,
    sqlite_path,
)
from storage.tables import metadata
from tests.services import free_port

EXPECTED_TABLES = {
    "accounts",
    "identities",
    "profiles",
    "ideas",
    "captions",
    "fans",
    "ai_usage",
    "assets",
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_db_url(request: pytest.FixtureRequest) -> str:
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


def revisions_in_order() -> list[tuple[str, str]]:
    """(revision, the one before it or "base"), oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    steps = []
    for rev in reversed(list(script.walk_revisions("base", "heads"))):
        down = rev.down_revision
        assert not isinstance(down, tuple | list), "merge revisions need their own stairway step"
        steps.append((rev.revision, down or "base"))
    return steps


async def table_names(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_stairway(empty_db_url: str) -> None:
    steps = revisions_in_order()
    assert steps, "no migrations found"
    for revision, previous in steps:
        await migrate(empty_db_url, revision)
        assert await current_revision(empty_db_url) == revision
        await downgrade(empty_db_url, previous)
        assert await current_revision(empty_db_url) == (None if previous == "base" else previous)
        await migrate(empty_db_url, revision)
        assert await current_revision(empty_db_url) == revision
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert await current_revision(empty_db_url) == head
    assert await table_names(empty_db_url) >= EXPECTED_TABLES

    await downgrade(empty_db_url, "base")
    assert await table_names(empty_db_url) <= {"alembic_version"}


async def test_models_match_the_migrated_schema(empty_db_url: str) -> None:
    await migrate(empty_db_url)
    engine = create_engine(empty_db_url)

    def _diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, metadata))

    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await engine.dispose()


async def test_migrate_is_idempotent(empty_db_url: str) -> None:
    await migrate(empty_db_url)
    await migrate(empty_db_url)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert await current_revision(empty_db_url) == head


async def test_instances_starting_together_all_migrate(empty_db_url: str) -> None:
    await asyncio.gather(*(migrate(empty_db_url) for _ in range(4)))
    assert await table_names(empty_db_url) >= EXPECTED_TABLES


async def test_a_failing_migration_changes_nothing(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic.operations import Operations

    real_create_index = Operations.create_index
    calls = 0

    def create_index_then_fail(self: Operations, *args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("disk on fire")
        return real_create_index(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Operations, "create_index", create_index_then_fail)
    with pytest.raises(StartupError) as caught:
        await migrate(empty_db_url)
    assert "disk on fire" in caught.value.message
    assert await current_revision(empty_db_url) is None
    assert await table_names(empty_db_url) == set()


async def test_default_url_creates_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    await migrate(DEFAULT_DATABASE_URL)
    assert (tmp_path / "data" / "huntaze.db").is_file()
    assert await table_names(DEFAULT_DATABASE_URL) >= EXPECTED_TABLES


def _unwritable_paths(tmp_path: Path) -> list[tuple[Path, str]]:
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x")
    a_dir = tmp_path / "is-a-dir.db"
    a_dir.mkdir()
    cases = [
        (a_file / "huntaze.db", "Not a directory"),
        (a_dir, "Is a directory"),
        (Path("/proc/huntaze-test/huntaze.db"), "No such file or directory"),
    ]
    if os.path.isdir("/sys"):
        cases.append((Path("/sys/huntaze-test/huntaze.db"), ""))
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases.append((locked / "huntaze.db", "Permission denied"))
    return cases


async def test_unwritable_sqlite_path_is_a_startup_error(tmp_path: Path) -> None:
    for path, reason in _unwritable_paths(tmp_path):
        url = f"sqlite+aiosqlite:///{path}"
        with pytest.raises(StartupError) as from_engine:
            create_engine(url)
        with pytest.raises(StartupError) as from_migrate:
            await migrate(url)
        for caught in (from_engine, from_migrate):
            message = caught.value.message
            assert message.startswith(f"cannot write the database at {path}: "), message
            assert reason in message
            assert "\n" not in message and "Traceback" not in message


async def test_corrupt_sqlite_file_is_a_startup_error(tmp_path: Path) -> None:
    path = tmp_path / "huntaze.db"
    path.write_bytes(b"definitely not sqlite" * 200)
    with pytest.raises(StartupError) as caught:
        await migrate(f"sqlite:///{path}")
    assert str(path) in caught.value.message
    assert "not a database" in caught.value.message


async def test_unreachable_postgres_is_a_startup_error() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(StartupError) as caught:
        await migrate(f"postgresql://postgres:secret@127.0.0.1:{port}/huntaze")
    message = caught.value.message
    assert message == (
        f"cannot reach the PostgreSQL database at 127.0.0.1:{port}/huntaze: connection refused"
    )
    assert "secret" not in message


@pytest.mark.postgres
async def test_missing_postgres_database_is_a_startup_error(postgres_server: str) -> None:
    with pytest.raises(StartupError) as caught:
        await migrate(f"{postgres_server}/huntaze_no_such_database")
    message = caught.value.message
    assert message.startswith("cannot reach the PostgreSQL database at ")
    assert 'database "huntaze_no_such_database" does not exist' in message


def test_urls_get_async_drivers() -> None:
    assert normalise_url("postgres://u:p@h/db").drivername == "postgresql+asyncpg"
    assert normalise_url("postgresql://u:p@h/db").drivername == "postgresql+asyncpg"
    assert normalise_url("postgresql+psycopg2://h/db").drivername == "postgresql+asyncpg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert normalise_url("sqlite+aiosqlite:///x.db").drivername == "sqlite+aiosqlite"
    assert sqlite_path("sqlite:///./data/h.db") == Path("./data/h.db").absolute()
    assert sqlite_path("sqlite+aiosqlite://") is None
    assert sqlite_path("postgresql://h/db") is None


def test_unknown_scheme_is_a_startup_error() -> None:
    with pytest.raises(StartupError):
        create_engine("mysql://h/db")


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as conn:
            journal = (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar_one()
            foreign_keys = (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar_one()
            busy = (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar_one()
        assert (str(journal).lower(), foreign_keys) == ("wal", 1)
        assert busy >= 1000
    finally:
        await engine.dispose()


async def test_fans_get_their_first_payments_day_as_they_migrate(empty_db_url: str) -> None:
    """0019 adds ``fans.first_seen`` and fills it from the earnings already there: the day
    (on the account's clock, ``transactions.day``) of each fan's first payment, per account."""
    from datetime import UTC, date, datetime

    from sqlalchemy import text

    created = datetime(2026, 11, 1, tzinfo=UTC)
    await migrate(empty_db_url, "0018_codes")
    engine = create_engine(empty_db_url)
    try:
        async with engine.begin() as conn:
            for account in (1, 2):
                await conn.execute(
                    text(
                        "INSERT INTO accounts (id, plan, credits, created_at) "
                        "VALUES (:id, 'free', 0, :c)"
                    ),
                    {"id": account, "c": created},
                )
            for account, handle in ((1, "leo"), (1, "ann"), (2, "leo")):
                await conn.execute(
                    text(
                        "INSERT INTO fans (account_id, handle, name, tier, total_spent, tags, "
                        "notes, updated_at) VALUES (:a, :h, '', 'regular', 0, '[]', '', :c)"
                    ),
                    {"a": account, "h": handle, "c": created},
                )
            payments = [(1, "leo", date(2026, 11, 3)), (1, "leo", date(2026, 10, 5))]
            payments.append((2, "leo", date(2026, 9, 9)))
            for n, (account, handle, day) in enumerate(payments):
                await conn.execute(
                    text(
                        "INSERT INTO transactions (account_id, row_key, occurred_at, day, hour, "
                        "amount_cents, currency, category, fan_handle, created_at) "
                        "VALUES (:a, :k, :t, :d, 0, 100, 'USD', 'tip', :h, :t)"
                    ),
                    {"a": account, "k": f"k{n}", "t": created, "d": day, "h": handle},
                )
    finally:
        await engine.dispose()
    await migrate(empty_db_url, "0019_fan_first_seen")
    engine = create_engine(empty_db_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(text("SELECT account_id, handle, first_seen FROM fans"))
            found = {(a, h): None if d is None else str(d) for a, h, d in rows}
    finally:
        await engine.dispose()
    assert found == {(1, "leo"): "2026-10-05", (1, "ann"): None, (2, "leo"): "2026-09-09"}
