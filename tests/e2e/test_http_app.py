"""The HTTP application as a whole: request ids, JSON errors, /openapi.json, /metrics (checked
by ``promtool``), health and readiness (with the database and Redis cut off), graceful shutdown,
and ``huntaze serve`` running it."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web

from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import HttpWorld, load_event, start_world
from tests.services import TcpProxy, free_port, require_tool
from webhooks.app import HttpServer, create_app
from webhooks.openapi import OPERATIONS, build_openapi, routes_of


async def get(world: HttpWorld, path: str, **kwargs: Any) -> tuple[int, Any, Any]:
    async with world.http.get(world.url + path, **kwargs) as r:
        body = await r.read()
        try:
            parsed: Any = json.loads(body)
        except ValueError:
            parsed = body.decode()
        return r.status, parsed, r.headers


# ---------------------------------------------------------------- request ids and errors


async def test_every_answer_has_a_request_id_shared_by_its_log_lines(world: HttpWorld) -> None:
    captured: list[dict[str, Any]] = []

    def keep(_: Any, __: str, event: dict[str, Any]) -> Any:
        captured.append(dict(event))
        raise structlog.DropEvent

    old = structlog.get_config()
    # Every level: a test before this one may have configured the product's logging (the jobs
    # tests run `huntaze worker` in-process), and its level filter dropped the lines read here.
    structlog.configure(
        processors=[structlog.contextvars.merge_contextvars, keep],
        wrapper_class=structlog.make_filtering_bound_logger(0),
    )
    try:
        status, _, headers = await get(world, "/health/live", headers={"X-Request-Id": "abc-123"})
        assert status == 200 and headers["X-Request-Id"] == "abc-123"
        status, body, headers = await get(world, "/nowhere")
        generated = headers["X-Request-Id"]
        assert status == 404 and body["request_id"] == generated
        assert re.fullmatch(r"[0-9a-f]{16}", generated)
        # A header that is not a short token is replaced, never echoed.
        _, _, headers = await get(world, "/health/live", headers={"X-Request-Id": "a b<script>"})
        assert headers["X-Request-Id"] != "a b<script>"
        event = load_event("customer.created")
        await world.post_event(event)
    finally:
        structlog.configure(**old)
    stripe_lines = [e for e in captured if e.get("event") in ("stripe_event", "http_request")]
    by_id: dict[str, set[str]] = {}
    for line in stripe_lines:
        by_id.setdefault(line["request_id"], set()).add(line["event"])
    assert {"stripe_event", "http_request"} in by_id.values()


async def test_errors_are_json_with_the_right_status(world: HttpWorld) -> None:
    status, body, _ = await get(world, "/no/such/route")
    assert status == 404 and body["error"]
    async with world.http.delete(world.url + "/metrics") as r:
        assert r.status == 405 and "GET" in r.headers["Allow"]
        assert (await r.json())["error"]
    async with world.http.post(world.url + "/webhooks/stripe", data=b"x" * (2 * 1024 * 1024)) as r:
        assert r.status in (400, 413)  # too big or unsigned: never a crash
        assert "error" in await r.json()


async def test_a_crash_is_a_json_500_and_a_logged_traceback() -> None:
    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("secret detail")

    app = create_app()
    app.router.add_get("/boom", boom)
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        async with aiohttp.ClientSession() as http, http.get(server.url + "/boom") as r:
            body = await r.json()
            assert r.status == 500
            assert body["request_id"] == r.headers["X-Request-Id"]
            assert "secret detail" not in json.dumps(body)
    finally:
        await server.stop()


# ---------------------------------------------------------------- OpenAPI


class _Sink:
    async def feed_webhook_update(self, update: dict[str, Any]) -> bool:
        return True


async def test_openapi_describes_every_route(world: HttpWorld) -> None:
    status, doc, _ = await get(world, "/openapi.json")
    assert status == 200 and doc["openapi"].startswith("3.1")
    served = {(m, p) for m, p, _ in routes_of(world.server.app)}
    listed = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert served == listed
    for needed in (
        ("POST", "/webhooks/stripe"),
        ("POST", "/api/v1/uploads"),
        ("GET", "/api/v1/assets"),
        ("GET", "/metrics"),
        ("GET", "/health/live"),
        ("GET", "/health/ready"),
        ("GET", "/openapi.json"),
    ):
        assert needed in listed
    # With the Telegram webhook mounted too, every route still has a real description.
    app = create_app(telegram=_Sink(), telegram_secret="s3cret")
    full = build_openapi(app)
    for method, path, _ in routes_of(app):
        assert (method, path) in OPERATIONS, (method, path)
        assert full["paths"][path][method.lower()]["responses"]
    assert ("POST", "/webhooks/telegram") in {(m, p) for m, p, _ in routes_of(app)}


# ---------------------------------------------------------------- metrics


async def test_metrics_cover_the_product_and_pass_promtool(world: HttpWorld) -> None:
    await world.say("mia", "/help")
    await world.say("mia", "/nosuchcommand")
    await world.post_event(load_event("customer.created"))
    await world.post_event(b"{}", header="t=1,v1=00")
    key = (await world.say("mia", "/apikey")).result["key"]
    form = aiohttp.FormData()
    form.add_field("file", b"\x89PNG\r\n\x1a\n" + b"\x01" * 500, filename="a.png")
    async with world.http.post(
        world.url + "/api/v1/uploads", data=form, headers={"Authorization": f"Bearer {key}"}
    ) as r:
        assert r.status == 201
    await get(world, "/health/ready")
    status, text, headers = await get(world, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    for family in (
        'huntaze_http_requests_total{method="POST",route="/webhooks/stripe",status="200"}',
        "huntaze_http_request_duration_seconds_bucket",
        'huntaze_commands_total{command="help",outcome="ok",platform="telegram"}',
        'huntaze_commands_total{command="unknown",outcome="ok",platform="telegram"}',
        "huntaze_command_duration_seconds_bucket",
        'huntaze_webhook_events_total{outcome="ignored",source="stripe",type="customer.created"}',
        'huntaze_webhook_events_total{outcome="bad_signature",source="stripe",type="unverified"}',
        'huntaze_uploads_total{outcome="stored",store="local"}',
        'huntaze_upload_bytes_total{outcome="stored",store="local"} 508.0',
        'huntaze_circuit_breaker_state{dependency="llm",state="closed"} 1.0',
        "huntaze_rate_limit_rejections_total",
        "huntaze_llm_requests_total",
        "huntaze_upstream_calls_total",
        "huntaze_cache_lookups_total",
    ):
        if not family.endswith("_total") or "{" in family:
            assert family in text, family
        else:
            assert f"# TYPE {family} counter" in text, family
    # No user, chat or account identifiers in any label.
    account = await world.identity("mia")
    labels = " ".join(re.findall(r"\{([^}]*)\}", text))
    assert "mia" not in labels and f'"{account.id}"' not in labels and key not in text
    await _promtool_check(text)


async def _promtool_check(text: str) -> None:
    promtool = require_tool("promtool")
    proc = await asyncio.create_subprocess_exec(
        promtool,
        "check",
        "metrics",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate(text.encode())
    assert proc.returncode == 0, (out + err).decode()


# ---------------------------------------------------------------- health


async def test_live_and_ready(world: HttpWorld) -> None:
    status, body, _ = await get(world, "/health/live")
    assert (status, body) == (200, {"status": "ok"})
    status, body, _ = await get(world, "/health/ready")
    assert status == 200 and body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["blobs"]["ok"] is True
    assert "redis" not in body["checks"]  # not configured
    assert body["checks"]["llm"] == {"ok": True, "critical": False, "engine": "offline"}


@pytest.mark.postgres
async def test_ready_is_503_while_the_database_is_down(
    migrated_postgres_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    from sqlalchemy.engine import make_url

    real = make_url(migrated_postgres_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    url = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    w = await start_world(url, tmp_path, clock)
    try:
        account = await w.identity("mia")
        key = (await w.say("mia", "/apikey")).result["key"]
        assert (await get(w, "/health/ready"))[0] == 200

        await proxy.stop()
        status, body, _ = await get(w, "/health/ready")
        assert status == 503 and body["status"] == "unavailable"
        assert body["checks"]["database"]["ok"] is False
        assert body["checks"]["blobs"]["ok"] is True  # the rest is still reported
        assert (await get(w, "/health/live"))[0] == 200  # alive, just not ready
        # The API answers "try again later" in JSON, not a crash.
        headers = {"Authorization": f"Bearer {key}"}
        async with w.http.get(f"{w.url}/api/v1/assets", headers=headers) as r:
            assert r.status == 503 and int(r.headers["Retry-After"]) > 0
            assert "try again" in (await r.json())["error"]
        # Stripe is told to deliver again later; nothing half-written.
        event = load_event("checkout.session.completed.payment")
        event["data"]["object"]["client_reference_id"] = str(account.id)
        status, _ = await w.post_event(event)
        assert status == 503

        await proxy.start()
        status, body, _ = await get(w, "/health/ready")
        assert status == 200 and body["checks"]["database"]["ok"] is True
        status, body = await w.post_event(event)  # Stripe's retry
        assert (status, body["outcome"]) == (200, "applied")
        assert (await w.account(account.id)).credits == 500
    finally:
        await proxy.stop()
        await w.aclose()


@pytest.mark.redis
async def test_ready_checks_redis_when_configured(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock, redis_url: str
) -> None:
    from sqlalchemy.engine import make_url

    real = make_url(redis_url.replace("redis://", "postgresql://"))  # just to parse host/port
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 6379)
    await proxy.start()
    proxied = f"redis://127.0.0.1:{proxy.port}/{real.database or 0}"
    w = await start_world(migrated_sqlite_url, tmp_path, clock, redis_url=proxied)
    try:
        status, body, _ = await get(w, "/health/ready")
        assert status == 200 and body["checks"]["redis"]["ok"] is True
        await proxy.stop()
        status, body, _ = await get(w, "/health/ready")
        assert status == 503 and body["checks"]["redis"]["ok"] is False
    finally:
        await proxy.stop()
        await w.aclose()


# ---------------------------------------------------------------- graceful shutdown


async def test_stopping_finishes_in_flight_requests_and_notices(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    w = await start_world(migrated_sqlite_url, tmp_path, clock, notifier_delay=0.4)
    try:
        account = await w.identity("mia")
        key = (await w.say("mia", "/apikey")).result["key"]

        async def slow_body() -> AsyncIterator[bytes]:
            yield b'--S\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n'
            yield b"Content-Type: image/png\r\n\r\n\x89PNG\r\n\x1a\n"
            for _ in range(5):
                await asyncio.sleep(0.1)
                yield b"\x02" * 1000
            yield b"\r\n--S--\r\n"

        async def slow_upload() -> int:
            headers = {
                "Authorization": f"Bearer {key}",
                "Content-Type": "multipart/form-data; boundary=S",
            }
            async with w.http.post(
                w.url + "/api/v1/uploads", data=slow_body(), headers=headers
            ) as r:
                return r.status

        event = load_event("checkout.session.completed.payment")
        event["data"]["object"]["client_reference_id"] = str(account.id)
        status, _ = await w.post_event(event)  # its notice takes 0.4 s to send
        assert status == 200
        upload = asyncio.create_task(slow_upload())
        await asyncio.sleep(0.15)
        started = time.monotonic()
        await w.server.stop()
        assert await upload == 201  # the request in flight was answered
        assert time.monotonic() - started < 5
        assert any("500 credits" in t for t in w.notices.to(account.id))  # drained
        with pytest.raises(aiohttp.ClientConnectionError):
            async with w.http.get(w.url + "/health/live"):
                pass
    finally:
        await w.aclose()


def test_huntaze_serve_runs_the_http_server_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "S3_"))}
    env.update(HTTP_PORT=str(port), LOG_FORMAT="json", STRIPE_WEBHOOK_SECRETS="whsec_x")
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                ready = _http_get(f"http://127.0.0.1:{port}/health/ready")
                break
            except OSError:
                time.sleep(0.2)
        assert ready is not None, "huntaze serve did not listen"
        assert ready[0] == 200 and json.loads(ready[1])["status"] == "ok"
        status, body = _http_get(f"http://127.0.0.1:{port}/openapi.json")
        assert status == 200 and "/webhooks/stripe" in json.loads(body)["paths"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        output = proc.stdout.read().decode() if proc.stdout else ""
        assert '"http_stopped"' in output and "Traceback" not in output
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _http_get(url: str) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
