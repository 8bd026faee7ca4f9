"""Plan quotas, enforced in core: ideas per day, personalisation per month (then credits), vault
size. Implements :class:`core.ports.QuotaGuard`.

- ``ideas``: the plan's ideas per UTC day (counted per idea asked for);
- ``personalize``: the plan's fan drafts per UTC month, then the account's bought credits;
- ``vault_bytes``: the plan's vault size against what the vault holds now.

:class:`QuotaedGenerator` puts the ideas quota in front of a content generator, so every way to
ask for ideas (commands, "More like this" buttons, the wizard's follow-up) is counted once, and
what a failed generation took is given back. Fan drafts are counted by ``/personalize`` itself
(``core/commands/fans.py``, one per fan), vault bytes by ``VaultService``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

from core.errors import QuotaExceeded
from core.models import (
    CaptionDraft,
    CaptionRequest,
    Generated,
    HashtagRequest,
    Idea,
    IdeaRequest,
    MessageDraft,
    PersonalizeRequest,
)
from core.ports import AccountRepository, AssetRepository, Clock, ContentGenerator, QuotaRepository
from core.services.billing import Catalog, Plan

UNLIMITED = -1  # in ``remaining()``: no limit on this feature

DAILY = frozenset({"ideas"})
MONTHLY = frozenset({"personalize"})


@dataclass(frozen=True)
class Grant:
    """What :meth:`QuotaService.take` took, to give back with :meth:`QuotaService.release`."""

    account_id: int
    feature: str
    period: str
    from_allowance: int = 0
    from_credits: int = 0


def _size(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.0f} GB"
    return f"{n / 1024**2:.0f} MB"


@dataclass
class QuotaService:
    usage: QuotaRepository
    accounts: AccountRepository
    assets: AssetRepository
    catalog: Catalog
    clock: Clock

    def period(self, feature: str) -> str:
        now = self.clock.now()
        if feature in DAILY:
            return f"{now:%Y-%m-%d}"
        return f"{now:%Y-%m}"

    async def _plan(self, account_id: int) -> Plan:
        account = await self.accounts.get(account_id)
        return self.catalog.plan(account.plan)

    # ------------------------------------------------------------ QuotaGuard

    async def consume(self, account_id: int, feature: str, amount: int = 1) -> None:
        await self.take(account_id, feature, amount)

    async def remaining(self, account_id: int) -> dict[str, int]:
        """What is left: ideas today, fan drafts this month (plan allowance), credits, vault
        bytes. ``UNLIMITED`` (-1) where the plan has no limit."""
        account = await self.accounts.get(account_id)
        plan = self.catalog.plan(account.plan)
        out: dict[str, int] = {}
        for feature, limit in (
            ("ideas", plan.ideas_per_day),
            ("personalize", plan.personalize_per_month),
        ):
            if limit is None:
                out[feature] = UNLIMITED
            else:
                used = await self.usage.used(account_id, feature, self.period(feature))
                out[feature] = max(0, limit - used)
        out["credits"] = account.credits
        if plan.vault_bytes is None:
            out["vault_bytes"] = UNLIMITED
        else:
            out["vault_bytes"] = max(0, plan.vault_bytes - await self.assets.total_size(account_id))
        return out

    # ------------------------------------------------------------ with give-back

    async def take(self, account_id: int, feature: str, amount: int = 1) -> Grant:
        """Take ``amount`` of ``feature`` or raise ``QuotaExceeded`` (nothing taken)."""
        if amount <= 0:
            return Grant(account_id, feature, "")
        plan = await self._plan(account_id)
        if feature == "vault_bytes":
            await self._check_vault(account_id, plan, amount)
            return Grant(account_id, feature, "")
        if feature not in DAILY | MONTHLY:
            return Grant(account_id, feature, "")
        limit = plan.ideas_per_day if feature == "ideas" else plan.personalize_per_month
        period = self.period(feature)
        taken = await self.usage.consume(
            account_id, feature, period, amount, limit, use_credits=feature == "personalize"
        )
        if taken is None:
            refills_at = None
            if feature in DAILY:
                now = self.clock.now()
                refills_at = datetime.combine(now.date() + timedelta(days=1), time(0), UTC)
            raise QuotaExceeded(self._message(plan, feature, amount), refills_at)
        return Grant(account_id, feature, period, taken[0], taken[1])

    async def release(self, grant: Grant) -> None:
        if grant.from_allowance or grant.from_credits:
            await self.usage.release(
                grant.account_id,
                grant.feature,
                grant.period,
                grant.from_allowance,
                grant.from_credits,
            )

    async def vault_room(self, account_id: int) -> int | None:
        """Bytes the vault can still take on the account's plan (None: unlimited)."""
        plan = await self._plan(account_id)
        if plan.vault_bytes is None:
            return None
        return max(0, plan.vault_bytes - await self.assets.total_size(account_id))

    async def _check_vault(self, account_id: int, plan: Plan, amount: int) -> None:
        if plan.vault_bytes is None:
            return
        if await self.assets.total_size(account_id) + amount > plan.vault_bytes:
            raise QuotaExceeded(self._message(plan, "vault_bytes", amount))

    def _message(self, plan: Plan, feature: str, amount: int) -> str:
        upgrade = "/plan shows bigger plans."
        if feature == "ideas":
            return (
                f"That's more than today's ideas left on the {plan.label} plan "
                f"({plan.ideas_per_day} a day). They refill at midnight UTC — {upgrade}"
            )
        if feature == "personalize":
            return (
                f"Not enough fan drafts left: the {plan.label} plan includes "
                f"{plan.personalize_per_month} a month and your credits don't cover {amount} "
                "more. /buy credits-500 adds credits, or " + upgrade
            )
        assert plan.vault_bytes is not None
        return (
            f"Your vault is full for the {plan.label} plan ({_size(plan.vault_bytes)}). "
            f"Delete some files or upgrade — {upgrade}"
        )


class QuotaedGenerator:
    """A :class:`ContentGenerator` that takes quota before generating and gives it back when
    generation fails. Other attributes pass through to the wrapped generator."""

    def __init__(self, inner: ContentGenerator, quotas: QuotaService) -> None:
        self._inner = inner
        self._quotas = quotas

    @property
    def inner(self) -> ContentGenerator:
        return self._inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def ideas(self, req: IdeaRequest, *, account_id: int) -> Generated[list[Idea]]:
        grant = await self._quotas.take(account_id, "ideas", req.count)
        try:
            return await self._inner.ideas(req, account_id=account_id)
        except BaseException:
            await self._quotas.release(grant)
            raise

    async def caption(self, req: CaptionRequest, *, account_id: int) -> Generated[CaptionDraft]:
        return await self._inner.caption(req, account_id=account_id)

    async def hashtags(self, req: HashtagRequest, *, account_id: int) -> Generated[list[str]]:
        return await self._inner.hashtags(req, account_id=account_id)

    async def personalize(
        self, req: PersonalizeRequest, *, account_id: int
    ) -> Generated[list[MessageDraft]]:
        # Counted by /personalize itself (core/commands/fans.py: one per fan drafted).
        return await self._inner.personalize(req, account_id=account_id)


__all__ = ["UNLIMITED", "Grant", "QuotaService", "QuotaedGenerator"]
