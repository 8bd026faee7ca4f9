"""A real Prometheus server scrapes the running product.

``promtool check metrics`` (tests/e2e/test_http_app.py) checks the text format, and
``promtool test rules`` (tests/e2e/test_deploy_files.py) the alert logic over synthetic series.
This file checks the wiring between them with the real thing: Prometheus (Debian package
``prometheus``; ``make test`` installs it) runs with the deployment's own scrape job and alert
rules (deploy/prometheus/), pointed at the product's HTTP server on 127.0.0.1, and then

- the target is up and scraped without errors, and what the product did (a command, a Stripe
  event, an upload) reads back through PromQL with the right values;
- every query of the Grafana dashboard runs on the scraped data without a PromQL error, and
  the panels fed by that traffic have data;
- every alert rule evaluates without error (the worker's metrics port scraped as the
  ``huntaze-worker`` job), and when the product stops answering, ``up`` drops to 0 and the
  replica-down alert goes pending.

A missing ``prometheus`` skips these tests, or FAILS them when ``CI=true`` (``require_tool``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from bot.lifecycle import build_http_app
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import HttpWorld, load_event, start_world
from tests.services import free_port, require_tool
from webhooks.app import HttpServer

ROOT = Path(__file__).resolve().parents[2]
PROM_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "huntaze.json"
WAIT_S = 30.0  # upper bound for Prometheus to start / scrape / evaluate (never a timing check)


def scrape_config(app_target: str, worker_target: str) -> dict[str, Any]:
    """The deployment's Prometheus configuration with the ``huntaze`` and ``huntaze-worker``
    jobs pointed at the targets instead of Docker's DNS, scraping and evaluating every second."""
    config = yaml.safe_load(PROM_CONFIG.read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(ALERTS)]
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    for name, target in (("huntaze", app_target), ("huntaze-worker", worker_target)):
        jobs[name].pop("dns_sd_configs")
        jobs[name]["static_configs"] = [{"targets": [target]}]
    config["scrape_configs"] = [jobs["huntaze"], jobs["huntaze-worker"]]
    return config


class Prometheus:
    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http

    async def api(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.url}/api/v1/{path}", params=params) as r:
            body = await r.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("query", query=expr)
        return list(data["result"])

    async def value(self, expr: str) -> float | None:
        result = await self.query(expr)
        return None if not result else float(result[0]["value"][1])

    async def until(self, check: Callable[[], Awaitable[Any]], what: str) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_S
        while True:
            got = await check()
            if got:
                return got
            if loop.time() > deadline:
                pytest.fail(f"Prometheus: {what} did not happen within {WAIT_S:.0f} s")
            await asyncio.sleep(0.25)

    async def target(self, job: str = "huntaze") -> dict[str, Any]:
        data = await self.api("targets")
        (target,) = [t for t in data["activeTargets"] if t["labels"]["job"] == job]
        return dict(target)


@pytest.fixture
async def world(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> AsyncIterator[HttpWorld]:
    w = await start_world(migrated_sqlite_url, tmp_path / "data", clock)
    try:
        yield w
    finally:
        await w.aclose()


@pytest.fixture
async def worker_http(world: HttpWorld) -> AsyncIterator[HttpServer]:
    """What ``huntaze worker`` serves on its HTTP port (metrics and health only), on the same
    parts as the app."""
    server = HttpServer(build_http_app(world.container, public=False), "127.0.0.1", 0)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def prometheus(
    world: HttpWorld, worker_http: HttpServer, tmp_path: Path
) -> AsyncIterator[Prometheus]:
    binary = require_tool("prometheus")
    config = tmp_path / "prometheus.yml"
    targets = (world.url.removeprefix("http://"), worker_http.url.removeprefix("http://"))
    config.write_text(yaml.safe_dump(scrape_config(*targets)))
    port = free_port()
    log = tmp_path / "prometheus.log"
    with log.open("wb") as err_file:  # the child keeps its own descriptor
        proc = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=err_file,
        )
    try:
        async with aiohttp.ClientSession() as http:
            prom = Prometheus(f"http://127.0.0.1:{port}", http)

            async def ready() -> bool:
                if proc.returncode is not None:
                    err = log.read_text(errors="replace")[-2000:]
                    pytest.fail(f"prometheus exited ({proc.returncode}): {err}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{prom.url}/-/ready") as r:
                        return r.status == 200
                return False

            await prom.until(ready, "start-up")
            yield prom
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def make_traffic(world: HttpWorld) -> int:
    """A command, a Stripe event, an upload and a background import; returns the upload's size
    in bytes."""
    await world.say("mia", "/help")
    status, _ = await world.post_event(load_event("customer.created"))
    assert status == 200
    key = (await world.say("mia", "/apikey")).result["key"]
    content = b"\x89PNG\r\n\x1a\n" + b"\x02" * 700
    form = aiohttp.FormData()
    form.add_field("file", content, filename="a.png")
    async with world.http.post(
        world.url + "/api/v1/uploads", data=form, headers={"Authorization": f"Bearer {key}"}
    ) as r:
        assert r.status == 201
    form = aiohttp.FormData()
    form.add_field("file", b"Date,Amount\n2026-11-20,9.99\n", filename="earnings.csv")
    headers = {"Authorization": f"Bearer {key}", "Prefer": "respond-async"}
    async with world.http.post(world.url + "/api/v1/imports", data=form, headers=headers) as r:
        assert r.status == 202
    await world.container.jobs.join()
    return len(content)


def dashboard_queries() -> list[str]:
    doc = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in doc["panels"] for t in p.get("targets", []) if t.get("expr")]
    assert exprs
    return exprs


async def test_prometheus_scrapes_the_product_and_reads_back_what_it_did(
    world: HttpWorld, prometheus: Prometheus
) -> None:
    size = await make_traffic(world)

    async def scraped_twice_after_traffic() -> bool:
        # rate() needs two samples that both include the traffic.
        count = await prometheus.value(
            'count_over_time(huntaze_upload_bytes_total{store="local",outcome="stored"}[1m])'
        )
        return count is not None and count >= 2

    await prometheus.until(scraped_twice_after_traffic, "two scrapes after the traffic")
    target = await prometheus.target()
    assert target["health"] == "up" and target["lastError"] == "", target
    assert target["labels"]["job"] == "huntaze" and target["labels"]["service"] == "app"
    assert await prometheus.value('up{job="huntaze"}') == 1.0
    worker = await prometheus.target("huntaze-worker")
    assert worker["health"] == "up" and worker["labels"]["service"] == "worker", worker
    # Without Redis the app ran the import job itself (the worker's port serves the same
    # families; in production, the worker's own tries).
    assert await prometheus.value(
        'huntaze_jobs_total{job="huntaze",name="import_csv",outcome="ok"}'
    ) == pytest.approx(1.0)

    assert await prometheus.value(
        'sum(huntaze_commands_total{job="huntaze",command="help",platform="telegram",outcome="ok"})'
    ) == pytest.approx(1.0)
    assert await prometheus.value(
        'huntaze_webhook_events_total{source="stripe",type="customer.created",outcome="ignored"}'
    ) == pytest.approx(1.0)
    assert await prometheus.value(
        'huntaze_upload_bytes_total{store="local",outcome="stored"}'
    ) == pytest.approx(size)
    assert await prometheus.value(
        'huntaze_http_requests_total{method="POST",route="/api/v1/uploads",status="201"}'
    ) == pytest.approx(1.0)
    # Histograms arrive whole: the +Inf bucket counts every request of the route.
    assert await prometheus.value(
        'sum(huntaze_http_request_duration_seconds_bucket{job="huntaze",route="/webhooks/stripe",le="+Inf"})'
    ) == pytest.approx(1.0)

    # Every dashboard query is valid PromQL on the real series; the panels this traffic feeds
    # have data.
    results = {expr: await prometheus.query(expr) for expr in dashboard_queries()}
    fed = [
        'sum(up{job="huntaze"}) or vector(0)',
        "sum by (route) (rate(huntaze_http_requests_total[5m]))",
        "sum(rate(huntaze_commands_total[5m])) * 60",
        "sum by (store, outcome) (rate(huntaze_uploads_total[5m]))",
        "sum by (source, outcome) (rate(huntaze_webhook_events_total[5m]))",
        "sum by (instance) (huntaze_http_requests_in_flight)",
        "sum by (name, outcome) (rate(huntaze_jobs_total[5m]))",
    ]
    for expr in fed:
        assert expr in results, f"the dashboard no longer has {expr!r}: update this test"
        assert results[expr], f"no data for dashboard query {expr!r}"


async def test_alert_rules_evaluate_and_a_silent_replica_goes_pending(
    world: HttpWorld, prometheus: Prometheus
) -> None:
    async def rules_quiet() -> list[dict[str, Any]] | None:
        # Right after start-up, rules may evaluate before the first scrape (when "no replica
        # is up" is true): wait for an evaluation on real data, where nothing may be pending.
        data = await prometheus.api("rules")
        rules = [r for g in data["groups"] for r in g["rules"]]
        quiet = all(r.get("lastEvaluation", "").startswith("20") for r in rules) and all(
            r["state"] == "inactive" for r in rules
        )
        return rules if rules and quiet and await prometheus.value("min(up)") == 1.0 else None

    rules = await prometheus.until(rules_quiet, "every rule evaluated and quiet while up")
    names = {r["name"] for r in rules}
    expected = {
        r["alert"] for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]
    }
    assert names == expected
    for rule in rules:
        assert rule["health"] == "ok" and not rule.get("lastError"), rule

    await world.server.stop()  # the replica stops answering /metrics

    async def replica_down_pending() -> bool:
        alerts = (await prometheus.api("alerts"))["alerts"]
        return any(
            a["labels"]["alertname"] == "HuntazeReplicaDown" and a["state"] == "pending"
            for a in alerts
        )

    await prometheus.until(replica_down_pending, "HuntazeReplicaDown pending after the stop")
    assert await prometheus.value('up{job="huntaze"}') == 0.0
    target = await prometheus.target()
    assert target["health"] == "down" and target["lastError"]
