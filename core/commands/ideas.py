"""/ideas and the idea buttons (Caption · Save · More like this)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, Reply, escape_markup
from core.commands.captions import LIMITED, caption_reply
from core.commands.registry import Registry
from core.context import Context
from core.errors import NotFound
from core.models import Creativity, Generated, Idea, PlatformName, Profile, parse_id


class IdeasArgs(BaseModel):
    count: int = Field(5, ge=1, le=10, description="How many ideas (1-10)")
    creativity: Creativity = Field("balanced", description="How adventurous")
    platform: PlatformName | None = Field(None, description="Where you will post")


def format_idea(n: int, idea: Idea) -> str:
    e = escape_markup
    gear = ", ".join(vocab.label("equipment", g) for g in idea.equipment) or "Phone"
    lines = [
        f"**{n}. {e(idea.title)}** — "
        f"{e(idea.content_type.replace('_', ' '))} for {e(idea.platform)}",
        e(idea.description),
        f"Gear: {e(gear)} · Where: {e(vocab.label('locations', idea.location))} · "
        f"{e(idea.difficulty)}, {e(idea.time_to_create)} · Post: {e(idea.best_time_to_post)}",
    ]
    if idea.tags:
        lines.append(e(" ".join("#" + t for t in idea.tags)))
    return "\n".join(lines)


def ideas_reply(out: Generated[list[Idea]], intro: str) -> Reply:
    reply = Reply(result=[i.model_dump(mode="json") for i in out.value], degraded=out.degraded)
    reply.add_text(intro)
    for n, idea in enumerate(out.value, 1):
        reply.add_text(format_idea(n, idea))
        reply.buttons.append(
            [
                Button(f"{n}. Caption", f"idea:cap:{idea.id}"),
                Button("Save", f"idea:save:{idea.id}"),
                Button("More like this", f"idea:more:{idea.id}"),
            ]
        )
    if out.degraded:
        reply.add_text(LIMITED)
    return reply


async def _idea(ctx: Context, args: list[str]) -> Idea:
    idea_id = parse_id(args[1]) if len(args) > 1 else None
    idea = await ctx.app.store.ideas.get(ctx.account_id, idea_id) if idea_id else None
    if idea is None:
        raise NotFound("I can't find that idea any more. Ask for new ones with /ideas.")
    return idea


def register(reg: Registry) -> None:
    @reg.command(
        "ideas",
        "Content ideas fitted to your profile",
        usage="/ideas [count 1-10] [conservative|balanced|creative] [platform]",
        args=IdeasArgs,
        examples=["/ideas 5", "/ideas 3 creative tiktok"],
        needs_profile=True,
    )
    async def ideas(ctx: Context, args: IdeasArgs) -> Reply:
        profile = await ctx.profile() or Profile()
        seed = ctx.seed("ideas", args.count, args.creativity, args.platform, ctx.request_id)
        out = await ctx.app.ideas.generate(
            ctx.account_id, profile, args.count, args.creativity, args.platform, seed
        )
        return ideas_reply(out, f"Here are {len(out.value)} ideas for you:")

    @reg.action("idea")
    async def idea_action(ctx: Context, args: list[str]) -> Reply:
        verb = args[0] if args else ""
        idea = await _idea(ctx, args)
        if verb == "save":
            await ctx.app.store.ideas.set_saved(ctx.account_id, idea.id or 0, True)
            return Reply.text(f"Saved “{escape_markup(idea.title)}” to your ideas.")
        profile = await ctx.profile() or Profile()
        if verb == "cap":
            topic = f"{idea.title}. {idea.hook or idea.description}"
            seed = ctx.seed("cap", idea.id, ctx.request_id)
            out = await ctx.app.captions.caption(
                ctx.account_id, profile, topic, idea.platform, seed
            )
            return caption_reply(out)
        if verb == "more":
            seed = ctx.seed("more", idea.id, ctx.request_id)
            out = await ctx.app.ideas.generate(
                ctx.account_id, profile, 3, "balanced", idea.platform, seed, like=idea
            )
            return ideas_reply(out, f"More like “{escape_markup(idea.title)}”:")
        return Reply.text("That button no longer works. Try /ideas again.")
