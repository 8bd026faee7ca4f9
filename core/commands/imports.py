"""/imports: the account's recent imports, and taking one back.

An export sent while working on the wrong creator's account, or with the wrong platform as its
caption (its rows then count for that platform as well as their own), could only be removed
with the whole account. ``/imports undo N`` deletes what that import added: its transactions
and offers, and the fans it added that nothing changed since and no remaining payment names.
Fan totals that came from the earnings follow (``CsvImporter.refresh_fans``). What it changed
in rows imported before (a platform given, a time moved, a fan's figures raised, refunds
removed) stays: sending the right file again restores those. A typed number asks first,
naming the import (the list may have moved since it was shown); the list's buttons carry the
import itself and take it back at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from core import vocab
from core.chat import Button, Reply, escape_markup
from core.commands.registry import Registry
from core.context import Context
from core.ports import ImportRecord
from core.services.imports import CsvImporter, ImportReport
from core.timezones import get_zone

SHOWN = 10


class ImportsArgs(BaseModel):
    action: Literal["undo"] | None = Field(None, description="undo: take an import back")
    number: int | None = Field(None, ge=1, le=SHOWN, description="the import's number in /imports")


def _line(record: ImportRecord, zone: str, now: datetime) -> str:
    when = record.started_at.astimezone(get_zone(zone))
    what = {"earnings": "earnings", "offers": "offers", "fans": "fan list"}.get(record.kind, "CSV")
    on = f" on {vocab.label('platforms', record.platform)}" if record.platform else ""
    done = [f"{record.added:,} added"]
    if record.fans_added:
        done.append(f"{record.fans_added:,} new fans")
    if record.removed:
        done.append(f"{record.removed:,} refunds removed")
    state = ""
    if record.undone_at:
        state = " — **taken back**"
    elif record.running(now):
        state = " — still running"
    elif record.finished_at is None:
        state = " — stopped before the end"
    return (
        f"{escape_markup(record.name)} — {what}{on}, {when:%b} {when.day} {when:%H:%M}: "
        f"{', '.join(done)}{state}"
    )


async def undo(ctx: Context, import_id: int) -> Reply:
    """Take the account's import back (once; another account's id finds nothing)."""
    undone = await ctx.app.store.imports.undo(ctx.account_id, import_id)
    if undone is None:
        records = await ctx.app.store.imports.recent(ctx.account_id, 100)
        record = next((r for r in records if r.id == import_id), None)
        if record is not None and record.running(ctx.app.clock.now()):
            return Reply.text(
                f"{escape_markup(record.name)} is still being imported: take it back once it "
                "is done (its report says so)."
            )
        return Reply.text("That import is not one of yours, or was taken back already. /imports")
    importer = ctx.app.importer
    if isinstance(importer, CsvImporter):  # fan totals that came from the earnings follow
        zone = get_zone(await ctx.timezone())
        await importer.refresh_fans(ctx.account_id, zone, ImportReport(name=""))
    parts = [
        f"{undone.transactions:,} transaction{'s' * (undone.transactions != 1)}",
        f"{undone.offers:,} offer row{'s' * (undone.offers != 1)}",
        f"{undone.fans:,} fan{'s' * (undone.fans != 1)} it added",
    ]
    return Reply.text(
        "Taken back: " + ", ".join(parts) + " removed. Rows it changed that were imported "
        "before keep the change; send the right file again to set them. /stats shows what is "
        "left.",
        result={
            "import_id": import_id,
            "transactions": undone.transactions,
            "offers": undone.offers,
            "fans": undone.fans,
        },
    )


async def _confirm(ctx: Context, record: ImportRecord) -> Reply:
    """What a typed ``/imports undo N`` would take back, and a button that does it: the numbers
    are the list's as it was shown, and an import finished since would have moved them (the
    list's own buttons carry the import itself)."""
    zone, now = await ctx.timezone(), ctx.app.clock.now()
    if record.undone_at is None and not record.running(now):
        return Reply.text(
            f"Take this import back? What it added is removed.\n{_line(record, zone, now)}",
            buttons=[
                [
                    Button("Take it back", f"imports:undo:{record.id}"),
                    Button("Keep it", "imports:keep"),
                ]
            ],
            result={"confirm": record.id},
        )
    return await undo(ctx, record.id)  # says why it cannot


def register(reg: Registry) -> None:
    @reg.command(
        "imports",
        "Your imports; take one back",
        usage="/imports [undo n]",
        args=ImportsArgs,
        access="manager",
        examples=["/imports", "/imports undo 1"],
    )
    async def imports(ctx: Context, args: ImportsArgs) -> Reply:
        records = await ctx.app.store.imports.recent(ctx.account_id, SHOWN)
        if args.action == "undo":
            if args.number is None:
                return Reply.text("Which one? `/imports undo N` with its number from /imports.")
            if args.number > len(records):
                return Reply.text(f"There is no import {args.number}. /imports lists them.")
            return await _confirm(ctx, records[args.number - 1])
        if not records:
            return Reply.text(
                "No imports yet. Send a CSV export (earnings, fans or PPV offers) as a file.",
                result={"imports": []},
            )
        zone, now = await ctx.timezone(), ctx.app.clock.now()
        lines = ["**Your latest imports** (newest first):"]
        lines += [f"{n}. {_line(r, zone, now)}" for n, r in enumerate(records, 1)]
        lines.append("`/imports undo N` takes one back: what it added is removed.")
        buttons = [
            [Button(f"Undo {n}: {r.name}"[:60], f"imports:undo:{r.id}")]
            for n, r in enumerate(records, 1)
            if r.undone_at is None and not r.running(now)
        ][:5]
        return Reply.text(
            "\n".join(lines),
            buttons=buttons,
            result={"imports": [r.id for r in records]},
        )

    @reg.action("imports")
    async def imports_action(ctx: Context, args: list[str]) -> Reply:
        if args == ["keep"]:
            return Reply.text("Kept it: nothing was taken back.")
        if len(args) != 2 or args[0] != "undo" or not args[1].isdigit():
            return Reply.text("That button no longer works. /imports")
        if not ctx.account.may("manager"):
            return Reply.text("Taking an import back is for the account's owner and managers.")
        return await undo(ctx, int(args[1]))
