"""/fans (add, list with segment filters) and /personalize (one fan, or a whole segment)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from core import vocab
from core.chat import FileBlock, Reply, escape_markup
from core.commands.captions import LIMITED
from core.commands.registry import Choice, Registry, choices, split_args
from core.context import Context
from core.errors import UsageError
from core.jobs import BACKGROUND_SEGMENT_FANS, enqueue_personalize
from core.llm.offline.personalize import template_problems
from core.models import MAX_AMOUNT, Fan, FanTier, MessageDraft, Profile
from core.ports import FanPatch, FanQuery, Store
from core.services.analytics import CATEGORY_LABELS, format_money
from core.services.fans import NOTE_LENGTH, normalise_handle
from core.services.imports import FUTURE_SLACK
from core.services.segments import (
    SEGMENT_HELP,
    is_segment_term,
    parse_segment,
    status_word,
    subscription_status,
)

#: Fans listed in a /fans reply, and drafted in one /personalize ... to <segment>.
LIST_LIMIT = 50
MAX_SEGMENT_DRAFTS = 1000
DRAFTS_PER_CALL = 50
PREVIEW_DRAFTS = 3
MAX_EXPORT = 50_000  # fans in one CSV export
FANS_USAGE = "/fans [@handle | [export] filters …] | add <handle> … | note <handle> …"
EMPTY_LIST = (
    "Your fan list is empty. Add one with /fans add @handle name=…, or send your platform's "
    "fan or subscriber export (CSV)."
)
PERSONALIZE_USAGE = '/personalize "<template with {name}>" for <fan> | to <segment>'


class FansArgs(BaseModel):
    """Flat, so that every platform can offer the fields as typed options."""

    action: Literal["list", "export", "show", "add", "note"] = Field(
        "list",
        description="list, export (a CSV file of them all), show one fan, add or change one, "
        "or note something about one",
    )
    handle: str | None = Field(None, max_length=100, description="The fan's handle, e.g. @mia")
    name: str | None = Field(None, max_length=80, description="The fan's first name")
    tier: FanTier | None = Field(None, description="new, regular, vip or whale")
    spent: Decimal | None = Field(None, ge=0, le=MAX_AMOUNT, description="Total spent so far")
    last_active: date | None = Field(None, description="Last active, YYYY-MM-DD")
    joined: date | None = Field(None, description="When they joined, YYYY-MM-DD")
    tags: str | None = Field(None, description="Comma-separated tags")
    status: Literal["subscribed", "expired"] | None = Field(
        None, description="Subscription: subscribed or expired"
    )
    segment: str | None = Field(
        None,
        max_length=300,
        description="Filter the list, e.g. inactive:14d spent>=100 tier:vip tag:cosplay",
    )
    note: str | None = Field(
        None, min_length=1, max_length=NOTE_LENGTH, description="A note about the fan (note)"
    )

    def patch(self) -> FanPatch:
        """The fields given, for a new fan or over a stored one (which keeps the others: its
        spend, notes and history from the imports)."""
        if not self.handle or not normalise_handle(self.handle):
            raise UsageError("Give the fan's handle, e.g. /fans add @mia name=Mia tier=vip.")
        given = {
            "name": self.name,
            "tier": self.tier,
            "total_spent": self.spent,
            "last_active": self.last_active,
            "first_seen": self.joined,
            "subscribed": None if self.status is None else self.status == "subscribed",
        }
        values = {key: value for key, value in given.items() if value is not None}
        if self.tags is not None:
            values["tags"] = [t.strip().lower() for t in self.tags.split(",") if t.strip()]
        return FanPatch(normalise_handle(self.handle), values)


def parse_fans(raw: str) -> dict[str, Any]:
    """``add <handle> key=value...``, ``[show] <handle>`` (one fan), or ``[list|export]
    <segment filters>``."""
    tokens = split_args(raw)
    if not tokens:
        return {}
    first = tokens[0].lower()
    if first == "note":  # "/fans note @mia birthday March 3": the text as written
        parts = raw.strip().split(None, 2)
        return {
            "action": "note",
            **({"handle": parts[1]} if len(parts) > 1 else {}),
            **({"note": parts[2]} if len(parts) > 2 else {}),
        }
    if first == "show" or (len(tokens) == 1 and first.startswith("@")):  # "/fans @mia"
        if first == "show" and len(tokens) != 2:
            raise UsageError("Name one fan: /fans @mia.")
        return {"action": "show", "handle": tokens[-1]}
    if first != "add":
        action = first if first in ("list", "export") else "list"
        rest = tokens[1:] if first in ("list", "export") else tokens
        return {"action": action, **({"segment": " ".join(rest)} if rest else {})}
    values: dict[str, Any] = {"action": "add"}
    rest = tokens[1:]
    if rest and "=" not in rest[0]:
        values["handle"] = rest.pop(0)
    for token in rest:
        key, sep, value = token.partition("=")
        key = {"total_spent": "spent"}.get(key.lower(), key.lower())
        if not sep or key not in FansArgs.model_fields or key in {"action", "handle"}:
            raise UsageError(f"“{escape_markup(token)}” is not a fan field.")
        if key == "spent":
            value = value.lstrip("$€£")
        elif key == "status":
            status = subscription_status(value)
            value = value if status is None else status_word(status)
        values[key] = value
    return values


def describe_fan(
    fan: Fan, today: date, currency: str = "USD", paid_elsewhere: str | None = None
) -> str:
    """One fan's line. ``paid_elsewhere``: what a fan with no total in ``currency`` (the fan
    list's) paid in other currencies (``_paid_elsewhere``), said instead of a nought."""
    seen = (
        f"active {(today - fan.last_active).days}d ago" if fan.last_active else "activity unknown"
    )
    name = f" ({escape_markup(fan.name)})" if fan.name else ""
    status = status_word(fan.subscribed)
    spent = paid_elsewhere or format_money(fan.total_spent, currency)
    on = ", on " + ", ".join(vocab.label("platforms", p) for p in fan.platforms)
    return (
        f"@{escape_markup(fan.handle)}{name} — {fan.tier}, spent {spent}, {seen}"
        + (f", {status}" if status else "")
        + (escape_markup(on) if fan.platforms else "")
    )


#: Big spenders gone quiet (in the summaries): among the account's biggest spenders, those
#: neither active nor paying for QUIET_DAYS to QUIET_UNTIL days (longer: gone, /fans lapsed).
QUIET_TOP = 20
QUIET_DAYS = 14
QUIET_UNTIL = 90
QUIET_SHOWN = 5


async def quiet_big_spenders(
    store: Store, account_id: int, today: date, *, just_now: bool = False
) -> str | None:
    """Markup naming the biggest spenders (the top ``QUIET_TOP``) who went quiet, each with what
    they spent and since when, and how to write to them; only those whose quiet reached
    ``QUIET_DAYS`` today when ``just_now`` (a daily summary names each once). None: nobody."""
    top = await store.fan_lists.query(account_id, FanQuery(), limit=QUIET_TOP)
    quiet = [
        (fan, (today - fan.last_active).days)
        for fan in top
        if fan.total_spent > 0
        and fan.last_active is not None
        and QUIET_DAYS <= (today - fan.last_active).days <= QUIET_UNTIL
    ]
    if just_now:
        quiet = [(fan, days) for fan, days in quiet if days == QUIET_DAYS]
    if not quiet:
        return None
    currency = await store.earnings.currency(account_id) or "USD"
    named = " · ".join(
        f"@{escape_markup(fan.handle)} ({format_money(fan.total_spent, currency)}, {days} days)"
        for fan, days in quiet[:QUIET_SHOWN]
    )
    more = f" and {len(quiet) - QUIET_SHOWN} more" if len(quiet) > QUIET_SHOWN else ""
    first = quiet[0][0].handle.replace("`", "")  # inside a code span: as it is
    return (
        f"**Big spenders gone quiet** (of your {QUIET_TOP} biggest, no activity for "
        f"{QUIET_DAYS}+ days): {named}{more}. A personal note brings many back: "
        f'`/personalize "Hey {{name}}, I\'ve missed you" for @{first}`.'
    )


async def new_fans(store: Store, account_id: int, today: date, days: int) -> str | None:
    """Markup naming the fans who joined in the ``days`` before ``today`` (biggest spenders
    first, ``QUIET_SHOWN`` by name) and the ``/personalize`` that welcomes them all; None:
    nobody joined (or the imports give no join dates)."""
    since = today - timedelta(days=days)
    query = FanQuery(joined_from=since, joined_until=today - timedelta(days=1))
    count = await store.fan_lists.count(account_id, query)
    if not count:
        return None
    fans = await store.fan_lists.query(account_id, query, limit=QUIET_SHOWN)
    named = " · ".join(f"@{escape_markup(f.handle)}" for f in fans)
    more = f" and {count - len(fans)} more" if count > len(fans) else ""
    when = "yesterday" if days == 1 else f"in the last {days} days"
    return (
        f"**New fans** ({count} joined {when}): {named}{more}. Welcome them: "
        f'`/personalize "Welcome, {{name}}! So happy you\'re here" to joined:{days}d`.'
    )


class PersonalizeArgs(BaseModel):
    template: str = Field(min_length=1, max_length=2000, description="Your message template")
    handle: str | None = Field(None, min_length=1, description="One fan's handle, e.g. @mia")
    segment: str | None = Field(
        None,
        min_length=1,
        max_length=300,
        description="Or a segment, e.g. inactive:14d tier:vip (a draft for every fan in it)",
    )

    @model_validator(mode="after")
    def _one_target(self) -> PersonalizeArgs:
        if bool(self.handle) == bool(self.segment):
            raise ValueError("give either a fan's handle or a segment")
        return self


_PERSONALIZE_FORM = (
    'Write the template in quotes, then "for" and a fan\'s handle, or "to" and a segment '
    "(e.g. to inactive:14d tier:vip)."
)


def parse_personalize(raw: str) -> dict[str, str]:
    tokens = split_args(raw)
    if len(tokens) < 3 or tokens[1].lower() not in {"for", "to"}:
        raise UsageError(_PERSONALIZE_FORM)
    template, word, rest = tokens[0], tokens[1].lower(), tokens[2:]
    if word == "for":
        if len(rest) != 1:
            raise UsageError(_PERSONALIZE_FORM)
        return {"template": template, "handle": rest[0]}
    if len(rest) == 1 and not is_segment_term(rest[0]):
        return {"template": template, "handle": rest[0]}  # "to @mia" still means one fan
    return {"template": template, "segment": " ".join(rest)}


_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")


def defused(row: Iterable[str]) -> list[str]:
    """Cells a spreadsheet would run as a formula ("=HYPERLINK(…)", "@SUM", "-2+3") get a
    leading quote; plain numbers ("-5.00", a refund) stay numbers."""
    return [
        "'" + v if v[:1] in ("=", "+", "-", "@", "\t", "\r") and not _NUMBER.fullmatch(v) else v
        for v in row
    ]


def _csv(header: list[str], rows: Iterable[list[str]]) -> bytes:
    """CSV for spreadsheets: UTF-8 with BOM, formula-looking cells defused."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(defused(row) for row in rows)
    return out.getvalue().encode("utf-8-sig")


def _fan_cells(fan: Fan | None) -> list[str]:
    """name, tier, total_spent, last_active, subscription of a fan ("" each when unknown)."""
    if fan is None:
        return ["", "", "", "", ""]
    return [
        fan.name,
        fan.tier,
        str(fan.total_spent),
        fan.last_active.isoformat() if fan.last_active else "",
        status_word(fan.subscribed),
    ]


FAN_COLUMNS = ["handle", "name", "tier", "total_spent", "last_active", "subscription"]


def drafts_csv(fans: list[Fan], drafts: list[MessageDraft]) -> bytes:
    """The drafts as CSV, one row a fan."""
    by_handle = {f.handle: f for f in fans}
    return _csv(
        [*FAN_COLUMNS, "draft"],
        ([d.fan_handle, *_fan_cells(by_handle.get(d.fan_handle)), d.text] for d in drafts),
    )


def fans_csv(fans: list[Fan], currency: str) -> bytes:
    """A fan list as CSV (biggest spenders first, as listed), with what the list knows."""
    return _csv(
        [*FAN_COLUMNS, "joined", "currency", "platforms", "tags", "notes", "your_notes"],
        (
            [
                f.handle,
                *_fan_cells(f),
                f.first_seen.isoformat() if f.first_seen else "",
                currency,
                " ".join(f.platforms),
                ", ".join(f.tags),
                f.notes,
                f.journal,
            ]
            for f in fans
        ),
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "all"


async def complete_handle(ctx: Context, prefix: str) -> list[Choice]:
    key = normalise_handle(prefix)
    return choices(h for h in await ctx.app.store.fans.handles(ctx.account_id) if h.startswith(key))


def register(reg: Registry) -> None:
    @reg.command(
        "fans",
        "Your fan list",
        usage=FANS_USAGE,
        args=FansArgs,
        parser=parse_fans,
        complete={"handle": complete_handle},
        examples=["/fans", "/fans add @mia name=Mia tier=vip spent=240 last_active=2026-11-01"],
    )
    async def fans(ctx: Context, args: FansArgs) -> Reply:
        today = await ctx.today()
        if args.action == "add":
            for name, day in (("last_active", args.last_active), ("joined", args.joined)):
                if day is not None and day > today + FUTURE_SLACK:
                    raise UsageError(f"{name} {day} is in the future.")
            patch = args.patch()
            fan, added = await ctx.app.fans.save(ctx.account_id, patch)
            done = "Added " if added else "Updated " if patch.values else "Already in your list: "
            return Reply.text(
                done + describe_fan(fan, today, await ctx.currency()),
                result=fan.model_dump(mode="json"),
            )
        if args.action == "note":
            if not args.handle or not args.note:
                raise UsageError(
                    "Write it after the fan's handle: /fans note @mia birthday March 3."
                )
            fan = await ctx.app.fans.note(ctx.account_id, args.handle, args.note, today)
            return Reply.text(
                f"Noted on @{escape_markup(fan.handle)}'s card (/fans @{escape_markup(fan.handle)}"
                "):\n" + escape_markup(fan.journal),
                result=fan.model_dump(mode="json"),
            )
        if args.action == "export":
            if not ctx.account.may("manager"):  # the whole list, what each fan spent
                return Reply.text(
                    "Exporting the fan list is for the account's owner and managers: you're "
                    "working on it as a chatter on its team."
                )
            return await _export_fans(ctx, args.segment, today)
        if args.action == "show":
            if not args.handle:
                raise UsageError("Name the fan: /fans @mia.")
            fan = await ctx.app.fans.get(ctx.account_id, args.handle)  # NotFound: close handles
            return await _show_fan(ctx, fan, today)
        word = (args.segment or "").strip()
        if word and " " not in word and not is_segment_term(word):
            found = await ctx.app.store.fans.get(ctx.account_id, normalise_handle(word))
            if found is not None:
                return await _show_fan(ctx, found, today)  # "/fans mia": a fan, not a filter
        return await _list_fans(ctx, args.segment, today)

    @reg.command(
        "personalize",
        "Drafts for your fans (you send them)",
        usage=PERSONALIZE_USAGE,
        args=PersonalizeArgs,
        parser=parse_personalize,
        complete={"handle": complete_handle},
        examples=[
            '/personalize "Hey {name}, I missed you!" for @mia',
            '/personalize "Hey {name}, it has been {days_inactive} days!" to inactive:14d',
        ],
        aliases=("personalise",),
    )
    async def personalize(ctx: Context, args: PersonalizeArgs) -> Reply:
        if args.segment:
            return await _personalize_segment(ctx, args.template, args.segment)
        assert args.handle is not None
        fan = await ctx.app.fans.get(ctx.account_id, args.handle)
        _check_template(args.template)
        if ctx.app.quotas is not None:
            await ctx.app.quotas.consume(ctx.account_id, "personalize", 1)
        profile = await ctx.profile() or Profile()
        seed = ctx.seed("personalize", args.template, fan.handle, ctx.request_id)
        out = await ctx.app.personalize.drafts(
            ctx.account_id,
            profile,
            args.template,
            [fan],
            await ctx.today(),
            seed,
            await ctx.currency(),
        )
        reply = Reply(result=[d.model_dump(mode="json") for d in out.value], degraded=out.degraded)
        reply.add_text(
            f"**Draft for @{escape_markup(fan.handle)}** — review it, then send it yourself:"
        )
        for draft in out.value:
            reply.add_text(escape_markup(draft.text))
        if out.degraded:
            reply.add_text(LIMITED)
        return reply


def _check_template(template: str) -> None:
    problems = template_problems(template)
    if problems:
        raise UsageError("That template has a problem: " + "; ".join(problems) + ".")


def _segment(text: str, today: date, usage: str) -> tuple[FanQuery, str]:
    try:
        return parse_segment(text, today)
    except UsageError as exc:
        raise UsageError(exc.message, usage=usage) from exc


async def _no_match_hint(ctx: Context, query: FanQuery) -> str:
    """Why a segment is empty, when the data cannot say: no fan has a subscription status, or
    a join date."""
    repo = ctx.app.store.fan_lists
    joined = query.joined_from is not None or query.joined_until is not None
    any_join_date = FanQuery(joined_until=date.max)
    if joined and not await repo.count(ctx.account_id, any_join_date):
        return (
            "No fan has a join date yet: send your subscriber export (CSV) with its join date "
            "column, or your earnings export (a fan's first payment is when they joined)."
        )
    if query.subscribed is not None:
        known = await repo.count(ctx.account_id, FanQuery(subscribed=True))
        known += await repo.count(ctx.account_id, FanQuery(subscribed=False))
        if not known:
            return (
                "No fan has a subscription status yet: send your subscriber export (CSV) with "
                "its Status or Subscription End column, or set one with /fans add @handle "
                "status=expired."
            )
    return SEGMENT_HELP


async def _scope(ctx: Context, segment: str | None, today: date) -> tuple[FanQuery, str, int, int]:
    """(the query, its canonical text, fans matching, fans in all) of ``segment``, or of the
    whole list when there is none; nothing is parsed while the list is empty."""
    repo = ctx.app.store.fan_lists
    total = await repo.count(ctx.account_id, FanQuery())
    if not total or not segment:
        return FanQuery(), "", total, total
    query, canonical = _segment(segment, today, FANS_USAGE)
    return query, canonical, await repo.count(ctx.account_id, query), total


async def _list_fans(ctx: Context, segment: str | None, today: date) -> Reply:
    """The fan list, or a segment of it: biggest spenders first, ``LIST_LIMIT`` at most."""
    repo = ctx.app.store.fan_lists
    query, canonical, matching, total = await _scope(ctx, segment, today)
    if not total:
        return Reply.text(EMPTY_LIST)
    if canonical:
        head = f"**{matching:,} of {total:,} fans** match `{canonical}`"
        if not matching:
            return Reply.text(head + ". " + await _no_match_hint(ctx, query), result=[])
    else:
        head = f"**{total:,} fans**"
        subscribed = await repo.count(ctx.account_id, FanQuery(subscribed=True))
        expired = await repo.count(ctx.account_id, FanQuery(subscribed=False))
        if subscribed or expired:  # known from a subscriber export
            head += f" — {subscribed:,} subscribed, {expired:,} expired (/fans expired lists them)"
    fans = await repo.query(ctx.account_id, query, limit=LIST_LIMIT)
    currency = await ctx.currency()
    elsewhere = await _paid_elsewhere(ctx, fans, currency)
    lines = [head + " (biggest spenders first):"]
    lines += [describe_fan(f, today, currency, elsewhere.get(f.handle)) for f in fans]
    if matching > len(fans):
        lines.append(f"…and {matching - len(fans):,} more.")
    if canonical:
        lines.append(
            f'Draft a message for all of them: /personalize "Hey {{name}}, …" to {canonical}'
        )
    return Reply.text("\n".join(lines), result=[f.model_dump(mode="json") for f in fans])


async def _show_fan(ctx: Context, fan: Fan, today: date) -> Reply:
    """One fan's card: what the list knows, and what they paid from the earnings."""
    currency = await ctx.currency()
    history = await ctx.app.store.earnings.fan_history(ctx.account_id, fan.handle)
    elsewhere = await _paid_elsewhere(ctx, [fan], currency)
    lines = [describe_fan(fan, today, currency, elsewhere.get(fan.handle))]
    about = [
        f"Joined {_day(fan.first_seen, today)}" if fan.first_seen else "",
        f"Tags: {', '.join(fan.tags)}" if fan.tags else "",
        fan.notes and f"Notes: {fan.notes}",
    ]
    if any(about):
        lines.append(escape_markup(" · ".join(a for a in about if a)))
    if fan.journal:
        lines.append("**Your notes:**\n" + escape_markup(fan.journal))
    count = sum(n for _, _, _, n in history.totals)
    if count:
        since = f" since {_day(history.first_day, today)}" if history.first_day else ""
        by = " · ".join(
            f"{CATEGORY_LABELS.get(cat, cat)} {format_money(amount, cur)} ({n})"
            for cur, cat, amount, n in history.totals
        )
        lines.append(f"**{count} payment{'s' if count != 1 else ''}{since}:** {by}")
        latest = " · ".join(
            f"{_day(p.day, today)} {format_money(p.amount, p.currency)} "
            f"{'PPV' if p.category == 'ppv' else p.category}"
            + (f" ({vocab.label('platforms', p.platform)})" if p.platform else "")
            for p in history.recent
        )
        lines.append(f"Latest: {latest}")
    else:
        lines.append("No payments from them in your imported earnings.")
    handle = escape_markup(fan.handle)
    lines.append(
        f'Draft a message: /personalize "Hey {{name}}, …" for @{handle} · add a note: '
        f"/fans note @{handle} …"
    )
    result = {
        **fan.model_dump(mode="json"),
        "payments": count,
        "recent": [
            {
                "day": p.day.isoformat(),
                "amount": str(p.amount),
                "currency": p.currency,
                "category": p.category,
                "platform": p.platform,
            }
            for p in history.recent
        ],
    }
    return Reply.text("\n".join(lines), result=result)


async def _paid_elsewhere(ctx: Context, fans: list[Fan], currency: str) -> dict[str, str]:
    """For the fans with no total spent in ``currency`` (the fan list's: the earnings' main
    one), what their earnings show in other currencies, by handle ("€15.00 + £5.00")."""
    handles = [f.handle for f in fans if not f.total_spent]
    if not handles:
        return {}
    spend = await ctx.app.store.earnings.fan_spend(ctx.account_id, None, None, handles=handles)
    found: dict[str, list[str]] = {}
    for one in spend:
        if one.currency != currency and one.amount > 0:
            found.setdefault(one.handle, []).append(format_money(one.amount, one.currency))
    return {handle: " + ".join(amounts) for handle, amounts in found.items()}


def _day(d: date, today: date) -> str:
    return f"{d:%b} {d.day}" if d.year == today.year else f"{d:%b} {d.day}, {d.year}"


async def _export_fans(ctx: Context, segment: str | None, today: date) -> Reply:
    """The fan list, or a segment of it, as a CSV file (``MAX_EXPORT`` fans at most)."""
    query, canonical, matching, total = await _scope(ctx, segment, today)
    if not total:
        return Reply.text(EMPTY_LIST)
    if not matching:
        return Reply.text(f"No fans match `{canonical}`. " + await _no_match_hint(ctx, query))
    fans = await ctx.app.store.fan_lists.query(ctx.account_id, query, limit=MAX_EXPORT)
    counted = f"{matching:,} fan{'s' if matching != 1 else ''}"
    what = f"{counted} matching `{canonical}`" if canonical else counted
    text = f"Your fan list as a spreadsheet: {what}, biggest spenders first."
    if matching > len(fans):
        text = (
            f"Your fan list as a spreadsheet: the {len(fans):,} biggest spenders of {what} (one "
            f"file holds {MAX_EXPORT:,}: narrow it with filters for the rest)."
        )
    reply = Reply.text(text, result={"fans": len(fans), "matching": matching})
    name = f"fans-{_slug(canonical)}.csv" if canonical else "fans.csv"
    reply.blocks.append(
        FileBlock(name=name, data=fans_csv(fans, await ctx.currency()), mime="text/csv")
    )
    return reply


async def _personalize_segment(ctx: Context, template: str, segment: str) -> Reply:
    today = await ctx.today()
    query, canonical = _segment(segment, today, PERSONALIZE_USAGE)
    _check_template(template)
    repo = ctx.app.store.fan_lists
    matching = await repo.count(ctx.account_id, query)
    if not matching:
        return Reply.text(f"No fans match `{canonical}`. " + await _no_match_hint(ctx, query))
    if matching > MAX_SEGMENT_DRAFTS:
        raise UsageError(
            f"`{canonical}` has {matching:,} fans; I draft for up to {MAX_SEGMENT_DRAFTS:,} at "
            "a time. Narrow it, e.g. add tier:vip or spent>=50."
        )
    jobs = ctx.app.jobs
    if (
        jobs is not None
        and matching > BACKGROUND_SEGMENT_FANS
        and ctx.incoming.user.platform != "job"
    ):
        return Reply.text(await enqueue_personalize(jobs, ctx.account_id, template, segment))
    fans = await repo.query(ctx.account_id, query, limit=MAX_SEGMENT_DRAFTS)
    if ctx.app.quotas is not None:
        await ctx.app.quotas.consume(ctx.account_id, "personalize", len(fans))
    profile = await ctx.profile() or Profile()
    drafts: list[MessageDraft] = []
    degraded = False
    currency = await ctx.currency()
    for start in range(0, len(fans), DRAFTS_PER_CALL):
        part = fans[start : start + DRAFTS_PER_CALL]
        seed = ctx.seed("personalize-segment", template, canonical, start, ctx.request_id)
        out = await ctx.app.personalize.drafts(
            ctx.account_id, profile, template, part, today, seed, currency
        )
        drafts += out.value
        degraded = degraded or out.degraded
    n = len(drafts)
    reply = Reply(
        result={
            "segment": canonical,
            "fans": len(fans),
            "drafts": [d.model_dump(mode="json") for d in drafts],
        },
        degraded=degraded,
    )
    credits = ""
    if ctx.app.quotas is not None:
        credits = f" {len(fans):,} message credit{'s' * (len(fans) != 1)} used."
    reply.add_text(
        f"**{n:,} draft{'s' * (n != 1)}** for `{canonical}` — review them, then send them "
        f"yourself.{credits} All drafts are in the CSV."
    )
    for draft in drafts[:PREVIEW_DRAFTS]:
        reply.add_text(f"@{escape_markup(draft.fan_handle)}: {escape_markup(draft.text)}")
    if n > PREVIEW_DRAFTS:
        reply.add_text(f"…and {n - PREVIEW_DRAFTS} more in the file.")
    reply.blocks.append(
        FileBlock(
            name=f"drafts-{_slug(canonical)}.csv", data=drafts_csv(fans, drafts), mime="text/csv"
        )
    )
    if degraded:
        reply.add_text(LIMITED)
    return reply
