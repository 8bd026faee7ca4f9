"""A creator's time zone: read from what people type, named back to them.

The profile stores a canonical name: an IANA key ("Europe/Berlin", "UTC"), a fixed offset
("UTC+05:30"), or "" when the creator never set one (read as UTC). ``parse_zone`` reads what a
creator types: an IANA key in any case, a city of one ("new york", "são paulo") or a big city
without one ("NYC", "Miami", "Dallas", "Mumbai": the zone it is in), a common
abbreviation ("EST", "CET": the region's zone, so summer time follows), or an offset ("UTC-5",
"+0530"). ``get_zone`` turns a stored
name into a ``tzinfo``; a name this machine no longer knows reads as UTC rather than failing.

zoneinfo reads the rules from the system or, where there is none (slim images), from the
``tzdata`` package, which is a dependency.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from datetime import UTC, timedelta, timezone, tzinfo
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

if TYPE_CHECKING:
    from core.ports import ProfileRepository

#: Abbreviations and region words people type, to the zone they usually mean. A fixed offset
#: would be wrong half the year, so "EST" is New York's zone (EDT in summer).
ABBREVIATIONS: dict[str, str] = {
    **dict.fromkeys(("utc", "gmt", "z", "zulu", "universal"), "UTC"),
    **dict.fromkeys(("et", "est", "edt", "eastern", "us eastern"), "America/New_York"),
    **dict.fromkeys(("ct", "cst", "cdt", "central", "us central"), "America/Chicago"),
    **dict.fromkeys(("mt", "mst", "mdt", "mountain", "us mountain"), "America/Denver"),
    **dict.fromkeys(("pt", "pst", "pdt", "pacific", "us pacific"), "America/Los_Angeles"),
    **dict.fromkeys(("akst", "akdt", "alaska"), "America/Anchorage"),
    **dict.fromkeys(("hst", "hawaii"), "Pacific/Honolulu"),
    **dict.fromkeys(("bst", "uk", "britain", "england"), "Europe/London"),
    **dict.fromkeys(("cet", "cest", "met"), "Europe/Paris"),
    **dict.fromkeys(("eet", "eest"), "Europe/Athens"),
    **dict.fromkeys(("wet", "west"), "Europe/Lisbon"),
    **dict.fromkeys(("msk",), "Europe/Moscow"),
    **dict.fromkeys(("ist", "india"), "Asia/Kolkata"),
    **dict.fromkeys(("jst", "japan"), "Asia/Tokyo"),
    **dict.fromkeys(("kst", "korea"), "Asia/Seoul"),
    **dict.fromkeys(("sgt", "singapore"), "Asia/Singapore"),
    **dict.fromkeys(("aest", "aedt"), "Australia/Sydney"),
    **dict.fromkeys(("awst",), "Australia/Perth"),
    **dict.fromkeys(("nzst", "nzdt", "new zealand"), "Pacific/Auckland"),
    **dict.fromkeys(("brt", "brazil"), "America/Sao_Paulo"),
    **dict.fromkeys(("art", "argentina"), "America/Argentina/Buenos_Aires"),
    **dict.fromkeys(("cdmx", "mexico"), "America/Mexico_City"),
    # big cities without a zone of their own, and their nicknames
    **dict.fromkeys(
        ("nyc", "new york city", "miami", "atlanta", "boston", "philadelphia", "philly", "dc"),
        "America/New_York",
    ),
    **dict.fromkeys(("washington dc", "orlando", "tampa", "charlotte"), "America/New_York"),
    **dict.fromkeys(("dallas", "houston", "austin", "san antonio", "nashville"), "America/Chicago"),
    **dict.fromkeys(("new orleans", "minneapolis", "kansas city", "st louis"), "America/Chicago"),
    **dict.fromkeys(
        ("la", "sf", "san francisco", "seattle", "las vegas", "vegas"), "America/Los_Angeles"
    ),
    **dict.fromkeys(("san diego", "portland", "sacramento", "san jose"), "America/Los_Angeles"),
    **dict.fromkeys(("salt lake city", "slc", "albuquerque"), "America/Denver"),
    **dict.fromkeys(
        ("manchester", "birmingham", "liverpool", "glasgow", "edinburgh"), "Europe/London"
    ),
    **dict.fromkeys(("barcelona", "ibiza"), "Europe/Madrid"),
    **dict.fromkeys(("milan", "naples"), "Europe/Rome"),
    **dict.fromkeys(("munich", "hamburg", "frankfurt", "cologne"), "Europe/Berlin"),
    **dict.fromkeys(("melbourne", "canberra"), "Australia/Melbourne"),
    **dict.fromkeys(("rio", "rio de janeiro"), "America/Sao_Paulo"),
    **dict.fromkeys(("cebu", "quezon city"), "Asia/Manila"),
    **dict.fromkeys(("mumbai", "delhi", "new delhi", "bangalore", "bengaluru"), "Asia/Kolkata"),
}
_OFFSET = re.compile(r"^(?:utc|gmt)?\s*([+-])\s*(\d{1,2})(?::?(\d{2}))?$")
_STORED_OFFSET = re.compile(r"^UTC([+-])(0\d|1[0-4]):([0-5]\d)$")  # what offset_name writes


@cache
def _names() -> dict[str, str]:
    """Lower-case IANA keys and city names (last part, spaces for underscores) to keys."""
    names: dict[str, str] = {}
    for key in sorted(available_timezones(), key=lambda k: (k.count("/"), k)):
        if key.startswith(("Etc/", "SystemV/")) or key in {"localtime", "Factory"}:
            continue
        names.setdefault(key.lower(), key)
        city = key.rsplit("/", 1)[-1].replace("_", " ").lower()
        if "/" in key:  # a region key wins a city name over a bare alias ("Cuba", "Japan")
            names.setdefault(city, key)
    return names


def offset_name(minutes: int) -> str:
    """A fixed offset's canonical name ("UTC+05:30"); "UTC" for zero."""
    if minutes == 0:
        return "UTC"
    sign = "+" if minutes > 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def _fold(text: str) -> str:
    """Lower case, single spaces for underscores and runs of blanks, accents dropped
    ("São Paulo" -> "sao paulo", "Zürich" -> "zurich")."""
    decomposed = unicodedata.normalize("NFKD", text.replace("_", " "))
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.lower().split())


def parse_zone(text: str) -> str:
    """What a creator typed -> a canonical zone name; ValueError with a hint."""
    raw = " ".join(text.strip().split())
    s = _fold(raw)
    if s in ABBREVIATIONS:
        return ABBREVIATIONS[s]
    m = _OFFSET.match(s.replace(" ", ""))
    if m:
        hours, mins = int(m.group(2)), int(m.group(3) or 0)
        if hours > 14 or mins > 59 or (hours == 14 and mins):
            raise ValueError(f"{raw} is not an offset any place uses (UTC−12 to UTC+14).")
        return offset_name((1 if m.group(1) == "+" else -1) * (hours * 60 + mins))
    names = _names()
    key = names.get(s.replace(" ", "_")) or names.get(s)
    if key is not None:
        return key
    close = difflib.get_close_matches(s, list(names), n=3, cutoff=0.75)
    hint = ", ".join(dict.fromkeys(names[c] for c in close)) or "Europe/Berlin, New York, UTC-5"
    raise ValueError(f"I don't know the time zone “{raw[:60]}”. Try: {hint}.")


#: Offered before anything is typed: where most creators on these platforms live.
COMMON = (
    "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
    "America/Toronto", "America/Mexico_City", "America/Sao_Paulo", "Europe/London",
    "Europe/Berlin", "Europe/Paris", "Europe/Madrid", "Europe/Rome", "Europe/Amsterdam",
    "Europe/Warsaw", "Europe/Kyiv", "Asia/Manila", "Asia/Kolkata", "Asia/Tokyo",
    "Australia/Sydney", "UTC",
)  # fmt: skip


def search_zones(text: str, limit: int = 25) -> list[str]:
    """Zone keys for what is being typed: keys or cities starting with it, then containing it
    (a few common zones before anything is typed)."""
    s = _fold(text)
    if not s:
        return list(COMMON[:limit])
    if ABBREVIATIONS.get(s):
        return [ABBREVIATIONS[s]]
    keys = sorted(set(_names().values()), key=lambda k: (k not in COMMON, k))
    spaced = {k: k.lower().replace("_", " ") for k in keys}
    starts = [k for k in keys if any(p.startswith(s) for p in spaced[k].split("/"))]
    inside = [k for k in keys if s in spaced[k] and k not in starts]
    return (starts + inside)[:limit]


def get_zone(name: str | None) -> tzinfo:
    """The ``tzinfo`` of a stored name; UTC for "" or a name this machine does not know."""
    if not name:
        return UTC
    fixed = _STORED_OFFSET.match(name)
    if fixed:  # UTC+05:30
        sign = 1 if fixed.group(1) == "+" else -1
        hours, minutes = int(fixed.group(2)), int(fixed.group(3))
        return timezone(sign * timedelta(hours=hours, minutes=minutes), name)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


async def account_timezone(profiles: ProfileRepository, account_id: int) -> str:
    """The account's stored zone name ("" when none). A stored profile that no longer validates
    reads as no zone: what only needs the account's clock (imports, /stats, the summaries'
    scheduler) keeps working."""
    try:
        profile = await profiles.get(account_id)
    except ValueError:  # pydantic's ValidationError: an unreadable stored profile
        return ""
    return profile.timezone if profile is not None else ""


def zone_label(name: str | None) -> str:
    """How a stored zone is named to the creator: "UTC", "Europe/Berlin", "UTC+05:30"."""
    return name if name and get_zone(name) is not UTC else "UTC"


__all__ = [
    "ABBREVIATIONS",
    "COMMON",
    "account_timezone",
    "get_zone",
    "offset_name",
    "parse_zone",
    "search_zones",
    "zone_label",
]
