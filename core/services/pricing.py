"""/price, /price test, /sold, /unsold: the product service over ``pricing_model``.

- **Advice** (``PricingService.advise``): the account's offer history of one kind (PPV,
  subscription, bundle) in its main currency goes through ``pricing_model.recommend`` (monotone
  Bayesian demand, semiparametric by default): the revenue-maximising price inside the
  guardrails, a credible interval for the best price, expected revenue per offer and conversion
  with intervals, and guidance (a price test when the history is thin).
- **Guardrails**: a floor and a ceiling per kind, by default OnlyFans' own limits (PPV $3–$200,
  subscriptions $4.99–$49.99; bundles are priced like PPV here), narrowed by the creator with
  ``floor=`` / ``ceiling=``. The model never recommends far outside the prices already tried.
- **Experiments** (``start_test`` / ``record`` / ``status`` / ``stop``): Thompson sampling over a
  price ladder (``pricing_model.PriceExperiment`` with its defaults: the default demand model
  and shift detection). The experiment's *state is the offer
  history*: outcomes are offer rows (``/sold``, ``/unsold``, buttons, or an offers CSV), and the
  experiment is rebuilt from the rows of its kind dated on or after the day it started at a
  ladder price. So re-importing a CSV cannot count anything twice, and the test and /price
  always agree. The stored test row keeps the ladder, the model settings and the price the bot
  proposed last.

Randomness: every call that draws takes a ``random.Random`` (the command seeds it from the
account and the request). Reports use a fixed seed: the same data gives the same report.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, time
from decimal import Decimal
from typing import Any

from core.errors import UsageError
from core.ports import AnalyticsStore, Clock, OfferRecord, PriceTestState
from core.services.pricing_model import (
    DEFAULT_MODEL,
    ExperimentReport,
    PriceExperiment,
    Recommendation,
    candidate_prices,
    recommend,
    to_price,
)

OFFER_KINDS = ("ppv", "subscription", "bundle")
#: OnlyFans' limits: PPV messages and posts $3-$200, subscriptions $4.99-$49.99.
GUARDRAILS: dict[str, tuple[Decimal, Decimal]] = {
    "ppv": (Decimal("3"), Decimal("200")),
    "subscription": (Decimal("4.99"), Decimal("49.99")),
    "bundle": (Decimal("3"), Decimal("200")),
}
KIND_LABELS = {"ppv": "PPV", "subscription": "subscription", "bundle": "bundle"}
MAX_LADDER = 8


@dataclass(frozen=True)
class PriceAdvice:
    kind: str
    currency: str
    recommendation: Recommendation
    other_currencies: tuple[str, ...]
    platform: str = ""  # the advice uses this platform's offers only ("" all of them)


@dataclass(frozen=True)
class TestStatus:
    state: PriceTestState
    report: ExperimentReport
    currency: str
    next_price: Decimal | None  # None once the test is stopped

    @property
    def ladder(self) -> tuple[Decimal, ...]:
        return tuple(to_price(p) for p in self.state.config["ladder"])  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Recorded:
    offer: OfferRecord
    status: TestStatus | None  # the running test of that kind, updated
    on_ladder: bool  # False: the price is not on the running test's ladder


def guardrails(
    kind: str, floor: Decimal | None = None, ceiling: Decimal | None = None
) -> tuple[Decimal, Decimal]:
    """The kind's limits, narrowed by the creator's own floor / ceiling."""
    lo, hi = GUARDRAILS[kind]
    if floor is not None:
        if floor > hi:
            raise UsageError(f"The floor is above the highest allowed price ({hi}).")
        lo = max(lo, floor)
    if ceiling is not None:
        if ceiling < lo:
            raise UsageError(f"The ceiling is below the floor ({lo}).")
        hi = min(hi, ceiling)
    if lo > hi:
        raise UsageError("The floor is above the ceiling.")
    return lo, hi


def _main_currency(offers: list[OfferRecord], default: str) -> tuple[str, tuple[str, ...]]:
    sent: Counter[str] = Counter()
    for o in offers:
        sent[o.currency] += max(o.sent, 1)
    if not sent:
        return default, ()
    ranked = sorted(sent, key=lambda c: (-sent[c], c))
    return ranked[0], tuple(ranked[1:])


def _day_start(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time(0), tzinfo=moment.tzinfo)


@dataclass
class PricingService:
    store: AnalyticsStore
    clock: Clock
    samples: int = 2000
    default_currency: str = "USD"

    # ------------------------------------------------------------ advice

    async def advise(
        self,
        account_id: int,
        kind: str,
        rng: random.Random,
        floor: Decimal | None = None,
        ceiling: Decimal | None = None,
        platform: str | None = None,
    ) -> PriceAdvice:
        """The best price from the kind's offer history (of one platform's offers when
        ``platform`` is given: audiences differ between platforms)."""
        lo, hi = guardrails(kind, floor, ceiling)
        offers = await self.store.offers.list(account_id, kind, platform=platform)
        currency, others = _main_currency(offers, self.default_currency)
        history = [(o.price, o.sent, o.bought) for o in offers if o.currency == currency]
        rec = recommend(history, floor=lo, ceiling=hi, rng=rng, samples=self.samples)
        return PriceAdvice(
            kind=kind,
            currency=currency,
            recommendation=rec,
            other_currencies=others,
            platform=platform or "",
        )

    # ------------------------------------------------------------ experiments

    async def start_test(
        self,
        account_id: int,
        kind: str,
        rng: random.Random,
        ladder: list[Decimal] | None = None,
        floor: Decimal | None = None,
        ceiling: Decimal | None = None,
    ) -> TestStatus:
        """Start (or restart) the kind's test; the ladder defaults to prices around the advice."""
        lo, hi = guardrails(kind, floor, ceiling)
        offers = await self.store.offers.list(account_id, kind)
        currency, _ = _main_currency(offers, self.default_currency)
        if ladder:
            prices = sorted({to_price(p).quantize(Decimal("0.01")) for p in ladder})
            outside = [p for p in prices if not lo <= p <= hi]
            if outside:
                raise UsageError(
                    f"{', '.join(str(p) for p in outside)} is outside the allowed range "
                    f"{lo}–{hi} for {KIND_LABELS[kind]}."
                )
        else:
            advice = await self.advise(account_id, kind, rng, floor, ceiling)
            prices = list(advice.recommendation.suggested_test)
            if len(prices) < 2:
                prices = candidate_prices(lo, hi)[:5]
        if len(prices) < 2:
            raise UsageError("A price test needs at least two prices, e.g. 7.99 9.99 14.99.")
        if len(prices) > MAX_LADDER:
            raise UsageError(f"Test at most {MAX_LADDER} prices at a time.")
        # The model's own defaults (see bench/pricing.py, docs/performance/pricing.md); the
        # model kind is kept so that a running test keeps its model across upgrades.
        experiment = PriceExperiment(prices)
        config: dict[str, object] = {
            "ladder": [str(p) for p in experiment.ladder],
            "baseline": str(experiment.baseline),
            "model": experiment.kind,
            "decay": experiment.decay,
            "currency": currency,
        }
        state = PriceTestState(
            kind=kind,
            config=config,
            started_at=self.clock.now(),
            active=True,
            proposed=experiment.next_price(rng),
        )
        await self.store.price_tests.save(account_id, state)
        return await self._status(account_id, state)

    async def split(
        self, account_id: int, kind: str, audience: int, rng: random.Random
    ) -> tuple[TestStatus, list[tuple[Decimal, int]]]:
        """The running test's split of one mass message to ``audience`` fans."""
        state = await self.running(account_id, kind)
        experiment = await self._experiment(account_id, state)
        groups = experiment.split(audience, rng)
        return self._summarise(state, experiment), groups

    async def running(self, account_id: int, kind: str) -> PriceTestState:
        """The kind's running test; UsageError when none runs (a split needs one)."""
        state = await self.store.price_tests.get(account_id, kind)
        if state is None or not state.active:
            raise UsageError(
                f"No {KIND_LABELS[kind]} price test is running: start one with /price test, "
                "then split your mass messages with /price split <fans>."
            )
        return state

    async def active_kinds(self, account_id: int) -> list[str]:
        return [s.kind for s in await self.store.price_tests.list(account_id) if s.active]

    async def status(self, account_id: int, kind: str) -> TestStatus | None:
        state = await self.store.price_tests.get(account_id, kind)
        if state is None:
            return None
        return await self._status(account_id, state)

    async def stop(self, account_id: int, kind: str) -> TestStatus | None:
        state = await self.store.price_tests.get(account_id, kind)
        if state is None or not state.active:
            return None
        state = PriceTestState(
            kind=state.kind,
            config=state.config,
            started_at=state.started_at,
            active=False,
            proposed=None,
        )
        await self.store.price_tests.save(account_id, state)
        return await self._status(account_id, state)

    async def record(
        self,
        account_id: int,
        kind: str,
        price: Decimal | None,
        sold: bool,
        count: int,
        request_id: str,
        rng: random.Random,
        sent: int | None = None,
        platform: str = "",
    ) -> Recorded:
        """``count`` offers at ``price`` (default: the price the test proposed) that sold, or
        did not; with ``sent`` (a mass message's group), ``count`` of those ``sent`` did; made
        on ``platform`` ("" not said). A running test of ``kind`` proposes its next price."""
        state = await self.store.price_tests.get(account_id, kind)
        running = state if state is not None and state.active else None
        if price is None:
            if running is None or running.proposed is None:
                raise UsageError("Which price? e.g. /sold 9.99 (or start a test with /price test).")
            price = running.proposed
        price = to_price(price).quantize(Decimal("0.01"))
        if count < 1 and sent is None:
            raise UsageError("The count must be at least 1.")
        if sent is not None and not 0 <= count <= sent:
            raise UsageError(f"{count} of {sent}? The count must be between 0 and {sent}.")
        currency = str(running.config.get("currency")) if running else None
        if not currency:
            offers = await self.store.offers.list(account_id, kind)
            currency, _ = _main_currency(offers, self.default_currency)
        now = self.clock.now()
        of = "" if sent is None else f" of {sent}"
        key_text = (
            f"chat|{request_id}|{kind}|{price}|{sold}|{count}{of}|{platform}|{now.isoformat()}"
        )
        offer = OfferRecord(
            row_key=hashlib.blake2b(key_text.encode(), digest_size=16).hexdigest(),
            offered_at=now,
            kind=kind,
            price=price,
            currency=currency,
            sent=count if sent is None else sent,
            bought=(count if sold else 0) if sent is None else (count if sold else sent - count),
            source="chat",
            platform=platform,
        )
        await self.store.offers.add_many(account_id, [offer])
        if running is None:
            return Recorded(offer=offer, status=None, on_ladder=False)
        experiment = await self._experiment(account_id, running)
        try:
            experiment.index_of(price)
            on_ladder = True
        except ValueError:
            on_ladder = False
        running = PriceTestState(
            kind=running.kind,
            config=running.config,
            started_at=running.started_at,
            active=True,
            proposed=experiment.next_price(rng),
        )
        await self.store.price_tests.save(account_id, running)
        return Recorded(
            offer=offer,
            status=self._summarise(running, experiment),
            on_ladder=on_ladder,
        )

    async def _experiment(self, account_id: int, state: PriceTestState) -> PriceExperiment:
        config: dict[str, Any] = dict(state.config)
        decay = config.get("decay")
        experiment = PriceExperiment(
            config["ladder"],
            baseline=config.get("baseline"),
            kind=config.get("model", DEFAULT_MODEL),
            decay=float(decay) if decay is not None else None,
        )
        currency = config.get("currency")
        since = _day_start(state.started_at)
        # Consecutive rows at one price are one round (a mass message whose sales come back as
        # "/sold 9.99 3" then "/unsold 9.99 22"): they go in as one batch, so the order in
        # which outcomes were reported does not look like a change of the market.
        runs: list[list[Any]] = []
        for offer in await self.store.offers.list(account_id, state.kind, since=since):
            if currency and offer.currency != currency:
                continue
            if runs and runs[-1][0] == offer.price:
                runs[-1][1] += offer.sent
                runs[-1][2] += offer.bought
            else:
                runs.append([offer.price, offer.sent, offer.bought])
        for price, sent, bought in runs:
            try:
                experiment.record_batch(price, sent, bought)
            except ValueError:
                continue  # not a ladder price
        return experiment

    def _summarise(self, state: PriceTestState, experiment: PriceExperiment) -> TestStatus:
        return TestStatus(
            state=state,
            report=experiment.report(None, samples=self.samples),
            currency=str(state.config.get("currency") or self.default_currency),
            next_price=state.proposed if state.active else None,
        )

    async def _status(self, account_id: int, state: PriceTestState) -> TestStatus:
        return self._summarise(state, await self._experiment(account_id, state))


__all__ = [
    "GUARDRAILS",
    "KIND_LABELS",
    "OFFER_KINDS",
    "PriceAdvice",
    "PricingService",
    "Recorded",
    "TestStatus",
    "guardrails",
]
