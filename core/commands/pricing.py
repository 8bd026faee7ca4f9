"""/price [ppv|subscription|bundle], /price test, /sold, /unsold and the price-test buttons."""

from __future__ import annotations

import random
import re
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, Reply, escape_markup
from core.commands.registry import Registry, split_args
from core.commands.stats import complete_platform
from core.context import Context
from core.errors import UsageError
from core.models import MAX_AMOUNT
from core.rules import asked_platform
from core.services.analytics import format_money
from core.services.imports import parse_count
from core.services.pricing import (
    KIND_LABELS,
    OFFER_KINDS,
    PriceAdvice,
    PricingService,
    Recorded,
    TestStatus,
)
from core.services.pricing_model import MIN_OFFERS

OfferKind = Literal["ppv", "subscription", "bundle"]
_KIND_WORDS = {
    "ppv": "ppv", "ppvs": "ppv", "message": "ppv", "messages": "ppv",
    "sub": "subscription", "subs": "subscription", "subscription": "subscription",
    "subscriptions": "subscription", "bundle": "bundle", "bundles": "bundle",
}  # fmt: skip
_ACTIONS = {
    "test": "test", "experiment": "test", "status": "status", "report": "status",
    "stop": "stop", "end": "stop", "finish": "stop", "advice": "advice", "split": "split",
}  # fmt: skip
_PRICE = re.compile(r"\$?\d+(?:[.,]\d{1,2})?\$?\Z")
MAX_AUDIENCE = 1_000_000


def _count(token: str) -> int | None:
    """A whole number of fans or offers ("1,200"), or None."""
    try:
        return parse_count(token)
    except ValueError:
        return None


def _batch_word(kind: str) -> str:
    """What one round of offers to many fans is called: PPV and bundles go out by mass
    message; a subscription price goes out as an offer (a promotion, a trial link)."""
    return "offer" if kind == "subscription" else "mass message"


_OPTION_ALIASES = {
    "min": "floor", "max": "ceiling", "cap": "ceiling", "prices": "ladder", "fans": "audience",
    "to": "audience",
}  # fmt: skip


def _price(token: str) -> Decimal:
    try:
        value = Decimal(token.strip().strip("$").replace(",", "."))
    except InvalidOperation:
        raise UsageError(f"“{escape_markup(token)}” is not a price.") from None
    if not value.is_finite() or value <= 0:
        raise UsageError("A price must be above zero.")
    if value > MAX_AMOUNT:
        raise UsageError(f"A price must be at most {MAX_AMOUNT:,}.")
    return value.quantize(Decimal("0.01"))


class PriceArgs(BaseModel):
    kind: OfferKind = Field("ppv", description="ppv, subscription or bundle")
    action: Literal["advice", "test", "status", "stop", "split"] = Field(
        "advice",
        description="advice, or run a price test (test, status, stop; split a mass message)",
    )
    audience: int | None = Field(
        None, ge=1, le=MAX_AUDIENCE, description="Fans a mass message goes to (split)"
    )
    floor: Decimal | None = Field(None, gt=0, le=MAX_AMOUNT, description="Lowest price you accept")
    ceiling: Decimal | None = Field(
        None, gt=0, le=MAX_AMOUNT, description="Highest price you accept"
    )
    ladder: str | None = Field(
        None, max_length=200, description="Prices to test, e.g. 7.99 9.99 14.99"
    )
    platform: str | None = Field(
        None,
        max_length=32,
        description="advice from one platform's offers only (onlyfans, fansly, ...)",
    )

    def ladder_prices(self) -> list[Decimal]:
        if not self.ladder:
            return []
        return [_price(t) for t in re.split(r"[\s,;]+", self.ladder.strip()) if t]


def parse_price(raw: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    ladder: list[str] = []
    for token in split_args(raw):
        low = token.lower()
        key, sep, value = low.partition("=")
        if sep:
            key = _OPTION_ALIASES.get(key, key)
            if key not in ("floor", "ceiling", "ladder", "kind", "action", "audience", "platform"):
                raise UsageError(f"“{escape_markup(token)}” is not a /price option.")
            values[key] = value.strip("$") if key in ("floor", "ceiling") else value
        elif (
            values.get("action") == "split"
            and "audience" not in values
            and (audience := _count(low)) is not None
        ):
            values["audience"] = audience  # /price split 1,200
        elif low in ("fans", "fan", "people", "subscribers"):
            continue  # /price split 1200 fans
        elif low in _KIND_WORDS:
            values["kind"] = _KIND_WORDS[low]
        elif low in _ACTIONS:
            action = _ACTIONS[low]
            if values.get("action") == "test" and action in ("stop", "status", "split"):
                values["action"] = action
            elif values.get("action") in ("stop", "status") and action == "test":
                pass
            else:
                values["action"] = action
        elif _PRICE.match(low):
            ladder.append(low.strip("$"))
        elif platform := vocab.normalise("platforms", low):
            values["platform"] = platform  # /price ppv fansly
        else:
            raise UsageError(f"I don't understand “{escape_markup(token)}”.")
    if ladder:
        values["ladder"] = " ".join(ladder)
        values.setdefault("action", "test")
    return values


class SoldArgs(BaseModel):
    price: Decimal | None = Field(
        None, gt=0, le=MAX_AMOUNT, description="The price offered (default: proposed)"
    )
    count: int = Field(1, ge=0, le=MAX_AUDIENCE, description="How many offers (default 1)")
    sent: int | None = Field(
        None,
        ge=1,
        le=MAX_AUDIENCE,
        description="Out of how many (a mass message's group): /sold 14.99 20 of 480",
    )
    kind: OfferKind | None = Field(None, description="ppv, subscription or bundle")
    platform: str | None = Field(
        None, max_length=32, description="where the offers were made (onlyfans, fansly, ...)"
    )


def parse_sold(raw: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    numbers: list[str] = []
    tokens = split_args(raw)
    for n, token in enumerate(tokens):
        low = token.lower()
        key, sep, value = low.partition("=")
        if token == "OF" and n == len(tokens) - 1:  # /sold 9.99 3 OF: OnlyFans, not "out of"
            values["platform"] = "onlyfans"
        elif low in ("of", "out-of", "/") or (n and tokens[n - 1].lower() in ("of", "out-of", "/")):
            if low in ("of", "out-of", "/"):
                if n == len(tokens) - 1:
                    raise UsageError("Of how many? e.g. /sold 14.99 20 of 480.")
                continue
            sent = _count(low)
            if sent is None:
                raise UsageError(f"“{escape_markup(token)}” is not a number of offers.")
            values["sent"] = sent  # /sold 14.99 20 of 480
        elif re.fullmatch(r"\d+/\d+", low):
            values["count"], values["sent"] = low.split("/")  # /sold 14.99 20/480
        elif sep and key in ("price", "count", "n", "kind", "sent", "of", "platform"):
            values[{"n": "count", "of": "sent"}.get(key, key)] = value.strip("$")
        elif low in _KIND_WORDS:
            values["kind"] = _KIND_WORDS[low]
        elif platform := vocab.normalise("platforms", low):
            values["platform"] = platform  # /sold 9.99 3 fansly
        elif re.fullmatch(r"x\d+|\d+x", low):
            values["count"] = low.strip("x")
        elif _PRICE.match(low):
            numbers.append(low.strip("$").replace(",", "."))
        else:
            raise UsageError(f"I don't understand “{escape_markup(token)}”.")
    if numbers:
        values.setdefault("price", numbers[0])
    if len(numbers) > 1:
        values.setdefault("count", numbers[1])
    if len(numbers) > 2:
        raise UsageError("Give the price, then how many offers, e.g. /sold 9.99 3.")
    return values


def _service(ctx: Context) -> PricingService:
    return PricingService(ctx.app.store, ctx.app.clock)


def _rng(ctx: Context, *parts: object) -> random.Random:
    return random.Random(ctx.seed("price", *parts, ctx.request_id))


def _pct(x: float) -> str:
    return f"{x:.0%}"


def render_advice(advice: PriceAdvice) -> str:
    r = advice.recommendation
    m = lambda v: format_money(Decimal(str(v)), advice.currency)  # noqa: E731
    label = KIND_LABELS[advice.kind]
    on = f" on {vocab.label('platforms', advice.platform)}" if advice.platform else ""
    level = f"{r.level:.0%}"
    lines = [
        f"**{label[:1].upper() + label[1:]} price{on}: {m(r.price)}**"
        + (
            f" ({level} credible range for the best price: "
            f"{m(r.price_interval[0])}–{m(r.price_interval[1])})"
            if r.offers
            else ""
        )
    ]
    if r.offers:
        lines.append(
            f"Expected revenue per offer {m(round(r.revenue_per_offer, 2))} "
            f"({level}: {m(round(r.revenue_interval[0], 2))}–"
            f"{m(round(r.revenue_interval[1], 2))}) · conversion {r.conversion:.1%} "
            f"({r.conversion_interval[0]:.1%}–{r.conversion_interval[1]:.1%})"
        )
        tried = r.prices_tried  # the candidates may not include the prices offered
        lines.append(
            f"Confidence: {r.confidence} — {_pct(r.probability_best)} chance it's the best "
            f"price. From {r.offers:,} offer{'s' * (r.offers != 1)} and {r.purchases:,} "
            f"sale{'s' * (r.purchases != 1)} at {tried} price{'s' * (tried != 1)}."
        )
    else:
        lines.append(
            f"No {label} offers{on} recorded yet — this is a starting point, not a finding."
        )
    lines.append(f"Guardrails: {m(r.floor)}–{m(r.ceiling)} (set yours with floor=… ceiling=…).")
    if advice.other_currencies:
        lines.append(
            f"Offers in {', '.join(advice.other_currencies)} were left out (only "
            f"{advice.currency} is modelled)."
        )
    lines.append(escape_markup(r.guidance))
    return "\n".join(lines)


def render_test(status: TestStatus) -> str:
    rep = status.report
    m = lambda v: format_money(Decimal(str(v)), status.currency)  # noqa: E731
    label = KIND_LABELS[status.state.kind]
    ladder = " · ".join(m(p) for p in status.ladder)
    state = "running" if status.state.active else "stopped"
    lines = [
        f"**{label[:1].upper() + label[1:]} price test** ({state}, since "
        f"{status.state.started_at:%b %d}) — prices {ladder}"
    ]
    if status.next_price is not None:
        lines.append(
            f"Next price to offer: **{m(status.next_price)}** — then tell me how it went "
            "with the buttons, /sold or /unsold (or upload an offers CSV). "
            f"One {_batch_word(status.state.kind)} to many fans? /price split <fans> spreads "
            "it over the prices."
        )
    if rep.offers == 0:
        lines.append("No outcomes yet.")
        return "\n".join(lines)
    lines.append(
        f"So far: {rep.offers:,} offer{'s' * (rep.offers != 1)}, {rep.sales:,} "
        f"sale{'s' * (rep.sales != 1)}, {m(rep.revenue)} earned."
    )
    if rep.offers < MIN_OFFERS:
        lines.append(f"Too early to call: keep going to at least {MIN_OFFERS} offers.")
    restarts = int(getattr(rep, "restarts", 0) or 0)
    if restarts:
        lines.append(
            "The market changed during the test, so it restarted from the newer outcomes"
            + (f" ({restarts} times)." if restarts > 1 else ".")
        )
    lo, hi = rep.lift_interval
    if rep.best_price == rep.baseline_price:
        lift = f"the baseline {m(rep.baseline_price)} itself"
    else:
        lift = (
            f"lift {rep.lift:+.0%} vs {m(rep.baseline_price)} "
            f"({rep.level:.0%}: {lo:+.0%} to {hi:+.0%})"
        )
    lines.append(
        f"Best so far: **{m(rep.best_price)}** ({_pct(rep.probability_best)} probability), {lift}."
    )
    lines.append(
        f"Regret so far: about {m(round(max(rep.regret, 0.0), 2))} (what always offering the "
        f"best price would have added, estimated); stopping now may cost "
        f"{m(round(rep.expected_loss, 2))} per offer."
    )
    arms = [f"{m(a.price)}: {a.sales}/{a.offers}" for a in rep.arms if a.offers or a.sales]
    if arms:
        lines.append("Sold/offered: " + " · ".join(arms))
    if rep.decided:
        lines.append(f"That's decided: use {m(rep.best_price)} and stop the test (/price stop).")
    return "\n".join(lines)


def render_split(status: TestStatus, audience: int, groups: list[tuple[Decimal, int]]) -> str:
    m = lambda v: format_money(Decimal(str(v)), status.currency)  # noqa: E731
    label = KIND_LABELS[status.state.kind]
    fans = f"{audience:,} fan{'s' * (audience != 1)}"
    batch = _batch_word(status.state.kind)
    if len(groups) == 1:
        lines = [f"**Send your next {label} {batch} to all {fans} at {m(groups[0][0])}**."]
    else:
        lines = [f"**Split your next {label} {batch} to {fans}:**"]
        lines += [f"• {n:,} fan{'s' * (n != 1)} at {m(p)}" for p, n in groups]
        lines.append(
            "Split your list at random (not by spend or activity), so each price meets the "
            "same kind of fans."
        )
    price, size = max(groups, key=lambda g: g[1])
    lines.append(
        f"Then record each group's sales, e.g. /sold {price:.2f} <sales> of {size:,} "
        "(or upload the offers CSV)."
    )
    return "\n".join(lines)


def _test_buttons(status: TestStatus) -> list[list[Button]]:
    kind = status.state.kind
    rows: list[list[Button]] = []
    if status.next_price is not None:
        price = f"{status.next_price:.2f}"
        rows.append(
            [
                Button(f"Sold at {price}", f"px:sold:{kind}:{price}"),
                Button("Not sold", f"px:unsold:{kind}:{price}"),
            ]
        )
        rows.append(
            [
                Button(f"Split a {_batch_word(kind)}", f"cmd:price split {kind}"),
                Button("Stop the test", f"cmd:price stop {kind}"),
            ]
        )
    return rows


def _recorded_reply(rec: Recorded) -> Reply:
    o = rec.offer
    what = f"{o.sent:,} offer{'s' * (o.sent != 1)}" if o.sent != 1 else "1 offer"
    outcome = "sold" if o.bought else "not sold"
    if 0 < o.bought < o.sent:
        outcome = f"{o.bought:,} sold ({o.bought / o.sent:.1%})"
    on = f" on {vocab.label('platforms', o.platform)}" if o.platform else ""
    text = (
        f"Recorded {what} at {format_money(o.price, o.currency)} "
        f"({KIND_LABELS.get(o.kind, o.kind)}){on}, {outcome}."
    )
    reply = Reply(
        result={
            "offer": {
                "kind": o.kind,
                "price": str(o.price),
                "currency": o.currency,
                "sent": o.sent,
                "bought": o.bought,
                "platform": o.platform or None,
            }
        }
    )
    if rec.status is None:
        reply.add_text(text + " It counts for /price.")
        return reply
    if not rec.on_ladder:
        text += " That price is not on the test's ladder: it counts for /price, not the test."
    reply.add_text(text)
    reply.add_text(render_test(rec.status))
    reply.buttons = _test_buttons(rec.status)
    reply.result["test"] = _test_result(rec.status)
    return reply


def _test_result(status: TestStatus) -> dict[str, Any]:
    rep = status.report
    return {
        "kind": status.state.kind,
        "active": status.state.active,
        "ladder": [str(p) for p in status.ladder],
        "next_price": None if status.next_price is None else str(status.next_price),
        "offers": rep.offers,
        "sales": rep.sales,
        "revenue": str(rep.revenue),
        "best_price": str(rep.best_price),
        "probability_best": rep.probability_best,
        "baseline_price": str(rep.baseline_price),
        "lift": rep.lift,
        "lift_interval": list(rep.lift_interval),
        "regret": rep.regret,
        "expected_loss": rep.expected_loss,
        "decided": rep.decided,
    }


async def _record(
    ctx: Context,
    sold: bool,
    price: Decimal | None,
    count: int,
    kind: str | None,
    sent: int | None = None,
    platform: str | None = None,
) -> Reply:
    service = _service(ctx)
    if kind is None:
        active = await service.active_kinds(ctx.account_id)
        if len(active) > 1:
            raise UsageError(
                f"You have tests running for {', '.join(active)}: add which one, e.g. "
                f"/{'sold' if sold else 'unsold'} {active[0]}."
            )
        kind = active[0] if active else "ppv"
    rec = await service.record(
        ctx.account_id,
        kind,
        price,
        sold,
        count,
        ctx.request_id,
        _rng(ctx, "record", kind),
        sent=sent,
        platform=asked_platform(platform) or "",
    )
    return _recorded_reply(rec)


def register(reg: Registry) -> None:
    @reg.command(
        "price",
        "Best price from your offers, or a price test",
        usage="/price [ppv|subscription|bundle] [platform] [test|split <fans>|stop] [floor=3]",
        args=PriceArgs,
        parser=parse_price,
        examples=[
            "/price",
            "/price subscription",
            "/price ppv fansly",
            "/price test",
            "/price test 7.99 9.99 14.99",
            "/price split 1200",
        ],
        complete={"platform": complete_platform},
    )
    async def price(ctx: Context, args: PriceArgs) -> Reply:
        service = _service(ctx)
        kind = args.kind
        platform = asked_platform(args.platform)
        if platform and args.action != "advice":
            raise UsageError(
                "A price test runs on all your offers, whatever the platform: "
                f"/price {kind} test. /price {kind} {platform} gives that platform's advice."
            )
        if args.action == "advice":
            advice = await service.advise(
                ctx.account_id,
                kind,
                _rng(ctx, "advice", kind),
                args.floor,
                args.ceiling,
                platform=platform,
            )
            r = advice.recommendation
            reply = Reply.text(
                render_advice(advice),
                result={
                    "kind": kind,
                    "platform": advice.platform,
                    "currency": advice.currency,
                    "price": str(r.price),
                    "price_interval": [str(p) for p in r.price_interval],
                    "revenue_per_offer": r.revenue_per_offer,
                    "revenue_interval": list(r.revenue_interval),
                    "conversion": r.conversion,
                    "probability_best": r.probability_best,
                    "confidence": r.confidence,
                    "enough_data": r.enough_data,
                    "offers": r.offers,
                    "purchases": r.purchases,
                    "floor": str(r.floor),
                    "ceiling": str(r.ceiling),
                    "suggested_test": [str(p) for p in r.suggested_test],
                },
            )
            reply.buttons = [[Button("Start a price test", f"cmd:price test {kind}")]]
            return reply
        if args.action == "split":
            if args.audience is None:
                await service.running(ctx.account_id, kind)
                assert ctx.app.dialogs is not None
                return await ctx.app.dialogs.ask_number(
                    ctx,
                    f"How many fans will get your next {KIND_LABELS[kind]} {_batch_word(kind)}? "
                    "Send the number, e.g. 1200.",
                    f"/price split {{n}} {kind}",
                    1,
                    MAX_AUDIENCE,
                )
            status, groups = await service.split(
                ctx.account_id, kind, args.audience, _rng(ctx, "split", kind, args.audience)
            )
            reply = Reply.text(render_split(status, args.audience, groups))
            reply.result = {
                "audience": args.audience,
                "groups": [{"price": str(p), "fans": n} for p, n in groups],
                "test": _test_result(status),
            }
            return reply
        if args.action == "stop":
            status = await service.stop(ctx.account_id, kind)
            if status is None:
                return Reply.text(f"No {KIND_LABELS[kind]} price test is running.")
            reply = Reply.text(render_test(status), result=_test_result(status))
            return reply
        ladder = args.ladder_prices()
        status = None
        if args.action == "status" or not ladder:
            status = await service.status(ctx.account_id, kind)
            if args.action == "status" and status is None:
                return Reply.text(
                    f"No {KIND_LABELS[kind]} price test yet — start one with /price test."
                )
            if status is not None and not status.state.active and args.action == "test":
                status = None  # a stopped test: start a new one
        if status is None:
            status = await service.start_test(
                ctx.account_id,
                kind,
                _rng(ctx, "start", kind),
                ladder=ladder or None,
                floor=args.floor,
                ceiling=args.ceiling,
            )
            intro = (
                "Price test started. I'll pick each offer's price to learn fast and lose little."
            )
            reply = Reply.text(intro)
            reply.add_text(render_test(status))
        else:
            reply = Reply.text(render_test(status))
        reply.buttons = _test_buttons(status)
        reply.result = _test_result(status)
        return reply

    @reg.command(
        "sold",
        "Record offers that sold",
        usage="/sold [price] [count [of sent]] [ppv|sub|bundle] [platform]",
        args=SoldArgs,
        parser=parse_sold,
        examples=[
            "/sold",
            "/sold 9.99",
            "/sold 14.99 3",
            "/sold 14.99 20 of 480",
            "/sold 9.99 2 fansly",
        ],
        complete={"platform": complete_platform},
    )
    async def sold(ctx: Context, args: SoldArgs) -> Reply:
        return await _record(ctx, True, args.price, args.count, args.kind, args.sent, args.platform)

    @reg.command(
        "unsold",
        "Record unsold offers",
        usage="/unsold [price] [count [of sent]] [ppv|sub|bundle] [platform]",
        args=SoldArgs,
        parser=parse_sold,
        examples=["/unsold", "/unsold 9.99", "/unsold 14.99 20"],
        complete={"platform": complete_platform},
    )
    async def unsold(ctx: Context, args: SoldArgs) -> Reply:
        return await _record(
            ctx, False, args.price, args.count, args.kind, args.sent, args.platform
        )

    @reg.action("px")
    async def price_button(ctx: Context, args: list[str]) -> Reply:
        if len(args) != 3 or args[0] not in ("sold", "unsold") or args[1] not in OFFER_KINDS:
            raise UsageError("That button no longer works. Try /price test.")
        return await _record(ctx, args[0] == "sold", _price(args[2]), 1, args[1])
