"""The one aiohttp application for what arrives from outside.

Routes (each present when its part is given to :func:`create_app`):

- ``POST /webhooks/telegram`` (``telegram``), ``POST /webhooks/stripe`` (``services.stripe``),
- ``POST /api/v1/uploads`` and ``GET /api/v1/assets`` (``services.uploads``),
- ``GET /metrics`` (``services.metrics``), ``GET /health/live`` and ``GET /health/ready``,
- ``GET /openapi.json`` (every route, described) and ``GET /billing/return`` (Checkout's
  success/cancel page).

Every request gets a request id (the caller's ``X-Request-Id`` when it is a short token, else a
new one): it is bound to every log line written while handling it (and by tasks it starts) and
sent back in the ``X-Request-Id`` header. Errors are JSON ``{"error": ..., "request_id": ...}``,
a crash included (the log has the traceback). :class:`HttpServer` runs the application and stops
it gracefully: stop listening, let in-flight requests and webhook follow-ups finish (bounded).
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from core.errors import ServiceUnavailable
from core.log_context import log_context
from webhooks.health import Health
from webhooks.metrics import Handler, Metrics, metrics_handler, metrics_middleware, route_label
from webhooks.openapi import openapi_view
from webhooks.stripe import StripeWebhook, add_stripe_webhook
from webhooks.telegram import TelegramWebhookHandler, UpdateSink, add_telegram_webhook
from webhooks.uploads import UploadsApi, add_uploads_api

log = structlog.get_logger("huntaze.http")

TELEGRAM_WEBHOOK = web.AppKey("telegram_webhook", TelegramWebhookHandler)
STRIPE_WEBHOOK = web.AppKey("stripe_webhook", StripeWebhook)
HEALTH = web.AppKey("health", Health)

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REQUEST_ID_KEY = web.RequestKey("request_id", str)
# A request id correlates log lines; it needs to be unique, not unguessable (no urandom per
# request). A generator of its own: anything that re-seeds the shared ``random`` module (a test
# library, a careless dependency) would otherwise make every request get the same id.
_REQUEST_IDS = random.Random()
_QUIET_ROUTES = {"/metrics", "/health/live", "/health/ready"}


@dataclass
class HttpServices:
    """The optional parts of the HTTP application (built in ``bot/`` wiring)."""

    metrics: Metrics | None = None
    health: Health = field(default_factory=Health)
    stripe: StripeWebhook | None = None
    uploads: UploadsApi | None = None


# ---------------------------------------------------------------- middlewares


class InFlight:
    """Requests being handled now (for a graceful stop that lets them finish)."""

    def __init__(self) -> None:
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.count += 1
        self.idle.clear()

    def leave(self) -> None:
        self.count -= 1
        if self.count <= 0:
            self.idle.set()


IN_FLIGHT = web.AppKey("in_flight", InFlight)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    given = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = given if _REQUEST_ID.match(given) else f"{_REQUEST_IDS.getrandbits(64):016x}"
    request[REQUEST_ID_KEY] = request_id
    started = time.perf_counter()
    in_flight = request.app.get(IN_FLIGHT)
    if in_flight is not None:
        in_flight.enter()
    try:
        return await _with_request_id(request, handler, request_id, started)
    finally:
        if in_flight is not None:
            in_flight.leave()


async def _with_request_id(
    request: web.Request, handler: Handler, request_id: str, started: float
) -> web.StreamResponse:
    with log_context(request_id=request_id):
        response = await handler(request)
        if not response.prepared:
            response.headers[REQUEST_ID_HEADER] = request_id
        route = route_label(request)
        emit = log.debug if route in _QUIET_ROUTES else log.info
        emit(
            "http_request",
            method=request.method,
            route=route,
            status=response.status,
            ms=round((time.perf_counter() - started) * 1000, 2),
        )
        return response


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """JSON errors: HTTP errors keep their status (and headers such as Allow), a database or
    blob store that went away is 503 with ``Retry-After``, crashes are 500."""
    try:
        return await handler(request)
    except ServiceUnavailable as exc:
        log.warning("http_dependency_unavailable", route=route_label(request), error=exc.message)
        response = web.json_response(
            {"error": exc.message, "request_id": request.get(REQUEST_ID_KEY, "")}, status=503
        )
        response.headers["Retry-After"] = "30"
        return response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        body = {"error": exc.reason or "error", "request_id": request.get(REQUEST_ID_KEY, "")}
        response = web.json_response(body, status=exc.status)
        for name in ("Allow", "WWW-Authenticate", "Retry-After"):
            if name in exc.headers:
                response.headers[name] = exc.headers[name]
        return response
    except Exception:
        log.exception("http_handler_failed", route=route_label(request), method=request.method)
        return web.json_response(
            {"error": "internal error", "request_id": request.get(REQUEST_ID_KEY, "")},
            status=500,
        )


# ---------------------------------------------------------------- small pages


async def billing_return(request: web.Request) -> web.Response:
    cancelled = request.query.get("status") == "cancel"
    message = (
        "Checkout cancelled — nothing was charged. You can close this page."
        if cancelled
        else "Thank you! Your payment is being confirmed — I'll tell you in the chat as soon as "
        "it's done. You can close this page."
    )
    html = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Huntaze</title></head>"
        f"<body><p>{message}</p></body></html>"
    )
    return web.Response(text=html, content_type="text/html")


# ---------------------------------------------------------------- the application


def create_app(
    *,
    telegram: UpdateSink | None = None,
    telegram_secret: str | None = None,
    services: HttpServices | None = None,
    client_max_size: int = 1024 * 1024,
) -> web.Application:
    """The HTTP application with the parts given (see the module docstring)."""
    services = services or HttpServices()
    middlewares = [request_id_middleware]
    if services.metrics is not None:
        middlewares.append(metrics_middleware(services.metrics))
    middlewares.append(error_middleware)
    app = web.Application(client_max_size=client_max_size, middlewares=middlewares)
    app[IN_FLIGHT] = InFlight()
    if telegram is not None:
        app[TELEGRAM_WEBHOOK] = add_telegram_webhook(app, telegram, telegram_secret)
    if services.stripe is not None:
        app[STRIPE_WEBHOOK] = add_stripe_webhook(app, services.stripe)
    if services.uploads is not None:
        add_uploads_api(app, services.uploads)
    if services.metrics is not None:
        app.router.add_get("/metrics", metrics_handler(services.metrics))
    app[HEALTH] = services.health
    app.router.add_get("/health/live", services.health.live_handler)
    app.router.add_get("/health/ready", services.health.ready_handler)
    app.router.add_get("/billing/return", billing_return)
    app.router.add_get("/openapi.json", openapi_view)
    return app


class HttpServer:
    """Runs an application on ``host:port`` (port 0: any free port, see :attr:`port`)."""

    def __init__(
        self, app: web.Application, host: str, port: int, *, shutdown_timeout: float = 10.0
    ) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._shutdown_timeout = shutdown_timeout
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
        self._started = False

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self._started = True
        addresses = self._runner.addresses
        if addresses:
            self.port = int(addresses[0][1])
        log.info("http_listening", host=self.host, port=self.port)

    async def stop(self) -> None:
        """Stop listening, let in-flight requests finish - request bodies still arriving
        included - then webhook follow-ups, all within ``shutdown_timeout``; then clean up.

        (aiohttp's own shutdown stops reading request bodies at once, so an upload in progress
        would be cut off: hence the wait for in-flight requests before it.)"""
        if not self._started:
            return
        self._started = False
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._shutdown_timeout
        for site in list(self._runner.sites):
            await site.stop()
        in_flight = self.app.get(IN_FLIGHT)
        if in_flight is not None:
            try:
                async with asyncio.timeout(max(0.0, deadline - loop.time())):
                    await in_flight.idle.wait()
            except TimeoutError:
                log.warning("http_stop_timeout", in_flight=in_flight.count)
        await self._runner.cleanup()
        log.info("http_stopped")


__all__ = [
    "HEALTH",
    "IN_FLIGHT",
    "REQUEST_ID_HEADER",
    "STRIPE_WEBHOOK",
    "TELEGRAM_WEBHOOK",
    "HttpServer",
    "HttpServices",
    "create_app",
    "error_middleware",
    "request_id_middleware",
]
