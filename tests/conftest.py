"""Shared fixtures: real PostgreSQL / Redis / S3 (moto) servers, databases, a store, a clock.

Servers (see ``tests/services.py``) are found or started once per session and stopped at the
end. A test that needs a server nobody can provide is skipped, or FAILS when ``CI=true``.

Databases
- ``sqlite_url`` / ``postgres_url``: a fresh, EMPTY database (for migration tests).
- ``migrated_sqlite_url`` / ``migrated_postgres_url``: a database already at head with no rows
  (SQLite: a copy of a template migrated once per session with ``storage.db.migrate``;
  PostgreSQL: one copy per session, emptied before each test - don't alter its schema).
- ``db_backend``: ``"sqlite"`` and ``"postgres"`` (parametrised; postgres carries the
  ``postgres`` mark). ``db_url``: a fresh migrated database on that backend.
- ``db_engine``: an async engine on ``db_url``; ``store``: a ``SqlStore`` on it, using ``clock``.

Redis
- ``redis_url``: the test Redis (database index ``TEST_REDIS_DB``, default 13).
- ``redis_prefix``: a unique key prefix; every key under it is deleted after the test. Keys a
  test writes must live under it (the Redis may be shared with other test runs).
- ``redis_client``: a ``redis.asyncio.Redis`` on ``redis_url`` (bytes responses).

S3: ``s3_server`` / ``s3_endpoint`` from ``tests/fakes/s3_server.py``.
Time: ``clock`` is a ``tests.fakes.clock.FakeClock`` (``clock.advance(seconds)``).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fakes.clock import FakeClock
from tests.services import (
    ServiceNotAvailable,
    in_ci,
    postgres_base_url,
    redis_base_url,
    run_async,
    stop_services,
)

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from sqlalchemy.ext.asyncio import AsyncEngine

    from storage.repositories import SqlStore

pytest_plugins = ["tests.fakes.s3_server"]

TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "13"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_services()


def _require(kind: str, find: Callable[[], str]) -> str:
    try:
        return find()
    except ServiceNotAvailable as error:
        if in_ci():
            pytest.fail(f"{kind} is required when CI=true: {error}", pytrace=False)
        pytest.skip(str(error))


# ---------------------------------------------------------------- clock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """``postgresql+asyncpg://user@host:port`` of the test server (no database)."""
    return _require("PostgreSQL", postgres_base_url)


async def _pg_admin(server: str, *statements: str) -> None:
    import asyncpg

    dsn = server.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    conn = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def create_postgres_database(server: str, template: str | None = None) -> str:
    """Create a uniquely named database (optionally from ``template``); returns its name."""
    name = f"huntaze_test_{uuid.uuid4().hex[:16]}"
    suffix = f' TEMPLATE "{template}"' if template else ""
    run_async(lambda: _pg_admin(server, f'CREATE DATABASE "{name}"{suffix}'))
    return name


def drop_postgres_database(server: str, name: str) -> None:
    run_async(lambda: _pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def postgres_template(postgres_server: str) -> Iterator[str]:
    """Name of a database migrated to head once per session (never used directly)."""
    from storage.db import migrate

    name = create_postgres_database(postgres_server)
    try:
        run_async(lambda: migrate(f"{postgres_server}/{name}"))
        yield name
    finally:
        drop_postgres_database(postgres_server, name)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL database, dropped after the test."""
    name = create_postgres_database(postgres_server)
    try:
        yield f"{postgres_server}/{name}"
    finally:
        drop_postgres_database(postgres_server, name)


class _MigratedPostgres:
    """One working copy of the template per session, emptied before each test.

    Creating a database per test costs ~0.3 s; deleting every row costs milliseconds. When a
    test left the copy at another revision (or broke it), it is re-created from the template.
    """

    def __init__(self, server: str, template: str) -> None:
        self.server = server
        self.template = template
        self.name: str | None = None

    def fresh(self) -> str:
        if self.name is None or not run_async(self._reset):
            if self.name is not None:
                drop_postgres_database(self.server, self.name)
            self.name = create_postgres_database(self.server, template=self.template)
        return f"{self.server}/{self.name}"

    def close(self) -> None:
        if self.name is not None:
            drop_postgres_database(self.server, self.name)
            self.name = None

    def _dsn(self, database: str) -> str:
        return self.server.replace("postgresql+asyncpg://", "postgresql://") + f"/{database}"

    async def _reset(self) -> bool:
        import asyncpg

        assert self.name is not None
        admin = await asyncpg.connect(self._dsn("postgres"), timeout=10)
        try:
            # Connections a previous test forgot to close could block the cleanup.
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = $1 AND pid <> pg_backend_pid()",
                self.name,
            )
            expected = await _pg_revision(admin, self._dsn(self.template))
        finally:
            await admin.close()
        try:
            conn = await asyncpg.connect(self._dsn(self.name), timeout=10)
        except Exception:
            return False
        try:
            if await _pg_revision(conn, None) != expected:
                return False
            tables = [
                row[0]
                for row in await conn.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            ]
            if not tables:
                return True
            quoted = ", ".join(f'"{table}"' for table in tables)
            try:
                async with conn.transaction():
                    await conn.execute("SET LOCAL session_replication_role = replica")
                    for table in tables:
                        await conn.execute(f'DELETE FROM "{table}"')
            except asyncpg.InsufficientPrivilegeError:
                await conn.execute(f"TRUNCATE {quoted} CASCADE")
            return True
        except Exception:
            return False
        finally:
            await conn.close()


async def _pg_revision(conn: object, dsn: str | None) -> str | None:
    import asyncpg

    target = conn if dsn is None else await asyncpg.connect(dsn, timeout=10)
    try:
        return await target.fetchval("SELECT version_num FROM alembic_version")  # type: ignore[attr-defined]
    except Exception:
        return None
    finally:
        if dsn is not None:
            await target.close()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def _migrated_postgres(postgres_server: str, postgres_template: str) -> Iterator[_MigratedPostgres]:
    pool = _MigratedPostgres(postgres_server, postgres_template)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture
def migrated_postgres_url(_migrated_postgres: _MigratedPostgres) -> str:
    """A PostgreSQL database at head with no rows in any table (ids keep counting up).

    Don't change its schema in a test: use ``postgres_url`` for migration tests.
    """
    return _migrated_postgres.fresh()


# ---------------------------------------------------------------- SQLite


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite database file under tmp_path."""
    return f"sqlite+aiosqlite:///{tmp_path / 'huntaze.db'}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from storage.db import migrate

    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    run_async(lambda: migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture
def migrated_sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A fresh SQLite database file at head."""
    target = tmp_path / "huntaze.db"
    shutil.copyfile(sqlite_template, target)
    wal = sqlite_template.with_name(sqlite_template.name + "-wal")
    if wal.exists():
        shutil.copyfile(wal, target.with_name(target.name + "-wal"))
    return f"sqlite+aiosqlite:///{target}"


# ---------------------------------------------------------------- either backend


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def db_url(db_backend: str, request: pytest.FixtureRequest) -> str:
    """A fresh database at head on each backend."""
    fixture = "migrated_sqlite_url" if db_backend == "sqlite" else "migrated_postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
async def db_engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    from storage.db import create_engine

    engine = create_engine(db_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def store(db_engine: AsyncEngine, clock: FakeClock) -> SqlStore:
    from storage.repositories import SqlStore

    return SqlStore(db_engine, clock)


# ---------------------------------------------------------------- Redis


@pytest.fixture(scope="session")
def redis_server() -> str:
    """``redis://host:port`` of the test server."""
    return _require("Redis", redis_base_url)


@pytest.fixture
def redis_url(redis_server: str) -> str:
    return f"{redis_server}/{TEST_REDIS_DB}"


@pytest.fixture
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A unique key prefix; its keys are deleted after the test."""
    import redis

    prefix = f"test:{uuid.uuid4().hex[:16]}:"
    try:
        yield prefix
    finally:
        client = redis.Redis.from_url(redis_url)
        try:
            keys = list(client.scan_iter(match=prefix + "*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()
