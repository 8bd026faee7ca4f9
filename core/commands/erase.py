"""/deleteaccount: a creator deletes their account and everything in it, after a confirmation.

The confirmation button carries a one-time token kept ten minutes in the key-value store for
that account, so an old or forged button deletes nothing. Every row of the account goes with
its ``accounts`` row (each table's foreign key cascades: chats, profile, ideas, captions, fans,
earnings, offers, price tests, vault entries, reminders, summaries, team, API keys, billing);
then its vault files and pending import uploads leave the blob store. A live subscription must
end first: deleting the account would not stop Stripe charging the card.
"""

from __future__ import annotations

import secrets

from core.chat import Button, Reply
from core.commands.registry import Registry
from core.context import Context
from core.jobs import PENDING_PREFIX
from core.services.billing import LIVE_STATUSES

CONFIRM_TTL = 600


def _key(account_id: int) -> str:
    return f"erase:{account_id}"


async def _live_subscription(ctx: Context) -> str | None:
    """The plan of a subscription that would go on charging after the account is gone."""
    billing = ctx.app.billing
    state = await billing.state(ctx.account_id) if billing is not None else None
    if state is None or state.status not in LIVE_STATUSES or state.cancel_at_period_end:
        return None
    return state.plan


def _subscription_first(plan: str) -> Reply:
    return Reply.text(
        f"Your {plan} subscription is still running, and deleting the account would not stop "
        "Stripe charging for it. Cancel it first with /plan cancel, then send /deleteaccount "
        "again."
    )


def register(reg: Registry) -> None:
    @reg.command(
        "deleteaccount",
        "Delete your account and all its data",
        usage="/deleteaccount",
        access="owner",
    )
    async def delete_account(ctx: Context, _: None) -> Reply:
        if plan := await _live_subscription(ctx):
            return _subscription_first(plan)
        token = secrets.token_hex(8)
        await ctx.app.kv.set(_key(ctx.account_id), token.encode(), ttl=CONFIRM_TTL)
        size = await ctx.app.store.assets.total_size(ctx.account_id)
        files = f" (your vault files: {size / 1_048_576:,.1f} MB)" if size else ""
        return Reply.text(
            "**Delete your account?** This deletes everything in it, for good: your profile, "
            f"ideas, captions, fan list, earnings and offers, price tests, vault{files}, "
            "reminders, summaries, team and API keys, from every chat it is linked to. It "
            "cannot be undone. The button works for 10 minutes.",
            buttons=[
                [
                    Button("Delete everything", f"erase:{token}"),
                    Button("Keep my account", "erase:keep"),
                ]
            ],
            ephemeral=True,
        )

    @reg.action("erase")
    async def confirm(ctx: Context, args: list[str]) -> Reply:
        if args == ["keep"]:
            await ctx.app.kv.delete(_key(ctx.account_id))
            return Reply.text("Nothing was deleted.")
        if not ctx.account.may("owner"):  # buttons skip the command's check: say it again
            return Reply.text("Only the account's owner can delete it.")
        stored = await ctx.app.kv.get(_key(ctx.account_id))
        if not args or stored is None or not secrets.compare_digest(stored.decode(), args[0]):
            return Reply.text("That confirmation has expired. Send /deleteaccount again.")
        if plan := await _live_subscription(ctx):
            return _subscription_first(plan)
        await ctx.app.kv.delete(_key(ctx.account_id))
        await ctx.app.store.accounts.delete(ctx.account_id)
        files = 0
        if ctx.app.vault is not None:
            pending = f"{PENDING_PREFIX}/{ctx.account_id}/"
            files = await ctx.app.vault.erase(ctx.account_id, [pending])
        return Reply.text(
            "Your account and everything in it are deleted. If you write again, you start "
            "afresh with /start.",
            result={"deleted": ctx.account_id, "files": files},
        )
