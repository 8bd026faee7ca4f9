"""The SQLite engine's pool: a connection comes back from the pool outside any transaction,
whether it was committed, rolled back, left open or broken by an error."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from storage.db import create_engine


@pytest.fixture
async def engine(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/pool.db", pool_size=1, max_overflow=0)
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)"))
    yield engine
    await engine.dispose()


async def _rows(engine) -> list[str]:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert not raw.driver_connection.in_transaction  # nothing left over from the last user
        return list((await conn.execute(text("SELECT v FROM t ORDER BY id"))).scalars())


async def test_a_transaction_left_open_is_rolled_back_on_return(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.connect() as conn:  # the one pooled connection
        await conn.execute(text("INSERT INTO t (v) VALUES ('never committed')"))
        raw = await conn.get_raw_connection()
        assert raw.driver_connection.in_transaction
    assert await _rows(engine) == []


async def test_driver_level_work_behind_sqlalchemys_back_is_rolled_back_on_return(  # type: ignore[no-untyped-def]
    engine,
) -> None:
    # Only the pool's reset can see this one: SQLAlchemy's Connection has no transaction open.
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.execute("INSERT INTO t (v) VALUES ('behind its back')")
        assert raw.driver_connection.in_transaction
    assert await _rows(engine) == []


async def test_committed_work_stays_and_the_connection_is_reused(engine) -> None:  # type: ignore[no-untyped-def]
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('kept')"))
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('dropped')"))
    assert await _rows(engine) == ["kept"]


async def test_a_failed_statement_leaves_no_transaction_behind(engine) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(IntegrityError):
        async with engine.connect() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('half')"))
            await conn.execute(text("INSERT INTO t (v) VALUES (NULL)"))
    assert await _rows(engine) == []
