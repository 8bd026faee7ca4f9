"""What an LLM answer must satisfy before it reaches a user: fixed, or rejected.

The LLM path obeys the same rules as the offline engine (see ``core/llm/offline``):

- ideas use only the profile's content types, equipment and locations (none listed: ``photo``,
  ``phone``, ``home``), the requested platform (else one of the profile's), one of the profile's
  niches; no title is in ``avoid_titles`` or repeated; no ``{placeholder}`` is left; asked
  about a topic, each idea uses one of its words, and may happen where the topic says ("day at
  the beach": at the beach);
- restricted words are scrubbed from every text (:func:`core.rules.scrub`), hashtags containing
  one are dropped (:func:`core.rules.scrub_tags`);
- captions are fitted to the platform (:func:`core.rules.fit_caption`), hashtag lists capped;
- message drafts keep no braces and stay within :data:`MAX_MESSAGE_CHARS`;
- a /stats narrative uses no number that is not in the figures it was given (nor in their
  rule-based narrative), and stays within :data:`MAX_NARRATIVE_CHARS`.

What can be fixed is fixed (scrubbing, trimming, a niche label, gear spelled differently); what
cannot (a location the creator doesn't have, a repeated title) is dropped, and the caller fills
the gap with offline drafts. When nothing usable is left, :class:`InvalidOutput` is raised with
the reasons (they feed the repair prompt).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from core import vocab
from core.llm.offline.banks import capitalise
from core.llm.offline.ideas import about, title_key, topic_places
from core.llm.openai_errors import InvalidOutput
from core.models import CaptionDraft, CaptionRequest, Fan, HashtagRequest, Idea, IdeaRequest
from core.rules import (
    clean_hashtags,
    contains_restricted,
    fit_caption,
    platform_slug,
    rule_for,
    scrub,
    scrub_tags,
    tidy,
    trim_to,
)
from core.services.analytics import ungrounded_numbers

__all__ = [
    "MAX_DESCRIPTION_CHARS",
    "MAX_HOOK_CHARS",
    "MAX_MESSAGE_CHARS",
    "MAX_TITLE_CHARS",
    "Allowed",
    "CaptionOut",
    "DraftOut",
    "DraftsOut",
    "HashtagsOut",
    "IdeaFrame",
    "IdeasOut",
    "LLMIdea",
    "check_caption",
    "check_drafts",
    "check_hashtags",
    "check_ideas",
    "hashtag_limit",
]

MAX_TITLE_CHARS = 100
MAX_DESCRIPTION_CHARS = 600
MAX_HOOK_CHARS = 200
MAX_MESSAGE_CHARS = 1000  # a DM draft; OnlyFans/Fansly messages are kept short in practice
MAX_NARRATIVE_CHARS = 900  # a few sentences under the /stats figures
MAX_ADVICE_CHARS = 1500  # an answer to a question asked in a sentence: one chat message
_MAX_SHORT = 40


# ---------------------------------------------------------------------- output models
# The JSON schemas sent to the model are derived from these (core.llm.prompts.strict_schema).


class LLMIdea(BaseModel):
    title: str = Field(description="Short and specific, at most 80 characters")
    description: str = Field(description="What to shoot or write, 1-3 sentences")
    niche: str
    content_type: str
    platform: str
    equipment: list[str] = Field(description="Gear from the creator's list only")
    location: str
    difficulty: Literal["easy", "medium", "hard"]
    time_to_create: str = Field(description='e.g. "45 min" or "2 h"')
    best_time_to_post: str = Field(description='weekday and 24-hour time, e.g. "Tue 19:00"')
    tags: list[str] = Field(description="3 to 5 hashtags without '#'")
    hook: str = Field(description="The first line a viewer reads")


class IdeasOut(BaseModel):
    ideas: list[LLMIdea]


class CaptionOut(BaseModel):
    text: str = Field(description="The caption without hashtags")
    hashtags: list[str] = Field(description="Hashtags without '#'")


class HashtagsOut(BaseModel):
    hashtags: list[str] = Field(description="Hashtags without '#', most relevant first")


class DraftOut(BaseModel):
    fan_handle: str
    text: str


class NarrativeOut(BaseModel):
    narrative: str = Field(description="2 to 4 short plain-text sentences for the creator")


class AdviceOut(BaseModel):
    answer: str = Field(description="A short, practical plain-text answer for the creator")


class DraftsOut(BaseModel):
    drafts: list[DraftOut]


# ---------------------------------------------------------------------- allowed values


def _slug(kind: str, raw: str) -> str:
    return vocab.normalise(kind, raw) or re.sub(r"[\s_-]+", "_", raw.strip().lower())


@dataclass(frozen=True)
class Allowed:
    """Allowed values of one profile field: slug -> the value as the profile spells it."""

    kind: str
    items: dict[str, str]

    @classmethod
    def of(cls, kind: str, values: Iterable[str], default: str) -> Allowed:
        items: dict[str, str] = {}
        for raw in values:
            if raw and raw.strip():
                items.setdefault(_slug(kind, raw), raw.strip())
        return cls(kind, items or {default: default})

    @property
    def values(self) -> list[str]:
        return list(self.items.values())

    @property
    def first(self) -> str:
        return next(iter(self.items.values()))

    def match(self, raw: str) -> str | None:
        """The profile's spelling of ``raw`` when it is one of the allowed values."""
        if not raw or not raw.strip():
            return None
        return self.items.get(_slug(self.kind, raw))


@dataclass(frozen=True)
class IdeaFrame:
    """Everything an idea may use, resolved once per request (shared by prompt and checks)."""

    content_types: Allowed
    equipment: Allowed
    locations: Allowed
    platforms: Allowed
    niches: Allowed
    restricted: tuple[str, ...]
    avoid: frozenset[str]
    topic: str | None = None

    @classmethod
    def of(cls, req: IdeaRequest) -> IdeaFrame:
        p = req.profile
        platforms = [req.platform] if req.platform else p.platforms
        avoid = {title_key(t) for t in req.avoid_titles}
        if req.like is not None:
            avoid.add(title_key(req.like.title))
        return cls(
            content_types=Allowed.of("content_types", p.content_types, "photo"),
            equipment=Allowed.of("equipment", p.equipment, "phone"),
            locations=Allowed.of("locations", topic_places(req.topic) or p.locations, "home"),
            platforms=Allowed.of("platforms", [platform_slug(x) for x in platforms], "instagram"),
            niches=Allowed.of("niches", p.niches, "lifestyle"),
            restricted=tuple(w for w in p.restricted_words if w and w.strip()),
            avoid=frozenset(avoid),
            topic=req.topic,
        )


# ---------------------------------------------------------------------- helpers


def _has_braces(*texts: str) -> bool:
    return any("{" in t or "}" in t for t in texts)


def _clean_text(text: str, restricted: Iterable[str], limit: int) -> str:
    out = scrub(tidy(text), list(restricted))
    return trim_to(out, limit, len) if len(out) > limit else out


def _short(text: str, default: str) -> str:
    t = " ".join(text.split())
    return t if t and len(t) <= _MAX_SHORT and not _has_braces(t) else default


# ---------------------------------------------------------------------- ideas


def _check_idea(raw: LLMIdea, frame: IdeaFrame) -> tuple[Idea | None, str]:
    ct = frame.content_types.match(raw.content_type)
    if ct is None:
        return None, f"content_type {raw.content_type!r} is not one of the creator's"
    location = frame.locations.match(raw.location)
    if location is None:
        return None, f"location {raw.location!r} is not one of the creator's"
    platform = frame.platforms.match(raw.platform)
    if platform is None:
        return None, f"platform {raw.platform!r} is not allowed here"
    gear: list[str] = []
    for item in raw.equipment:
        owned = frame.equipment.match(item)
        if owned is None:
            return None, f"equipment {item!r} is not in the creator's kit"
        if owned not in gear:
            gear.append(owned)
    if _has_braces(raw.title, raw.description, raw.hook):
        return None, "a text still has a {placeholder}"
    restricted = frame.restricted
    title = capitalise(_clean_text(raw.title, restricted, MAX_TITLE_CHARS).replace("\n", " "))
    description = capitalise(_clean_text(raw.description, restricted, MAX_DESCRIPTION_CHARS))
    if not title or not description:
        return None, "title or description is empty"
    hook = capitalise(_clean_text(raw.hook, restricted, MAX_HOOK_CHARS))
    if restricted and contains_restricted(f"{title}\n{description}\n{hook}", restricted):
        return None, "uses a restricted word"
    if not about(f"{title}\n{description}", frame.topic):
        return None, f"title {title!r} and its description are not about the topic"
    idea = Idea(
        title=title,
        description=description,
        niche=frame.niches.match(raw.niche) or frame.niches.first,
        content_type=ct,
        platform=platform_slug(platform),
        equipment=gear or [frame.equipment.first],
        location=location,
        difficulty=raw.difficulty,
        time_to_create=_short(raw.time_to_create, "30 min"),
        best_time_to_post=_short(raw.best_time_to_post, ""),
        tags=scrub_tags(clean_hashtags(raw.tags), restricted)[:5],
        hook=hook,
    )
    return idea, ""


def check_ideas(out: IdeasOut, req: IdeaRequest, frame: IdeaFrame | None = None) -> list[Idea]:
    """The usable ideas of an answer (at most ``req.count``), fixed where possible.

    Raises :class:`InvalidOutput` when none is usable.
    """
    frame = frame or IdeaFrame.of(req)
    kept: list[Idea] = []
    seen: set[str] = set(frame.avoid)
    problems: list[str] = []
    for raw in out.ideas:
        if len(kept) >= req.count:
            break
        idea, problem = _check_idea(raw, frame)
        if idea is None:
            problems.append(problem)
            continue
        key = title_key(idea.title)
        if key in seen:
            problems.append(f"title {idea.title!r} repeats a recent or earlier one")
            continue
        seen.add(key)
        kept.append(idea)
    if not kept:
        raise InvalidOutput(list(dict.fromkeys(problems)) or ["no ideas in the answer"])
    return kept


# ---------------------------------------------------------------------- captions and hashtags

_TAG_LINE = re.compile(r"^(?:\s*#[\w]+)+\s*$")


def _split_tag_lines(text: str) -> tuple[str, list[str]]:
    """Hashtag-only lines at the end of ``text`` moved out (models often add them inline)."""
    lines = text.rstrip().split("\n")
    tags: list[str] = []
    while lines and _TAG_LINE.match(lines[-1]):
        tags = re.findall(r"#(\w+)", lines.pop()) + tags
    return "\n".join(lines), tags


def hashtag_limit(platform: str, wanted: int | None = None) -> int:
    rule = rule_for(platform)
    return rule.max_hashtags if wanted is None else max(0, min(wanted, rule.max_hashtags))


def check_caption(out: CaptionOut, req: CaptionRequest) -> CaptionDraft:
    """A draft within the platform's limits and without restricted words, or InvalidOutput."""
    platform = platform_slug(req.platform)
    restricted = [w for w in req.profile.restricted_words if w and w.strip()]
    if _has_braces(out.text):
        raise InvalidOutput(["the caption still has a {placeholder}"])
    text, inline = _split_tag_lines(out.text)
    text = scrub(tidy(text), restricted)
    if not text:
        raise InvalidOutput(["the caption text is empty"])
    tags = scrub_tags(clean_hashtags([*out.hashtags, *inline]), restricted)
    draft = fit_caption(text, tags, platform)
    if not draft.text or (restricted and contains_restricted(draft.full_text(), restricted)):
        raise InvalidOutput(["the caption could not be fitted to the platform rules"])
    return draft


def check_hashtags(out: HashtagsOut, req: HashtagRequest) -> list[str]:
    restricted = [w for w in req.profile.restricted_words if w and w.strip()]
    tags = scrub_tags(clean_hashtags(out.hashtags), restricted)
    tags = tags[: hashtag_limit(req.platform, req.count)]
    if not tags:
        raise InvalidOutput(["no usable hashtags"])
    return tags


# ---------------------------------------------------------------------- message drafts


def fan_key(handle: str) -> str:
    return handle.strip().lstrip("@").lower()


def check_drafts(out: DraftsOut, fans: list[Fan], restricted: Iterable[str]) -> dict[str, str]:
    """Usable drafts by fan handle (only for the given fans); InvalidOutput when none is."""
    words = [w for w in restricted if w and w.strip()]
    wanted = {fan_key(f.handle): f.handle for f in fans}
    drafts: dict[str, str] = {}
    problems: list[str] = []
    for d in out.drafts:
        handle = wanted.get(fan_key(d.fan_handle))
        if handle is None or handle in drafts:
            problems.append(f"unexpected fan_handle {d.fan_handle!r}")
            continue
        if _has_braces(d.text):
            problems.append(f"the draft for {handle} still has a {{placeholder}}")
            continue
        text = _clean_text(d.text, words, MAX_MESSAGE_CHARS)
        if not text:
            problems.append(f"the draft for {handle} is empty")
            continue
        drafts[handle] = text
    if not drafts:
        raise InvalidOutput(list(dict.fromkeys(problems)) or ["no drafts in the answer"])
    return drafts


def check_advice(out: AdviceOut, restricted: Sequence[str]) -> str:
    """The answer, restricted words scrubbed; InvalidOutput when it is empty, too long or holds
    a ``{placeholder}``."""
    text = scrub(tidy(out.answer), list(restricted)).strip()
    if not text:
        raise InvalidOutput(["the answer is empty"])
    if len(text) > MAX_ADVICE_CHARS:
        raise InvalidOutput([f"the answer is longer than {MAX_ADVICE_CHARS} characters"])
    if _has_braces(text):
        raise InvalidOutput(["the answer still has a {placeholder}"])
    return text


def check_narrative(out: NarrativeOut, sources: Iterable[str]) -> str:
    """The narrative, or InvalidOutput when it is empty, too long, or mentions a number that
    none of ``sources`` (the figures as JSON, the rule-based narrative) contains."""
    text = " ".join(out.narrative.split())
    if not text:
        raise InvalidOutput(["the narrative is empty"])
    if len(text) > MAX_NARRATIVE_CHARS:
        raise InvalidOutput([f"the narrative is longer than {MAX_NARRATIVE_CHARS} characters"])
    invented = sorted(str(n) for n in ungrounded_numbers(text, sources))
    if invented:
        raise InvalidOutput(
            [
                f"it mentions numbers that are not in the figures ({', '.join(invented[:5])}): "
                "use only the numbers given, written the same way"
            ]
        )
    return text
