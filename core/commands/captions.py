"""/caption and /hashtags."""

from __future__ import annotations

import re

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Reply, escape_markup
from core.commands.registry import Registry
from core.context import Context
from core.errors import UsageError
from core.models import CaptionDraft, Generated, PlatformName, Profile
from core.rules import rule_for

LIMITED = "_Limited mode: the AI service is unavailable, so this comes from the offline engine._"


class TopicArgs(BaseModel):
    text: str = Field(min_length=1, max_length=1000, description="What the post is about")
    platform: PlatformName | None = Field(None, description="Where you will post")


def parse_topic(raw: str) -> dict[str, str]:
    """``<free text> [platform]``: a trailing platform word is the platform ("for tiktok" too)."""
    text = raw.strip()
    if not text:
        raise UsageError("Tell me what the post is about.")
    head, _, last = text.rpartition(" ")
    platform = vocab.normalise("platforms", last) if head else None
    if platform:
        head = re.sub(r"\s+(?:for|on|to)$", "", head.strip(), flags=re.IGNORECASE)  # "… for x"
        return {"text": head.strip(), "platform": platform}
    return {"text": text}


def _platform(args: TopicArgs, profile: Profile) -> str:
    return args.platform or (profile.platforms[0] if profile.platforms else "instagram")


def caption_reply(out: Generated[CaptionDraft]) -> Reply:
    draft = out.value
    rule = rule_for(draft.platform)
    full = draft.full_text()
    reply = Reply.text(
        f"**Caption for {escape_markup(draft.platform)}** "
        f"({rule.measure(full)}/{rule.max_chars} characters, {len(draft.hashtags)} hashtags)",
        result=draft.model_dump(mode="json"),
        degraded=out.degraded,
    )
    reply.add_text(escape_markup(full))
    if out.degraded:
        reply.add_text(LIMITED)
    return reply


def register(reg: Registry) -> None:
    @reg.command(
        "caption",
        "A caption with hashtags for a platform",
        usage="/caption <what the post is about> [platform]",
        args=TopicArgs,
        parser=parse_topic,
        examples=["/caption beach teaser for instagram", "/caption new gym set x"],
    )
    async def caption(ctx: Context, args: TopicArgs) -> Reply:
        profile = await ctx.profile() or Profile()
        platform = _platform(args, profile)
        seed = ctx.seed("caption", args.text, platform, ctx.request_id)
        out = await ctx.app.captions.caption(ctx.account_id, profile, args.text, platform, seed)
        return caption_reply(out)

    @reg.command(
        "hashtags",
        "Hashtags for a topic, within the platform's limit",
        usage="/hashtags <topic> [platform]",
        args=TopicArgs,
        parser=parse_topic,
        examples=["/hashtags cosplay photoshoot instagram"],
    )
    async def hashtags(ctx: Context, args: TopicArgs) -> Reply:
        profile = await ctx.profile() or Profile()
        platform = _platform(args, profile)
        seed = ctx.seed("hashtags", args.text, platform, ctx.request_id)
        out = await ctx.app.captions.hashtags(ctx.account_id, profile, args.text, platform, seed)
        reply = Reply.text(
            f"**{len(out.value)} hashtags for {escape_markup(platform)}**",
            result=out.value,
            degraded=out.degraded,
        )
        reply.add_text(escape_markup(" ".join("#" + t for t in out.value)))
        if out.degraded:
            reply.add_text(LIMITED)
        return reply
