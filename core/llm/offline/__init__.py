"""The offline content engine: real drafts from curated data shipped in ``core/data``.

Public API::

    OfflineEngine()                       # ContentGenerator (ideas/caption/hashtags/personalize)
    generate_ideas(req, rng) -> list[Idea]
    generate_caption(req, rng) -> CaptionDraft
    generate_hashtags(req, rng) -> list[str]
    personalize_one(template, fan, profile, today, rng) -> str
    template_problems(template) -> list[str]
    PLACEHOLDERS                          # supported {placeholder} names

Platform limits and restricted-word filtering live in :mod:`core.rules`; vocabularies in
:mod:`core.vocab`.
"""

from core.llm.offline.captions import generate_caption, generate_hashtags
from core.llm.offline.engine import OfflineEngine
from core.llm.offline.ideas import generate_ideas, title_key
from core.llm.offline.personalize import (
    PLACEHOLDER_HELP,
    PLACEHOLDERS,
    personalize_one,
    template_problems,
)

__all__ = [
    "PLACEHOLDERS",
    "PLACEHOLDER_HELP",
    "OfflineEngine",
    "generate_caption",
    "generate_hashtags",
    "generate_ideas",
    "personalize_one",
    "template_problems",
    "title_key",
]
