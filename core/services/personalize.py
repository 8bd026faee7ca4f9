"""Personalised message drafts: the creator reviews and sends them herself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.errors import UsageError
from core.llm.offline.personalize import template_problems
from core.models import Fan, Generated, MessageDraft, PersonalizeRequest, Profile
from core.ports import ContentGenerator


@dataclass
class PersonalizeService:
    generator: ContentGenerator

    async def drafts(
        self,
        account_id: int,
        profile: Profile,
        template: str,
        fans: list[Fan],
        today: date,
        seed: int,
        currency: str = "USD",
    ) -> Generated[list[MessageDraft]]:
        problems = template_problems(template)
        if problems:
            raise UsageError("That template has a problem: " + "; ".join(problems) + ".")
        req = PersonalizeRequest(
            profile=profile,
            template=template,
            fans=fans,
            today=today,
            seed=seed,
            currency=currency,
        )
        return await self.generator.personalize(req, account_id=account_id)
