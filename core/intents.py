"""Plain sentences read as commands: "give me 3 ideas for halloween" -> ``/ideas 3 halloween``.

Creators type to the bot as they would to an assistant. A message that is not a command and not
an answer to a question is matched against a short table of rules (first match wins); the words
left once the rule's trigger and the conversational words at either end are gone are the
command's arguments, read by the command's own parser (so "3 tiktok about my gym" means what
it means in ``/ideas``). The reply says which command answered, so the creator learns it.

The rules are deterministic and the same with or without a language model: a misread sentence
costs one reply that names the command it ran, never a charge the creator did not ask for
(``/buy``, ``/personalize`` to a segment and anything that changes data are never inferred).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from core import vocab

# Words around a request, dropped from either end of what is left: "can you give me some ...".
_CHATTER_TEXT = """
a an the my me us i we you your can could would will should shall do does did please pls plz
hey hi hello yo give send get show tell find write make suggest brainstorm come up with some any
new good great cool nice fresh few couple of for about on to what which is are need want like
love got have idea ideas help something anything thanks thank so just now maybe kind today around
tonight tomorrow this week next post posts content use using
"""
_CHATTER = frozenset(_CHATTER_TEXT.split())
_EDGE_PUNCT = "?!.,:;…"


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


def _rest(text: str, m: re.Match[str]) -> str:
    """The sentence without its trigger and the chatter at either end: the command's own
    arguments ("give me 3 ideas for halloween please" -> "3 for halloween")."""
    return " ".join(_trim(f"{text[: m.start()]} {text[m.end() :]}".split()))


def _nothing(text: str, m: re.Match[str]) -> str:
    return ""


def _platform(text: str) -> str | None:
    for word in re.findall(r"[\w']+", text):
        slug = vocab.normalise("platforms", word)
        if slug and (word.lower() != "of" or word == "OF"):  # "of" is a word, "OF" OnlyFans
            return slug
    return None


def _stats(text: str, m: re.Match[str]) -> str:
    period = next((p for rx, p in _PERIODS if rx.search(text)), "")
    return " ".join(x for x in (period, _platform(text) or "") if x)


#: How far back "new fans" looks, by the period the sentence names (a week when it names none).
_JOINED_DAYS = {"today": 1, "yesterday": 2, "thismonth": 31, "lastmonth": 62, "30d": 30, "90d": 90}


def _joined(text: str, m: re.Match[str]) -> str:
    period = next((p for rx, p in _PERIODS if rx.search(text)), "")
    return f"joined:{_JOINED_DAYS.get(period, 7)}d"


def _price(text: str, m: re.Match[str]) -> str:
    kind = ""
    if re.search(r"\bppv\b|\bpay.per.view\b", text, re.IGNORECASE):
        kind = "ppv"
    elif re.search(r"\bsub(?:scription)?s?\b", text, re.IGNORECASE):
        kind = "subscription"
    elif re.search(r"\bbundles?\b", text, re.IGNORECASE):
        kind = "bundle"
    return " ".join(x for x in (kind, _platform(text) or "") if x)


@dataclass(frozen=True)
class _Rule:
    command: str  # the command line's start: "ideas", "fans export"
    trigger: re.Pattern[str]
    args: Callable[[str, re.Match[str]], str] = _rest  # the sentence -> the arguments


# /stats periods as people say them
_PERIODS = (
    (_rx(r"\btoday\b"), "today"),
    (_rx(r"\byesterday\b"), "yesterday"),
    (_rx(r"\bthis week\b"), "thisweek"),
    (_rx(r"\blast week\b"), "lastweek"),
    (_rx(r"\bthis month\b|\bmonth so far\b"), "thismonth"),
    (_rx(r"(?<!the )\b(?:last|previous) month\b"), "lastmonth"),  # "the last month": 30d
    (_rx(r"\bthis year\b|\byear so far\b"), "thisyear"),
    (_rx(r"(?<!the )\b(?:last|previous) year\b"), "lastyear"),
    (_rx(r"\b365 days\b|\b(?:12|twelve) months\b|\byear\b"), "365d"),
    (_rx(r"\b(?:all time|ever|in total|overall)\b"), "all"),
    (_rx(r"\b(?:7|seven) days\b|\bweek\b"), "7d"),
    (_rx(r"\b(?:90|ninety) days\b|\b(?:3|three) months\b|\bquarter\b"), "90d"),
    (_rx(r"\b(?:30|thirty) days\b|\bmonth\b"), "30d"),
)


_RULES = (
    _Rule("caption", _rx(r"\b(?:write|draft)?\s*(?:me\s+)?(?:an?\s+)?captions?\b")),
    _Rule("hashtags", _rx(r"\bhash\s*tags?\b|\btags\b")),
    _Rule(
        "price",
        _rx(
            r"\bhow much (?:should|do|can) i (?:charge|ask|sell)(?: for)?\b|\bpric(?:e|es|ing)\b"
            r"|\bwhat (?:should|do) i charge\b"
        ),
        _price,
    ),
    _Rule(
        "week",
        _rx(
            r"\bwhat (?:should|can|could|do) i (?:post|shoot|film|make|create|upload) this week\b"
            r"|\bplan (?:my|the|a|this|next) week\b|\bweek(?:ly)? (?:plan|schedule|calendar)\b"
            r"|\bcontent (?:plan|calendar|schedule)\b|\bposting (?:plan|schedule)\b"
        ),
    ),
    _Rule("saved", _rx(r"\bsaved (?:ideas|posts|list)\b|\bmy saved\b|\bideas i saved\b"), _nothing),
    _Rule(
        "ideas",
        _rx(
            r"\bideas\b|\ban? idea (?:for|about|on|of)\b|\binspir(?:e me|ation)\b"
            r"|\bwhat (?:should|can|could|do) i (?:post|shoot|film|make|create|upload)\b"
        ),
    ),
    _Rule(
        "fans",
        _rx(
            r"\bnew (?:fans|subscribers|subs|members|followers|spenders)\b"
            r"|\bwho (?:has |have )?(?:just |recently )?(?:joined|subscribed)\b"
            r"|\b(?:fans|subscribers) who (?:just |recently )?joined\b"
        ),
        _joined,
    ),
    _Rule(
        "goal",
        _rx(
            r"\b(?:my|monthly|the|this month'?s) (?:earnings |revenue |income |sales )?"
            r"(?:goal|target)\b"
        ),
        _nothing,
    ),
    _Rule(
        "stats",
        _rx(
            r"\bhow much (?:did|have|do) i (?:make|made|earn|earned)\b|\bstat(?:s|istics)\b"
            r"|\bearn(?:ed|ings)?\b|\brevenue\b|\bincome\b|\bsales\b"
            r"|\bhow (?:am i doing|did i do|is it going)\b"
        ),
        _stats,
    ),
    _Rule(
        "export",
        _rx(
            r"\b(?:export|download|copy of|get)\b.*\b(?:my|all(?: of)?(?: my)?) (?:data|account)\b"
        ),
        _nothing,
    ),
    _Rule("imports", _rx(r"\bmy (?:imports|uploads history)\b|\bimport history\b"), _nothing),
    _Rule("reminders", _rx(r"\b(?:my|post|posting) reminders\b|\bwhat did i plan\b"), _nothing),
    _Rule("team", _rx(r"\bmy team\b|\bwho (?:is|works) on my (?:team|account)\b"), _nothing),
    _Rule("accounts", _rx(r"\bswitch (?:the )?accounts?\b|\bmy (?:creators|accounts)\b"), _nothing),
    _Rule(
        "fans export",
        _rx(r"\bexport\b.*\bfans\b|\bfans?\b.*\b(?:csv|spreadsheet|export)\b"),
        _nothing,
    ),
    _Rule(
        "fans",
        _rx(
            r"\b(?:my |top |best |biggest )fans\b|\bfan list\b|\bspenders\b"
            r"|\bwho (?:spends|spent|pays|paid)\b"
        ),
        _nothing,
    ),
    _Rule("vault", _rx(r"\bvault\b|\bmy (?:files|media|uploads)\b"), _nothing),
    _Rule("help", _rx(r"^\s*(?:help|what can you do|commands|menu)\W*$"), _nothing),
)

_GREETING = _rx(
    r"^\s*(?:hi|hello|hey|hiya|yo|good (?:morning|afternoon|evening))"
    r"(?: (?:there|babe|bot|huntaze|again))?\b[\s!.,]*$"
)
_THANKS = _rx(r"^\s*(?:thanks|thank you|thx|ty|cheers)\b")


@dataclass(frozen=True)
class Reading:
    """What a sentence was taken for: a command line, or a short answer of its own."""

    command_line: str | None = None
    answer: str | None = None


def _trim(words: list[str]) -> list[str]:
    while words and words[0].lower().strip(_EDGE_PUNCT) in _CHATTER:
        words = words[1:]
    while words and words[-1].lower().strip(_EDGE_PUNCT) in _CHATTER:
        words = words[:-1]
    return [w.strip(_EDGE_PUNCT) for w in words if w.strip(_EDGE_PUNCT)]


def read(text: str) -> Reading:
    """The command a plain sentence asks for, or a short answer; empty when nothing fits."""
    if _GREETING.match(text):
        return Reading(answer="greeting")
    if _THANKS.match(text) and len(text.split()) <= 4:  # not "thanks, now 3 ideas for …"
        return Reading(answer="thanks")
    for rule in _RULES:
        if m := rule.trigger.search(text):
            args = rule.args(text, m)
            return Reading(command_line=f"/{rule.command} {args}".strip())
    return Reading()
