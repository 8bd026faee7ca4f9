"""The creator's fan list: add, find (with close-match hints), list."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from core.errors import NotFound
from core.models import Fan
from core.ports import Store


def normalise_handle(raw: str) -> str:
    return raw.strip().lstrip("@").lower()


@dataclass
class FansService:
    store: Store

    async def add(self, account_id: int, fan: Fan) -> Fan:
        return await self.store.fans.upsert(
            account_id, fan.model_copy(update={"handle": normalise_handle(fan.handle)})
        )

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
