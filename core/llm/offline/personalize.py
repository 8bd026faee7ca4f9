"""Personalised message drafts from a creator's template (the creator reviews and sends them).

Placeholders (case-insensitive, spaces inside the braces tolerated, aliases in brackets):

- ``{name}`` — the fan's name, or their handle when no name is known ("there" when the handle
  is only a platform's user number) [fan, fan_name]
- ``{first_name}`` — the first word of the name, or as ``{name}`` [first, firstname]
- ``{handle}`` — the fan's handle without '@' [username, user]
- ``{tier}`` — a fan-facing tier word: new, regular, VIP, top (never "whale")
- ``{days_inactive}`` — days since the fan was last active ("a few" when unknown) [days]
- ``{last_active}`` — that date, e.g. "March 3" ("a while ago" when unknown) [last_seen]
- ``{total_spent}`` — what the fan has spent, e.g. "$1,250", "$19.99" or "€80" (in the currency of
  the account's earnings) [spent]
- ``{greeting}`` — a greeting with the fan's name, fitted to tier and recency
- ``{closing}`` — a closing line fitted to tier and recency
- ``{niche}`` — the creator's main niche, e.g. "fitness"

Greeting and closing rules (data in ``core/data/greetings.json``), by tier (new / regular / vip /
whale) and recency (active in the last 3 days / 4–13 / 14–29 / 30+ / unknown):

- a template without ``{greeting}`` that opens with a salutation ("Hey {name},", "Hi babe!",
  "Hey, …", "Hey guess what…") keeps the creator's greeting word, gets the fan's name in it (a
  lone term of endearment such as "babe" gives way to the name) and the recency line right
  after; a template that names the fan in its first sentence without a salutation ("Thanks
  {name} for…", "{first_name}, the new set is live") already addresses them and gets no greeting
  line; any other template gets a full greeting line in front;
- a template without ``{closing}`` gets the closing line at the end (before a final sign-off
  such as "xo, Mia");
- every placeholder is filled, stray braces are dropped — the draft never shows ``{…}`` — and the
  creator's restricted words are scrubbed.
"""

from __future__ import annotations

import difflib
import random
import re
from datetime import date
from decimal import Decimal

from core import vocab
from core.llm.offline.banks import capitalise, fill, load_banks
from core.llm.offline.captions import STOPWORDS
from core.models import Fan, Profile
from core.rules import scrub
from core.services.analytics import format_money

PLACEHOLDER_HELP: dict[str, str] = {
    "name": "the fan's name, or their handle when no name is known",
    "first_name": "the first word of the fan's name, or their handle",
    "handle": "the fan's handle without '@'",
    "tier": "new, regular, VIP or top",
    "days_inactive": "days since the fan was last active",
    "last_active": "the date the fan was last active, e.g. March 3",
    "total_spent": "what the fan has spent, e.g. $120",
    "greeting": "a greeting with the fan's name, fitted to tier and recency",
    "closing": "a closing line fitted to tier and recency",
    "niche": "your main niche, e.g. fitness",
}
PLACEHOLDERS: frozenset[str] = frozenset(PLACEHOLDER_HELP)
ALIASES: dict[str, str] = {
    "fan": "name",
    "fan_name": "name",
    "firstname": "first_name",
    "first": "first_name",
    "username": "handle",
    "user": "handle",
    "days": "days_inactive",
    "last_seen": "last_active",
    "spent": "total_spent",
}

_PLACEHOLDER = re.compile(r"\{([^{}\n]*)\}")
_NAME_PLACEHOLDERS = {"name", "first_name", "handle"}
_ENDEARMENTS = {
    "babe",
    "baby",
    "love",
    "hun",
    "hon",
    "honey",
    "darling",
    "sweetie",
    "sweetheart",
    "you",
    "there",
    "handsome",
    "gorgeous",
    "cutie",
    "friend",
    "lovely",
    "bestie",
    "stranger",
}
_SALUTATION = re.compile(
    r"^(?P<lead>\s*)(?P<word>hey there|hi there|hello there|good morning|good afternoon|"
    r"good evening|hey+|hi+|hello|hiya|heya|howdy|yo|morning|evening|dear)"
    r"(?![\w'])(?P<clause>[^,!.?\n]*?)(?P<punct>[,!.?]+|(?=\n)|$)",
    re.IGNORECASE,
)
_SIGN_OFF = re.compile(
    r"^\s*(?:xo+|xx+|x+o+|love|lots of love|kisses|hugs|yours|[-—–]\s*\w+)\b", re.IGNORECASE
)


def _key(raw: str) -> str:
    k = re.sub(r"[\s-]+", "_", raw.strip().lower())
    return ALIASES.get(k, k)


def template_problems(template: str) -> list[str]:
    """What is wrong with a template, in words a creator understands ([] when it is fine)."""
    if not template or not template.strip():
        return ["the template is empty"]
    problems: list[str] = []
    start = -1
    for i, ch in enumerate(template):
        if ch == "{":
            if start >= 0:
                problems.append("a '{' inside another placeholder")
            start = i
        elif ch == "}":
            if start < 0:
                problems.append("a '}' without its opening '{'")
                continue
            inner = template[start + 1 : i]
            start = -1
            key = _key(inner)
            if not key:
                problems.append("an empty placeholder {}")
            elif key not in PLACEHOLDERS:
                names = sorted(PLACEHOLDERS | set(ALIASES))
                close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
                if close:
                    hint = f"did you mean {{{ALIASES.get(close[0], close[0])}}}?"
                else:
                    hint = "use " + ", ".join(f"{{{n}}}" for n in PLACEHOLDER_HELP)
                problems.append(f"unknown placeholder {{{inner.strip()}}} ({hint})")
    if start >= 0:
        problems.append("a '{' that is never closed")
    return list(dict.fromkeys(problems))


def recency(last_active: date | None, today: date) -> str:
    """active (0–3 days) | recent (4–13) | lapsing (14–29) | lapsed (30+) | unknown."""
    if last_active is None:
        return "unknown"
    days = max(0, (today - last_active).days)
    if days <= 3:
        return "active"
    if days <= 13:
        return "recent"
    if days <= 29:
        return "lapsing"
    return "lapsed"


def _money(amount: Decimal, currency: str) -> str:
    """``$1,250``, ``€19.99``, ``1,250 CAD``: whole amounts without cents."""
    q = Decimal(amount).quantize(Decimal("0.01"))
    text = format_money(q, currency)
    return text.replace(".00", "", 1) if q == q.to_integral_value() else text


def _date(d: date, today: date) -> str:
    text = f"{d:%B} {d.day}"
    return text if d.year == today.year else f"{text}, {d.year}"


def _safe(text: str) -> str:
    return text.replace("{", "").replace("}", "").strip()


_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?")


def _words(text: str) -> set[str]:
    """The words that carry meaning, roughly stemmed ("missed", "missing" -> "miss"; "thanks" ->
    "thank"), without stop words."""
    out = set()
    for w in _WORD.findall(text.lower()):
        if len(w) < 4 or w in STOPWORDS or "'" in w:  # "i've", "it's": no meaning of their own
            continue
        if w.endswith("ing") and len(w) > 6:
            w = w[:-3]
        elif w.endswith("ed") and len(w) > 5:
            w = w[:-2]
        elif w.endswith("s") and not w.endswith("ss"):
            w = w[:-1]
        out.add(w)
    return out


def _fresh(drawn: str, options: list[str], said: str, rng: random.Random) -> str:
    """``drawn``, or another of ``options`` when it says again what ``said`` says ("Miss you —
    talk soon" after a template's "miss you!"); none when every option does."""
    words = _words(said)
    if not drawn or not _words(drawn) & words:
        return drawn
    others = [o for o in options if o and not _words(o) & words]
    return rng.choice(others) if others else ""


def _values(
    fan: Fan,
    profile: Profile,
    today: date,
    rng: random.Random,
    currency: str = "USD",
    template: str = "",
) -> tuple[dict[str, str], str, str]:
    """(placeholder values, salutation, recency line); draws from ``rng`` in a fixed order. The
    recency and closing lines never repeat what the template says."""
    g = load_banks().greetings
    handle = _safe(fan.handle.lstrip("@")) or "there"
    name = _safe(fan.address()) or "there"  # not "Hey u12345678!"
    first = name.split()[0] if _safe(fan.name) else name
    tier = fan.tier if fan.tier in g["salutations"] else "regular"
    bucket = recency(fan.last_active, today)
    salutation = fill(rng.choice(g["salutations"][tier]), {"first_name": first})
    flourish = rng.choice(g["tier_flourish"][tier])
    line = rng.choice(g["recency_lines"][tier][bucket])
    closing = rng.choice(g["closings"][tier][bucket])
    said = _PLACEHOLDER.sub(" ", template)
    line = _fresh(line, g["recency_lines"][tier][bucket], said, rng)
    closing = _fresh(closing, g["closings"][tier][bucket], f"{said}\n{line}", rng)
    greeting = (
        f"{salutation}!" + (f" {line}" if line else "") + (f" {flourish}" if flourish else "")
    )
    niches = [vocab.normalise("niches", n) for n in profile.niches]
    known = [n for n in niches if n]
    if known:
        niche = vocab.label("niches", known[0]).lower()
    elif profile.niches:
        niche = profile.niches[0].replace("_", " ")
    else:
        niche = "content"
    values = {
        "name": name,
        "first_name": first,
        "handle": handle,
        "tier": g["tier_words"].get(tier, tier),
        "days_inactive": (
            str(max(0, (today - fan.last_active).days)) if fan.last_active else "a few"
        ),
        "last_active": _date(fan.last_active, today) if fan.last_active else "a while ago",
        "total_spent": _money(fan.total_spent, currency),
        "greeting": greeting,
        "closing": closing,
        "niche": niche,
    }
    return values, line, closing


def _fill_template(text: str, values: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        key = _key(m.group(1))
        if key in values:
            return values[key]
        close = difflib.get_close_matches(key, list(values), n=1, cutoff=0.6)
        return values[close[0]] if close else ""

    return _PLACEHOLDER.sub(sub, text).replace("{", "").replace("}", "")


def _used(template: str) -> set[str]:
    return {_key(m.group(1)) for m in _PLACEHOLDER.finditer(template)}


def _open_with_salutation(template: str, values: dict[str, str], line: str) -> str | None:
    """Rewrite a template's own salutation to carry the name and the recency line."""
    m = _SALUTATION.match(template)
    if m is None:
        return None
    word = capitalise(m.group("word"))
    clause = m.group("clause").strip()
    ph = _PLACEHOLDER.fullmatch(clause.lstrip("@"))
    punct = m.group("punct").strip()[:1] or ","
    if ph and _key(ph.group(1)) in _NAME_PLACEHOLDERS:  # "Hey {name},"
        who = _fill_template(clause, values)
        rest = template[m.end() :]
    elif not clause or clause.lower() in _ENDEARMENTS:  # "Hey," / "Hi babe!"
        who = values["first_name"]
        rest = template[m.end() :]
    else:  # "Hey guess what!" -> "Hey Anna, guess what!"
        who = values["first_name"]
        rest = template[m.end("word") :]
        punct = ","
    filled = _fill_template(rest, values).lstrip(" \t")
    sep = "\n" if filled.startswith("\n") else " "
    body = filled.lstrip("\n")
    if line:
        head = f"{word} {who}! {line}"
        return f"{head}{sep}{capitalise(body)}" if body.strip() else head
    if not body.strip():
        return f"{word} {who}{'!' if punct == ',' else punct}"
    return f"{word} {who}{punct}{sep}{body}"


_FIRST_SENTENCE = re.compile(r"^[^.!?\n]*")


def _names_the_fan_first(template: str) -> bool:
    """Whether the template's first sentence holds the fan's name ("Thanks {name}, …")."""
    first = _FIRST_SENTENCE.match(template.lstrip())
    return bool(first) and bool(_used(first.group(0)) & _NAME_PLACEHOLDERS)


def _add_closing(text: str, closing: str) -> str:
    lines = text.rstrip().split("\n")
    if len(lines) > 1 and _SIGN_OFF.match(lines[-1]):
        return "\n".join([*lines[:-1], closing, lines[-1]])
    return f"{text.rstrip()}\n{closing}"


def _tidy(text: str) -> str:
    out = []
    for raw in text.split("\n"):
        line = re.sub(r"[ \t]{2,}", " ", raw).strip()
        line = re.sub(r"\s+([,.!?])", r"\1", line)
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def personalize_one(
    template: str,
    fan: Fan,
    profile: Profile,
    today: date,
    rng: random.Random,
    currency: str = "USD",
) -> str:
    """One draft for one fan: every placeholder filled, greeting and closing fitted to the fan's
    tier and recency, the fan's name used, restricted words scrubbed, never a ``{`` or ``}``.
    ``currency``: what the fan's total spent is in."""
    values, line, closing = _values(fan, profile, today, rng, currency, template)
    used = _used(template)
    if "greeting" in used:
        text = _fill_template(template, values)
    else:
        rewritten = _open_with_salutation(template, values, line)
        if rewritten is not None:
            text = rewritten
        elif _names_the_fan_first(template):
            opener = _PLACEHOLDER.match(template.lstrip())
            if _safe(fan.address()):  # a name is known
                text = _fill_template(template, values)
            elif opener and _key(opener.group(1)) in ("name", "first_name"):
                text = "Hey " + _fill_template(template, values).lstrip()  # "Hey there, …"
            else:  # "Thanks {name} for…" with no name known: "Thanks for…", not "Thanks there"
                text = _fill_template(template, {**values, "name": "", "first_name": ""})
                text = re.sub(r",\s*(?=[.!?\n]|$)", "", text)  # "…here, {name}!" -> "…here!"
        else:
            body = _fill_template(template, values).strip()
            text = f"{values['greeting']}\n{body}" if body else values["greeting"]
    if "closing" not in used:
        text = _add_closing(text, closing)
    text = scrub(_tidy(text), profile.restricted_words)
    return _tidy(text.replace("{", "").replace("}", ""))
