"""/team and /accounts: an agency's managers and chatters work on a creator's account from
their own Telegram or Discord.

The owner sends ``/team invite [manager]`` and passes the one-time code on; the member sends
``/team join CODE`` from their own chat and from then on works on the creator's account —
ideas, captions, fans, prices, vault, and for a manager the earnings — until they switch back
with ``/accounts`` (one account holds the profile, quotas and plan: the creator's). Commands
say who may run them (``Command.access``): a chatter never sees the earnings (/stats,
summaries, fan exports), no member buys, makes API keys, links chats or manages the team. A
member leaves with ``/team leave``; the owner takes one off with ``/team remove N``, which
ends their access at their next message. Each member keeps their own command rate.
``/accounts`` lists the accounts one works on with each one's last 7 days of earnings where
one may see them (an agency's morning check).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.chat import Button, Reply, escape_markup
from core.commands.link import tap_to_send
from core.commands.registry import Registry
from core.commands.reminders import when_text
from core.context import Context
from core.jobs import TEAM_ACTION_DAYS
from core.models import Identity
from core.ports import Store, TeamAccount
from core.services import codes
from core.services.analytics import AnalyticsService, format_change, format_money
from core.services.segments import parse_segment
from core.timezones import account_timezone, get_zone, zone_label

ACTIVITY_SHOWN = 30
INVITE_TTL = 86_400  # a day: the code travels through the agency's own channels
#: What each role works on (``core.models.TeamRole``; commands say it with ``access``).
ROLES = {
    "chatter": "the fans, personal drafts, ideas, captions, prices and vault — not the earnings",
    "manager": "all a chatter does, and the earnings (/stats, summaries, fan exports)",
}


class TeamArgs(BaseModel):
    action: Literal["invite", "join", "remove", "role", "activity", "leave"] | None = Field(
        None, description="invite, join with a code, remove, change a role, activity, leave"
    )
    value: str | None = Field(
        None,
        min_length=1,
        max_length=16,
        description="invite: manager, chatter or cancel; join: the code; remove, role: number",
    )
    role: Literal["manager", "chatter"] | None = Field(None, description="role: the new role")


class AccountsArgs(BaseModel):
    number: int | None = Field(None, ge=1, le=100, description="the account to work on")


async def _open_invites(ctx: Context) -> str:
    """The paragraph on invite codes not used yet (empty: none)."""
    invites = await ctx.app.store.codes.pending(ctx.account_id, "team")
    if not invites:
        return ""
    zone = await ctx.timezone()
    each = ", ".join(f"a {i.value}'s until {when_text(i.expires_at, zone)}" for i in invites)
    return (
        f"\n\nInvite codes not used yet ({zone_label(zone)}): {each}. /team invite cancel "
        "withdraws them (a code passed to the wrong person, or no longer wanted)."
    )


def who(team: TeamAccount) -> str:
    """An account as people know it: its oldest chat's @username or name, and the app."""
    return _name(team.account_id, team.identities)


def _name(account_id: int, chats: list[Identity]) -> str:
    if not chats:
        return f"account {account_id}"
    first = chats[0]
    name = f"@{first.username}" if first.username else first.display_name or "someone"
    app = first.platform.capitalize() if first.platform != "console" else "terminal"
    return f"{escape_markup(name)} ({app})"


async def account_name(store: Store, account_id: int) -> str:
    """``who`` for an account known by its id alone."""
    return _name(account_id, await store.accounts.identities(account_id))


def register(reg: Registry) -> None:
    @reg.command(
        "team",
        "Your agency team",
        usage="/team [invite [manager]|join code|role n manager|remove n|activity|leave]",
        args=TeamArgs,
        examples=["/team", "/team invite", "/team invite manager", "/team join K7M2Q9XA"],
    )
    async def team(ctx: Context, args: TeamArgs) -> Reply:
        store = ctx.app.store
        member = ctx.account.member_id is not None
        if args.action == "join":
            if not args.value:
                return Reply.text("Send `/team join CODE` with the code from /team invite.")
            found = await codes.redeem(store, "team", args.value)
            if found is None:
                return Reply.text(
                    "That code is unknown or has expired. Ask the account's owner for a new one "
                    "(/team invite)."
                )
            target, role = found.account_id, found.value
            if target == ctx.account.person_id:
                return Reply.text("That's your own account's code — you already work on it.")
            added = await store.team.join(target, ctx.account.person_id, role)
            seats = await store.team.memberships(ctx.account.person_id)
            joined = next(t for t in seats if t.account_id == target)
            if added:  # a code passed to the wrong person shows at once
                await _tell(
                    ctx,
                    target,
                    f"{await _me(ctx)} joined your team as a {role} with an invite code and can "
                    "work on your account now. /team lists your team; /team remove takes someone "
                    "off.",
                )
            first = "You joined" if added else "You're on"
            return Reply.text(
                f"{first} {who(joined)}'s team as a {role}: you're working on their account now "
                f"({ROLES[role]}). /accounts switches back to yours.",
                result={"account_id": target, "role": role},
            )
        if args.action == "leave":
            if not member:
                return Reply.text(
                    "You're working on your own account. To leave a team, switch to it with "
                    "/accounts first."
                )
            await store.team.remove(ctx.account_id, ctx.account.person_id)
            await _tell(ctx, ctx.account_id, f"{await _me(ctx)} left your team.")
            return Reply.text(
                "You left that team; you're back on your own account.",
                result={"account_id": ctx.account.person_id},
            )
        if member:
            return Reply.text(
                "You're working on this account as a team member; its owner manages the team. "
                "/team leave leaves it, /accounts switches back to your own."
            )
        if args.action == "invite":
            role = (args.value or "chatter").lower()
            if role == "cancel":
                gone = await store.codes.discard(ctx.account_id, "team")
                return Reply.text(
                    f"Withdrew {gone} invite code{'s' * (gone != 1)}: no one can join with "
                    f"{'them' if gone != 1 else 'it'} now."
                    if gone
                    else "You have no invite codes waiting to be used.",
                    result={"withdrawn": gone},
                )
            if role not in ROLES:
                return Reply.text(
                    "Invite a `manager` (sees your earnings too) or a `chatter` (fans, content "
                    "and vault, not your earnings): `/team invite manager`."
                )
            code = await codes.issue(store, "team", ctx.account_id, role, INVITE_TTL)
            return Reply.text(
                f"Invite code `{code}` for a {role} (valid for a day, for one person). They send "
                f"`/team join {code}` to me from their own Telegram or Discord"
                f"{tap_to_send(ctx.app, 'join', code)}, and work on your account from there: "
                f"{ROLES[role]}. No one on your team can buy, make API keys "
                "or change the team; /team remove takes them off.",
                ephemeral=True,
                result={"code": code, "role": role, "expires_in": INVITE_TTL},
            )
        members = await store.team.members(ctx.account_id)
        if args.action == "activity":
            return await _activity(ctx)
        if args.action in ("remove", "role"):
            n = int(args.value) if args.value and args.value.isdigit() else 0
            if not n or (args.action == "role" and args.role is None):
                example = "remove N" if args.action == "remove" else "role N manager"
                return Reply.text(f"Send `/team {example}` with the member's number from /team.")
            if n > len(members):
                return Reply.text(f"There is no member {n}. /team lists them.")
            one = members[n - 1]
            if args.action == "role" and args.role is not None:
                await store.team.set_role(ctx.account_id, one.account_id, args.role)
                await _tell(
                    ctx,
                    one.account_id,
                    f"On {await _me(ctx)}'s team you're a {args.role} now: {ROLES[args.role]}.",
                )
                return Reply.text(
                    f"{who(one)} is a {args.role} on your team now: {ROLES[args.role]}.",
                    result={"member": one.account_id, "role": args.role},
                )
            gone = one
            await store.team.remove(ctx.account_id, gone.account_id)
            await _tell(
                ctx,
                gone.account_id,
                f"You're no longer on {await _me(ctx)}'s team; you work on your own account.",
            )
            return Reply.text(
                f"{who(gone)} is off your team: from their next message they no longer work on "
                "your account.",
                result={"removed": gone.account_id},
            )
        waiting = await _open_invites(ctx)
        if not members:
            return Reply.text(
                "No one else works on your account. /team invite makes a code for your manager "
                f"or a chatter to join from their own chat.{waiting}",
                result={"members": []},
            )
        lines = [f"Your team ({len(members)}):"]
        for i, m in enumerate(members, 1):
            now = " · working on your account now" if m.current else ""
            lines.append(f"{i}. {who(m)}, {m.role} — since {m.since:%b %d, %Y}{now}")
        lines.append(
            "/team invite adds a chatter (/team invite manager: a manager), /team role N "
            f"manager|chatter changes one's role, /team remove N takes one off.{waiting}"
        )
        return Reply.text(
            "\n".join(lines),
            result={"members": [m.account_id for m in members]},
        )

    @reg.command(
        "accounts",
        "Switch accounts",
        usage="/accounts [n]",
        args=AccountsArgs,
    )
    async def accounts(ctx: Context, args: AccountsArgs) -> Reply:
        own = ctx.account.person_id
        seats = await ctx.app.store.team.memberships(own)
        if args.number is not None:
            if args.number == 1:
                return await _use(ctx, None)
            if args.number - 2 >= len(seats):
                return Reply.text(f"There is no account {args.number}. /accounts lists them.")
            return await _use(ctx, seats[args.number - 2])
        if not seats:
            return Reply.text(
                "You work on your own account only. A creator's /team invite gives you a code "
                "to join theirs (`/team join CODE`).",
                result={"accounts": [own]},
            )
        mark = " ✓ now"
        week = [await _week(ctx, own) + await _new_fans(ctx, own)]
        for seat in seats:  # a chatter does not see the earnings of the accounts they chat for
            manager = seat.role == "manager"
            glance = await _week(ctx, seat.account_id) if manager else "as a chatter"
            week.append(glance + await _new_fans(ctx, seat.account_id))
        lines = [
            "Accounts you work on (earnings of the last 7 days):",
            f"1. Your own{mark if own == ctx.account_id else ''} — {week[0]}",
        ]
        buttons = [[Button("Your own", "team:use:0")]] if own != ctx.account_id else []
        for i, seat in enumerate(seats, 2):
            here = seat.account_id == ctx.account_id
            lines.append(f"{i}. {who(seat)}{mark if here else ''} — {week[i - 1]}")
            if not here:
                buttons.append([Button(who(seat)[:60], f"team:use:{seat.account_id}")])
        lines.append("/accounts N switches.")
        return Reply.text(
            "\n".join(lines),
            buttons=buttons,
            result={"accounts": [own, *(s.account_id for s in seats)], "current": ctx.account_id},
        )

    @reg.action("team")
    async def use_button(ctx: Context, args: list[str]) -> Reply:
        if len(args) != 2 or args[0] != "use" or not args[1].isdigit():
            return Reply.text("That button no longer works. Send /accounts again.")
        target = int(args[1])
        if target == 0:
            return await _use(ctx, None)
        seats = await ctx.app.store.team.memberships(ctx.account.person_id)
        seat = next((s for s in seats if s.account_id == target), None)
        if seat is None:
            return Reply.text("You're no longer on that team. /accounts lists yours.")
        return await _use(ctx, seat)


def _what(command: str) -> str:
    """A recorded command name (``Assistant.handle``'s) as the owner reads it."""
    kind, _, rest = command.partition(":")
    if kind == "action":
        return f"pressed a {rest} button"
    if kind == "dialog":
        return f"answered the {rest} questions"
    if command == "attachments":
        return "sent files"
    if command in ("text", "advice", "message", "empty"):
        return "wrote a message"
    return f"/{command}"


async def _activity(ctx: Context) -> Reply:
    """What the team did on the account lately, newest first, on the owner's clock."""
    actions = await ctx.app.store.team.actions(ctx.account_id, limit=ACTIVITY_SHOWN)
    if not actions:
        return Reply.text(
            f"No one on your team has done anything on your account in the last "
            f"{TEAM_ACTION_DAYS} days.",
            result=[],
        )
    names = {m: await account_name(ctx.app.store, m) for m in {a.member_id for a in actions}}
    zone = await ctx.timezone()
    clock = get_zone(zone)
    lines = [f"What your team did lately ({zone_label(zone)}), newest first:"]
    for a in actions:
        what = _what(a.command)
        failed = "" if a.outcome == "ok" else f" ({a.outcome})"
        lines.append(
            f"{a.at.astimezone(clock):%b %d %H:%M} · {names[a.member_id]} · {what}{failed}"
        )
    return Reply.text(
        "\n".join(lines),
        result=[
            {
                "member": a.member_id,
                "command": a.command,
                "outcome": a.outcome,
                "at": a.at.isoformat(),
            }
            for a in actions
        ],
    )


async def _week(ctx: Context, account_id: int) -> str:
    """An account's last 7 days at a glance, and its month against its goal: what an agency
    checks across its creators."""
    service = AnalyticsService(ctx.app.store, ctx.app.clock)
    found = await service.revenue(account_id, "7d")
    if found is None:
        return "no earnings imported"
    amount, currency, change = found
    trend = f" ({format_change(change)})" if change is not None else ""
    goal = await ctx.app.store.goals.get(account_id)
    if goal is None:
        return f"{format_money(amount, currency)}{trend}"
    zone = await account_timezone(ctx.app.store.profiles, account_id)
    p = await service.goal_progress(account_id, goal, zone)
    return f"{format_money(amount, currency)}{trend} · {p.month:%B} goal {p.share:.0%}"


async def _new_fans(ctx: Context, account_id: int) -> str:
    """How many fans joined an account in the last 7 days on its clock, as " · 3 new fans"
    ("" for none): who needs a welcome (/fans joined:7d), a chatter's work too."""
    zone = await account_timezone(ctx.app.store.profiles, account_id)
    query, _ = parse_segment("joined:7d", ctx.app.clock.now().astimezone(get_zone(zone)).date())
    count = await ctx.app.store.fan_lists.count(account_id, query)
    return f" · {count} new fan{'s' * (count != 1)}" if count else ""


async def _me(ctx: Context) -> str:
    """The sender as ``who`` names accounts (their own account's oldest chat)."""
    return await account_name(ctx.app.store, ctx.account.person_id)


async def _tell(ctx: Context, account_id: int, text: str) -> None:
    if ctx.app.notifier is not None:
        await ctx.app.notifier.notify(account_id, text)


async def _use(ctx: Context, seat: TeamAccount | None) -> Reply:
    """Work on ``seat``'s account from the next message on (None: one's own)."""
    own = ctx.account.person_id
    if not await ctx.app.store.team.use(own, seat.account_id if seat else None):
        return Reply.text("You're no longer on that team. /accounts lists yours.")
    if seat is None:
        return Reply.text("You're working on your own account.", result={"account_id": own})
    return Reply.text(
        f"You're working on {who(seat)}'s account now. /accounts switches back.",
        result={"account_id": seat.account_id},
    )


__all__ = ["INVITE_TTL", "account_name", "register", "who"]
