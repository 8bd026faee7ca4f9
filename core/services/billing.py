"""Plans, credit packs and Stripe billing, without Stripe: core sees plain dicts and ports.

- :class:`Catalog` is configuration: the plans (``free``, ``pro``, ``studio``) with their
  quotas, and the credit packs (``credits-100``...). Stripe price ids come from the environment
  (``bot/settings.py``); a product without a price id cannot be bought.
- :meth:`BillingService.checkout` creates a Stripe Checkout Session through the
  :class:`~core.ports.PaymentGateway` port (idempotency key; ``client_reference_id`` = the
  account) and records the order.
- :meth:`BillingService.apply_event` applies one verified Stripe event in ONE transaction that
  also records the event id, so a repeat changes nothing. Events delivered concurrently share
  that transaction (group commit); a batch that fails is replayed one event per transaction.
  It writes state, not deltas: the subscription state carries the ``created`` of the event
  that wrote it and an older event never overwrites a newer one; a deleted subscription never
  comes back; an order grants its credits once (``credits_granted``) and a refund takes back
  up to what was granted, never below zero. Shapes are Stripe's current ones (period fields on
  subscription items, an invoice's subscription under ``parent.subscription_details``), read
  leniently: missing optional fields, empty metadata and a null ``client_reference_id`` (then
  the customer id maps the account) are all fine.
- The creator is told in chat (:class:`~core.ports.Notifier`) after the transaction commits.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from core.errors import HuntazeError, ServiceUnavailable, UsageError
from core.ports import (
    AccountRepository,
    BillingRepository,
    BillingState,
    BillingUnit,
    CheckoutRequest,
    Clock,
    EventClaim,
    Notifier,
    Order,
    PaymentGateway,
)
from core.resilience.errors import ResilienceError
from core.resilience.groupcommit import GroupCommit

log = structlog.get_logger("huntaze.billing")

MB = 1024 * 1024
GB = 1024 * MB

# Subscription statuses that keep the paid plan (past_due: Stripe is still retrying the card).
LIVE_STATUSES = frozenset({"active", "trialing", "past_due"})
PAID_STATUSES = frozenset({"paid", "no_payment_required"})
MAX_STRIPE_ID = 255  # Stripe's ids are far shorter; the columns that keep them hold 255
MAX_EVENT_TYPE = 128

HANDLED_EVENTS = (
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "invoice.paid",
    "invoice.payment_failed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "charge.refunded",
)


# ---------------------------------------------------------------- catalog


@dataclass(frozen=True)
class Plan:
    """A subscription plan and its quotas (``None``: unlimited)."""

    name: str
    label: str
    monthly_cents: int
    ideas_per_day: int | None
    personalize_per_month: int | None
    vault_bytes: int | None
    price_id: str | None = None


@dataclass(frozen=True)
class CreditPack:
    """Personalisation credits bought once; they never expire."""

    name: str
    credits: int
    cents: int
    price_id: str | None = None

    @property
    def label(self) -> str:
        return f"{self.credits:,} credits"


@dataclass(frozen=True)
class Catalog:
    plans: dict[str, Plan]
    packs: dict[str, CreditPack]
    currency: str = "usd"

    def plan(self, name: str) -> Plan:
        """The plan called ``name``; unknown names are the free plan."""
        return self.plans.get(name) or self.plans["free"]

    def product(self, name: str) -> Plan | CreditPack | None:
        key = name.strip().lower()
        return self.plans.get(key) or self.packs.get(key)

    def plan_for_price(self, price_id: str | None) -> str | None:
        if not price_id:
            return None
        for plan in self.plans.values():
            if plan.price_id == price_id:
                return plan.name
        return None

    def products(self) -> list[str]:
        """Everything /buy accepts (what has a price id)."""
        names = [p.name for p in self.plans.values() if p.price_id]
        return names + [p.name for p in self.packs.values() if p.price_id]

    def money(self, cents: int) -> str:
        symbol = {"usd": "$", "eur": "€", "gbp": "£"}.get(self.currency, "")
        amount = f"{cents / 100:.2f}".removesuffix(".00")
        return f"{symbol}{amount}" if symbol else f"{amount} {self.currency.upper()}"


def default_catalog(price_ids: Mapping[str, str | None] | None = None) -> Catalog:
    """The built-in plans and packs; ``price_ids`` maps product names to Stripe price ids."""
    ids = dict(price_ids or {})
    plans = [
        Plan("free", "Free", 0, ideas_per_day=10, personalize_per_month=20, vault_bytes=500 * MB),
        Plan("pro", "Pro", 1900, ideas_per_day=100, personalize_per_month=500, vault_bytes=20 * GB),
        Plan(
            "studio",
            "Studio",
            4900,
            ideas_per_day=500,
            personalize_per_month=3000,
            vault_bytes=200 * GB,
        ),
    ]
    packs = [
        CreditPack("credits-100", 100, 500),
        CreditPack("credits-500", 500, 1900),
        CreditPack("credits-2000", 2000, 5900),
    ]
    return Catalog(
        plans={p.name: Plan(**{**p.__dict__, "price_id": ids.get(p.name) or None}) for p in plans},
        packs={
            p.name: CreditPack(**{**p.__dict__, "price_id": ids.get(p.name) or None}) for p in packs
        },
    )


def effective_plan(state: BillingState | None) -> str:
    """What quotas use: the subscription's plan while it is live, else free."""
    if state is None or state.status not in LIVE_STATUSES:
        return "free"
    return state.plan


# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class CheckoutLink:
    product: str
    url: str
    session_id: str


@dataclass
class EventResult:
    """What one Stripe event did. ``outcome``: applied | duplicate | ignored | unmatched |
    stale | no_change | pending | payment_failed. ``notices`` are sent after commit."""

    outcome: str
    account_id: int | None = None
    notices: list[tuple[int, str]] = field(default_factory=list)


class InvalidEvent(ValueError):
    """The event lacks what every Stripe event has (id, type, created)."""


@dataclass(frozen=True)
class _Pending:
    """A verified event waiting for its batch."""

    claim: EventClaim
    obj: Any
    handler: Handler | None


def _first_copy(one: _Pending, claimed: set[str]) -> bool:
    """Whether this delivery recorded its event: False when another delivery did first (or an
    earlier copy of it in the same batch, which this takes out of ``claimed``)."""
    if one.claim.event_id not in claimed:
        return False
    claimed.discard(one.claim.event_id)
    return True


# Logged at debug: types we do not handle and repeats (Stripe retries, several endpoints).
_QUIET_OUTCOMES = frozenset({"ignored", "duplicate"})


def _get(obj: Any, *path: str) -> Any:
    """``obj[a][b]...`` or None when any step is missing or not a mapping."""
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return obj


def _ref(value: Any) -> str | None:
    """An expandable field's id: ``"cus_1"`` or ``{"id": "cus_1", ...}``; None when missing or
    longer than any Stripe id (the columns hold 255)."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, str) and 0 < len(value) <= MAX_STRIPE_ID:
        return value
    return None


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _ts(value: Any) -> datetime | None:
    """Unix seconds as a UTC datetime; None when missing or outside what a datetime holds."""
    seconds = _int(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _items(obj: Any, *path: str) -> list[Mapping[str, Any]]:
    data = _get(obj, *path, "data")
    if not isinstance(data, list):
        return []
    return [d for d in data if isinstance(d, Mapping)]


def _date(moment: datetime | None) -> str:
    return f"{moment:%-d %B %Y}" if moment else "the end of the period"


def _lane_key(obj: Any) -> str | None:
    """Who an event's effects lock: events of one customer (or account) never go in two
    concurrent batches, whose row locks could then deadlock."""
    for value in (
        _ref(_get(obj, "customer")),
        _get(obj, "client_reference_id"),
        _get(obj, "metadata", "account_id"),
    ):
        if value:
            return str(value)
    return None


Handler = Callable[[BillingUnit, Mapping[str, Any], datetime, str], Awaitable[EventResult]]


# ---------------------------------------------------------------- the service


@dataclass
class BillingService:
    billing: BillingRepository
    accounts: AccountRepository
    catalog: Catalog
    clock: Clock
    notifier: Notifier | None = None
    gateway: PaymentGateway | None = None
    success_url: str = "http://127.0.0.1:8080/billing/return?status=success"
    cancel_url: str = "http://127.0.0.1:8080/billing/return?status=cancel"
    idempotency_window: int = 900  # seconds: a repeated /buy within it reuses the session

    def __post_init__(self) -> None:
        # Public for metrics and tests: batches and items flushed so far.
        self.commits: GroupCommit[_Pending, EventResult] = GroupCommit(self._apply_batch)
        self._handlers: dict[str, Handler] = {
            "checkout.session.completed": self._on_session,
            "checkout.session.async_payment_succeeded": self._on_session,
            "checkout.session.async_payment_failed": self._on_session,
            "invoice.paid": self._on_invoice_paid,
            "invoice.payment_failed": self._on_invoice_failed,
            "customer.subscription.created": self._on_subscription,
            "customer.subscription.updated": self._on_subscription,
            "customer.subscription.deleted": self._on_subscription_deleted,
            "charge.refunded": self._on_refund,
        }

    # ------------------------------------------------------------ chat side

    async def state(self, account_id: int) -> BillingState | None:
        return await self.billing.state(account_id)

    async def checkout(self, account_id: int, product_name: str) -> CheckoutLink:
        """A Checkout link for a plan or a credit pack (the order is recorded)."""
        product = self.catalog.product(product_name)
        choices = ", ".join(self.catalog.products()) or "none yet"
        if product is None:
            raise UsageError(f"There is no product called “{product_name}”. Choose: {choices}.")
        if isinstance(product, Plan) and product.monthly_cents == 0:
            raise UsageError("The Free plan needs no payment. Choose: " + choices + ".")
        if product.price_id is None or self.gateway is None:
            raise ServiceUnavailable(
                "Payments are not set up on this server yet, so nothing can be bought."
            )
        state = await self.billing.state(account_id)
        is_plan = isinstance(product, Plan)
        if is_plan and state is not None and state.status in LIVE_STATUSES:
            current = self.catalog.plan(state.plan).label
            if state.plan == product.name:
                raise HuntazeError(f"You're already on {current}. /plan shows your plan.")
            raise HuntazeError(
                f"You already have the {current} subscription. Switching plans from chat is not "
                "available yet — cancel the current one first with /plan cancel (it runs to the "
                "end of its period)."
            )
        orders = await self.billing.orders(account_id, limit=1000)
        paid = sum(1 for o in orders if o.status == "paid")
        bucket = int(self.clock.now().timestamp()) // self.idempotency_window
        raw = f"checkout|{account_id}|{product.name}|{bucket}|{paid}"
        key = "hz-" + hashlib.sha256(raw.encode()).hexdigest()[:40]
        request = CheckoutRequest(
            account_id=account_id,
            product=product.name,
            mode="subscription" if is_plan else "payment",
            price_id=product.price_id,
            idempotency_key=key,
            success_url=self.success_url,
            cancel_url=self.cancel_url,
            customer_id=state.customer_id if state else None,
            metadata={"account_id": str(account_id), "product": product.name},
        )
        try:
            session = await self.gateway.create_checkout(request)
        except ResilienceError as exc:
            log.warning("checkout_failed", product=product.name, error=repr(exc))
            raise ServiceUnavailable(
                "The payment service isn't answering right now; nothing was charged. Please try "
                "again in a minute."
            ) from exc
        await self.billing.add_order(
            Order(
                session_id=session.id,
                account_id=account_id,
                product=product.name,
                kind="plan" if is_plan else "credits",
                credits=0 if is_plan else product.credits,  # type: ignore[union-attr]
                created_at=self.clock.now(),
            )
        )
        log.info("checkout_created", product=product.name, account_id=account_id)
        return CheckoutLink(product=product.name, url=session.url, session_id=session.id)

    async def set_renewal(self, account_id: int, renew: bool) -> BillingState:
        """Set the running subscription to end with its paid period (``renew=False``: a
        cancellation that keeps what was paid for) or to renew again; returns the state.

        Stripe is asked first; the account's state then takes what it answered (flag and
        period end; ``state_at`` is left for the ``customer.subscription.updated`` event that
        follows, so no event is taken for stale by our clock). That event finds the flag
        already set and says nothing more in chat: the reply to the command has said it."""
        state = await self.billing.state(account_id)
        if state is None or state.status not in LIVE_STATUSES or not state.subscription_id:
            raise UsageError("You have no running subscription. /plan shows your plan.")
        label = self.catalog.plan(state.plan).label
        if renew == (not state.cancel_at_period_end):
            when = "renews" if renew else "ends"
            raise UsageError(
                f"Your {label} plan already {when} on {_date(state.current_period_end)}."
            )
        if self.gateway is None:
            raise ServiceUnavailable("Payments are not set up on this server yet.")
        try:
            sub = await self.gateway.set_cancel_at_period_end(state.subscription_id, not renew)
        except ResilienceError as exc:
            log.warning("renewal_change_failed", renew=renew, error=repr(exc))
            raise ServiceUnavailable(
                "The payment service isn't answering right now; nothing changed. Please try "
                "again in a minute."
            ) from exc
        async with self.billing.unit() as unit:
            current = await unit.state(account_id) or state
            current.cancel_at_period_end = bool(sub.get("cancel_at_period_end"))
            current.current_period_end = (
                self._subscription_period_end(sub) or current.current_period_end
            )
            await unit.save_state(current)
        log.info("renewal_changed", account_id=account_id, renew=renew)
        return current

    # ------------------------------------------------------------ webhook side

    async def apply_event(self, event: Mapping[str, Any]) -> EventResult:
        """Apply one verified Stripe event (see the module docstring). Raises
        :class:`InvalidEvent` when it lacks an id, a type or a creation time.

        Events delivered concurrently are applied together, in one transaction per batch
        (group commit): each one's id is still recorded in the same transaction as its own
        effects, and each caller gets its own event's result."""
        event_id, event_type, created = (
            event.get("id"),
            event.get("type"),
            _ts(event.get("created")),
        )
        if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str):
            raise InvalidEvent("an event needs an id and a type")
        if len(event_id) > MAX_STRIPE_ID or len(event_type) > MAX_EVENT_TYPE:
            raise InvalidEvent("an event id or type longer than Stripe makes them")
        if created is None:
            raise InvalidEvent("an event needs a created timestamp")
        obj = _get(event, "data", "object")
        handler = self._handlers.get(event_type) if isinstance(obj, Mapping) else None
        # An event with nothing to apply is recorded with its final outcome straight away.
        claim = EventClaim(event_id, event_type, created, "processing" if handler else "ignored")
        result = await self.commits.submit(_Pending(claim, obj, handler), _lane_key(obj))
        # Logged here, in the delivery's own context (its request id), not in the batch's.
        (log.debug if result.outcome in _QUIET_OUTCOMES else log.info)(
            "stripe_event",
            event_id=event_id,
            type=event_type,
            outcome=result.outcome,
            account_id=result.account_id,
        )
        return result

    async def _apply_batch(self, batch: Sequence[_Pending]) -> list[EventResult | BaseException]:
        """One transaction for the batch; when it fails for any reason but an outage, each
        event again in its own transaction, so one bad event cannot fail the others."""
        try:
            return list(await self._apply_together(batch))
        except ServiceUnavailable:
            raise
        except Exception:
            if len(batch) == 1:
                raise
            log.warning("stripe_batch_failed", size=len(batch), exc_info=True)
        results: list[EventResult | BaseException] = []
        for one in batch:
            try:
                results.extend(await self._apply_together([one]))
            except Exception as exc:
                results.append(exc)
        return results

    async def _apply_together(self, batch: Sequence[_Pending]) -> list[EventResult]:
        unique: dict[str, EventClaim] = {}
        for one in batch:
            unique.setdefault(one.claim.event_id, one.claim)
        if all(one.handler is None for one in batch):
            claimed = await self.billing.record_events(list(unique.values()))
            return [
                EventResult("ignored" if _first_copy(one, claimed) else "duplicate")
                for one in batch
            ]
        return await self._apply_in_unit(batch, list(unique.values()))

    async def _apply_in_unit(
        self, batch: Sequence[_Pending], claims: list[EventClaim]
    ) -> list[EventResult]:
        results: list[EventResult] = []
        async with self.billing.unit() as unit:
            claimed = await unit.claim_events(claims)
            finished: list[tuple[str, str, int | None]] = []
            for one in batch:
                if not _first_copy(one, claimed):
                    results.append(EventResult("duplicate"))
                    continue
                if one.handler is None:
                    results.append(EventResult("ignored"))
                    continue
                result = await one.handler(unit, one.obj, one.claim.created, one.claim.event_type)
                finished.append((one.claim.event_id, result.outcome, result.account_id))
                results.append(result)
            if finished:
                await unit.finish_events(finished)
        return results

    async def announce(self, result: EventResult) -> None:
        """Send the result's notices (after the transaction committed). Never raises."""
        if self.notifier is None:
            return
        for account_id, text in result.notices:
            try:
                await self.notifier.notify(account_id, text)
            except Exception:
                log.warning("notify_failed", account_id=account_id, exc_info=True)

    def _pack_for_amount(self, amount: Any, currency: Any) -> CreditPack | None:
        """The one pack with this price (a session whose metadata was lost), else None."""
        cents = _int(amount)
        if cents is None or str(currency or self.catalog.currency).lower() != self.catalog.currency:
            return None
        found = [p for p in self.catalog.packs.values() if p.cents == cents]
        return found[0] if len(found) == 1 else None

    def _label(self, product: str) -> str:
        found = self.catalog.product(product)
        return found.label if found is not None else product

    # ------------------------------------------------------------ finding the account

    async def _account_for(
        self,
        unit: BillingUnit,
        *,
        reference: Any = None,
        metadata: Any = None,
        customer: str | None = None,
    ) -> int | None:
        for candidate in (_int(reference), _int(_get(metadata, "account_id"))):
            if candidate is not None and await unit.account_exists(candidate):
                return candidate
        if customer:
            return await unit.account_for_customer(customer)
        return None

    async def _load_state(self, unit: BillingUnit, account_id: int) -> BillingState:
        return await unit.state(account_id) or BillingState(account_id=account_id)

    async def _link_customer(
        self, unit: BillingUnit, state: BillingState, customer: str | None
    ) -> None:
        if not customer or state.customer_id == customer:
            return
        owner = await unit.account_for_customer(customer)
        if owner is None:
            state.customer_id = customer
        elif owner != state.account_id:
            log.warning("customer_owned_elsewhere", account_id=state.account_id)

    async def _commit_state(
        self, unit: BillingUnit, state: BillingState, before: str, notices: list[tuple[int, str]]
    ) -> None:
        """Save the state and the account's effective plan; say so when the plan changed."""
        await unit.save_state(state)
        after = effective_plan(state)
        if after != before:
            await unit.set_plan(state.account_id, after)
            plan = self.catalog.plan(after)
            if after == "free":
                text = (
                    f"Your {self.catalog.plan(before).label} subscription has ended — you're on "
                    "the Free plan now. /plan shows the plans."
                )
            else:
                text = f"You're on **{plan.label}** now — thank you! /usage shows what it includes."
            notices.append((state.account_id, text))

    # ------------------------------------------------------------ checkout sessions

    async def _on_session(
        self, unit: BillingUnit, session: Mapping[str, Any], created: datetime, event_type: str
    ) -> EventResult:
        session_id = _ref(session.get("id"))
        order = await unit.order(session_id) if session_id else None
        customer = _ref(session.get("customer"))
        metadata = session.get("metadata")
        account_id = (
            order.account_id
            if order
            else await self._account_for(
                unit,
                reference=session.get("client_reference_id"),
                metadata=metadata,
                customer=customer,
            )
        )
        if account_id is None or session_id is None:
            return EventResult("unmatched")
        product = order.product if order else _get(metadata, "product")
        state = await self._load_state(unit, account_id)
        await self._link_customer(unit, state, customer)
        failed = event_type == "checkout.session.async_payment_failed"
        paid = not failed and (
            event_type == "checkout.session.async_payment_succeeded"
            or str(session.get("payment_status") or "") in PAID_STATUSES
        )
        if session.get("mode") == "subscription":
            return await self._subscription_checkout(
                unit, state, session, order, product, paid, failed, created
            )
        pack = self.catalog.packs.get(product) if isinstance(product, str) else None
        if pack is None and order is None:
            pack = self._pack_for_amount(session.get("amount_total"), session.get("currency"))
        if order is None:
            if pack is None:
                await unit.save_state(state)
                return EventResult("unmatched", account_id)
            order = Order(
                session_id=session_id,
                account_id=account_id,
                product=pack.name,
                kind="credits",
                credits=pack.credits,
                created_at=created,
            )
        order.payment_intent = order.payment_intent or _ref(session.get("payment_intent"))
        order.amount_total = _int(session.get("amount_total")) or order.amount_total
        order.currency = str(session.get("currency") or order.currency or "")
        notices: list[tuple[int, str]] = []
        if paid:
            outcome = await self._fulfil(unit, order, notices)
        elif failed:
            outcome = "no_change" if order.status in ("paid", "failed") else "payment_failed"
            if outcome == "payment_failed":
                order.status = "failed"
                notices.append(
                    (
                        account_id,
                        f"Your payment for {self._label(order.product)} didn't go through, "
                        "so nothing was added. /buy tries again.",
                    )
                )
        else:
            # Completed, but the money is not there yet (bank debits): async_payment_* follows.
            outcome = "pending"
            if order.status == "open":
                order.status = "pending"
        await unit.save_order(order)
        await unit.save_state(state)
        return EventResult(outcome, account_id, notices)

    async def _fulfil(self, unit: BillingUnit, order: Order, notices: list[tuple[int, str]]) -> str:
        """Grant the order's credits once."""
        if order.status == "paid":
            return "no_change"
        order.status = "paid"
        if order.kind != "credits" or order.credits <= 0:
            return "applied"
        changed, balance = await unit.add_credits(order.account_id, order.credits)
        order.credits_granted = order.credits
        notices.append(
            (
                order.account_id,
                f"**{changed:,} credits** added — you have {balance:,} now. Thank you!",
            )
        )
        return "applied"

    async def _subscription_checkout(
        self,
        unit: BillingUnit,
        state: BillingState,
        session: Mapping[str, Any],
        order: Order | None,
        product: Any,
        paid: bool,
        failed: bool,
        created: datetime,
    ) -> EventResult:
        before = effective_plan(state)
        notices: list[tuple[int, str]] = []
        subscription = _ref(session.get("subscription"))
        if order is not None and order.status not in ("paid", "failed"):
            order.status = "paid" if paid else "failed" if failed else "pending"
            await unit.save_order(order)
        if failed:
            await unit.save_state(state)
            notices.append(
                (
                    state.account_id,
                    "Your payment for the plan didn't go through, so it was not started. "
                    "/buy tries again.",
                )
            )
            return EventResult("payment_failed", state.account_id, notices)
        if not paid or subscription is None:
            await unit.save_state(state)
            return EventResult("pending", state.account_id)
        if state.subscription_id == subscription and state.status == "canceled":
            await unit.save_state(state)
            return EventResult("stale", state.account_id)
        newer = state.state_at is None or created >= state.state_at
        if state.subscription_id == subscription and not newer:
            # Later events about this subscription already wrote its state.
            await unit.save_state(state)
            return EventResult("stale", state.account_id)
        if state.subscription_id not in (None, subscription) and (
            state.status in LIVE_STATUSES and not newer
        ):
            await unit.save_state(state)
            return EventResult("stale", state.account_id)
        state.subscription_id = subscription
        if isinstance(product, str) and product in self.catalog.plans:
            state.plan = product
        state.status = "active"
        state.cancel_at_period_end = False
        state.state_at = created
        await self._commit_state(unit, state, before, notices)
        return EventResult("applied", state.account_id, notices)

    # ------------------------------------------------------------ invoices

    def _invoice_subscription(self, invoice: Mapping[str, Any]) -> str | None:
        found = _ref(_get(invoice, "parent", "subscription_details", "subscription"))
        if found:
            return found
        for line in _items(invoice, "lines"):
            found = _ref(_get(line, "parent", "subscription_item_details", "subscription"))
            if found:
                return found
        return _ref(invoice.get("subscription"))  # API versions before 2025-03-31

    def _invoice_plan(self, invoice: Mapping[str, Any]) -> str | None:
        for line in _items(invoice, "lines"):
            price = _ref(_get(line, "pricing", "price_details", "price")) or _ref(line.get("price"))
            plan = self.catalog.plan_for_price(price)
            if plan:
                return plan
        return None

    def _invoice_period_end(self, invoice: Mapping[str, Any]) -> datetime | None:
        ends = [_ts(_get(line, "period", "end")) for line in _items(invoice, "lines")]
        known = [e for e in ends if e is not None]
        return max(known) if known else None

    async def _state_for(
        self,
        unit: BillingUnit,
        subscription: str | None,
        customer: str | None,
        metadata: Any,
    ) -> BillingState | None:
        """The (locked) state of the account an event is about: by subscription id (one query
        once it is known), else by the metadata's account id, else by customer id."""
        state = await unit.state_for_subscription(subscription) if subscription else None
        if state is None:
            account_id = await self._account_for(unit, metadata=metadata, customer=customer)
            if account_id is None:
                return None
            state = await self._load_state(unit, account_id)
        await self._link_customer(unit, state, customer)
        return state

    async def _invoice_context(
        self, unit: BillingUnit, invoice: Mapping[str, Any]
    ) -> tuple[BillingState, str | None] | None:
        subscription = self._invoice_subscription(invoice)
        state = await self._state_for(
            unit,
            subscription,
            _ref(invoice.get("customer")),
            _get(invoice, "parent", "subscription_details", "metadata"),
        )
        return None if state is None else (state, subscription)

    def _other_live(self, state: BillingState, subscription: str | None) -> bool:
        """Is another subscription than ``subscription`` the account's live one?"""
        return (
            subscription is not None
            and state.subscription_id not in (None, subscription)
            and state.status in LIVE_STATUSES
        )

    async def _on_invoice_paid(
        self,
        unit: BillingUnit,
        invoice: Mapping[str, Any],
        created: datetime,
        event_type: str,
    ) -> EventResult:
        context = await self._invoice_context(unit, invoice)
        if context is None:
            return EventResult("unmatched")
        state, subscription = context
        before = effective_plan(state)
        if subscription is None or self._other_live(state, subscription):
            await unit.save_state(state)
            return EventResult("ignored", state.account_id)
        if state.subscription_id == subscription and state.status == "canceled":
            await unit.save_state(state)
            return EventResult("stale", state.account_id)
        notices: list[tuple[int, str]] = []
        period_end = self._invoice_period_end(invoice)
        if period_end is not None and (
            state.current_period_end is None or period_end > state.current_period_end
        ):
            state.current_period_end = period_end  # paying extends, never shortens
        newer = state.state_at is None or created >= state.state_at
        if newer:
            was = state.status
            state.subscription_id = subscription
            state.plan = self._invoice_plan(invoice) or state.plan
            state.status = "active"
            state.state_at = created
            if was == "past_due" and before == effective_plan(state):
                notices.append(
                    (
                        state.account_id,
                        "Payment received — your "
                        f"{self.catalog.plan(state.plan).label} plan continues. Thank you!",
                    )
                )
        await self._commit_state(unit, state, before, notices)
        return EventResult("applied" if newer else "stale", state.account_id, notices)

    async def _on_invoice_failed(
        self,
        unit: BillingUnit,
        invoice: Mapping[str, Any],
        created: datetime,
        event_type: str,
    ) -> EventResult:
        context = await self._invoice_context(unit, invoice)
        if context is None:
            return EventResult("unmatched")
        state, subscription = context
        before = effective_plan(state)
        if (
            subscription is None
            or self._other_live(state, subscription)
            or (state.subscription_id == subscription and state.status == "canceled")
        ):
            await unit.save_state(state)
            return EventResult("ignored", state.account_id)
        notices: list[tuple[int, str]] = []
        newer = state.state_at is None or created >= state.state_at
        if newer:  # the plan stays what the subscription says; only the status changes
            state.subscription_id = subscription
            state.status = "past_due"
            state.state_at = created
        notices.append(
            (
                state.account_id,
                f"Your {self.catalog.plan(state.plan).label} payment didn't go through. Stripe "
                "will try again; please check your card so your plan keeps running.",
            )
        )
        await self._commit_state(unit, state, before, notices)
        return EventResult("payment_failed", state.account_id, notices)

    # ------------------------------------------------------------ subscriptions

    def _subscription_plan(self, sub: Mapping[str, Any]) -> str | None:
        for item in _items(sub, "items"):
            plan = self.catalog.plan_for_price(_ref(_get(item, "price")))
            if plan:
                return plan
        return self.catalog.plan_for_price(_ref(_get(sub, "plan")))

    def _subscription_period_end(self, sub: Mapping[str, Any]) -> datetime | None:
        ends = [_ts(item.get("current_period_end")) for item in _items(sub, "items")]
        known = [e for e in ends if e is not None]
        if known:
            return max(known)
        return _ts(sub.get("current_period_end"))  # API versions before 2025-03-31

    async def _subscription_context(
        self, unit: BillingUnit, sub: Mapping[str, Any]
    ) -> tuple[BillingState, str] | None:
        subscription = _ref(sub.get("id"))
        if subscription is None:
            return None
        state = await self._state_for(
            unit, subscription, _ref(sub.get("customer")), sub.get("metadata")
        )
        return None if state is None else (state, subscription)

    async def _on_subscription(
        self,
        unit: BillingUnit,
        sub: Mapping[str, Any],
        created: datetime,
        event_type: str,
    ) -> EventResult:
        context = await self._subscription_context(unit, sub)
        if context is None:
            return EventResult("unmatched")
        state, subscription = context
        before = effective_plan(state)
        newer = state.state_at is None or created >= state.state_at
        terminal = state.subscription_id == subscription and state.status == "canceled"
        if terminal or not newer:
            await unit.save_state(state)
            return EventResult("stale", state.account_id)
        status = str(sub.get("status") or "")
        if self._other_live(state, subscription) and status not in LIVE_STATUSES:
            await unit.save_state(state)
            return EventResult("ignored", state.account_id)
        notices: list[tuple[int, str]] = []
        was_ending = state.cancel_at_period_end and state.subscription_id == subscription
        state.subscription_id = subscription
        state.plan = self._subscription_plan(sub) or state.plan
        state.status = status
        state.cancel_at_period_end = bool(sub.get("cancel_at_period_end") or sub.get("cancel_at"))
        state.current_period_end = self._subscription_period_end(sub) or state.current_period_end
        state.state_at = created
        if state.cancel_at_period_end and not was_ending and status in LIVE_STATUSES:
            notices.append(
                (
                    state.account_id,
                    f"Your {self.catalog.plan(state.plan).label} plan is set to end on "
                    f"{_date(state.current_period_end)}. It keeps working until then.",
                )
            )
        await self._commit_state(unit, state, before, notices)
        return EventResult("applied", state.account_id, notices)

    async def _on_subscription_deleted(
        self,
        unit: BillingUnit,
        sub: Mapping[str, Any],
        created: datetime,
        event_type: str,
    ) -> EventResult:
        context = await self._subscription_context(unit, sub)
        if context is None:
            return EventResult("unmatched")
        state, subscription = context
        before = effective_plan(state)
        if state.subscription_id not in (None, subscription):
            await unit.save_state(state)  # an older subscription ended; the current one stays
            return EventResult("ignored", state.account_id)
        if state.subscription_id == subscription and state.status == "canceled":
            return EventResult("no_change", state.account_id)
        notices: list[tuple[int, str]] = []
        # Deletion is final for this subscription whatever arrives later (or arrived earlier).
        state.subscription_id = subscription
        state.plan = self._subscription_plan(sub) or state.plan
        state.status = "canceled"
        state.cancel_at_period_end = False
        state.state_at = max(created, state.state_at) if state.state_at else created
        await self._commit_state(unit, state, before, notices)
        return EventResult("applied", state.account_id, notices)

    # ------------------------------------------------------------ refunds

    async def _on_refund(
        self,
        unit: BillingUnit,
        charge: Mapping[str, Any],
        created: datetime,
        event_type: str,
    ) -> EventResult:
        payment_intent = _ref(charge.get("payment_intent"))
        order = await unit.order_for_payment_intent(payment_intent) if payment_intent else None
        if order is None:
            return EventResult("unmatched")
        if order.kind != "credits" or order.credits_granted <= 0:
            return EventResult("ignored", order.account_id)
        amount = _int(charge.get("amount")) or 0
        refunded = _int(charge.get("amount_refunded")) or 0
        full = bool(charge.get("refunded")) or (amount > 0 and refunded >= amount)
        target = order.credits_granted if full else (order.credits_granted * refunded) // amount
        target = min(max(target, 0), order.credits_granted)
        delta = target - order.credits_revoked
        if delta <= 0:
            return EventResult("no_change", order.account_id)
        changed, balance = await unit.add_credits(order.account_id, -delta)
        order.credits_revoked = target
        await unit.save_order(order)
        notices = [
            (
                order.account_id,
                f"A payment was refunded, so {delta:,} credits were taken back "
                f"({-changed:,} were left to take); you have {balance:,} now.",
            )
        ]
        return EventResult("applied", order.account_id, notices)


__all__ = [
    "HANDLED_EVENTS",
    "LIVE_STATUSES",
    "BillingService",
    "Catalog",
    "CheckoutLink",
    "CreditPack",
    "EventResult",
    "InvalidEvent",
    "Plan",
    "default_catalog",
    "effective_plan",
]
