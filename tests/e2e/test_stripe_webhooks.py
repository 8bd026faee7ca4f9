"""``POST /webhooks/stripe`` on the real HTTP server, SQLite and PostgreSQL.

Events are Stripe's current shapes (``tests/fixtures/stripe``), signed with the stripe SDK's own
scheme. What is checked is what a creator and an operator see: plan, credits, chat notices, the
HTTP answer, and that a repeat, a reordering or a bad delivery changes nothing it should not.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.resilience import GroupCommit
from storage.tables import StripeEventRow
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import (
    OLD_WEBHOOK_SECRET,
    HttpWorld,
    fixture_names,
    load_event,
    sign,
    start_world,
)
from tests.fakes.stripe_api import world as world  # both backends

SUB = "sub_1QyCzxLkdIwHu7ixK7nB2vC4"
CUSTOMER = "cus_RtYq2JkLmN3oPq"
PAYMENT_INTENT = "pi_3QyCjxLkdIwHu7ix0mZ4sR7a"


async def new_account(world: HttpWorld, name: str = "mia") -> int:
    return int((await world.identity(name)).id)


def for_account(name: str, account_id: int, **changes: Any) -> dict[str, Any]:
    """A fixture event pointed at ``account_id`` (reference id and metadata)."""
    event = load_event(name, **changes)
    obj = event["data"]["object"]
    if "client_reference_id" in obj and obj["client_reference_id"] is not None:
        obj["client_reference_id"] = str(account_id)
    if isinstance(obj.get("metadata"), dict) and "account_id" in obj["metadata"]:
        obj["metadata"]["account_id"] = str(account_id)
    details = obj.get("parent", {}).get("subscription_details")
    if isinstance(details, dict) and isinstance(details.get("metadata"), dict):
        details["metadata"]["account_id"] = str(account_id)
    return event


async def event_rows(world: HttpWorld) -> int:
    async with world.store.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(StripeEventRow)) or 0)


async def plan_and_credits(world: HttpWorld, account_id: int) -> tuple[str, int]:
    account = await world.account(account_id)
    return account.plan, account.credits


# ---------------------------------------------------------------- every type, signed


@pytest.mark.parametrize("name", fixture_names())
async def test_every_fixture_event_is_accepted_once(world: HttpWorld, name: str) -> None:
    account_id = await new_account(world)
    event = for_account(name, account_id)
    status, body = await world.post_event(event)
    assert status == 200, body
    assert body["received"] is True
    assert body["outcome"] != "duplicate"
    status, again = await world.post_event(event)
    assert (status, again["outcome"]) == (200, "duplicate")
    assert await event_rows(world) == 1


async def test_unknown_type_is_acknowledged_ignored_and_counted(world: HttpWorld) -> None:
    status, body = await world.post_event(load_event("customer.created"))
    assert (status, body["outcome"]) == (200, "ignored")
    metrics = world.container.metrics
    count = metrics.webhook_events.labels("stripe", "customer.created", "ignored")._value.get()
    assert count == 1


# ---------------------------------------------------------------- credit packs


async def test_paid_credit_pack_grants_once_and_tells_the_creator(world: HttpWorld) -> None:
    account_id = await new_account(world)
    event = for_account("checkout.session.completed.payment", account_id)

    status, body = await world.post_event(event)
    assert (status, body["outcome"]) == (200, "applied")
    assert await plan_and_credits(world, account_id) == ("free", 500)
    await asyncio.sleep(0.05)  # the notice goes out after the answer
    assert any("500 credits" in text for text in world.notices.to(account_id))

    for _ in range(3):  # Stripe delivers at least once
        status, body = await world.post_event(event)
        assert (status, body["outcome"]) == (200, "duplicate")
    assert await plan_and_credits(world, account_id) == ("free", 500)
    await asyncio.sleep(0.05)
    assert len(world.notices.to(account_id)) == 1


async def test_concurrent_duplicate_deliveries_grant_once(world: HttpWorld) -> None:
    account_id = await new_account(world)
    event = for_account("checkout.session.completed.payment", account_id)
    results = await asyncio.gather(*(world.post_event(event) for _ in range(8)))
    outcomes = sorted(body["outcome"] for _, body in results)
    assert all(status == 200 for status, _ in results)
    assert outcomes.count("applied") == 1 and outcomes.count("duplicate") == 7
    assert await plan_and_credits(world, account_id) == ("free", 500)


def pack_bought(account_id: int, tag: str) -> dict[str, Any]:
    """A paid credit-pack checkout of its own (event, session, payment and customer ids)."""
    return for_account(
        "checkout.session.completed.payment",
        account_id,
        id=f"evt_{tag}_{account_id}",
        data__object__id=f"cs_test_{tag}_{account_id}",
        data__object__payment_intent=f"pi_{tag}_{account_id}",
        data__object__customer=f"cus_{tag}_{account_id}",
    )


async def test_a_burst_of_deliveries_is_grouped_and_each_answered_for_itself(
    world: HttpWorld,
) -> None:
    """Concurrent deliveries share transactions (group commit); every answer, every grant and
    every record is still the event's own, repeats included."""
    accounts = [await new_account(world, f"creator{i}") for i in range(6)]
    packs = [pack_bought(account_id, "pack") for account_id in accounts]
    ignored = [load_event("customer.created", id=f"evt_ignored_{i}") for i in range(10)]
    repeated = packs[0]
    deliveries = [*packs, *ignored, repeated, repeated, ignored[0]]
    answers = await asyncio.gather(*(world.post_event(event) for event in deliveries))
    assert all(status == 200 for status, _ in answers)
    outcomes = [body["outcome"] for _, body in answers]
    pack_outcomes = outcomes[: len(packs)] + outcomes[-3:-1]
    ignored_outcomes = outcomes[len(packs) : len(packs) + len(ignored)] + outcomes[-1:]
    # Whichever copy of a repeated event is recorded first applies it; the others are repeats.
    assert sorted(pack_outcomes) == ["applied"] * len(packs) + ["duplicate"] * 2
    assert sorted(ignored_outcomes) == ["duplicate"] + ["ignored"] * len(ignored)
    for account_id in accounts:
        assert await plan_and_credits(world, account_id) == ("free", 500)
    assert await event_rows(world) == len(packs) + len(ignored)
    commits = world.container.billing.commits
    assert commits.items == len(deliveries)
    assert commits.batches < len(deliveries)  # grouped: fewer transactions than events
    exported = world.container.metrics.render().decode()
    assert f'huntaze_group_commit_items_total{{writer="stripe_events"}} {len(deliveries)}.0' in (
        exported
    )
    assert f'huntaze_group_commit_batches_total{{writer="stripe_events"}} {commits.batches}.0' in (
        exported
    )


async def test_each_event_is_logged_with_its_own_delivery_request_id(world: HttpWorld) -> None:
    """Batched events are applied by one task for many requests: each event's log line must
    still carry the request id of the delivery that brought it."""
    import structlog

    captured: list[dict[str, Any]] = []

    def keep(_: Any, __: str, event: dict[str, Any]) -> Any:
        captured.append(dict(event))
        raise structlog.DropEvent

    # Applied events only: they log at info (ignored ones at debug, which a run may filter).
    accounts = [await new_account(world, f"creator{i}") for i in range(12)]
    events = [pack_bought(a, "pack") for a in accounts]

    async def deliver(i: int, event: dict[str, Any]) -> None:
        raw = json.dumps(event).encode()
        headers = {"Stripe-Signature": sign(raw, world.secret), "X-Request-Id": f"delivery-{i}"}
        async with world.http.post(f"{world.url}/webhooks/stripe", data=raw, headers=headers) as r:
            assert r.status == 200

    old = structlog.get_config()
    structlog.configure(processors=[structlog.contextvars.merge_contextvars, keep])
    try:
        await asyncio.gather(*(deliver(i, e) for i, e in enumerate(events)))
    finally:
        structlog.configure(**old)
    assert world.container.billing.commits.batches < len(events)  # some were batched
    logged = {e["event_id"]: e.get("request_id") for e in captured if e["event"] == "stripe_event"}
    assert logged == {e["id"]: f"delivery-{i}" for i, e in enumerate(events)}


async def test_a_failing_event_in_a_batch_fails_alone(world: HttpWorld) -> None:
    """One event whose effects fail (here: an error injected after a write in its
    transaction) is not recorded and its write is rolled back, so Stripe's redelivery applies
    it; the events that shared its batch are applied."""
    accounts = [await new_account(world, f"batch{i}") for i in range(4)]
    events = [pack_bought(account_id, "batch") for account_id in accounts]
    poisoned = accounts[2]
    billing = world.container.billing
    handler = billing._handlers["checkout.session.completed"]

    async def failing(unit: Any, obj: Any, created: Any, event_type: str) -> Any:
        if obj.get("client_reference_id") == str(poisoned):
            await unit.set_plan(poisoned, "studio")  # a write that must be rolled back
            raise RuntimeError("injected failure")
        return await handler(unit, obj, created, event_type)

    billing._handlers["checkout.session.completed"] = failing
    billing.commits = GroupCommit(billing._apply_batch, lanes=1)  # all four in one batch
    results = await asyncio.gather(
        *(billing.apply_event(event) for event in events), return_exceptions=True
    )
    assert billing.commits.batches == 1
    for account_id, result in zip(accounts, results, strict=True):
        if account_id == poisoned:
            assert isinstance(result, RuntimeError)
        else:
            assert result.outcome == "applied"
    for account_id in accounts:
        expected = ("free", 0) if account_id == poisoned else ("free", 500)
        assert await plan_and_credits(world, account_id) == expected
    assert await event_rows(world) == len(accounts) - 1
    status, _ = await world.post_event(events[2])  # over HTTP: a 500, so Stripe retries
    assert status == 500

    billing._handlers["checkout.session.completed"] = handler  # fixed: the redelivery applies
    status, body = await world.post_event(events[2])
    assert (status, body["outcome"]) == (200, "applied")
    assert await plan_and_credits(world, poisoned) == ("free", 500)


async def test_the_same_session_in_a_new_event_does_not_grant_twice(world: HttpWorld) -> None:
    account_id = await new_account(world)
    first = for_account("checkout.session.completed.payment", account_id)
    second = for_account("checkout.session.completed.payment", account_id, id="evt_resent_2")
    assert (await world.post_event(first))[1]["outcome"] == "applied"
    assert (await world.post_event(second))[1]["outcome"] == "no_change"
    assert await plan_and_credits(world, account_id) == ("free", 500)


async def test_unpaid_completion_waits_for_the_async_payment(world: HttpWorld) -> None:
    account_id = await new_account(world)
    delayed = for_account("checkout.session.completed.delayed", account_id)
    assert (await world.post_event(delayed))[1]["outcome"] == "pending"
    assert await plan_and_credits(world, account_id) == ("free", 0)

    succeeded = for_account("checkout.session.async_payment_succeeded", account_id)
    assert (await world.post_event(succeeded))[1]["outcome"] == "applied"
    assert await plan_and_credits(world, account_id) == ("free", 100)

    # A failure notice for the same session after it was paid changes nothing.
    failed = for_account("checkout.session.async_payment_failed", account_id)
    assert (await world.post_event(failed))[1]["outcome"] == "no_change"
    assert await plan_and_credits(world, account_id) == ("free", 100)


async def test_failed_async_payment_grants_nothing_and_says_so(world: HttpWorld) -> None:
    account_id = await new_account(world)
    await world.post_event(for_account("checkout.session.completed.delayed", account_id))
    failed = for_account("checkout.session.async_payment_failed", account_id)
    assert (await world.post_event(failed))[1]["outcome"] == "payment_failed"
    # The success arriving late (out of order) for a failed session grants nothing either.
    succeeded = for_account(
        "checkout.session.async_payment_succeeded", account_id, created=1764000000 + 2 * 86400
    )
    await world.post_event(succeeded)
    credits = (await world.account(account_id)).credits
    assert credits in (0, 100)  # Stripe never sends both; whichever came first decided
    await asyncio.sleep(0.05)
    assert any("didn't go through" in text for text in world.notices.to(account_id))


async def test_null_reference_and_empty_metadata_map_by_customer(world: HttpWorld) -> None:
    account_id = await new_account(world)
    # The first purchase links the Stripe customer to the account...
    await world.post_event(for_account("checkout.session.completed.payment", account_id))
    # ...so a later session with no reference and no metadata still finds it (and the pack is
    # known from its price).
    later = load_event(
        "checkout.session.completed.payment",
        id="evt_later_purchase",
        data__object__id="cs_test_later_purchase",
        data__object__client_reference_id=None,
        data__object__metadata={},
        data__object__payment_intent="pi_later",
        data__object__amount_total=500,
        data__object__amount_subtotal=500,
    )
    status, body = await world.post_event(later)
    assert (status, body["outcome"]) == (200, "applied")
    assert await plan_and_credits(world, account_id) == ("free", 600)


async def test_an_event_for_nobody_is_acknowledged_as_unmatched(world: HttpWorld) -> None:
    await new_account(world)
    stray = load_event(
        "checkout.session.completed.payment",
        data__object__client_reference_id=None,
        data__object__metadata={},
        data__object__customer="cus_someone_else",
    )
    status, body = await world.post_event(stray)
    assert (status, body["outcome"]) == (200, "unmatched")


# ---------------------------------------------------------------- refunds


async def test_refunds_take_credits_back_never_below_zero(world: HttpWorld) -> None:
    account_id = await new_account(world)
    await world.post_event(for_account("checkout.session.completed.payment", account_id))
    assert (await world.account(account_id)).credits == 500

    # Half refunded: half the pack goes.
    half = load_event("charge.refunded", id="evt_refund_half", data__object__amount_refunded=950)
    half["data"]["object"]["refunded"] = False
    assert (await world.post_event(half))[1]["outcome"] == "applied"
    assert (await world.account(account_id)).credits == 250

    # She spends most of what is left, then the rest is refunded: the balance stops at zero.
    took = await world.store.quota_usage.consume(account_id, "personalize", "x", 200, 0, True)
    assert took == (0, 200)
    full = load_event("charge.refunded")  # amount_refunded = amount, refunded = true
    assert (await world.post_event(full))[1]["outcome"] == "applied"
    assert (await world.account(account_id)).credits == 0

    # The same refund state again (a new event id) changes nothing.
    again = load_event("charge.refunded", id="evt_refund_again", created=1764300100)
    assert (await world.post_event(again))[1]["outcome"] == "no_change"
    assert (await world.account(account_id)).credits == 0
    await asyncio.sleep(0.05)
    assert sum("taken back" in t for t in world.notices.to(account_id)) == 2


# ---------------------------------------------------------------- subscriptions


async def test_subscription_lifecycle(world: HttpWorld) -> None:
    account_id = await new_account(world)
    completed = for_account("checkout.session.completed.subscription", account_id)
    assert (await world.post_event(completed))[1]["outcome"] == "applied"
    assert (await world.account(account_id)).plan == "pro"

    paid = for_account("invoice.paid", account_id)
    assert (await world.post_event(paid))[1]["outcome"] == "applied"
    state = await world.store.billing.state(account_id)
    assert state.subscription_id == SUB and state.customer_id == CUSTOMER
    assert int(state.current_period_end.timestamp()) == 1766592000  # from the invoice line

    upgraded = load_event("customer.subscription.updated")  # items now carry the Studio price
    assert (await world.post_event(upgraded))[1]["outcome"] == "applied"
    assert (await world.account(account_id)).plan == "studio"

    failed = for_account("invoice.payment_failed", account_id)
    assert (await world.post_event(failed))[1]["outcome"] == "payment_failed"
    state = await world.store.billing.state(account_id)
    assert state.status == "past_due"
    assert (await world.account(account_id)).plan == "studio"  # kept while Stripe retries

    deleted = load_event("customer.subscription.deleted")
    assert (await world.post_event(deleted))[1]["outcome"] == "applied"
    assert (await world.account(account_id)).plan == "free"

    await asyncio.sleep(0.05)
    notices = world.notices.to(account_id)
    assert any("Pro" in t for t in notices)
    assert any("Studio" in t for t in notices)
    assert any("didn't go through" in t for t in notices)
    assert any("Free plan now" in t for t in notices)


async def test_invoice_first_then_checkout_and_subscription_maps_without_reference(
    world: HttpWorld,
) -> None:
    account_id = await new_account(world)
    # invoice.paid may arrive before checkout.session.completed: its subscription metadata
    # (set at checkout) finds the account.
    paid = for_account("invoice.paid", account_id)
    assert (await world.post_event(paid))[1]["outcome"] == "applied"
    assert (await world.account(account_id)).plan == "pro"
    completed = for_account("checkout.session.completed.subscription", account_id)
    completed["data"]["object"]["client_reference_id"] = None
    completed["data"]["object"]["metadata"] = {}
    status, body = await world.post_event(completed)
    assert status == 200 and body["outcome"] in ("applied", "stale")
    assert (await world.account(account_id)).plan == "pro"
    # subscription.updated carries empty metadata: found by the subscription id.
    updated = load_event("customer.subscription.updated")
    assert updated["data"]["object"]["metadata"] == {}
    await world.post_event(updated)
    assert (await world.account(account_id)).plan == "studio"


async def test_an_older_update_never_overwrites_a_newer_one(world: HttpWorld) -> None:
    account_id = await new_account(world)
    await world.post_event(for_account("checkout.session.completed.subscription", account_id))
    newer = load_event("customer.subscription.updated", created=1764600000)  # Studio
    older = load_event(
        "customer.subscription.updated",
        id="evt_older_update",
        created=1764550000,
        data__object__items__data__0__price__id="price_1QxPro2LkdIwHu7ixPro00001",
    )
    older["data"]["object"]["cancel_at_period_end"] = True
    assert (await world.post_event(newer))[1]["outcome"] == "applied"
    assert (await world.post_event(older))[1]["outcome"] == "stale"
    state = await world.store.billing.state(account_id)
    assert (await world.account(account_id)).plan == "studio"
    assert state.cancel_at_period_end is False


async def test_deletion_delivered_before_an_update_stays_final(world: HttpWorld) -> None:
    account_id = await new_account(world)
    await world.post_event(for_account("checkout.session.completed.subscription", account_id))
    deleted = load_event("customer.subscription.deleted")
    update = load_event("customer.subscription.updated", created=1766592200)  # even if newer
    paid_late = for_account("invoice.paid", account_id, id="evt_paid_late", created=1766592300)
    assert (await world.post_event(deleted))[1]["outcome"] == "applied"
    assert (await world.post_event(update))[1]["outcome"] == "stale"
    assert (await world.post_event(paid_late))[1]["outcome"] == "stale"
    assert (await world.account(account_id)).plan == "free"


async def test_cancel_at_period_end_is_announced_and_keeps_the_plan(world: HttpWorld) -> None:
    account_id = await new_account(world)
    await world.post_event(for_account("checkout.session.completed.subscription", account_id))
    ending = load_event("customer.subscription.updated")
    ending["data"]["object"]["cancel_at_period_end"] = True
    await world.post_event(ending)
    assert (await world.account(account_id)).plan == "studio"
    await asyncio.sleep(0.05)
    assert any("set to end on" in t for t in world.notices.to(account_id))


# ---------------------------------------------------------------- bad deliveries


async def test_secrets_during_rotation_are_both_accepted(world: HttpWorld) -> None:
    account_id = await new_account(world)
    event = for_account("checkout.session.completed.payment", account_id)
    status, body = await world.post_event(event, secret=OLD_WEBHOOK_SECRET)
    assert (status, body["outcome"]) == (200, "applied")


@pytest.mark.parametrize(
    "case", ["forged", "unknown_secret", "stale", "no_header", "garbage_header", "tampered"]
)
async def test_bad_signatures_are_400_and_write_nothing(world: HttpWorld, case: str) -> None:
    account_id = await new_account(world)
    event = for_account("checkout.session.completed.payment", account_id)
    raw = json.dumps(event)
    if case == "forged":
        header = sign(raw, world.secret)
        flipped = "0" if header[-1] != "0" else "1"
        status, body = await world.post_event(raw, header=header[:-1] + flipped)
    elif case == "unknown_secret":
        status, body = await world.post_event(raw, secret="whsec_attacker")
    elif case == "stale":
        status, body = await world.post_event(raw, timestamp=int(time.time()) - 301)
    elif case == "no_header":
        status, body = await world.post_event(raw, header="")
    elif case == "garbage_header":
        status, body = await world.post_event(raw, header="t=abc,v1=zz")
    else:  # signed, then the amount changed in transit
        header = sign(raw, world.secret)
        tampered = raw.replace('"credits-500"', '"credits-2000"')
        status, body = await world.post_event(tampered, header=header)
    assert status == 400, body
    assert "error" in body
    assert await event_rows(world) == 0
    assert await plan_and_credits(world, account_id) == ("free", 0)


@pytest.mark.parametrize(
    "raw", [b"{not json", b"[1, 2, 3]", b'{"object": "list"}', "caf\u00e9".encode("latin-1")]
)
async def test_signed_but_malformed_bodies_are_400(world: HttpWorld, raw: bytes) -> None:
    header = _signed_header(world.secret, raw)
    status, body = await world.post_event(raw, header=header)
    assert status == 400, body
    assert await event_rows(world) == 0


async def test_a_nul_character_in_an_event_is_400_and_writes_nothing(world: HttpWorld) -> None:
    # PostgreSQL refuses NUL in text: it was a 500 there, so Stripe would redeliver for days.
    account_id = await new_account(world)
    event = for_account("checkout.session.completed.payment", account_id)
    event["data"]["object"]["customer"] = "cus_\x00nul"
    status, body = await world.post_event(event)
    assert status == 400, body
    assert await event_rows(world) == 0
    # A literal backslash-u text is not a NUL: accepted.
    event = for_account("checkout.session.completed.payment", account_id, id="evt_backslash")
    event["data"]["object"]["metadata"]["note"] = "\\u0000 is how JSON writes NUL"
    status, body = await world.post_event(event)
    assert status == 200, body


@pytest.mark.parametrize("field", ["id", "type"])
async def test_an_event_id_or_type_longer_than_stripe_makes_is_400(
    world: HttpWorld, field: str
) -> None:
    # Past the columns' 255 / 128 characters: PostgreSQL refused the write, a 500 there.
    event = load_event("invoice.paid", **{field: "x" * 300})
    status, _ = await world.post_event(event)
    assert status == 400
    assert await event_rows(world) == 0


async def test_an_overlong_customer_id_is_no_id_at_all(world: HttpWorld) -> None:
    account_id = await new_account(world)
    event = for_account("checkout.session.completed.payment", account_id)
    event["data"]["object"]["customer"] = "cus_" + "x" * 300
    status, body = await world.post_event(event)
    assert (status, body["outcome"]) == (200, "applied")  # found by its reference instead
    assert await plan_and_credits(world, account_id) == ("free", 500)


@pytest.mark.parametrize("created", ["<drop>", 10**14, -(10**14), "soon"])
async def test_an_event_without_a_usable_created_is_400(world: HttpWorld, created: Any) -> None:
    event = load_event("invoice.paid")
    if created == "<drop>":
        del event["created"]
    else:
        event["created"] = created  # past what a datetime holds: was a 500 (endless redelivery)
    status, _ = await world.post_event(event)
    assert status == 400
    assert await event_rows(world) == 0


def _signed_header(secret: str, raw: bytes) -> str:
    """Stripe's scheme over raw bytes (the SDK helper wants text; these bodies may not be)."""
    import hashlib
    import hmac

    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
    return f"t={timestamp},v1={digest.hexdigest()}"


async def test_odd_field_values_in_a_signed_event_are_never_a_500(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    """A verified event is Stripe's, but a field may still arrive null, missing or in a shape
    of another API version. A 5xx makes Stripe redeliver for days, so each handled type must
    answer 2xx for every top-level field of its object set to null, dropped, or replaced by an
    object or a list (a sweep that once found ``payment_status: {}`` crashing the handler)."""
    world = await start_world(migrated_sqlite_url, tmp_path, clock)
    failures: list[tuple[str, str, str, int]] = []
    gate = asyncio.Semaphore(16)  # concurrent deliveries, so they share group commits too

    async def deliver(event: dict[str, Any], name: str, field: str, label: str) -> None:
        async with gate:
            status, _ = await world.post_event(event)
        if status >= 500:
            failures.append((name, field, label, status))

    try:
        account_id = await new_account(world)
        deliveries = []
        for name in fixture_names():
            base = for_account(name, account_id)
            for field in base["data"]["object"]:
                for label in ("null", "dropped", "object", "list"):
                    event = json.loads(json.dumps(base))
                    event["id"] = f"evt_odd_{len(deliveries)}"
                    obj = event["data"]["object"]
                    if label == "dropped":
                        del obj[field]
                    else:
                        obj[field] = {"null": None, "object": {}, "list": []}[label]
                    deliveries.append(deliver(event, name, field, label))
        n = len(deliveries)
        await asyncio.gather(*deliveries)
    finally:
        await world.aclose()
    assert n > 500  # every fixture has dozens of fields
    assert failures == []
