"""The creator's fan list: add, find (with close-match hints), list."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from datetime import date

from core.errors import NotFound
from core.models import Fan
from core.ports import FanPatch, Store

#: One note's length (``/fans note``), and what a fan's notes keep (the newest).
NOTE_LENGTH = 500
NOTES_KEPT = 4000


def normalise_handle(raw: str) -> str:
    return raw.strip().lstrip("@").lower()


@dataclass
class FansService:
    store: Store

    async def save(self, account_id: int, patch: FanPatch) -> tuple[Fan, bool]:
        """A new fan, or the patch's fields over the stored one; ``(fan, added)``."""
        added, _ = await self.store.fan_lists.upsert_many(account_id, [patch])
        fan = await self.store.fans.get(account_id, patch.handle)
        assert fan is not None
        return fan, bool(added)

    async def note(self, account_id: int, handle: str, text: str, today: date) -> Fan:
        """Add a dated line to a fan's own notes (``Fan.journal``; the newest kept when they
        grow too long); NotFound (with close handles) when there is no such fan."""
        fan = await self.get(account_id, handle)
        line = f"{today.isoformat()}: {' '.join(text.split())}"
        journal = f"{fan.journal}\n{line}" if fan.journal else line
        if len(journal) > NOTES_KEPT:
            journal = "…" + journal[-(NOTES_KEPT - 1) :]
        saved, _ = await self.save(account_id, FanPatch(fan.handle, {"journal": journal}))
        return saved

    async def get(self, account_id: int, handle: str) -> Fan:
        key = normalise_handle(handle)
        fan = await self.store.fans.get(account_id, key)
        if fan is not None:
            return fan
        handles = await self.store.fans.handles(account_id)
        close = difflib.get_close_matches(key, handles, n=3, cutoff=0.5)
        hint = f" Close matches: {', '.join('@' + h for h in close)}." if close else ""
        if not handles:
            hint = " Your fan list is empty — add one with /fans add <handle>."
        raise NotFound(f"I don't have a fan called @{key}.{hint}")
