"""The Telegram adapter: one bot, polling or webhook mode, around one ``core.app.Assistant``.

    adapter = TelegramAdapter(assistant, token, api_base=..., webhook_url=..., webhook_secret=...,
                              state_kv=kv, max_upload_bytes=...)
    await adapter.run(stop)                 # polling, or webhook set-up then wait; drains on stop
    await adapter.feed_webhook_update(d)    # webhook mode: one update dict (deduplicated)
    await adapter.aclose()

- Polling (no ``webhook_url``): deletes a webhook left behind, sets the command menu, long-polls.
- Webhook (``webhook_url``): ``setWebhook`` only when url, secret or update types changed (a hash
  kept in ``state_kv`` and the url Telegram reports); updates arrive through
  ``webhooks/telegram.py`` into ``feed_webhook_update``, which drops repeated ``update_id``s with
  ``state_kv.set_if_absent`` (a TTL'd key, so it holds across instances on Redis).
- ``api_base`` points the bot at a self-hosted Bot API server; ``api_local`` says it runs with
  ``--local`` (files are then read from its disk and the 20 MB download limit goes away).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from typing import TYPE_CHECKING, Any

import structlog
from aiogram import Bot, Dispatcher
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import PRODUCTION, TelegramAPIServer
from aiogram.exceptions import TelegramAPIError
from aiogram.types import BotCommand, Update
from aiogram.types.update import UpdateTypeLookupError
from pydantic import ValidationError

from adapters.telegram.handlers import TelegramHandlers
from adapters.telegram.inbound import (
    BOT_API_DOWNLOAD_LIMIT,
    InboundGuard,
    InboundLimiter,
    TokenBucketLimiter,
)
from adapters.telegram.outbound import (
    BOT_API_UPLOAD_LIMIT,
    ChatPacer,
    JsonBodySession,
    OutboundMiddleware,
    ReplySender,
    pin_response_types,
)
from core.chat import Reply, as_notice
from core.ports import KeyValueStore
from core.resilience.cache import MemoryKV

if TYPE_CHECKING:
    from core.app import Assistant

log = structlog.get_logger("huntaze.telegram")

_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class TelegramAdapter:
    def __init__(
        self,
        assistant: Assistant,
        token: str,
        *,
        api_base: str | None = None,
        api_local: bool = False,
        webhook_url: str | None = None,
        webhook_secret: str | None = None,
        state_kv: KeyValueStore | None = None,
        max_upload_bytes: int = 20 * 1024 * 1024,
        inbound_limiter: InboundLimiter | None = None,
        pacer: ChatPacer | None = None,
        max_flood_wait: float = 30.0,
        album_window: float = 0.8,
        typing_delay: float | None = 0.5,
        polling_timeout: int = 10,
        update_ttl: float = 3600.0,
        session: BaseSession | None = None,
    ) -> None:
        if webhook_secret is not None and not _SECRET.match(webhook_secret):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
        self.assistant = assistant
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.state_kv: KeyValueStore = state_kv if state_kv is not None else MemoryKV(10_000)
        self.polling_timeout = polling_timeout
        self.update_ttl = update_ttl
        if session is None:
            server = (
                TelegramAPIServer.from_base(api_base, is_local=api_local)
                if api_base
                else PRODUCTION
            )
            session = JsonBodySession(api=server)
        self.outbound = OutboundMiddleware(
            pacer if pacer is not None else ChatPacer(), max_wait=max_flood_wait
        )
        session.middleware(self.outbound)
        self.bot = Bot(token, session=session)
        self._response_types = pin_response_types()  # see outbound.USED_METHODS
        download_limit = max_upload_bytes
        if not session.api.is_local:
            download_limit = min(download_limit, BOT_API_DOWNLOAD_LIMIT)
        self.handlers = TelegramHandlers(
            assistant,
            self.bot,
            sender=ReplySender(None if session.api.is_local else BOT_API_UPLOAD_LIMIT),
            guard=InboundGuard(
                inbound_limiter if inbound_limiter is not None else TokenBucketLimiter()
            ),
            download_limit=download_limit,
            album_window=album_window,
            typing_delay=typing_delay,
        )
        # No aiogram FSM: dialogs live in core. (Its default in-memory storage would also keep a
        # record for every user and chat ever seen.)
        self.dispatcher = Dispatcher(disable_fsm=True)
        self.dispatcher.include_routers(*self.handlers.routers())
        self._polling: asyncio.Task[None] | None = None

    # ---------------------------------------------------------------- configuration

    @property
    def allowed_updates(self) -> list[str]:
        return sorted(self.dispatcher.resolve_used_update_types())

    def menu(self) -> list[BotCommand]:
        """The command menu, from the registry (commands marked ``menu``)."""
        commands = []
        for command in self.assistant.registry.all():
            if command.menu and _COMMAND_NAME.match(command.name):
                description = (command.help.strip() or command.name)[:256]
                commands.append(BotCommand(command=command.name, description=description))
        return commands[:100]

    async def set_commands(self) -> bool:
        """``setMyCommands`` from the registry when the menu Telegram has differs; True if set."""
        wanted = self.menu()
        current = await self.bot.get_my_commands()
        if [(c.command, c.description) for c in current] == [
            (c.command, c.description) for c in wanted
        ]:
            return False
        await self.bot.set_my_commands(wanted)
        log.info("telegram_commands_set", count=len(wanted))
        return True

    def _key(self, name: str) -> str:
        return f"telegram:{self.bot.id}:{name}"

    def webhook_fingerprint(self) -> str:
        settings = {
            "url": self.webhook_url,
            "secret": self.webhook_secret,
            "allowed_updates": self.allowed_updates,
        }
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    async def setup_webhook(self) -> bool:
        """``setWebhook`` unless Telegram already has these settings; True when it was called."""
        if not self.webhook_url:
            raise ValueError("no webhook_url configured")
        if not self.webhook_secret:
            log.warning("telegram_webhook_without_secret", hint="set TELEGRAM_WEBHOOK_SECRET")
        fingerprint = self.webhook_fingerprint()
        stored = await self.state_kv.get(self._key("webhook"))
        if stored is not None and stored.decode() == fingerprint:
            info = await self.bot.get_webhook_info()
            if info.url == self.webhook_url:
                log.info("telegram_webhook_unchanged")
                return False
        await self.bot.set_webhook(
            self.webhook_url,
            secret_token=self.webhook_secret,
            allowed_updates=self.allowed_updates,
        )
        await self.state_kv.set(self._key("webhook"), fingerprint.encode())
        log.info("telegram_webhook_set", url=self.webhook_url)
        return True

    # ---------------------------------------------------------------- updates

    async def feed_webhook_update(self, update: dict[str, Any]) -> bool:
        """Process one update that came in through the webhook; False if dropped (a repeated
        ``update_id``, or not an update)."""
        update_id = update.get("update_id")
        if not isinstance(update_id, int) or isinstance(update_id, bool):
            log.warning("telegram_update_invalid", reason="no update_id")
            return False
        fresh = await self.state_kv.set_if_absent(
            self._key(f"update:{update_id}"), b"1", ttl=self.update_ttl
        )
        if not fresh:
            log.info("telegram_update_repeated", update_id=update_id)
            return False
        try:
            parsed = Update.model_validate(update, context={"bot": self.bot})
        except ValidationError as exc:
            log.warning("telegram_update_invalid", update_id=update_id, error=str(exc)[:200])
            return False
        try:
            parsed.event_type  # noqa: B018 - raises for a kind this aiogram does not know
        except UpdateTypeLookupError:
            # Telegram added a kind (the default allowed_updates grows with it): not ours to
            # answer, and aiogram would print the whole update as a RuntimeWarning.
            kinds = sorted(key for key in update if key != "update_id")[:5]
            log.info("telegram_update_unknown_kind", update_id=update_id, kinds=kinds)
            return True
        try:
            await self.dispatcher.feed_update(self.bot, parsed)
        except Exception:
            log.exception("telegram_update_failed", update_id=update_id)
        return True

    # ---------------------------------------------------------------- running

    async def run(self, stop: asyncio.Event) -> None:
        """Webhook mode when ``webhook_url`` is set, else polling; returns after ``stop``."""
        if self.webhook_url:
            await self.run_webhook(stop)
        else:
            await self.run_polling(stop)

    async def announce_start_link(self) -> None:
        """Give core the bot's deep link (``https://t.me/<bot>?start=…``) for one-time codes."""
        me = await self.bot.me()
        if me.username:
            link = f"https://t.me/{me.username}?start={{payload}}"
            self.assistant.start_links["telegram"] = link

    async def run_webhook(self, stop: asyncio.Event) -> None:
        """Set the webhook and the menu, then wait; updates arrive via the HTTP server."""
        await self._safely(self.set_commands(), "set_commands")
        await self._safely(self.announce_start_link(), "get_me")
        await self.setup_webhook()
        await stop.wait()
        await self.handlers.drain()

    async def run_polling(self, stop: asyncio.Event) -> None:
        """Long-poll getUpdates until ``stop`` is set, then finish the answers in progress."""
        await self._safely(self.set_commands(), "set_commands")
        await self._safely(self.announce_start_link(), "get_me")
        info = await self.bot.get_webhook_info()
        if info.url:
            log.info("telegram_webhook_deleted", url=info.url, reason="polling mode")
            await self.bot.delete_webhook(drop_pending_updates=False)
        await self.state_kv.delete(self._key("webhook"))
        self._polling = asyncio.create_task(
            self.dispatcher.start_polling(
                self.bot,
                polling_timeout=self.polling_timeout,
                handle_signals=False,
                close_bot_session=False,
                allowed_updates=self.allowed_updates,
            ),
            name="telegram-polling",
        )
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({self._polling, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopper.cancel()
            await self._stop_polling()
            await self.handlers.drain()

    async def _stop_polling(self) -> None:
        task = self._polling
        if task is None:
            return
        if not task.done():
            try:
                await self.dispatcher.stop_polling()
            except RuntimeError:  # not started yet
                task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("telegram_polling_failed")
        self._polling = None
        # Updates aiogram already handed to tasks: let them finish (answers in progress).
        in_flight = set(getattr(self.dispatcher, "_handle_update_tasks", ()))
        if in_flight:
            await asyncio.wait(in_flight, timeout=10.0)

    async def _safely(self, call: Any, what: str) -> None:
        try:
            await call
        except TelegramAPIError as exc:
            log.warning("telegram_setup_failed", step=what, error=str(exc))

    async def notify(self, account_id: int, message: str | Reply) -> None:
        """``core.ports.Notifier``: tell the account's Telegram identities (private chats)."""
        notice = as_notice(message)
        for identity in await self.assistant.store.accounts.identities(account_id):
            if identity.platform == "telegram" and identity.external_id.lstrip("-").isdigit():
                await self.handlers.sender.send(self.bot, int(identity.external_id), notice)

    async def aclose(self) -> None:
        """Finish what is in progress and close the HTTP session."""
        await self._stop_polling()
        await self.handlers.drain()
        await self.bot.session.close()
