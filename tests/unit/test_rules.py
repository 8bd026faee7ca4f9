"""Platform rules: limits as data, fitting captions, X's weighted length, restricted words."""

from __future__ import annotations

import random
import re

import pytest

from core.rules import (
    ELLIPSIS,
    PLATFORM_RULES,
    X_URL_LENGTH,
    caption_length,
    clean_hashtag,
    clean_hashtags,
    contains_restricted,
    find_restricted,
    find_urls,
    fit_caption,
    rule_for,
    scrub,
    scrub_tags,
    trim_to,
    x_length,
)

_WORDS_TEXT = (
    "sunset beach teaser golden light new set tonight cosy morning workout glam vibes "
    "behind the scenes ocean breeze summer mood silk robe coffee weekend plans studio"
)
WORDS = _WORDS_TEXT.split()


def random_text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


# ---------------------------------------------------------------- the table


def test_platform_limits_are_the_documented_ones() -> None:
    assert PLATFORM_RULES["instagram"].max_chars == 2200
    assert PLATFORM_RULES["instagram"].max_hashtags == 30
    assert PLATFORM_RULES["tiktok"].max_chars == 4000
    assert PLATFORM_RULES["x"].max_chars == 280
    assert PLATFORM_RULES["x"].weighted_length
    assert PLATFORM_RULES["onlyfans"].max_chars == 1000
    assert PLATFORM_RULES["fansly"].max_chars <= 1000
    for slug, rule in PLATFORM_RULES.items():
        assert rule.platform == slug
        assert 0 < rule.suggested_hashtags <= rule.max_hashtags


def test_rule_for_accepts_platform_synonyms() -> None:
    assert rule_for("Twitter").platform == "x"
    assert rule_for("IG").platform == "instagram"
    assert rule_for("OF").platform == "onlyfans"
    assert rule_for("tik tok").platform == "tiktok"
    assert rule_for("somewhere-else").platform == "instagram"  # unknown -> Instagram's limits


# ---------------------------------------------------------------- X length


def test_x_length_plain_text_is_its_length() -> None:
    assert x_length("hello world") == 11
    assert x_length("") == 0


def test_x_length_counts_every_url_as_23() -> None:
    short = "see https://a.co"
    long = "see https://example.com/" + "a" * 200
    assert x_length(short) == 4 + X_URL_LENGTH
    assert x_length(long) == 4 + X_URL_LENGTH
    assert x_length("www.example.com/page and http://x.y.io/z") == X_URL_LENGTH * 2 + 5
    # bare domains count too, as on X
    assert x_length("onlyfans.com/anna") == X_URL_LENGTH
    # trailing punctuation is not part of the URL
    assert x_length("go to https://example.com/abc.") == 6 + X_URL_LENGTH + 1


def test_find_urls_excludes_hashtags_and_mentions() -> None:
    text = "#beach.com @anna.io https://ok.com"
    spans = find_urls(text)
    assert [text[a:b] for a, b in spans] == ["https://ok.com"]


def test_x_length_weights_emoji_and_cjk_double() -> None:
    assert x_length("🔥") == 2
    assert x_length("a🔥b") == 4
    assert x_length("日本") == 4
    assert x_length("👩‍🎤") == 2  # one ZWJ sequence
    assert x_length("café") == 4
    assert caption_length("🔥" * 10, "instagram") == 10


# ---------------------------------------------------------------- hashtags


def test_clean_hashtags() -> None:
    assert clean_hashtag("#Beach Vibes!") == "beachvibes"
    assert clean_hashtag("##") is None
    assert clean_hashtag("#2024") is None
    assert clean_hashtags(["#A", "a", "B", "#b ", "c_d"]) == ["a", "b", "c_d"]


# ---------------------------------------------------------------- fitting


def test_short_caption_is_left_alone() -> None:
    d = fit_caption("Hello there", ["#Sun", "sea"], "instagram")
    assert d.text == "Hello there"
    assert d.hashtags == ["sun", "sea"]
    assert d.platform == "instagram"
    assert d.full_text() == "Hello there\n\n#sun #sea"


def test_hashtags_are_capped_at_the_platform_maximum() -> None:
    tags = [f"tag{i}" for i in range(50)]
    assert len(fit_caption("hi", tags, "instagram").hashtags) == 30
    assert len(fit_caption("hi", tags, "x").hashtags) <= PLATFORM_RULES["x"].max_hashtags


def test_long_text_is_trimmed_on_a_word_boundary_with_an_ellipsis() -> None:
    text = random_text(random.Random(1), 800)
    d = fit_caption(text, ["a", "b"], "onlyfans")
    assert len(d.full_text()) <= 1000
    assert d.text.endswith(ELLIPSIS)
    kept = d.text[: -len(ELLIPSIS)]
    assert text.startswith(kept)
    assert text[len(kept)] == " "  # cut between words, not inside one
    assert d.hashtags  # hashtags keep some room


@pytest.mark.parametrize("platform", sorted(PLATFORM_RULES))
def test_fit_caption_always_within_the_limit(platform: str) -> None:
    rule = PLATFORM_RULES[platform]
    rng = random.Random(platform)
    for _ in range(60):
        text = random_text(rng, rng.randrange(0, 900))
        if rng.random() < 0.3:
            text += " https://example.com/" + "x" * rng.randrange(1, 300)
        if rng.random() < 0.3:
            text = "🔥✨ " + text
        tags = [random_text(rng, 1) + str(i) for i in range(rng.randrange(0, 45))]
        d = fit_caption(text, tags, platform)
        assert rule.measure(d.full_text()) <= rule.max_chars
        assert len(d.hashtags) <= rule.max_hashtags
        assert all(h == h.lower() and not h.startswith("#") for h in d.hashtags)


def test_x_counts_hashtags_and_urls_in_the_limit() -> None:
    text = ("Loved this shoot https://onlyfans.com/" + "anna" * 30 + " ") * 12
    d = fit_caption(text, ["beach", "summer", "sunset"], "x")
    assert x_length(d.full_text()) <= 280
    assert len(d.full_text()) > 280  # the URLs are long, but count 23 each
    # no URL is cut in the middle
    for a, b in find_urls(d.text):
        assert d.text[a:b] in text


def test_x_hashtags_count_toward_the_280() -> None:
    text = "x" * 270
    d = fit_caption(text, ["beach"], "x")
    assert x_length(d.full_text()) <= 280
    assert d.full_text().count("#") == len(d.hashtags)


def test_a_single_huge_word_is_cut_by_characters() -> None:
    d = fit_caption("a" * 5000, [], "x")
    assert d.text.endswith(ELLIPSIS)
    assert x_length(d.full_text()) <= 280


def test_trim_to_never_exceeds_the_budget() -> None:
    rng = random.Random(7)
    for _ in range(100):
        text = random_text(rng, rng.randrange(1, 80))
        budget = rng.randrange(0, 300)
        out = trim_to(text, budget, len)
        assert len(out) <= budget
        if len(text) <= budget:
            assert out == text


# ---------------------------------------------------------------- restricted words


def test_scrub_removes_words_case_insensitively_on_word_boundaries() -> None:
    assert scrub("New LINGERIE set, so soft", ["lingerie"]) == "New set, so soft"
    assert scrub("A classy class", ["ass"]) == "A classy class"
    assert scrub("Tease time: she teases", ["tease"]) == "time: she"


def test_scrub_removes_phrases_and_tidies_punctuation() -> None:
    out = scrub("I love red lingerie, and red shoes.", ["red lingerie"])
    assert out == "I love, and red shoes."
    assert scrub("Hot, spicy, new", ["spicy"]) == "Hot, new"
    assert scrub("spicy! new", ["spicy"]) == "new"


def test_scrub_drops_hashtags_containing_a_restricted_word() -> None:
    out = scrub("Leg day done #gymgirl #fitness #GirlPower", ["girl"])
    assert out == "Leg day done #fitness"
    assert not contains_restricted(out, ["girl"])


def test_scrub_keeps_text_without_restricted_words_unchanged() -> None:
    text = "Hello  there ,  friend\n\n\nbye"
    assert scrub(text, ["nope"]) == text
    assert scrub(text, []) == text
    assert scrub(text, ["", "  "]) == text


def test_contains_and_find_restricted() -> None:
    assert contains_restricted("Check my OnlyFans", ["onlyfans"])
    assert contains_restricted("#gymgirl", ["girl"])
    assert not contains_restricted("girlish charm", ["girl"])
    assert not contains_restricted("anything", [])
    assert find_restricted("a b c", ["b", "d", "C"]) == ["b", "C"]


def test_scrub_tags() -> None:
    assert scrub_tags(["gymgirl", "fitness", "Girl_Power"], ["girl"]) == ["fitness"]
    assert scrub_tags(["redlingerie"], ["red lingerie"]) == []
    assert scrub_tags(["a", "b"], []) == ["a", "b"]


def test_scrub_result_never_contains_the_word() -> None:
    rng = random.Random(3)
    for _ in range(200):
        words = [rng.choice(WORDS) for _ in range(rng.randrange(1, 30))]
        text = " ".join(w.capitalize() if rng.random() < 0.3 else w for w in words)
        text += " #" + rng.choice(WORDS) + rng.choice(WORDS)
        restricted = rng.sample(WORDS, 3)
        out = scrub(text, restricted)
        assert not contains_restricted(out, restricted), (text, restricted, out)
        assert not re.search(r"  |\s[,.!?]", out)
