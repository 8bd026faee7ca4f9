"""A local fake of the Stripe API (Checkout Sessions), and helpers for Stripe webhook tests.

``FakeStripeAPI`` is an aiohttp server on 127.0.0.1 that the real ``stripe`` SDK talks to when
``STRIPE_API_BASE`` points at it. It does what the product relies on:

- ``POST /v1/checkout/sessions`` (form-encoded the Stripe way, ``line_items[0][price]=...``):
  checks the secret key, the price and the mode, and answers a Checkout Session object;
- ``Idempotency-Key``: the same key with the same parameters replays the first answer (with
  ``Idempotent-Replayed: true``); the same key with other parameters is a 400
  ``idempotency_error``, as on Stripe;
- ``GET /v1/checkout/sessions/{id}``;
- failure injection: ``fail_next(n, status, headers)`` answers the next ``n`` creates with a
  Stripe error (500, 429 with ``Retry-After``...), ``delay`` slows every answer down.

``completed_event(session_id)`` builds the ``checkout.session.completed`` event Stripe would send
once the buyer paid (payment mode: a payment intent and a customer; subscription mode: a
subscription too), from the fixtures' shapes. ``sign(payload, secret)`` makes the
``Stripe-Signature`` header with the SDK's own scheme; ``load_event(name, **changes)`` reads a
fixture from ``tests/fixtures/stripe`` and applies dotted-path changes.
"""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import stripe
from aiohttp import web

from core.chat import Reply, as_notice
from core.jobs import reply_text

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "stripe"
API_KEY = "sk_test_fake_51HuntazeLocalOnly"

DEFAULT_PRICES: dict[str, dict[str, Any]] = {
    "price_1QxPro2LkdIwHu7ixPro00001": {"amount": 1900, "recurring": True, "product": "pro"},
    "price_1QxStu2LkdIwHu7ixStu00002": {"amount": 4900, "recurring": True, "product": "studio"},
    "price_1QxC1002LkdIwHu7ixCr00100": {"amount": 500, "recurring": False},
    "price_1QxC5002LkdIwHu7ixCr00500": {"amount": 1900, "recurring": False},
    "price_1QxC2k02LkdIwHu7ixCr02000": {"amount": 5900, "recurring": False},
}
PRICE_IDS = {
    "pro": "price_1QxPro2LkdIwHu7ixPro00001",
    "studio": "price_1QxStu2LkdIwHu7ixStu00002",
    "credits-100": "price_1QxC1002LkdIwHu7ixCr00100",
    "credits-500": "price_1QxC5002LkdIwHu7ixCr00500",
    "credits-2000": "price_1QxC2k02LkdIwHu7ixCr02000",
}


# ---------------------------------------------------------------- signing and fixtures


def sign(payload: str | bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header for ``payload`` (the SDK's own scheme)."""
    text = payload.decode() if isinstance(payload, bytes) else payload
    return str(stripe.WebhookSignature.generate_signature_header(text, secret, timestamp))


def set_path(obj: dict[str, Any], dotted: str, value: Any) -> None:
    keys = dotted.split(".")
    for key in keys[:-1]:
        obj = obj[int(key)] if isinstance(obj, list) else obj[key]
    last = keys[-1]
    if isinstance(obj, list):
        obj[int(last)] = value
    else:
        obj[last] = value


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """A fixture event; ``changes`` use dotted paths with ``__`` for dots:
    ``load_event("invoice.paid", id="evt_2", data__object__customer="cus_X")``."""
    event = json.loads((FIXTURES / f"{name}.json").read_text())
    for key, value in changes.items():
        set_path(event, key.replace("__", "."), value)
    return event


def fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.json"))


# ---------------------------------------------------------------- form decoding


_BRACKETS = re.compile(r"\[([^\]]*)\]")


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's bracket encoding (``a[b][0][c]=v``) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        head = raw_key.split("[", 1)[0]
        path = [head, *_BRACKETS.findall(raw_key[len(head) :])]
        node: Any = root
        for i, key in enumerate(path):
            last = i == len(path) - 1
            nxt = None if last else path[i + 1]
            container: Any = [] if (nxt is not None and (nxt == "" or nxt.isdigit())) else {}
            if isinstance(node, list):
                index = len(node) if key == "" else int(key)
                while len(node) <= index:
                    node.append(None)
                if last:
                    node[index] = value
                else:
                    if node[index] is None:
                        node[index] = container
                    node = node[index]
            else:
                if last:
                    node[key] = value
                else:
                    node = node.setdefault(key, container)
    return root


# ---------------------------------------------------------------- the fake server


@dataclass
class Injected:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class FakeStripeAPI:
    prices: dict[str, dict[str, Any]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    api_key: str = API_KEY
    delay: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    url: str = ""

    def __post_init__(self) -> None:
        self._idempotent: dict[str, tuple[str, dict[str, Any]]] = {}
        self._inject: list[Injected] = []
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # ------------------------------------------------------------ control

    def fail_next(
        self, count: int = 1, status: int = 500, headers: dict[str, str] | None = None
    ) -> None:
        kind = {429: "rate_limit_error", 400: "invalid_request_error"}.get(status, "api_error")
        body = {"error": {"type": kind, "message": f"injected failure ({status})"}}
        self._inject.extend(Injected(status, dict(headers or {}), body) for _ in range(count))

    @property
    def creates(self) -> list[dict[str, Any]]:
        """The create requests that reached the fake (replays included)."""
        return [r for r in self.requests if r["method"] == "POST"]

    # ------------------------------------------------------------ events Stripe would send

    def completed_event(
        self, session_id: str, *, created: int | None = None, paid: bool = True
    ) -> dict[str, Any]:
        session = self.sessions[session_id]
        name = (
            "checkout.session.completed.subscription"
            if session["mode"] == "subscription"
            else "checkout.session.completed.payment"
        )
        event = load_event(name)
        n = next(self._ids)
        event["id"] = f"evt_fake{n:020d}"
        event["created"] = created if created is not None else int(time.time())
        obj = event["data"]["object"]
        for key in ("id", "mode", "client_reference_id", "metadata", "amount_total", "url"):
            obj[key] = copy.deepcopy(session[key])
        obj["amount_subtotal"] = session["amount_total"]
        obj["customer"] = session["customer"] or f"cus_fake{n:012d}"
        obj["payment_status"] = "paid" if paid else "unpaid"
        obj["status"] = "complete"
        obj["url"] = None
        if session["mode"] == "subscription":
            obj["subscription"] = f"sub_fake{n:016d}"
            obj["payment_intent"] = None
            self.subscriptions[obj["subscription"]] = self._subscription(
                obj["subscription"], obj["customer"], session
            )
        else:
            obj["payment_intent"] = f"pi_fake{n:018d}"
            obj["subscription"] = None
        return event

    def _subscription(self, sub_id: str, customer: str, session: dict[str, Any]) -> dict[str, Any]:
        """A subscription as Stripe's API returns it (API version 2025-03-31 and later: the
        period on each item)."""
        price = next(p for p, v in self.prices.items() if v["amount"] == session["amount_total"])
        start = int(time.time())
        return {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "cancel_at_period_end": False,
            "cancel_at": None,
            "metadata": copy.deepcopy(session["metadata"]),
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": "si_" + sub_id[4:],
                        "object": "subscription_item",
                        "price": {"id": price, "object": "price"},
                        "current_period_start": start,
                        "current_period_end": start + 30 * 86400,
                    }
                ],
            },
        }

    # ------------------------------------------------------------ server

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/checkout/sessions", self._create)
        app.router.add_get("/v1/checkout/sessions/{id}", self._retrieve)
        app.router.add_post("/v1/subscriptions/{id}", self._update_subscription)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @staticmethod
    def _error(status: int, kind: str, message: str, **extra: Any) -> web.Response:
        return web.json_response(
            {"error": {"type": kind, "message": message, **extra}},
            status=status,
            headers={"Request-Id": "req_fake"},
        )

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization", "") == f"Bearer {self.api_key}"

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.text()
        pairs = [(k, v) for k, v in (await request.post()).items() if isinstance(v, str)]
        params = decode_form(pairs)
        key = request.headers.get("Idempotency-Key")
        self.requests.append(
            {"method": "POST", "params": params, "idempotency_key": key, "body": body}
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._inject:
            failure = self._inject.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if not self._authorised(request):
            return self._error(401, "invalid_request_error", "Invalid API Key provided")
        if key is not None and key in self._idempotent:
            first_body, answer = self._idempotent[key]
            if first_body != body:
                return self._error(
                    400,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters "
                    "they were first used with.",
                )
            return web.json_response(answer, headers={"Idempotent-Replayed": "true"})
        problem = self._check(params)
        if problem:
            return self._error(400, "invalid_request_error", problem)
        session = self._session(params)
        self.sessions[session["id"]] = session
        if key is not None:
            self._idempotent[key] = (body, session)
        return web.json_response(session)

    def _check(self, params: dict[str, Any]) -> str | None:
        mode = params.get("mode")
        if mode not in ("payment", "subscription", "setup"):
            return "Invalid mode"
        items = params.get("line_items") or []
        if not items or not isinstance(items, list):
            return "line_items is required"
        price_id = items[0].get("price")
        price = self.prices.get(price_id or "")
        if price is None:
            return f"No such price: '{price_id}'"
        if price["recurring"] and mode != "subscription":
            return "You specified `payment` mode but passed a recurring price."
        if not price["recurring"] and mode == "subscription":
            return "You must provide at least one recurring price in `subscription` mode."
        for url in ("success_url", "cancel_url"):
            if not str(params.get(url, "")).startswith(("http://", "https://")):
                return f"Not a valid URL: {url}"
        return None

    def _session(self, params: dict[str, Any]) -> dict[str, Any]:
        n = next(self._ids)
        session_id = f"cs_test_fake{n:06d}a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ012345"
        price = self.prices[params["line_items"][0]["price"]]
        quantity = int(params["line_items"][0].get("quantity", 1))
        return {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": price["amount"] * quantity,
            "amount_total": price["amount"] * quantity,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "currency": "usd",
            "customer": params.get("customer"),
            "customer_creation": params.get("customer_creation"),
            "expires_at": int(time.time()) + 86400,
            "livemode": False,
            "metadata": params.get("metadata") or {},
            "mode": params["mode"],
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "subscription": None,
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}#fidkdWxOYHwnPyd1blpxYHZxWjA0",
        }

    async def _update_subscription(self, request: web.Request) -> web.Response:
        """``POST /v1/subscriptions/{id}``: only ``cancel_at_period_end``, as Huntaze uses it."""
        pairs = [(k, v) for k, v in (await request.post()).items() if isinstance(v, str)]
        params = decode_form(pairs)
        key = request.headers.get("Idempotency-Key")
        self.requests.append({"method": "POST", "params": params, "idempotency_key": key})
        if self._inject:
            failure = self._inject.pop(0)
            return web.json_response(failure.body, status=failure.status, headers=failure.headers)
        if not self._authorised(request):
            return self._error(401, "invalid_request_error", "Invalid API Key provided")
        sub = self.subscriptions.get(request.match_info["id"])
        if sub is None:
            return self._error(404, "invalid_request_error", "No such subscription")
        flag = params.get("cancel_at_period_end")
        if flag not in ("true", "false"):
            return self._error(400, "invalid_request_error", "Invalid boolean")
        sub["cancel_at_period_end"] = flag == "true"
        return web.json_response(sub)

    async def _retrieve(self, request: web.Request) -> web.Response:
        self.requests.append({"method": "GET", "params": {}, "idempotency_key": None})
        if not self._authorised(request):
            return self._error(401, "invalid_request_error", "Invalid API Key provided")
        session = self.sessions.get(request.match_info["id"])
        if session is None:
            return self._error(404, "invalid_request_error", "No such checkout.session")
        return web.json_response(session)


# ---------------------------------------------------------------- the HTTP server under test


class RecordingNotifier:
    """A ``core.ports.Notifier`` that keeps what it was asked to say (optionally slowly)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[int, str]] = []
        self.delay = delay

    async def notify(self, account_id: int, message: str | Reply) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sent.append((account_id, reply_text(as_notice(message))))

    def to(self, account_id: int) -> list[str]:
        return [text for acct, text in self.sent if acct == account_id]


WEBHOOK_SECRET = "whsec_test_current_7f3a9c2e1b4d"
OLD_WEBHOOK_SECRET = "whsec_test_previous_0d8e6b5a"


@dataclass
class HttpWorld:
    """The product as ``huntaze serve`` builds it (``bot.container.build`` and
    ``bot.lifecycle.build_http_app``), listening on 127.0.0.1, with a recording notifier."""

    container: Any
    server: Any
    http: Any
    notices: RecordingNotifier
    secret: str = WEBHOOK_SECRET

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def store(self) -> Any:
        return self.container.store

    @property
    def assistant(self) -> Any:
        return self.container.assistant

    async def post_event(
        self,
        event: dict[str, Any] | str | bytes,
        *,
        secret: str | None = None,
        timestamp: int | None = None,
        header: str | None = None,
    ) -> tuple[int, Any]:
        body = json.dumps(event) if isinstance(event, dict) else event
        raw = body.encode() if isinstance(body, str) else body
        headers = {"Content-Type": "application/json"}
        if header is None:
            header = sign(raw, secret or self.secret, timestamp)
        if header:
            headers["Stripe-Signature"] = header
        async with self.http.post(f"{self.url}/webhooks/stripe", data=raw, headers=headers) as r:
            return r.status, await r.json()

    async def identity(self, user: str, platform: str = "telegram") -> Any:
        from core.models import Identity

        return await self.store.accounts.resolve(
            Identity(platform=platform, external_id=user, username=user, display_name=user)
        )

    async def say(self, user: str, text: str, platform: str = "telegram") -> Any:
        from core.chat import ExternalUser, Incoming

        who = ExternalUser(platform=platform, id=user, username=user, display_name=user)
        return await self.assistant.handle(Incoming(user=who, chat_id=user, text=text))

    async def account(self, account_id: int) -> Any:
        return await self.store.accounts.get(account_id)

    async def aclose(self) -> None:
        await self.http.close()
        await self.server.stop()
        await self.container.aclose()


async def start_world(
    db_url: str,
    data_dir: Path,
    clock: Any,
    *,
    stripe: FakeStripeAPI | None = None,
    notifier_delay: float = 0.0,
    **settings: Any,
) -> HttpWorld:
    """Build and start the product's HTTP server on ``db_url`` (see :class:`HttpWorld`).

    ``settings`` override ``bot.settings.Settings`` fields (``max_upload_mb``, ``s3_bucket``...).
    """
    import aiohttp

    from bot.container import build
    from bot.lifecycle import build_http_app
    from bot.settings import Settings
    from webhooks.app import HttpServer

    values: dict[str, Any] = {
        "database_url": db_url,
        "data_dir": data_dir,
        "redis_url": None,
        "s3_bucket": None,
        "openai_api_key": None,
        "openai_base_url": None,
        "http_host": "127.0.0.1",
        "http_port": 0,
        "stripe_api_key": API_KEY if stripe is not None else None,
        "stripe_api_base": stripe.url if stripe is not None else None,
        "stripe_webhook_secrets": f"{WEBHOOK_SECRET},{OLD_WEBHOOK_SECRET}",
        "public_base_url": "https://bot.example.com",
        "enforce_quotas": True,
        "rate_limit_per_minute": 100_000,
        **{f"stripe_price_{k.replace('-', '_')}": v for k, v in PRICE_IDS.items()},
    }
    values.update(settings)
    config = Settings(_env_file=None, **values)  # type: ignore[call-arg]
    container = await build(config, clock=clock)
    notices = RecordingNotifier(notifier_delay)
    container.notifier.add(notices)
    server = HttpServer(build_http_app(container), "127.0.0.1", 0, shutdown_timeout=5.0)
    try:
        await server.start()
    except BaseException:
        await container.aclose()
        raise
    return HttpWorld(container, server, aiohttp.ClientSession(), notices)


@pytest.fixture
async def world(db_url: str, tmp_path: Path, clock: Any) -> AsyncIterator[HttpWorld]:
    """The product's HTTP server (:func:`start_world`) on each database backend. Import it
    as ``from tests.fakes.stripe_api import world as world``."""
    w = await start_world(db_url, tmp_path, clock)
    try:
        yield w
    finally:
        await w.aclose()


@pytest.fixture
async def stripe_api() -> AsyncIterator[FakeStripeAPI]:
    fake = FakeStripeAPI()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


__all__ = [
    "API_KEY",
    "DEFAULT_PRICES",
    "FIXTURES",
    "OLD_WEBHOOK_SECRET",
    "PRICE_IDS",
    "WEBHOOK_SECRET",
    "FakeStripeAPI",
    "HttpWorld",
    "RecordingNotifier",
    "decode_form",
    "fixture_names",
    "load_event",
    "set_path",
    "sign",
    "start_world",
    "stripe_api",
]
