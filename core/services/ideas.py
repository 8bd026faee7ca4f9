"""Content ideas: asks the generator, never repeats a recent title, stores what it gave.

A topic ("/ideas halloween") is kept on each idea, so "More like this" stays on it."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import Creativity, Generated, Idea, IdeaRequest, Profile
from core.ports import ContentGenerator, Store


@dataclass
class IdeasService:
    store: Store
    generator: ContentGenerator
    recent_window: int = 50

    async def generate(
        self,
        account_id: int,
        profile: Profile,
        count: int,
        creativity: Creativity,
        platform: str | None,
        seed: int,
        like: Idea | None = None,
        topic: str | None = None,
    ) -> Generated[list[Idea]]:
        if topic is None and like is not None:  # "More like this" stays on the idea's topic
            topic = like.topic or None
        recent = await self.store.ideas.recent_titles(account_id, limit=self.recent_window)
        req = IdeaRequest(
            profile=profile,
            count=count,
            creativity=creativity,
            platform=platform,
            avoid_titles=recent,
            like=like,
            topic=topic,
            seed=seed,
        )
        out = await self.generator.ideas(req, account_id=account_id)
        ideas = [i.model_copy(update={"topic": topic or ""}) for i in out.value]
        stored = await self.store.ideas.add_many(account_id, ideas)
        return out.model_copy(update={"value": stored})
