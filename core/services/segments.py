"""Fan segments: a small filter language shared by ``/fans`` and ``/personalize ... to``.

Terms are separated by spaces and must all hold::

    inactive:14d        last active 14 or more days ago      (also inactive-14d, inactive>=2w)
    active:7d           last active in the last 7 days       (units: d, w, m = 30 days)
    joined:7d           joined in the last 7 days (a fan export's join date, or their first
                        payment); !joined:30d joined over 30 days ago
    spent>=100          total spent: >=, >, <=, <, = ; spent:100 means >= 100 ($ allowed)
    tier:vip            tier is vip; tier:vip,whale means either
    tag:cosplay         has the tag; tag:cosplay,feet means either; #cosplay is short for it
    status:expired      subscription expired or cancelled; status:subscribed for current ones
    platform:fansly     paid on Fansly (from the imported earnings); platform:fansly,onlyfans
                        means either, two terms both; !platform:fansly never did (on:fansly)
    !tier:new -tag:x    not that tier / not that tag
    vip whales new regulars   named tiers; inactive (= inactive:14d), lapsed (= inactive:30d),
                        active (= active:7d), expired / subscribed (= status:...),
                        all / everyone (every fan)

A fan whose last-active date is unknown never matches ``inactive`` or ``active`` (nor one
whose join date is unknown ``joined``); one whose
subscription status is unknown (no status column in the import) never matches ``status``, so
``!status:expired`` means ``status:subscribed``, as ``!inactive:7d`` means ``active:7d``.
``parse_segment`` turns the text into a ``core.ports.FanQuery`` (dates resolved against
``today``); the repository runs it in SQL; ``matches`` is the same rule in Python.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from core.chat import escape_markup
from core.errors import UsageError
from core.models import MAX_AMOUNT, Fan
from core.ports import FanQuery
from core.rules import earnings_platform

TIERS = ("new", "regular", "vip", "whale")
SEGMENT_HELP = (
    "Filters: inactive:14d, active:7d, joined:7d, spent>=100, tier:vip, tag:cosplay, "
    "status:expired, platform:fansly, !tier:new — "
    "combine them with spaces, e.g. inactive:14d spent>=100 tier:vip."
)
NAMED: dict[str, str] = {
    "all": "",
    "everyone": "",
    "everybody": "",
    "vip": "tier:vip",
    "vips": "tier:vip",
    "whale": "tier:whale",
    "whales": "tier:whale",
    "new": "tier:new",
    "regular": "tier:regular",
    "regulars": "tier:regular",
    "inactive": "inactive:14d",
    "lapsed": "inactive:30d",
    "active": "active:7d",
    "expired": "status:expired",
    "subscribed": "status:subscribed",
    "subscribers": "status:subscribed",
}
#: Subscription status words (segments and imports): True subscribed, False expired.
SUBSCRIPTION_WORDS: dict[str, bool] = {
    "subscribed": True, "subscriber": True, "subscribers": True, "active": True,
    "current": True, "renewing": True, "auto-renew": True, "rebilling": True,
    "expired": False, "cancelled": False, "canceled": False, "unsubscribed": False,
    "ended": False, "lapsed": False, "former": False, "inactive": False, "churned": False,
    "not subscribed": False, "ex-subscriber": False,
    "not renewing": True,  # auto-renew off: still subscribed until the period ends
}  # fmt: skip
_YES_NO = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False,
           "false": False, "0": False}  # fmt: skip


def subscription_status(raw: str, yes_no: bool = False) -> bool | None:
    """True subscribed, False expired or cancelled, None not a status word ("Active",
    "Expired", "Not subscribed"; yes / no only where a column itself says "subscribed")."""
    word = re.sub(r"[\s_]+", " ", raw.strip().lower())
    status = SUBSCRIPTION_WORDS.get(word)
    if status is None and yes_no:
        status = _YES_NO.get(word)
    return status


def status_word(subscribed: bool | None) -> str:
    """``subscribed``, ``expired`` or ``""`` (not known)."""
    return "" if subscribed is None else ("subscribed" if subscribed else "expired")


_TIER_WORDS = {"vips": "vip", "whales": "whale", "regulars": "regular", "top": "whale"}
_DURATION = re.compile(r"(\d{1,4})\s*(d|day|days|w|wk|week|weeks|m|mo|month|months)?\Z")
_TERM = re.compile(
    r"(?P<neg>[!-]|not:)?(?P<key>inactive|active|joined|spent|spend|tier|tiers|tag|tags|status|"
    r"platforms|platform|on)"
    r"(?P<op>>=|<=|:|=|>|<|-)(?P<value>.+)\Z"
)
_SPENT_OP = {":": ">=", "=": "=", ">=": ">=", ">": ">", "<=": "<=", "<": "<"}


def _days(raw: str) -> int:
    m = _DURATION.match(raw.strip().lower())
    if not m:
        raise UsageError(
            f"“{escape_markup(raw)}” is not a duration — use e.g. 14d, 2w or 3m. {SEGMENT_HELP}"
        )
    n = int(m.group(1))
    unit = (m.group(2) or "d")[0]
    return n * {"d": 1, "w": 7, "m": 30}[unit]


def _values(raw: str) -> list[str]:
    return [v.strip().lower().lstrip("#") for v in raw.split(",") if v.strip().lstrip("#")]


def _tiers(raw: str) -> frozenset[str]:
    tiers = set()
    for value in _values(raw):
        tier = _TIER_WORDS.get(value, value)
        if tier not in TIERS:
            raise UsageError(
                f"“{escape_markup(value)}” is not a tier — use new, regular, vip or whale."
            )
        tiers.add(tier)
    if not tiers:
        raise UsageError("Give a tier, e.g. tier:vip.")
    return frozenset(tiers)


def _merge_bound(current: date | None, new: date, lower: bool) -> date:
    if current is None:
        return new
    return max(current, new) if lower else min(current, new)


def is_segment_term(token: str) -> bool:
    """Could ``token`` be part of a segment (rather than a fan's handle)?"""
    t = token.strip().lower()
    return t in NAMED or t.startswith("#") or bool(_TERM.match(t))


def parse_segment(text: str, today: date) -> tuple[FanQuery, str]:
    """``(query, canonical text)``; UsageError with the grammar for anything unknown."""
    q = FanQuery()
    canonical: list[str] = []
    tokens = text.replace("\u2265", ">=").replace("\u2264", "<=").split()
    expanded: list[str] = []
    for token in tokens:
        low = token.lower()
        if low in NAMED:
            expanded += NAMED[low].split()
        elif low.startswith("#") and len(low) > 1:
            expanded.append("tag:" + low[1:])
        else:
            expanded.append(token)
    for token in expanded:
        m = _TERM.match(token.lower())
        if not m:
            raise UsageError(
                f"I don't understand the filter “{escape_markup(token)}”. {SEGMENT_HELP}"
            )
        neg, key, op, value = bool(m.group("neg")), m.group("key"), m.group("op"), m.group("value")
        if key in ("inactive", "active"):
            if neg:
                key = "active" if key == "inactive" else "inactive"
            if op not in (":", "=", "-", ">=", ">"):
                raise UsageError(f"Write {key}:14d (at least 14 days). {SEGMENT_HELP}")
            days = _days(value)
            if key == "inactive":
                bound = today - timedelta(days=days)
                q = replace(q, active_until=_merge_bound(q.active_until, bound, lower=False))
            else:
                bound = today - timedelta(days=days)
                q = replace(q, active_from=_merge_bound(q.active_from, bound, lower=True))
            canonical.append(f"{key}:{days}d")
        elif key == "joined":
            if op not in (":", "=", "-", "<=", "<"):
                raise UsageError(f"Write joined:7d (in the last 7 days). {SEGMENT_HELP}")
            days = _days(value)
            bound = today - timedelta(days=days)
            if neg:  # joined before the window
                before = bound - timedelta(days=1)
                q = replace(q, joined_until=_merge_bound(q.joined_until, before, lower=False))
            else:
                q = replace(q, joined_from=_merge_bound(q.joined_from, bound, lower=True))
            canonical.append(("!" if neg else "") + f"joined:{days}d")
        elif key in ("spent", "spend"):
            if neg or op == "-":
                raise UsageError(f"Write spent>=100 or spent<50. {SEGMENT_HELP}")
            try:
                amount = Decimal(value.strip().lstrip("$").replace(",", ""))
            except InvalidOperation:
                raise UsageError(
                    f"“{escape_markup(value)}” is not an amount — e.g. spent>=100."
                ) from None
            if not amount.is_finite() or amount < 0:
                raise UsageError("The amount must be zero or more, e.g. spent>=100.")
            if amount > MAX_AMOUNT:
                raise UsageError(f"The amount must be at most {MAX_AMOUNT:,}, e.g. spent>=100.")
            q = replace(q, spent=(*q.spent, (_SPENT_OP[op], amount)))
            canonical.append(f"spent{_SPENT_OP[op]}{amount}")
        elif key in ("tier", "tiers"):
            if op not in (":", "="):
                raise UsageError(f"Write tier:vip. {SEGMENT_HELP}")
            tiers = _tiers(value)
            if neg:
                q = replace(q, exclude_tiers=q.exclude_tiers | tiers)
            else:
                q = replace(q, tiers=tiers if q.tiers is None else q.tiers & tiers)
            canonical.append(("!" if neg else "") + "tier:" + ",".join(sorted(tiers)))
        elif key in ("platform", "platforms", "on"):
            platforms = frozenset(p for p in map(earnings_platform, _values(value)) if p)
            q, term = _list_term(q, "platform", neg, op, platforms)
            canonical.append(term)
        elif key == "status":
            status = subscription_status(value) if op in (":", "=") else None
            if status is None:
                raise UsageError(f"Write status:expired or status:subscribed. {SEGMENT_HELP}")
            status ^= neg
            if q.subscribed is not None and q.subscribed != status:
                raise UsageError("A fan is either subscribed or expired, not both.")
            q = replace(q, subscribed=status)
            canonical.append("status:" + status_word(status))
        else:
            q, term = _list_term(q, "tag", neg, op, frozenset(_values(value)))
            canonical.append(term)
    return q, " ".join(canonical) or "all"


_LIST_TERMS = {"tag": ("tags", "cosplay"), "platform": ("platforms", "fansly")}


def _list_term(
    q: FanQuery, key: str, neg: bool, op: str, values: frozenset[str]
) -> tuple[FanQuery, str]:
    """A ``tag:`` or ``platform:`` term: the fan has one of ``values`` (every such term must
    hold), or with ``neg`` none of them; the query with it, and its canonical text."""
    field, example = _LIST_TERMS[key]
    if op not in (":", "="):
        raise UsageError(f"Write {key}:{example}. {SEGMENT_HELP}")
    if not values:
        raise UsageError(f"Give a {key}, e.g. {key}:{example}.")
    if neg:
        q = replace(q, **{f"{field}_none": getattr(q, f"{field}_none") | values})
    else:
        q = replace(q, **{f"{field}_all": (*getattr(q, f"{field}_all"), values)})
    return q, ("!" if neg else "") + f"{key}:" + ",".join(sorted(values))


def is_everyone(query: FanQuery) -> bool:
    return query == FanQuery()


_OPS = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
    "=": lambda a, b: a == b,
}


def matches(query: FanQuery, fan: Fan) -> bool:
    """The segment rule in Python (the repository does the same in SQL)."""
    if query.tiers is not None and fan.tier not in query.tiers:
        return False
    if fan.tier in query.exclude_tiers:
        return False
    tags = {t.lower() for t in fan.tags}
    if any(not (alternatives & tags) for alternatives in query.tags_all):
        return False
    if query.tags_none & tags:
        return False
    if any(not _OPS[op](fan.total_spent, amount) for op, amount in query.spent):
        return False
    if query.subscribed is not None and fan.subscribed is not query.subscribed:
        return False
    platforms = set(fan.platforms)
    if any(not (alternatives & platforms) for alternatives in query.platforms_all):
        return False
    if query.platforms_none & platforms:
        return False
    if query.active_from is not None and (
        fan.last_active is None or fan.last_active < query.active_from
    ):
        return False
    if query.joined_from is not None and (
        fan.first_seen is None or fan.first_seen < query.joined_from
    ):
        return False
    if query.joined_until is not None and (
        fan.first_seen is None or fan.first_seen > query.joined_until
    ):
        return False
    return not (
        query.active_until is not None
        and (fan.last_active is None or fan.last_active > query.active_until)
    )


__all__ = [
    "NAMED",
    "SEGMENT_HELP",
    "SUBSCRIPTION_WORDS",
    "is_everyone",
    "is_segment_term",
    "matches",
    "parse_segment",
    "status_word",
    "subscription_status",
]
