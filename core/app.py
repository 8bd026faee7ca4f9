"""The assistant: one entry point, ``Assistant.handle(Incoming) -> Reply``, for every adapter.

It resolves the account, routes buttons, dialogs and commands, and turns every failure into a
short friendly answer (the log gets the traceback with the request id).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from core import intents
from core.chat import ExternalUser, Incoming, Reply, escape_markup
from core.commands import build_registry
from core.commands.profile import ProfileWizard
from core.commands.registry import MAX_COMPLETIONS, Choice, Registry
from core.context import Context
from core.dialogs import Dialogs, NumberQuestion
from core.errors import (
    HuntazeError,
    NotFound,
    QuotaExceeded,
    RateLimitedError,
    ServiceUnavailable,
    UsageError,
)
from core.jobs import JobQueue
from core.log_context import log_context
from core.models import Account, Profile
from core.ports import (
    Advisor,
    BlobStore,
    Clock,
    ContentGenerator,
    Importer,
    KeyValueStore,
    Narrator,
    Notifier,
    QuotaGuard,
    Store,
)
from core.resilience.ratelimit import RateLimiter
from core.services.billing import BillingService
from core.services.captions import CaptionsService
from core.services.fans import FansService
from core.services.ideas import IdeasService
from core.services.personalize import PersonalizeService
from core.services.vault import VaultService
from core.timezones import get_zone, zone_label

log = structlog.get_logger("huntaze.core")

AttachmentHandler = Callable[[Context], Awaitable[Reply]]


class Observer(Protocol):
    """Metrics hook; ``bot/`` plugs prometheus in, core never imports it."""

    def command(self, name: str, platform: str, outcome: str, seconds: float) -> None: ...

    def job(self, name: str, outcome: str, seconds: float) -> None:
        """One try of a background job: ``ok``, ``failed`` or ``cancelled`` (a timeout or a
        shutdown)."""
        ...

    def job_dead(self, name: str) -> None:
        """A job failed its last try and became a dead letter."""
        ...


class NullObserver:
    def command(self, name: str, platform: str, outcome: str, seconds: float) -> None:
        return None

    def job(self, name: str, outcome: str, seconds: float) -> None:
        return None

    def job_dead(self, name: str) -> None:
        return None


@dataclass
class Limits:
    """Product limits that are configuration, not code."""

    max_upload_bytes: int = 20 * 1024 * 1024
    max_import_bytes: int = 100 * 1024 * 1024
    recent_ideas_window: int = 50


@dataclass
class Assistant:
    store: Store
    generator: ContentGenerator
    kv: KeyValueStore
    clock: Clock
    blobs: BlobStore | None = None
    importer: Importer | None = None
    quotas: QuotaGuard | None = None  # None: no plan limits (embedded default)
    billing: BillingService | None = None  # plans, checkout, API keys
    narrator: Narrator | None = None  # an LLM phrasing /stats; None: the rule-based narrative
    advisor: Advisor | None = None  # an LLM answering questions no command answers
    jobs: JobQueue | None = None  # background jobs (big imports, big segments, summaries)
    notifier: Notifier | None = None  # tells an account's owner something in chat (/team)
    limits: Limits = field(default_factory=Limits)
    observer: Observer = field(default_factory=NullObserver)
    registry: Registry = field(default_factory=build_registry)
    dialogs: Dialogs | None = None
    rate_limiter: RateLimiter | None = None  # per-account command limit (memory or Redis)
    # A link that opens the bot with ``/start {payload}``, per chat app that has them, set by
    # its adapter when it starts (Telegram's ``https://t.me/<bot>?start=…`` deep links).
    start_links: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.dialogs is None:
            self.dialogs = Dialogs(self.kv)
        self.dialogs.register(ProfileWizard())
        self.dialogs.register(NumberQuestion())
        self.ideas = IdeasService(self.store, self.generator, self.limits.recent_ideas_window)
        self.captions = CaptionsService(self.store, self.generator)
        self.fans = FansService(self.store)
        self.personalize = PersonalizeService(self.generator)
        self.vault = (
            VaultService(self.store, self.blobs, self.limits.max_upload_bytes, quotas=self.quotas)
            if self.blobs
            else None
        )

    # ------------------------------------------------------------ entry point

    async def handle(self, incoming: Incoming) -> Reply:
        request_id = incoming.request_id or uuid.uuid4().hex[:12]
        incoming.request_id = request_id
        started = time.perf_counter()
        name = "message"
        outcome = "ok"
        profile: Profile | None = None
        account: Account | None = None
        with log_context(request_id=request_id, platform=incoming.user.platform):
            try:
                account, profile = await self.store.accounts.resolve_with_profile(
                    incoming.user.identity()
                )
                await self._check_rate(account.person_id)  # each team member has their own
                ctx = Context(incoming=incoming, account=account, app=self, request_id=request_id)
                if profile is not None:
                    ctx.preload_profile(profile)
                name, reply = await self._route(ctx)
            except UsageError as exc:
                outcome = "usage"
                reply = Reply.text(exc.message + (f"\nUsage: `{exc.usage}`" if exc.usage else ""))
            except QuotaExceeded as exc:
                outcome = "quotaexceeded"
                reply = Reply.text(exc.message)
                zone = profile.timezone if profile is not None else ""
                if exc.refills_at is not None and zone:  # UTC days; say when that is for her
                    local = exc.refills_at.astimezone(get_zone(zone))
                    reply.add_text(f"Midnight UTC is {local:%H:%M} your time ({zone_label(zone)}).")
            except (NotFound, RateLimitedError) as exc:
                outcome = type(exc).__name__.lower()
                reply = Reply.text(exc.message)
            except ServiceUnavailable as exc:
                outcome = "unavailable"
                log.warning("service_unavailable", error=exc.message)
                reply = Reply.text(exc.message)
            except HuntazeError as exc:
                outcome = "error"
                reply = Reply.text(exc.message)
            except Exception:
                outcome = "error"
                log.exception("handler_failed", command=name)
                reply = Reply.text(
                    "Something went wrong on our side and I couldn't finish that. Nothing was "
                    f"lost — please try again. (ref `{request_id}`)"
                )
            if account is not None and account.member_id is not None:
                await self._record_member(account, name, outcome)
            seconds = time.perf_counter() - started
            self.observer.command(name, incoming.user.platform, outcome, seconds)
            log.info("handled", command=name, outcome=outcome, ms=round(seconds * 1000, 2))
            return reply

    async def _record_member(self, account: Account, name: str, outcome: str) -> None:
        """Note what a team member did on the account (``/team activity``); a failure to is
        logged, never the member's problem."""
        assert account.member_id is not None
        try:
            await self.store.team.record(account.id, account.member_id, name, outcome)
        except Exception:
            log.warning("team_action_not_recorded", exc_info=True)

    async def _check_rate(self, account_id: int) -> None:
        """Raise ``RateLimitedError`` when the account is over its command limit. A broken limiter
        store fails open (logged): it must not take the bot down."""
        if self.rate_limiter is None:
            return
        try:
            decision = await self.rate_limiter.hit(f"acct:{account_id}")
        except Exception:
            log.warning("rate_limiter_failed", exc_info=True)
            return
        if not decision.allowed:
            wait = max(1, round(decision.retry_after))
            raise RateLimitedError(
                f"You're going a bit fast — please wait {wait} s and try again.", wait
            )

    async def complete(
        self, user: ExternalUser, chat_id: str, command: str, field: str, prefix: str
    ) -> list[Choice]:
        """Autocompletion choices for one command field (fan handles, vault files...)."""
        cmd = self.registry.get(command)
        completer = cmd.complete.get(field) if cmd else None
        if completer is None:
            return []
        account = await self.store.accounts.resolve(user.identity())
        incoming = Incoming(user=user, chat_id=chat_id)
        ctx = Context(incoming=incoming, account=account, app=self, request_id="complete")
        return (await completer(ctx, prefix))[:MAX_COMPLETIONS]

    async def _route(self, ctx: Context) -> tuple[str, Reply]:
        incoming = ctx.incoming
        assert self.dialogs is not None
        if incoming.action:
            return await self._route_action(ctx, incoming.action)
        text = incoming.text.strip()
        if incoming.attachments:  # files are stored first; never answers to a wizard question
            handler = self.registry.action_handler("__attachments__")
            if handler is None:
                return "attachments", Reply.text("I can't store files yet.")
            stored = await handler(ctx, [])
            if not text.startswith("/"):
                return "attachments", stored
            name, reply = await self.run_command(ctx, text, incoming.options)  # "/caption ..."
            reply.blocks[:0] = stored.blocks
            return name, reply
        if text.startswith("/"):
            return await self.run_command(ctx, text, incoming.options)
        state = await self.dialogs.load(ctx)
        if state is not None:
            dialog = self.dialogs.get(state.name)
            assert dialog is not None
            reply = await dialog.on_text(ctx, state, text)
            return f"dialog:{state.name}", await self._after_dialog(ctx, state, reply)
        if not text:
            return "empty", Reply.text("Send me a command — /help lists them.")
        return await self._sentence(ctx, text)

    async def _sentence(self, ctx: Context, text: str) -> tuple[str, Reply]:
        """A plain sentence: the command it asks for (``core.intents``), named in the reply."""
        reading = intents.read(text)
        if reading.command_line:
            name, reply = await self.run_command(ctx, reading.command_line)
            reply.add_text(f"_(That was {escape_markup(reading.command_line)})_")
            return name, reply
        asks = (
            "Ask me for ideas (“3 ideas for halloween”), a caption (“caption for my beach "
            "pics”), your earnings (“how much did I make this week?”) or a price (“what "
            "should I charge for PPV?”) — or send /help for everything I can do."
        )
        if reading.answer == "greeting":
            who = ctx.incoming.user.display_name.split(" ")[0] or ctx.incoming.user.username
            return "text", Reply.text(f"Hi{' ' + escape_markup(who) if who else ''}! {asks}")
        if reading.answer == "thanks":
            return "text", Reply.text("You're welcome! Anything else? /help lists everything.")
        if self.advisor is not None:  # a question for the model: "how do I get more subs?"
            profile = await ctx.profile() or Profile()
            answer = await self.advisor.advise(text, profile, account_id=ctx.account_id)
            if answer:
                return "advice", Reply.text(escape_markup(answer), result={"answer": answer})
        return "text", Reply.text(f"I didn't catch that. {asks}")

    async def _route_action(self, ctx: Context, action: str) -> tuple[str, Reply]:
        assert self.dialogs is not None
        prefix, _, rest = action.partition(":")
        args = rest.split(":") if rest else []
        if prefix == "cmd":
            return await self.run_command(ctx, "/" + rest)
        if prefix == "wz":
            state = await self.dialogs.load(ctx)
            if state is None:
                return "dialog:expired", Reply.text(
                    "That question has expired. Send /profile to start again."
                )
            dialog = self.dialogs.get(state.name)
            assert dialog is not None
            reply = await dialog.on_action(ctx, state, args)
            return f"dialog:{state.name}", await self._after_dialog(ctx, state, reply)
        handler = self.registry.action_handler(prefix)
        if handler is None:
            return "action:unknown", Reply.text(
                "That button no longer works. Try the command again."
            )
        return f"action:{prefix}", await handler(ctx, args)

    async def _after_dialog(self, ctx: Context, state: object, reply: Reply) -> Reply:
        from core.dialogs import DialogState

        assert isinstance(state, DialogState) and self.dialogs is not None
        await self.dialogs.save(ctx, state)
        if state.done and state.then:
            _, follow = await self.run_command(ctx, state.then, state.then_options)
            reply.blocks.extend(follow.blocks)
            reply.buttons = follow.buttons
            reply.result = follow.result
            reply.degraded = follow.degraded
        return reply

    async def run_command(
        self, ctx: Context, text: str, options: dict[str, Any] | None = None
    ) -> tuple[str, Reply]:
        assert self.dialogs is not None
        head, _, rest = text.lstrip("/").partition(" ")
        name = head.split("@", 1)[0].lower()  # Telegram groups send /cmd@botname
        command = self.registry.get(name)
        if command is None:
            hints = self.registry.suggest(name)
            hint = f" Did you mean {', '.join('/' + h for h in hints)}?" if hints else ""
            return "unknown", Reply.text(
                f"I don't know /{escape_markup(name)}.{hint} Send /help for the full list."
            )
        if not ctx.account.may(command.access):
            who = "owner" if command.access == "owner" else "owner and managers"
            return command.name, Reply.text(
                f"/{command.name} is for the account's {who}: you're working on it as a "
                f"{ctx.account.role} on its team. /accounts switches back to your own."
            )
        if command.name != "cancel":
            await self.dialogs.clear(ctx)
        if command.needs_profile:
            profile = await ctx.profile()
            if profile is None or not profile.is_complete():
                reply = Reply.text(
                    "First, let's set up your profile so everything fits your content."
                )
                wizard = await self.dialogs.start(ctx, "profile", then=text, then_options=options)
                reply.blocks.extend(wizard.blocks)
                reply.buttons = wizard.buttons
                return command.name, reply
        try:
            if options is not None:
                args = command.validate({k: v for k, v in options.items() if v is not None})
            else:
                args = command.parse_text(rest.strip())
        except UsageError as exc:
            raise UsageError(exc.message, usage=command.usage) from exc
        return command.name, await command.handler(ctx, args)
