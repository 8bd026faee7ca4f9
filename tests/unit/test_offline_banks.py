"""The curated banks: coverage, well-formed slots, shipped as package data, tasteful."""

from __future__ import annotations

import re
import tomllib
from fnmatch import fnmatch
from importlib import resources
from pathlib import Path

import pytest

from core import vocab
from core.llm.offline.banks import SLOT, Pattern, fill, load_banks

IDEA_SLOTS = {
    "theme": "leg day",
    "Theme": "Leg day",
    "at_location": "at the gym",
    "location": "gym",
    "prop": "a kettlebell",
    "outfit": "a gym set",
    "mood": "cinematic",
    "gear": "your phone",
    "platform": "Instagram",
    "content": "photo",
}
TIERS = ["new", "regular", "vip", "whale"]
RECENCIES = ["active", "recent", "lapsing", "lapsed", "unknown"]
EXPLICIT = re.compile(r"\b(?:nude|nudes|naked|sex|porn|xxx|nsfw|explicit|fetish)\b", re.I)


def all_patterns() -> list[Pattern]:
    banks = load_banks()
    out = [p for plist in banks.patterns.values() for p in plist]
    out += [p for nb in banks.niches.values() for p in nb.signature]
    return out


def all_strings() -> list[str]:
    banks = load_banks()
    out: list[str] = []
    for nb in banks.niches.values():
        out += [*nb.themes, *nb.props, *nb.outfits, *nb.moods]
    for p in all_patterns():
        out += [p.title, p.description, p.hook]
    for group in (banks.tones, banks.hooks, banks.ctas, banks.idea_hooks):
        for values in group.values():
            out += list(values)
    for group in (banks.niche_tags, banks.platform_tags):
        for values in group.values():
            out += list(values)
    g = banks.greetings
    for tier in TIERS:
        out += g["salutations"][tier]
        for r in RECENCIES:
            out += g["recency_lines"][tier][r] + g["closings"][tier][r]
    return out


def test_every_bank_covers_at_least_12_niches_and_every_known_niche() -> None:
    banks = load_banks()
    assert len(banks.niches) >= 12
    assert len(banks.niche_tags) >= 12
    for slug in vocab.NICHES:
        assert slug in banks.niches, slug
        assert slug in banks.niche_tags, slug


@pytest.mark.parametrize("niche", sorted(vocab.NICHES))
def test_niche_banks_are_deep_enough(niche: str) -> None:
    banks = load_banks()
    nb = banks.niches[niche]
    assert len(set(nb.themes)) >= 20
    assert len(set(nb.props)) >= 8
    assert len(set(nb.outfits)) >= 8
    assert nb.signature
    tags = banks.niche_tags[niche]
    assert len(set(tags)) >= 25
    assert len(set(tags)) == len(tags)
    assert all(re.fullmatch(r"[a-z0-9]+", t) for t in tags), tags


def test_platform_banks_cover_every_platform() -> None:
    banks = load_banks()
    for slug in vocab.PLATFORMS:
        assert len(banks.hooks[slug]) >= 5, slug
        assert len(banks.ctas[slug]) >= 5, slug
        assert len(banks.platform_tags[slug]) >= 8, slug
        assert banks.posting_times[slug], slug
        for t in banks.posting_times[slug]:
            assert re.fullmatch(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) ([01]\d|2[0-3]):[0-5]\d", t), t


def test_caption_patterns_cover_every_tone_and_use_the_topic() -> None:
    banks = load_banks()
    for tone in vocab.TONES:
        assert len(banks.tones[tone]) >= 6, tone
        for body in banks.tones[tone]:
            assert {m.group(1) for m in SLOT.finditer(body)} & {"topic", "Topic"}, body
            assert fill(body, {"topic": "x", "Topic": "X"})


def test_idea_patterns_cover_every_content_type_and_level() -> None:
    banks = load_banks()
    for ct in vocab.CONTENT_TYPES:
        plist = banks.patterns[ct]
        assert len(plist) >= 6, ct
        assert {p.level for p in plist} == {1, 2, 3}, ct
        assert ct in banks.platform_fit and ct in banks.base_minutes and ct in banks.idea_hooks
    for p in all_patterns():
        assert p.level in (1, 2, 3)
        assert p.difficulty in ("easy", "medium", "hard")
        assert all(vocab.is_known("equipment", e) for e in p.needs_any), p
        assert all(vocab.is_known("locations", e) for e in p.locations_any), p
        assert all(c == "*" or vocab.is_known("content_types", c) for c in p.content_types), p


def test_every_idea_template_fills_without_leftover_braces() -> None:
    for p in all_patterns():
        for template in (p.title, p.description, p.hook):
            out = fill(template, IDEA_SLOTS)  # KeyError on an unknown slot
            assert "{" not in out and "}" not in out, template
        assert "{theme}" in p.title or "{Theme}" in p.title, p.title


def test_greetings_cover_every_tier_and_recency() -> None:
    g = load_banks().greetings
    for tier in TIERS:
        assert g["salutations"][tier]
        assert all("{first_name}" in s for s in g["salutations"][tier])
        assert g["tier_flourish"][tier]
        assert tier in g["tier_words"]
        for r in RECENCIES:
            assert g["recency_lines"][tier][r], (tier, r)
            assert all(c.strip() for c in g["closings"][tier][r]), (tier, r)
    assert "whale" not in g["tier_words"].values()


def test_banks_are_tasteful() -> None:
    for text in all_strings():
        assert not EXPLICIT.search(text), text


def test_data_files_ship_as_package_data() -> None:
    """Every bank is a JSON file matched by pyproject's package-data glob for ``core``."""
    root = Path(__file__).resolve().parents[2]
    config = tomllib.loads((root / "pyproject.toml").read_text())
    globs = config["tool"]["setuptools"]["package-data"]["core"]
    data_dir = resources.files("core").joinpath("data")
    names = [f.name for f in data_dir.iterdir() if f.is_file()]
    assert {"niches.json", "idea_patterns.json", "hashtags.json", "greetings.json"} <= set(names)
    for name in names:
        assert any(fnmatch(f"data/{name}", g) for g in globs), name


def test_banks_load_once() -> None:
    assert load_banks() is load_banks()
