"""/price on synthetic markets: the optimizer finds the known optimum, guardrails hold, and a
price test learns from /sold, /unsold and offers CSVs (idempotently, per account)."""

from __future__ import annotations

import math
import random
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest

from core.errors import UsageError
from core.models import Identity
from core.services.imports import CsvImporter
from core.services.pricing import PricingService, guardrails
from core.services.pricing_model import PriceExperiment
from storage.db import create_engine
from storage.repositories import SqlStore
from tests.fakes.clock import FakeClock

D = Decimal


def conversion(price: float, q: float = 0.4, wtp: float = 16.0, spread: float = 0.12) -> float:
    """The market: a share ``q`` of fans consider the offer; willingness to pay is
    log-logistic around ``wtp``. Best nice price: 12.99 (4.42 per offer; 11.99: 4.40,
    9.99: 3.92, 14.99: 3.79, 17.99: 1.97)."""
    return q / (1.0 + math.exp(-(math.log(wtp) - math.log(price)) / spread))


def revenue(price: Decimal) -> float:
    return float(price) * conversion(float(price))


def simulate(rng: random.Random, price: Decimal, offers: int) -> int:
    p = conversion(float(price))
    return sum(rng.random() < p for _ in range(offers))


@pytest.fixture
async def sqlite_store(migrated_sqlite_url: str, clock: FakeClock) -> AsyncIterator[SqlStore]:
    engine = create_engine(migrated_sqlite_url)
    try:
        yield SqlStore(engine, clock)
    finally:
        await engine.dispose()


async def account(store: SqlStore, name: str = "alice") -> int:
    return (await store.accounts.resolve(Identity(platform="console", external_id=name))).id


async def import_history(
    store: SqlStore, clock: FakeClock, acct: int, prices: list[str], offers: int, seed: int
) -> None:
    rng = random.Random(seed)
    lines = ["date,price,sent,bought,type"]
    day = clock.now() - timedelta(days=60)
    for i, price in enumerate(prices * 2):  # two mass messages per price
        bought = simulate(rng, D(price), offers)
        lines.append(f"{(day + timedelta(days=i)):%Y-%m-%d},{price},{offers},{bought},ppv")
    report = await CsvImporter(store, clock).import_stream(
        acct, "offers.csv", ["\n".join(lines).encode()]
    )
    assert report.ok and report.bad_count == 0 and report.added == len(prices) * 2


async def test_advice_finds_the_known_optimum(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    ladder = ["4.99", "7.99", "9.99", "12.99", "14.99", "17.99", "24.99"]
    await import_history(sqlite_store, clock, acct, ladder, offers=300, seed=7)
    service = PricingService(sqlite_store, clock)
    advice = await service.advise(acct, "ppv", random.Random(1))
    rec = advice.recommendation
    best = max(
        (c.price for c in rec.candidates), key=revenue
    )  # the true optimum among the candidates
    assert best == D("12.99")
    assert rec.price in {D("11.99"), D("12.99")}
    assert revenue(rec.price) >= 0.97 * revenue(best)
    assert rec.price_interval[0] <= best <= rec.price_interval[1]
    assert rec.enough_data and rec.offers == 14 * 300 and advice.currency == "USD"
    assert (rec.floor, rec.ceiling) == (D("3"), D("200"))


async def test_guardrails_bound_the_advice(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    await import_history(sqlite_store, clock, acct, ["4.99", "7.99", "9.99", "12.99"], 300, 3)
    service = PricingService(sqlite_store, clock)
    capped = await service.advise(acct, "ppv", random.Random(2), ceiling=D("9.99"))
    assert capped.recommendation.price == D("9.99")  # revenue still rises up to the cap
    assert capped.recommendation.ceiling == D("9.99")
    floored = await service.advise(acct, "ppv", random.Random(2), floor=D("14"))
    assert floored.recommendation.price >= D("14")
    assert guardrails("subscription") == (D("4.99"), D("49.99"))
    with pytest.raises(UsageError):
        guardrails("ppv", floor=D("20"), ceiling=D("10"))
    with pytest.raises(UsageError):
        guardrails("ppv", floor=D("500"))


async def test_thin_history_suggests_a_test(sqlite_store: SqlStore, clock: FakeClock) -> None:
    acct = await account(sqlite_store)
    service = PricingService(sqlite_store, clock)
    empty = (await service.advise(acct, "ppv", random.Random(0))).recommendation
    assert not empty.enough_data and empty.offers == 0 and empty.confidence == "low"
    assert "price test" in empty.guidance and len(empty.suggested_test) >= 2
    assert "Only 0 offers" not in empty.guidance and "offer history" in empty.guidance


async def test_a_price_test_learns_the_best_price(sqlite_store: SqlStore, clock: FakeClock) -> None:
    """Mass messages of 25 offers at the price the test proposes; outcomes come back through
    ``record`` (what /sold, /unsold and the buttons call). 12.99 earns 4.42 per offer here,
    7.99 (the baseline) 3.19, 4.99 2.00, 24.99 0.24."""
    acct = await account(sqlite_store)
    service = PricingService(sqlite_store, clock, samples=1000)
    ladder = [D("4.99"), D("7.99"), D("12.99"), D("24.99")]
    status = await service.start_test(acct, "ppv", random.Random(5), ladder=ladder)
    assert status.ladder == tuple(ladder) and status.report.baseline_price == D("7.99")
    assert status.next_price in ladder and status.report.offers == 0
    mirror = PriceExperiment(ladder)  # the same outcomes, fed directly
    market = random.Random(11)
    for round_ in range(30):
        price = status.next_price
        assert price is not None
        sold = simulate(market, price, 25)
        clock.advance(600)
        rng = random.Random(100 + round_)
        if sold:
            await service.record(acct, "ppv", price, True, sold, f"r{round_}s", rng)
        rec = await service.record(acct, "ppv", price, False, 25 - sold, f"r{round_}u", rng)
        mirror.record_batch(price, 25, sold)  # one mass message, however it was reported
        assert rec.on_ladder and rec.status is not None
        status = rec.status
    report = status.report
    assert report.offers == 30 * 25
    assert [(a.offers, a.sales) for a in report.arms] == list(
        zip(mirror.offers, mirror.sales, strict=True)
    )
    assert report.best_price == mirror.report(None, samples=1000).best_price
    assert report.best_price == D("12.99")  # the known optimum
    assert report.lift > 0  # against the 7.99 baseline
    best = report.arms[2]
    assert report.regret == pytest.approx(
        report.offers * best.revenue_per_offer - float(report.revenue)
    )
    stopped = await service.stop(acct, "ppv")
    assert stopped is not None and not stopped.state.active and stopped.next_price is None
    assert await service.active_kinds(acct) == []


async def test_offers_csv_feeds_a_running_test_once(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    service = PricingService(sqlite_store, clock, samples=500)
    await service.start_test(acct, "ppv", random.Random(1), ladder=[D("5"), D("10"), D("15")])
    today = clock.now().date()
    before = today - timedelta(days=3)
    data = (
        "date,price,sent,bought\n"
        f"{today},10,40,6\n"
        f"{today},15,40,2\n"
        f"{today},11,40,9\n"  # not on the ladder: counts for /price only
        f"{before},5,40,9\n"  # before the test started
    ).encode()
    importer = CsvImporter(sqlite_store, clock)
    assert (await importer.import_stream(acct, "offers.csv", [data])).added == 4
    status = await service.status(acct, "ppv")
    assert status is not None
    assert [(a.price, a.offers, a.sales) for a in status.report.arms] == [
        (D("5"), 0, 0),
        (D("10"), 40, 6),
        (D("15"), 40, 2),
    ]
    assert (await importer.import_stream(acct, "offers.csv", [data])).added == 0
    again = await service.status(acct, "ppv")
    assert again is not None and again.report.offers == 80
    rec = await service.record(acct, "ppv", D("11"), True, 1, "q1", random.Random(0))
    assert not rec.on_ladder and rec.status is not None and rec.status.report.offers == 80
    advice = await service.advise(acct, "ppv", random.Random(0))
    assert advice.recommendation.offers == 161  # every offer counts for /price


async def test_recording_needs_a_price_without_a_test(
    sqlite_store: SqlStore, clock: FakeClock
) -> None:
    acct = await account(sqlite_store)
    service = PricingService(sqlite_store, clock)
    with pytest.raises(UsageError, match="Which price"):
        await service.record(acct, "ppv", None, True, 1, "x", random.Random(0))
    rec = await service.record(acct, "ppv", D("9.99"), True, 2, "y", random.Random(0))
    assert rec.status is None and (rec.offer.sent, rec.offer.bought) == (2, 2)
    with pytest.raises(UsageError, match="outside"):
        await service.start_test(acct, "ppv", random.Random(0), ladder=[D("1"), D("5")])


async def test_price_tests_and_offers_are_per_account(store: SqlStore, clock: FakeClock) -> None:
    alice, bob = await account(store, "alice"), await account(store, "bob")
    service = PricingService(store, clock, samples=500)
    await service.start_test(alice, "ppv", random.Random(1), ladder=[D("5"), D("10")])
    await service.record(bob, "ppv", D("10"), True, 50, "b1", random.Random(0))
    status = await service.status(alice, "ppv")
    assert status is not None and status.report.offers == 0
    assert await service.status(bob, "ppv") is None
    assert await service.active_kinds(bob) == []
    assert (await service.advise(alice, "ppv", random.Random(0))).recommendation.offers == 0
    assert (await service.advise(bob, "ppv", random.Random(0))).recommendation.offers == 50
