"""A local Discord for end-to-end tests: REST under ``/api/v10`` and a gateway websocket.

The real discord.py client logs into it, receives READY and GUILD_CREATE, syncs application
commands and answers interactions that the fake dispatches. The fake records every interaction
response, follow-up, edit and message, serves attachment downloads like the CDN does, and checks
the limits Discord enforces (content length, embeds, components, command shapes, the 3-second
first-response deadline, one response per interaction).

Typical use::

    async with FakeDiscord() as fake, running_client_at(fake, MyClient(...)) as client:
        await client.tree.sync()
        handle = await fake.slash_command("ideas", {"count": 3})
        [followup] = await fake.wait_for_followups(handle)
        assert "3 ideas" in followup.message["content"]

or, spelled out::

    async with FakeDiscord() as fake:
        with point_discord_py_at(fake):
            async with running_client(client, fake):
                ...

Things worth knowing:

- Gateway transport compression ``zlib-stream`` (discord.py's default without ``zstandard``)
  and plain JSON are supported; ``zstd-stream`` and ``etf`` are not (the connection is
  closed and ``server_errors`` says why).
- discord.py fires on_ready ``guild_ready_timeout`` (2 s) after the last GUILD_CREATE;
  :func:`running_client` lowers it to 0.05 s. After an INVALID_SESSION discord.py sleeps
  5 s before it identifies again (its ``before_identify_hook``); a RESUME is immediate.
- Privileged intents (members, presences, message content) are refused with close code
  4014 unless enabled with ``FakeDiscord(privileged_intents=...)``, as in the developer
  portal. Without MESSAGE_CONTENT, guild messages from users reach the bot with empty content.
- The first interaction response must come within ``interaction_deadline`` (3 s) of the
  dispatch, measured on ``clock`` (inject one to test the expiry); follow-ups and edits
  work for ``interaction_token_ttl`` (15 min).
- ``server_errors`` collects tracebacks of bugs inside the fake (a 500 is answered); a test
  fixture should assert it is empty.

Platform facts follow discord.com/developers/docs (see /work/shared/PLATFORMS.md); wire
details follow what discord.py 2.7 sends and parses (discord/http.py, gateway.py,
interactions.py, webhook/async_.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import datetime
import fnmatch
import hashlib
import json
import logging
import math
import mimetypes
import random
import re
import time
import traceback
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import yarl
from aiohttp import BodyPartReader, WSMsgType, web

if TYPE_CHECKING:
    import discord

__all__ = [
    "DEFAULT_USER_ID",
    "DiscordHTTPError",
    "EditRecord",
    "FakeDiscord",
    "FollowupRecord",
    "GatewayConnection",
    "GatewaySession",
    "InjectedFailure",
    "InteractionHandle",
    "InteractionResponseRecord",
    "RecordedRequest",
    "SyncRecord",
    "UploadedFile",
    "point_discord_py_at",
    "running_client",
    "running_client_at",
]

_log = logging.getLogger(__name__)

T = TypeVar("T")
JSON = dict[str, Any]

DISCORD_EPOCH_MS = 1420070400000
API_VERSIONS = ("9", "10")

# Gateway opcodes (discord.com/developers/docs/topics/opcodes-and-status-codes).
OP_DISPATCH = 0
OP_HEARTBEAT = 1
OP_IDENTIFY = 2
OP_PRESENCE_UPDATE = 3
OP_VOICE_STATE_UPDATE = 4
OP_RESUME = 6
OP_RECONNECT = 7
OP_REQUEST_GUILD_MEMBERS = 8
OP_INVALID_SESSION = 9
OP_HELLO = 10
OP_HEARTBEAT_ACK = 11

# Gateway intents.
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT

# Interaction types and callback types.
INTERACTION_PING = 1
INTERACTION_APPLICATION_COMMAND = 2
INTERACTION_MESSAGE_COMPONENT = 3
INTERACTION_AUTOCOMPLETE = 4
INTERACTION_MODAL_SUBMIT = 5

CALLBACK_PONG = 1
CALLBACK_CHANNEL_MESSAGE = 4
CALLBACK_DEFERRED_CHANNEL_MESSAGE = 5
CALLBACK_DEFERRED_UPDATE_MESSAGE = 6
CALLBACK_UPDATE_MESSAGE = 7
CALLBACK_AUTOCOMPLETE_RESULT = 8
CALLBACK_MODAL = 9

# Message flags.
FLAG_SUPPRESS_EMBEDS = 1 << 2
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7
FLAG_SUPPRESS_NOTIFICATIONS = 1 << 12
FLAG_IS_COMPONENTS_V2 = 1 << 15
_SETTABLE_FLAGS = FLAG_SUPPRESS_EMBEDS | FLAG_SUPPRESS_NOTIFICATIONS | FLAG_IS_COMPONENTS_V2

# Message types.
MESSAGE_DEFAULT = 0
MESSAGE_REPLY = 19
MESSAGE_CHAT_INPUT_COMMAND = 20

# Channel types.
CHANNEL_GUILD_TEXT = 0
CHANNEL_DM = 1

# Application command option types.
OPTION_SUB_COMMAND = 1
OPTION_SUB_COMMAND_GROUP = 2
OPTION_STRING = 3
OPTION_INTEGER = 4
OPTION_BOOLEAN = 5
OPTION_NUMBER = 10
OPTION_ATTACHMENT = 11

# Limits (discord.com/developers/docs/resources/message, .../interactions/...).
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_REQUEST_BYTES = 25 * 1024 * 1024
DEFAULT_ATTACHMENT_LIMIT = 10 * 1024 * 1024  # a server without boosts, and every DM
MAX_ACTION_ROWS = 5
MAX_ROW_COMPONENTS = 5
MAX_V2_COMPONENTS = 40
MAX_CUSTOM_ID = 100
MAX_BUTTON_LABEL = 80
MAX_MODAL_TITLE = 45
MAX_AUTOCOMPLETE_CHOICES = 25
MAX_COMMAND_OPTIONS = 25
MAX_COMMAND_CHARS = 4000
MAX_GLOBAL_CHAT_COMMANDS = 100

# A user's computed permissions in the test channel: view channel, send messages, embed links,
# attach files, read history, add reactions, use external emojis, use application commands.
DEFAULT_MEMBER_PERMISSIONS = str(
    (1 << 6) | (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 18) | (1 << 31)
)
DEFAULT_APP_PERMISSIONS = DEFAULT_MEMBER_PERMISSIONS

DEFAULT_USER_ID = "300000000000000001"

_COMMAND_NAME_RE = re.compile(r"^[-_'\w]{1,32}$")
_FILES_FIELD_RE = re.compile(r"^files\[(\d+)\]$")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _is_true(value: str | None) -> bool:
    return value is not None and value.lower() in ("1", "true", "yes")


class _Snowflakes:
    """Increasing Discord snowflakes whose timestamp part comes from the clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._last_ms = 0
        self._seq = 0

    def next(self) -> str:
        ms = int(self._clock() * 1000) - DISCORD_EPOCH_MS
        if ms <= self._last_ms:
            ms = self._last_ms
            self._seq += 1
            if self._seq > 0xFFF:
                ms += 1
                self._seq = 0
        else:
            self._seq = 0
        self._last_ms = ms
        return str((ms << 22) | (1 << 17) | self._seq)


class DiscordHTTPError(Exception):
    """An error answer in Discord's shape: ``{"message", "code", "errors"?}``."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: JSON | None = None,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors

    def body(self) -> JSON:
        body: JSON = {"message": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        return body


def _form_error(problems: Sequence[tuple[str, str, str]]) -> DiscordHTTPError:
    """Build a 50035 Invalid Form Body error from (dotted path, code, message) triples."""
    errors: JSON = {}
    for path, code, message in problems:
        node = errors
        for part in path.split("."):
            node = node.setdefault(part, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return DiscordHTTPError(400, 50035, "Invalid Form Body", errors)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


class _Problems:
    """Collects Invalid Form Body problems as (dotted path, code, message)."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def add(self, path: str, code: str, message: str) -> None:
        self.items.append((path.strip("."), code, message))

    def max_len(self, path: str, limit: int) -> None:
        self.add(path, "BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")

    def length(self, path: str, low: int, high: int) -> None:
        self.add(path, "BASE_TYPE_BAD_LENGTH", f"Must be between {low} and {high} in length.")

    def required(self, path: str) -> None:
        self.add(path, "BASE_TYPE_REQUIRED", "This field is required")

    def not_list(self, path: str) -> None:
        self.add(path, "LIST_TYPE_CONVERT", "Must be a list.")

    def not_dict(self, path: str) -> None:
        self.add(path, "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")

    def raise_if_any(self) -> None:
        if self.items:
            raise _form_error(self.items)


@dataclass
class UploadedFile:
    """A file the client uploaded (``files[n]``) or the fake announced as an attachment."""

    filename: str
    content_type: str | None
    data: bytes
    attachment_id: str | None = None


@dataclass
class RecordedRequest:
    """One REST call the fake received (paths are relative to ``/api/v{n}``)."""

    method: str
    path: str
    route: str | None
    params: dict[str, str]
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]
    status: int | None = None


@dataclass
class InteractionHandle:
    """What a test needs to find the answers to an interaction it dispatched."""

    id: str
    token: str
    type: int
    channel_id: str
    guild_id: str | None
    user_id: str
    payload: JSON


@dataclass
class InteractionResponseRecord:
    """``POST /interactions/{id}/{token}/callback``; ``message`` is a snapshot at that time."""

    interaction_id: str
    token: str
    type: int
    data: JSON | None
    files: list[UploadedFile]
    message: JSON | None


@dataclass
class FollowupRecord:
    """``POST /webhooks/{app}/{token}``. ``replaced_deferred`` is True when the follow-up
    turned the "thinking..." message of a deferred response into the answer (Discord does
    that for the first follow-up after ``defer``)."""

    interaction_id: str
    token: str
    payload: JSON
    files: list[UploadedFile]
    message: JSON
    replaced_deferred: bool


@dataclass
class EditRecord:
    """A message edit (channel PATCH or webhook PATCH of @original / a follow-up)."""

    message_id: str
    interaction_id: str | None
    payload: JSON
    files: list[UploadedFile]
    message: JSON


@dataclass
class SyncRecord:
    """One bulk overwrite (``PUT .../commands``); ``guild_id`` is None for global commands."""

    guild_id: str | None
    commands: list[JSON]


@dataclass
class InjectedFailure:
    """A failure armed with :meth:`FakeDiscord.fail_next`; ``hits`` are the requests it hit."""

    method: str | None
    path_glob: str
    status: int
    retry_after: float
    global_: bool
    times: int
    body: JSON | None
    hits: list[RecordedRequest] = field(default_factory=list)

    def matches(self, method: str, path: str, route: str | None) -> bool:
        if self.method is not None and self.method != method:
            return False
        if fnmatch.fnmatchcase(path, self.path_glob):
            return True
        return route is not None and fnmatch.fnmatchcase(route, self.path_glob)


@dataclass
class _Reply:
    status: int
    body: Any


@dataclass
class _Route:
    method: str
    template: str
    regex: re.Pattern[str]
    handler: Callable[[RecordedRequest], Awaitable[Any]]
    auth: bool


@dataclass
class _InteractionState:
    handle: InteractionHandle
    created_at: float
    source_message_id: str | None = None
    callback_type: int | None = None
    original_message_id: str | None = None
    loading: bool = False
    followup_ids: list[str] = field(default_factory=list)


class GatewayConnection:
    """One websocket connection to the fake gateway."""

    def __init__(self, ws: web.WebSocketResponse, *, path: str, query: Mapping[str, str]) -> None:
        self.ws = ws
        self.path = path
        self.query: dict[str, str] = dict(query)
        self.compress: str | None = self.query.get("compress")
        self._zlib = zlib.compressobj() if self.compress == "zlib-stream" else None
        self._lock = asyncio.Lock()
        self.session: GatewaySession | None = None
        self.received: list[JSON] = []
        self.sent: list[JSON] = []
        self.heartbeats = 0
        self.closed_by_server = False

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, payload: JSON) -> bool:
        """Send one gateway payload; returns False if the socket is already gone."""
        raw = json.dumps(payload, separators=(",", ":"))
        async with self._lock:
            if self.ws.closed:
                return False
            try:
                if self._zlib is not None:
                    data = self._zlib.compress(raw.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(raw)
            except (ConnectionError, RuntimeError):
                return False
        self.sent.append(payload)
        return True

    async def close(self, code: int, message: str = "") -> None:
        self.closed_by_server = True
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=message.encode())


@dataclass
class GatewaySession:
    """A gateway session (created by IDENTIFY, continued by RESUME)."""

    session_id: str
    intents: int
    identify: JSON
    seq: int = 0
    events: list[JSON] = field(default_factory=list)
    connection: GatewayConnection | None = None
    invalid: bool = False
    resumes: int = 0


class FakeDiscord:
    """A local Discord API + gateway on 127.0.0.1 (ephemeral port by default).

    Public state (all lists are in arrival order):

    - ``requests``: every REST call; ``interaction_responses``; ``followups``; ``edits``;
      ``messages`` (every message that exists or existed, as Discord JSON, kept current by
      edits; ``deleted_message_ids`` lists deletions); ``synced_commands`` (current global
      commands) / ``guild_commands`` (guild id -> commands) / ``sync_history``;
      ``modals`` (custom_id -> modal data the bot opened); ``cdn_downloads`` (attachment ids
      fetched); ``failures`` (armed failures with their hits); ``server_errors`` (tracebacks
      of bugs inside the fake: should stay empty).
    - Gateway: ``gateway_connections``, ``sessions``, ``identify_payloads``, ``resumes``,
      ``presence_updates``.
    """

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        host: str = "127.0.0.1",
        port: int = 0,
        bot_username: str = "huntaze",
        guild_name: str = "Huntaze Test Guild",
        channel_name: str = "general",
        default_username: str = "creator",
        heartbeat_interval_ms: int = 41250,
        interaction_deadline: float | None = 3.0,
        interaction_token_ttl: float = 15 * 60.0,
        privileged_intents: int = 0,
        attachment_size_limit: int = DEFAULT_ATTACHMENT_LIMIT,
        seed: int = 0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.host = host
        self._requested_port = port
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.interaction_deadline = interaction_deadline
        self.interaction_token_ttl = interaction_token_ttl
        self.privileged_intents = privileged_intents & PRIVILEGED_INTENTS
        self.attachment_size_limit = attachment_size_limit
        self._clock = clock
        self._rng = random.Random(seed)
        self._ids = _Snowflakes(clock)

        self.application_id = self._ids.next()
        self.bot_user: JSON = {
            **self._user_payload(self.application_id, bot_username),
            "bot": True,
            "verified": True,
            "mfa_enabled": False,
            "email": None,
            "flags": 0,
        }
        self.owner_user: JSON = self._user_payload(self._ids.next(), "owner")
        self.users: dict[str, JSON] = {self.application_id: self.bot_user}
        self.default_user_id = DEFAULT_USER_ID
        self.add_user(DEFAULT_USER_ID, default_username)

        self.guild_id = self._ids.next()
        self.guild_name = guild_name
        self.channels: dict[str, JSON] = {}
        self.channel_id = self.add_channel(channel_name)["id"]
        self._joined_at = self._iso_now()
        self._dm_by_user: dict[str, str] = {}
        self.dm_blocked: set[str] = set()

        # Records.
        self.requests: list[RecordedRequest] = []
        self.interaction_responses: list[InteractionResponseRecord] = []
        self.followups: list[FollowupRecord] = []
        self.edits: list[EditRecord] = []
        self.messages: list[JSON] = []
        self._messages_by_id: dict[str, JSON] = {}
        self.deleted_message_ids: list[str] = []
        self.synced_commands: list[JSON] = []
        self.guild_commands: dict[str, list[JSON]] = {}
        self.sync_history: list[SyncRecord] = []
        self.modals: dict[str, tuple[InteractionHandle, JSON]] = {}
        self.files: dict[str, UploadedFile] = {}
        self.cdn_downloads: list[str] = []
        self.failures: list[InjectedFailure] = []
        self.server_errors: list[str] = []
        self._interactions: dict[str, _InteractionState] = {}
        self._interactions_by_token: dict[str, _InteractionState] = {}

        # Gateway.
        self.gateway_connections: list[GatewayConnection] = []
        self.sessions: dict[str, GatewaySession] = {}
        self.identify_payloads: list[JSON] = []
        self.presence_updates: list[JSON] = []
        self.resumes = 0
        self._live: set[GatewayConnection] = set()

        self._changed = asyncio.Event()
        self._routes = self._build_routes()
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._port: int | None = None

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> FakeDiscord:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES + 1024 * 1024)
        app.router.add_route("*", "/api/v{version}/{tail:.*}", self._api_handler)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_get("/gateway-resume", self._gateway_handler)
        app.router.add_get(
            "/attachments/{channel_id}/{attachment_id}/{filename}", self._cdn_handler
        )
        app.router.add_get(
            "/media/attachments/{channel_id}/{attachment_id}/{filename}", self._cdn_handler
        )
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self._requested_port)
        await self._site.start()
        self._port = self._site.port
        return self

    async def stop(self) -> None:
        for conn in list(self._live):
            await conn.close(1001, "Fake Discord is shutting down")
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._site = None

    async def __aenter__(self) -> FakeDiscord:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeDiscord is not started")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def resume_gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway-resume"

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        event = self._changed
        self._changed = asyncio.Event()
        event.set()

    async def wait_for(self, predicate: Callable[[], T | None], timeout: float = 2.0) -> T:  # noqa: ASYNC109
        """Wait until ``predicate()`` returns something truthy and return it; raise
        TimeoutError with a summary of recent requests otherwise."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"condition not met within {timeout}s; {self.summary()}")
            # Wake on any change the fake records, and poll too: predicates may also look
            # at state outside the fake (the bot's own records).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.01))

    def summary(self) -> str:
        calls = ", ".join(f"{r.method} {r.path} -> {r.status}" for r in self.requests[-15:])
        return (
            f"requests=[{calls}] responses={len(self.interaction_responses)} "
            f"followups={len(self.followups)} messages={len(self.messages)} "
            f"server_errors={len(self.server_errors)}"
        )

    async def wait_for_response(
        self,
        handle: InteractionHandle,
        timeout: float = 2.0,  # noqa: ASYNC109
    ) -> InteractionResponseRecord:
        """The (single) callback the bot sent for this interaction."""

        def found() -> InteractionResponseRecord | None:
            for record in self.interaction_responses:
                if record.interaction_id == handle.id:
                    return record
            return None

        return await self.wait_for(found, timeout)

    async def wait_for_followups(
        self,
        handle: InteractionHandle,
        count: int = 1,
        timeout: float = 2.0,  # noqa: ASYNC109
    ) -> list[FollowupRecord]:
        """Wait until the bot sent ``count`` follow-ups for this interaction; return them all."""

        def found() -> list[FollowupRecord] | None:
            records = self.followups_for(handle)
            return records if len(records) >= count else None

        return await self.wait_for(found, timeout)

    def responses_for(self, handle: InteractionHandle) -> list[InteractionResponseRecord]:
        return [r for r in self.interaction_responses if r.interaction_id == handle.id]

    def followups_for(self, handle: InteractionHandle) -> list[FollowupRecord]:
        return [r for r in self.followups if r.interaction_id == handle.id]

    def original_message(self, handle: InteractionHandle) -> JSON | None:
        """The current state of the interaction's original response message, if any."""
        state = self._interactions.get(handle.id)
        if state is None or state.original_message_id is None:
            return None
        return self._messages_by_id.get(state.original_message_id)

    def message(self, message_id: str | int) -> JSON | None:
        """A message by id (current state); None if unknown or deleted."""
        return self._messages_by_id.get(str(message_id))

    def channel_messages(self, channel_id: str | int) -> list[JSON]:
        """Live messages in a channel, oldest first."""
        cid = str(channel_id)
        return [
            m for m in self.messages if m["channel_id"] == cid and m["id"] in self._messages_by_id
        ]

    def file_bytes(self, attachment: JSON | str | int) -> bytes:
        """The bytes behind an attachment object (or attachment id)."""
        aid = str(attachment["id"]) if isinstance(attachment, dict) else str(attachment)
        return self.files[aid].data

    def requests_matching(self, pattern: str) -> list[RecordedRequest]:
        """Recorded requests matching ``"METHOD /path-glob"`` (see :meth:`fail_next`)."""
        method, glob = self._split_pattern(pattern)
        probe = InjectedFailure(method, glob, 0, 0.0, False, 0, None)
        return [r for r in self.requests if probe.matches(r.method, r.path, r.route)]

    # ------------------------------------------------------------------ world setup

    def _user_payload(self, user_id: str, username: str, global_name: str | None = None) -> JSON:
        return {
            "id": user_id,
            "username": username,
            "discriminator": "0",
            "global_name": global_name,
            "avatar": None,
            "avatar_decoration_data": None,
            "banner": None,
            "accent_color": None,
            "public_flags": 0,
            "flags": 0,
            "collectibles": None,
            "primary_guild": None,
        }

    def add_user(
        self,
        user_id: str | int | None = None,
        username: str | None = None,
        global_name: str | None = None,
    ) -> JSON:
        """Register a (human) user; returns the user object."""
        uid = str(user_id) if user_id is not None else self._ids.next()
        user = self._user_payload(uid, username or f"user{uid[-4:]}", global_name)
        self.users[uid] = user
        return user

    def user(self, user_id: str | int) -> JSON:
        """The user object for an id, registering an unknown id on the fly."""
        uid = str(user_id)
        if uid not in self.users:
            return self.add_user(uid)
        return self.users[uid]

    def add_channel(self, name: str) -> JSON:
        """Add a text channel to the test guild (announced in GUILD_CREATE on IDENTIFY)."""
        cid = self._ids.next()
        channel = {
            "id": cid,
            "type": CHANNEL_GUILD_TEXT,
            "guild_id": self.guild_id,
            "name": name,
            "position": len(self.channels),
            "permission_overwrites": [],
            "topic": None,
            "nsfw": False,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "parent_id": None,
            "flags": 0,
        }
        self.channels[cid] = channel
        return channel

    def dm_channel(self, user_id: str | int) -> JSON:
        """The DM channel between the bot and a user (created on first use, like Discord)."""
        uid = str(user_id)
        cid = self._dm_by_user.get(uid)
        if cid is None:
            cid = self._ids.next()
            self._dm_by_user[uid] = cid
            self.channels[cid] = {
                "id": cid,
                "type": CHANNEL_DM,
                "last_message_id": None,
                "flags": 0,
                "recipients": [self.user(uid)],
            }
        return self.channels[cid]

    def block_dms(self, user_id: str | int) -> None:
        """Make DMs to this user fail with 403 / 50007 like a user who closed DMs."""
        self.dm_blocked.add(str(user_id))

    def _role_everyone(self) -> JSON:
        return {
            "id": self.guild_id,
            "name": "@everyone",
            "permissions": DEFAULT_MEMBER_PERMISSIONS,
            "position": 0,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }

    def _member_payload(self, user: JSON, *, with_permissions: bool) -> JSON:
        member: JSON = {
            "user": user,
            "roles": [],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": self._joined_at,
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "flags": 0,
            "pending": False,
            "communication_disabled_until": None,
            "unusual_dm_activity_until": None,
        }
        if with_permissions:
            member["permissions"] = DEFAULT_MEMBER_PERMISSIONS
        return member

    def _guild_channels(self) -> list[JSON]:
        return [c for c in self.channels.values() if c.get("guild_id") == self.guild_id]

    def _guild_payload(self) -> JSON:
        return {
            "id": self.guild_id,
            "name": self.guild_name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": self.owner_user["id"],
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "roles": [self._role_everyone()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "application_id": None,
            "system_channel_id": self.channel_id,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "safety_alerts_channel_id": None,
            "max_members": 500000,
            "vanity_url_code": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": "en-US",
            "max_video_channel_users": 25,
            "max_stage_video_channel_users": 50,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "incidents_data": None,
        }

    def _guild_create_payload(self) -> JSON:
        return {
            **self._guild_payload(),
            "joined_at": self._joined_at,
            "large": False,
            "unavailable": False,
            "member_count": 2,
            "voice_states": [],
            "members": [self._member_payload(self.bot_user, with_permissions=False)],
            "channels": [
                {k: v for k, v in c.items() if k != "guild_id"} for c in self._guild_channels()
            ],
            "threads": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    def _application_flags(self) -> int:
        flags = 1 << 23  # APPLICATION_COMMAND_BADGE
        if self.privileged_intents & INTENT_GUILD_PRESENCES:
            flags |= 1 << 13
        if self.privileged_intents & INTENT_GUILD_MEMBERS:
            flags |= 1 << 15
        if self.privileged_intents & INTENT_MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    def _iso_now(self) -> str:
        return datetime.datetime.fromtimestamp(self._clock(), datetime.UTC).isoformat()

    def _new_token(self, interaction_id: str) -> str:
        secret = "".join(
            self._rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            for _ in range(64)
        )
        return f"aW50ZXJhY3Rpb246{interaction_id}OnRva2Vu{secret}"

    # ------------------------------------------------------------------ attachments

    def add_attachment(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = None,
        *,
        channel_id: str | int | None = None,
        ephemeral: bool = True,
    ) -> JSON:
        """Announce a user-uploaded file; the returned attachment's ``url`` is served here.

        Pass it as an attachment option value to :meth:`slash_command` (or in
        ``resolved_attachments``) or in :meth:`user_message`.
        """
        upload = UploadedFile(filename, content_type, data)
        attachment = self._store_attachment(
            upload, str(channel_id or self.channel_id), description=None
        )
        if ephemeral:
            attachment["ephemeral"] = True
        return copy.deepcopy(attachment)

    def _store_attachment(
        self, upload: UploadedFile, channel_id: str, *, description: str | None
    ) -> JSON:
        aid = self._ids.next()
        name = upload.filename.replace(" ", "_") or "unknown"
        content_type = upload.content_type
        if content_type in (None, "application/octet-stream"):
            content_type = mimetypes.guess_type(name)[0] or content_type
        stored = UploadedFile(name, content_type, upload.data, aid)
        self.files[aid] = stored
        now = int(self._clock())
        signature = hashlib.sha256(f"{aid}:{now}".encode()).hexdigest()
        query = f"?ex={now + 86400:x}&is={now:x}&hm={signature}&"
        path = f"attachments/{channel_id}/{aid}/{quote(name)}"
        attachment: JSON = {
            "id": aid,
            "filename": name,
            "size": len(upload.data),
            "url": f"{self.base_url}/{path}{query}",
            "proxy_url": f"{self.base_url}/media/{path}{query}",
        }
        if content_type is not None:
            attachment["content_type"] = content_type
        if description is not None:
            attachment["description"] = description
        if upload.data.startswith(_PNG_SIGNATURE) and len(upload.data) >= 24:
            attachment["width"] = int.from_bytes(upload.data[16:20], "big")
            attachment["height"] = int.from_bytes(upload.data[20:24], "big")
        return attachment

    async def _cdn_handler(self, request: web.Request) -> web.Response:
        aid = request.match_info["attachment_id"]
        stored = self.files.get(aid)
        expires = request.query.get("ex")
        expired = False
        if expires is not None:
            with contextlib.suppress(ValueError):
                expired = int(expires, 16) < self._clock()
        if stored is None or expired:
            return web.Response(status=404, text="This content is no longer available.")
        self.cdn_downloads.append(aid)
        self._notify()
        return web.Response(
            body=stored.data,
            headers={"Content-Type": stored.content_type or "application/octet-stream"},
        )

    # ------------------------------------------------------------------ failure injection

    @staticmethod
    def _split_pattern(pattern: str) -> tuple[str | None, str]:
        method: str | None = None
        glob = pattern.strip()
        if " " in glob:
            first, rest = glob.split(" ", 1)
            method, glob = first.upper(), rest.strip()
        for prefix in ("/api/v10", "/api/v9"):
            if glob.startswith(prefix):
                glob = glob[len(prefix) :]
        return method, glob

    def fail_next(
        self,
        route_pattern: str,
        status: int = 429,
        retry_after: float = 0.05,
        global_: bool = False,
        *,
        times: int = 1,
        body: JSON | None = None,
    ) -> InjectedFailure:
        """Answer the next ``times`` matching REST calls with an error.

        ``route_pattern`` is ``"METHOD /path-glob"`` (method optional), matched with fnmatch
        against the concrete path (``/webhooks/123/abc``) or the route template
        (``/webhooks/{application_id}/{token}``), without the ``/api/v10`` prefix. 429 answers
        carry Discord's body (``retry_after``, ``global``) and headers (Retry-After,
        X-RateLimit-*, Via) that discord.py honours; 5xx answers are ``{"message", "code": 0}``;
        ``body`` overrides the JSON body for any status.
        """
        method, glob = self._split_pattern(route_pattern)
        failure = InjectedFailure(method, glob, status, retry_after, global_, times, body)
        self.failures.append(failure)
        return failure

    def _take_failure(self, request: RecordedRequest) -> InjectedFailure | None:
        for failure in self.failures:
            if failure.times > 0 and failure.matches(request.method, request.path, request.route):
                failure.times -= 1
                failure.hits.append(request)
                return failure
        return None

    def _failure_response(self, failure: InjectedFailure, request: RecordedRequest) -> web.Response:
        headers = {"Via": "1.1 google"}
        if failure.status == 429:
            retry_after = failure.retry_after
            body = failure.body or {
                "message": "You are being rate limited.",
                "retry_after": retry_after,
                "global": failure.global_,
            }
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
            if failure.global_:
                headers["X-RateLimit-Global"] = "true"
                headers["X-RateLimit-Scope"] = "global"
            else:
                headers.update(
                    {
                        "X-RateLimit-Limit": "5",
                        "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": f"{self._clock() + retry_after:.3f}",
                        "X-RateLimit-Reset-After": f"{retry_after:.3f}",
                        "X-RateLimit-Bucket": self._bucket(request),
                        "X-RateLimit-Scope": "user",
                    }
                )
        elif failure.status >= 500:
            body = failure.body or {
                "message": f"{failure.status}: Internal Server Error",
                "code": 0,
            }
        else:
            body = failure.body or {"message": f"{failure.status}: Injected failure", "code": 0}
        return self._json(failure.status, body, headers)

    # ------------------------------------------------------------------ HTTP plumbing

    @staticmethod
    def _json(status: int, body: Any, headers: Mapping[str, str] | None = None) -> web.Response:
        all_headers = dict(headers or {})
        if status == 204:
            return web.Response(status=204, headers=all_headers)
        # discord.py only parses JSON when Content-Type is exactly "application/json".
        all_headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)

    def _bucket(self, request: RecordedRequest) -> str:
        key = f"{request.method} {request.route or request.path}"
        return hashlib.sha1(key.encode()).hexdigest()[:32]

    def _ratelimit_headers(self, request: RecordedRequest) -> dict[str, str]:
        return {
            "Via": "1.1 google",
            "X-RateLimit-Limit": "50",
            "X-RateLimit-Remaining": "49",
            "X-RateLimit-Reset": f"{self._clock() + 1:.3f}",
            "X-RateLimit-Reset-After": "1.000",
            "X-RateLimit-Bucket": self._bucket(request),
        }

    def _build_routes(self) -> list[_Route]:
        app = "/applications/{application_id}"
        guild_app = app + "/guilds/{guild_id}"
        message = "/channels/{channel_id}/messages/{message_id}"
        hook = "/webhooks/{application_id}/{token}"
        table: list[tuple[str, Callable[[RecordedRequest], Awaitable[Any]]]] = [
            ("GET /users/@me", self._h_get_me),
            ("POST /users/@me/channels", self._h_create_dm),
            ("GET /users/{user_id}", self._h_get_user),
            ("GET /oauth2/applications/@me", self._h_get_application),
            ("GET /applications/@me", self._h_get_application),
            ("GET /gateway", self._h_gateway),
            ("GET /gateway/bot", self._h_gateway_bot),
            (f"GET {app}/commands", self._h_list_commands),
            (f"PUT {app}/commands", self._h_put_commands),
            (f"POST {app}/commands", self._h_post_command),
            (f"GET {app}/commands/{{command_id}}", self._h_get_command),
            (f"PATCH {app}/commands/{{command_id}}", self._h_patch_command),
            (f"DELETE {app}/commands/{{command_id}}", self._h_delete_command),
            (f"GET {guild_app}/commands", self._h_list_commands),
            (f"PUT {guild_app}/commands", self._h_put_commands),
            (f"POST {guild_app}/commands", self._h_post_command),
            (f"GET {guild_app}/commands/{{command_id}}", self._h_get_command),
            (f"PATCH {guild_app}/commands/{{command_id}}", self._h_patch_command),
            (f"DELETE {guild_app}/commands/{{command_id}}", self._h_delete_command),
            ("GET /guilds/{guild_id}", self._h_get_guild),
            ("GET /guilds/{guild_id}/channels", self._h_get_guild_channels),
            ("GET /guilds/{guild_id}/members/{user_id}", self._h_get_member),
            ("GET /channels/{channel_id}", self._h_get_channel),
            ("POST /channels/{channel_id}/typing", self._h_typing),
            ("GET /channels/{channel_id}/messages", self._h_list_messages),
            ("POST /channels/{channel_id}/messages", self._h_create_message),
            (f"GET {message}", self._h_get_message),
            (f"PATCH {message}", self._h_edit_message),
            (f"DELETE {message}", self._h_delete_message),
            ("POST /interactions/{interaction_id}/{token}/callback", self._h_interaction_callback),
            (f"POST {hook}", self._h_followup),
            (f"GET {hook}/messages/{{message_id}}", self._h_webhook_get),
            (f"PATCH {hook}/messages/{{message_id}}", self._h_webhook_edit),
            (f"DELETE {hook}/messages/{{message_id}}", self._h_webhook_delete),
        ]
        routes = []
        for spec, handler in table:
            method, template = spec.split(" ", 1)
            # Interaction callbacks and webhooks authenticate with the token in the path.
            auth = template != "/gateway" and not template.startswith(
                ("/interactions", "/webhooks")
            )
            # Templates only hold [a-z0-9_/@{}], so they need no escaping.
            pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
            routes.append(_Route(method, template, re.compile(f"^{pattern}$"), handler, auth))
        return routes

    def _match(self, method: str, path: str) -> tuple[_Route | None, dict[str, str], bool]:
        """(route, params, path_known) — path_known is True if another method would match."""
        path_known = False
        for route in self._routes:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.method == method:
                return route, found.groupdict(), True
            path_known = True
        return None, {}, path_known

    async def _read_body(self, request: web.Request) -> tuple[Any, list[UploadedFile]]:
        if request.content_length is not None and request.content_length > MAX_REQUEST_BYTES:
            raise DiscordHTTPError(413, 40005, "Request entity too large")
        content_type = request.content_type
        files: list[UploadedFile] = []
        if content_type.startswith("multipart/"):
            payload: Any = None
            indexed: dict[int, UploadedFile] = {}
            total = 0
            reader = await request.multipart()
            while True:
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                data = await part.read(decode=False)
                total += len(data)
                if total > MAX_REQUEST_BYTES:
                    raise DiscordHTTPError(413, 40005, "Request entity too large")
                if name == "payload_json":
                    try:
                        payload = json.loads(data.decode())
                    except ValueError as exc:
                        raise DiscordHTTPError(
                            400, 50109, "The request body contains invalid JSON."
                        ) from exc
                    continue
                match = _FILES_FIELD_RE.match(name)
                if match is not None:
                    indexed[int(match.group(1))] = UploadedFile(
                        part.filename or f"file{match.group(1)}",
                        part.headers.get("Content-Type"),
                        bytes(data),
                    )
            for index in sorted(indexed):
                upload = indexed[index]
                upload.attachment_id = str(index)
                files.append(upload)
            return payload, files
        raw = await request.read()
        if not raw:
            return None, files
        try:
            return json.loads(raw.decode()), files
        except ValueError as exc:
            raise DiscordHTTPError(400, 50109, "The request body contains invalid JSON.") from exc

    async def _api_handler(self, request: web.Request) -> web.Response:
        if request.match_info["version"] not in API_VERSIONS:
            return self._json(400, {"message": "Invalid API version", "code": 50041})
        path = "/" + request.match_info["tail"]
        method = request.method
        route, params, path_known = self._match(method, path)
        record = RecordedRequest(
            method=method,
            path=path,
            route=route.template if route else None,
            params=params,
            query=dict(request.query),
            json=None,
            files=[],
            headers=dict(request.headers),
        )
        try:
            record.json, record.files = await self._read_body(request)
        except DiscordHTTPError as exc:
            self.requests.append(record)
            return self._finish(record, self._json(exc.status, exc.body(), {"Via": "1.1 google"}))
        self.requests.append(record)

        failure = self._take_failure(record)
        if failure is not None:
            return self._finish(record, self._failure_response(failure, record))
        if route is None:
            if path_known:
                return self._finish(
                    record, self._json(405, {"message": "405: Method Not Allowed", "code": 0})
                )
            return self._finish(record, self._json(404, {"message": "404: Not Found", "code": 0}))
        if route.auth and request.headers.get("Authorization") != f"Bot {self.token}":
            return self._finish(
                record, self._json(401, {"message": "401: Unauthorized", "code": 0})
            )
        headers = self._ratelimit_headers(record)
        try:
            result = await route.handler(record)
        except DiscordHTTPError as exc:
            return self._finish(record, self._json(exc.status, exc.body(), headers))
        except Exception:
            self.server_errors.append(traceback.format_exc())
            _log.exception("fake discord: handler for %s %s failed", method, path)
            return self._finish(
                record,
                self._json(500, {"message": "500: Internal Server Error", "code": 0}, headers),
            )
        if isinstance(result, _Reply):
            return self._finish(record, self._json(result.status, result.body, headers))
        if result is None:
            return self._finish(record, self._json(204, None, headers))
        return self._finish(record, self._json(200, result, headers))

    def _finish(self, record: RecordedRequest, response: web.Response) -> web.Response:
        record.status = response.status
        self._notify()
        return response

    # ------------------------------------------------------------------ REST: identity

    async def _h_get_me(self, call: RecordedRequest) -> Any:
        return self.bot_user

    async def _h_get_user(self, call: RecordedRequest) -> Any:
        user = self.users.get(call.params["user_id"])
        if user is None:
            raise DiscordHTTPError(404, 10013, "Unknown User")
        return user

    async def _h_get_application(self, call: RecordedRequest) -> Any:
        return {
            "id": self.application_id,
            "name": self.bot_user["username"],
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "hook": True,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": hashlib.sha256(self.application_id.encode()).hexdigest(),
            "flags": self._application_flags(),
            "owner": self.owner_user,
            "team": None,
            "bot": self.bot_user,
            "tags": [],
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": 1,
            "integration_types_config": {"0": {}},
        }

    async def _h_gateway(self, call: RecordedRequest) -> Any:
        return {"url": self.gateway_url}

    async def _h_gateway_bot(self, call: RecordedRequest) -> Any:
        return {
            "url": self.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": 1000,
                "remaining": 999,
                "reset_after": 14_400_000,
                "max_concurrency": 1,
            },
        }

    async def _h_get_guild(self, call: RecordedRequest) -> Any:
        self._require_guild(call.params["guild_id"])
        return self._guild_payload()

    async def _h_get_guild_channels(self, call: RecordedRequest) -> Any:
        self._require_guild(call.params["guild_id"])
        return self._guild_channels()

    async def _h_get_member(self, call: RecordedRequest) -> Any:
        self._require_guild(call.params["guild_id"])
        user = self.users.get(call.params["user_id"])
        if user is None:
            raise DiscordHTTPError(404, 10007, "Unknown Member")
        return self._member_payload(user, with_permissions=False)

    def _require_guild(self, guild_id: str) -> None:
        if guild_id != self.guild_id:
            raise DiscordHTTPError(404, 10004, "Unknown Guild")

    # ------------------------------------------------------------------ REST: commands

    def _command_scope(self, call: RecordedRequest) -> tuple[str | None, list[JSON]]:
        if call.params["application_id"] != self.application_id:
            raise DiscordHTTPError(403, 50001, "Missing Access")
        guild_id = call.params.get("guild_id")
        if guild_id is None:
            return None, self.synced_commands
        self._require_guild(guild_id)
        return guild_id, self.guild_commands.setdefault(guild_id, [])

    def _validate_options(self, options: Any, path: str, problems: _Problems) -> int:
        """Validate an option list; returns the characters it counts toward the 4000 limit."""
        if options is None:
            return 0
        if not isinstance(options, list):
            problems.not_list(path)
            return 0
        if len(options) > MAX_COMMAND_OPTIONS:
            problems.max_len(path, MAX_COMMAND_OPTIONS)
        subcommand_types = (OPTION_SUB_COMMAND, OPTION_SUB_COMMAND_GROUP)
        kinds = {o.get("type") in subcommand_types for o in options if isinstance(o, dict)}
        if len(kinds) > 1:
            problems.add(
                path,
                "APPLICATION_COMMAND_OPTIONS_TYPE_INVALID",
                "Sub-command and sub-command group option types are mutually exclusive "
                "to all other types",
            )
        chars = 0
        seen_optional = False
        names: set[str] = set()
        for index, option in enumerate(options):
            opath = f"{path}.{index}"
            if not isinstance(option, dict):
                problems.not_dict(opath)
                continue
            name, description = option.get("name", ""), option.get("description", "")
            chars += len(str(name)) + len(str(description))
            self._check_chat_name(name, f"{opath}.name", problems)
            if name in names:
                problems.add(
                    f"{opath}.name",
                    "APPLICATION_COMMAND_OPTION_NAME_ALREADY_EXISTS",
                    "Option name already exists",
                )
            names.add(name)
            if not isinstance(description, str) or not 1 <= len(description) <= 100:
                problems.length(f"{opath}.description", 1, 100)
            if option.get("type") in subcommand_types:
                chars += self._validate_options(option.get("options"), f"{opath}.options", problems)
                continue
            if not option.get("required"):
                seen_optional = True
            elif seen_optional:
                problems.add(
                    f"{opath}.required",
                    "APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                    "Required options must be placed before non-required options",
                )
            choices = option.get("choices") or []
            if len(choices) > 25:
                problems.max_len(f"{opath}.choices", 25)
            for cindex, choice in enumerate(choices):
                cname, value = str(choice.get("name", "")), choice.get("value")
                chars += len(cname) + len(str(value))
                if not 1 <= len(cname) <= 100:
                    problems.length(f"{opath}.choices.{cindex}.name", 1, 100)
                if isinstance(value, str) and len(value) > 100:
                    problems.max_len(f"{opath}.choices.{cindex}.value", 100)
        return chars

    @staticmethod
    def _check_chat_name(name: Any, path: str, problems: _Problems) -> None:
        valid = isinstance(name, str) and _COMMAND_NAME_RE.match(name) and name == name.lower()
        if not valid:
            problems.add(path, "APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")

    def _validate_command(self, command: Any, path: str, problems: _Problems) -> None:
        if not isinstance(command, dict):
            problems.not_dict(path)
            return
        name, description = command.get("name", ""), command.get("description", "")
        if command.get("type", 1) != 1:
            if not isinstance(name, str) or not 1 <= len(name) <= 32:
                problems.length(_join(path, "name"), 1, 32)
            return
        self._check_chat_name(name, _join(path, "name"), problems)
        if not isinstance(description, str) or not 1 <= len(description) <= 100:
            problems.length(_join(path, "description"), 1, 100)
        chars = len(str(name)) + len(str(description))
        chars += self._validate_options(command.get("options"), _join(path, "options"), problems)
        if chars > MAX_COMMAND_CHARS:
            problems.add(
                path, "APPLICATION_COMMAND_TOO_LARGE", "Command exceeds maximum size (4000)"
            )

    def _store_command(self, payload: JSON, guild_id: str | None, existing: list[JSON]) -> JSON:
        ctype = payload.get("type", 1)
        previous = next(
            (c for c in existing if c["name"] == payload.get("name") and c["type"] == ctype), None
        )
        command: JSON = {
            "id": previous["id"] if previous else self._ids.next(),
            "application_id": self.application_id,
            "version": self._ids.next(),
            "type": ctype,
            "name": payload.get("name"),
            "name_localizations": payload.get("name_localizations"),
            "description": payload.get("description", ""),
            "description_localizations": payload.get("description_localizations"),
            "default_member_permissions": payload.get("default_member_permissions"),
            "nsfw": payload.get("nsfw", False),
            "integration_types": payload.get("integration_types") or [0],
            "contexts": payload.get("contexts"),
        }
        if payload.get("options"):
            command["options"] = copy.deepcopy(payload["options"])
        if guild_id is None:
            command["dm_permission"] = payload.get("dm_permission", True)
        else:
            command["guild_id"] = guild_id
        return command

    async def _h_list_commands(self, call: RecordedRequest) -> Any:
        _, commands = self._command_scope(call)
        return commands

    async def _h_put_commands(self, call: RecordedRequest) -> Any:
        guild_id, existing = self._command_scope(call)
        payload = call.json
        problems = _Problems()
        if not isinstance(payload, list):
            problems.not_list("_errors")
            problems.raise_if_any()
        assert isinstance(payload, list)
        seen: set[tuple[str, int]] = set()
        for index, command in enumerate(payload):
            self._validate_command(command, str(index), problems)
            if isinstance(command, dict):
                key = (str(command.get("name")), int(command.get("type", 1)))
                if key in seen:
                    problems.add(
                        f"{index}.name",
                        "APPLICATION_COMMANDS_DUPLICATE_NAME",
                        f"Application command names must be unique: {key[0]}",
                    )
                seen.add(key)
        chat = [c for c in payload if isinstance(c, dict) and c.get("type", 1) == 1]
        if len(chat) > MAX_GLOBAL_CHAT_COMMANDS:
            problems.max_len("_errors", MAX_GLOBAL_CHAT_COMMANDS)
        problems.raise_if_any()
        stored = [self._store_command(c, guild_id, existing) for c in payload]
        existing[:] = stored
        self.sync_history.append(SyncRecord(guild_id, copy.deepcopy(stored)))
        return stored

    async def _h_post_command(self, call: RecordedRequest) -> Any:
        guild_id, existing = self._command_scope(call)
        problems = _Problems()
        self._validate_command(call.json, "", problems)
        problems.raise_if_any()
        command = self._store_command(call.json, guild_id, existing)
        replaced = [c for c in existing if c["id"] != command["id"]]
        created = len(replaced) == len(existing)
        existing[:] = [*replaced, command]
        return _Reply(201 if created else 200, command)

    def _find_command(self, call: RecordedRequest) -> tuple[list[JSON], JSON]:
        _, existing = self._command_scope(call)
        for command in existing:
            if command["id"] == call.params["command_id"]:
                return existing, command
        raise DiscordHTTPError(404, 10063, "Unknown application command")

    async def _h_get_command(self, call: RecordedRequest) -> Any:
        return self._find_command(call)[1]

    async def _h_patch_command(self, call: RecordedRequest) -> Any:
        _, command = self._find_command(call)
        changes = call.json if isinstance(call.json, dict) else {}
        problems = _Problems()
        self._validate_command({**command, **changes}, "", problems)
        problems.raise_if_any()
        command.update(changes)
        command["version"] = self._ids.next()
        return command

    async def _h_delete_command(self, call: RecordedRequest) -> Any:
        existing, command = self._find_command(call)
        existing.remove(command)
        return None

    # ------------------------------------------------------------------ messages

    def _validate_components(
        self, components: Any, flags: int, prefix: str, problems: _Problems
    ) -> None:
        path = _join(prefix, "components")
        if not isinstance(components, list):
            problems.not_list(path)
            return
        custom_ids: list[tuple[str, str]] = []

        def check_item(item: JSON, ipath: str) -> None:
            custom_id = item.get("custom_id")
            if custom_id is not None:
                if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
                    problems.length(f"{ipath}.custom_id", 1, MAX_CUSTOM_ID)
                custom_ids.append((str(custom_id), ipath))
            if item.get("type") == 2:
                label = item.get("label")
                if isinstance(label, str) and len(label) > MAX_BUTTON_LABEL:
                    problems.max_len(f"{ipath}.label", MAX_BUTTON_LABEL)
                style = item.get("style")
                if style == 5 and not item.get("url"):
                    problems.required(f"{ipath}.url")
                if style in (1, 2, 3, 4) and custom_id is None:
                    problems.required(f"{ipath}.custom_id")
            if item.get("type") == 3 and len(item.get("options") or []) > 25:
                problems.max_len(f"{ipath}.options", 25)

        def walk(items: list[Any], wpath: str) -> int:
            count = 0
            for index, item in enumerate(items):
                ipath = f"{wpath}.{index}"
                if not isinstance(item, dict):
                    problems.not_dict(ipath)
                    continue
                count += 1
                check_item(item, ipath)
                if isinstance(item.get("components"), list):
                    count += walk(item["components"], f"{ipath}.components")
                for key in ("component", "accessory"):
                    if isinstance(item.get(key), dict):
                        count += walk([item[key]], f"{ipath}.{key}")
            return count

        if flags & FLAG_IS_COMPONENTS_V2:
            if walk(components, path) > MAX_V2_COMPONENTS:
                problems.max_len(path, MAX_V2_COMPONENTS)
        else:
            if len(components) > MAX_ACTION_ROWS:
                problems.max_len(path, MAX_ACTION_ROWS)
            for index, row in enumerate(components):
                rpath = f"{path}.{index}"
                if not isinstance(row, dict) or row.get("type") != 1:
                    problems.add(
                        rpath, "UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1,).'
                    )
                    continue
                children = row.get("components") or []
                if not 1 <= len(children) <= MAX_ROW_COMPONENTS:
                    problems.length(f"{rpath}.components", 1, MAX_ROW_COMPONENTS)
                walk(children, f"{rpath}.components")
        seen: set[str] = set()
        for custom_id, ipath in custom_ids:
            if custom_id in seen:
                problems.add(
                    f"{ipath}.custom_id",
                    "COMPONENT_CUSTOM_ID_DUPLICATED",
                    "Component custom id cannot be duplicated",
                )
            seen.add(custom_id)

    def _validate_embeds(self, embeds: Any, path: str, problems: _Problems) -> None:
        if not isinstance(embeds, list):
            problems.not_list(path)
            return
        if len(embeds) > MAX_EMBEDS:
            problems.max_len(path, MAX_EMBEDS)
        total = 0
        for index, embed in enumerate(embeds):
            epath = f"{path}.{index}"
            if not isinstance(embed, dict):
                problems.not_dict(epath)
                continue
            texts: list[tuple[str, str, int]] = [
                ("title", str(embed.get("title") or ""), 256),
                ("description", str(embed.get("description") or ""), 4096),
                ("footer.text", str((embed.get("footer") or {}).get("text") or ""), 2048),
                ("author.name", str((embed.get("author") or {}).get("name") or ""), 256),
            ]
            fields = embed.get("fields") or []
            if len(fields) > 25:
                problems.max_len(f"{epath}.fields", 25)
            for findex, fld in enumerate(fields):
                texts.append((f"fields.{findex}.name", str(fld.get("name", "")), 256))
                texts.append((f"fields.{findex}.value", str(fld.get("value", "")), 1024))
            for key, text, limit in texts:
                total += len(text)
                if len(text) > limit:
                    problems.max_len(f"{epath}.{key}", limit)
        if total > MAX_EMBED_TOTAL:
            problems.add(
                path,
                "MAX_EMBED_SIZE_EXCEEDED",
                f"Embed size exceeds maximum size of {MAX_EMBED_TOTAL}",
            )

    def _validate_message(self, payload: JSON, prefix: str = "") -> None:
        """Discord's message limits -> 400 / 50035 Invalid Form Body."""
        problems = _Problems()
        content = payload.get("content")
        if content is not None:
            if not isinstance(content, str):
                problems.add(
                    _join(prefix, "content"),
                    "STRING_TYPE_CONVERT",
                    "Could not interpret value as string.",
                )
            elif len(content) > MAX_CONTENT:
                problems.max_len(_join(prefix, "content"), MAX_CONTENT)
        if payload.get("embeds") is not None:
            self._validate_embeds(payload["embeds"], _join(prefix, "embeds"), problems)
        if payload.get("components") is not None:
            flags = int(payload.get("flags") or 0)
            self._validate_components(payload["components"], flags, prefix, problems)
        problems.raise_if_any()

    def attachment_limit(self, channel: JSON) -> int:
        """A file's size limit in ``channel``: the server's (``attachment_size_limit``, more with
        boosts) in the server, the default in a DM."""
        if channel["type"] == CHANNEL_DM:
            return DEFAULT_ATTACHMENT_LIMIT
        return self.attachment_size_limit

    def _check_files(self, files: Sequence[UploadedFile], channel_id: str) -> None:
        limit = self.attachment_limit(self._channel_or_404(channel_id))
        for upload in files:
            if len(upload.data) > limit:
                raise DiscordHTTPError(413, 40005, "Request entity too large")

    def _attachments_for(
        self,
        payload: JSON,
        files: Sequence[UploadedFile],
        channel_id: str,
        existing: Sequence[JSON] = (),
        prefix: str = "",
    ) -> list[JSON]:
        """Resolve ``attachments`` (new uploads by files[n] index, kept ones by id)."""
        self._check_files(files, channel_id)
        by_index = {f.attachment_id: f for f in files}
        kept = {str(a["id"]): a for a in existing}
        entries = payload.get("attachments")
        result: list[JSON] = []
        used: set[str] = set()
        if entries is None:
            result.extend(copy.deepcopy(list(existing)))
        else:
            for index, entry in enumerate(entries):
                aid = str(entry.get("id"))
                if aid in by_index and aid not in used:
                    used.add(aid)
                    upload = by_index[aid]
                    named = UploadedFile(
                        entry.get("filename") or upload.filename, upload.content_type, upload.data
                    )
                    result.append(
                        self._store_attachment(
                            named, channel_id, description=entry.get("description")
                        )
                    )
                elif aid in kept:
                    result.append(copy.deepcopy(kept[aid]))
                else:
                    raise _form_error(
                        [
                            (
                                _join(prefix, f"attachments.{index}.id"),
                                "ATTACHMENT_NOT_FOUND",
                                "Unknown attachment",
                            )
                        ]
                    )
        for upload in files:
            if upload.attachment_id not in used:
                result.append(self._store_attachment(upload, channel_id, description=None))
        return result

    @staticmethod
    def _is_empty(message: JSON) -> bool:
        return not (
            (message.get("content") or "").strip()
            or message.get("embeds")
            or message.get("attachments")
            or message.get("components")
            or message.get("sticker_items")
            or message.get("poll")
        )

    def _new_message(
        self,
        payload: JSON,
        files: Sequence[UploadedFile],
        *,
        channel_id: str,
        author: JSON,
        msg_type: int = MESSAGE_DEFAULT,
        allow_ephemeral: bool = False,
        interaction: _InteractionState | None = None,
        prefix: str = "",
        loading: bool = False,
    ) -> JSON:
        self._validate_message(payload, prefix)
        allowed = _SETTABLE_FLAGS | (FLAG_EPHEMERAL if allow_ephemeral else 0)
        flags = int(payload.get("flags") or 0) & allowed
        if loading:
            flags |= FLAG_LOADING
        message: JSON = {
            "type": msg_type,
            "content": payload.get("content") or "",
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments_for(payload, files, channel_id, prefix=prefix),
            "embeds": [{"type": "rich", **e} for e in payload.get("embeds") or []],
            "timestamp": self._iso_now(),
            "edited_timestamp": None,
            "flags": flags,
            "components": copy.deepcopy(payload.get("components") or []),
            "id": self._ids.next(),
            "channel_id": channel_id,
            "author": author,
            "pinned": False,
            "mention_everyone": False,
            "tts": bool(payload.get("tts")),
        }
        if "nonce" in payload:
            message["nonce"] = payload["nonce"]
        if payload.get("poll"):
            message["poll"] = copy.deepcopy(payload["poll"])
        reference = payload.get("message_reference")
        if reference:
            target = self._messages_by_id.get(str(reference.get("message_id")))
            if target is None and reference.get("fail_if_not_exists", True):
                raise _form_error(
                    [
                        (
                            _join(prefix, "message_reference"),
                            "REPLIES_UNKNOWN_MESSAGE",
                            "Unknown message",
                        )
                    ]
                )
            message["type"] = MESSAGE_REPLY
            message["message_reference"] = {
                "type": 0,
                "channel_id": channel_id,
                "message_id": str(reference.get("message_id")),
                **({"guild_id": self.guild_id} if self._is_guild_channel(channel_id) else {}),
            }
            message["referenced_message"] = copy.deepcopy(target)
        if interaction is not None:
            handle = interaction.handle
            message["webhook_id"] = self.application_id
            message["application_id"] = self.application_id
            user = self.user(handle.user_id)
            metadata: JSON = {
                "id": handle.id,
                "type": handle.type,
                "user": user,
                "authorizing_integration_owners": handle.payload.get(
                    "authorizing_integration_owners", {}
                ),
            }
            if handle.type == INTERACTION_APPLICATION_COMMAND:
                metadata["name"] = handle.payload["data"]["name"]
                message["interaction"] = {
                    "id": handle.id,
                    "type": handle.type,
                    "name": handle.payload["data"]["name"],
                    "user": user,
                }
            if interaction.source_message_id is not None:
                metadata["interacted_message_id"] = interaction.source_message_id
            message["interaction_metadata"] = metadata
        if not loading and self._is_empty(message):
            raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
        self.messages.append(message)
        self._messages_by_id[message["id"]] = message
        channel = self.channels.get(channel_id)
        if channel is not None:
            channel["last_message_id"] = message["id"]
        return message

    def _apply_edit(
        self,
        message: JSON,
        payload: JSON,
        files: Sequence[UploadedFile],
        *,
        prefix: str = "",
        mark_edited: bool = True,
    ) -> JSON:
        flags = int(payload.get("flags", message["flags"]) or 0)
        self._validate_message({**payload, "flags": flags}, prefix)
        updated = copy.deepcopy(message)
        if "content" in payload:
            updated["content"] = payload["content"] or ""
        if "embeds" in payload:
            updated["embeds"] = [{"type": "rich", **e} for e in payload["embeds"] or []]
        if "components" in payload:
            updated["components"] = copy.deepcopy(payload["components"] or [])
        if "attachments" in payload or files:
            updated["attachments"] = self._attachments_for(
                payload, files, message["channel_id"], message["attachments"], prefix
            )
        if "flags" in payload:
            keep = message["flags"] & (FLAG_EPHEMERAL | FLAG_IS_COMPONENTS_V2)
            updated["flags"] = (int(payload["flags"] or 0) & _SETTABLE_FLAGS) | keep
        updated["flags"] &= ~FLAG_LOADING
        if mark_edited:
            updated["edited_timestamp"] = self._iso_now()
        if self._is_empty(updated):
            raise DiscordHTTPError(400, 50006, "Cannot send an empty message")
        message.clear()
        message.update(updated)
        return message

    def _is_guild_channel(self, channel_id: str) -> bool:
        channel = self.channels.get(channel_id)
        return channel is not None and channel.get("guild_id") == self.guild_id

    def _channel_or_404(self, channel_id: str) -> JSON:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise DiscordHTTPError(404, 10003, "Unknown Channel")
        return channel

    def _message_or_404(self, channel_id: str, message_id: str) -> JSON:
        message = self._messages_by_id.get(message_id)
        if message is None or message["channel_id"] != channel_id:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return message

    def _delete(self, message: JSON) -> None:
        self._messages_by_id.pop(message["id"], None)
        self.deleted_message_ids.append(message["id"])

    # ------------------------------------------------------------------ REST: channels

    async def _h_create_dm(self, call: RecordedRequest) -> Any:
        recipient = (call.json or {}).get("recipient_id")
        if recipient is None:
            raise _form_error([("recipient_id", "BASE_TYPE_REQUIRED", "This field is required")])
        return self.dm_channel(recipient)

    async def _h_get_channel(self, call: RecordedRequest) -> Any:
        return self._channel_or_404(call.params["channel_id"])

    async def _h_typing(self, call: RecordedRequest) -> Any:
        self._channel_or_404(call.params["channel_id"])
        return None

    async def _h_list_messages(self, call: RecordedRequest) -> Any:
        channel_id = call.params["channel_id"]
        self._channel_or_404(channel_id)
        try:
            limit = max(1, min(100, int(call.query.get("limit", "50"))))
        except ValueError as exc:
            raise _form_error([("limit", "NUMBER_TYPE_COERCE", "Value is not int.")]) from exc
        messages = list(reversed(self.channel_messages(channel_id)))
        if "before" in call.query:
            messages = [m for m in messages if int(m["id"]) < int(call.query["before"])]
        if "after" in call.query:
            messages = [m for m in messages if int(m["id"]) > int(call.query["after"])]
            messages = list(reversed(messages))[:limit][::-1]
        return messages[:limit]

    async def _h_create_message(self, call: RecordedRequest) -> Any:
        channel_id = call.params["channel_id"]
        channel = self._channel_or_404(channel_id)
        if channel["type"] == CHANNEL_DM:
            recipient = channel["recipients"][0]["id"]
            if recipient in self.dm_blocked:
                raise DiscordHTTPError(403, 50007, "Cannot send messages to this user")
        message = self._new_message(
            call.json or {}, call.files, channel_id=channel_id, author=self.bot_user
        )
        await self._gateway_message_event("MESSAGE_CREATE", message)
        return message

    async def _h_get_message(self, call: RecordedRequest) -> Any:
        return self._message_or_404(call.params["channel_id"], call.params["message_id"])

    async def _h_edit_message(self, call: RecordedRequest) -> Any:
        message = self._message_or_404(call.params["channel_id"], call.params["message_id"])
        if message["author"]["id"] != self.bot_user["id"]:
            raise DiscordHTTPError(403, 50005, "Cannot edit a message authored by another user")
        self._apply_edit(message, call.json or {}, call.files)
        self.edits.append(
            EditRecord(message["id"], None, call.json or {}, call.files, copy.deepcopy(message))
        )
        await self._gateway_message_event("MESSAGE_UPDATE", message)
        return message

    async def _h_delete_message(self, call: RecordedRequest) -> Any:
        message = self._message_or_404(call.params["channel_id"], call.params["message_id"])
        self._delete(message)
        await self._gateway_message_event("MESSAGE_DELETE", message)
        return None

    # ------------------------------------------------------------------ REST: interactions

    def _interaction_or_404(self, interaction_id: str, token: str) -> _InteractionState:
        state = self._interactions.get(interaction_id)
        if state is None:
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        if state.handle.token != token:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        return state

    async def _h_interaction_callback(self, call: RecordedRequest) -> Any:
        state = self._interaction_or_404(call.params["interaction_id"], call.params["token"])
        if state.callback_type is not None:
            raise DiscordHTTPError(400, 40060, "Interaction has already been acknowledged.")
        if (
            self.interaction_deadline is not None
            and self._clock() - state.created_at > self.interaction_deadline
        ):
            raise DiscordHTTPError(404, 10062, "Unknown interaction")
        body = call.json if isinstance(call.json, dict) else {}
        ctype = body.get("type")
        data = body.get("data")
        itype = state.handle.type
        valid = {
            CALLBACK_PONG: itype == INTERACTION_PING,
            CALLBACK_CHANNEL_MESSAGE: itype in (2, 3, 5),
            CALLBACK_DEFERRED_CHANNEL_MESSAGE: itype in (2, 3, 5),
            CALLBACK_DEFERRED_UPDATE_MESSAGE: state.source_message_id is not None,
            CALLBACK_UPDATE_MESSAGE: state.source_message_id is not None,
            CALLBACK_AUTOCOMPLETE_RESULT: itype == INTERACTION_AUTOCOMPLETE,
            CALLBACK_MODAL: itype in (2, 3),
        }
        if not valid.get(ctype, False):
            raise _form_error(
                [
                    (
                        "type",
                        "INTERACTION_RESPONSE_TYPE_INVALID",
                        f"Interaction response type {ctype} is not valid here",
                    )
                ]
            )

        message: JSON | None = None
        event: str | None = None
        channel_id = state.handle.channel_id
        if ctype in (CALLBACK_CHANNEL_MESSAGE, CALLBACK_DEFERRED_CHANNEL_MESSAGE):
            msg_type = (
                MESSAGE_CHAT_INPUT_COMMAND
                if itype == INTERACTION_APPLICATION_COMMAND
                else MESSAGE_DEFAULT
            )
            message = self._new_message(
                data or {},
                call.files,
                channel_id=channel_id,
                author=self.bot_user,
                msg_type=msg_type,
                allow_ephemeral=True,
                interaction=state,
                prefix="data",
                loading=ctype == CALLBACK_DEFERRED_CHANNEL_MESSAGE,
            )
            state.original_message_id = message["id"]
            state.loading = ctype == CALLBACK_DEFERRED_CHANNEL_MESSAGE
            event = "MESSAGE_CREATE"
        elif ctype == CALLBACK_UPDATE_MESSAGE:
            assert state.source_message_id is not None
            target = self._messages_by_id.get(state.source_message_id)
            if target is None:
                raise DiscordHTTPError(404, 10008, "Unknown Message")
            message = self._apply_edit(target, data or {}, call.files, prefix="data")
            state.original_message_id = target["id"]
            event = "MESSAGE_UPDATE"
        elif ctype == CALLBACK_DEFERRED_UPDATE_MESSAGE:
            state.original_message_id = state.source_message_id
        elif ctype == CALLBACK_MODAL:
            self._validate_modal(data)
            assert data is not None
            self.modals[data["custom_id"]] = (state.handle, copy.deepcopy(data))
        elif ctype == CALLBACK_AUTOCOMPLETE_RESULT:
            choices = (data or {}).get("choices") or []
            if len(choices) > MAX_AUTOCOMPLETE_CHOICES:
                raise _form_error(
                    [("data.choices", "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")]
                )

        state.callback_type = ctype
        self.interaction_responses.append(
            InteractionResponseRecord(
                interaction_id=state.handle.id,
                token=state.handle.token,
                type=ctype,
                data=copy.deepcopy(data),
                files=list(call.files),
                message=copy.deepcopy(message),
            )
        )
        if message is not None and event is not None:
            await self._gateway_message_event(event, message)

        if not _is_true(call.query.get("with_response")):
            return None
        interaction_part: JSON = {"id": state.handle.id, "type": itype}
        resource: JSON = {"type": ctype}
        if message is not None:
            interaction_part["response_message_id"] = message["id"]
            interaction_part["response_message_loading"] = bool(message["flags"] & FLAG_LOADING)
            interaction_part["response_message_ephemeral"] = bool(message["flags"] & FLAG_EPHEMERAL)
            resource["message"] = message
        return {"interaction": interaction_part, "resource": resource}

    def _validate_modal(self, data: Any) -> None:
        problems = _Problems()
        if not isinstance(data, dict):
            problems.required("data")
            problems.raise_if_any()
        assert isinstance(data, dict)
        custom_id, title = data.get("custom_id"), data.get("title")
        if not isinstance(custom_id, str) or not 1 <= len(custom_id) <= MAX_CUSTOM_ID:
            problems.length("data.custom_id", 1, MAX_CUSTOM_ID)
        if not isinstance(title, str) or not 1 <= len(title) <= MAX_MODAL_TITLE:
            problems.length("data.title", 1, MAX_MODAL_TITLE)
        components = data.get("components")
        if not isinstance(components, list) or not 1 <= len(components) <= 5:
            problems.length("data.components", 1, 5)
        problems.raise_if_any()

    def _webhook_interaction(self, call: RecordedRequest) -> _InteractionState:
        state = self._interactions_by_token.get(call.params["token"])
        if state is None or call.params["application_id"] != self.application_id:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        if self._clock() - state.created_at > self.interaction_token_ttl:
            raise DiscordHTTPError(401, 50027, "Invalid Webhook Token")
        return state

    async def _h_followup(self, call: RecordedRequest) -> Any:
        state = self._webhook_interaction(call)
        if state.callback_type is None:
            raise DiscordHTTPError(404, 10015, "Unknown Webhook")
        payload = call.json if isinstance(call.json, dict) else {}
        replaced = False
        original = (
            self._messages_by_id.get(state.original_message_id)
            if state.original_message_id
            else None
        )
        if (
            state.callback_type == CALLBACK_DEFERRED_CHANNEL_MESSAGE
            and state.loading
            and not state.followup_ids
            and original is not None
        ):
            # "When used after a deferred response, the first follow-up edits the original
            # loading message" — its ephemerality was fixed by the defer.
            message = self._apply_edit(
                original,
                {k: v for k, v in payload.items() if k != "flags"},
                call.files,
                mark_edited=False,
            )
            state.loading = False
            replaced = True
            event = "MESSAGE_UPDATE"
        else:
            message = self._new_message(
                payload,
                call.files,
                channel_id=state.handle.channel_id,
                author=self.bot_user,
                allow_ephemeral=True,
                interaction=state,
            )
            event = "MESSAGE_CREATE"
        state.followup_ids.append(message["id"])
        self.followups.append(
            FollowupRecord(
                interaction_id=state.handle.id,
                token=state.handle.token,
                payload=copy.deepcopy(payload),
                files=list(call.files),
                message=copy.deepcopy(message),
                replaced_deferred=replaced,
            )
        )
        await self._gateway_message_event(event, message)
        if not _is_true(call.query.get("wait")):
            return None
        return message

    def _webhook_message(self, call: RecordedRequest, state: _InteractionState) -> JSON:
        requested = call.params["message_id"]
        if requested == "@original":
            message_id = state.original_message_id
        elif requested == state.original_message_id or requested in state.followup_ids:
            message_id = requested
        else:
            message_id = None
        message = self._messages_by_id.get(message_id) if message_id else None
        if message is None:
            raise DiscordHTTPError(404, 10008, "Unknown Message")
        return message

    async def _h_webhook_get(self, call: RecordedRequest) -> Any:
        state = self._webhook_interaction(call)
        return self._webhook_message(call, state)

    async def _h_webhook_edit(self, call: RecordedRequest) -> Any:
        state = self._webhook_interaction(call)
        message = self._webhook_message(call, state)
        was_loading = bool(message["flags"] & FLAG_LOADING)
        payload = call.json if isinstance(call.json, dict) else {}
        self._apply_edit(message, payload, call.files, mark_edited=not was_loading)
        if message["id"] == state.original_message_id:
            state.loading = False
        self.edits.append(
            EditRecord(
                message["id"],
                state.handle.id,
                copy.deepcopy(payload),
                list(call.files),
                copy.deepcopy(message),
            )
        )
        await self._gateway_message_event("MESSAGE_UPDATE", message)
        return message

    async def _h_webhook_delete(self, call: RecordedRequest) -> Any:
        state = self._webhook_interaction(call)
        message = self._webhook_message(call, state)
        self._delete(message)
        await self._gateway_message_event("MESSAGE_DELETE", message)
        return None

    # ------------------------------------------------------------------ gateway

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=16 * 1024 * 1024)
        await ws.prepare(request)
        conn = GatewayConnection(ws, path=request.path, query=request.query)
        self.gateway_connections.append(conn)
        self._live.add(conn)
        self._notify()
        try:
            if conn.query.get("v", "10") not in API_VERSIONS:
                await conn.close(4012, "Invalid API version")
                return ws
            if conn.query.get("encoding", "json") != "json":
                self.server_errors.append(
                    f"unsupported gateway encoding {conn.query.get('encoding')}"
                )
                await conn.close(4002, "Only encoding=json is supported by the fake")
                return ws
            if conn.compress not in (None, "zlib-stream"):
                self.server_errors.append(f"unsupported gateway compression {conn.compress}")
                await conn.close(4000, "Only compress=zlib-stream is supported by the fake")
                return ws
            await conn.send(
                {
                    "op": OP_HELLO,
                    "s": None,
                    "t": None,
                    "d": {
                        "heartbeat_interval": self.heartbeat_interval_ms,
                        "_trace": ['["fake-gateway",{"micros":0}]'],
                    },
                }
            )
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    try:
                        payload = json.loads(msg.data)
                    except ValueError:
                        await conn.close(4002, "Error while decoding payload.")
                        break
                    conn.received.append(payload)
                    await self._on_gateway_payload(conn, payload)
                elif msg.type is WSMsgType.BINARY:
                    await conn.close(4002, "Error while decoding payload.")
                    break
        except Exception:
            self.server_errors.append(traceback.format_exc())
            _log.exception("fake discord: gateway connection failed")
        finally:
            self._live.discard(conn)
            session = conn.session
            if session is not None and session.connection is conn:
                session.connection = None
                if not conn.closed_by_server and ws.close_code in (1000, 1001):
                    # A clean close by the client ends the session (it cannot be resumed).
                    session.invalid = True
            self._notify()
        return ws

    async def _on_gateway_payload(self, conn: GatewayConnection, payload: JSON) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == OP_HEARTBEAT:
            conn.heartbeats += 1
            await conn.send({"op": OP_HEARTBEAT_ACK, "s": None, "t": None, "d": None})
        elif op == OP_IDENTIFY:
            await self._identify(conn, data if isinstance(data, dict) else {})
        elif op == OP_RESUME:
            await self._resume(conn, data if isinstance(data, dict) else {})
        elif conn.session is None:
            await conn.close(4003, "Not authenticated.")
        elif op == OP_PRESENCE_UPDATE:
            self.presence_updates.append(data if isinstance(data, dict) else {})
        elif op == OP_VOICE_STATE_UPDATE:
            pass
        elif op == OP_REQUEST_GUILD_MEMBERS:
            request = data if isinstance(data, dict) else {}
            members = [
                self._member_payload(u, with_permissions=False)
                for u in self.users.values()
                if u is self.bot_user or u["id"] != self.owner_user["id"]
            ]
            chunk: JSON = {
                "guild_id": self.guild_id,
                "members": members,
                "chunk_index": 0,
                "chunk_count": 1,
            }
            if "nonce" in request:
                chunk["nonce"] = request["nonce"]
            await self._send_dispatch(conn.session, "GUILD_MEMBERS_CHUNK", chunk)
        else:
            await conn.close(4001, "Unknown opcode.")
        self._notify()

    async def _identify(self, conn: GatewayConnection, data: JSON) -> None:
        if conn.session is not None:
            await conn.close(4005, "Already authenticated.")
            return
        if data.get("token") != self.token:
            await conn.close(4004, "Authentication failed.")
            return
        intents = data.get("intents")
        if not isinstance(intents, int) or intents < 0:
            await conn.close(4013, "Invalid intent(s).")
            return
        if intents & PRIVILEGED_INTENTS & ~self.privileged_intents:
            await conn.close(4014, "Disallowed intent(s).")
            return
        session = GatewaySession(
            session_id="".join(self._rng.choice("0123456789abcdef") for _ in range(32)),
            intents=intents,
            identify=data,
            connection=conn,
        )
        conn.session = session
        self.sessions[session.session_id] = session
        self.identify_payloads.append(data)
        ready: JSON = {
            "v": 10,
            "user": self.bot_user,
            "user_settings": {},
            "guilds": [{"id": self.guild_id, "unavailable": True}],
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": ["us-east"],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.resume_gateway_url,
            "application": {"id": self.application_id, "flags": self._application_flags()},
            "auth": {},
            "_trace": ['["fake-gateway",{"micros":0}]'],
        }
        if "shard" in data:
            ready["shard"] = data["shard"]
        await self._send_dispatch(session, "READY", ready)
        await self._send_dispatch(session, "GUILD_CREATE", self._guild_create_payload())

    async def _resume(self, conn: GatewayConnection, data: JSON) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or session.invalid or data.get("token") != self.token:
            await conn.send({"op": OP_INVALID_SESSION, "s": None, "t": None, "d": False})
            return
        old = session.connection
        if old is not None and old is not conn:
            await old.close(4000, "Session resumed elsewhere")
        session.connection = conn
        conn.session = session
        session.resumes += 1
        self.resumes += 1
        last_seen = data.get("seq") or 0
        for event in list(session.events):
            if event["s"] > last_seen:
                await conn.send(event)
        await self._send_dispatch(session, "RESUMED", {"_trace": ['["fake-gateway",{"micros":0}]']})

    async def _send_dispatch(self, session: GatewaySession, event: str, data: JSON) -> None:
        session.seq += 1
        payload = {"op": OP_DISPATCH, "s": session.seq, "t": event, "d": data}
        session.events.append(payload)
        del session.events[:-1000]
        conn = session.connection
        if conn is not None:
            await conn.send(payload)

    def _live_sessions(self) -> list[GatewaySession]:
        return [s for s in self.sessions.values() if not s.invalid]

    async def dispatch(self, event_name: str, data: JSON) -> int:
        """Send a DISPATCH (with the next sequence number) to every live session; sessions
        that are momentarily disconnected get it on RESUME. Returns how many sessions."""
        sessions = self._live_sessions()
        for session in sessions:
            await self._send_dispatch(session, event_name, data)
        self._notify()
        return len(sessions)

    async def _gateway_message_event(self, event: str, message: JSON) -> None:
        """MESSAGE_CREATE/UPDATE/DELETE as Discord sends them, respecting intents."""
        if message["flags"] & FLAG_EPHEMERAL:
            return
        channel_id = message["channel_id"]
        in_guild = self._is_guild_channel(channel_id)
        needed = INTENT_GUILD_MESSAGES if in_guild else INTENT_DIRECT_MESSAGES
        for session in self._live_sessions():
            if not session.intents & needed:
                continue
            if event == "MESSAGE_DELETE":
                data: JSON = {"id": message["id"], "channel_id": channel_id}
            else:
                data = copy.deepcopy(message)
                if not self._content_visible(session, message, in_guild):
                    data.update(content="", embeds=[], attachments=[], components=[])
                if in_guild:
                    author = self.users.get(message["author"]["id"])
                    if author is not None and message.get("webhook_id") is None:
                        member = self._member_payload(author, with_permissions=False)
                        member.pop("user")
                        data["member"] = member
            if in_guild:
                data["guild_id"] = self.guild_id
            await self._send_dispatch(session, event, data)

    def _content_visible(self, session: GatewaySession, message: JSON, in_guild: bool) -> bool:
        """Without MESSAGE_CONTENT a bot sees content only in DMs, its own messages and
        messages that mention it."""
        if session.intents & INTENT_MESSAGE_CONTENT or not in_guild:
            return True
        if message["author"]["id"] == self.bot_user["id"]:
            return True
        return any(u["id"] == self.bot_user["id"] for u in message.get("mentions", []))

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT on every live connection (the client resumes)."""
        for conn in list(self._live):
            await conn.send({"op": OP_RECONNECT, "s": None, "t": None, "d": None})

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway connection from the server side (sessions stay resumable,
        events dispatched meanwhile are replayed on RESUME)."""
        for conn in list(self._live):
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            self._live.discard(conn)
            await conn.close(code, "Dropped by the fake")

    async def invalidate_sessions(self, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION; with resumable=False the sessions end."""
        for conn in list(self._live):
            if not resumable and conn.session is not None:
                conn.session.invalid = True
            await conn.send({"op": OP_INVALID_SESSION, "s": None, "t": None, "d": resumable})

    # ------------------------------------------------------------------ incoming events

    def _find_command_schema(self, name: str, guild: bool) -> tuple[JSON | None, str | None]:
        if guild:
            for command in self.guild_commands.get(self.guild_id, []):
                if command["name"] == name and command["type"] == 1:
                    return command, self.guild_id
        for command in self.synced_commands:
            if command["name"] == name and command["type"] == 1:
                return command, None
        return None, None

    async def _deliver_interaction(
        self,
        itype: int,
        data: JSON,
        *,
        user_id: str | int | None,
        guild: bool,
        channel_id: str | int | None = None,
        locale: str = "en-US",
        message: JSON | None = None,
    ) -> InteractionHandle:
        uid = str(user_id or self.default_user_id)
        user = self.user(uid)
        if channel_id is not None:
            channel = self._channel_or_value_error(str(channel_id))
            guild = channel.get("guild_id") == self.guild_id
        elif guild:
            channel = self.channels[self.channel_id]
        else:
            channel = self.dm_channel(uid)
        if not self._live_sessions():
            raise RuntimeError("no gateway session: the client has not identified yet")
        iid = self._ids.next()
        token = self._new_token(iid)
        payload: JSON = {
            "id": iid,
            "application_id": self.application_id,
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": DEFAULT_APP_PERMISSIONS,
            "entitlements": [],
            "attachment_size_limit": self.attachment_limit(channel),
            "channel_id": channel["id"],
        }
        if guild:
            payload.update(
                guild_id=self.guild_id,
                guild={"id": self.guild_id, "locale": "en-US", "features": []},
                guild_locale="en-US",
                channel={**channel, "permissions": DEFAULT_MEMBER_PERMISSIONS},
                member=self._member_payload(user, with_permissions=True),
                context=0,
                authorizing_integration_owners={"0": self.guild_id},
            )
        else:
            payload.update(
                channel=channel,
                user=user,
                context=1,
                authorizing_integration_owners={"0": "0"},
            )
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        handle = InteractionHandle(
            id=iid,
            token=token,
            type=itype,
            channel_id=channel["id"],
            guild_id=self.guild_id if guild else None,
            user_id=uid,
            payload=payload,
        )
        state = _InteractionState(
            handle=handle,
            created_at=self._clock(),
            source_message_id=message["id"] if message is not None else None,
        )
        self._interactions[iid] = state
        self._interactions_by_token[token] = state
        await self.dispatch("INTERACTION_CREATE", payload)
        return handle

    def _channel_or_value_error(self, channel_id: str) -> JSON:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise ValueError(f"unknown channel {channel_id}")
        return channel

    @staticmethod
    def _infer_option_type(value: Any) -> int:
        if isinstance(value, bool):
            return OPTION_BOOLEAN
        if isinstance(value, int):
            return OPTION_INTEGER
        if isinstance(value, float):
            return OPTION_NUMBER
        if isinstance(value, str):
            return OPTION_STRING
        if isinstance(value, dict) and "url" in value and "filename" in value:
            return OPTION_ATTACHMENT
        raise TypeError(f"cannot infer a Discord option type for {value!r}")

    def _build_options(
        self,
        schema: list[JSON] | None,
        values: Mapping[str, Any],
        resolved: JSON,
        *,
        focused: str | None = None,
    ) -> list[JSON]:
        by_name = {o["name"]: o for o in schema or []}
        options: list[JSON] = []
        for name, value in values.items():
            spec = by_name.get(name)
            if schema is not None and spec is None:
                raise ValueError(f"option {name!r} is not part of the synced command")
            otype = spec["type"] if spec else self._infer_option_type(value)
            option: JSON = {"name": name, "type": otype}
            if name == focused:
                option["value"] = str(value)
                option["focused"] = True
                options.append(option)
                continue
            if otype == OPTION_ATTACHMENT:
                if isinstance(value, dict):
                    attachment = value
                else:
                    stored = self.files.get(str(value))
                    if stored is None:
                        raise ValueError(f"unknown attachment {value!r}; use add_attachment()")
                    attachment = self._store_attachment(stored, self.channel_id, description=None)
                resolved.setdefault("attachments", {})[str(attachment["id"])] = attachment
                option["value"] = str(attachment["id"])
            elif otype == OPTION_STRING:
                if not isinstance(value, str):
                    raise TypeError(f"option {name!r} is a string option, got {value!r}")
                option["value"] = value
            elif otype == OPTION_INTEGER:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise TypeError(f"option {name!r} is an integer option, got {value!r}")
                option["value"] = value
            elif otype == OPTION_NUMBER:
                if isinstance(value, bool) or not isinstance(value, (int, float)):
                    raise TypeError(f"option {name!r} is a number option, got {value!r}")
                option["value"] = value
            elif otype == OPTION_BOOLEAN:
                if not isinstance(value, bool):
                    raise TypeError(f"option {name!r} is a boolean option, got {value!r}")
                option["value"] = value
            else:
                raise NotImplementedError(f"option type {otype} is not supported by the fake")
            choices = (spec or {}).get("choices")
            if choices and value not in [c["value"] for c in choices]:
                raise ValueError(f"{value!r} is not one of the choices of option {name!r}")
            options.append(option)
        if schema is not None and focused is None:
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in values]
            if missing:
                raise ValueError(f"required options missing: {missing}")
        return options

    def _command_data(
        self,
        name: str,
        options: Mapping[str, Any],
        *,
        guild: bool,
        subcommand: str | None,
        resolved_attachments: Sequence[JSON],
        focused: str | None = None,
    ) -> JSON:
        command, command_guild = self._find_command_schema(name, guild)
        if command is not None and not guild:
            if command_guild is not None:
                raise ValueError(f"/{name} is a guild command: it cannot be used in DMs")
            contexts = command.get("contexts")
            if command.get("dm_permission") is False or (
                contexts is not None and 1 not in contexts
            ):
                raise ValueError(f"/{name} is not allowed in bot DMs (contexts={contexts})")
        resolved: JSON = {}
        for attachment in resolved_attachments:
            resolved.setdefault("attachments", {})[str(attachment["id"])] = attachment
        schema: list[JSON] | None = command.get("options", []) if command is not None else None
        path = subcommand.split() if subcommand else []
        wrappers: list[tuple[str, int]] = []
        for index, part in enumerate(path):
            kind = OPTION_SUB_COMMAND if index == len(path) - 1 else OPTION_SUB_COMMAND_GROUP
            if schema is not None:
                spec = next((o for o in schema if o["name"] == part and o["type"] == kind), None)
                if spec is None:
                    raise ValueError(f"/{name} has no sub-command {part!r}")
                schema = spec.get("options", [])
            wrappers.append((part, kind))
        built = self._build_options(schema, options, resolved, focused=focused)
        for part, kind in reversed(wrappers):
            built = [{"name": part, "type": kind, "options": built}]
        data: JSON = {
            "id": command["id"] if command is not None else self._ids.next(),
            "name": name,
            "type": 1,
        }
        if built:
            data["options"] = built
        if resolved:
            data["resolved"] = resolved
        if command_guild is not None:
            data["guild_id"] = command_guild
        return data

    async def slash_command(
        self,
        name: str,
        options: Mapping[str, Any] | None = None,
        *,
        user_id: str | int | None = None,
        guild: bool = True,
        subcommand: str | None = None,
        resolved_attachments: Sequence[JSON] = (),
        channel_id: str | int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Dispatch INTERACTION_CREATE for ``/name`` as a user typing it would.

        Option types come from the synced command (global or guild) when there is one, and
        are checked (unknown names, wrong types, missing required, choices); otherwise they
        are inferred from the Python values (str, int, float, bool, attachment dict from
        :meth:`add_attachment`). ``subcommand`` is ``"sub"`` or ``"group sub"``.
        ``guild=False`` sends it from the user's DM with the bot.
        """
        data = self._command_data(
            name,
            options or {},
            guild=guild,
            subcommand=subcommand,
            resolved_attachments=resolved_attachments,
        )
        return await self._deliver_interaction(
            INTERACTION_APPLICATION_COMMAND,
            data,
            user_id=user_id,
            guild=guild,
            channel_id=channel_id,
            locale=locale,
        )

    async def autocomplete(
        self,
        name: str,
        focused_option: str,
        value: str,
        *,
        options: Mapping[str, Any] | None = None,
        user_id: str | int | None = None,
        guild: bool = True,
        subcommand: str | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """Dispatch an APPLICATION_COMMAND_AUTOCOMPLETE while the user types ``value``."""
        values = {**(options or {}), focused_option: value}
        data = self._command_data(
            name,
            values,
            guild=guild,
            subcommand=subcommand,
            resolved_attachments=(),
            focused=focused_option,
        )
        return await self._deliver_interaction(
            INTERACTION_AUTOCOMPLETE, data, user_id=user_id, guild=guild, locale=locale
        )

    def _find_component(self, components: list[Any], custom_id: str) -> JSON | None:
        for component in components:
            if not isinstance(component, dict):
                continue
            if component.get("custom_id") == custom_id:
                return component
            found = self._find_component(component.get("components") or [], custom_id)
            if found is not None:
                return found
            for key in ("component", "accessory"):
                child = component.get(key)
                if isinstance(child, dict):
                    found = self._find_component([child], custom_id)
                    if found is not None:
                        return found
        return None

    async def _component_interaction(
        self,
        custom_id: str,
        message_id: str | int,
        *,
        values: Sequence[str] | None,
        user_id: str | int | None,
        locale: str,
    ) -> InteractionHandle:
        message = self._messages_by_id.get(str(message_id))
        if message is None:
            raise ValueError(f"unknown message {message_id}")
        component = self._find_component(message.get("components") or [], custom_id)
        if component is None:
            raise ValueError(f"message {message_id} has no component with custom_id {custom_id!r}")
        data: JSON = {"custom_id": custom_id, "component_type": component.get("type", 2)}
        if values is not None:
            data["values"] = list(values)
        if component.get("id") is not None:
            data["id"] = component["id"]
        return await self._deliver_interaction(
            INTERACTION_MESSAGE_COMPONENT,
            data,
            user_id=user_id,
            guild=True,
            channel_id=message["channel_id"],
            locale=locale,
            message=message,
        )

    async def button_press(
        self,
        custom_id: str,
        message_id: str | int,
        user_id: str | int | None = None,
        *,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A user clicks the button ``custom_id`` on a message the fake knows (one the bot sent,
        or one added with :meth:`add_bot_message`)."""
        return await self._component_interaction(
            custom_id, message_id, values=None, user_id=user_id, locale=locale
        )

    async def select_menu(
        self,
        custom_id: str,
        values: Sequence[str],
        message_id: str | int,
        user_id: str | int | None = None,
        *,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A user picks ``values`` in the string select ``custom_id``."""
        return await self._component_interaction(
            custom_id, message_id, values=values, user_id=user_id, locale=locale
        )

    async def modal_submit(
        self,
        custom_id: str,
        fields: Mapping[str, str | Sequence[str]],
        user_id: str | int | None = None,
        *,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """The user submits the modal the bot opened (callback type 9) with ``custom_id``.

        ``fields`` maps text input custom_ids to their text (or select custom_ids to lists of
        values). The submission mirrors the modal's layout (action rows or labels)."""
        if custom_id not in self.modals:
            raise ValueError(f"the bot never opened a modal with custom_id {custom_id!r}")
        opener, modal = self.modals[custom_id]
        unknown = set(fields)
        counter = iter(range(1, 1000))

        def submitted(component: JSON) -> JSON | None:
            ctype = component.get("type")
            if ctype == 1:
                children = [c for c in (submitted(x) for x in component.get("components", [])) if c]
                return {"type": 1, "id": next(counter), "components": children}
            if ctype == 18:
                inner = component.get("component")
                child = submitted(inner) if isinstance(inner, dict) else None
                return {"type": 18, "id": next(counter), "component": child} if child else None
            cid = component.get("custom_id")
            if cid is None:
                return {"type": ctype, "id": next(counter)}
            unknown.discard(cid)
            value = fields.get(cid)
            if ctype == 4:
                if value is None and component.get("required", True):
                    raise ValueError(f"required text input {cid!r} has no value")
                return {"type": 4, "id": next(counter), "custom_id": cid, "value": value or ""}
            if value is None:
                values: list[str] = []
            elif isinstance(value, str):
                values = [value]
            else:
                values = list(value)
            return {"type": ctype, "id": next(counter), "custom_id": cid, "values": values}

        components = [c for c in (submitted(x) for x in modal.get("components", [])) if c]
        if unknown:
            raise ValueError(f"modal {custom_id!r} has no inputs {sorted(unknown)}")
        source = self._interactions[opener.id].source_message_id
        message = self._messages_by_id.get(source) if source else None
        return await self._deliver_interaction(
            INTERACTION_MODAL_SUBMIT,
            {"custom_id": custom_id, "components": components},
            user_id=user_id or opener.user_id,
            guild=opener.guild_id is not None,
            channel_id=opener.channel_id,
            locale=locale,
            message=message,
        )

    def add_bot_message(
        self,
        content: str = "",
        *,
        channel_id: str | int | None = None,
        components: list[JSON] | None = None,
        embeds: list[JSON] | None = None,
    ) -> JSON:
        """A message the bot posted earlier (e.g. before a restart), for persistent views."""
        payload: JSON = {"content": content, "components": components or [], "embeds": embeds or []}
        return self._new_message(
            payload, [], channel_id=str(channel_id or self.channel_id), author=self.bot_user
        )

    async def user_message(
        self,
        content: str,
        *,
        user_id: str | int | None = None,
        channel_id: str | int | None = None,
        dm: bool = False,
        attachments: Sequence[JSON] = (),
        mentions_bot: bool = False,
    ) -> JSON:
        """A user posts a message (MESSAGE_CREATE). Without the MESSAGE_CONTENT intent the bot
        sees empty content in guild channels unless the message mentions it, like Discord."""
        uid = str(user_id or self.default_user_id)
        author = self.user(uid)
        if dm:
            cid = self.dm_channel(uid)["id"]
        else:
            cid = str(channel_id or self.channel_id)
            self._channel_or_value_error(cid)
        message: JSON = {
            "type": MESSAGE_DEFAULT,
            "content": (f"<@{self.bot_user['id']}> " if mentions_bot else "") + content,
            "mentions": [self.bot_user] if mentions_bot else [],
            "mention_roles": [],
            "attachments": [{k: v for k, v in a.items() if k != "ephemeral"} for a in attachments],
            "embeds": [],
            "timestamp": self._iso_now(),
            "edited_timestamp": None,
            "flags": 0,
            "components": [],
            "id": self._ids.next(),
            "channel_id": cid,
            "author": author,
            "pinned": False,
            "mention_everyone": False,
            "tts": False,
        }
        self.messages.append(message)
        self._messages_by_id[message["id"]] = message
        self.channels[cid]["last_message_id"] = message["id"]
        await self._gateway_message_event("MESSAGE_CREATE", message)
        return message


@contextlib.contextmanager
def point_discord_py_at(fake: FakeDiscord) -> Iterator[FakeDiscord]:
    """Point discord.py's REST base and default gateway at a started fake; restore after."""
    from discord.gateway import DiscordWebSocket
    from discord.http import Route

    old_base = Route.BASE
    old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield fake
    finally:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


ClientT = TypeVar("ClientT", bound="discord.Client")


@contextlib.asynccontextmanager
async def running_client(
    client: ClientT,
    fake: FakeDiscord,
    *,
    token: str | None = None,
    ready_timeout: float = 5.0,
    guild_ready_timeout: float | None = 0.05,
) -> AsyncIterator[ClientT]:
    """Log ``client`` in, connect it, wait for on_ready; close it cleanly on exit.

    discord.py waits ``guild_ready_timeout`` (2 s by default) after the last GUILD_CREATE
    before firing on_ready; this helper lowers it (set None to keep the client's value).
    discord.py must already point at the fake (see :func:`point_discord_py_at`).
    """
    try:
        await client.login(token or fake.token)
    except BaseException:
        await client.close()
        raise
    if guild_ready_timeout is not None:
        client._connection.guild_ready_timeout = guild_ready_timeout
    connect = asyncio.create_task(client.connect(reconnect=True), name="fake-discord-client")
    ready = asyncio.create_task(client.wait_until_ready())
    try:
        done, _ = await asyncio.wait(
            {connect, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            if connect in done:
                connect.result()  # raises the connection error, if any
                raise RuntimeError("client.connect() returned before the client was ready")
            raise TimeoutError(
                f"discord.py client not ready within {ready_timeout}s; {fake.summary()}"
            )
        yield client
    finally:
        ready.cancel()
        await client.close()
        if not connect.done():
            await asyncio.wait_for(connect, ready_timeout)
    # A connection that died while the test ran surfaces here.
    connect.result()


@contextlib.asynccontextmanager
async def running_client_at(
    fake: FakeDiscord,
    client: ClientT,
    **kwargs: Any,
) -> AsyncIterator[ClientT]:
    """:func:`point_discord_py_at` + :func:`running_client` in one context manager."""
    with point_discord_py_at(fake):
        async with running_client(client, fake, **kwargs) as running:
            yield running
