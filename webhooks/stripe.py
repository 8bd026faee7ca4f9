"""Stripe, at the edge: ``POST /webhooks/stripe`` and the Checkout gateway.

Webhook (docs.stripe.com/webhooks):

1. The raw body and the ``Stripe-Signature`` header are verified with the stripe SDK's own
   scheme (``stripe.WebhookSignature.verify_header``: HMAC-SHA256 over ``"{t}.{body}"``, 300 s
   tolerance). Several secrets are accepted (rotation: the new and the old one); any one that
   verifies will do. A forged signature, a stale timestamp or a body that is not a JSON event
   is a 400 and nothing is written.
2. The verified body is parsed with ``orjson`` into plain dicts (core reads them leniently).
   ``stripe.Webhook.construct_event`` would verify the same way and then build a StripeObject
   tree, which costs ~1 ms of CPU per event - twenty times the verification - for objects core
   does not use.
3. ``BillingService.apply_event`` records the event id and its effects in one transaction; a
   repeat is a no-op. Deliveries that arrive together share that transaction (group commit, see
   ``core.resilience.groupcommit``), each still answered with its own outcome. The answer is 200
   as soon as that commits; the chat notices go out in a background task afterwards (drained at
   shutdown). Unknown types are 200 too (ignored, counted). A database outage is a 503 and any
   other failure a 500, so Stripe delivers the event again.

Checkout: :class:`StripeCheckout` creates Checkout Sessions through ``stripe.StripeClient``
(``STRIPE_API_BASE`` points it at a self-hosted mock; SDK retries off) behind the resilience
policy (timeout, breaker, retry with backoff honouring Retry-After), with the caller's
idempotency key, so a retried create never makes a second session.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import orjson
import stripe
import structlog
from aiohttp import web

from core.errors import ServiceUnavailable
from core.ports import CheckoutRequest, CheckoutSession
from core.resilience.errors import UpstreamError, parse_retry_after
from core.resilience.policy import Policy
from core.services.billing import BillingService, EventResult, InvalidEvent
from webhooks.background import BackgroundTasks
from webhooks.metrics import Metrics

log = structlog.get_logger("huntaze.webhooks.stripe")

PATH = "/webhooks/stripe"
SIGNATURE_HEADER = "Stripe-Signature"
DEFAULT_TOLERANCE = 300


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_holds_nul(v) for v in value)
    return False


class StripeWebhook:
    """The aiohttp handler for Stripe's webhook deliveries (see the module docstring)."""

    def __init__(
        self,
        billing: BillingService,
        secrets: Sequence[str],
        *,
        tolerance: int = DEFAULT_TOLERANCE,
        metrics: Metrics | None = None,
    ) -> None:
        self.billing = billing
        self.secrets = [s for s in secrets if s.strip()]
        self.tolerance = tolerance
        self.metrics = metrics
        self._tasks = BackgroundTasks("stripe notices")

    def _count(self, event_type: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.webhook_event("stripe", event_type, outcome)

    def verify(self, payload: bytes, header: str | None) -> dict[str, Any]:
        """The verified event as a dict; raises ``SignatureVerificationError`` or ``ValueError``."""
        error: Exception | None = None
        for secret in self.secrets:
            try:
                stripe.WebhookSignature.verify_header(payload, header, secret, self.tolerance)
            except stripe.SignatureVerificationError as exc:
                error = exc
                continue
            event = orjson.loads(payload)
            if not isinstance(event, dict) or event.get("object", "event") != "event":
                raise ValueError("the body is not a Stripe event")
            if b"\\u0000" in payload and _holds_nul(event):
                # No database text column can hold a NUL: refused (400), not retried for days.
                raise ValueError("the event holds a NUL character")
            return event
        raise error or stripe.SignatureVerificationError("no webhook secret", header, "")

    async def handle(self, request: web.Request) -> web.Response:
        if not self.secrets:
            return _error(503, "Stripe webhooks are not configured (STRIPE_WEBHOOK_SECRETS)")
        payload = await request.read()
        try:
            event = self.verify(payload, request.headers.get(SIGNATURE_HEADER))
        except stripe.SignatureVerificationError:
            self._count("unverified", "bad_signature")
            log.warning("stripe_bad_signature", remote=request.remote)
            return _error(400, "invalid or stale signature")
        except ValueError:  # orjson.JSONDecodeError and UnicodeDecodeError are ValueErrors
            self._count("unverified", "malformed")
            return _error(400, "the body is not a JSON Stripe event")
        event_type = str(event.get("type") or "")
        try:
            result = await self.billing.apply_event(event)
        except InvalidEvent as exc:
            self._count("invalid", "malformed")
            return _error(400, str(exc))
        except ServiceUnavailable:
            self._count(event_type, "unavailable")
            return _error(503, "the database is not reachable; deliver again later")
        except Exception:
            self._count(event_type, "error")
            log.exception("stripe_event_failed", event_id=event.get("id"), type=event_type)
            return _error(500, "the event could not be processed; deliver again later")
        self._count(event_type, result.outcome)
        if result.notices:
            self._announce(result)
        return web.json_response({"received": True, "outcome": result.outcome})

    def _announce(self, result: EventResult) -> None:
        self._tasks.start(self.billing.announce(result))

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, grace: float = 10.0) -> None:
        """Wait (up to ``grace`` seconds) for the notices still being sent."""
        await self._tasks.drain(grace)


def add_stripe_webhook(
    app: web.Application, webhook: StripeWebhook, path: str = PATH
) -> StripeWebhook:
    app.router.add_post(path, webhook.handle)

    async def _drain(_: web.Application) -> None:
        await webhook.drain()

    app.on_shutdown.append(_drain)
    return webhook


# ---------------------------------------------------------------- Checkout


def classify_stripe(exc: BaseException) -> UpstreamError | None:
    """The stripe SDK's errors in the resilience taxonomy: connection errors and 5xx are
    transient, 429 is throttling, other 4xx are our fault; ``Stripe-Should-Retry`` wins."""
    if isinstance(exc, stripe.APIConnectionError):
        return UpstreamError(status=None, transient=True, message="stripe connection error")
    if not isinstance(exc, stripe.StripeError):
        return None
    status = exc.http_status
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    should_retry = str(headers.get("stripe-should-retry", "")).lower()
    transient: bool | None = None
    if should_retry == "false":
        transient = False
    elif should_retry == "true" and status != 429:
        transient = True
    return UpstreamError(
        status=status,
        retry_after=parse_retry_after(headers.get("retry-after")),
        transient=transient,
        message=f"stripe {type(exc).__name__} (status {status})",
    )


class StripeCheckout:
    """``core.ports.PaymentGateway`` on the stripe SDK (see the module docstring)."""

    def __init__(
        self,
        api_key: str,
        policy: Policy[Any],
        *,
        api_base: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        self._http = stripe.AIOHTTPClient(timeout=timeout)
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base.rstrip("/")} if api_base else None,
            max_network_retries=0,  # the policy retries (with the same idempotency key)
            http_client=self._http,
        )
        self._policy = policy

    async def create_checkout(self, req: CheckoutRequest) -> CheckoutSession:
        params: dict[str, Any] = {
            "mode": req.mode,
            "line_items": [{"price": req.price_id, "quantity": 1}],
            "client_reference_id": str(req.account_id),
            "metadata": dict(req.metadata),
            "success_url": req.success_url,
            "cancel_url": req.cancel_url,
        }
        if req.customer_id:
            params["customer"] = req.customer_id
        elif req.mode == "payment":
            params["customer_creation"] = "always"  # so refunds and later buys map back
        if req.mode == "subscription":
            params["subscription_data"] = {"metadata": dict(req.metadata)}
        else:
            params["payment_intent_data"] = {"metadata": dict(req.metadata)}

        async def create() -> Any:
            return await self._client.v1.checkout.sessions.create_async(
                params,  # type: ignore[arg-type]
                options={"idempotency_key": req.idempotency_key},
            )

        session = (await self._policy.call(None, create)).value
        return CheckoutSession(id=str(session.id), url=str(session.url))

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> dict[str, Any]:
        key = f"hz-renew-{uuid.uuid4().hex}"  # one per request: its retries reuse it

        async def update() -> Any:
            return await self._client.v1.subscriptions.update_async(
                subscription_id,
                {"cancel_at_period_end": cancel},
                options={"idempotency_key": key},
            )

        subscription = (await self._policy.call(None, update)).value
        return dict(subscription.to_dict())

    async def aclose(self) -> None:
        await self._http.close_async()


__all__ = [
    "DEFAULT_TOLERANCE",
    "PATH",
    "SIGNATURE_HEADER",
    "StripeCheckout",
    "StripeWebhook",
    "add_stripe_webhook",
    "classify_stripe",
]
