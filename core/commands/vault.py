"""/vault, files sent into the chat, "Caption this", and removing a file.

What the vault shows is private: asked for in a group, it goes to the asker's private chat
(``Reply.ephemeral``; a creator's files are not for the whole team chat).

``/vault`` lists, ``/vault 12`` shows one file with its buttons, ``/vault send 12`` sends the file
itself (as a document: the original bytes, not a recompressed photo; adapters say so instead when
it is over what their platform lets a bot send), ``/vault delete 12`` asks before it removes one
(the row, then the blob: ``VaultService.remove``), which also frees its size in the plan's vault.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.chat import (
    MAX_ACTION_BYTES,
    Attachment,
    Button,
    FileBlock,
    Reply,
    api_download,
    escape_markup,
    human_size,
)
from core.commands.captions import caption_reply
from core.commands.registry import MAX_COMPLETIONS, Choice, Registry, choices
from core.context import Context
from core.errors import NotFound, UsageError
from core.jobs import BACKGROUND_IMPORT_BYTES, enqueue_import
from core.models import MAX_ID, Asset, Profile, parse_id
from core.services.imports import platform_in_text
from core.services.vault import is_import


class VaultArgs(BaseModel):
    action: Literal["send", "delete"] | None = Field(
        None, description="send: the file itself; delete: remove it"
    )
    asset_id: int | None = Field(None, ge=1, le=MAX_ID, description="A file's number")
    tag: str | None = Field(None, max_length=40, description="Only files with this tag")


LIST_LIMIT = 50  # files one page of /vault lists; "Older files" shows the next 50
GONE = "I can't find that file in your vault — `/vault` lists yours."


def _line(asset: Asset) -> str:
    tags = " ".join("#" + t for t in asset.tags)
    return escape_markup(
        f"#{asset.id} {asset.name or asset.mime} — {asset.mime}, {human_size(asset.size)} {tags}"
    )


async def complete_tag(ctx: Context, prefix: str) -> list[Choice]:
    assets = await ctx.app.store.assets.list(ctx.account_id, limit=500)
    tags = {t for a in assets for t in a.tags if t.startswith(prefix.lower().lstrip("#"))}
    return choices(sorted(tags))


async def complete_asset(ctx: Context, prefix: str) -> list[Choice]:
    """The account's files whose number starts with, or whose name or tags contain, what was
    typed; newest first, shown as "#12 beach.jpg · 2.1 MB"."""
    typed = prefix.strip().lstrip("#").lower()
    found: list[Choice] = []
    for asset in await ctx.app.store.assets.list(ctx.account_id, limit=500):
        words = [(asset.name or "").lower(), *asset.tags]
        if typed and not (str(asset.id).startswith(typed) or any(typed in w for w in words)):
            continue
        label = f"#{asset.id} {asset.name or asset.mime} · {human_size(asset.size)}"
        found.append(Choice(str(asset.id), label))
        if len(found) == MAX_COMPLETIONS:
            break
    return found


async def import_files(ctx: Context, files: list[Attachment]) -> Reply:
    importer = ctx.app.importer
    if importer is None:
        return Reply.text("CSV imports are not available yet — your file was not stored.")
    # "fansly" or "my OF earnings" sent with the file: where the earnings were made
    platform = platform_in_text(ctx.incoming.text) if ctx.incoming.text.strip() else None
    reply = Reply()
    for att in files:
        if att.size > ctx.app.limits.max_import_bytes:
            reply.add_text(f"{escape_markup(att.name)} is too big to import.")
            continue
        if ctx.app.jobs is not None and att.size > BACKGROUND_IMPORT_BYTES:
            reply.add_text(
                await enqueue_import(ctx.app, ctx.app.jobs, ctx.account_id, att, platform)
            )
            continue
        report = await importer.import_csv(
            ctx.account_id, att.name, await att.read(), platform=platform
        )
        reply.add_text(report)
    return reply


def register(reg: Registry) -> None:
    @reg.command(
        "vault",
        "Your vault of files",
        usage="/vault [tag | number | send n | delete n]",
        args=VaultArgs,
        examples=["/vault", "/vault #beach", "/vault 12", "/vault send 12", "/vault delete 12"],
        complete={"tag": complete_tag, "asset_id": complete_asset},
    )
    async def vault(ctx: Context, args: VaultArgs) -> Reply:
        if args.action is not None and args.asset_id is None:
            raise UsageError(
                f"Which file? `/vault {args.action} <number>` — `/vault` lists them with numbers."
            )
        if args.action == "send":
            assert args.asset_id is not None
            return await _send_file(ctx, await _own_asset(ctx, args.asset_id))
        if args.action == "delete":
            assert args.asset_id is not None
            asset = await _own_asset(ctx, args.asset_id)
            return Reply.text(
                f"Delete {_line(asset)} from your vault for good? This can't be undone.",
                buttons=[
                    [
                        Button("Delete for good", f"vault:del:{asset.id}"),
                        Button("Keep it", f"vault:keep:{asset.id}"),
                    ]
                ],
                result={"confirm": asset.model_dump(mode="json")},
                ephemeral=True,
            )
        if args.asset_id is not None:
            asset = await _own_asset(ctx, args.asset_id)
            added = f", added {asset.created_at:%-d %b %Y}" if asset.created_at else ""
            row = [
                Button("Send", f"vault:get:{asset.id}"),
                Button("Delete…", f"vault:ask:{asset.id}"),
            ]
            if asset.mime.startswith("image/"):
                row.insert(1, Button("Caption this", f"vault:cap:{asset.id}"))
            return Reply.text(
                _line(asset) + escape_markup(added),
                buttons=[row],
                result=asset.model_dump(mode="json"),
                ephemeral=True,
            )
        tag = args.tag.lstrip("#").lower() if args.tag else None
        return await _page(ctx, tag)

    @reg.action("__attachments__")
    async def attachments(ctx: Context, _: list[str]) -> Reply:
        incoming = ctx.incoming
        csvs = [a for a in incoming.attachments if is_import(a)]
        media = [a for a in incoming.attachments if not is_import(a)]
        reply = await import_files(ctx, csvs) if csvs else Reply()
        if not media:
            return reply
        assert ctx.app.vault is not None
        out = await ctx.app.vault.ingest(
            ctx.account_id, media, incoming.text, source=incoming.user.platform
        )
        lines: list[str] = []
        if out.stored:
            lines.append(
                f"Stored {len(out.stored)} file{'s' * (len(out.stored) > 1)} in your vault:"
            )
            lines += [_line(a) for a in out.stored]
        if out.duplicates:
            lines.append(
                f"Already in your vault ({len(out.duplicates)}), not stored twice: "
                + ", ".join(f"#{a.id}" for a in out.duplicates)
            )
        for name, reason in out.rejected:
            lines.append(f"Not stored: {escape_markup(name)} — {reason}.")
        reply.add_text("\n".join(lines))
        reply.result = {
            "stored": [a.model_dump(mode="json") for a in out.stored],
            "duplicates": [a.model_dump(mode="json") for a in out.duplicates],
            "rejected": [{"name": n, "reason": r} for n, r in out.rejected],
        }
        photos = [a for a in out.stored + out.duplicates if a.mime.startswith("image/")]
        if photos and incoming.text.strip():
            reply.buttons = [[Button("Caption this", f"vault:cap:{photos[0].id}")]]
        return reply

    @reg.action("vault")
    async def vault_action(ctx: Context, args: list[str]) -> Reply:
        """``vault:get|cap|ask|del|keep:<id>`` from the buttons above, and
        ``vault:older:<id>[:<tag>]`` (the list's next page, after file ``<id>``). Payloads can be
        forged: every id is looked up within the presser's own account."""
        what = args[0] if args else ""
        asset_id = parse_id(args[1]) if len(args) > 1 else None
        if asset_id is None or what not in ("get", "cap", "ask", "del", "keep", "older"):
            raise NotFound(GONE)
        if what == "older":
            anchor = await ctx.app.store.assets.get(ctx.account_id, asset_id)
            if anchor is None or anchor.created_at is None:
                raise NotFound("That list has changed since — `/vault` shows your newest files.")
            tag = ":".join(args[2:]) or None
            return await _page(ctx, tag, after=anchor)
        if what == "get":
            return await _send_file(ctx, await _own_asset(ctx, asset_id))
        if what == "ask":
            return await vault(ctx, VaultArgs(action="delete", asset_id=asset_id))
        if what == "keep":
            asset = await _own_asset(ctx, asset_id)
            return Reply.text(f"Kept {_line(asset)}", ephemeral=True)
        if what == "del":
            if ctx.app.vault is None:
                raise NotFound(GONE)
            removed = await ctx.app.vault.remove(ctx.account_id, asset_id)
            if removed is None:
                raise NotFound(GONE)
            total = await ctx.app.store.assets.total_size(ctx.account_id)
            return Reply.text(
                f"Deleted {_line(removed)} — {human_size(removed.size)} freed; "
                f"your vault now uses {human_size(total)}.",
                result={"deleted": removed.model_dump(mode="json")},
                ephemeral=True,
            )
        asset = await _own_asset(ctx, asset_id)
        profile = await ctx.profile() or Profile()
        platform = profile.platforms[0] if profile.platforms else "instagram"
        topic = " ".join(asset.tags) or asset.name or "new post"
        seed = ctx.seed("vaultcap", asset.id, ctx.request_id)
        out = await ctx.app.captions.caption(ctx.account_id, profile, topic, platform, seed)
        return caption_reply(out)


async def _page(ctx: Context, tag: str | None, after: Asset | None = None) -> Reply:
    """One page of the list, newest first: the first, or the one after file ``after``."""
    before = (after.created_at, after.id) if after is not None and after.created_at else None
    assets = await ctx.app.store.assets.list(
        ctx.account_id, tag=tag, limit=LIST_LIMIT + 1, before=before
    )
    more, assets = len(assets) > LIST_LIMIT, assets[:LIST_LIMIT]
    tagged = f" tagged #{escape_markup(tag)}" if tag else ""
    if not assets:
        if after is not None:
            return Reply.text(f"No older files{tagged} in your vault.", ephemeral=True)
        return Reply.text(
            f"No files{tagged} in your vault yet. Send me photos or videos to add them."
        )
    total = await ctx.app.store.assets.total_size(ctx.account_id)
    plural = "s" * (len(assets) != 1)
    if after is not None:
        count = f"{len(assets)} older file{plural}"
    else:
        count = f"the {len(assets)} newest files" if more else f"{len(assets)} file{plural}"
    lines = [f"**{count}**{tagged} — vault uses {human_size(total)}"] + [_line(a) for a in assets]
    lines.append(
        "`/vault <number>` shows one file, `/vault send <number>` sends it, "
        "`/vault delete <number>` removes it."
    )
    buttons: list[list[Button]] = []
    older = f"vault:older:{assets[-1].id}" + (f":{tag}" if tag else "")
    if more and len(older.encode()) <= MAX_ACTION_BYTES:
        buttons = [[Button("Older files ›", older)]]
    elif more:  # a tag too long for a button's payload
        lines.append("Older files: `GET /api/v1/assets` (the uploads API) lists them all.")
    return Reply.text(
        "\n".join(lines),
        buttons=buttons,
        result=[a.model_dump(mode="json") for a in assets],
        ephemeral=True,
    )


async def _own_asset(ctx: Context, asset_id: int) -> Asset:
    asset = await ctx.app.store.assets.get(ctx.account_id, asset_id)
    if asset is None:
        raise NotFound(GONE)
    return asset


async def _send_file(ctx: Context, asset: Asset) -> Reply:
    """The file itself, under its name (the blob store's NotFound when its bytes are gone)."""
    if ctx.app.blobs is None:
        raise NotFound(GONE)
    data = await ctx.app.blobs.get(asset.blob_key)
    return Reply(
        blocks=[
            FileBlock(
                name=asset.file_name,
                data=data,
                mime=asset.mime,
                elsewhere=api_download(f"/api/v1/assets/{asset.id}/content"),
            )
        ],
        result={"sent": asset.model_dump(mode="json")},
        ephemeral=True,
    )
