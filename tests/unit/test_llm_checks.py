"""LLM answers are fixed or rejected by the same rules as offline drafts."""

from __future__ import annotations

from typing import Any

import pytest

from core.llm.checks import (
    CaptionOut,
    DraftOut,
    DraftsOut,
    HashtagsOut,
    IdeasOut,
    LLMIdea,
    check_caption,
    check_drafts,
    check_hashtags,
    check_ideas,
)
from core.llm.openai_errors import InvalidOutput
from core.models import CaptionRequest, Fan, HashtagRequest, IdeaRequest, Profile
from core.rules import PLATFORM_RULES, contains_restricted, x_length

PROFILE = Profile(
    niches=["fitness"],
    platforms=["instagram"],
    content_types=["photo"],
    equipment=["phone", "ring_light"],
    locations=["gym"],
    restricted_words=["sweaty"],
)


def idea(**kw: Any) -> LLMIdea:
    base: dict[str, Any] = {
        "title": "Mirror pump check",
        "description": "Three angles by the gym mirror after a heavy set.",
        "niche": "fitness",
        "content_type": "photo",
        "platform": "instagram",
        "equipment": ["Ring light"],
        "location": "gym",
        "difficulty": "easy",
        "time_to_create": "30 min",
        "best_time_to_post": "Tue 19:00",
        "tags": ["#GymLife", "fitness", "sweatyselfie"],
        "hook": "Guess the lift",
    }
    base.update(kw)
    return LLMIdea(**base)


def test_valid_ideas_are_kept_and_normalised() -> None:
    req = IdeaRequest(profile=PROFILE, count=2)
    [one] = check_ideas(IdeasOut(ideas=[idea()]), req)
    assert one.equipment == ["ring_light"]  # as the profile spells it
    assert one.tags == ["gymlife", "fitness"]  # cleaned; the restricted tag dropped
    assert one.platform == "instagram" and one.location == "gym"


@pytest.mark.parametrize(
    "bad",
    [
        {"location": "beach"},
        {"content_type": "live"},
        {"equipment": ["drone"]},
        {"platform": "tiktok"},
        {"title": "Old favourite"},
        {"description": "Use {prop} here"},
    ],
)
def test_ideas_outside_the_profile_or_history_are_dropped(bad: dict[str, Any]) -> None:
    req = IdeaRequest(profile=PROFILE, count=3, avoid_titles=["Old  favourite!"])
    good = idea(title="Deadlift diary")
    kept = check_ideas(IdeasOut(ideas=[idea(**bad), good]), req)
    assert [i.title for i in kept] == ["Deadlift diary"]
    with pytest.raises(InvalidOutput) as info:
        check_ideas(IdeasOut(ideas=[idea(**bad)]), req)
    assert info.value.problems


def test_duplicates_restricted_words_and_count() -> None:
    req = IdeaRequest(profile=PROFILE, count=2)
    out = IdeasOut(
        ideas=[
            idea(title="Sweaty leg day", description="A sweaty session, all sets."),
            idea(title="SWEATY leg day!"),  # same title once scrubbed and compared
            idea(title="Back day", niche="cooking", equipment=[]),
            idea(title="Third one"),
        ]
    )
    kept = check_ideas(out, req)
    assert [i.title for i in kept] == ["Leg day", "Back day"]
    assert all(not contains_restricted(i.description + i.title, ["sweaty"]) for i in kept)
    assert kept[1].niche == "fitness"  # fixed to one of the profile's niches
    assert kept[1].equipment == ["phone"]  # empty gear -> the first owned item


def test_caption_is_fitted_and_scrubbed() -> None:
    long = "Sweaty leg day recap: " + "every rep counted and the playlist slapped. " * 20
    out = CaptionOut(text=long + "\n#legday #sweatyset", hashtags=["fitness", "gym", "x1", "x2"])
    draft = check_caption(out, CaptionRequest(profile=PROFILE, topic="legs", platform="x"))
    assert x_length(draft.full_text()) <= PLATFORM_RULES["x"].max_chars
    assert len(draft.hashtags) <= PLATFORM_RULES["x"].max_hashtags
    assert not contains_restricted(draft.full_text(), ["sweaty"])
    assert "#" not in draft.text  # the inline hashtag line moved to the hashtags
    with pytest.raises(InvalidOutput):
        check_caption(
            CaptionOut(text="Sweaty", hashtags=[]),
            CaptionRequest(profile=PROFILE, topic="x", platform="x"),
        )
    with pytest.raises(InvalidOutput):
        check_caption(
            CaptionOut(text="Hi {name}", hashtags=[]),
            CaptionRequest(profile=PROFILE, topic="x", platform="x"),
        )


def test_hashtags_capped_cleaned_and_scrubbed() -> None:
    out = HashtagsOut(hashtags=["#Gym", "gym", "sweatygirl", "legday", "fit", "pump", "glutes"])
    tags = check_hashtags(out, HashtagRequest(profile=PROFILE, topic="t", platform="x", count=15))
    assert tags == ["gym", "legday", "fit"]  # X: at most 3
    with pytest.raises(InvalidOutput):
        check_hashtags(
            HashtagsOut(hashtags=["#", "sweaty"]),
            HashtagRequest(profile=PROFILE, topic="t", platform="instagram"),
        )


def test_drafts_only_for_known_fans_without_placeholders() -> None:
    fans = [Fan(handle="mia"), Fan(handle="bo"), Fan(handle="cy")]
    out = DraftsOut(
        drafts=[
            DraftOut(fan_handle="@MIA", text="Hey Mia, so sweaty today, miss you!"),
            DraftOut(fan_handle="bo", text="Hey {name}!"),
            DraftOut(fan_handle="stranger", text="Hi"),
            DraftOut(fan_handle="cy", text="x" * 3000),
        ]
    )
    drafts = check_drafts(out, fans, ["sweaty"])
    assert set(drafts) == {"mia", "cy"}
    assert "sweaty" not in drafts["mia"] and "Mia" in drafts["mia"]
    assert len(drafts["cy"]) <= 1000
    with pytest.raises(InvalidOutput):
        check_drafts(DraftsOut(drafts=[DraftOut(fan_handle="bo", text="{x}")]), fans, [])


def test_ideas_asked_about_a_topic_are_about_it() -> None:
    # the model's ideas were taken whatever they were about, after "/ideas halloween"
    req = IdeaRequest(profile=PROFILE, count=3, topic="Halloween costumes")
    on = idea(title="Costume reveal", description="Three looks by the gym mirror.")
    also = idea(title="Spooky set", description="A Halloween-themed pump at the gym.")
    off = idea(title="Deadlift diary")
    kept = check_ideas(IdeasOut(ideas=[on, off, also]), req)
    assert [i.title for i in kept] == ["Costume reveal", "Spooky set"]
    with pytest.raises(InvalidOutput, match="not about the topic"):
        check_ideas(IdeasOut(ideas=[off]), req)
    # a place the topic names is where its ideas may happen (as offline)
    beach = IdeaRequest(profile=PROFILE, count=1, topic="a day at the beach")
    [kept_beach] = check_ideas(IdeasOut(ideas=[idea(location="beach", title="Beach day")]), beach)
    assert kept_beach.location == "beach"
