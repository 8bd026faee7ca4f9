"""Vocabularies: slugs, labels and normalising what users type."""

from __future__ import annotations

import pytest

from core import vocab


@pytest.mark.parametrize(
    ("kind", "raw", "slug"),
    [
        ("equipment", "Ring light", "ring_light"),
        ("equipment", "ringlight", "ring_light"),
        ("equipment", "RING-LIGHTS", "ring_light"),
        ("equipment", "GoPro", "action_camera"),
        ("equipment", "iPhone", "phone"),
        ("platforms", "IG", "instagram"),
        ("platforms", "insta", "instagram"),
        ("platforms", "Instagram", "instagram"),
        ("platforms", "twitter", "x"),
        ("platforms", "X", "x"),
        ("platforms", "OF", "onlyfans"),
        ("platforms", "Only Fans", "onlyfans"),
        ("platforms", "Tik Tok", "tiktok"),
        ("niches", "Beauty & Makeup", "beauty"),
        ("niches", "couple", "couples"),
        ("niches", "Gamer", "gaming"),
        ("niches", "ASMR", "asmr"),
        ("content_types", "Reels", "short_video"),
        ("content_types", "photo sets", "photo_set"),
        ("content_types", "Live stream", "live"),
        ("locations", "Living Room", "living_room"),
        ("locations", "beaches", "beach"),
        ("locations", "swimming pool", "pool"),
        ("goals", "more subs", "more_subscribers"),
        ("goals", "PPV", "increase_ppv"),
        ("tone", "Sexy", "flirty"),
        ("tone", "  Professional ", "professional"),
        ("tones", "bold", "bold"),
        ("niche", "fitness", "fitness"),
    ],
)
def test_normalise(kind: str, raw: str, slug: str) -> None:
    assert vocab.normalise(kind, raw) == slug


@pytest.mark.parametrize("raw", ["knitting", "", "   ", "zzz", "!!!"])
def test_normalise_unknown_is_none(raw: str) -> None:
    assert vocab.normalise("niches", raw) is None


def test_unknown_kind_is_an_error() -> None:
    with pytest.raises(ValueError):
        vocab.normalise("colours", "red")


def test_required_slugs_exist() -> None:
    niches = dict(vocab.choices("niches"))
    assert len(niches) >= 12
    for slug in [
        "fitness", "cosplay", "gaming", "lifestyle", "fashion", "beauty", "travel", "cooking",
        "music", "art", "boudoir", "couples", "asmr", "dance", "yoga",
    ]:  # fmt: skip
        assert slug in niches
    assert [s for s, _ in vocab.choices("platforms")] == [
        "onlyfans", "fansly", "instagram", "tiktok", "x",
    ]  # fmt: skip
    for slug in ["photo", "photo_set", "video", "short_video", "live", "story", "audio", "text"]:
        assert vocab.is_known("content_types", slug)
    for slug in ["phone", "ring_light", "tripod", "dslr", "mirrorless", "gimbal", "microphone",
                 "softbox", "green_screen", "drone"]:  # fmt: skip
        assert vocab.is_known("equipment", slug)
    for slug in ["home", "bedroom", "kitchen", "bathroom", "gym", "beach", "pool", "outdoors",
                 "city", "studio", "car", "hotel"]:  # fmt: skip
        assert vocab.is_known("locations", slug)
    for slug in ["grow_followers", "more_subscribers", "increase_ppv", "engagement", "retention",
                 "brand_deals"]:  # fmt: skip
        assert vocab.is_known("goals", slug)
    for slug in ["playful", "flirty", "friendly", "professional", "bold", "wholesome",
                 "mysterious"]:  # fmt: skip
        assert vocab.is_known("tone", slug)


def test_every_slug_normalises_to_itself_and_from_its_label() -> None:
    for kind in vocab.KINDS:
        for slug, label in vocab.choices(kind):
            assert vocab.normalise(kind, slug) == slug
            assert vocab.normalise(kind, label) == slug
            assert vocab.label(kind, slug) == label


def test_synonyms_point_at_real_slugs() -> None:
    for kind, table in vocab.SYNONYMS.items():
        for alias, slug in table.items():
            assert vocab.is_known(kind, slug), (kind, alias)
            assert vocab.normalise(kind, alias) == slug, (kind, alias)


def test_label_of_a_custom_value_is_readable() -> None:
    assert vocab.label("equipment", "ring_light") == "Ring light"
    assert vocab.label("locations", "my_garden") == "My garden"


def test_suggest_close_matches() -> None:
    assert vocab.suggest("niches", "fitnes") == ["fitness"]
    assert vocab.suggest("equipment", "trpod") == ["tripod"]
    assert vocab.suggest("platforms", "tiktk") == ["tiktok"]
    assert "cosplay" in vocab.suggest("niches", "cosplai")
    assert vocab.suggest("niches", "qqqqqq") == []
    assert vocab.suggest("equipment", "Ring light") == ["ring_light"]


def test_location_phrases() -> None:
    assert vocab.location_phrase("gym") == "at the gym"
    assert vocab.location_phrase("beach") == "on the beach"
    assert vocab.location_phrase("garden_shed") == "at the garden shed"
    for slug in vocab.LOCATIONS:
        assert slug in vocab.LOCATION_PHRASES


def test_normalise_many() -> None:
    known, unknown = vocab.normalise_many("equipment", ["Ring light", "ringlight", "Webcam2000"])
    assert known == ["ring_light"]
    assert unknown == ["Webcam2000"]
