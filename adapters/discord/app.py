"""The Discord adapter (discord.py): slash commands, buttons, modals and DMs -> ``Assistant``.

Nothing here decides what to answer: every event becomes one ``core.chat.Incoming`` and the
``Reply`` is rendered (see ``render.py``). What this module owns is Discord's protocol:

- Slash commands are generated from the core registry (``commands.py``) and bulk-overwritten
  only when they changed: the hash of the generated JSON is kept in ``state_kv``; without a
  stored hash the commands Discord already has are compared first.
- Every interaction is acknowledged first (deferred "thinking", ephemeral in servers, or a
  deferred update for wizard steps), then answered with follow-ups. Interaction tokens live
  15 minutes: past ``token_safe_seconds`` (14 minutes) after an interaction arrived, or once
  its token is dead, answers go to a channel message instead — the user's DMs for a private
  (server) answer, the DM channel itself in DMs.
- A follow-up that is rate limited beyond discord.py's own retries, or hits a 5xx, is retried
  after the advertised delay; if it still fails the answer takes the channel route, so it
  is not lost.
- Buttons are rendered as a ``discord.ui.View`` whose custom_ids are the core actions. Those
  ids are dynamic, so presses are answered generically from ``on_interaction`` (also for
  messages sent before a restart) rather than by View callbacks.
- Where Discord cannot read typed text (servers, no Message Content intent), a wizard step
  gets a "Type an answer" button that opens a modal; the submitted text is sent to core as
  a plain text message. DMs are read directly (text and files).

Usage (``bot/`` wires it)::

    adapter = DiscordAdapter(assistant, token, api_base=..., gateway_url=..., state_kv=kv)
    await adapter.run(stop)  # returns after ``stop`` is set, connection closed
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import mimetypes
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import discord
import structlog
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from adapters.discord.commands import (
    UPLOAD_CAPTION_OPTION,
    UPLOAD_COMMAND,
    UPLOAD_FILE_OPTIONS,
    Invocation,
    autocomplete_choices,
    build_commands,
    commands_hash,
    focused_option,
    has_adapter_upload,
    matches_remote,
    read_invocation,
)
from adapters.discord.render import (
    DEFAULT_FILE_LIMIT,
    OutMessage,
    button_label,
    render_reply,
    split_markup,
)
from core.app import Assistant
from core.chat import (
    Attachment,
    Button,
    ExternalUser,
    FileBlock,
    Incoming,
    Reply,
    as_notice,
    file_too_big,
)
from core.clock import SystemClock
from core.commands.registry import Choice
from core.ports import Clock, KeyValueStore

log = structlog.get_logger("huntaze.discord")

PLATFORM = "discord"
ANSWER_ACTION = "discord:answer"  # the adapter's own button: opens the answer modal
ANSWER_MODAL = "discord:answer"
ANSWER_FIELD = "answer"
WIZARD_PREFIX = "wz:"  # core's dialog buttons: answered by updating the asking message
TOKEN_TTL = 15 * 60.0
SYNC_KEY = "discord:commands:{application_id}"


def _language(locale: Any) -> str:
    value = str(getattr(locale, "value", locale) or "en")
    return value.split("-", 1)[0].lower() or "en"


def external_user(user: discord.abc.User, locale: Any = None) -> ExternalUser:
    return ExternalUser(
        platform=PLATFORM,
        id=str(user.id),
        username=user.name,
        display_name=user.display_name,
        language=_language(locale),
    )


def core_attachment(att: discord.Attachment) -> Attachment:
    """A Discord attachment as core sees it; bytes are downloaded only if core reads them."""
    declared = att.content_type or mimetypes.guess_type(att.filename)[0]
    mime = (declared or "application/octet-stream").split(";", 1)[0].strip().lower()
    if mime.startswith("image/"):
        kind = "photo"
    elif mime.startswith("video/"):
        kind = "video"
    elif mime.startswith("audio/"):
        kind = "voice" if att.is_voice_message() else "audio"
    else:
        kind = "document"

    async def read() -> bytes:
        return await att.read()

    return Attachment(name=att.filename, mime=mime, size=att.size, read=read, kind=kind)


def waits_for_text(reply: Reply) -> bool:
    """Is core asking a question (a dialog step) that a typed answer can also answer?"""
    return any(b.action.startswith(WIZARD_PREFIX) for row in reply.buttons for b in row)


def render(reply: Reply, file_limit: int = DEFAULT_FILE_LIMIT) -> list[OutMessage]:
    extra = [Button("✎ Type an answer", ANSWER_ACTION)] if waits_for_text(reply) else None
    return render_reply(reply, extra_buttons=extra, file_limit=file_limit)


class ButtonsView(discord.ui.View):
    """Core buttons as Discord buttons (custom_id = the core action).

    Not dispatchable: discord.py does not keep it in its view store, because presses are
    answered by :meth:`DiscordAdapter.on_interaction` for any message, old or new."""

    def __init__(self, rows: list[list[Button]]) -> None:
        super().__init__(timeout=None)
        for index, row in enumerate(rows):
            for button in row:
                chosen = button.label.startswith("✓")
                self.add_item(
                    discord.ui.Button(
                        label=button_label(button.label),
                        custom_id=button.action,
                        style=discord.ButtonStyle.success
                        if chosen
                        else discord.ButtonStyle.secondary,
                        row=index,
                    )
                )

    def is_dispatchable(self) -> bool:
        return False


class AnswerModal(discord.ui.Modal):
    """One text input; its text goes to core as a typed message."""

    def __init__(self, placeholder: str = "") -> None:
        super().__init__(title="Your answer", custom_id=ANSWER_MODAL, timeout=None)
        self.answer: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            label="Answer",
            custom_id=ANSWER_FIELD,
            style=discord.TextStyle.paragraph,
            max_length=1000,
            placeholder=placeholder[:100] or None,
        )
        self.add_item(self.answer)


def _question(content: str) -> str:
    """The first line of a message, markdown removed (the modal's placeholder)."""
    for line in content.splitlines():
        plain = "".join(ch for ch in line if ch not in "*_`\\").strip()
        if plain:
            return plain
    return ""


def _modal_value(components: list[Any], custom_id: str) -> str | None:
    for component in components:
        if not isinstance(component, dict):
            continue
        if component.get("custom_id") == custom_id and "value" in component:
            return str(component.get("value") or "")
        children = list(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            children.append(component["component"])
        found = _modal_value(children, custom_id)
        if found is not None:
            return found
    return None


def _files(message: OutMessage) -> list[discord.File]:
    return [discord.File(io.BytesIO(f.data), filename=f.name) for f in message.files]


def within_dm_limit(message: OutMessage) -> OutMessage:
    """``message`` for a DM: the answer was rendered for the interaction's upload limit (a
    boosted server's can be 50 or 100 MiB), a DM takes ``DEFAULT_FILE_LIMIT``; a bigger file
    becomes the note saying so, not a refused DM."""
    big = [f for f in message.files if len(f.data) > DEFAULT_FILE_LIMIT]
    if not big:
        return message
    blocks = [FileBlock(f.name, f.data, elsewhere=f.elsewhere) for f in big]
    notes = [file_too_big(block, DEFAULT_FILE_LIMIT, "Discord") for block in blocks]
    content = "\n\n".join(filter(None, [message.content, *split_markup(notes)]))
    kept = [f for f in message.files if len(f.data) <= DEFAULT_FILE_LIMIT]
    return replace(message, content=content, files=kept)


def _send_kwargs(message: OutMessage) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if message.content:
        kwargs["content"] = message.content
    if message.files:
        kwargs["files"] = _files(message)
    if message.rows:
        kwargs["view"] = ButtonsView(message.rows)
    return kwargs


def _retry_delay(exc: discord.HTTPException, attempt: int) -> float:
    headers = getattr(exc.response, "headers", None) or {}
    for name in ("X-RateLimit-Reset-After", "Retry-After"):
        value = headers.get(name)
        if value:
            with contextlib.suppress(ValueError):
                return min(30.0, max(0.0, float(value)))
    return min(30.0, 1.0 + 2.0 * attempt)


class _Client(discord.Client):
    def __init__(self, adapter: DiscordAdapter, **options: Any) -> None:
        # Interactions need no intent; DMs are readable without the privileged Message
        # Content intent, server messages are not (so they are not subscribed to).
        intents = discord.Intents.none()
        intents.guilds = True
        intents.dm_messages = True
        super().__init__(
            intents=intents, allowed_mentions=discord.AllowedMentions.none(), **options
        )
        self._adapter = adapter

    async def on_ready(self) -> None:
        self._adapter.ready.set()
        log.info("discord_ready", user=str(self.user), guilds=len(self.guilds))

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        await self._adapter.on_interaction(interaction)

    async def on_message(self, message: discord.Message) -> None:
        await self._adapter.on_message(message)


class _Responder:
    """Answers one interaction: acknowledge, then follow-ups (or the channel fallback)."""

    def __init__(self, adapter: DiscordAdapter, interaction: discord.Interaction, update: bool):
        self.adapter = adapter
        self.interaction = interaction
        self.update = update
        self.ephemeral = interaction.guild_id is not None
        self.received = adapter.clock.monotonic()
        self.token_dead = False
        self.acknowledged = False
        self.sent = 0
        self._told_dms_closed = False

    @property
    def expired(self) -> bool:
        return self.adapter.clock.monotonic() - self.received > self.adapter.token_safe_seconds

    async def defer(self) -> None:
        try:
            if self.update:
                await self.interaction.response.defer()
            else:
                await self.interaction.response.defer(thinking=True, ephemeral=self.ephemeral)
            self.acknowledged = True
        except discord.HTTPException as exc:
            if exc.code == 40060:  # already acknowledged
                self.acknowledged = True
                return
            # 10062 Unknown interaction: the 3 seconds are over; the token never worked.
            self.token_dead = True
            log.warning("discord_defer_failed", status=exc.status, code=exc.code)

    async def deliver(self, messages: list[OutMessage]) -> None:
        for index, message in enumerate(messages):
            if index == 0 and self.update and await self._edit_original(message):
                continue
            await self.send(message)

    async def _edit_original(self, message: OutMessage) -> bool:
        if self.token_dead or not self.acknowledged or self.expired:
            return False
        try:
            await self.interaction.edit_original_response(
                content=message.content,
                attachments=_files(message),
                view=ButtonsView(message.rows) if message.rows else None,
            )
        except discord.HTTPException as exc:
            log.warning("discord_edit_failed", status=exc.status, code=exc.code)
            return False
        self.sent += 1
        return True

    async def send(self, message: OutMessage) -> None:
        attempts = self.adapter.send_attempts
        for attempt in range(attempts):
            if self.token_dead or not self.acknowledged or self.expired:
                break
            try:
                await self.interaction.followup.send(
                    **_send_kwargs(message), ephemeral=self.ephemeral, wait=True
                )
            except discord.HTTPException as exc:
                if exc.status == 429 or exc.status >= 500:
                    log.warning("discord_followup_retry", status=exc.status, attempt=attempt)
                    if attempt + 1 < attempts:
                        await asyncio.sleep(_retry_delay(exc, attempt))
                    continue
                if exc.status in (401, 404):
                    self.token_dead = True  # 50027 invalid token / 10015 unknown webhook
                    break
                raise
            self.sent += 1
            return
        await self.fallback(message)

    async def fallback(self, message: OutMessage) -> None:
        """Past the token's life: a channel message (the user's DMs for a private answer)."""
        client = self.adapter.client
        assert client is not None
        channel_id = self.interaction.channel_id or 0
        user = self.interaction.user
        log.info("discord_channel_fallback", private=self.ephemeral)
        if self.ephemeral:
            try:
                await user.send(**_send_kwargs(within_dm_limit(message)))
                self.sent += 1
                return
            except discord.HTTPException as exc:
                log.warning("discord_dm_failed", status=exc.status, code=exc.code)
            if not self._told_dms_closed:
                self._told_dms_closed = True
                await client.get_partial_messageable(channel_id).send(
                    f"{user.mention} your answer is ready, but it is private and I can't send "
                    "you a DM. Allow DMs from this server's members and ask again.",
                    allowed_mentions=discord.AllowedMentions(users=[user]),
                )
            return
        await client.get_partial_messageable(channel_id).send(**_send_kwargs(message))
        self.sent += 1


class DiscordAdapter:
    """Runs the Discord bot for one ``Assistant``.

    ``api_base`` (e.g. ``http://127.0.0.1:8081/api/v10``) and ``gateway_url``
    (``ws://127.0.0.1:8081/gateway``) point discord.py at another endpoint; they are
    process-wide in discord.py, set by :meth:`run` and restored when it returns.
    ``state_kv`` keeps the hash of the last synced command set. ``clock`` measures the
    interaction tokens' age.
    """

    def __init__(
        self,
        assistant: Assistant,
        token: str,
        api_base: str | None = None,
        gateway_url: str | None = None,
        state_kv: KeyValueStore | None = None,
        clock: Clock | None = None,
        *,
        guild_ready_timeout: float = 2.0,
        token_safe_seconds: float = 14 * 60.0,
        send_attempts: int = 3,
        drain_timeout: float = 10.0,
    ) -> None:
        self.assistant = assistant
        self.token = token
        self.api_base = api_base.rstrip("/") if api_base else None
        self.gateway_url = gateway_url
        self.state_kv = state_kv
        self.clock: Clock = clock or SystemClock()
        self.guild_ready_timeout = guild_ready_timeout
        self.token_safe_seconds = token_safe_seconds
        self.send_attempts = max(1, send_attempts)
        self.drain_timeout = drain_timeout
        self.client: discord.Client | None = None
        self.ready = asyncio.Event()
        self.last_sync: bool | None = None  # True: synced at the last start; False: unchanged
        self._inflight: set[asyncio.Task[Any]] = set()

    @property
    def busy(self) -> bool:
        """True while an interaction or a DM is being answered."""
        return any(not t.done() for t in self._inflight)

    # ------------------------------------------------------------ lifecycle

    @contextlib.contextmanager
    def _endpoints(self) -> Iterator[None]:
        old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
        new_gateway = yarl.URL(self.gateway_url) if self.gateway_url else None
        if self.api_base:
            Route.BASE = self.api_base
        if new_gateway is not None:
            DiscordWebSocket.DEFAULT_GATEWAY = new_gateway
        try:
            yield
        finally:
            if self.api_base and self.api_base == Route.BASE:
                Route.BASE = old_base
            if new_gateway is not None and new_gateway == DiscordWebSocket.DEFAULT_GATEWAY:
                DiscordWebSocket.DEFAULT_GATEWAY = old_gateway

    async def run(self, stop: asyncio.Event) -> None:
        """Log in, sync the commands if they changed, connect; return once ``stop`` is set
        (after in-flight answers finish, up to ``drain_timeout``) or the connection fails
        for good (the error is raised)."""
        with self._endpoints():
            client = _Client(self, guild_ready_timeout=self.guild_ready_timeout)
            self.client = client
            self.ready.clear()
            connection: asyncio.Task[None] | None = None
            try:
                await client.login(self.token)
                try:
                    self.last_sync = await self.sync_commands(client)
                except discord.HTTPException as exc:
                    log.error("discord_sync_failed", status=exc.status, error=str(exc))
                connection = asyncio.create_task(
                    client.connect(reconnect=True), name="discord-gateway"
                )
                stopper = asyncio.create_task(stop.wait(), name="discord-stop")
                try:
                    await asyncio.wait({connection, stopper}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopper.cancel()
                if connection.done():
                    connection.result()  # a connection that failed for good raises here
            finally:
                await self._drain()
                await client.close()
                if connection is not None and not connection.done():
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(connection, 10.0)
                self.ready.clear()
                log.info("discord_stopped")

    async def notify(self, account_id: int, message: str | Reply) -> None:
        """``core.ports.Notifier``: a DM to the account's Discord identities (when connected)."""
        client = self.client
        if client is None or not self.ready.is_set():
            log.info("discord_notice_skipped", reason="not connected")
            return
        for identity in await self.assistant.store.accounts.identities(account_id):
            if identity.platform != "discord" or not identity.external_id.isdigit():
                continue
            user = await client.fetch_user(int(identity.external_id))
            for out in render(as_notice(message)):
                await user.send(**_send_kwargs(out))

    async def _drain(self) -> None:
        pending = [t for t in self._inflight if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=self.drain_timeout)

    def commands(self) -> list[dict[str, Any]]:
        """The slash commands this adapter registers (JSON payloads)."""
        return build_commands(self.assistant.registry)

    async def sync_commands(self, client: discord.Client) -> bool:
        """Bulk-overwrite the global commands unless they are unchanged; True if synced."""
        application_id = client.application_id
        assert application_id is not None, "login first"
        payloads = self.commands()
        digest = commands_hash(payloads)
        key = SYNC_KEY.format(application_id=application_id)
        stored = await self.state_kv.get(key) if self.state_kv is not None else None
        if stored is not None and stored.decode() == digest:
            log.info("discord_commands_unchanged", commands=len(payloads))
            return False
        if stored is None:
            remote = await client.http.get_global_commands(application_id)
            if matches_remote(payloads, list(remote)):  # type: ignore[arg-type]
                await self._remember(key, digest)
                log.info("discord_commands_unchanged", commands=len(payloads), checked="remote")
                return False
        await client.http.bulk_upsert_global_commands(application_id, payloads)  # type: ignore[arg-type]
        await self._remember(key, digest)
        log.info("discord_commands_synced", commands=len(payloads))
        return True

    async def _remember(self, key: str, digest: str) -> None:
        if self.state_kv is not None:
            await self.state_kv.set(key, digest.encode())

    # ------------------------------------------------------------ events

    def _track(self) -> Callable[[], None]:
        task = asyncio.current_task()
        if task is None:
            return lambda: None
        self._inflight.add(task)
        return lambda: self._inflight.discard(task)

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        done = self._track()
        try:
            kind = interaction.type
            if kind is discord.InteractionType.autocomplete:
                await self._autocomplete(interaction)
            elif kind is discord.InteractionType.application_command:
                await self._command(interaction)
            elif kind is discord.InteractionType.component:
                await self._component(interaction)
            elif kind is discord.InteractionType.modal_submit:
                await self._modal_submit(interaction)
        except Exception:
            log.exception("discord_interaction_failed", interaction_id=str(interaction.id))
        finally:
            done()

    def _incoming(self, interaction: discord.Interaction, **fields: Any) -> Incoming:
        return Incoming(
            user=external_user(interaction.user, interaction.locale),
            chat_id=str(interaction.channel_id or interaction.user.id),
            request_id=str(interaction.id),
            **fields,
        )

    async def _answer(self, responder: _Responder, incoming: Incoming) -> None:
        try:
            reply = await self.assistant.handle(incoming)
            await responder.deliver(render(reply, responder.interaction.filesize_limit))
        except Exception:
            log.exception("discord_answer_failed", request_id=incoming.request_id)
            if responder.sent == 0:
                with contextlib.suppress(Exception):
                    await responder.send(
                        OutMessage(
                            content="Something went wrong showing that answer. Please try "
                            f"again. (ref `{incoming.request_id}`)"
                        )
                    )

    async def _command(self, interaction: discord.Interaction) -> None:
        responder = _Responder(self, interaction, update=False)
        await responder.defer()  # first, within Discord's 3 seconds
        invocation = read_invocation(interaction.data or {})
        if invocation.name == UPLOAD_COMMAND and has_adapter_upload(self.assistant.registry):
            incoming = self._upload_incoming(interaction, invocation)
        else:
            incoming = self._incoming(
                interaction, text="/" + invocation.name, options=invocation.options
            )
        await self._answer(responder, incoming)

    def _upload_incoming(self, interaction: discord.Interaction, inv: Invocation) -> Incoming:
        state = interaction._state
        attachments = [
            core_attachment(discord.Attachment(data=inv.attachments[name], state=state))  # type: ignore[arg-type]
            for name in UPLOAD_FILE_OPTIONS
            if name in inv.attachments
        ]
        caption = inv.options.get(UPLOAD_CAPTION_OPTION)
        return self._incoming(
            interaction,
            text=str(caption or ""),
            attachments=attachments,
            group_id=str(interaction.id) if len(attachments) > 1 else None,
        )

    async def _component(self, interaction: discord.Interaction) -> None:
        custom_id = str((interaction.data or {}).get("custom_id", ""))
        if custom_id == ANSWER_ACTION:
            content = interaction.message.content if interaction.message else ""
            modal = AnswerModal(placeholder=_question(content))
            modal.stop()  # collected by on_interaction, not kept in discord.py's view store
            await interaction.response.send_modal(modal)
            return
        responder = _Responder(self, interaction, update=custom_id.startswith(WIZARD_PREFIX))
        await responder.defer()
        await self._answer(responder, self._incoming(interaction, action=custom_id))

    async def _modal_submit(self, interaction: discord.Interaction) -> None:
        data = interaction.data or {}
        if data.get("custom_id") != ANSWER_MODAL:
            await interaction.response.send_message(
                "That form has expired. Please try again.", ephemeral=True
            )
            return
        text = _modal_value(list(data.get("components") or []), ANSWER_FIELD) or ""
        responder = _Responder(self, interaction, update=interaction.message is not None)
        await responder.defer()
        await self._answer(responder, self._incoming(interaction, text=text))

    async def _autocomplete(self, interaction: discord.Interaction) -> None:
        data = interaction.data or {}
        focused = focused_option(data)
        values: list[Choice] = []
        if focused is not None:
            name, prefix, _ = focused
            try:
                values = await asyncio.wait_for(
                    self.assistant.complete(
                        external_user(interaction.user, interaction.locale),
                        str(interaction.channel_id or interaction.user.id),
                        str(data.get("name", "")),
                        name,
                        prefix,
                    ),
                    timeout=2.5,
                )
            except Exception:
                log.exception("discord_autocomplete_failed", field=name)
        choices = autocomplete_choices(values, focused[2] if focused else 3)
        await interaction.response.autocomplete(
            [discord.app_commands.Choice(name=c["name"], value=c["value"]) for c in choices]
        )

    async def on_message(self, message: discord.Message) -> None:
        """DMs: typed text and files (servers need slash commands: no Message Content)."""
        if message.author.bot or message.guild is not None:
            return
        attachments = [core_attachment(a) for a in message.attachments]
        if not message.content.strip() and not attachments:
            return
        done = self._track()
        try:
            incoming = Incoming(
                user=external_user(message.author),
                chat_id=str(message.channel.id),
                text=message.content,
                attachments=attachments,
                request_id=str(message.id),
                group_id=str(message.id) if len(attachments) > 1 else None,
            )
            reply = await self.assistant.handle(incoming)
            for out in render(reply):
                await self._channel_send(message.channel, out)
        except Exception:
            log.exception("discord_message_failed", message_id=str(message.id))
        finally:
            done()

    async def _channel_send(self, channel: discord.abc.Messageable, out: OutMessage) -> None:
        attempts = self.send_attempts
        for attempt in range(attempts):
            try:
                await channel.send(**_send_kwargs(out))
                return
            except discord.HTTPException as exc:
                if (exc.status == 429 or exc.status >= 500) and attempt + 1 < attempts:
                    await asyncio.sleep(_retry_delay(exc, attempt))
                    continue
                raise
