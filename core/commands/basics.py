"""/start, /help and /cancel."""

from __future__ import annotations

from core.chat import Button, Reply, escape_markup
from core.commands.link import start_payload
from core.commands.registry import Registry
from core.context import Context


def register(reg: Registry) -> None:
    @reg.command("start", "Hello, and your profile setup", menu=True)
    async def start(ctx: Context, _: None) -> Reply:
        assert ctx.app.dialogs is not None
        # A Telegram deep link (t.me/<bot>?start=join-CODE) sends "/start join-CODE".
        _, _, payload = ctx.incoming.text.partition(" ")
        line = start_payload(payload.strip()) if payload.strip() else None
        if line is not None:
            return (await ctx.app.run_command(ctx, line))[1]
        name = ctx.incoming.user.display_name or ctx.incoming.user.username or "there"
        hello = (
            f"Hi {escape_markup(name)}! I'm Huntaze, your content assistant. I draft ideas, "
            "captions, hashtags and fan messages — you stay in control and post them yourself."
        )
        profile = await ctx.profile()
        if profile is None or not profile.is_complete():
            wizard = await ctx.app.dialogs.start(ctx, "profile")
            return Reply(blocks=[*Reply.text(hello).blocks, *wizard.blocks], buttons=wizard.buttons)
        return Reply.text(
            hello + "\nWelcome back — what shall we make today?",
            buttons=[
                [Button("5 ideas", "cmd:ideas 5"), Button("My profile", "cmd:profile show")],
            ],
        )

    @reg.command("help", "List what I can do", aliases=("commands",))
    async def help_cmd(ctx: Context, _: None) -> Reply:
        lines = ["**What I can do**"]
        for command in reg.all():
            if command.menu:
                lines.append(f"`{command.usage}` — {command.help}")
        return Reply.text("\n".join(lines), result=[c.name for c in reg.all() if c.menu])

    @reg.command("cancel", "Leave the current question or wizard")
    async def cancel(ctx: Context, _: None) -> Reply:
        assert ctx.app.dialogs is not None
        had = await ctx.app.dialogs.clear(ctx)
        return Reply.text("Cancelled." if had else "There was nothing to cancel.")
