"""``POST /webhooks/telegram``: Telegram's webhook deliveries into the Telegram adapter.

The ``X-Telegram-Bot-Api-Secret-Token`` header is compared in constant time with the secret
given to ``setWebhook`` (401 on mismatch), the body must be a JSON update (400 otherwise), and
the answer is 200 at once: the update is processed in a background task (Telegram re-sends
anything that is not answered 2xx quickly). The tasks are kept, and ``drain()`` - registered on
the app's shutdown by ``add_telegram_webhook`` - waits for them. With ``max_pending`` updates
already in progress the answer is 503 (``Retry-After: 1``): Telegram keeps the update and
delivers it again, which bounds the backlog instead of letting every answer get late.
"""

from __future__ import annotations

import hmac
import json
from typing import Any, Protocol

import structlog
from aiohttp import web

from webhooks.background import BackgroundTasks

log = structlog.get_logger("huntaze.webhooks.telegram")

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PATH = "/webhooks/telegram"


class UpdateSink(Protocol):
    """What the handler feeds: ``adapters.telegram.app.TelegramAdapter`` fits."""

    async def feed_webhook_update(self, update: dict[str, Any]) -> bool: ...


class TelegramWebhookHandler:
    def __init__(self, sink: UpdateSink, secret: str | None, *, max_pending: int = 2000) -> None:
        self._sink = sink
        self._secret = secret.encode() if secret else None
        self.max_pending = max_pending
        self._tasks = BackgroundTasks("telegram updates")
        self.accepted = 0
        self.rejected = 0
        self.shed = 0

    async def __call__(self, request: web.Request) -> web.Response:
        return await self.handle(request)

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler."""
        if self._secret is not None:
            given = request.headers.get(SECRET_HEADER, "").encode()
            if not hmac.compare_digest(given, self._secret):
                self.rejected += 1
                log.warning("telegram_webhook_bad_secret", remote=request.remote)
                return web.json_response({"ok": False, "error": "unauthorized"}, status=401)
        try:
            update = json.loads(await request.read())
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return web.json_response({"ok": False, "error": "body is not JSON"}, status=400)
        if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
            return web.json_response({"ok": False, "error": "not a Telegram update"}, status=400)
        if len(self._tasks) >= self.max_pending:
            # Overloaded: Telegram keeps the update and delivers it again later.
            self.shed += 1
            log.warning("telegram_webhook_overloaded", pending=len(self._tasks))
            return web.json_response(
                {"ok": False, "error": "busy"}, status=503, headers={"Retry-After": "1"}
            )
        self._tasks.start(self._feed(update))
        self.accepted += 1
        return web.json_response({"ok": True})

    async def _feed(self, update: dict[str, Any]) -> None:
        try:
            await self._sink.feed_webhook_update(update)
        except Exception:
            log.exception("telegram_webhook_update_failed", update_id=update.get("update_id"))

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float = 10.0) -> None:
        """Wait (up to ``grace`` seconds) for the updates still being processed."""
        await self._tasks.drain(grace)


def telegram_webhook_handler(
    sink: UpdateSink, secret: str | None, *, max_pending: int = 2000
) -> TelegramWebhookHandler:
    """An aiohttp handler for Telegram webhook POSTs (see the module docstring)."""
    return TelegramWebhookHandler(sink, secret, max_pending=max_pending)


def add_telegram_webhook(
    app: web.Application,
    sink: UpdateSink,
    secret: str | None,
    path: str = PATH,
    *,
    max_pending: int = 2000,
) -> TelegramWebhookHandler:
    """Route ``POST path`` to a new handler and drain its tasks when the app shuts down."""
    handler = telegram_webhook_handler(sink, secret, max_pending=max_pending)
    app.router.add_post(path, handler.handle)

    async def _drain(_: web.Application) -> None:
        await handler.drain()

    app.on_shutdown.append(_drain)
    return handler
