"""What the benchmarks share: throw-away PostgreSQL databases.

``BENCH_POSTGRES_URL`` names the server (default ``postgresql://postgres@127.0.0.1:5432``, the
one CI runs); a benchmark creates its own database there and drops it afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

PG_SERVER = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432")


def _plain(server: str) -> str:
    return server.replace("postgresql+asyncpg://", "postgresql://").rstrip("/")


async def pg_admin(*statements: str, server: str = PG_SERVER) -> None:
    """Run statements on the server's ``postgres`` database (CREATE / DROP DATABASE)."""
    import asyncpg

    conn = await asyncpg.connect(_plain(server) + "/postgres", timeout=10)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@asynccontextmanager
async def throwaway_database(
    prefix: str = "huntaze_bench", server: str = PG_SERVER
) -> AsyncIterator[str]:
    """A fresh database for one benchmark run; yields its SQLAlchemy (asyncpg) URL and drops
    it on the way out."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    await pg_admin(f'CREATE DATABASE "{name}"', server=server)
    try:
        yield _plain(server).replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', server=server)
