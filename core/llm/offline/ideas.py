"""Content ideas from the curated banks: pattern x niche theme x location x gear.

Rules (see DESIGN.md):

- only the profile's content types, equipment (none listed -> ``phone``) and locations (none ->
  ``home``); an idea's equipment is a subset of the profile's, values kept as the profile spells
  them; platform = the request's, else one of the profile's that suits the content type;
- niche = one of the profile's known niches (none known -> ``lifestyle``);
- a ``topic`` is every idea's theme; the niches it names (or, with none in the profile, the
  ones its words point at: "red lace" -> boudoir) join the profile's, and the places it names
  ("day at the beach") are the ideas' locations;
- no two titles in one answer are the same (case and punctuation ignored) and none is in
  ``avoid_titles``; ``like`` keeps the niche, content type and location of that idea;
- ``creativity`` weights proven (level 1) vs unusual (level 3) patterns; when the preferred pool
  runs dry every level is used rather than repeating a title;
- restricted words never appear in a title, description, hook or tag (the profile's own
  location/equipment values are the only fields taken verbatim);
- every ``{slot}`` is filled; same request + same seed -> same ideas.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass

from core import vocab
from core.llm.offline.banks import SLOT, Banks, Pattern, capitalise, fill, load_banks
from core.llm.offline.captions import known_niches, stem, topic_tags, topic_words
from core.models import Creativity, Idea, IdeaRequest
from core.rules import (
    NON_WORD,
    clean_hashtag,
    clean_hashtags,
    contains_restricted,
    scrub_tags,
)

DEFAULT_NICHE = "lifestyle"
DEFAULT_EQUIPMENT = "phone"
DEFAULT_LOCATION = "home"
DEFAULT_CONTENT_TYPE = "photo"
DEFAULT_PLATFORM = "instagram"

CAPTURE: dict[str, tuple[str, ...]] = {  # what records each content type, best first
    "photo": ("phone", "dslr", "mirrorless", "action_camera"),
    "photo_set": ("phone", "dslr", "mirrorless", "action_camera"),
    "video": ("phone", "dslr", "mirrorless", "action_camera", "webcam"),
    "short_video": ("phone", "dslr", "mirrorless", "action_camera"),
    "live": ("phone", "webcam", "dslr", "mirrorless"),
    "story": ("phone", "action_camera"),
    "audio": ("microphone", "phone"),
    "text": ("phone",),
}
ANY_CAPTURE = ("phone", "dslr", "mirrorless", "action_camera", "webcam")
LIGHTS = ("ring_light", "softbox", "led_panel", "reflector")
SUPPORTS = ("tripod", "gimbal", "remote_shutter")
AUDIO_GEAR = ("microphone",)
EXTRAS: dict[str, tuple[tuple[str, ...], ...]] = {
    "photo": (LIGHTS, SUPPORTS),
    "photo_set": (LIGHTS, SUPPORTS),
    "video": (LIGHTS, SUPPORTS, AUDIO_GEAR),
    "short_video": (LIGHTS, SUPPORTS),
    "live": (LIGHTS, SUPPORTS, AUDIO_GEAR),
    "story": (LIGHTS,),
    "audio": (),
    "text": (),
}

LEVEL_WEIGHTS: dict[str, dict[int, float]] = {
    "conservative": {1: 4.0, 2: 1.0, 3: 0.0},
    "balanced": {1: 2.0, 2: 2.0, 3: 1.0},
    "creative": {1: 0.0, 2: 1.0, 3: 3.0},
}
ALL_LEVELS = {1: 1.0, 2: 1.0, 3: 1.0}

SAMPLE_ATTEMPTS = 80  # random tries per idea before the exhaustive walk
EXHAUSTIVE_CAP = 6000  # titles rendered at most by the exhaustive walk


_SLUG_GAPS = re.compile(r"[\s-]+")
_SPACE_RUNS = re.compile(r"[ \t]{2,}")
_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.;:!?])")


@functools.lru_cache(maxsize=8192)
def title_key(title: str) -> str:
    """How titles are compared: case, punctuation and spacing ignored. Cached: each request
    compares against the account's 50 most recent titles, mostly the same from one to the next."""
    return " ".join(NON_WORD.sub(" ", title.lower()).split())


@dataclass(frozen=True)
class _Item:
    """A profile value: the slug used for logic and the value as the profile spells it."""

    slug: str
    raw: str


def topic_places(topic: str | None) -> list[str]:
    """The locations a topic names ("day at the beach" -> beach): where its ideas happen."""
    places = (vocab.normalise("locations", w) for w in topic_words(topic or ""))
    return list(dict.fromkeys(p for p in places if p))


def about(text: str, topic: str | None) -> bool:
    """Whether ``text`` is about ``topic``: it uses one of the topic's words (plurals aside);
    a topic of small words only ("a b") says nothing to check."""
    wanted = {stem(w) for w in topic_words(topic or "")}
    return not wanted or bool(wanted & {stem(w) for w in topic_words(text, limit=10_000)})


def _items(kind: str, values: list[str], default: str) -> list[_Item]:
    out: list[_Item] = []
    for raw in values:
        if not raw or not raw.strip():
            continue
        slug = vocab.normalise(kind, raw) or _SLUG_GAPS.sub("_", raw.strip().lower())
        if all(i.slug != slug for i in out):
            out.append(_Item(slug, raw))
    return out or [_Item(default, default)]


def _gear_phrase(item: _Item) -> str:
    lab = (
        vocab.label("equipment", item.slug) if vocab.is_known("equipment", item.slug) else item.raw
    )
    lab = lab.strip()
    if len(lab) > 1 and not lab[1].isupper():
        lab = lab[:1].lower() + lab[1:]
    return f"your {lab}"


def _location_label(item: _Item) -> str:
    if vocab.is_known("locations", item.slug):
        return vocab.label("locations", item.slug).lower()
    return item.raw.strip().lower()


def _content_label(slug: str) -> str:
    names = {
        "photo": "photo",
        "photo_set": "photo set",
        "video": "video",
        "short_video": "short video",
        "live": "live stream",
        "story": "story series",
        "audio": "voice note",
        "text": "text post",
    }
    return names.get(slug, slug.replace("_", " "))


def _render(template: str, slots: dict[str, str]) -> str:
    """Fill the slots; an empty slot leaves no double space or space before punctuation."""
    text = _SPACE_RUNS.sub(" ", fill(template, slots))
    text = _SPACE_BEFORE_PUNCT.sub(r"\1", text)
    return capitalise(text.strip())


def _format_minutes(minutes: int) -> str:
    minutes = max(5, round(minutes / 5.0) * 5)
    if minutes < 60:
        return f"{minutes} min"
    h, m = divmod(minutes, 60)
    return f"{h} h {m} min" if m else f"{h} h"


class _Planner:
    """Everything one request needs, resolved once."""

    def __init__(self, req: IdeaRequest, banks: Banks) -> None:
        p = req.profile
        self.req = req
        self.banks = banks
        self.restricted = [w for w in p.restricted_words if w and w.strip()]
        niches = [
            s for s in (vocab.normalise("niches", n) for n in p.niches) if s and s in banks.niches
        ]
        self.niches: list[str] = list(dict.fromkeys(niches)) or [DEFAULT_NICHE]
        self.topic = " ".join((req.topic or "").split())
        self.topic_places: set[str] = set()
        if self.topic:
            named = known_niches(p, topic_words(self.topic), banks)
            self.niches = [n for n in named if n in banks.niches] or self.niches
        self.content_types = _items("content_types", p.content_types, DEFAULT_CONTENT_TYPE)
        self.equipment = _items("equipment", p.equipment, DEFAULT_EQUIPMENT)
        self.locations = _items("locations", p.locations, DEFAULT_LOCATION)
        if self.topic:  # "a day at the beach" happens at the beach, whatever the profile lists
            places = topic_places(self.topic)
            self.topic_places = set(places)
            self.locations = [_Item(s, s) for s in places] or self.locations
        # platforms are always slugs: the rules table and the banks are keyed by them
        wanted = [req.platform] if req.platform else p.platforms
        self.platforms = [
            _Item(i.slug, i.slug) for i in _items("platforms", wanted, DEFAULT_PLATFORM)
        ]
        self.like_theme: str | None = None
        like = req.like
        if like is not None:
            lniche = vocab.normalise("niches", like.niche) or like.niche
            if lniche in banks.niches:
                self.niches = [lniche]
            ct = vocab.normalise("content_types", like.content_type) or like.content_type
            self.content_types = [_Item(ct, like.content_type)]
            loc = vocab.normalise("locations", like.location) or like.location
            self.locations = [_Item(loc, like.location)]
            if req.platform is None and like.platform:
                slug = vocab.normalise("platforms", like.platform) or like.platform
                self.platforms = [_Item(slug, slug)]
            lower = like.title.lower()
            found = [t for t in banks.niches[self.niches[0]].themes if t.lower() in lower]
            self.like_theme = max(found, key=len) if found else None
        self.avoid = {title_key(t) for t in req.avoid_titles}
        if like is not None:
            self.avoid.add(title_key(like.title))
        self._pieces: dict[tuple[str, str], tuple[str, ...]] = {}
        self._pools: dict[tuple[str, str, str, bool], list[Pattern]] = {}

    # -- banks filtered by the restricted words -------------------------------------------

    def _ok(self, text: str) -> bool:
        return not self.restricted or not contains_restricted(text, self.restricted)

    def pieces(self, niche: str, kind: str) -> tuple[str, ...]:
        key = (niche, kind)
        if key not in self._pieces:
            nb = self.banks.niches[niche]
            raw: tuple[str, ...] = {
                "themes": nb.themes,
                "props": nb.props,
                "outfits": nb.outfits,
                "moods": nb.moods + self.banks.moods,
            }[kind]
            if kind == "themes" and self.topic:
                raw = (self.topic,)
            kept = tuple(x for x in raw if self._ok(x))
            fallback = {
                "themes": (vocab.label("niches", niche).lower() + " content",),
                "props": ("your favourite prop",),
                "outfits": ("your favourite outfit",),
                "moods": ("fresh",),
            }[kind]
            self._pieces[key] = kept or tuple(x for x in fallback if self._ok(x)) or ("new",)
        return self._pieces[key]

    def pool(self, niche: str, ct: _Item, loc: _Item, any_level: bool) -> list[Pattern]:
        key = (niche, ct.slug, loc.slug, any_level)
        if key not in self._pools:
            banks = self.banks
            candidates = [
                *banks.patterns.get(ct.slug, ()),
                *(p for p in banks.patterns.get("any", ()) if p.suits(ct.slug)),
                *(p for p in banks.niches[niche].signature if p.suits(ct.slug)),
            ]
            owned = {e.slug for e in self.equipment}
            weights = ALL_LEVELS if any_level else LEVEL_WEIGHTS[self.creativity]
            self._pools[key] = [
                p
                for p in candidates
                if (not p.needs_any or any(n in owned for n in p.needs_any))
                and (not p.locations_any or loc.slug in p.locations_any)
                and weights.get(p.level, 0.0) > 0
                and (
                    not self.restricted
                    or self._ok(SLOT.sub(" ", f"{p.title}\n{p.description}\n{p.hook}"))
                )
            ]
        return self._pools[key]

    @property
    def creativity(self) -> Creativity:
        return self.req.creativity

    def weight(self, p: Pattern, any_level: bool) -> float:
        w = (ALL_LEVELS if any_level else LEVEL_WEIGHTS[self.creativity]).get(p.level, 0.0)
        return w * (1.5 if p.niche else 1.0)  # signature formats are a little more likely

    # -- building one idea -------------------------------------------------------------------

    def slots(
        self,
        niche: str,
        ct: _Item,
        loc: _Item,
        gear: _Item | None,
        platform: str,
        rng: random.Random,
    ) -> dict[str, str]:
        return {
            # a text post has no location worth naming; a topic naming it has named it already
            "at_location": ""
            if ct.slug == "text" or loc.slug in self.topic_places
            else vocab.location_phrase(loc.slug),
            "location": _location_label(loc),
            "prop": rng.choice(self.pieces(niche, "props")),
            "outfit": rng.choice(self.pieces(niche, "outfits")),
            "mood": rng.choice(self.pieces(niche, "moods")),
            "gear": _gear_phrase(gear) if gear else "your camera",
            "platform": vocab.label("platforms", platform)
            if platform in vocab.PLATFORMS
            else platform,
            "content": _content_label(ct.slug),
        }

    def platform_for(self, ct: _Item, rng: random.Random) -> str:
        slugs = [p.slug for p in self.platforms]
        if len(slugs) == 1:
            return slugs[0]
        fit = self.banks.platform_fit.get(ct.slug, ())
        suited = [s for s in slugs if s in fit]
        return rng.choice(suited or slugs)

    def equipment_for(
        self, p: Pattern, ct: _Item, rng: random.Random
    ) -> tuple[list[_Item], _Item | None]:
        """(the idea's equipment — a subset of the profile's —, the piece named in the text)."""
        owned = self.equipment
        chosen: list[_Item] = []
        needed = [e for e in owned if e.slug in p.needs_any]
        if needed:
            chosen.append(rng.choice(needed))
        capture = CAPTURE.get(ct.slug, ANY_CAPTURE)
        main: _Item | None = chosen[0] if chosen else None
        if not (chosen and chosen[0].slug in capture):
            cams = [e for e in owned if e.slug in capture and e not in chosen]
            custom = [e for e in owned if not vocab.is_known("equipment", e.slug)]
            pick = cams or (custom if ct.slug != "text" else [])
            if pick:
                cam = rng.choice(pick)
                chosen.append(cam)
                main = main or cam
        for group in EXTRAS.get(ct.slug, (LIGHTS, SUPPORTS)):
            extra = [e for e in owned if e.slug in group and e not in chosen]
            if extra and rng.random() < 0.6:
                chosen.append(rng.choice(extra))
        return chosen, main

    def tags_for(self, niche: str, theme: str, rng: random.Random) -> list[str]:
        bank = list(self.banks.niche_tags.get(niche, ()))
        picks = rng.sample(bank, k=min(3, len(bank))) if bank else []
        # a short theme is one tag (#sunsetyoga); a longer topic gives its longest word or pair
        short = len(theme.split()) <= 3
        theme_tag = clean_hashtag(theme) if short else max(topic_tags(theme), key=len, default="")
        tags = clean_hashtags([t for t in (theme_tag, niche, *picks) if t])
        return scrub_tags(tags, self.restricted)[:5]

    def build(
        self,
        p: Pattern,
        niche: str,
        ct: _Item,
        loc: _Item,
        theme: str,
        rng: random.Random,
    ) -> Idea:
        platform = self.platform_for(ct, rng)
        equipment, gear = self.equipment_for(p, ct, rng)
        slots = self.slots(niche, ct, loc, gear, platform, rng)
        slots.update(theme=theme, Theme=capitalise(theme))
        hook_t = p.hook or rng.choice(self.banks.idea_hooks.get(ct.slug, ("",)) or ("",))
        minutes = p.minutes + (self.banks.base_minutes.get(ct.slug, 30) if p.generic else 0)
        times = self.banks.posting_times.get(platform) or self.banks.posting_times[DEFAULT_PLATFORM]
        return Idea(
            title=_render(p.title, slots),
            description=_render(p.description, slots),
            niche=niche,
            content_type=ct.raw,
            platform=platform,
            equipment=[e.raw for e in equipment],
            location=loc.raw,
            difficulty=p.difficulty if p.difficulty in ("easy", "medium", "hard") else "medium",
            time_to_create=_format_minutes(minutes),
            best_time_to_post=rng.choice(times),
            tags=self.tags_for(niche, theme, rng),
            hook=_render(hook_t, slots),
        )

    def clean(self, idea: Idea) -> bool:
        if not self.restricted:
            return True
        text = "\n".join([idea.title, idea.description, idea.hook, " ".join(idea.tags)])
        return not contains_restricted(text, self.restricted)


def _weighted_choice(
    items: list[Pattern], planner: _Planner, any_level: bool, rng: random.Random
) -> Pattern:
    weights = [planner.weight(p, any_level) for p in items]
    return rng.choices(items, weights=weights, k=1)[0]


def _exhaustive(
    planner: _Planner, rng: random.Random
) -> Iterator[tuple[Pattern, str, _Item, _Item, str]]:
    """Every (pattern, niche, content type, location, theme), in a seeded random order."""
    niches = list(planner.niches)
    cts = list(planner.content_types)
    locs = list(planner.locations)
    rng.shuffle(niches)
    rng.shuffle(cts)
    rng.shuffle(locs)
    for niche in niches:
        themes = list(planner.pieces(niche, "themes"))
        rng.shuffle(themes)
        for ct in cts:
            for loc in locs:
                pool = list(planner.pool(niche, ct, loc, any_level=True))
                rng.shuffle(pool)
                for theme in themes:
                    for p in pool:
                        yield p, niche, ct, loc, theme


def generate_ideas(req: IdeaRequest, rng: random.Random) -> list[Idea]:
    """``req.count`` ideas fitted to the profile (fewer only if the banks truly run out)."""
    planner = _Planner(req, load_banks())
    out: list[Idea] = []
    seen: set[str] = set()
    used_patterns: set[str] = set()
    used_themes: set[str] = set()
    ct_uses: dict[str, int] = {c.slug: 0 for c in planner.content_types}
    start = rng.randrange(len(planner.niches))

    def accept(idea: Idea, p: Pattern, theme: str, ct: _Item) -> None:
        out.append(idea)
        seen.add(title_key(idea.title))
        used_patterns.add(p.key)
        used_themes.add(theme)
        ct_uses[ct.slug] = ct_uses.get(ct.slug, 0) + 1

    while len(out) < req.count:
        made = False
        for attempt in range(SAMPLE_ATTEMPTS):
            strict = attempt < SAMPLE_ATTEMPTS // 2
            any_level = attempt >= (SAMPLE_ATTEMPTS * 3) // 4
            if attempt < 8:
                niche = planner.niches[(start + len(out)) % len(planner.niches)]
            else:
                niche = rng.choice(planner.niches)
            least = min(ct_uses.get(c.slug, 0) for c in planner.content_types)
            cts = [c for c in planner.content_types if ct_uses.get(c.slug, 0) == least]
            ct = rng.choice(cts if strict else planner.content_types)
            loc = rng.choice(planner.locations)
            pool = planner.pool(niche, ct, loc, any_level)
            if strict:
                pool = [p for p in pool if p.key not in used_patterns] or pool
            if not pool:
                continue
            p = _weighted_choice(pool, planner, any_level, rng)
            themes = planner.pieces(niche, "themes")
            if planner.like_theme and planner.like_theme in themes and rng.random() < 0.5:
                theme = planner.like_theme
            else:
                fresh = [t for t in themes if t not in used_themes] if strict else []
                theme = rng.choice(fresh or list(themes))
            idea = planner.build(p, niche, ct, loc, theme, rng)
            k = title_key(idea.title)
            if k in seen or k in planner.avoid or not planner.clean(idea):
                continue
            accept(idea, p, theme, ct)
            made = True
            break
        if made:
            continue
        # The random tries ran dry: walk every combination once, in a seeded order.
        rendered = 0
        for p, niche, ct, loc, theme in _exhaustive(planner, rng):
            rendered += 1
            if rendered > EXHAUSTIVE_CAP:
                break
            idea = planner.build(p, niche, ct, loc, theme, rng)
            k = title_key(idea.title)
            if k in seen or k in planner.avoid or not planner.clean(idea):
                continue
            accept(idea, p, theme, ct)
            made = True
            break
        if not made:
            break
    return out
