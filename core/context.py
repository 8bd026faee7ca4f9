"""What a command handler gets: the message, the account, and the assistant's services."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from core.chat import Incoming
from core.models import Account, Profile
from core.timezones import account_timezone, get_zone

if TYPE_CHECKING:
    from core.app import Assistant


@dataclass
class Context:
    incoming: Incoming
    account: Account
    app: Assistant
    request_id: str

    @property
    def account_id(self) -> int:
        return self.account.id

    @property
    def dialog_key(self) -> str:
        u = self.incoming.user
        return f"dialog:{u.platform}:{self.incoming.chat_id}:{u.id}"

    _profile: Profile | None = field(default=None, init=False, repr=False)
    _profile_loaded: bool = field(default=False, init=False, repr=False)

    async def profile(self) -> Profile | None:
        """The account's profile, read once per request."""
        if not self._profile_loaded:
            self._profile = await self.app.store.profiles.get(self.account.id)
            self._profile_loaded = True
        return self._profile

    async def timezone(self) -> str:
        """The account's time zone name ("" when none: UTC), even when the stored profile is
        unreadable (``core.timezones.account_timezone``)."""
        if self._profile_loaded:
            return self._profile.timezone if self._profile is not None else ""
        return await account_timezone(self.app.store.profiles, self.account.id)

    async def today(self) -> date:
        """Today's date on the account's clock (what "inactive:14d" and fans' last-active
        dates are counted against)."""
        return self.app.clock.now().astimezone(get_zone(await self.timezone())).date()

    async def currency(self) -> str:
        """What the fan list's money (total spent) is in: the currency most of the account's
        earnings are in, USD before any import."""
        return await self.app.store.earnings.currency(self.account.id) or "USD"

    def preload_profile(self, profile: Profile) -> None:
        """The profile as already read (with the account, or just saved): no second read."""
        self._profile, self._profile_loaded = profile, True

    async def save_profile(self, profile: Profile) -> None:
        await self.app.store.profiles.save(self.account.id, profile)
        self.preload_profile(profile)

    def seed(self, *parts: object) -> int:
        """A stable seed from the account and the request's own inputs."""
        text = "|".join(str(p) for p in (self.account.id, *parts))
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")
