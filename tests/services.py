"""Real servers for tests: PostgreSQL and Redis, found or started once per test session.

- ``postgres_base_url()``: ``TEST_POSTGRES_URL`` if set; else 127.0.0.1:5432 user ``postgres`` if
  it answers; else a throw-away server (``initdb`` + ``pg_ctl`` in a temporary directory on a free
  port, run as a non-root user when we are root; ``apt-get install postgresql`` when root and
  ``initdb`` is missing). Returns a server URL without a database name.
- ``redis_base_url()``: ``TEST_REDIS_URL`` if set; else 127.0.0.1:6379 if it answers; else
  ``redis-server`` on a free port in a temporary directory.
- ``TEST_PRIVATE_SERVERS=1`` skips the default ports and always starts throw-away servers.
- Both raise ``ServiceNotAvailable`` (with the reason) when no server can be had; the fixtures in
  ``tests/conftest.py`` turn that into a skip, or a failure when ``CI=true``.
- ``stop_services()`` stops whatever this module started (called at the end of the session).

Also here: ``TcpProxy`` (put it between a client and a server, then ``stop()`` it to make the
server "go away").
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432"
REDIS_DEFAULT = "redis://127.0.0.1:6379"
_START_TIMEOUT = 60.0


class ServiceNotAvailable(RuntimeError):
    """No server of this kind could be found or started; the message says why."""


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def require_tool(name: str) -> str:
    """The path of the command ``name``; skips the test when it is missing, or FAILS it when
    ``CI=true`` (scripts/ensure-tools.sh installs the tools the tests use)."""
    import pytest

    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/ensure-tools.sh installs it as root)"
        if in_ci():
            pytest.fail(f"{message}; it is required when CI=true", pytrace=False)
        pytest.skip(message)
    return path


def _private_only() -> bool:
    """``TEST_PRIVATE_SERVERS=1``: always start throw-away servers, ignore the default ports."""
    return os.environ.get("TEST_PRIVATE_SERVERS", "").strip().lower() in ("1", "true", "yes")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def run_async(factory: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion from sync code, even when the caller's thread has a loop."""
    result: list[T] = []
    errors: list[BaseException] = []

    def _target() -> None:
        async def _main() -> T:
            return await factory()

        try:
            result.append(asyncio.run(_main()))
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=_target, name="tests-run-async")
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return result[0]


# ---------------------------------------------------------------- managed servers


@dataclass
class _Handle:
    url: str | None = None
    reason: str = ""
    stop: Callable[[], None] | None = None


_lock = threading.Lock()
_handles: dict[str, _Handle] = {}


def postgres_base_url() -> str:
    """A PostgreSQL server URL (``postgresql+asyncpg://user@host:port``), no database name."""
    return _get("postgres", _find_or_start_postgres)


def redis_base_url() -> str:
    """A Redis server URL (``redis://host:port``), no database index."""
    return _get("redis", _find_or_start_redis)


def stop_services() -> None:
    with _lock:
        handles = list(_handles.values())
        _handles.clear()
    for handle in handles:
        if handle.stop is not None:
            with contextlib.suppress(Exception):
                handle.stop()


def _get(kind: str, finder: Callable[[], _Handle]) -> str:
    with _lock:
        handle = _handles.get(kind)
        if handle is None:
            try:
                handle = finder()
            except Exception as error:  # any failure to start is "not available", with a reason
                handle = _Handle(reason=f"{type(error).__name__}: {error}")
            _handles[kind] = handle
    if handle.url is None:
        raise ServiceNotAvailable(f"no {kind} server: {handle.reason}")
    return handle.url


# ---------------------------------------------------------------- PostgreSQL


async def _pg_answers(url: str) -> str | None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://") + "/postgres"
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    await conn.close()
    return None


def _find_or_start_postgres() -> _Handle:
    configured = os.environ.get("TEST_POSTGRES_URL")
    if configured:
        from urllib.parse import urlsplit

        parts = urlsplit(configured)  # keep user, password, host, port; drop the database
        url = f"postgresql+asyncpg://{parts.netloc}"
        problem = run_async(lambda: _pg_answers(url))
        return _Handle(url=url) if problem is None else _Handle(reason=problem)
    if not _private_only() and run_async(lambda: _pg_answers(PG_DEFAULT)) is None:
        return _Handle(url=PG_DEFAULT)
    return _start_postgres()


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    return candidates[-1] if candidates else None


def _as_user(user: str | None, cmd: list[str]) -> list[str]:
    if user is None:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", user, "--", *cmd]
    quoted = " ".join(subprocess.list2cmdline([part]) for part in cmd)
    return ["su", user, "-s", "/bin/sh", "-c", quoted]


def _start_postgres() -> _Handle:
    initdb = _pg_bin("initdb")
    if initdb is None and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(
            ["apt-get", "install", "-y", "-q", "postgresql"],
            check=True,
            capture_output=True,
            timeout=600,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )
        initdb = _pg_bin("initdb")
    pg_ctl = _pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        return _Handle(reason="initdb/pg_ctl not found and PostgreSQL could not be installed")

    user: str | None = None
    if os.geteuid() == 0:
        user = "postgres"
        try:
            pwd.getpwnam(user)
        except KeyError:
            user = "nobody"
    workdir = tempfile.mkdtemp(prefix="huntaze-pg-")
    os.chmod(workdir, 0o755)
    data = os.path.join(workdir, "data")
    log = os.path.join(workdir, "server.log")
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(workdir, entry.pw_uid, entry.pw_gid)
    port = free_port()
    subprocess.run(
        _as_user(
            user,
            [initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"],
        ),
        check=True,
        capture_output=True,
        timeout=_START_TIMEOUT,
    )
    options = (
        f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 "
        "-c fsync=off -c full_page_writes=off -c synchronous_commit=off"
    )
    subprocess.run(
        _as_user(user, [pg_ctl, "-D", data, "-o", options, "-l", log, "-w", "-t", "60", "start"]),
        check=True,
        capture_output=True,
        timeout=_START_TIMEOUT + 10,
    )

    def _stop() -> None:
        subprocess.run(
            _as_user(user, [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]),
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(workdir, ignore_errors=True)

    url = f"postgresql+asyncpg://postgres@127.0.0.1:{port}"
    problem = run_async(lambda: _pg_answers(url))
    if problem is not None:
        _stop()
        return _Handle(reason=f"started PostgreSQL does not answer: {problem}")
    return _Handle(url=url, stop=_stop)


# ---------------------------------------------------------------- Redis


def _redis_answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _find_or_start_redis() -> _Handle:
    configured = os.environ.get("TEST_REDIS_URL")
    if configured:
        from urllib.parse import urlsplit

        parts = urlsplit(configured)
        host, port = parts.hostname or "127.0.0.1", parts.port or 6379
        if _redis_answers(host, port):
            return _Handle(url=f"{parts.scheme}://{parts.netloc}")
        return _Handle(reason=f"TEST_REDIS_URL {host}:{port} does not answer PING")
    if not _private_only() and _redis_answers("127.0.0.1", 6379):
        return _Handle(url=REDIS_DEFAULT)
    return _start_redis()


def _start_redis() -> _Handle:
    server = shutil.which("redis-server")
    if server is None:
        return _Handle(reason="redis-server not found")
    workdir = tempfile.mkdtemp(prefix="huntaze-redis-")
    port = free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            workdir,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def _stop() -> None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(workdir, ignore_errors=True)

    deadline = time.monotonic() + _START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            shutil.rmtree(workdir, ignore_errors=True)
            return _Handle(reason=f"redis-server exited with {process.returncode}")
        if _redis_answers("127.0.0.1", port):
            return _Handle(url=f"redis://127.0.0.1:{port}", stop=_stop)
        time.sleep(0.05)
    _stop()
    return _Handle(reason="redis-server did not answer in time")


# ---------------------------------------------------------------- TCP proxy


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 to make a server "go away" (``stop``) and come back.

    ``await proxy.start()`` listens (on an ephemeral port the first time, the same port after);
    ``await proxy.stop()`` closes the listener and cuts every open connection.
    """

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))

        async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
        self._writers.discard(writer)
        self._writers.discard(up_writer)
