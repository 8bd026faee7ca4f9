"""``OfflineEngine``: the ``ContentGenerator`` built from the curated banks.

The embedded default when no LLM is configured, and the fallback when the LLM fails. Every call
is pure computation on data loaded once (well under 10 ms), seeded with ``random.Random(seed)``:
the same request and seed give the same answer.
"""

from __future__ import annotations

import random

from core.llm.offline.banks import load_banks
from core.llm.offline.captions import generate_caption, generate_hashtags
from core.llm.offline.ideas import generate_ideas
from core.llm.offline.personalize import personalize_one
from core.models import (
    CaptionDraft,
    CaptionRequest,
    Generated,
    HashtagRequest,
    Idea,
    IdeaRequest,
    MessageDraft,
    PersonalizeRequest,
)

MODEL = "offline"


class OfflineEngine:
    """Implements :class:`core.ports.ContentGenerator` without any network."""

    name = MODEL

    def __init__(self, *, preload: bool = True) -> None:
        if preload:
            load_banks()  # fail at start-up, not on the first request, if a bank is broken

    async def ideas(self, req: IdeaRequest, *, account_id: int) -> Generated[list[Idea]]:
        value = generate_ideas(req, random.Random(req.seed))
        return Generated[list[Idea]](value=value, source="offline", model=MODEL)

    async def caption(self, req: CaptionRequest, *, account_id: int) -> Generated[CaptionDraft]:
        value = generate_caption(req, random.Random(req.seed))
        return Generated[CaptionDraft](value=value, source="offline", model=MODEL)

    async def hashtags(self, req: HashtagRequest, *, account_id: int) -> Generated[list[str]]:
        value = generate_hashtags(req, random.Random(req.seed))
        return Generated[list[str]](value=value, source="offline", model=MODEL)

    async def personalize(
        self, req: PersonalizeRequest, *, account_id: int
    ) -> Generated[list[MessageDraft]]:
        # One generator per fan, derived from the request seed: a fan's draft does not change
        # when the segment around them does.
        drafts = [
            MessageDraft(
                fan_handle=fan.handle,
                text=personalize_one(
                    req.template,
                    fan,
                    req.profile,
                    req.today,
                    random.Random(f"{req.seed}:{fan.handle}"),
                    req.currency,
                ),
            )
            for fan in req.fans
        ]
        return Generated[list[MessageDraft]](value=drafts, source="offline", model=MODEL)
