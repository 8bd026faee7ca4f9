"""Your data: ``/export`` hands a creator everything the service holds about their account,
``/deleteaccount`` deletes it.

The export is the database's own view, so nothing is forgotten as tables are added: every row
naming the account (``Store.export``: each table with an account column, teams one is on, the
account row) as one CSV per table in a ZIP, built a part at a time in a worker thread (an
account with 200,000 transactions is seconds of CSV writing the event loop must not wait on).
The vault's files themselves are not in it (``/vault send``, or the uploads API for any size).

Deletion asks for a confirmation button carrying a one-time token of the account's, kept ten
minutes (``core.services.codes``; a newer /deleteaccount replaces it), so an old or forged
button deletes nothing. Every row of the
account goes with its ``accounts`` row (each table's foreign key cascades: chats, profile,
ideas, captions, fans, earnings, offers, price tests, vault entries, reminders, summaries,
team, API keys, billing); then its vault files and pending import uploads leave the blob store.
A live subscription must end first (/plan cancel): deleting the account would not stop Stripe
charging the card.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import zipfile
from datetime import date, datetime
from typing import Any

from core.chat import Button, FileBlock, Reply, api_download
from core.commands.fans import defused
from core.commands.registry import Registry
from core.context import Context
from core.jobs import PENDING_PREFIX
from core.ports import Store
from core.services import codes
from core.services.billing import LIVE_STATUSES

CONFIRM_TTL = 600
EXPORT_PATH = "/api/v1/export"  # the uploads API's copy of /export (webhooks/uploads.py)
EXPORT_README = """Your Huntaze data, one CSV file per table (UTF-8, a header row; times in
UTC, ISO 8601; JSON in the columns that hold it; cells a spreadsheet would run as a formula
start with ').

accounts.csv      your account (plan, credits)
identities.csv    the chats linked to it (Telegram, Discord, terminal)
profiles.csv      your creator profile (JSON)
ideas.csv, captions.csv   what the assistant drafted for you
fans.csv          your fan list
transactions.csv, offers.csv, price_tests.csv   the earnings and offers you imported, tests
imports.csv       your imports (/imports); goals.csv   your monthly goal (/goal)
assets.csv        your vault's index (the files themselves: /vault send N)
members.csv, team_actions.csv   your team, and what its members did (/team activity)
codes.csv         invite codes and button tokens not used yet (without the codes themselves)
reminders.csv, summaries.csv, ai_usage.csv, quota_usage.csv, api_keys.csv,
billing_accounts.csv, checkout_orders.csv, stripe_events.csv   the rest, where you have any
"""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)  # numbers (Decimal amounts too) and text as they are


def _write(writer: Any, rows: list[Any]) -> None:
    writer.writerows(defused(_cell(v) for v in row) for row in rows)


async def export_zip(store: Store, account_id: int) -> tuple[bytes, dict[str, int]]:
    """Every row of the account as CSV files in a ZIP; and the rows per table."""
    buffer = io.BytesIO()
    counts: dict[str, int] = {}
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        text: io.TextIOWrapper | None = None
        writer: Any = None
        async for table, columns, rows in store.export(account_id):
            if table not in counts:
                if text is not None:
                    text.close()
                text = io.TextIOWrapper(
                    archive.open(f"{table}.csv", "w"), encoding="utf-8-sig", newline=""
                )
                writer = csv.writer(text, lineterminator="\r\n")
                writer.writerow(columns)
                counts[table] = 0
            await asyncio.to_thread(_write, writer, rows)
            counts[table] += len(rows)
        if text is not None:
            text.close()
        archive.writestr("README.txt", EXPORT_README)
    return buffer.getvalue(), counts


async def _live_subscription(ctx: Context) -> str | None:
    """The plan of a subscription that would go on charging after the account is gone."""
    billing = ctx.app.billing
    state = await billing.state(ctx.account_id) if billing is not None else None
    if state is None or state.status not in LIVE_STATUSES or state.cancel_at_period_end:
        return None
    return state.plan


def export_name(now: datetime) -> str:
    """The export's file name, dated (UTC)."""
    return f"huntaze-export-{now.date().isoformat()}.zip"


def _subscription_first(plan: str) -> Reply:
    return Reply.text(
        f"Your {plan} subscription is still running, and deleting the account would not stop "
        "Stripe charging for it. Cancel it first with /plan cancel, then send /deleteaccount "
        "again."
    )


def register(reg: Registry) -> None:
    @reg.command(
        "export",
        "Download all your data",
        usage="/export",
        access="owner",
    )
    async def export(ctx: Context, _: None) -> Reply:
        data, counts = await export_zip(ctx.app.store, ctx.account_id)
        rows = sum(counts.values())
        reply = Reply.text(
            f"All your data: {rows:,} rows from {len(counts)} tables, one CSV file each "
            "(README.txt says what is where). Your vault's files themselves are not in it: "
            "/vault send N gets one.",
            result={"tables": counts, "bytes": len(data)},
            ephemeral=True,
        )
        reply.blocks.append(
            FileBlock(
                name=export_name(ctx.app.clock.now()),
                data=data,
                mime="application/zip",
                elsewhere=api_download(EXPORT_PATH),
            )
        )
        return reply

    @reg.command(
        "deleteaccount",
        "Delete your account and its data",
        usage="/deleteaccount",
        access="owner",
    )
    async def delete_account(ctx: Context, _: None) -> Reply:
        if plan := await _live_subscription(ctx):
            return _subscription_first(plan)
        store = ctx.app.store
        await store.codes.discard(ctx.account_id, "erase")  # the newest button is the one
        token = await codes.issue(store, "erase", ctx.account_id, "", CONFIRM_TTL)
        size = await store.assets.total_size(ctx.account_id)
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
        store = ctx.app.store
        if args == ["keep"]:
            await store.codes.discard(ctx.account_id, "erase")
            return Reply.text("Nothing was deleted.")
        if not ctx.account.may("owner"):  # buttons skip the command's check: say it again
            return Reply.text("Only the account's owner can delete it.")
        if plan := await _live_subscription(ctx):
            return _subscription_first(plan)
        found = await codes.redeem(store, "erase", args[0]) if args else None
        if found is None or found.account_id != ctx.account_id:
            return Reply.text("That confirmation has expired. Send /deleteaccount again.")
        await store.accounts.delete(ctx.account_id)
        files = 0
        if ctx.app.vault is not None:
            pending = f"{PENDING_PREFIX}/{ctx.account_id}/"
            files = await ctx.app.vault.erase(ctx.account_id, [pending])
        return Reply.text(
            "Your account and everything in it are deleted. If you write again, you start "
            "afresh with /start.",
            result={"deleted": ctx.account_id, "files": files},
        )
