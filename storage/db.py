"""Engines and migrations.

- ``create_engine(url)``: an async engine. SQLite (``aiosqlite``) gets WAL, foreign keys and a busy
  timeout on every connection, and its directory is created; PostgreSQL (``asyncpg``) gets a
  fixed pool of ``pg_pool_size`` connections, checked at checkout with one empty query when they
  have been idle (see ``_install_pg_liveness``). Fixed: with overflow connections, a load that
  hovered above the pool's size opened and closed connections all the time (120 in one 20 s
  run of the Telegram benchmark; each is a server process forked, authenticated and torn
  down), for no more capacity than a pool of the same total size. ``postgres://`` /
  ``postgresql://`` / ``sqlite://`` URLs are accepted and given the async driver.
- ``await migrate(url)``: Alembic ``upgrade head``, programmatically, inside the running event
  loop. Called at start-up; the only way the schema changes.

Problems an operator must fix (an unwritable database path, an unreachable server, a wrong
password) raise ``core.errors.StartupError`` with one clear sentence.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import event, exc, pool, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only

from core.errors import StartupError

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/huntaze.db"
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 15_000
PG_CONNECT_TIMEOUT_S = 10.0
PG_POOL_SIZE = 20  # connections per process (DATABASE_POOL_SIZE)
_MIGRATION_LOCK_KEY = 0x68756E74  # "hunt": serialises concurrent start-ups on PostgreSQL

# SQLSTATE classes that mean "the server is not there for us right now".
_UNAVAILABLE_SQLSTATE_PREFIXES = ("08", "53", "57P")


# ---------------------------------------------------------------- URLs


def normalise_url(url: str | URL) -> URL:
    """The URL with an async driver: ``postgres://`` -> ``postgresql+asyncpg://`` and so on."""
    parsed = make_url(url) if isinstance(url, str) else url
    backend, _, driver = parsed.drivername.partition("+")
    if backend in ("postgres", "postgresql"):
        if backend == "postgres" or driver in ("", "psycopg2", "psycopg", "pg8000"):
            parsed = parsed.set(drivername="postgresql+asyncpg")
    elif backend == "sqlite" and driver in ("", "pysqlite"):
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    return parsed


def sqlite_path(url: str | URL) -> Path | None:
    """The file behind a SQLite URL (absolute), or None for in-memory and non-SQLite URLs."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:"):
        return None
    if database.startswith("file:"):
        if "mode=memory" in database:
            return None
        database = database[len("file:") :].split("?", 1)[0]
    return Path(database).expanduser().absolute()


def describe_url(url: str | URL) -> str:
    """Where a URL points, without the password: for messages."""
    parsed = normalise_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        return str(path)
    if parsed.get_backend_name() == "sqlite":
        return "an in-memory SQLite database"
    host = parsed.host or "localhost"
    port = parsed.port or 5432
    return f"{host}:{port}/{parsed.database or ''}"


def ensure_sqlite_writable(path: Path) -> None:
    """Create the directory and prove we can write there, or raise StartupError."""
    try:
        for ancestor in path.parents:
            if ancestor.exists():
                if not ancestor.is_dir():
                    raise NotADirectoryError(20, "Not a directory")
                break
        path.parent.mkdir(parents=True, exist_ok=True)
        # SQLite needs to create -wal / -shm files next to the database, so probe the directory.
        fd, probe = tempfile.mkstemp(prefix=".huntaze-probe-", dir=path.parent)
        os.close(fd)
        os.unlink(probe)
        if path.exists():
            if path.is_dir():
                raise IsADirectoryError(21, "Is a directory")
            with path.open("r+b"):
                pass
    except OSError as error:
        reason = error.strerror or str(error)
        raise StartupError(f"cannot write the database at {path}: {reason}") from error


# ---------------------------------------------------------------- engines


def create_engine(
    url: str | URL,
    *,
    echo: bool = False,
    sqlite_foreign_keys: bool = True,
    pg_pool_size: int = PG_POOL_SIZE,
    **overrides: Any,
) -> AsyncEngine:
    """An async engine for ``url`` (see the module docstring). ``overrides`` go to SQLAlchemy.

    ``sqlite_foreign_keys=False`` is for migrations only (batch mode recreates tables);
    ``pg_pool_size`` is PostgreSQL's connections per engine.
    """
    return _build_engine(
        normalise_url(url),
        echo=echo,
        foreign_keys=sqlite_foreign_keys,
        pg_pool_size=pg_pool_size,
        **overrides,
    )


def _build_engine(
    url: URL,
    *,
    echo: bool,
    foreign_keys: bool,
    pg_pool_size: int = PG_POOL_SIZE,
    **overrides: Any,
) -> AsyncEngine:
    backend = url.get_backend_name()
    options: dict[str, Any] = {"echo": echo}
    if backend == "sqlite":
        path = sqlite_path(url)
        if path is not None:
            ensure_sqlite_writable(path)
        options["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
        options["pool_reset_on_return"] = None  # _install_sqlite_reset does it
        options.update(overrides)
        engine = create_async_engine(url, **options)
        _install_sqlite_pragmas(engine, foreign_keys=foreign_keys, wal=path is not None)
        _install_sqlite_reset(engine)
        return engine
    if backend == "postgresql":
        options.update(
            pool_size=pg_pool_size,
            max_overflow=0,
            pool_timeout=15,
            pool_recycle=1800,
            connect_args={
                "timeout": PG_CONNECT_TIMEOUT_S,
                "command_timeout": 60,
                "server_settings": {"application_name": "huntaze"},
            },
        )
        options.update(overrides)
        if options.get("poolclass") is pool.NullPool:
            for key in ("pool_size", "max_overflow", "pool_timeout"):
                options.pop(key, None)
        engine = create_async_engine(url, **options)
        _install_pg_liveness(engine)
        return engine
    raise StartupError(
        f"unsupported database URL scheme {url.drivername!r}: use sqlite:/// or postgresql://"
    )


PING_IF_IDLE_S = 1.0


def _install_pg_liveness(engine: AsyncEngine) -> None:
    """A pooled connection the server closed (a restart, a failover, an idle timeout,
    ``pg_terminate_backend``) is replaced at checkout, before a transaction starts on it.

    SQLAlchemy's ``pool_pre_ping`` costs three round trips on asyncpg (its ping is wrapped in
    BEGIN/ROLLBACK for pgbouncer) before every transaction - most of a short transaction's
    cost, and under load each await also waits for a turn of the busy event loop. Here
    (SQLAlchemy's documented custom pessimistic check: a ``checkout`` listener raising
    ``DisconnectionError``, after which the pool connects afresh):

    - a connection asyncpg already knows is closed (it saw the server's FIN or its
      termination notice) is dropped without a round trip;
    - a connection idle for more than ``PING_IF_IDLE_S`` is pinged with one empty query
      (like Django's ``CONN_HEALTH_CHECKS``: a connection that finished a transaction a moment
      ago is taken as alive);
    - a connection that dies in that moment fails its transaction with ``ServiceUnavailable``
      (nothing was written), and SQLAlchemy then invalidates the whole pool, so the next one
      connects afresh.

    Pool checkout runs inside SQLAlchemy's greenlet, where ``await_only`` drives the driver's
    coroutine, as SQLAlchemy's own ping does.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def _on_checkin(_dbapi: Any, record: Any) -> None:
        if record is not None:
            record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _on_checkout(_dbapi: Any, record: Any, proxy: Any) -> None:
        driver = proxy.driver_connection
        if driver is None:
            return
        if driver.is_closed():
            raise exc.DisconnectionError("the server closed this pooled connection")
        idle_since = record.info.get("checked_in_at")
        if idle_since is None or time.monotonic() - idle_since < PING_IF_IDLE_S:
            return  # new, or busy a moment ago
        try:
            await_only(driver.fetchrow(";"))
        except Exception as error:
            raise exc.DisconnectionError(f"ping failed: {error!r}") from error


def _install_sqlite_pragmas(engine: AsyncEngine, *, foreign_keys: bool, wal: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode")
                row = cursor.fetchone()
                if row is None or str(row[0]).lower() != "wal":
                    try:
                        cursor.execute("PRAGMA journal_mode=WAL")
                    except Exception as error:
                        # Another connection holds a lock while the file is still in rollback
                        # mode (SQLite does not wait here). WAL is a property of the file: the
                        # next connection switches it, and this one works either way.
                        if "locked" not in str(error).lower():
                            raise
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        finally:
            cursor.close()


def _install_sqlite_reset(engine: AsyncEngine) -> None:
    """Roll back a connection returned to the pool only when it is inside a transaction.

    The pool's own reset rolls back every returned connection, even one whose transaction was
    just committed; on aiosqlite each rollback is a round trip to the connection's thread
    (three of the 26 such hops of an ``/ideas``). SQLite knows whether a transaction is open
    (``in_transaction``, read without a hop), so only those are rolled back. A connection being
    discarded (``terminate_only``) or garbage-collected outside the event loop is not touched,
    as SQLAlchemy's own reset does."""

    @event.listens_for(engine.sync_engine, "reset")
    def _reset(dbapi_connection: Any, record: Any, state: Any) -> None:
        if state.terminate_only or not state.asyncio_safe:
            return
        if record.driver_connection.in_transaction:
            dbapi_connection.rollback()


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[Any]:
    return async_sessionmaker(engine, expire_on_commit=False)


# ---------------------------------------------------------------- errors


def _sqlstate(error: BaseException) -> str | None:
    for candidate in _chain(error):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str) and code:
            return code
    return None


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and everything behind it (``orig``, ``__cause__``, ``__context__``)."""
    seen: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop(0)
        if any(current is known for known in seen):
            continue
        seen.append(current)
        for nxt in (getattr(current, "orig", None), current.__cause__, current.__context__):
            if isinstance(nxt, BaseException):
                pending.append(nxt)
    return seen


def is_connection_error(error: BaseException) -> bool:
    """True when ``error`` means the database went away (not that our statement was wrong)."""
    if isinstance(error, exc.IntegrityError | exc.ProgrammingError | exc.DataError):
        return False
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError):
        return True
    if isinstance(error, OSError | exc.DisconnectionError):
        return True
    code = _sqlstate(error)
    if code and code.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return True
    try:
        import asyncpg  # local: optional driver
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        return False
    return any(
        isinstance(e, asyncpg.exceptions.ConnectionDoesNotExistError | asyncpg.InterfaceError)
        for e in _chain(error)
    )


def _reason(error: BaseException) -> str:
    """A short human reason for a connection failure."""
    chain = _chain(error)
    for candidate in chain:
        if isinstance(candidate, ConnectionRefusedError):
            return "connection refused"
        if isinstance(candidate, socket.gaierror):
            return "unknown host"
        if isinstance(candidate, TimeoutError):
            return "timed out"
    for candidate in chain:
        if isinstance(candidate, OSError) and candidate.strerror:
            return candidate.strerror[0].lower() + candidate.strerror[1:]
        if type(candidate).__module__.startswith("asyncpg"):
            text_ = str(candidate).strip().splitlines()
            if text_:
                return text_[0]
        if type(candidate).__module__.startswith("sqlite3"):
            return str(candidate)
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


# ---------------------------------------------------------------- migrations


def alembic_config(url: str | URL | None = None) -> Config:
    """An Alembic config built in code (no ini file needed), pointing at storage/migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("path_separator", "os")
    if url is not None:
        rendered = normalise_url(url).render_as_string(hide_password=False)
        cfg.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return cfg


async def migrate(url: str | URL | AsyncEngine, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (default: head). Safe to call on every start-up."""
    await _run_alembic(url, "upgrade", revision)


async def downgrade(url: str | URL | AsyncEngine, revision: str) -> None:
    """Downgrade the database to ``revision`` (e.g. ``"-1"`` or ``"base"``)."""
    await _run_alembic(url, "downgrade", revision)


async def current_revision(url: str | URL | AsyncEngine) -> str | None:
    """The revision the database is at (None for an empty database)."""

    def _current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    result: str | None = None

    async def _work(engine: AsyncEngine) -> None:
        nonlocal result
        async with engine.connect() as conn:
            result = await conn.run_sync(_current)

    await _with_engine(url, _work)
    return result


async def _run_alembic(url: str | URL | AsyncEngine, action: str, revision: str) -> None:
    def _run(connection: Connection, cfg: Config) -> None:
        cfg.attributes["connection"] = connection
        if action == "upgrade":
            command.upgrade(cfg, revision)
        else:
            command.downgrade(cfg, revision)

    async def _work(engine: AsyncEngine) -> None:
        cfg = alembic_config(engine.url)
        async with engine.begin() as conn:
            # Serialise instances that start together; the loser then finds the schema at head.
            if conn.dialect.name == "postgresql":
                await conn.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
                )
            elif conn.dialect.name == "sqlite":
                # SQLite DDL is transactional: take the write lock now, migrate atomically.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            await conn.run_sync(_run, cfg)
            if conn.dialect.name == "sqlite":
                problems = (await conn.exec_driver_sql("PRAGMA foreign_key_check")).all()
                if problems:
                    raise StartupError(
                        f"the database at {describe_url(engine.url)} has rows that break "
                        f"foreign keys after migrating ({len(problems)} found)"
                    )

    await _with_engine(url, _work)


async def _with_engine(url: str | URL | AsyncEngine, work: Any) -> None:
    if isinstance(url, AsyncEngine):
        try:
            await work(url)
        except StartupError:
            raise
        except Exception as error:
            raise _startup_error(url.url, error) from error
        return
    parsed = normalise_url(url)
    # Foreign keys off while migrating SQLite: batch mode recreates tables.
    engine = _build_engine(parsed, echo=False, foreign_keys=False, poolclass=pool.NullPool)
    try:
        await work(engine)
    except StartupError:
        raise
    except Exception as error:
        raise _startup_error(parsed, error) from error
    finally:
        await engine.dispose()


def _startup_error(url: URL, error: BaseException) -> StartupError:
    where = describe_url(url)
    reason = _reason(error)
    if url.get_backend_name() == "sqlite":
        if is_connection_error(error):
            return StartupError(f"cannot open the database at {where}: {reason}")
        return StartupError(f"migrating the database at {where} failed: {reason}")
    if is_connection_error(error) or _sqlstate(error) in ("28P01", "28000", "3D000"):
        return StartupError(f"cannot reach the PostgreSQL database at {where}: {reason}")
    return StartupError(f"migrating the PostgreSQL database at {where} failed: {reason}")


__all__ = [
    "DEFAULT_DATABASE_URL",
    "MIGRATIONS_DIR",
    "alembic_config",
    "create_engine",
    "current_revision",
    "describe_url",
    "downgrade",
    "ensure_sqlite_writable",
    "is_connection_error",
    "make_sessionmaker",
    "migrate",
    "normalise_url",
    "sqlite_path",
]
