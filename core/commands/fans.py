"""/fans (add, list) and /personalize."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from core.chat import Reply, escape_markup
from core.commands.captions import LIMITED
from core.commands.registry import Registry, split_args
from core.context import Context
from core.errors import UsageError
from core.models import Fan, FanTier, Profile
from core.services.fans import normalise_handle


class FansArgs(BaseModel):
    """Flat, so that every platform can offer the fields as typed options."""

    action: Literal["list", "add"] = Field("list", description="list, or add a fan")
    handle: str | None = Field(None, description="The fan's handle, e.g. @mia")
    name: str | None = Field(None, max_length=80, description="The fan's first name")
    tier: FanTier | None = Field(None, description="new, regular, vip or whale")
    spent: Decimal | None = Field(None, ge=0, description="Total spent so far")
    last_active: date | None = Field(None, description="Last active, YYYY-MM-DD")
    tags: str | None = Field(None, description="Comma-separated tags")

    def to_fan(self) -> Fan:
        if not self.handle:
            raise UsageError("Give the fan's handle, e.g. /fans add @mia name=Mia tier=vip.")
        return Fan(
            handle=normalise_handle(self.handle),
            name=self.name or "",
            tier=self.tier or "regular",
            total_spent=self.spent or Decimal("0"),
            last_active=self.last_active,
            tags=[t.strip().lower() for t in (self.tags or "").split(",") if t.strip()],
        )


def parse_fans(raw: str) -> dict[str, Any]:
    tokens = split_args(raw)
    if not tokens:
        return {}
    values: dict[str, Any] = {"action": tokens[0].lower()}
    rest = tokens[1:]
    if rest and "=" not in rest[0]:
        values["handle"] = rest.pop(0)
    for token in rest:
        key, sep, value = token.partition("=")
        key = {"total_spent": "spent"}.get(key.lower(), key.lower())
        if not sep or key not in FansArgs.model_fields or key in {"action", "handle"}:
            raise UsageError(f"“{escape_markup(token)}” is not a fan field.")
        values[key] = value.lstrip("$") if key == "spent" else value
    return values


def describe_fan(fan: Fan, today: date) -> str:
    seen = (
        f"active {(today - fan.last_active).days}d ago" if fan.last_active else "activity unknown"
    )
    name = f" ({escape_markup(fan.name)})" if fan.name else ""
    return f"@{escape_markup(fan.handle)}{name} — {fan.tier}, spent ${fan.total_spent}, {seen}"


class PersonalizeArgs(BaseModel):
    template: str = Field(min_length=1, max_length=2000)
    handle: str = Field(min_length=1)


def parse_personalize(raw: str) -> dict[str, str]:
    tokens = split_args(raw)
    if len(tokens) != 3 or tokens[1].lower() not in {"for", "to"}:
        raise UsageError('Write the template in quotes, then "for" and the fan\'s handle.')
    return {"template": tokens[0], "handle": tokens[2]}


async def complete_handle(ctx: Context, prefix: str) -> list[str]:
    key = normalise_handle(prefix)
    return [h for h in await ctx.app.store.fans.handles(ctx.account_id) if h.startswith(key)]


def register(reg: Registry) -> None:
    @reg.command(
        "fans",
        "Your fan list; add fans to personalise messages",
        usage="/fans [add <handle> name=.. tier=vip spent=.. last_active=YYYY-MM-DD]",
        args=FansArgs,
        parser=parse_fans,
        complete={"handle": complete_handle},
        examples=["/fans", "/fans add @mia name=Mia tier=vip spent=240 last_active=2026-11-01"],
    )
    async def fans(ctx: Context, args: FansArgs) -> Reply:
        today = ctx.app.clock.now().date()
        if args.action == "add":
            fan = await ctx.app.fans.add(ctx.account_id, args.to_fan())
            return Reply.text(
                "Saved " + describe_fan(fan, today), result=fan.model_dump(mode="json")
            )
        all_fans = await ctx.app.fans.list(ctx.account_id)
        if not all_fans:
            return Reply.text("Your fan list is empty. Add one with /fans add @handle name=…")
        lines = [f"**{len(all_fans)} fans**"] + [describe_fan(f, today) for f in all_fans[:50]]
        if len(all_fans) > 50:
            lines.append(f"…and {len(all_fans) - 50} more.")
        return Reply.text("\n".join(lines), result=[f.model_dump(mode="json") for f in all_fans])

    @reg.command(
        "personalize",
        "Draft a personal message for a fan from a template (you send it)",
        usage='/personalize "<template with {name}>" for <fan handle>',
        args=PersonalizeArgs,
        parser=parse_personalize,
        complete={"handle": complete_handle},
        examples=['/personalize "Hey {name}, I missed you!" for @mia'],
        aliases=("personalise",),
    )
    async def personalize(ctx: Context, args: PersonalizeArgs) -> Reply:
        fan = await ctx.app.fans.get(ctx.account_id, args.handle)
        profile = await ctx.profile() or Profile()
        seed = ctx.seed("personalize", args.template, fan.handle, ctx.request_id)
        out = await ctx.app.personalize.drafts(
            ctx.account_id, profile, args.template, [fan], ctx.app.clock.now().date(), seed
        )
        reply = Reply(result=[d.model_dump(mode="json") for d in out.value], degraded=out.degraded)
        reply.add_text(
            f"**Draft for @{escape_markup(fan.handle)}** — review it, then send it yourself:"
        )
        for draft in out.value:
            reply.add_text(escape_markup(draft.text))
        if out.degraded:
            reply.add_text(LIMITED)
        return reply
