"""/plan, /buy and /apikey.

The billing service and the API-key repository are optional parts of the assistant (wired in
``bot/``): without them the commands answer that payments / the HTTP API are not set up.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Literal

from pydantic import BaseModel, Field

from core.chat import Button, Reply, escape_markup
from core.commands.registry import Choice, Registry, choices
from core.context import Context
from core.errors import UsageError
from core.models import MAX_ID
from core.services.billing import LIVE_STATUSES, BillingService, Catalog, Plan, default_catalog
from core.services.quotas import UNLIMITED

API_KEY_PREFIX = "hz_"
MAX_LIVE_KEYS = 5


# ---------------------------------------------------------------- API keys


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: ``(secret, display prefix, sha256 hex)``. Only the hash is stored."""
    secret = API_KEY_PREFIX + secrets.token_urlsafe(32)
    return secret, secret[:10], hash_api_key(secret)


def hash_api_key(secret: str) -> str:
    return hashlib.sha256(secret.strip().encode()).hexdigest()


# ---------------------------------------------------------------- wiring lookups


def billing_of(ctx: Context) -> BillingService | None:
    """The assistant's billing service, when wired (``assistant.billing``)."""
    return ctx.app.billing


def catalog_of(ctx: Context) -> Catalog:
    billing = billing_of(ctx)
    return billing.catalog if billing is not None else default_catalog()


# ---------------------------------------------------------------- text


def _size(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.0f} GB" if n % 1024**3 == 0 else f"{n / 1024**3:.1f} GB"
    return f"{n / 1024**2:.0f} MB"


def _limit(value: int | None, unit: str) -> str:
    return f"unlimited {unit}" if value is None else f"{value:,} {unit}"


def plan_line(catalog: Catalog, plan: Plan) -> str:
    price = "free" if plan.monthly_cents == 0 else f"{catalog.money(plan.monthly_cents)}/month"
    vault = "unlimited vault" if plan.vault_bytes is None else f"{_size(plan.vault_bytes)} vault"
    return (
        f"**{plan.label}** — {price}: {_limit(plan.ideas_per_day, 'ideas a day')}, "
        f"{_limit(plan.personalize_per_month, 'fan drafts a month')}, {vault}"
    )


def quota_lines(catalog: Catalog, plan_name: str, left: dict[str, int]) -> str:
    """What is left on the plan, for /usage and /plan."""
    plan = catalog.plan(plan_name)

    def amount(key: str, unit: str) -> str:
        value = left.get(key, UNLIMITED)
        return f"unlimited {unit}" if value == UNLIMITED else f"{value:,} {unit}"

    vault = left.get("vault_bytes", UNLIMITED)
    vault_text = "unlimited vault space" if vault == UNLIMITED else f"{_size(vault)} of vault space"
    return "\n".join(
        [
            f"**Left on your {plan.label} plan**",
            f"{amount('ideas', 'ideas')} today · {amount('personalize', 'fan drafts')} this month"
            f" · {left.get('credits', 0):,} credits · {vault_text}",
        ]
    )


# ---------------------------------------------------------------- commands


class BuyArgs(BaseModel):
    product: str = Field(
        min_length=1, max_length=40, description="What to buy: a plan or a credit pack"
    )


class ApiKeyArgs(BaseModel):
    action: Literal["new", "list", "revoke"] | None = Field(
        None, description="new (default), list, or revoke"
    )
    key_id: int | None = Field(
        None, ge=1, le=MAX_ID, description="Which key to revoke (default: all)"
    )


async def complete_product(ctx: Context, prefix: str) -> list[Choice]:
    return choices(p for p in catalog_of(ctx).products() if p.startswith(prefix.strip().lower()))


class PlanArgs(BaseModel):
    action: Literal["cancel", "resume"] | None = Field(
        None, description="cancel: end the subscription with its paid period; resume: keep it"
    )


def register(reg: Registry) -> None:
    @reg.command(
        "plan",
        "Your plan, plans and credit packs",
        usage="/plan [cancel|resume]",
        args=PlanArgs,
    )
    async def plan(ctx: Context, args: PlanArgs) -> Reply:
        billing = billing_of(ctx)
        catalog = catalog_of(ctx)
        if args.action is not None:
            if not ctx.account.may("owner"):
                return Reply.text("Only the account's owner can change its subscription.")
            if billing is None:
                return Reply.text("Payments are not set up on this server yet.")
            state = await billing.set_renewal(ctx.account_id, renew=args.action == "resume")
            label = catalog.plan(state.plan).label
            when = f"{state.current_period_end:%-d %B %Y}" if state.current_period_end else ""
            if args.action == "cancel":
                text = (
                    f"Your {label} plan is cancelled: it keeps working until "
                    f"{when or 'the end of the period'} and is not charged again. Changed your "
                    "mind? /plan resume keeps it."
                )
            else:
                text = f"Your {label} plan renews again" + (f" on {when}." if when else ".")
            return Reply.text(
                text,
                result={"plan": state.plan, "cancel_at_period_end": state.cancel_at_period_end},
            )
        account = await ctx.app.store.accounts.get(ctx.account_id)
        current = catalog.plan(account.plan)
        head = f"**Your plan: {current.label}**"
        state = await billing.state(ctx.account_id) if billing is not None else None
        if state is not None and state.status in LIVE_STATUSES and current.name != "free":
            when = f"{state.current_period_end:%-d %B %Y}" if state.current_period_end else ""
            if state.status == "past_due":
                head += " — the last payment failed; Stripe is retrying"
            elif state.cancel_at_period_end:
                head += f" — ends {when}" if when else " — ends at the end of the period"
            elif when:
                head += f" — renews {when}"
        head += f" · {account.credits:,} credits"
        lines = [head]
        if state is not None and state.status in LIVE_STATUSES and state.subscription_id:
            lines.append(
                "/plan resume keeps it renewing."
                if state.cancel_at_period_end
                else "/plan cancel ends it with the period you paid for."
            )
        lines += ["", "**Plans**"]
        lines += ["• " + plan_line(catalog, p) for p in catalog.plans.values()]
        packs = [p for p in catalog.packs.values() if p.price_id]
        if packs:
            lines += ["", "**Credit packs** (1 credit = 1 fan draft beyond your plan)"]
            lines += [f"• `{p.name}` — {p.label} for {catalog.money(p.cents)}" for p in packs]
        buttons: list[list[Button]] = []
        buyable = set(catalog.products())
        if billing is not None and billing.gateway is not None and buyable:
            lines += ["", "Buy with `/buy pro` or `/buy credits-500`."]
            upgrades = [
                Button(f"Get {p.label}", f"cmd:buy {p.name}")
                for p in catalog.plans.values()
                if p.name in buyable and p.name != current.name
            ]
            if upgrades:
                buttons.append(upgrades)
            if packs:
                buttons.append([Button(f"Buy {p.label}", f"cmd:buy {p.name}") for p in packs][:3])
        else:
            lines += ["", "Payments are not set up on this server yet."]
        if ctx.app.quotas is not None:
            left = await ctx.app.quotas.remaining(ctx.account_id)
            lines += ["", quota_lines(catalog, account.plan, left)]
        return Reply.text(
            "\n".join(lines),
            buttons=buttons,
            result={"plan": current.name, "credits": account.credits},
        )

    @reg.command(
        "buy",
        "Buy a plan or credit pack",
        usage="/buy <pro|studio|credits-500>",
        args=BuyArgs,
        examples=["/buy pro", "/buy credits-500"],
        complete={"product": complete_product},
        access="owner",
    )
    async def buy(ctx: Context, args: BuyArgs) -> Reply:
        billing = billing_of(ctx)
        if billing is None:
            return Reply.text("Payments are not set up on this server yet.")
        link = await billing.checkout(ctx.account_id, args.product)
        product = billing.catalog.product(link.product)
        assert product is not None
        price = (
            f"{billing.catalog.money(product.monthly_cents)}/month"
            if isinstance(product, Plan)
            else billing.catalog.money(product.cents)
        )
        return Reply.text(
            f"Here is your secure Stripe checkout for **{escape_markup(product.label)}** "
            f"({price}):\n{escape_markup(link.url)}\n\nAs soon as the payment goes through I'll "
            "tell you here.",
            ephemeral=True,
            result={"url": link.url, "session_id": link.session_id, "product": link.product},
        )

    @reg.command(
        "apikey",
        "Keys for the uploads and imports API",
        usage="/apikey [new|list|revoke] [key id]",
        args=ApiKeyArgs,
        examples=["/apikey", "/apikey list", "/apikey revoke 3"],
        access="owner",
    )
    async def apikey(ctx: Context, args: ApiKeyArgs) -> Reply:
        keys = ctx.app.store.api_keys
        action = args.action or ("revoke" if args.key_id else "new")
        if action == "list":
            live = await keys.list(ctx.account_id)
            if not live:
                return Reply.text("You have no API keys. `/apikey` creates one.", result=[])
            lines = [f"**{len(live)} API key{'s' * (len(live) != 1)}**"]
            for key in live:
                used = f"last used {key.last_used_at:%-d %b %Y}" if key.last_used_at else "unused"
                lines.append(
                    f"#{key.id} `{key.prefix}…` — created {key.created_at:%-d %b %Y}, {used}"
                )
            lines.append("`/apikey revoke <id>` turns one off; `/apikey revoke` turns off all.")
            return Reply.text(
                "\n".join(lines),
                ephemeral=True,
                result=[{"id": k.id, "prefix": k.prefix} for k in live],
            )
        if action == "revoke":
            count = await keys.revoke(ctx.account_id, args.key_id)
            if count == 0:
                what = f"key #{args.key_id}" if args.key_id else "live keys"
                return Reply.text(f"No {what} to revoke.", result={"revoked": 0})
            return Reply.text(
                f"Revoked {count} key{'s' * (count != 1)}: they stop working at once.",
                result={"revoked": count},
            )
        if args.key_id is not None:
            raise UsageError("A key id only goes with revoke.")
        if len(await keys.list(ctx.account_id)) >= MAX_LIVE_KEYS:
            return Reply.text(
                f"You already have {MAX_LIVE_KEYS} keys. Revoke one first (`/apikey list`)."
            )
        secret, prefix, key_hash = new_api_key()
        created = await keys.add(ctx.account_id, prefix, key_hash)
        return Reply.text(
            "Your new API key — it is shown **only once**, store it now:\n"
            f"`{secret}`\n\nSend files with `Authorization: Bearer <key>` to "
            "`POST /api/v1/uploads` (your vault) or CSV exports to `POST /api/v1/imports`. "
            "`/apikey revoke` turns it off.",
            ephemeral=True,
            result={"id": created.id, "key": secret, "prefix": prefix},
        )
