"""Captions and hashtags fitted to a platform's rules."""

from __future__ import annotations

from dataclasses import dataclass

from core.models import CaptionDraft, CaptionRequest, Generated, HashtagRequest, Profile
from core.ports import ContentGenerator, Store


@dataclass
class CaptionsService:
    store: Store
    generator: ContentGenerator

    async def caption(
        self, account_id: int, profile: Profile, topic: str, platform: str, seed: int
    ) -> Generated[CaptionDraft]:
        req = CaptionRequest(profile=profile, topic=topic, platform=platform, seed=seed)
        out = await self.generator.caption(req, account_id=account_id)
        await self.store.captions.add(account_id, topic, out.value)
        return out

    async def hashtags(
        self, account_id: int, profile: Profile, topic: str, platform: str, seed: int
    ) -> Generated[list[str]]:
        req = HashtagRequest(profile=profile, topic=topic, platform=platform, seed=seed)
        return await self.generator.hashtags(req, account_id=account_id)
