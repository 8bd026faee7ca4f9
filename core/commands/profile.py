"""/profile: the wizard, ``/profile show`` and the ``/profile set key=value`` one-liner."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, Reply, TextBlock, escape_markup
from core.commands.registry import MAX_COMPLETIONS, Choice, Registry, split_args
from core.context import Context
from core.dialogs import DialogState
from core.errors import UsageError
from core.models import Profile
from core.timezones import get_zone, parse_zone, search_zones, zone_label


@dataclass(frozen=True)
class Step:
    key: str  # Profile field
    question: str
    mode: str  # multi | single | free
    required: bool = False


STEPS: tuple[Step, ...] = (
    Step("niches", "What is your content about? Pick one or more niches.", "multi", True),
    Step("platforms", "Where do you post?", "multi", True),
    Step("content_types", "What kinds of content do you make?", "multi", True),
    Step("equipment", "What equipment do you have?", "multi"),
    Step("locations", "Where do you usually shoot?", "multi"),
    Step("goals", "What are your goals right now?", "multi"),
    Step("tone", "Which tone fits your voice?", "single"),
    Step(
        "restricted_words",
        "Any words I must never use? Type them separated by commas, or press Skip.",
        "free",
    ),
)
KEYS = {s.key for s in STEPS}
SINGULAR = {
    "niche": "niches",
    "platform": "platforms",
    "content_type": "content_types",
    "content": "content_types",
    "type": "content_types",
    "location": "locations",
    "goal": "goals",
    "restricted_word": "restricted_words",
    "restricted": "restricted_words",
}
#: ``/profile set`` keys of the time zone (not a wizard step: ``/timezone`` sets it too).
ZONE_KEYS = {"timezone", "time_zone", "tz", "zone"}
STRICT = {"platforms", "content_types", "tone"}  # only known values
_CUSTOM = re.compile(r"^[a-z0-9][a-z0-9 _-]{1,31}$")  # two characters at least: not "a"


def parse_values(key: str, raw: str) -> list[str]:
    """Comma-separated user input -> normalised slugs; unknown strict values are a UsageError."""
    values: list[str] = []
    for part in re.split(r"[,;\n]+", raw):
        item = part.strip()
        if not item:
            continue
        if key == "restricted_words":
            values.append(item.lower())
            continue
        kind = "tone" if key == "tone" else key
        slug = vocab.normalise(kind, item)
        if slug is None:
            slug = vocab.correct(kind, item)  # "phon" is a typo of phone, not gear of its own
        if slug is None:
            if key in STRICT or not _CUSTOM.match(item.lower()):
                hints = vocab.suggest(kind, item) or [s for s, _ in vocab.choices(kind)][:8]
                known = ", ".join(vocab.label(kind, s) for s in hints)
                raise UsageError(f"I don't know “{escape_markup(item)}” as {key}. Try: {known}.")
            slug = re.sub(r"[ -]+", "_", item.lower())
        if slug not in values:
            values.append(slug)
    return values


def describe(profile: Profile) -> str:
    def show(key: str, values: list[str]) -> str:
        kind = "tone" if key == "tone" else key
        if key == "restricted_words":
            return ", ".join(values) or "—"
        return ", ".join(vocab.label(kind, v) for v in values) or "—"

    lines = ["**Your profile**"]
    for step in STEPS:
        value = getattr(profile, step.key)
        values = [value] if isinstance(value, str) else list(value)
        lines.append(
            f"{step.key.replace('_', ' ').capitalize()}: {escape_markup(show(step.key, values))}"
        )
    zone = zone_label(profile.timezone)
    lines.append(f"Time zone: {zone}" + ("" if profile.timezone else " (/timezone sets yours)"))
    return "\n".join(lines)


class ProfileWizard:
    name = "profile"

    async def render(self, ctx: Context, state: DialogState) -> Reply:
        step = STEPS[state.step]
        chosen = state.data.get(step.key, [])
        lines = [f"**Profile {state.step + 1}/{len(STEPS)}** — {step.question}"]
        buttons: list[list[Button]] = []
        if step.mode in {"multi", "single"}:
            kind = "tone" if step.key == "tone" else step.key
            row: list[Button] = []
            for slug, label in vocab.choices(kind):
                mark = "✓ " if slug in chosen else ""
                row.append(Button(f"{mark}{label}", f"wz:t:{slug}"))
                if len(row) == 3:
                    buttons.append(row)
                    row = []
            if row:
                buttons.append(row)
            if step.mode == "multi":
                lines.append(
                    "Tap to choose (tap again to remove), or type them separated by commas."
                )
        if chosen and step.mode == "multi":
            lines.append("Chosen: " + escape_markup(", ".join(chosen)))
        nav = []
        if state.step > 0:
            nav.append(Button("‹ Back", "wz:b"))
        if step.mode != "single":
            nav.append(Button("Next ›" if step.required or chosen else "Skip ›", "wz:n"))
        nav.append(Button("Cancel", "wz:x"))
        buttons.append(nav)
        return Reply(blocks=[], buttons=buttons).add_text("\n".join(lines))

    async def on_text(self, ctx: Context, state: DialogState, text: str) -> Reply:
        step = STEPS[state.step]
        if text.lower() in {"skip", "next", "done"}:
            return await self._advance(ctx, state)
        try:
            values = parse_values(step.key, text)
        except UsageError as exc:
            return await self._with_note(ctx, state, exc.message)
        if step.mode == "single":
            state.data[step.key] = values[:1]
        else:
            state.data[step.key] = values
        return await self._advance(ctx, state)

    async def on_action(self, ctx: Context, state: DialogState, args: list[str]) -> Reply:
        step = STEPS[state.step]
        verb = args[0] if args else ""
        if verb == "x":
            state.done = True
            state.then = None
            return Reply.text("Profile set-up cancelled. Nothing was changed.")
        if verb == "b":
            state.step = max(0, state.step - 1)
            return await self.render(ctx, state)
        if verb == "n":
            return await self._advance(ctx, state)
        if verb == "t" and len(args) > 1:
            slug = args[1]
            chosen: list[str] = state.data.setdefault(step.key, [])
            if step.mode == "single":
                state.data[step.key] = [slug]
                return await self._advance(ctx, state)
            if slug in chosen:
                chosen.remove(slug)
            else:
                chosen.append(slug)
            return await self.render(ctx, state)
        return await self.render(ctx, state)

    async def _with_note(self, ctx: Context, state: DialogState, note: str) -> Reply:
        reply = await self.render(ctx, state)
        reply.blocks.insert(0, TextBlock(note))
        return reply

    async def _advance(self, ctx: Context, state: DialogState) -> Reply:
        step = STEPS[state.step]
        if step.required and not state.data.get(step.key):
            return await self._with_note(
                ctx, state, "Please choose at least one — it shapes every idea I give you."
            )
        if state.step + 1 < len(STEPS):
            state.step += 1
            return await self.render(ctx, state)
        existing = await ctx.profile() or Profile()
        update = {k: v for k, v in state.data.items() if k in KEYS}
        if "tone" in update:
            update["tone"] = update["tone"][0] if update["tone"] else existing.tone
        profile = existing.model_copy(update=update)
        await ctx.save_profile(profile)
        state.done = True
        reply = Reply.text("Saved! " + describe(profile), result=profile.model_dump(mode="json"))
        if not state.then:
            reply.buttons = [[Button("Give me 5 ideas", "cmd:ideas 5")]]
        return reply


class ProfileArgs(BaseModel):
    action: Literal["show", "set"] | None = Field(
        None, description="show your profile, or set fields; leave out to start the wizard"
    )
    rest: str = Field(
        "", max_length=1000, description="For set: key=value pairs, e.g. niches=fitness"
    )


def parse_profile(raw: str) -> dict[str, str]:
    action, _, rest = raw.strip().partition(" ")
    if action.lower() not in {"", "show", "set"}:
        raise UsageError(f"/profile {escape_markup(action)} is not something I know.")
    return {"action": action.lower() or None, "rest": rest.strip()}


def apply_settings(profile: Profile, rest: str) -> Profile:
    update: dict[str, object] = {}
    tokens = split_args(rest)
    if not tokens:
        raise UsageError("Tell me what to set, e.g. niches=fitness,yoga platforms=instagram.")
    for token in tokens:
        key, sep, value = token.partition("=")
        key = key.strip().lower().replace("-", "_")
        key = SINGULAR.get(key, key)
        if sep and key in ZONE_KEYS:
            update["timezone"] = read_zone(value)
            continue
        if not sep or key not in KEYS:
            keys = ", ".join(sorted(KEYS | {"timezone"}))
            raise UsageError(f"“{escape_markup(token)}” is not a setting. Keys: {keys}.")
        values = parse_values(key, value)
        update[key] = (values[0] if values else profile.tone) if key == "tone" else values
    return profile.model_copy(update=update)


def read_zone(text: str) -> str:
    """``parse_zone`` with its complaint as a UsageError."""
    try:
        return parse_zone(text)
    except ValueError as exc:
        raise UsageError(escape_markup(str(exc))) from None


class TimezoneArgs(BaseModel):
    zone: str = Field(
        "", max_length=80, description="e.g. Europe/Berlin, New York, EST or UTC-5; empty: show"
    )


async def complete_zone(ctx: Context, prefix: str) -> list[Choice]:
    now = ctx.app.clock.now()
    return [
        Choice(key, f"{key.replace('_', ' ')} · {now.astimezone(get_zone(key)):%H:%M} now")
        for key in search_zones(prefix, MAX_COMPLETIONS)
    ]


def zone_news(ctx: Context, name: str) -> str:
    """The zone and the time there now: a creator sees at once whether it is the right one."""
    now = ctx.app.clock.now().astimezone(get_zone(name))
    return f"{zone_label(name)} (it is {now:%H:%M} there now)"


def register(reg: Registry) -> None:
    @reg.command(
        "timezone",
        "Your time zone",
        usage="/timezone [zone]",
        args=TimezoneArgs,
        parser=lambda raw: {"zone": raw.strip()},
        complete={"zone": complete_zone},
        examples=["/timezone", "/timezone Europe/Berlin", "/timezone New York", "/timezone UTC-5"],
    )
    async def timezone_cmd(ctx: Context, args: TimezoneArgs) -> Reply:
        current = await ctx.profile() or Profile()
        if not args.zone:
            return Reply.text(
                f"Your time zone: {zone_news(ctx, current.timezone)}. "
                "Change it with /timezone and a zone, e.g. /timezone Europe/Berlin or "
                "/timezone New York.",
                result={"timezone": current.timezone},
            )
        name = read_zone(args.zone)
        await ctx.save_profile(current.model_copy(update={"timezone": name}))
        return Reply.text(
            f"Time zone set: {zone_news(ctx, name)}. Export times without a zone of their "
            "own are read in it, /stats counts days and hours in it, and scheduled summaries "
            "arrive at 08:00 in it. Exports you sent before keep the clock they were read "
            "with: send them again to move them (nothing is counted twice).",
            result={"timezone": name},
        )

    @reg.command(
        "profile",
        "Set up or change your profile",
        usage="/profile [show | set key=value …]",
        args=ProfileArgs,
        parser=parse_profile,
        examples=["/profile", "/profile show", "/profile set niches=fitness platforms=instagram"],
    )
    async def profile_cmd(ctx: Context, args: ProfileArgs) -> Reply:
        assert ctx.app.dialogs is not None
        current = await ctx.profile()
        if args.action == "show":
            if current is None:
                return Reply.text("You have no profile yet. Send /profile to set it up.")
            return Reply.text(describe(current), result=current.model_dump(mode="json"))
        if args.action == "set":
            updated = apply_settings(current or Profile(), args.rest)
            await ctx.save_profile(updated)
            return Reply.text(
                "Updated. " + describe(updated), result=updated.model_dump(mode="json")
            )
        return await ctx.app.dialogs.start(ctx, "profile")
