"""/buy and /plan through the real assistant, with the real stripe SDK talking to a local fake
of the Stripe API (``STRIPE_API_BASE``), then the webhook closing the loop."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import PRICE_IDS, FakeStripeAPI, HttpWorld, load_event, start_world
from tests.fakes.stripe_api import stripe_api as stripe_api


@pytest.fixture
async def world(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock, stripe_api: FakeStripeAPI
) -> AsyncIterator[HttpWorld]:
    w = await start_world(migrated_sqlite_url, tmp_path, clock, stripe=stripe_api)
    try:
        yield w
    finally:
        await w.aclose()


async def test_buy_creates_a_checkout_session_for_the_account(
    world: HttpWorld, stripe_api: FakeStripeAPI
) -> None:
    reply = await world.say("mia", "/buy pro")
    account = await world.identity("mia")
    assert reply.result["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert "checkout.stripe.com" in reply.plain_text
    assert reply.ephemeral is True
    [create] = stripe_api.creates
    params = create["params"]
    assert params["mode"] == "subscription"
    assert params["client_reference_id"] == str(account.id)
    assert params["line_items"] == [{"price": PRICE_IDS["pro"], "quantity": "1"}]
    assert params["metadata"] == {"account_id": str(account.id), "product": "pro"}
    assert params["subscription_data"]["metadata"]["account_id"] == str(account.id)
    assert params["success_url"].startswith("https://bot.example.com/billing/return")
    assert create["idempotency_key"]
    [order] = await world.store.billing.orders(account.id)
    assert (order.session_id, order.product, order.status) == (
        reply.result["session_id"],
        "pro",
        "open",
    )


async def test_a_repeated_buy_reuses_the_session(
    world: HttpWorld, stripe_api: FakeStripeAPI
) -> None:
    first = await world.say("mia", "/buy credits-500")
    second = await world.say("mia", "/buy credits-500")
    assert first.result["url"] == second.result["url"]
    keys = {c["idempotency_key"] for c in stripe_api.creates}
    assert len(keys) == 1 and len(stripe_api.sessions) == 1
    params = stripe_api.creates[0]["params"]
    assert params["mode"] == "payment" and params["customer_creation"] == "always"


async def test_retries_use_the_same_idempotency_key(
    world: HttpWorld, stripe_api: FakeStripeAPI
) -> None:
    stripe_api.fail_next(2, status=500)
    reply = await world.say("mia", "/buy credits-100")
    assert reply.result is not None and "url" in reply.result
    assert len(stripe_api.creates) == 3
    assert len({c["idempotency_key"] for c in stripe_api.creates}) == 1
    assert len(stripe_api.sessions) == 1


async def test_a_refused_checkout_is_a_friendly_answer_and_no_order(
    world: HttpWorld, stripe_api: FakeStripeAPI
) -> None:
    stripe_api.fail_next(1, status=400)
    reply = await world.say("mia", "/buy studio")
    assert "nothing was charged" in reply.plain_text
    assert "Traceback" not in reply.plain_text
    assert len(stripe_api.creates) == 1  # a 400 is not retried
    account = await world.identity("mia")
    assert await world.store.billing.orders(account.id) == []


async def test_bought_credits_arrive_through_the_webhook(
    world: HttpWorld, stripe_api: FakeStripeAPI
) -> None:
    reply = await world.say("mia", "/buy credits-500")
    account = await world.identity("mia")
    event = stripe_api.completed_event(reply.result["session_id"])
    # Stripe may drop the reference and metadata: the recorded order still knows the buyer.
    event["data"]["object"]["client_reference_id"] = None
    event["data"]["object"]["metadata"] = {}
    status, body = await world.post_event(event)
    assert (status, body["outcome"]) == (200, "applied")
    assert (await world.account(account.id)).credits == 500
    await asyncio.sleep(0.05)
    assert any("500 credits" in t for t in world.notices.to(account.id))
    [order] = await world.store.billing.orders(account.id)
    assert order.status == "paid" and order.credits_granted == 500
    plan = await world.say("mia", "/plan")
    assert "500 credits" in plan.plain_text


async def test_a_paid_plan_shows_in_plan_and_cannot_be_bought_twice(
    world: HttpWorld, stripe_api: FakeStripeAPI
) -> None:
    reply = await world.say("mia", "/buy pro")
    account = await world.identity("mia")
    await world.post_event(stripe_api.completed_event(reply.result["session_id"]))
    assert (await world.account(account.id)).plan == "pro"
    plan = await world.say("mia", "/plan")
    assert "Your plan: Pro" in plan.plain_text
    labels = [b.label for row in plan.buttons for b in row]
    assert "Get Studio" in labels and "Get Pro" not in labels
    again = await world.say("mia", "/buy pro")
    assert "already on Pro" in again.plain_text
    assert len(stripe_api.creates) == 1


async def test_buy_needs_a_known_product(world: HttpWorld, stripe_api: FakeStripeAPI) -> None:
    reply = await world.say("mia", "/buy platinum")
    assert "pro" in reply.plain_text and "credits-500" in reply.plain_text
    free = await world.say("mia", "/buy free")
    assert "needs no payment" in free.plain_text
    missing = await world.say("mia", "/buy")
    assert "Usage" in missing.plain_text
    assert stripe_api.creates == []


async def test_plan_buttons_run_buy(world: HttpWorld, stripe_api: FakeStripeAPI) -> None:
    plan = await world.say("mia", "/plan")
    actions = {b.label: b.action for row in plan.buttons for b in row}
    assert actions["Get Pro"] == "cmd:buy pro"
    from core.chat import ExternalUser, Incoming

    user = ExternalUser(platform="telegram", id="mia", username="mia", display_name="mia")
    reply = await world.assistant.handle(Incoming(user=user, chat_id="mia", action="cmd:buy pro"))
    assert reply.result["product"] == "pro"


async def test_without_stripe_buying_is_not_set_up(
    migrated_sqlite_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    w = await start_world(migrated_sqlite_url, tmp_path, clock)  # no STRIPE_API_KEY
    try:
        reply = await w.say("mia", "/buy pro")
        assert "not set up" in reply.plain_text
        plan = await w.say("mia", "/plan")
        assert "Your plan: Free" in plan.plain_text and plan.buttons == []
    finally:
        await w.aclose()


async def test_a_plan_is_cancelled_and_resumed_from_chat(
    world: HttpWorld, stripe_api: FakeStripeAPI
) -> None:
    # /buy bought a subscription, and nothing in chat could stop it: "cancel the current one
    # first" named no way to. /plan cancel asks Stripe to end it with the paid period.
    reply = await world.say("mia", "/buy pro")
    account = await world.identity("mia")
    completed = stripe_api.completed_event(reply.result["session_id"])
    await world.post_event(completed)
    sub_id = completed["data"]["object"]["subscription"]
    assert (
        "/plan cancel ends it with the period you paid for"
        in (await world.say("mia", "/plan")).plain_text
    )
    assert "no running subscription" in (await world.say("zoe", "/plan cancel")).plain_text

    cancelled = await world.say("mia", "/plan cancel")
    assert stripe_api.subscriptions[sub_id]["cancel_at_period_end"] is True
    update = stripe_api.requests[-1]
    assert update["params"] == {"cancel_at_period_end": "true"} and update["idempotency_key"]
    end = stripe_api.subscriptions[sub_id]["items"]["data"][0]["current_period_end"]
    day = f"{datetime.fromtimestamp(end, UTC):%-d %B %Y}"
    assert f"keeps working until {day} and is not charged again" in cancelled.plain_text
    assert (await world.account(account.id)).plan == "pro"  # paid for until then
    assert f"Your plan: Pro — ends {day}" in (await world.say("mia", "/plan")).plain_text
    assert "already ends" in (await world.say("mia", "/plan cancel")).plain_text
    # Stripe's event about the change follows; the chat has said it already.
    event = load_event(
        "customer.subscription.updated",
        created=completed["created"] + 60,
        data__object__id=sub_id,
        data__object__customer=completed["data"]["object"]["customer"],
        data__object__cancel_at_period_end=True,
        data__object__items=stripe_api.subscriptions[sub_id]["items"],
    )
    assert (await world.post_event(event))[1]["outcome"] == "applied"
    await asyncio.sleep(0.05)
    assert not [t for t in world.notices.to(account.id) if "set to end" in t]
    assert (await world.account(account.id)).plan == "pro"

    resumed = await world.say("mia", "/plan resume")
    assert stripe_api.subscriptions[sub_id]["cancel_at_period_end"] is False
    assert "renews again" in resumed.plain_text
    assert "/plan cancel ends it" in (await world.say("mia", "/plan")).plain_text
    # Stripe not answering: nothing changes, and she is told.
    stripe_api.fail_next(10, status=500)
    down = await world.say("mia", "/plan cancel")
    assert "isn't answering" in down.plain_text
    state = await world.store.billing.state(account.id)
    assert state is not None and not state.cancel_at_period_end
