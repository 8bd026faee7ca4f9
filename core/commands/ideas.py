"""/ideas, /week, /saved and the idea buttons (Caption · Save · More like this · Remove)."""

from __future__ import annotations

import difflib
import typing
from datetime import date, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, Reply, escape_markup
from core.commands.captions import LIMITED, caption_reply
from core.commands.registry import Registry, split_args
from core.commands.reminders import post_reminder, remind_button
from core.context import Context
from core.errors import NotFound, UsageError
from core.llm.offline.banks import load_banks
from core.models import Creativity, Generated, Idea, PlatformName, Profile, parse_id
from core.rules import contains_restricted
from core.timezones import get_zone, zone_label

ContentTypeName = Literal[
    "photo", "photo_set", "video", "short_video", "live", "story", "audio", "text"
]
_PLATFORMS = frozenset(typing.get_args(PlatformName))
_CREATIVITY = frozenset(typing.get_args(Creativity))
# Words people put around what they ask for: "/ideas 3 reels for instagram please".
_FILLER = frozenset(
    {
        *("idea", "ideas", "for", "on", "about", "some", "me", "give", "more", "please", "new"),
        *("my", "a", "an", "the", "of", "post", "posts", "content", "next", "this", "week"),
        *("today", "tonight", "fans", "followers", "subscribers", "subs", "page", "feed"),
    }
)
SAVED_SHOWN = 10  # saved ideas listed at once (as many as one /ideas gives)
_TYPO = 0.88  # difflib ratio: "instagran" 0.89, "tiktk" 0.91 pass; "tiktoker" 0.86 does not


class IdeaOptions(BaseModel):
    """What /ideas and /week take alike."""

    creativity: Creativity = Field("balanced", description="How adventurous")
    platform: PlatformName | None = Field(None, description="Where you will post")
    content_type: ContentTypeName | None = Field(
        None, description="Only this kind (reels, photo sets, lives...); default: your profile's"
    )
    topic: str | None = Field(
        None, max_length=80, description="What the ideas are about (halloween, red lace set)"
    )


class IdeasArgs(IdeaOptions):
    count: int = Field(5, ge=1, le=10, description="How many ideas (1-10)")


WEEK_DAYS = 7


class WeekArgs(IdeaOptions):
    count: int = Field(WEEK_DAYS, ge=1, le=WEEK_DAYS, description="Days to plan (1-7)")


def _typo(word: str) -> dict[str, str]:
    """A creativity or platform mistyped ("creatve", "instagran", "fansley"): one letter off in
    a long word, so that a topic's words are not taken for one ("creator", "tiktoker")."""
    if len(word) < 5 or " " in word:
        return {}
    if close := difflib.get_close_matches(word, sorted(_CREATIVITY), n=1, cutoff=_TYPO):
        return {"creativity": close[0]}
    platform = vocab.correct("platforms", word, cutoff=_TYPO)
    return {"platform": platform} if platform in _PLATFORMS else {}


def parse_ideas(raw: str) -> dict[str, Any]:
    """``/ideas 3 reels about halloween for OF``: a number, a creativity, a platform and a
    content type in any order, as people say them (platform and content-type synonyms, two-word
    types such as "photo set", a mistyped creativity or platform), filler words ignored; the
    other words are the topic, as written ("day at the beach"); ``key=value`` too."""
    values: dict[str, Any] = {}
    tokens = split_args(raw)
    topic: list[int] = []  # positions of the topic's words
    filler: set[int] = set()
    skip = False
    for n, token in enumerate(tokens):
        if skip:
            skip = False
            continue
        low = token.lower().strip(",.!?")
        key, sep, value = low.partition("=")
        pair = f"{low} {tokens[n + 1].lower().strip(',.!?')}" if n + 1 < len(tokens) else ""
        if sep and key in IdeasArgs.model_fields:
            values[key] = token.partition("=")[2] if key == "topic" else value
        elif low.lstrip("-").isdigit():  # "-3": refused with the range, not as a word
            values["count"] = low
        elif low in _CREATIVITY:
            values["creativity"] = low
        elif pair and (kind := vocab.normalise("content_types", pair)):
            values["content_type"], skip = kind, True  # "photo set", "short video"
        elif token == "OF":  # OnlyFans, not "of"
            values["platform"] = "onlyfans"
        elif low in _FILLER or not low:
            filler.add(n)
        elif (kind := vocab.normalise("content_types", low)) and low.rstrip("s") not in _PLATFORMS:
            values["content_type"] = kind  # "reels" is a kind of post, "tiktok" a platform
        elif (platform := vocab.normalise("platforms", low)) in _PLATFORMS:
            values["platform"] = platform
        elif typo := _typo(low):
            values.update(typo)
        else:
            topic.append(n)
    if topic and "topic" not in values:
        # the topic's words with the small words between them: "day at the beach"
        span = range(topic[0], topic[-1] + 1)
        words = [tokens[i].strip(",.!?").lstrip("#") for i in span if i in filler or i in topic]
        values["topic"] = " ".join(w for w in words if w)
    return values


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


async def _generate(
    ctx: Context, args: IdeaOptions, count: int
) -> tuple[Generated[list[Idea]], str | None, str | None]:
    """``count`` ideas as ``args`` ask: (the ideas, the content type asked for, the topic)."""
    profile = await ctx.profile() or Profile()
    kind = args.content_type
    if kind:  # asked for one kind: the ideas are all of it, whatever the profile lists
        profile = profile.model_copy(update={"content_types": [kind]})
    topic = " ".join((args.topic or "").split()) or None
    if topic and contains_restricted(topic, profile.restricted_words):
        raise UsageError(
            f"“{escape_markup(topic)}” has one of your restricted words in it, and ideas "
            "never use them (see /profile show)."
        )
    seed = ctx.seed("ideas", count, args.creativity, args.platform, kind, topic, ctx.request_id)
    out = await ctx.app.ideas.generate(
        ctx.account_id, profile, count, args.creativity, args.platform, seed, topic=topic
    )
    return out, kind, topic


def _day(day: date) -> str:
    return f"{day:%a %b} {day.day}"  # "Tue Dec 8"


def _when(day: date, times: dict[str, tuple[str, ...]], platform: str) -> str:
    return f"{_day(day)}, {_slot(times, platform, day)}"


def _slot(times: dict[str, tuple[str, ...]], platform: str, day: date) -> str:
    """A good time to post on ``platform`` that day: its first listed slot for the weekday,
    else the platform's most listed hour ("19:00" when the platform has none)."""
    slots = times.get(platform) or times.get("instagram") or ()
    weekday = f"{day:%a}"
    same_day = [s.split()[1] for s in slots if s.split()[0] == weekday]
    if same_day:
        return same_day[0]
    hours = [s.split()[1] for s in slots]
    return max(sorted(set(hours)), key=hours.count) if hours else "19:00"


async def _idea(ctx: Context, args: list[str]) -> Idea:
    idea_id = parse_id(args[1]) if len(args) > 1 else None
    idea = await ctx.app.store.ideas.get(ctx.account_id, idea_id) if idea_id else None
    if idea is None:
        raise NotFound("I can't find that idea any more. Ask for new ones with /ideas.")
    return idea


def register(reg: Registry) -> None:
    @reg.command(
        "ideas",
        "Ideas for your profile",
        usage="/ideas [1-10] [conservative|balanced|creative] [platform] [content type] [topic]",
        args=IdeasArgs,
        parser=parse_ideas,
        examples=["/ideas 5", "/ideas 3 reels for instagram", "/ideas 3 creative halloween"],
        needs_profile=True,
    )
    async def ideas(ctx: Context, args: IdeasArgs) -> Reply:
        out, kind, topic = await _generate(ctx, args, args.count)
        what = f" {vocab.label('content_types', kind).lower()}" if kind else ""
        about = f" about “{escape_markup(topic)}”" if topic else " for you"
        return ideas_reply(out, f"Here are {len(out.value)}{what} ideas{about}:")

    @reg.command(
        "week",
        "One idea a day, up to 7 days",
        usage="/week [1-7] [creativity] [platform] [content type] [topic]",
        args=WeekArgs,
        parser=parse_ideas,
        examples=["/week", "/week 3 tiktok", "/week halloween"],
        needs_profile=True,
    )
    async def week(ctx: Context, args: WeekArgs) -> Reply:
        out, _, topic = await _generate(ctx, args, args.count)
        zone = await ctx.timezone()
        first = await ctx.today() + timedelta(days=1)
        days = [first + timedelta(days=n) for n in range(len(out.value))]
        times = load_banks().posting_times
        planned = [
            idea.model_copy(update={"best_time_to_post": _when(day, times, idea.platform)})
            for idea, day in zip(out.value, days, strict=True)
        ]
        about = f" about “{escape_markup(topic)}”" if topic else ""
        span = f"{_day(days[0])} – {_day(days[-1])}" if days else ""
        plan = "Your week" if len(days) == WEEK_DAYS else f"Your next {len(days)} days"
        reply = ideas_reply(out.model_copy(update={"value": planned}), f"**{plan}{about}: {span}**")
        reply.add_text(
            f"Times are good slots for each platform, on your clock ({zone_label(zone)})."
        )
        clock = get_zone(zone)
        posts = [
            (
                datetime.combine(day, time.fromisoformat(_slot(times, idea.platform, day)), clock),
                post_reminder(idea),
            )
            for idea, day in zip(out.value, days, strict=True)
        ]
        if button := await remind_button(ctx, posts):
            reply.buttons.append([button])
        return reply

    @reg.command("saved", "Ideas you saved", usage="/saved")
    async def saved(ctx: Context, args: None) -> Reply:
        ideas = await ctx.app.store.ideas.saved(ctx.account_id, limit=SAVED_SHOWN + 1)
        if not ideas:
            return Reply.text(
                "No saved ideas yet. Press Save under an idea from /ideas to keep it here.",
                result=[],
            )
        more = len(ideas) > SAVED_SHOWN
        ideas = ideas[:SAVED_SHOWN]
        reply = Reply(result=[i.model_dump(mode="json") for i in ideas])
        reply.add_text(f"Your {SAVED_SHOWN} newest saved ideas:" if more else "Your saved ideas:")
        for n, idea in enumerate(ideas, 1):
            reply.add_text(format_idea(n, idea))
            reply.buttons.append(
                [
                    Button(f"{n}. Caption", f"idea:cap:{idea.id}"),
                    Button("More like this", f"idea:more:{idea.id}"),
                    Button("Remove", f"idea:unsave:{idea.id}"),
                ]
            )
        if more:
            reply.add_text("Remove the ones you have made to see older ones.")
        return reply

    @reg.action("idea")
    async def idea_action(ctx: Context, args: list[str]) -> Reply:
        verb = args[0] if args else ""
        idea = await _idea(ctx, args)
        if verb in ("save", "unsave"):
            await ctx.app.store.ideas.set_saved(ctx.account_id, idea.id or 0, verb == "save")
            if verb == "save":
                return Reply.text(f"Saved “{escape_markup(idea.title)}”. /saved lists your ideas.")
            return Reply.text(f"Removed “{escape_markup(idea.title)}” from your saved ideas.")
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
