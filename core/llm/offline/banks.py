"""The curated banks in ``core/data/*.json``, loaded once and kept as immutable objects.

Files (all shipped as package data of ``core``):

- ``niches.json``: per niche, themes / props / outfits / moods and signature idea patterns;
- ``idea_patterns.json``: idea patterns by content type (``any`` = every type), shared moods,
  which platforms suit each content type, base minutes per content type;
- ``captions.json``: caption body patterns by tone;
- ``hooks.json``: caption hooks and calls to action by platform, idea hooks by content type;
- ``hashtags.json``: hashtag banks per niche and per platform;
- ``posting_times.json``: good posting slots per platform;
- ``greetings.json``: greetings and closings by fan tier and recency.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

SLOT = re.compile(r"\{(\w+)\}")


def fill(template: str, slots: dict[str, str]) -> str:
    """Replace every ``{slot}``; an unknown slot is a bug in the banks (KeyError)."""
    return SLOT.sub(lambda m: slots[m.group(1)], template)


def capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class Pattern:
    """An idea pattern. ``content_types`` is ``("*",)`` for a pattern that suits every type."""

    key: str
    title: str
    description: str
    hook: str
    level: int
    difficulty: str
    minutes: int
    content_types: tuple[str, ...]
    needs_any: tuple[str, ...] = ()
    locations_any: tuple[str, ...] = ()
    niche: str = ""  # a signature pattern belongs to one niche
    generic: bool = False  # from the "any" group: minutes are added to the type's base

    def suits(self, content_type: str) -> bool:
        return "*" in self.content_types or content_type in self.content_types


@dataclass(frozen=True)
class NicheBank:
    themes: tuple[str, ...]
    props: tuple[str, ...]
    outfits: tuple[str, ...]
    moods: tuple[str, ...]
    signature: tuple[Pattern, ...]


@dataclass(frozen=True)
class Banks:
    niches: dict[str, NicheBank]
    patterns: dict[str, tuple[Pattern, ...]]
    moods: tuple[str, ...]
    platform_fit: dict[str, tuple[str, ...]]
    base_minutes: dict[str, int]
    tones: dict[str, tuple[str, ...]]
    hooks: dict[str, tuple[str, ...]]
    ctas: dict[str, tuple[str, ...]]
    idea_hooks: dict[str, tuple[str, ...]]
    niche_tags: dict[str, tuple[str, ...]]
    platform_tags: dict[str, tuple[str, ...]]
    posting_times: dict[str, tuple[str, ...]]
    greetings: dict[str, Any] = field(default_factory=dict)


def _read(name: str) -> dict[str, Any]:
    text = resources.files("core").joinpath("data", name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _pattern(key: str, raw: dict[str, Any], content_types: list[str], **extra: Any) -> Pattern:
    return Pattern(
        key=key,
        title=raw["title"],
        description=raw["description"],
        hook=raw.get("hook", ""),
        level=int(raw.get("level", 2)),
        difficulty=raw.get("difficulty", "medium"),
        minutes=int(raw.get("minutes", 30)),
        content_types=tuple(raw.get("content_types", content_types)),
        needs_any=tuple(raw.get("needs_any", ())),
        locations_any=tuple(raw.get("locations_any", ())),
        **extra,
    )


def _tuples(d: dict[str, list[str]]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in d.items()}


@cache
def load_banks() -> Banks:
    niches_raw = _read("niches.json")
    ideas_raw = _read("idea_patterns.json")
    hooks_raw = _read("hooks.json")
    tags_raw = _read("hashtags.json")

    niches: dict[str, NicheBank] = {}
    for slug, nb in niches_raw.items():
        niches[slug] = NicheBank(
            themes=tuple(nb["themes"]),
            props=tuple(nb["props"]),
            outfits=tuple(nb["outfits"]),
            moods=tuple(nb.get("moods", ())),
            signature=tuple(
                _pattern(f"{slug}:sig:{i}", p, ["*"], niche=slug)
                for i, p in enumerate(nb.get("signature", ()))
            ),
        )
    patterns: dict[str, tuple[Pattern, ...]] = {}
    for ct, plist in ideas_raw["patterns"].items():
        types = ["*"] if ct == "any" else [ct]
        patterns[ct] = tuple(
            _pattern(f"{ct}:{i}", p, types, generic=ct == "any") for i, p in enumerate(plist)
        )
    return Banks(
        niches=niches,
        patterns=patterns,
        moods=tuple(ideas_raw["moods"]),
        platform_fit=_tuples(ideas_raw["platform_fit"]),
        base_minutes={k: int(v) for k, v in ideas_raw["base_minutes"].items()},
        tones=_tuples(_read("captions.json")["tones"]),
        hooks=_tuples(hooks_raw["hooks"]),
        ctas=_tuples(hooks_raw["ctas"]),
        idea_hooks=_tuples(hooks_raw["idea_hooks"]),
        niche_tags=_tuples(tags_raw["niches"]),
        platform_tags=_tuples(tags_raw["platforms"]),
        posting_times=_tuples(_read("posting_times.json")),
        greetings=_read("greetings.json"),
    )
