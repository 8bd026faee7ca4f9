"""Canonical slug vocabularies with human labels.

Used by the profile wizard (buttons come from :func:`choices`) and to normalise whatever a user
types ("Ring light", "ringlight" -> ``ring_light``; "IG", "insta" -> ``instagram``; "twitter" ->
``x``; "OF" -> ``onlyfans``). The data banks in ``core/data`` use the same slugs.

Kinds: ``niches``, ``platforms``, ``content_types``, ``equipment``, ``locations``, ``goals``,
``tone`` (singular forms such as ``niche`` or ``tones`` are accepted too).

Unknown free-text equipment, locations and niches may still be accepted by callers;
:func:`normalise` only answers for known values and returns ``None`` otherwise.
"""

from __future__ import annotations

import difflib
import re
from functools import cache

NICHES: dict[str, str] = {
    "fitness": "Fitness",
    "yoga": "Yoga",
    "dance": "Dance",
    "cosplay": "Cosplay",
    "gaming": "Gaming",
    "lifestyle": "Lifestyle",
    "fashion": "Fashion",
    "beauty": "Beauty & makeup",
    "travel": "Travel",
    "cooking": "Cooking & food",
    "music": "Music",
    "art": "Art & drawing",
    "boudoir": "Boudoir",
    "couples": "Couples",
    "asmr": "ASMR",
}

PLATFORMS: dict[str, str] = {
    "onlyfans": "OnlyFans",
    "fansly": "Fansly",
    "instagram": "Instagram",
    "tiktok": "TikTok",
    "x": "X (Twitter)",
}

CONTENT_TYPES: dict[str, str] = {
    "photo": "Photo",
    "photo_set": "Photo set",
    "video": "Video",
    "short_video": "Short video",
    "live": "Live stream",
    "story": "Story",
    "audio": "Audio",
    "text": "Text post",
}

EQUIPMENT: dict[str, str] = {
    "phone": "Phone",
    "ring_light": "Ring light",
    "tripod": "Tripod",
    "dslr": "DSLR",
    "mirrorless": "Mirrorless camera",
    "gimbal": "Gimbal",
    "microphone": "Microphone",
    "softbox": "Softbox",
    "led_panel": "LED panel",
    "green_screen": "Green screen",
    "drone": "Drone",
    "action_camera": "Action camera",
    "webcam": "Webcam",
    "remote_shutter": "Remote shutter",
    "reflector": "Reflector",
}

LOCATIONS: dict[str, str] = {
    "home": "Home",
    "bedroom": "Bedroom",
    "living_room": "Living room",
    "kitchen": "Kitchen",
    "bathroom": "Bathroom",
    "gym": "Gym",
    "beach": "Beach",
    "pool": "Pool",
    "outdoors": "Outdoors",
    "park": "Park",
    "city": "City",
    "studio": "Studio",
    "car": "Car",
    "hotel": "Hotel",
    "balcony": "Balcony",
    "office": "Office",
}

GOALS: dict[str, str] = {
    "grow_followers": "Grow followers",
    "more_subscribers": "More subscribers",
    "increase_ppv": "Sell more PPV",
    "engagement": "More engagement",
    "retention": "Keep subscribers longer",
    "brand_deals": "Brand deals",
    "more_tips": "More tips",
    "consistency": "Post consistently",
    "save_time": "Save time",
}

TONES: dict[str, str] = {
    "playful": "Playful",
    "flirty": "Flirty",
    "friendly": "Friendly",
    "professional": "Professional",
    "bold": "Bold",
    "wholesome": "Wholesome",
    "mysterious": "Mysterious",
}

# How a location reads after a verb: "shoot it {at the gym}".
LOCATION_PHRASES: dict[str, str] = {
    "home": "at home",
    "bedroom": "in the bedroom",
    "living_room": "in the living room",
    "kitchen": "in the kitchen",
    "bathroom": "in the bathroom",
    "gym": "at the gym",
    "beach": "on the beach",
    "pool": "by the pool",
    "outdoors": "outdoors",
    "park": "in the park",
    "city": "in the city",
    "studio": "in the studio",
    "car": "in the car",
    "hotel": "in a hotel room",
    "balcony": "on the balcony",
    "office": "at the office",
}

# Synonyms (already in normalised form is not required: they are normalised on load).
SYNONYMS: dict[str, dict[str, str]] = {
    "niches": {
        "gym": "fitness",
        "workout": "fitness",
        "fit": "fitness",
        "fitfam": "fitness",
        "bodybuilding": "fitness",
        "pilates": "yoga",
        "stretching": "yoga",
        "dancer": "dance",
        "dancing": "dance",
        "twerk": "dance",
        "pole": "dance",
        "pole dance": "dance",
        "cosplayer": "cosplay",
        "costume": "cosplay",
        "anime": "cosplay",
        "gamer": "gaming",
        "games": "gaming",
        "video games": "gaming",
        "streamer": "gaming",
        "streaming": "gaming",
        "daily life": "lifestyle",
        "vlog": "lifestyle",
        "vlogging": "lifestyle",
        "style": "fashion",
        "ootd": "fashion",
        "outfits": "fashion",
        "clothes": "fashion",
        "makeup": "beauty",
        "make up": "beauty",
        "skincare": "beauty",
        "hair": "beauty",
        "nails": "beauty",
        "beauty and makeup": "beauty",
        "traveling": "travel",
        "travelling": "travel",
        "trips": "travel",
        "wanderlust": "travel",
        "food": "cooking",
        "foodie": "cooking",
        "baking": "cooking",
        "recipes": "cooking",
        "chef": "cooking",
        "cooking and food": "cooking",
        "singing": "music",
        "singer": "music",
        "musician": "music",
        "guitar": "music",
        "dj": "music",
        "drawing": "art",
        "painting": "art",
        "illustration": "art",
        "artist": "art",
        "art and drawing": "art",
        "lingerie": "boudoir",
        "sensual": "boudoir",
        "glamour": "boudoir",
        "couple": "couples",
        "relationship": "couples",
        "partners": "couples",
        "whisper": "asmr",
        "whispering": "asmr",
        "tingles": "asmr",
    },
    "platforms": {
        "of": "onlyfans",
        "only fans": "onlyfans",
        "onlyfan": "onlyfans",
        "fans ly": "fansly",
        "ig": "instagram",
        "insta": "instagram",
        "instagramm": "instagram",
        "gram": "instagram",
        "reels": "instagram",
        "tik tok": "tiktok",
        "tt": "tiktok",
        "twitter": "x",
        "tweet": "x",
        "x com": "x",
        "x twitter": "x",
    },
    "content_types": {
        "pic": "photo",
        "picture": "photo",
        "image": "photo",
        "selfie": "photo",
        "photos": "photo",
        "pics": "photo",
        "set": "photo_set",
        "photoset": "photo_set",
        "gallery": "photo_set",
        "carousel": "photo_set",
        "album": "photo_set",
        "clip": "video",
        "long video": "video",
        "ppv video": "video",
        "reel": "short_video",
        "short": "short_video",
        "shorts": "short_video",
        "tiktok": "short_video",
        "short form": "short_video",
        "livestream": "live",
        "live stream": "live",
        "stream": "live",
        "going live": "live",
        "stories": "story",
        "voice": "audio",
        "voice note": "audio",
        "voicenote": "audio",
        "audio clip": "audio",
        "podcast": "audio",
        "post": "text",
        "text post": "text",
        "caption": "text",
        "poll": "text",
    },
    "equipment": {
        "iphone": "phone",
        "smartphone": "phone",
        "mobile": "phone",
        "cell": "phone",
        "cellphone": "phone",
        "android": "phone",
        "light ring": "ring_light",
        "ringlight": "ring_light",
        "stand": "tripod",
        "tripod stand": "tripod",
        "dslr camera": "dslr",
        "canon": "dslr",
        "mirrorless camera": "mirrorless",
        "sony": "mirrorless",
        "stabilizer": "gimbal",
        "stabiliser": "gimbal",
        "mic": "microphone",
        "lav": "microphone",
        "lavalier": "microphone",
        "lapel mic": "microphone",
        "shotgun mic": "microphone",
        "binaural mic": "microphone",
        "soft box": "softbox",
        "led light": "led_panel",
        "led": "led_panel",
        "video light": "led_panel",
        "greenscreen": "green_screen",
        "chroma key": "green_screen",
        "gopro": "action_camera",
        "go pro": "action_camera",
        "web cam": "webcam",
        "remote": "remote_shutter",
        "bluetooth remote": "remote_shutter",
        "shutter remote": "remote_shutter",
        "clicker": "remote_shutter",
        "bounce board": "reflector",
    },
    "locations": {
        "house": "home",
        "apartment": "home",
        "flat": "home",
        "my place": "home",
        "bed": "bedroom",
        "lounge": "living_room",
        "livingroom": "living_room",
        "sofa": "living_room",
        "couch": "living_room",
        "shower": "bathroom",
        "bath": "bathroom",
        "bathtub": "bathroom",
        "tub": "bathroom",
        "fitness center": "gym",
        "fitness centre": "gym",
        "sea": "beach",
        "seaside": "beach",
        "ocean": "beach",
        "swimming pool": "pool",
        "poolside": "pool",
        "outside": "outdoors",
        "outdoor": "outdoors",
        "nature": "outdoors",
        "woods": "outdoors",
        "forest": "outdoors",
        "mountains": "outdoors",
        "garden": "outdoors",
        "backyard": "outdoors",
        "street": "city",
        "streets": "city",
        "downtown": "city",
        "urban": "city",
        "photo studio": "studio",
        "hotel room": "hotel",
        "airbnb": "hotel",
        "terrace": "balcony",
        "patio": "balcony",
        "rooftop": "balcony",
        "desk": "office",
        "work": "office",
        "home office": "office",
    },
    "goals": {
        "followers": "grow_followers",
        "grow": "grow_followers",
        "growth": "grow_followers",
        "reach": "grow_followers",
        "subscribers": "more_subscribers",
        "subs": "more_subscribers",
        "more subs": "more_subscribers",
        "ppv": "increase_ppv",
        "pay per view": "increase_ppv",
        "sales": "increase_ppv",
        "sell more ppv": "increase_ppv",
        "engage": "engagement",
        "more engagement": "engagement",
        "likes": "engagement",
        "comments": "engagement",
        "churn": "retention",
        "keep subscribers": "retention",
        "keep subscribers longer": "retention",
        "renewals": "retention",
        "sponsors": "brand_deals",
        "sponsorship": "brand_deals",
        "sponsorships": "brand_deals",
        "collabs": "brand_deals",
        "brands": "brand_deals",
        "tips": "more_tips",
        "tipping": "more_tips",
        "consistent": "consistency",
        "post consistently": "consistency",
        "schedule": "consistency",
        "time": "save_time",
    },
    "tone": {
        "fun": "playful",
        "cheeky": "playful",
        "silly": "playful",
        "sexy": "flirty",
        "spicy": "flirty",
        "teasing": "flirty",
        "flirtatious": "flirty",
        "warm": "friendly",
        "casual": "friendly",
        "chill": "friendly",
        "pro": "professional",
        "formal": "professional",
        "business": "professional",
        "confident": "bold",
        "sassy": "bold",
        "edgy": "bold",
        "sweet": "wholesome",
        "cute": "wholesome",
        "kind": "wholesome",
        "dark": "mysterious",
        "moody": "mysterious",
        "enigmatic": "mysterious",
        "mystery": "mysterious",
    },
}

_TABLES: dict[str, dict[str, str]] = {
    "niches": NICHES,
    "platforms": PLATFORMS,
    "content_types": CONTENT_TYPES,
    "equipment": EQUIPMENT,
    "locations": LOCATIONS,
    "goals": GOALS,
    "tone": TONES,
}

KINDS: tuple[str, ...] = tuple(_TABLES)

_KIND_ALIASES: dict[str, str] = {
    "niche": "niches",
    "platform": "platforms",
    "content_type": "content_types",
    "content": "content_types",
    "equipments": "equipment",
    "gear": "equipment",
    "location": "locations",
    "goal": "goals",
    "tones": "tone",
}


def _kind(kind: str) -> str:
    k = kind.strip().lower().replace("-", "_").replace(" ", "_")
    k = _KIND_ALIASES.get(k, k)
    if k not in _TABLES:
        raise ValueError(f"unknown vocabulary kind {kind!r}; expected one of {', '.join(KINDS)}")
    return k


def _key(raw: str) -> str:
    """Lower-case, '&' -> 'and', punctuation dropped, spaces and dashes -> '_'."""
    s = raw.strip().lower().replace("&", " and ").replace("'", "")
    s = re.sub(r"[^\w\s-]+", " ", s)
    s = re.sub(r"[\s_-]+", "_", s)
    return s.strip("_")


def _compact(key: str) -> str:
    return key.replace("_", "")


@cache
def _index(kind: str) -> tuple[dict[str, str], dict[str, str]]:
    """(normalised key -> slug, compact key -> slug) for one kind."""
    exact: dict[str, str] = {}
    for slug, lab in _TABLES[kind].items():
        exact[slug] = slug
        exact.setdefault(_key(lab), slug)
    for alias, slug in SYNONYMS.get(kind, {}).items():
        exact.setdefault(_key(alias), slug)
    compact = {}
    for k, slug in exact.items():
        compact.setdefault(_compact(k), slug)
    return exact, compact


def _singulars(key: str) -> list[str]:
    out: list[str] = []
    if key.endswith("ies") and len(key) > 4:
        out.append(key[:-3] + "y")
    if key.endswith("es") and len(key) > 3:
        out.append(key[:-2])
    if key.endswith("s") and len(key) > 2:
        out.append(key[:-1])
    return out


def normalise(kind: str, raw: str) -> str | None:
    """The canonical slug for ``raw`` (case, spacing, plural and synonyms tolerated), or None."""
    exact, compact = _index(_kind(kind))
    key = _key(raw)
    if not key:
        return None
    for candidate in [key, *_singulars(key)]:
        if candidate in exact:
            return exact[candidate]
        if _compact(candidate) in compact:
            return compact[_compact(candidate)]
    return None


def normalise_many(kind: str, raws: list[str]) -> tuple[list[str], list[str]]:
    """(known slugs without duplicates, the raw values that are not known)."""
    known: list[str] = []
    unknown: list[str] = []
    for raw in raws:
        slug = normalise(kind, raw)
        if slug is None:
            if raw.strip():
                unknown.append(raw.strip())
        elif slug not in known:
            known.append(slug)
    return known, unknown


def is_known(kind: str, slug: str) -> bool:
    return slug in _TABLES[_kind(kind)]


def label(kind: str, slug: str) -> str:
    """Human label of a slug; an unknown (custom) slug is made readable instead."""
    table = _TABLES[_kind(kind)]
    if slug in table:
        return table[slug]
    text = slug.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def choices(kind: str) -> list[tuple[str, str]]:
    """(slug, label) pairs in display order, for buttons."""
    return list(_TABLES[_kind(kind)].items())


def suggest(kind: str, raw: str, n: int = 3) -> list[str]:
    """Slugs close to ``raw`` (difflib), best first; the exact slug alone when it is known."""
    k = _kind(kind)
    slug = normalise(k, raw)
    if slug is not None:
        return [slug]
    key = _key(raw)
    if not key:
        return []
    exact, _ = _index(k)
    out = _close(k, key, n, cutoff=0.72)
    if not out:
        # A prefix typed by the user ("fit" -> fitness, "ring" -> ring_light).
        for k2, s in exact.items():
            if len(key) >= 3 and k2.startswith(key) and s not in out:
                out.append(s)
    return out[:n]


def correct(kind: str, raw: str, cutoff: float = 0.8) -> str | None:
    """The known slug ``raw`` is a typo of ("phon" -> phone, "bedrom" -> bedroom), or None when
    nothing is that close (a value of the creator's own, such as "drone cam")."""
    key = _key(raw)
    close = _close(_kind(kind), key, 1, cutoff=cutoff) if key else []
    return close[0] if close else None


def _close(kind: str, key: str, n: int, cutoff: float) -> list[str]:
    """Up to ``n`` distinct slugs whose names or synonyms are close to ``key`` (difflib), best
    first."""
    exact, _ = _index(kind)
    out: list[str] = []
    for match in difflib.get_close_matches(key, list(exact), n=n * 4, cutoff=cutoff):
        if exact[match] not in out:
            out.append(exact[match])
    return out[:n]


def location_phrase(slug: str) -> str:
    """How a location reads in a sentence: ``gym`` -> "at the gym"; custom ones get "at the …"."""
    if slug in LOCATION_PHRASES:
        return LOCATION_PHRASES[slug]
    text = slug.replace("_", " ").strip().lower()
    if text.startswith(("my ", "the ", "a ", "an ", "at ", "in ", "on ")):
        return text if text.split()[0] in {"at", "in", "on"} else f"at {text}"
    return f"at the {text}"
