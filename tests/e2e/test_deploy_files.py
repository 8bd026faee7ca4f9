"""The deployment files: Dockerfile, docker-compose.yml, Prometheus, Grafana, MinIO set-up.

Checked with the real tools where they exist (Debian packages ``docker-compose`` and
``prometheus`` for ``promtool``; ``scripts/ensure-tools.sh`` installs them): a tool that is
missing skips its tests, or FAILS them when ``CI=true``.

- ``docker-compose config`` validates and resolves the compose file; the resolved model is
  then checked for what the deployment promises (replicas, healthchecks, start order, mounts,
  secrets that must be given, optional settings left unset rather than empty).
- ``promtool check config|rules`` validates Prometheus' files, and ``promtool test rules`` runs
  the alert rules over synthetic series: each alert fires when it should and stays quiet
  when it should not.
- Every metric named by the dashboard and the alert rules is one the app exports (the
  registry built by ``webhooks/metrics.py``) or one Prometheus makes itself (``up``).
- The Dockerfile's runtime stage runs as non-root, and its HEALTHCHECK command, run for real
  against a local HTTP server, passes on 200 and fails on 503 or no server.
- The shell scripts run against recording stand-ins for ``apt-get`` / ``id`` / ``mc``.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from tests.services import in_ci, require_tool

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
PROM_DIR = ROOT / "deploy" / "prometheus"
PROM_CONFIG = PROM_DIR / "prometheus.yml"
ALERTS = PROM_DIR / "alerts.yml"
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "huntaze.json"
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
DASHBOARD_PROVIDER = GRAFANA / "provisioning" / "dashboards" / "huntaze.yml"
CREATE_BUCKET = ROOT / "deploy" / "minio" / "create-bucket.sh"
ENSURE_TOOLS = ROOT / "scripts" / "ensure-tools.sh"
OPERATIONS = ROOT / "docs" / "OPERATIONS.md"

SECRETS = {
    "POSTGRES_PASSWORD": "pg-secret-0123",
    "MINIO_ROOT_PASSWORD": "minio-secret-4567",
    "S3_SECRET_KEY": "s3-secret-89ab",
    "GRAFANA_ADMIN_PASSWORD": "grafana-secret-cdef",
}
# Settings the app reads that compose must pass through only when they are set (pydantic
# would take an empty string as "configured": an empty bot token, an empty API key).
PASS_THROUGH = {
    "app": ["TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_URL", "TELEGRAM_WEBHOOK_SECRET"],
    "discord": ["DISCORD_BOT_TOKEN"],
    "worker": [],
}
COMMON_PASS_THROUGH = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "STRIPE_API_KEY",
    "STRIPE_WEBHOOK_SECRETS",
    "STRIPE_PRICE_PRO",
    "ENFORCE_QUOTAS",
]

# Series Prometheus itself attaches to every scrape target.
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped"}


def _clean_env(**extra: str) -> dict[str, str]:
    """The test process' environment without anything compose would substitute."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(extra)
    return env


def _compose(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    binary = require_tool("docker-compose")
    # An empty --env-file: a developer's .env must not change what the test sees.
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty.env"
        empty.touch()
        cmd = [binary, "--env-file", str(empty), "-f", str(COMPOSE), *args]
        return subprocess.run(
            cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
        )


@pytest.fixture(scope="module")
def compose_model() -> dict[str, Any]:
    """``docker-compose config`` output (every profile), secrets given, nothing optional set."""
    result = _compose("--profile", "discord", "config", env=_clean_env(**SECRETS))
    assert result.returncode == 0, result.stderr
    model = yaml.safe_load(result.stdout)
    assert isinstance(model, dict)
    return model


def _environment(service: dict[str, Any]) -> dict[str, Any]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE / KEY form
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return env


def _mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of each volume, from the short (compose 1.x) or long form."""
    mounts = []
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
            kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
        else:
            kind, source, target = volume["type"], volume["source"], volume["target"]
        mounts.append((kind, source, target))
    return mounts


def _mount_sources(service: dict[str, Any]) -> dict[str, str]:
    """target -> source of every bind mount."""
    return {target: source for kind, source, target in _mounts(service) if kind == "bind"}


# ---------------------------------------------------------------- docker-compose


def test_compose_config_is_valid() -> None:
    result = _compose("config", "-q", env=_clean_env(**SECRETS))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_compose_refuses_to_run_without_each_secret(missing: str) -> None:
    env = _clean_env(**{k: v for k, v in SECRETS.items() if k != missing})
    result = _compose("config", "-q", env=env)
    assert result.returncode != 0
    assert missing in result.stderr


def test_compose_file_holds_no_secret_and_no_hard_coded_token() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    for value in SECRETS.values():
        assert value not in text
    for key in ("PASSWORD", "SECRET", "TOKEN", "API_KEY"):
        for line in text.splitlines():
            match = re.match(rf"\s*([A-Z_]*{key}[A-Z_]*):\s*(\S.*)?$", line)
            if match and match.group(2):
                # a value is either a substitution or nothing (pass-through)
                assert match.group(2).startswith("${"), line


def test_app_runs_two_replicas_of_huntaze_serve_reachable_in_the_container(
    compose_model: dict[str, Any],
) -> None:
    app = compose_model["services"]["app"]
    assert app["deploy"]["replicas"] == 2
    assert app["command"] == ["huntaze", "serve"]
    env = _environment(app)
    assert env["HTTP_HOST"] == "0.0.0.0"
    assert str(env["HTTP_PORT"]) == "8080"
    # the published range has one host port per replica (loopback: see the test below)
    (port,) = app["ports"]
    if isinstance(port, dict):  # compose v2
        published, target = str(port["published"]), int(port["target"])
    else:  # compose 1.x: "127.0.0.1:8080-8081:8080/tcp"
        published, target = (
            port.split("/")[0].split(":")[-2],
            int(port.split("/")[0].split(":")[-1]),
        )
    low, high = (int(p) for p in published.split("-"))
    assert target == 8080
    assert high - low + 1 >= app["deploy"]["replicas"]


def test_app_uses_the_compose_postgres_redis_and_minio(compose_model: dict[str, Any]) -> None:
    env = _environment(compose_model["services"]["app"])
    pg = SECRETS["POSTGRES_PASSWORD"]
    assert env["DATABASE_URL"] == f"postgresql+asyncpg://huntaze:{pg}@postgres:5432/huntaze"
    assert env["REDIS_URL"].startswith("redis://redis:6379/")
    assert env["S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["S3_BUCKET"] == "huntaze-vault"
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRETS["S3_SECRET_KEY"]
    init_env = _environment(compose_model["services"]["minio-init"])
    assert init_env["S3_BUCKET"] == env["S3_BUCKET"]
    assert init_env["S3_ACCESS_KEY"] == env["AWS_ACCESS_KEY_ID"]
    assert init_env["S3_SECRET_KEY"] == env["AWS_SECRET_ACCESS_KEY"]
    postgres_env = _environment(compose_model["services"]["postgres"])
    assert postgres_env["POSTGRES_PASSWORD"] == pg


def test_optional_settings_are_left_unset_not_empty(compose_model: dict[str, Any]) -> None:
    for name, own in PASS_THROUGH.items():
        env = _environment(compose_model["services"][name])
        for key in [*COMMON_PASS_THROUGH, *own]:
            assert key in env, f"{name} does not pass {key} through"
            assert env[key] is None, f"{name}: {key} would be set to {env[key]!r}"


def test_every_variable_given_to_huntaze_is_a_setting_it_reads(
    compose_model: dict[str, Any],
) -> None:
    from bot.settings import Settings

    known = {name.upper() for name in Settings.model_fields}
    known |= {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}  # read by boto3
    for name in ("app", "discord", "worker"):
        unknown = set(_environment(compose_model["services"][name])) - known
        assert not unknown, f"{name}: not settings: {sorted(unknown)}"


def test_optional_settings_pass_through_when_set() -> None:
    env = _clean_env(**SECRETS, TELEGRAM_BOT_TOKEN="123:abc", DISCORD_BOT_TOKEN="d-token")
    result = _compose("--profile", "discord", "config", env=env)
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert _environment(services["app"])["TELEGRAM_BOT_TOKEN"] == "123:abc"
    assert _environment(services["discord"])["DISCORD_BOT_TOKEN"] == "d-token"


def test_discord_gateway_runs_in_one_process_only(compose_model: dict[str, Any]) -> None:
    services = compose_model["services"]
    for name, service in services.items():
        if "DISCORD_BOT_TOKEN" in _environment(service) and service.get("command") != [
            "huntaze",
            "worker",
        ]:
            assert name == "discord"
            assert service.get("deploy", {}).get("replicas", 1) == 1
    assert "DISCORD_BOT_TOKEN" not in _environment(services["app"])


def test_worker_runs_huntaze_worker_with_the_images_healthcheck(
    compose_model: dict[str, Any],
) -> None:
    # The worker serves /health/live on its HTTP_PORT (test_jobs.py runs it), so the image's
    # HEALTHCHECK applies; its port is for Prometheus on the compose network, not the host.
    worker = compose_model["services"]["worker"]
    assert worker["command"] == ["huntaze", "worker"]
    healthcheck = worker.get("healthcheck") or {}
    # docker-compose 1.x writes `disable: true` as the engine's `test: [NONE]`
    assert not healthcheck.get("disable") and healthcheck.get("test") != ["NONE"]
    assert _environment(worker)["HTTP_PORT"] == "8080" and not worker.get("ports")


def test_backing_services_have_healthchecks_and_the_app_waits_for_them(
    compose_model: dict[str, Any],
) -> None:
    services = compose_model["services"]
    for name in ("postgres", "redis", "minio", "prometheus"):
        test = services[name]["healthcheck"]["test"]
        assert test and test[0] in ("CMD", "CMD-SHELL"), name
    for name in ("app", "worker", "discord"):
        depends = services[name]["depends_on"]
        for backing in ("postgres", "redis", "minio"):
            assert depends[backing]["condition"] == "service_healthy", (name, backing)
        assert depends["minio-init"]["condition"] == "service_completed_successfully"
    assert services["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_data_lives_in_named_volumes(compose_model: dict[str, Any]) -> None:
    services = compose_model["services"]
    expected = {
        "postgres": "/var/lib/postgresql/data",
        "redis": "/data",
        "minio": "/data",
        "prometheus": "/prometheus",
        "grafana": "/var/lib/grafana",
    }
    for name, target in expected.items():
        named = {t: src for kind, src, t in _mounts(services[name]) if kind == "volume"}
        assert target in named, (name, services[name]["volumes"])
        assert named[target] in compose_model["volumes"]
    redis_command = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis_command


def test_config_files_are_mounted_from_the_repository(compose_model: dict[str, Any]) -> None:
    services = compose_model["services"]
    expected = {
        "prometheus": {
            "/etc/prometheus/prometheus.yml": PROM_CONFIG,
            "/etc/prometheus/alerts.yml": ALERTS,
        },
        "grafana": {
            "/etc/grafana/provisioning": GRAFANA / "provisioning",
            "/var/lib/grafana/dashboards": GRAFANA / "dashboards",
        },
        "minio-init": {"/deploy/create-bucket.sh": CREATE_BUCKET},
    }
    for name, mounts in expected.items():
        actual = _mount_sources(services[name])
        for target, source in mounts.items():
            assert Path(actual[target]).resolve() == source.resolve(), (name, target)
            assert source.exists(), source
    prometheus_command = " ".join(services["prometheus"]["command"])
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus_command
    # the dashboard provider reads the directory the dashboards are mounted at
    provider = yaml.safe_load(DASHBOARD_PROVIDER.read_text(encoding="utf-8"))
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    assert services["minio-init"]["entrypoint"][-1] == "/deploy/create-bucket.sh"


def test_only_loopback_ports_are_published(compose_model: dict[str, Any]) -> None:
    for name, service in compose_model["services"].items():
        for port in service.get("ports") or []:
            if isinstance(port, dict):
                host = port.get("host_ip") or str(port.get("published", "")).rpartition(":")[0]
            else:
                host = port.split(":")[0]
            assert host == "127.0.0.1", (name, port)


# ---------------------------------------------------------------- Prometheus


def _promtool(*args: str, cwd: Path = PROM_DIR) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("promtool"), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_promtool_accepts_the_alert_rules() -> None:
    result = _promtool("check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_prometheus_config() -> None:
    result = _promtool("check", "config", str(PROM_CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout


def test_prometheus_scrapes_every_app_replica_and_loads_the_rules() -> None:
    config = yaml.safe_load(PROM_CONFIG.read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for job, service in (("huntaze", "app"), ("huntaze-worker", "worker")):
        scrape = jobs[job]
        assert scrape.get("metrics_path", "/metrics") == "/metrics"
        (sd,) = scrape["dns_sd_configs"]
        assert sd["names"] == [service] and sd["type"] == "A" and sd["port"] == 8080


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_alerts_cover_breakers_errors_latency_and_webhooks_with_runbooks() -> None:
    rules = {rule["alert"]: rule for rule in _alert_rules()}
    for name in (
        "HuntazeBreakerOpen",
        "HuntazeHighErrorRate",
        "HuntazeHighLatencyP95",
        "HuntazeWebhookFailures",
        "HuntazeReplicaDown",
    ):
        assert name in rules
    docs = OPERATIONS.read_text(encoding="utf-8")
    for name, rule in rules.items():
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        assert rule["annotations"]["runbook"] == f"docs/OPERATIONS.md#{name.lower()}"
        # each alert has its own section in the operations guide
        assert re.search(rf"^#+ {name}\b", docs, re.MULTILINE), name


def _series(metric: str, /, **labels: str) -> str:
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


def _counter(per_minute: float, minutes: int = 40) -> str:
    """promtool series notation: a counter growing by ``per_minute`` each 1m step."""
    return f"0+{per_minute:g}x{minutes}"


LATENCY = "huntaze_http_request_duration_seconds"
WEBHOOKS = "huntaze_webhook_events_total"

# One promtool unit test per scenario: synthetic series in, the alerts that must (and must not)
# be firing at the given times out. Names and labels are the ones webhooks/metrics.py exports.
ALERT_SCENARIOS: dict[str, dict[str, Any]] = {
    "breaker_open": {
        "series": {
            _series(
                "huntaze_circuit_breaker_state", instance="a", dependency="llm", state="open"
            ): ("0 0 1x20"),
            _series(
                "huntaze_circuit_breaker_state", instance="a", dependency="llm", state="closed"
            ): ("1 1 0x20"),
            _series(
                "huntaze_circuit_breaker_state", instance="b", dependency="stripe", state="open"
            ): ("0x22"),
        },
        "expect": [
            (1, "HuntazeBreakerOpen", []),
            (6, "HuntazeBreakerOpen", [{"severity": "warning", "dependency": "llm"}]),
        ],
    },
    "error_rate_high": {
        "series": {
            _series(
                "huntaze_http_requests_total", route="/webhooks/stripe", method="POST", status="200"
            ): (_counter(600)),
            _series(
                "huntaze_http_requests_total", route="/webhooks/stripe", method="POST", status="500"
            ): (_counter(60)),
        },
        "expect": [
            (2, "HuntazeHighErrorRate", []),
            (15, "HuntazeHighErrorRate", [{"severity": "critical"}]),
        ],
    },
    "error_rate_low": {
        "series": {
            _series(
                "huntaze_http_requests_total", route="/api/v1/assets", method="GET", status="200"
            ): (_counter(600)),
            _series(
                "huntaze_http_requests_total", route="/api/v1/assets", method="GET", status="503"
            ): (_counter(6)),
        },
        "expect": [(15, "HuntazeHighErrorRate", [])],
    },
    "replicas": {
        "series": {
            _series("up", job="huntaze", instance="a:8080"): "1 1 0x20",
            _series("up", job="huntaze", instance="b:8080"): "1 1 1 1 1 1 0x16",
        },
        "expect": [
            (1, "HuntazeReplicaDown", []),
            (
                5,
                "HuntazeReplicaDown",
                [{"severity": "warning", "job": "huntaze", "instance": "a:8080"}],
            ),
            (5, "HuntazeAllReplicasDown", []),
            (12, "HuntazeAllReplicasDown", [{"severity": "critical"}]),
        ],
    },
    "latency": {
        "series": {
            # a slow route: every request takes between 1 and 2.5 s
            **{
                _series(f"{LATENCY}_bucket", route="/api/v1/uploads", le=le): (
                    _counter(0 if le in ("0.5", "1.0") else 60)
                )
                for le in ("0.5", "1.0", "2.5", "+Inf")
            },
            _series(f"{LATENCY}_count", route="/api/v1/uploads"): _counter(60),
        },
        "expect": [
            (3, "HuntazeHighLatencyP95", []),
            (20, "HuntazeHighLatencyP95", [{"severity": "warning"}]),
        ],
    },
    "latency_of_scrapes_is_ignored": {
        "series": {
            **{
                _series(f"{LATENCY}_bucket", route="/metrics", le=le): (
                    _counter(0 if le in ("0.5", "1.0") else 60)
                )
                for le in ("0.5", "1.0", "2.5", "+Inf")
            },
            _series(f"{LATENCY}_count", route="/metrics"): _counter(60),
        },
        "expect": [(20, "HuntazeHighLatencyP95", [])],
    },
    "webhooks": {
        "series": {
            _series(WEBHOOKS, source="stripe", type="unverified", outcome="bad_signature"): (
                _counter(1)
            ),
            _series(WEBHOOKS, source="stripe", type="invoice.paid", outcome="duplicate"): (
                _counter(30)
            ),
            _series(WEBHOOKS, source="stripe", type="invoice.paid", outcome="processed"): (
                _counter(30)
            ),
        },
        "expect": [
            (3, "HuntazeWebhookFailures", []),
            (
                20,
                "HuntazeWebhookFailures",
                [{"severity": "warning", "source": "stripe", "outcome": "bad_signature"}],
            ),
        ],
    },
    "commands": {
        "series": {
            _series("huntaze_commands_total", command="ideas", platform="telegram", outcome="ok"): (
                _counter(60)
            ),
            _series(
                "huntaze_commands_total", command="ideas", platform="telegram", outcome="usage"
            ): (_counter(30)),
            _series(
                "huntaze_commands_total", command="ideas", platform="telegram", outcome="error"
            ): (_counter(9)),
        },
        "expect": [
            (5, "HuntazeCommandErrors", []),
            (30, "HuntazeCommandErrors", [{"severity": "warning"}]),
        ],
    },
    "worker_down": {
        "series": {
            _series("up", job="huntaze-worker", instance="w:8080"): "1 1 1 0x20",
            _series("up", job="huntaze", instance="a:8080"): "1x23",
        },
        "expect": [
            (5, "HuntazeWorkerDown", []),
            (10, "HuntazeWorkerDown", [{"severity": "warning"}]),
            (10, "HuntazeAllReplicasDown", []),
        ],
    },
    "dead_letters": {
        "series": {
            # one dead import at minute 10, none for summaries
            _series("huntaze_jobs_dead_total", instance="w:8080", name="import_csv"): ("0x10 1x80"),
            _series("huntaze_jobs_dead_total", instance="w:8080", name="summary"): "0x90",
        },
        "expect": [
            (5, "HuntazeJobsDeadLettered", []),
            (12, "HuntazeJobsDeadLettered", [{"severity": "warning", "name": "import_csv"}]),
            (85, "HuntazeJobsDeadLettered", []),  # an hour later it has been seen
        ],
    },
    "llm_fallbacks": {
        "series": {
            _series(
                "huntaze_llm_requests_total", feature="ideas", model="m", outcome="ok"
            ): _counter(10),
            _series("huntaze_llm_requests_total", feature="ideas", model="m", outcome="fallback"): (
                _counter(10)
            ),
        },
        "expect": [
            (5, "HuntazeLLMDegraded", []),
            (38, "HuntazeLLMDegraded", [{"severity": "info"}]),
        ],
    },
}


@pytest.mark.parametrize("scenario", sorted(ALERT_SCENARIOS))
def test_alert_rules_fire_when_they_should(scenario: str, tmp_path: Path) -> None:
    # Annotations (free text) are dropped from a copy: promtool would compare them verbatim.
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))
    for group in groups["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules = tmp_path / "alerts.yml"
    rules.write_text(yaml.safe_dump(groups), encoding="utf-8")
    spec = ALERT_SCENARIOS[scenario]
    unit = {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    {"series": series, "values": values}
                    for series, values in spec["series"].items()
                ],
                "alert_rule_test": [
                    {
                        "eval_time": f"{minute}m",
                        "alertname": alert,
                        "exp_alerts": [{"exp_labels": labels} for labels in expected],
                    }
                    for minute, alert, expected in spec["expect"]
                ],
            }
        ],
    }
    test_file = tmp_path / "test.yml"
    test_file.write_text(yaml.safe_dump(unit), encoding="utf-8")
    result = _promtool("test", "rules", str(test_file), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_firing_scenario() -> None:
    fired = {
        alert
        for spec in ALERT_SCENARIOS.values()
        for _, alert, expected in spec["expect"]
        if expected
    }
    assert fired == {rule["alert"] for rule in _alert_rules()}


# ---------------------------------------------------------------- metric names


def exported_metric_names() -> set[str]:
    """Every sample name the app's registry can produce (``webhooks.metrics.Metrics``)."""
    try:
        from webhooks.metrics import Metrics
    except ImportError as exc:
        message = f"webhooks/metrics.py is not importable: {exc}"
        if in_ci():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    suffixes = {
        "counter": ("_total", "_created"),
        "histogram": ("_bucket", "_sum", "_count", "_created"),
        "summary": ("", "_sum", "_count", "_created"),
        "info": ("_info",),
        "gaugehistogram": ("_bucket", "_gsum", "_gcount"),
    }
    from types import SimpleNamespace

    metrics = Metrics()
    # Registered by the wiring (bot/container.py), for the Stripe event writer.
    metrics.watch_group_commit("stripe_events", SimpleNamespace(batches=0, items=0))
    names: set[str] = set()
    for family in metrics.registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            names.add(family.name + suffix)
        names.update(sample.name for sample in family.samples)
    return names


_PROMQL_WORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right",
    "bool", "offset", "inf", "nan", "le",
}  # fmt: skip


def metric_names_in(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, labels and keywords removed)."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges
    text = re.sub(r"(?<![A-Za-z0-9_:])\d+(?:\.\d*)?(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        rest = text[match.end() :].lstrip()
        if rest.startswith("("):  # a function call
            continue
        if word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_metric_name_extraction() -> None:
    expr = (
        'sum by (route) (rate(a_total{status=~"5..", x="b_c"}[5m])) / '
        "clamp_min(sum(rate(b_total[5m] offset 1h)), 1e-9) > bool 0.5 "
        "and on (instance) histogram_quantile(0.95, sum by (le) (rate(c_bucket[5m])))"
    )
    assert metric_names_in(expr) == {"a_total", "b_total", "c_bucket"}
    assert metric_names_in("absent(up{job='x'} == 1)") == {"up"}


def _dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])


def test_dashboard_parses_and_uses_the_provisioned_datasource() -> None:
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"]
    datasources = yaml.safe_load(DATASOURCES.read_text(encoding="utf-8"))["datasources"]
    (prometheus,) = datasources
    assert prometheus["url"] == "http://prometheus:9090"
    panels = [p for p in _panels(dashboard["panels"]) if p["type"] != "row"]
    assert len(panels) >= 8
    ids = [p["id"] for p in _panels(dashboard["panels"])]
    assert len(ids) == len(set(ids))
    for panel in panels:
        assert panel["datasource"]["uid"] == prometheus["uid"], panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    # promtool parses the expressions of recording rules: one rule per panel query.
    rules = [
        {
            "record": f"dashboard:panel_{panel['id']}:{target['refId'].lower()}",
            "expr": target["expr"],
        }
        for panel in _panels(_dashboard()["panels"])
        for target in panel.get("targets") or []
    ]
    assert rules
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = _promtool("check", "rules", str(path), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_dashboard_panels_do_not_overlap() -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in _panels(_dashboard()["panels"]):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, (panel["title"], cells.get((x, y)))
                cells[(x, y)] = panel["title"]


def test_dashboard_and_alerts_only_use_metrics_the_app_exports() -> None:
    exported = exported_metric_names() | PROMETHEUS_SYNTHETIC
    used: dict[str, set[str]] = {}
    for panel in _panels(_dashboard()["panels"]):
        for target in panel.get("targets") or []:
            used[f"panel {panel['title']!r}"] = metric_names_in(target["expr"])
    for rule in _alert_rules():
        used[f"alert {rule['alert']}"] = metric_names_in(rule["expr"])
    unknown = {where: names - exported for where, names in used.items() if names - exported}
    assert not unknown, f"not exported by webhooks/metrics.py: {unknown}"
    shown = set().union(*used.values())
    for family in (
        "huntaze_http_requests_total",
        "huntaze_http_request_duration_seconds_bucket",
        "huntaze_commands_total",
        "huntaze_circuit_breaker_state",
        "huntaze_llm_requests_total",
        "huntaze_webhook_events_total",
    ):
        assert family in shown, family


# ---------------------------------------------------------------- Dockerfile


def _stages(dockerfile: str) -> list[list[str]]:
    """Instructions per stage, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", dockerfile)
    stages: list[list[str]] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def _instruction(stage: list[str], name: str) -> list[str]:
    return [line[len(name) :].strip() for line in stage if line.upper().startswith(name + " ")]


def test_dockerfile_is_multi_stage_slim_and_runs_as_non_root() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    stages = _stages(text)
    assert len(stages) >= 2
    assert "python:3.11-slim" in text
    runtime = stages[-1]
    users = _instruction(runtime, "USER")
    assert users, "the runtime stage never switches user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), user
    # no compilers in the runtime image: only the build stage installs apt packages
    for line in _instruction(runtime, "RUN"):
        assert "apt-get install" not in line and "build-essential" not in line, line
    assert "EXPOSE 8080" in runtime
    assert any("HTTP_HOST=0.0.0.0" in env for env in _instruction(runtime, "ENV"))
    assert json.loads(_instruction(runtime, "CMD")[-1]) == ["huntaze", "serve"]


def test_dockerignore_keeps_secrets_and_local_state_out_of_the_image() -> None:
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for pattern in (".env", ".venv", ".git", "data", "tests"):
        assert pattern in patterns, pattern


def _healthcheck_argv() -> list[str]:
    runtime = _stages(DOCKERFILE.read_text(encoding="utf-8"))[-1]
    (healthcheck,) = _instruction(runtime, "HEALTHCHECK")
    command = healthcheck.split(" CMD ", 1)[1].strip()
    argv = json.loads(command) if command.startswith("[") else ["/bin/sh", "-c", command]
    assert "/health/live" in " ".join(argv)
    assert "curl" not in argv[0] and "wget" not in argv[0]  # neither is in python:*-slim
    return argv


@pytest.fixture
async def health_server(unused_tcp_port: int) -> Any:
    state = {"status": 200, "paths": []}

    async def live(request: web.Request) -> web.Response:
        state["paths"].append(request.path)
        return web.json_response({"status": "ok"}, status=state["status"])

    app = web.Application()
    app.router.add_get("/health/live", live)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", unused_tcp_port)
    await site.start()
    try:
        yield unused_tcp_port, state
    finally:
        await runner.cleanup()


async def _run_healthcheck(port: int) -> int:
    import asyncio

    argv = _healthcheck_argv()
    if argv[0] == "python":
        argv = [sys.executable, *argv[1:]]
    process = await asyncio.create_subprocess_exec(
        *argv,
        env=_clean_env(HTTP_PORT=str(port)),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_healthcheck_passes_on_200_and_fails_on_503(health_server: Any) -> None:
    port, state = health_server
    assert await _run_healthcheck(port) == 0
    assert state["paths"] == ["/health/live"]
    state["status"] = 503
    assert await _run_healthcheck(port) != 0


async def test_healthcheck_fails_when_nothing_listens(unused_tcp_port: int) -> None:
    assert await _run_healthcheck(unused_tcp_port) != 0


# ---------------------------------------------------------------- scripts


def _stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body), encoding="utf-8")
    path.chmod(0o755)


def _ensure_tools(tmp_path: Path, uid: int) -> tuple[subprocess.CompletedProcess[str], Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "apt-calls"
    _stub(bin_dir, "id", f"echo {uid}\n")
    _stub(bin_dir, "apt-get", f'echo "$*" >> {shlex.quote(str(calls))}\n')
    result = subprocess.run(
        ["/bin/sh", str(ENSURE_TOOLS)],
        env={"PATH": str(bin_dir)},  # neither docker-compose nor promtool can be found
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return result, calls


def test_ensure_tools_installs_the_missing_packages_as_root(tmp_path: Path) -> None:
    result, calls = _ensure_tools(tmp_path, uid=0)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    lines = calls.read_text().splitlines()
    assert lines[0] == "update -qq"
    assert lines[1].split() == [
        "install", "-y", "-qq", "--no-install-recommends", "docker-compose", "prometheus",
    ]  # fmt: skip
    assert len(lines) == 2


def test_ensure_tools_never_fails_and_never_installs_when_not_root(tmp_path: Path) -> None:
    result, calls = _ensure_tools(tmp_path, uid=1000)
    assert result.returncode == 0
    assert not calls.exists()
    assert "not root" in result.stderr


def test_ensure_tools_does_nothing_when_the_tools_are_there(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    for name in ("docker-compose", "promtool"):
        _stub(bin_dir, name, "exit 0\n")
    _stub(bin_dir, "id", f"echo id >> {shlex.quote(str(calls))}; echo 0\n")
    _stub(bin_dir, "apt-get", f"echo apt >> {shlex.quote(str(calls))}\n")
    result = subprocess.run(
        ["/bin/sh", str(ENSURE_TOOLS)],
        env={"PATH": str(bin_dir)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0 and result.stdout == "" and result.stderr == ""
    assert not calls.exists()


def _fake_mc(tmp_path: Path, attach_answer: str, attach_code: int) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "mc-calls"
    policy_copy = tmp_path / "policy.json"
    _stub(
        bin_dir,
        "mc",
        f"""\
        echo "$*" >> {shlex.quote(str(log))}
        case "$1 $2 $3" in
            "admin policy create") cp "$6" {shlex.quote(str(policy_copy))} ;;
            "admin policy attach") echo "{attach_answer}"; exit {attach_code} ;;
        esac
        exit 0
        """,
    )
    return bin_dir


def _create_bucket(tmp_path: Path, bin_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["/bin/sh", str(CREATE_BUCKET)],
        env={
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "TMPDIR": str(tmp_path),
            "MINIO_ROOT_USER": "root-user",
            "MINIO_ROOT_PASSWORD": "root-pass",
            "S3_BUCKET": "vault-x",
            "S3_ACCESS_KEY": "app-key",
            "S3_SECRET_KEY": "app-secret",
        },
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_minio_init_creates_a_versioned_bucket_and_a_scoped_key(tmp_path: Path) -> None:
    bin_dir = _fake_mc(tmp_path, "Attached policy", 0)
    result = _create_bucket(tmp_path, bin_dir)
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "mc-calls").read_text().splitlines()
    assert calls == [
        "alias set huntaze http://minio:9000 root-user root-pass",
        "mb --ignore-existing huntaze/vault-x",
        "version enable huntaze/vault-x",
        f"admin policy create huntaze huntaze-vault-x {calls[3].split()[-1]}",
        "admin user add huntaze app-key app-secret",
        "admin policy attach huntaze huntaze-vault-x --user app-key",
    ]
    policy = json.loads((tmp_path / "policy.json").read_text())
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert resources == {"arn:aws:s3:::vault-x", "arn:aws:s3:::vault-x/*"}
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"} <= actions
    assert not any(a.startswith("s3:*") or a.startswith("admin:") for a in actions)
    assert not list(tmp_path.glob("huntaze-policy-*")), "the policy file is left behind"


def test_minio_init_is_idempotent_and_still_fails_on_real_errors(tmp_path: Path) -> None:
    again = tmp_path / "again"
    again.mkdir()
    result = _create_bucket(again, _fake_mc(again, "policy is already attached", 1))
    assert result.returncode == 0, result.stderr
    broken = tmp_path / "broken"
    broken.mkdir()
    result = _create_bucket(broken, _fake_mc(broken, "Access Denied.", 1))
    assert result.returncode != 0
    assert "Access Denied" in result.stderr


def test_minio_init_requires_its_credentials(tmp_path: Path) -> None:
    bin_dir = _fake_mc(tmp_path, "", 0)
    result = subprocess.run(
        ["/bin/sh", str(CREATE_BUCKET)],
        env={"PATH": f"{bin_dir}:/usr/bin:/bin", "S3_BUCKET": "b"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0
    assert not (tmp_path / "mc-calls").exists()
