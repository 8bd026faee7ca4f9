"""The HTTP API against its own OpenAPI document: schemathesis generates requests for every
documented operation (valid ones and broken ones) and checks each answer - never a server
error, a documented status code, a documented content type, a body that matches the documented
schema. Once without credentials, once with a real API key (and signed Stripe bodies).

Then plain regression tests for what the fuzzer found, each without any generated data.

Schemathesis' runner is synchronous: it runs in a worker thread while the app serves on the
test's event loop. Generation is derandomized (the same requests every run), no example
database is written, and there is no deadline (a busy machine cannot make it flaky).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis.configuration
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fakes.stripe_api import WEBHOOK_SECRET, HttpWorld, sign
from tests.fakes.stripe_api import world as world  # both backends: PostgreSQL refuses more
from webhooks.app import TELEGRAM_WEBHOOK, HttpServer
from webhooks.telegram import SECRET_HEADER

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
EXAMPLES = 40  # per operation, generation mode and run
TELEGRAM_SECRET = "fuzz-telegram-secret"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 40


# ---------------------------------------------------------------- the fuzzer


@pytest.fixture(autouse=True, scope="module")
def _hypothesis_files_outside_the_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Hypothesis keeps caches (constants found in the code, Unicode tables) in ./.hypothesis:
    put them in a temporary directory instead (no example database is used at all)."""
    hypothesis.configuration.set_hypothesis_home_dir(tmp_path_factory.mktemp("hypothesis"))
    try:
        yield
    finally:
        hypothesis.configuration.set_hypothesis_home_dir(None)


class _SigningSession(requests.Session):
    """Signs what goes to the Stripe webhook with the world's secret (over the exact bytes
    sent), so generated bodies get past verification into the event handling."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if request.path_url.startswith("/webhooks/stripe"):
            body = request.body or b""
            raw = body.encode() if isinstance(body, str) else body
            # A body that is not UTF-8 cannot be signed (Stripe never sends one): left unsigned.
            with contextlib.suppress(UnicodeDecodeError):
                request.headers["Stripe-Signature"] = sign(raw, WEBHOOK_SECRET)
        return super().send(request, **kwargs)


def _has_inputs(operation: Any) -> bool:
    raw = operation.definition.raw
    return bool(raw.get("parameters") or raw.get("requestBody") or raw.get("security"))


@dataclass
class FuzzRun:
    failures: list[str] = field(default_factory=list)  # each with a curl line to reproduce it
    statuses: dict[str, set[int]] = field(default_factory=dict)  # by operation label


def fuzz(
    doc: dict[str, Any],
    base_url: str,
    *,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
    only: str | None = None,
) -> FuzzRun:
    """Run the checks over every operation of ``doc`` (or the one labelled ``only``) with
    valid and with broken requests."""
    schema = schemathesis.openapi.from_dict(doc, config=schemathesis.Config())
    schema.config.update(base_url=base_url)
    run = FuzzRun()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        if only is not None and operation.label != only:
            continue
        run.statuses[operation.label] = set()
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                database=None,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                print_blob=False,
            )
            def check(case: Any) -> None:
                response = case.call(headers=headers, session=session, timeout=30)
                run.statuses[case.operation.label].add(response.status_code)
                case.validate_response(response, checks=CHECKS, headers=headers)

            try:
                check()
            except Unsatisfiable:
                # Nothing to break in an operation without parameters or body.
                if mode is schemathesis.GenerationMode.POSITIVE or _has_inputs(operation):
                    raise
            except FailureGroup as exc:
                run.failures.append(f"{operation.label} ({mode.value}): {exc}")
    return run


class _Sink:
    """Where the Telegram webhook hands updates (the Telegram adapter in production)."""

    def __init__(self) -> None:
        self.updates: list[dict[str, Any]] = []

    async def feed_webhook_update(self, update: dict[str, Any]) -> bool:
        self.updates.append(update)
        return True


@pytest.fixture
async def webhook_mode(world: HttpWorld) -> AsyncIterator[tuple[HttpServer, _Sink]]:
    """The same product app as ``huntaze run`` builds it in Telegram webhook mode (which adds
    ``POST /webhooks/telegram``), on the world's container."""
    from bot.lifecycle import build_http_app

    sink = _Sink()
    app = build_http_app(world.container, telegram=sink, telegram_secret=TELEGRAM_SECRET)
    server = HttpServer(app, "127.0.0.1", 0, shutdown_timeout=5.0)
    await server.start()
    try:
        yield server, sink
    finally:
        await server.stop()


async def _document(world: HttpWorld, url: str) -> dict[str, Any]:
    async with world.http.get(url + "/openapi.json") as r:
        assert r.status == 200
        return dict(await r.json())


async def test_every_operation_keeps_the_documents_promises(
    world: HttpWorld, webhook_mode: tuple[HttpServer, _Sink]
) -> None:
    key = (await world.say("mia", "/apikey")).result["key"]
    doc = await _document(world, world.url)
    assert {"/api/v1/uploads", "/api/v1/assets", "/webhooks/stripe"} <= set(doc["paths"])

    anonymous = await asyncio.to_thread(fuzz, doc, world.url)
    signer = _SigningSession()
    try:
        with_key = await asyncio.to_thread(
            fuzz, doc, world.url, headers={"Authorization": f"Bearer {key}"}, session=signer
        )
    finally:
        signer.close()

    server, sink = webhook_mode
    telegram_doc = await _document(world, server.url)
    label = "POST /webhooks/telegram"
    wrong_secret = await asyncio.to_thread(fuzz, telegram_doc, server.url, only=label)
    right_secret = await asyncio.to_thread(
        fuzz, telegram_doc, server.url, headers={SECRET_HEADER: TELEGRAM_SECRET}, only=label
    )

    runs = (anonymous, with_key, wrong_secret, right_secret)
    failures = [failure for run in runs for failure in run.failures]
    assert not failures, "\n\n".join(failures)
    # Every operation was exercised, and the credentials got the requests past the door.
    exercised = {label for label, seen in anonymous.statuses.items() if seen}
    assert exercised == {f"{m.upper()} {p}" for p in doc["paths"] for m in doc["paths"][p]}
    assert anonymous.statuses["GET /api/v1/assets"] == {401}
    assert 200 in with_key.statuses["GET /api/v1/assets"]
    assert with_key.statuses["POST /api/v1/uploads"] - {401}
    # Signed bodies got past the signature check (and were refused as events: 400).
    registry = world.container.metrics.registry
    labels = {"source": "stripe", "type": "invalid", "outcome": "malformed"}
    assert registry.get_sample_value("huntaze_webhook_events_total", labels)
    assert wrong_secret.statuses[label] == {401}
    assert 200 in right_secret.statuses[label] and sink.updates


# ---------------------------------------------------------------- what the fuzzer found


def send_and_check(
    doc: dict[str, Any], base_url: str, label: str, checks: list[Any] = CHECKS, **case: Any
) -> Any:
    """One hand-made request to the operation ``label``, its answer checked like the fuzzer's
    (``checks``)."""
    schema = schemathesis.openapi.from_dict(doc, config=schemathesis.Config())
    operation = schema.find_operation_by_label(label)
    assert operation is not None, label
    made = operation.Case(**case)
    response = made.call(base_url=base_url, timeout=30)
    made.validate_response(response, checks=checks)
    return response


async def test_a_bad_limit_on_the_asset_list_is_a_documented_json_400(world: HttpWorld) -> None:
    # It was answered 400 but the document listed only 200 and 401.
    key = (await world.say("mia", "/apikey")).result["key"]
    doc = await _document(world, world.url)
    for limit in ("0", "501", "ten", "2.5"):
        response = await asyncio.to_thread(
            send_and_check,
            doc,
            world.url,
            "GET /api/v1/assets",
            query={"limit": limit},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 400
        assert "limit" in response.json()["error"]


@pytest.mark.parametrize(
    "part_headers",
    [
        b'Content-Disposition: form-data; name="\x16tags"',  # a control character
        b"None",  # a header line without a colon
    ],
)
async def test_a_malformed_multipart_part_is_a_json_400_not_a_crash(
    world: HttpWorld, part_headers: bytes
) -> None:
    # aiohttp's multipart reader raises BadHttpMessage for such part headers: it escaped the
    # upload handler and became a 500.
    key = (await world.say("mia", "/apikey")).result["key"]
    body = (
        b"--b0undary\r\n" + part_headers + b"\r\n\r\nbeach\r\n"
        b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="a.png"\r\n\r\n'
        + PNG
        + b"\r\n--b0undary--\r\n"
    )
    headers = {
        "Authorization": f"Bearer {key}",
        "Content-Type": "multipart/form-data; boundary=b0undary",
    }
    async with world.http.post(world.url + "/api/v1/uploads", data=body, headers=headers) as r:
        assert r.status == 400
        assert r.content_type == "application/json"
        assert "malformed" in (await r.json())["error"]
    account = await world.identity("mia")
    assert await world.store.assets.list(account.id, limit=10) == []
    doc = await _document(world, world.url)
    assert "400" in doc["paths"]["/api/v1/uploads"]["post"]["responses"]


async def test_telegram_json_nested_too_deep_is_a_400_not_a_crash(
    world: HttpWorld, webhook_mode: tuple[HttpServer, _Sink]
) -> None:
    # json.loads raises RecursionError (not a ValueError) past ~1000 levels: it was a 500.
    server, sink = webhook_mode
    body = b'{"update_id": 1, "message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    headers = {SECRET_HEADER: TELEGRAM_SECRET, "Content-Type": "application/json"}
    async with world.http.post(server.url + "/webhooks/telegram", data=body, headers=headers) as r:
        assert r.status == 400
        assert (await r.json())["error"] == "body is not JSON"
    assert sink.updates == []


async def test_a_busy_telegram_webhook_answers_a_documented_503(
    world: HttpWorld, webhook_mode: tuple[HttpServer, _Sink]
) -> None:
    # The handler sheds load with 503 + Retry-After; the document did not list 503.
    server, sink = webhook_mode
    server.app[TELEGRAM_WEBHOOK].max_pending = 0
    doc = await _document(world, server.url)
    response = await asyncio.to_thread(
        send_and_check,
        doc,
        server.url,
        "POST /webhooks/telegram",
        [check for check in CHECKS if check is not not_a_server_error],  # 503 is the point
        headers={SECRET_HEADER: TELEGRAM_SECRET},
        body={"update_id": 7},
        media_type="application/json",
    )
    assert response.status_code == 503 and response.headers["retry-after"] == ["1"]
    assert sink.updates == []


async def test_request_ids_stay_unique_when_someone_reseeds_random(world: HttpWorld) -> None:
    # Hypothesis (like any library may) re-seeds the shared `random` module for each example:
    # every request of a fuzz run got the same X-Request-Id.
    state = random.getstate()
    ids = set()
    try:
        for _ in range(3):
            random.seed(1234)
            async with world.http.get(world.url + "/health/live") as r:
                ids.add(r.headers["X-Request-Id"])
    finally:
        random.setstate(state)
    assert len(ids) == 3


async def test_a_nul_in_the_tag_filter_is_not_a_500(world: HttpWorld) -> None:
    # PostgreSQL refuses NUL in a text parameter: GET /api/v1/assets?tag=%00 was a 500 there
    # (found by hand after the chat sweep; the fuzzer's examples did not hit it).
    key = (await world.say("mia", "/apikey")).result["key"]
    headers = {"Authorization": f"Bearer {key}"}
    for query in ("tag=%00", "tag=sun%00set&limit=5"):
        async with world.http.get(f"{world.url}/api/v1/assets?{query}", headers=headers) as r:
            assert r.status == 200 and (await r.json()) == {"assets": [], "next_cursor": None}
    for cursor in ("%00", "MjAyNi0wMS0wMVQwMDowMDowMCswMDowMHwxAA"):  # NUL; "...|1" + NUL
        async with world.http.get(
            f"{world.url}/api/v1/assets?cursor={cursor}", headers=headers
        ) as r:
            assert r.status == 400 and "cursor" in (await r.json())["error"]
