"""/usage: today's and this month's AI use (calls, tokens, cost, by feature).

Days and months are UTC (the clock's). Every generator call writes one usage row (see
``core.llm.gateway``); offline answers count as calls with no tokens and no cost.

Plan quotas: when the Assistant has a ``QuotaGuard`` (``app.quotas``, billing), the reply adds
what the plan still allows; without one (the embedded default) there is nothing to show.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from core.chat import Reply, escape_markup
from core.commands.registry import Registry
from core.context import Context
from core.ports import UsageSummary

FEATURE_LABELS = {
    "ideas": "ideas",
    "caption": "captions",
    "hashtags": "hashtags",
    "personalize": "fan drafts",
}


def _money(cost: Decimal) -> str:
    if cost == 0:
        return "$0"
    if cost < Decimal("0.01"):
        return f"${cost:.4f}"
    return f"${cost:.2f}"


def _tokens(n: int) -> str:
    return f"{n:,}"


def _block(title: str, s: UsageSummary) -> str:
    lines = [f"**{title}**"]
    if s.calls == 0:
        lines.append("No AI calls.")
        return "\n".join(lines)
    tokens = s.prompt_tokens + s.completion_tokens
    lines.append(
        f"{s.calls} call{'s' if s.calls != 1 else ''} · {_tokens(tokens)} tokens "
        f"({_tokens(s.prompt_tokens)} in, {_tokens(s.completion_tokens)} out) · {_money(s.cost)}"
    )
    parts = [
        f"{FEATURE_LABELS.get(f, f)} {n}"
        for f, n in sorted(s.by_feature.items(), key=lambda x: -x[1])
    ]
    lines.append(escape_markup("By feature: " + ", ".join(parts)))
    return "\n".join(lines)


def _as_dict(s: UsageSummary) -> dict[str, object]:
    return {
        "calls": s.calls,
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "cost": str(s.cost),
        "by_feature": dict(s.by_feature),
    }


def register(reg: Registry) -> None:
    @reg.command("usage", "Your AI use, today and this month", usage="/usage")
    async def usage(ctx: Context, _: None) -> Reply:
        now = ctx.app.clock.now()
        day_start = datetime(now.year, now.month, now.day, tzinfo=now.tzinfo)
        month_start = day_start.replace(day=1)
        repo = ctx.app.store.usage
        today = await repo.summary(ctx.account_id, day_start)
        month = await repo.summary(ctx.account_id, month_start)
        text = "\n\n".join([_block("Today", today), _block(f"This month ({now:%B %Y})", month)])
        result: dict[str, object] = {"today": _as_dict(today), "month": _as_dict(month)}
        if ctx.app.quotas is not None:  # plan quotas (billing): what is left
            from core.commands.billing import catalog_of, quota_lines

            left = await ctx.app.quotas.remaining(ctx.account_id)
            text += "\n\n" + quota_lines(catalog_of(ctx), ctx.account.plan, left)
            result["left"] = left
        return Reply.text(text, result=result)
