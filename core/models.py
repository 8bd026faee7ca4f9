"""Domain models shared by the engine, the services and the storage ports.

Plain pydantic models: no I/O, no framework. Vocabulary values are lower-case slugs
(``fitness``, ``onlyfans``, ``ring_light``); the data banks in ``core/data`` use the same slugs.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

PlatformName = Literal["onlyfans", "fansly", "instagram", "tiktok", "x"]
Creativity = Literal["conservative", "balanced", "creative"]
Difficulty = Literal["easy", "medium", "hard"]

# Bounds of what the database holds, checked where input arrives (chat arguments, CSV rows) so
# an absurd number is a clear answer, never a failed write: money columns are NUMERIC(12, 2)
# (and BIGINT cents), row ids are BIGINT, counts INTEGER.
MAX_AMOUNT = Decimal("9999999999")
MAX_ID = 2**63 - 1
MAX_COUNT = 2**31 - 1  # INTEGER columns: offers sent and bought


def parse_id(text: str) -> int | None:
    """A row id written in a button's payload (which a modified client can forge): plain ASCII
    digits within BIGINT, else None."""
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


def clean_text(value: str) -> str:
    """``value`` as a database can store it: no NUL characters (PostgreSQL refuses them in
    text) and no lone surrogates (they cannot be encoded as UTF-8), each dropped or replaced.
    Applied where text enters core: chat messages, identities, file names, CSV cells."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-8", "replace").decode("utf-8")
    return value


class Profile(BaseModel):
    """A creator's profile: what the engine fits every draft to."""

    model_config = ConfigDict(extra="ignore")

    niches: list[str] = Field(default_factory=list)
    platforms: list[str] = Field(default_factory=list)
    content_types: list[str] = Field(default_factory=list)
    equipment: list[str] = Field(default_factory=list)
    locations: list[str] = Field(default_factory=list)
    goals: list[str] = Field(default_factory=list)
    tone: str = "friendly"
    restricted_words: list[str] = Field(default_factory=list)
    #: The creator's clock (``core.timezones``): "" is UTC. Export times without an offset are
    #: read in it, /stats days and hours are counted in it, summaries arrive at 08:00 in it.
    timezone: str = ""

    def is_complete(self) -> bool:
        return bool(self.niches and self.platforms and self.content_types)


class Idea(BaseModel):
    """One content idea. ``id`` is set once stored."""

    id: int | None = None
    title: str
    description: str
    niche: str
    content_type: str
    platform: str
    equipment: list[str] = Field(default_factory=list)
    location: str
    difficulty: Difficulty = "medium"
    time_to_create: str = "30 min"
    best_time_to_post: str = ""
    tags: list[str] = Field(default_factory=list)
    hook: str = ""
    topic: str = ""  # what the creator asked the ideas to be about ("/ideas halloween")
    saved: bool = False


class CaptionDraft(BaseModel):
    """A caption and its hashtags, already fitted to the platform's limits."""

    text: str
    hashtags: list[str] = Field(default_factory=list)
    platform: str

    def full_text(self) -> str:
        if not self.hashtags:
            return self.text
        return f"{self.text}\n\n{' '.join('#' + h for h in self.hashtags)}"


FanTier = Literal["new", "regular", "vip", "whale"]


_USER_NUMBER = re.compile(r"(?:u|id|user|fan)?[_-]?\d{4,}", re.IGNORECASE)


class Fan(BaseModel):
    """A fan in a creator's list. ``handle`` is unique per account, stored lower-case."""

    handle: str
    name: str = ""
    tier: FanTier = "regular"
    total_spent: Decimal = Decimal("0")
    last_active: date | None = None
    #: When the fan joined: a fan export's join date, or their first payment's day if the
    #: earnings show an earlier one (None: unknown).
    first_seen: date | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str = ""  # from an import (written whole by the next one)
    #: Dated notes written in chat (``/fans note``); imports never touch them.
    journal: str = ""
    #: Subscription status from the platform's export: True subscribed, False expired or
    #: cancelled, None unknown.
    subscribed: bool | None = None
    #: The platforms the fan paid on ("fansly"), from the account's imported earnings.
    platforms: list[str] = Field(default_factory=list)

    def address(self) -> str:
        """What to call the fan: the name, else the handle, else "" when the handle is only
        a platform's user number ("u12345678", "48213377"), which is no way to greet anyone."""
        if self.name.strip():
            return self.name.strip()
        handle = self.handle.strip().lstrip("@")
        return "" if _USER_NUMBER.fullmatch(handle) else handle


class MessageDraft(BaseModel):
    """A personalised message the creator reviews and sends herself."""

    fan_handle: str
    text: str


class Asset(BaseModel):
    """A file in a creator's vault: one row per (account, sha256), each with a blob of its own."""

    id: int | None = None
    sha256: str
    size: int
    mime: str
    name: str = ""
    tags: list[str] = Field(default_factory=list)
    blob_key: str
    source: str = ""  # telegram | discord | api | console
    created_at: datetime | None = None

    @property
    def file_name(self) -> str:
        """The name to hand the file out under (chat, downloads): its own, or ``vault-<id>``."""
        return self.name or f"vault-{self.id}"


#: Team members' roles (``/team invite manager``): a chatter works with the fans and the
#: content, a manager also sees the earnings; the owner alone buys, makes keys, links chats.
TeamRole = Literal["manager", "chatter"]
#: Who may run a command: anyone working on the account, managers and the owner, the owner.
Access = Literal["member", "manager", "owner"]
ACCESS_RANK = {"chatter": 0, "member": 0, "manager": 1, "owner": 2}


class Account(BaseModel):
    id: int
    created_at: datetime
    plan: str = "free"
    credits: int = 0
    # Who is working on it, when not its owner: a team member's own account and role (/team).
    member_id: int | None = None
    member_role: TeamRole = "chatter"

    @property
    def person_id(self) -> int:
        """The account of whoever sent the message: the owner's, or the team member's own."""
        return self.member_id if self.member_id is not None else self.id

    @property
    def role(self) -> Literal["owner", "manager", "chatter"]:
        return "owner" if self.member_id is None else self.member_role

    def may(self, access: Access) -> bool:
        """Whether whoever works on the account now may run a command of that ``access``."""
        return ACCESS_RANK[self.role] >= ACCESS_RANK[access]


class Identity(BaseModel):
    platform: str
    external_id: str
    username: str = ""
    display_name: str = ""
    language: str = "en"

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: str) -> str:
        return clean_text(value)


# ---------------------------------------------------------------- generation requests


class IdeaRequest(BaseModel):
    profile: Profile
    count: int = Field(ge=1, le=10)
    creativity: Creativity = "balanced"
    platform: str | None = None
    avoid_titles: list[str] = Field(default_factory=list)
    like: Idea | None = None  # "more like this"
    topic: str | None = None  # every idea is about it ("halloween", "red lace set")
    seed: int = 0


class CaptionRequest(BaseModel):
    profile: Profile
    topic: str
    platform: str
    seed: int = 0


class HashtagRequest(BaseModel):
    profile: Profile
    topic: str
    platform: str
    count: int = 15
    seed: int = 0


class PersonalizeRequest(BaseModel):
    profile: Profile
    template: str
    fans: list[Fan]
    today: date
    seed: int = 0
    currency: str = "USD"  # of the fans' total spent (the account's earnings' currency)


T = TypeVar("T")


class Generated(BaseModel, Generic[T]):
    """What a generator returns: the value plus where it came from."""

    value: T
    source: Literal["offline", "llm", "cache"] = "offline"
    degraded: bool = False  # True when the LLM was wanted but the offline engine answered
    model: str = "offline"
