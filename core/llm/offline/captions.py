"""Captions and hashtags from the banks, fitted with :mod:`core.rules`.

A caption is ``hook`` (by platform) + ``body`` (a tone pattern around the creator's topic) +
``call to action`` (by platform), then hashtags from the topic words, the niche banks and the
platform bank. The longest composition that fits the platform without trimming wins; a topic too
long for the platform is trimmed on a word boundary. Restricted words are scrubbed everywhere.
"""

from __future__ import annotations

import itertools
import math
import random
import re
from functools import cache

from core import vocab
from core.llm.offline.banks import Banks, capitalise, fill, load_banks
from core.models import CaptionDraft, CaptionRequest, HashtagRequest, Profile
from core.rules import (
    DEFAULT_PLATFORM,
    clean_hashtag,
    clean_hashtags,
    contains_restricted,
    fit_caption,
    platform_slug,
    rule_for,
    scrub,
    scrub_tags,
    tidy,
)

DEFAULT_TONE = "friendly"
DEFAULT_NICHE = "lifestyle"  # themes for a caption asked with no topic and no niche

_STOP_TEXT = """
a an the and or but if of for to in on at by with from into onto over under about as is are
was were be been being am it its it's this that these those there here my your our their his
her me you we they them us i im i'm just so very really too also not no yes do does did done
new post posts posting caption captions hashtag hashtags some any all more most less few
one two three today tonight tomorrow now then than when where what which who why how
can could will would should shall may might must let lets let's get got make made take
set sets shoot shot pic pics clip clips part bit lil little
"""
STOPWORDS = frozenset(_STOP_TEXT.split())
_PLATFORM_WORDS = frozenset(
    [*vocab.PLATFORMS, *vocab.SYNONYMS["platforms"], "twitter", "insta", "ig", "of", "reel"]
)
_TRAILING_PLATFORM = re.compile(r"\s+(?:for|on|to)\s+([\w .-]+?)\s*$", re.IGNORECASE)


def clean_topic(topic: str) -> str:
    """The topic as typed, without quotes, doubled spaces or a trailing 'for instagram'."""
    t = " ".join(topic.replace("\u200b", "").split()).strip().strip("\"'“”‘’").strip()
    m = _TRAILING_PLATFORM.search(t)
    if m and vocab.normalise("platforms", m.group(1)):
        t = t[: m.start()]
    return t.rstrip(" .,;:!-–—").strip()


def _content_words(topic: str) -> list[tuple[int, str]]:
    """(position among all the words, hashtag form) of each content word of a topic, in order:
    no stop words, platform names or numbers."""
    out: list[tuple[int, str]] = []
    for position, m in enumerate(re.finditer(r"[^\W_]+(?:'[^\W_]+)?", topic.lower())):
        w = m.group(0)
        if len(w) < 3 or w in STOPWORDS or w in _PLATFORM_WORDS or w.isdigit():
            continue
        if tag := clean_hashtag(w):
            out.append((position, tag))
    return out


def topic_words(topic: str, limit: int = 40) -> list[str]:
    """Content words of a topic (at most ``limit``), lower-case, in order, without stop words
    or platform names."""
    return list(dict.fromkeys(tag for _, tag in _content_words(topic)))[:limit]


def topic_tags(topic: str) -> list[str]:
    """Hashtags from a topic: content words side by side run together in pairs from the left
    ("golden hour run" -> "goldenhour"; "beach day in a red bikini" -> "beachday",
    "redbikini"; at most three), then each content word, except a short one (three letters)
    already inside a pair: "#red" and "#day" say nothing on their own."""
    words = _content_words(topic)[:40]
    pairs: list[str] = []
    paired: set[str] = set()
    taken = -1  # the position of the last word put in a pair: pairs do not overlap
    for (at, first), (next_at, second) in itertools.pairwise(words):
        if at > taken and next_at == at + 1 and first != second and len(first + second) <= 20:
            pairs.append(first + second)
            paired.update((first, second))
            taken = next_at
    singles = [w for _, w in words if not (len(w) <= 3 and w in paired)]
    return clean_hashtags([*pairs[:3], *singles])


def stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


@cache
def _niche_words() -> dict[str, tuple[str, ...]]:
    """Word -> the niches whose banks use it (themes, props, outfits, hashtags), for words that
    point at one or two niches only ("lace" -> boudoir, "dumbbells" -> fitness)."""
    banks = load_banks()
    found: dict[str, list[str]] = {}
    for slug, bank in banks.niches.items():
        text = " ".join([*bank.themes, *bank.props, *bank.outfits, *banks.niche_tags.get(slug, ())])
        for word in topic_words(text, limit=10_000):
            found.setdefault(stem(word), []).append(slug)
    return {w: tuple(n) for w, n in found.items() if len(n) <= 2}  # once per niche already


def known_niches(profile: Profile, words: list[str], banks: Banks) -> list[str]:
    """The niches a topic and the profile point at: niche names in the topic ("workout"), the
    profile's niches; failing both, the niches whose banks share most of the topic's words
    ("red lace" -> boudoir). Empty when nothing points anywhere: the hashtags then come from
    the topic and the platform only, not from a niche the creator has nothing to do with."""
    found = [vocab.normalise("niches", w) for w in words]
    found += [vocab.normalise("niches", n) for n in profile.niches]
    known = [n for n in dict.fromkeys(found) if n and n in banks.niche_tags]
    if known:
        return known
    index = _niche_words()
    score: dict[str, float] = {}
    for word in words:
        if vocab.normalise("content_types", word):  # "video", "photos": every niche has them
            continue
        niches = index.get(stem(word), ())
        for niche in niches:
            score[niche] = score.get(niche, 0.0) + 1 / len(niches)
    best = max(score.values(), default=0.0)
    return [n for n in sorted(score) if score[n] == best][:2]


def _interleave(lists: list[list[str]]) -> list[str]:
    out: list[str] = []
    for i in range(max((len(x) for x in lists), default=0)):
        out.extend(x[i] for x in lists if i < len(x))
    return out


def _hashtags(
    profile: Profile, topic: str, platform: str, count: int, rng: random.Random
) -> list[str]:
    banks = load_banks()
    rule = rule_for(platform)
    n = max(0, min(count, rule.max_hashtags))
    if n == 0:
        return []
    restricted = profile.restricted_words
    words = scrub_tags(topic_tags(topic), restricted)
    topic_part = words[: max(1, math.ceil(n / 2))]
    niche_lists = []
    for niche in known_niches(profile, topic_words(topic), banks):
        bank = list(banks.niche_tags[niche])
        rng.shuffle(bank)
        niche_lists.append(bank)
    niche_tags = scrub_tags(clean_hashtags(_interleave(niche_lists)), restricted)
    ptags = list(banks.platform_tags.get(rule.platform, banks.platform_tags[DEFAULT_PLATFORM]))
    rng.shuffle(ptags)
    ptags = scrub_tags(clean_hashtags(ptags), restricted)
    rest = n - len(topic_part)
    niche_share = math.ceil(rest * 0.7)
    chosen = clean_hashtags(topic_part)
    for tag in niche_tags:
        if len(chosen) >= len(topic_part) + niche_share:
            break
        if tag not in chosen:
            chosen.append(tag)
    for tag in [*ptags, *niche_tags]:  # platform tags, then more niche tags if needed
        if len(chosen) >= n:
            break
        if tag not in chosen:
            chosen.append(tag)
    return chosen[:n]


def generate_hashtags(req: HashtagRequest, rng: random.Random) -> list[str]:
    """Up to ``req.count`` hashtags (no '#', lower-case, unique, topic words first), within the
    platform's hashtag limit and without restricted words."""
    return _hashtags(
        req.profile, clean_topic(req.topic), platform_slug(req.platform), req.count, rng
    )


def generate_caption(req: CaptionRequest, rng: random.Random) -> CaptionDraft:
    banks = load_banks()
    profile = req.profile
    restricted = profile.restricted_words
    platform = platform_slug(req.platform)
    rule = rule_for(platform)
    bank_platform = rule.platform if platform not in banks.hooks else platform
    tone = vocab.normalise("tone", profile.tone or "") or DEFAULT_TONE

    def ok(text: str) -> bool:
        return not restricted or not contains_restricted(text, restricted)

    topic = clean_topic(req.topic)
    if len(topic) > rule.max_chars * 4:  # hopelessly long: cut early, fit_caption trims the rest
        topic = topic[: rule.max_chars * 4].rsplit(" ", 1)[0]
    topic = scrub(topic, restricted)
    if not topic:
        niches = known_niches(profile, [], banks) or [DEFAULT_NICHE]
        themes = [t for t in banks.niches[niches[0]].themes if ok(t)] or ["a new post"]
        topic = rng.choice(themes)
    bodies = [b for b in banks.tones[tone] if ok(fill(b, {"topic": "", "Topic": ""}))]
    bodies = bodies or ["{Topic}"]
    hooks = [h for h in banks.hooks[bank_platform] if ok(h)]
    ctas = [c for c in banks.ctas[bank_platform] if ok(c)]
    body = fill(rng.choice(bodies), {"topic": topic, "Topic": capitalise(topic)})
    hook = rng.choice(hooks) if hooks else ""
    cta = rng.choice(ctas) if ctas else ""
    tags = _hashtags(profile, topic, platform, rule.suggested_hashtags, rng)
    keep = min(len(tags), max(1, rule.suggested_hashtags // 2))

    def clean(text: str) -> str:
        # the pieces are already clean; a phrase can still span two of them
        return scrub(text, restricted) if not ok(text) else text

    if rule.measure(body) < rule.max_chars:
        for parts in ([hook, body, cta], [body, cta], [hook, body]):
            text = clean("\n\n".join(p for p in parts if p))
            draft = fit_caption(text, tags, platform)
            if draft.text == tidy(text) and len(draft.hashtags) >= keep:
                return draft
    return fit_caption(clean(body), tags, platform)
