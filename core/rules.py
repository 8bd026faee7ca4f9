"""Platform rules as data, and the text tools that enforce them.

One table, :data:`PLATFORM_RULES`: caption length and hashtag limits per content platform.
``max_chars`` counts the whole published text, hashtags included (``CaptionDraft.full_text``).
On X the length is *weighted* the way X counts it: every URL is 23, and characters outside the
Latin/common-punctuation ranges (CJK, emoji) count 2 (an approximation of twitter-text v3).

Where a platform publishes no hard hashtag cap (TikTok, X, OnlyFans, Fansly) ``max_hashtags`` is
the product's practical cap and ``suggested_hashtags`` what the generators aim for.

Used by the offline engine *and* the LLM path (to fix or reject an LLM answer):

- :func:`fit_caption` trims text on a word boundary (with an ellipsis) and drops hashtags so that
  the draft's ``full_text()`` is within the platform limit;
- :func:`scrub` / :func:`scrub_tags` / :func:`contains_restricted` enforce a creator's restricted
  words: matched case-insensitively on word boundaries (an optional plural/possessive ending is
  included: "tease" also catches "teases"); inside a hashtag, where words run together, the word
  is matched anywhere in the tag and the whole hashtag goes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from core import vocab
from core.models import CaptionDraft

ELLIPSIS = "…"
X_URL_LENGTH = 23


@dataclass(frozen=True)
class PlatformRule:
    platform: str
    max_chars: int
    max_hashtags: int
    suggested_hashtags: int
    weighted_length: bool = False  # X: URLs count 23, CJK/emoji count 2
    note: str = ""

    def measure(self, text: str) -> int:
        return x_length(text) if self.weighted_length else len(text)


PLATFORM_RULES: dict[str, PlatformRule] = {
    "instagram": PlatformRule(
        "instagram", 2200, 30, 12, note="caption ≤ 2,200 characters, ≤ 30 hashtags"
    ),
    "tiktok": PlatformRule("tiktok", 4000, 10, 5, note="caption ≤ 4,000 characters"),
    "x": PlatformRule(
        "x", 280, 3, 2, weighted_length=True, note="280 weighted characters, URLs count 23"
    ),
    "onlyfans": PlatformRule("onlyfans", 1000, 10, 5, note="post text ≤ 1,000 in practice"),
    "fansly": PlatformRule("fansly", 1000, 15, 8, note="post text kept ≤ 1,000"),
}

DEFAULT_PLATFORM = "instagram"


def platform_slug(platform: str) -> str:
    """Canonical slug for a platform name ("IG" -> instagram); unknown names lower-cased."""
    return vocab.normalise("platforms", platform) or platform.strip().lower()


_PLATFORM_NAME = re.compile(r"[a-z0-9][a-z0-9 ._-]{0,30}", re.IGNORECASE)


def earnings_platform(raw: str) -> str:
    """A platform name as earnings and fans store it: ``platform_slug`` ("OF" -> ``onlyfans``),
    a name of its own with spaces and punctuation as "_" ("Loyal Fans" ->
    ``loyal_fans``), "" when it is no name."""
    slug = platform_slug(raw)
    if vocab.is_known("platforms", slug):
        return slug
    if not _PLATFORM_NAME.fullmatch(raw.strip()):
        return ""
    return re.sub(r"[^a-z0-9]+", "_", slug).strip("_")[:32]


def asked_platform(raw: str | None) -> str | None:
    """A platform a command's arguments name, as earnings and offers store it ("Fansly", "OF"
    -> ``fansly``, ``onlyfans``), whether parsed from text or typed into a Discord option; what
    is no platform name stays as typed (lower case), so the answer can say nothing has it."""
    if not raw or not raw.strip():
        return None
    return earnings_platform(raw) or raw.strip().lower()


def rule_for(platform: str) -> PlatformRule:
    """The rule of a platform; an unknown platform gets Instagram's (the most common limits)."""
    return PLATFORM_RULES.get(platform_slug(platform), PLATFORM_RULES[DEFAULT_PLATFORM])


# ---------------------------------------------------------------- length

_TLDS = (
    "com|net|org|io|co|me|ly|app|link|tv|gg|fans|xyz|info|biz|us|uk|de|fr|ca|es|it|nl|au|"
    "page|site|store|shop|social|bio|to|fm|live"
)
_URL = re.compile(
    r"(?:https?://|www\.)[^\s<>\"]+"
    rf"|(?<![\w@.#/-])(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+(?:{_TLDS})\b(?:/[^\s<>\"]*)?",
    re.IGNORECASE,
)
_URL_TRAILING = ".,!?;:)]}'\"…"


def find_urls(text: str) -> list[tuple[int, int]]:
    """Spans of URLs as X detects them (with or without scheme), trailing punctuation excluded."""
    spans: list[tuple[int, int]] = []
    for m in _URL.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in _URL_TRAILING:
            end -= 1
        if end > start:
            spans.append((start, end))
    return spans


def _weight(cp: int) -> int:
    if cp <= 4351 or 8192 <= cp <= 8205 or 8208 <= cp <= 8223 or 8242 <= cp <= 8247:
        return 1
    return 2


_EMOJI_JOINERS = {0x200D, 0xFE0E, 0xFE0F, 0x20E3}


def _weighted(text: str) -> int:
    if text.isascii():
        return len(text)
    total = 0
    prev_zwj = False
    for ch in text:
        cp = ord(ch)
        if cp == 0x200D:
            prev_zwj = True
            continue
        if prev_zwj:  # the second half of a ZWJ emoji sequence is free
            prev_zwj = False
            continue
        if cp in _EMOJI_JOINERS or 0x1F3FB <= cp <= 0x1F3FF or 0xE0020 <= cp <= 0xE007F:
            continue  # variation selectors, skin tones, keycaps, tag sequences
        total += _weight(cp)
    return total


def x_length(text: str) -> int:
    """Length of ``text`` as X counts it: NFC, URLs = 23, CJK and emoji = 2, the rest 1."""
    text = unicodedata.normalize("NFC", text)
    total = 0
    pos = 0
    for start, end in find_urls(text):
        total += _weighted(text[pos:start]) + X_URL_LENGTH
        pos = end
    return total + _weighted(text[pos:])


def caption_length(text: str, platform: str) -> int:
    return rule_for(platform).measure(text)


# ---------------------------------------------------------------- hashtags

_TAG_CHARS = re.compile(r"[^\w]+")


def clean_hashtag(tag: str) -> str | None:
    """'#Beach Vibes!' -> 'beachvibes'; None when nothing usable (or digits only) remains."""
    t = _TAG_CHARS.sub("", tag.strip().lstrip("#").lower())
    if not t or t.isdigit() or t.strip("_") == "":
        return None
    return t


def clean_hashtags(tags: Iterable[str]) -> list[str]:
    """Cleaned, lower-case, unique hashtags without '#', order kept."""
    out: list[str] = []
    seen: set[str] = set()
    for tag in tags:
        t = clean_hashtag(tag)
        if t and t not in seen:
            seen.add(t)
            out.append(t)
    return out


# ---------------------------------------------------------------- fitting


def tidy(text: str) -> str:
    """Line ends stripped, at most one blank line in a row, no outer whitespace."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _cut(text: str, end: int) -> str:
    head = text[:end].rstrip(" \t\n,;:-–—(\"'")
    return head + ELLIPSIS if head else ""


def trim_to(text: str, budget: int, measure: Callable[[str], int]) -> str:
    """The longest word-boundary prefix of ``text`` plus '…' with ``measure`` ≤ ``budget``.

    Falls back to a character cut when the first word alone is too long; "" when even the
    ellipsis does not fit.
    """
    if measure(text) <= budget:
        return text
    if budget < measure(ELLIPSIS):
        return ""
    bounds = [m.start() for m in re.finditer(r"\s+", text)]
    # prefixes grow token by token, so their measure grows with the cut position
    lo, hi, best = 0, len(bounds) - 1, -1
    while lo <= hi:
        mid = (lo + hi) // 2
        cand = _cut(text, bounds[mid])
        if cand and measure(cand) <= budget:
            best = mid
            lo = mid + 1
        else:
            hi = mid - 1
    if best >= 0:
        return _cut(text, bounds[best])
    lo, hi, found = 1, len(text), ""
    while lo <= hi:
        mid = (lo + hi) // 2
        cand = text[:mid].rstrip() + ELLIPSIS
        if measure(cand) <= budget:
            found = cand
            lo = mid + 1
        else:
            hi = mid - 1
    return found


def _block(tags: list[str]) -> str:
    return "\n\n" + " ".join("#" + t for t in tags) if tags else ""


def fit_caption(text: str, hashtags: list[str], platform: str) -> CaptionDraft:
    """A draft whose ``full_text()`` is within the platform's limit.

    Hashtags are cleaned (lower-case, no '#', unique) and capped at the platform's maximum.
    When everything does not fit, hashtags keep whatever room the text leaves but at least a
    quarter of the limit (dropping from the end); the text is then trimmed on a word boundary
    with an ellipsis. URLs are never cut in the middle (they count 23 on X).
    """
    rule = rule_for(platform)
    slug = rule.platform if platform_slug(platform) in PLATFORM_RULES else platform_slug(platform)
    limit = rule.max_chars
    measure = rule.measure
    body = tidy(text)
    tags = clean_hashtags(hashtags)[: rule.max_hashtags]

    def draft(t: str, tg: list[str]) -> CaptionDraft:
        return CaptionDraft(text=t, hashtags=list(tg), platform=slug)

    if measure(body + _block(tags)) <= limit:
        return draft(body, tags)

    room = max(limit - measure(body), limit // 4)
    kept = list(tags)
    while kept and measure(_block(kept)) > room:
        kept.pop()
    if measure(body + _block(kept)) <= limit:
        return draft(body, kept)
    while True:
        budget = limit - measure(_block(kept))
        trimmed = trim_to(body, budget, measure)
        if trimmed and measure(trimmed + _block(kept)) <= limit:
            return draft(trimmed, kept)
        if not kept:
            return draft(trimmed, [])
        kept.pop()


# ---------------------------------------------------------------- restricted words


NON_WORD = re.compile(r"[\W_]+")  # a run of punctuation, spacing or underscores


def _compact(word: str) -> str:
    return NON_WORD.sub("", word.lower())


@lru_cache(maxsize=1024)
def _phrase_re(phrase: str) -> re.Pattern[str] | None:
    words = phrase.strip().split()
    if not words:
        return None
    body = r"\s+".join(re.escape(w) for w in words)
    return re.compile(rf"(?<!\w){body}(?:'s|’s|es|s)?(?!\w)", re.IGNORECASE)


def _phrases(restricted: Iterable[str]) -> list[str]:
    return [p.strip() for p in restricted if p and p.strip()]


_HASHTAG_IN_TEXT = re.compile(r"(?<![\w&])#(\w+)")


def tag_is_restricted(tag: str, restricted: Iterable[str]) -> bool:
    """A hashtag (with or without '#') containing any restricted word, even run together."""
    return _tag_hit(tag, _compacts(restricted))


def _tag_hit(tag: str, compacts: tuple[str, ...]) -> bool:
    t = _compact(tag)
    return any(c in t for c in compacts)


def find_restricted(text: str, restricted: Iterable[str]) -> list[str]:
    """The restricted words/phrases present in ``text`` (as given), in list order."""
    found: list[str] = []
    tags = [m.group(1) for m in _HASHTAG_IN_TEXT.finditer(text)]
    for phrase in _phrases(restricted):
        rx = _phrase_re(phrase.lower())
        if (rx and rx.search(text)) or any(tag_is_restricted(t, [phrase]) for t in tags):
            found.append(phrase)
    return found


@lru_cache(maxsize=256)
def _combined(phrases: tuple[str, ...]) -> tuple[re.Pattern[str] | None, tuple[str, ...]]:
    bodies = [r"\s+".join(re.escape(w) for w in p.lower().split()) for p in phrases if p.split()]
    compacts = tuple(c for c in (_compact(p) for p in phrases) if c)
    if not bodies:
        return None, compacts
    alt = "|".join(sorted(bodies, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alt})(?:'s|’s|es|s)?(?!\w)", re.IGNORECASE), compacts


def _compacts(restricted: Iterable[str]) -> tuple[str, ...]:
    """The restricted words run together, as hashtags are compared (cached per list)."""
    return _combined(tuple(_phrases(restricted)))[1]


def contains_restricted(text: str, restricted: Iterable[str]) -> bool:
    """True when ``text`` holds a restricted word/phrase (or a hashtag containing one)."""
    phrases = tuple(_phrases(restricted))
    if not phrases or not text:
        return False
    rx, compacts = _combined(phrases)
    if rx is not None and rx.search(text):
        return True
    return "#" in text and any(
        _tag_hit(m.group(1), compacts) for m in _HASHTAG_IN_TEXT.finditer(text)
    )


def scrub_tags(tags: Iterable[str], restricted: Iterable[str]) -> list[str]:
    """Hashtags without the ones that contain a restricted word (order kept)."""
    compacts = _compacts(restricted)
    if not compacts:
        return list(tags)
    return [t for t in tags if not _tag_hit(t, compacts)]


def _collapse(text: str) -> str:
    s = re.sub(r"[ \t]{2,}", " ", text)
    s = re.sub(r"\(\s*\)|\[\s*\]|\"\s*\"", "", s)
    s = re.sub(r"[ \t]+([,.;:!?…])", r"\1", s)
    s = re.sub(r"([,;:])(?:\s*[,;:])+", r"\1", s)  # ", ," -> ","
    s = re.sub(r"[,;:]\s*([.!?…])", r"\1", s)  # ", ." -> "."
    s = re.sub(r"(?m)^[ \t]*[,;:.!?]+[ \t]*", "", s)  # a line that now starts with punctuation
    s = re.sub(r"(?m)[ \t]*[,;:]+[ \t]*$", "", s)  # ... or ends with a dangling comma
    s = re.sub(r"(?m)^[ \t]*[-–—][ \t]*$", "", s)
    s = re.sub(r"[ \t]{2,}", " ", s)
    s = "\n".join(line.strip() for line in s.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", s).strip()


def scrub(text: str, restricted: Iterable[str]) -> str:
    """``text`` without the restricted words/phrases, whitespace and punctuation tidied.

    Hashtags containing a restricted word are removed whole. Text without any restricted word
    comes back unchanged.
    """
    words = _phrases(restricted)
    if not words or not text:
        return text
    out = text
    changed = False

    def drop_tag(m: re.Match[str]) -> str:
        nonlocal changed
        if tag_is_restricted(m.group(1), words):
            changed = True
            return ""
        return m.group(0)

    out = _HASHTAG_IN_TEXT.sub(drop_tag, out)
    # longest phrases first so "red lingerie" goes before "red"
    for phrase in sorted(words, key=len, reverse=True):
        rx = _phrase_re(phrase.lower())
        if rx is None:
            continue
        out, n = rx.subn("", out)
        changed = changed or n > 0
    return _collapse(out) if changed else text
