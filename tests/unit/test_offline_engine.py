"""OfflineEngine: the ContentGenerator port, seeded, labelled offline."""

from __future__ import annotations

import inspect
from datetime import date, timedelta
from decimal import Decimal

from core.llm.offline import OfflineEngine
from core.models import (
    CaptionRequest,
    Fan,
    HashtagRequest,
    IdeaRequest,
    PersonalizeRequest,
    Profile,
)
from core.ports import ContentGenerator
from core.rules import PLATFORM_RULES, contains_restricted

PROFILE = Profile(
    niches=["cosplay"],
    platforms=["instagram", "onlyfans"],
    content_types=["photo_set", "short_video"],
    equipment=["phone", "ring_light"],
    locations=["studio", "bedroom"],
    tone="bold",
    restricted_words=["villain"],
)


def test_offline_engine_has_the_port_methods() -> None:
    engine: ContentGenerator = OfflineEngine()
    for name in ("ideas", "caption", "hashtags", "personalize"):
        port = inspect.signature(getattr(ContentGenerator, name))
        impl = inspect.signature(getattr(engine, name))
        assert inspect.iscoroutinefunction(getattr(engine, name))
        assert list(impl.parameters) == [p for p in port.parameters if p != "self"]


async def test_ideas() -> None:
    engine = OfflineEngine()
    req = IdeaRequest(profile=PROFILE, count=5, seed=12)
    out = await engine.ideas(req, account_id=1)
    assert out.source == "offline" and out.model == "offline" and not out.degraded
    assert len(out.value) == 5
    again = await engine.ideas(req, account_id=1)
    assert [i.model_dump() for i in again.value] == [i.model_dump() for i in out.value]
    other = await engine.ideas(req.model_copy(update={"seed": 13}), account_id=1)
    assert [i.title for i in other.value] != [i.title for i in out.value]
    for idea in out.value:
        assert not contains_restricted(idea.title + " " + idea.description, ["villain"])


async def test_caption_and_hashtags() -> None:
    engine = OfflineEngine()
    cap = await engine.caption(
        CaptionRequest(profile=PROFILE, topic="new witch set", platform="IG", seed=1),
        account_id=1,
    )
    assert cap.source == "offline" and cap.model == "offline"
    assert cap.value.platform == "instagram"
    assert len(cap.value.full_text()) <= PLATFORM_RULES["instagram"].max_chars
    tags = await engine.hashtags(
        HashtagRequest(profile=PROFILE, topic="witch villain set", platform="x", seed=1),
        account_id=1,
    )
    assert tags.source == "offline"
    assert 0 < len(tags.value) <= PLATFORM_RULES["x"].max_hashtags
    assert "villain" not in " ".join(tags.value)
    assert tags.value[0] == "witch"


async def test_personalize_one_draft_per_fan_stable_per_fan() -> None:
    engine = OfflineEngine()
    today = date(2025, 6, 1)
    fans = [
        Fan(handle="ann", name="Ann", tier="whale", last_active=today - timedelta(days=40),
            total_spent=Decimal("900")),
        Fan(handle="bo", tier="new", last_active=today),
        Fan(handle="cy", name="Cy Twombly", tier="vip"),
    ]  # fmt: skip
    req = PersonalizeRequest(
        profile=PROFILE, template="Hey {name}, new set is up!", fans=fans, today=today, seed=3
    )
    out = await engine.personalize(req, account_id=1)
    assert out.source == "offline"
    assert [d.fan_handle for d in out.value] == ["ann", "bo", "cy"]
    assert out.value[0].text.startswith("Hey Ann")
    assert out.value[1].text.startswith("Hey bo")
    assert out.value[2].text.startswith("Hey Cy Twombly")
    # a fan's draft does not depend on who else is in the segment
    alone = await engine.personalize(req.model_copy(update={"fans": [fans[2]]}), account_id=1)
    assert alone.value[0].text == out.value[2].text
