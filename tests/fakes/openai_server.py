"""A local OpenAI-compatible server for tests and benchmarks (aiohttp, 127.0.0.1, free port).

The real ``openai.AsyncOpenAI(base_url=server.base_url, api_key=...)`` talks to it::

    async with FakeOpenAI() as server:
        server.enqueue(Behaviour.server_error(), Behaviour.reply_json({"ideas": []}))
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="k", max_retries=0)
        ...
        assert server.calls == 2

Each ``POST /v1/chat/completions`` takes the next queued :class:`Behaviour`, or the default
one (a fixed behaviour, or a function of the request body) when the queue is empty. Every
request is counted and its body recorded (``requests``; ``response_formats`` keeps the
``response_format`` of each request, ``None`` when absent). ``GET /v1/models`` lists the
models. Answers follow the shapes the installed SDK parses (``ChatCompletion`` with realistic
``usage``; errors as ``{"error": {"message", "type", "param", "code"}}``).

Pass ``max_retries=0`` to the client in tests: the SDK otherwise retries 429/5xx by itself.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal

from aiohttp import web

__all__ = ["Behaviour", "FakeOpenAI", "estimate_tokens"]

Kind = Literal["reply", "error", "hang", "drop"]

MALFORMED_JSON = '{"ideas": [{"title": "Golden hour beach teaser", "description": "Shoot at'
PROSE = (
    "Sure! Here are a few ideas you could try this week: a golden-hour beach teaser, "
    "a behind-the-scenes gym session and a Q&A story. Let me know if you want more!"
)


@dataclass(frozen=True)
class Behaviour:
    """What the server does with one chat completion request. Build with the classmethods."""

    kind: Kind
    content: str = ""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    error_type: str = ""
    error_code: str | None = None
    message: str = ""
    delay: float = 0.0  # seconds before answering (interrupted by stop())
    finish_reason: str = "stop"
    mid_body: bool = False  # drop: after sending headers and part of the body

    # -------------------------------------------------------------- successes

    @classmethod
    def reply(cls, content: str, *, delay: float = 0.0, finish_reason: str = "stop") -> Behaviour:
        """200 with ``content`` as the assistant message."""
        return cls("reply", content=content, delay=delay, finish_reason=finish_reason)

    @classmethod
    def reply_json(cls, obj: Any, *, delay: float = 0.0) -> Behaviour:
        """200 whose assistant message is ``obj`` serialised as JSON (structured output)."""
        return cls.reply(json.dumps(obj, ensure_ascii=False), delay=delay)

    @classmethod
    def malformed(cls, content: str = MALFORMED_JSON) -> Behaviour:
        """200 whose content is truncated, unparseable JSON."""
        return cls.reply(content, finish_reason="length")

    @classmethod
    def prose(cls, content: str = PROSE) -> Behaviour:
        """200 whose content is chatty prose instead of the requested JSON."""
        return cls.reply(content)

    # -------------------------------------------------------------- failures

    @classmethod
    def error(
        cls,
        status: int,
        message: str = "error",
        *,
        error_type: str = "invalid_request_error",
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
    ) -> Behaviour:
        return cls(
            "error",
            status=status,
            message=message,
            error_type=error_type,
            error_code=code,
            headers=dict(headers or {}),
            delay=delay,
        )

    @classmethod
    def rate_limited(
        cls, retry_after: float | None = 1.0, *, retry_after_ms: float | None = None
    ) -> Behaviour:
        """429 with ``Retry-After`` (seconds) and/or ``retry-after-ms`` headers."""
        headers: dict[str, str] = {}
        if retry_after is not None:
            headers["Retry-After"] = f"{retry_after:g}"
        if retry_after_ms is not None:
            headers["retry-after-ms"] = f"{retry_after_ms:g}"
        return cls.error(
            429,
            "Rate limit reached for requests",
            error_type="requests",
            code="rate_limit_exceeded",
            headers=headers,
        )

    @classmethod
    def server_error(cls, status: int = 500) -> Behaviour:
        return cls.error(
            status,
            "The server had an error while processing your request.",
            error_type="server_error",
        )

    @classmethod
    def unauthorized(cls) -> Behaviour:
        return cls.error(
            401,
            "Incorrect API key provided.",
            error_type="invalid_request_error",
            code="invalid_api_key",
        )

    @classmethod
    def hang(cls, seconds: float = 60.0) -> Behaviour:
        """Answer nothing for ``seconds`` (or until the server stops), then a 504."""
        return cls("hang", delay=seconds)

    @classmethod
    def drop(cls, *, mid_body: bool = False) -> Behaviour:
        """Close the connection without an answer (or, ``mid_body``, halfway through one)."""
        return cls("drop", mid_body=mid_body)


def estimate_tokens(text: str) -> int:
    """~4 characters per token, like OpenAI's rule of thumb."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _message_text(message: Any) -> str:
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return " ".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return ""


def _prompt_tokens(messages: Sequence[Any]) -> int:
    # Chat formatting costs ~4 tokens a message plus 3 to prime the reply.
    return 3 + sum(4 + estimate_tokens(_message_text(m)) for m in messages)


BehaviourSource = Behaviour | Callable[[dict[str, Any]], Behaviour]


class FakeOpenAI:
    """The server. ``async with FakeOpenAI() as s`` or ``await s.start()`` / ``await s.stop()``.

    ``api_key``: when set, requests with another bearer token get a 401 (and are counted).
    """

    def __init__(
        self,
        *,
        default: BehaviourSource | None = None,
        models: Sequence[str] = ("fake-gpt-4o-mini",),
        api_key: str | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        self.default: BehaviourSource = default if default is not None else Behaviour.reply("ok")
        self.models = list(models)
        self.api_key = api_key
        self.host = host
        self.queue: deque[Behaviour] = deque()
        self.calls = 0
        self.requests: list[dict[str, Any]] = []
        self.response_formats: list[Any] = []
        self.authorizations: list[str | None] = []
        self.completed = 0  # 200 answers sent
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._closing = asyncio.Event()
        self._call_event = asyncio.Event()

    # -------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        if not self._port:
            raise RuntimeError("server not started")
        return f"http://{self.host}:{self._port}/v1"

    async def start(self) -> str:
        self._closing = asyncio.Event()  # bound to the loop that runs the server
        self._call_event = asyncio.Event()
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model}", self._model)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._port = int(sockets[0].getsockname()[1])
        self._runner = runner
        return self.base_url

    async def stop(self) -> None:
        self._closing.set()  # releases hanging handlers
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeOpenAI:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -------------------------------------------------------------- scripting

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Behaviours for the next requests, in order; then the default applies again."""
        self.queue.extend(behaviours)

    def set_default(self, default: BehaviourSource) -> None:
        self.default = default

    def reset(self) -> None:
        self.queue.clear()
        self.calls = 0
        self.completed = 0
        self.requests.clear()
        self.response_formats.clear()
        self.authorizations.clear()

    async def wait_for_calls(self, n: int) -> None:
        """Wait until at least ``n`` chat completion requests have arrived (wrap the call in
        ``asyncio.timeout`` to bound the wait)."""
        while self.calls < n:
            self._call_event.clear()
            await self._call_event.wait()

    # -------------------------------------------------------------- handlers

    async def _pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._closing.wait()
        except TimeoutError:
            pass

    @staticmethod
    def _error(
        status: int,
        message: str,
        error_type: str,
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        body = {"error": {"message": message, "type": error_type, "param": param, "code": code}}
        return web.json_response(body, status=status, headers=dict(headers or {}))

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.calls += 1
        self._call_event.set()
        auth = request.headers.get("Authorization")
        self.authorizations.append(auth)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.requests.append(body if isinstance(body, dict) else {"_raw": raw.decode("latin-1")})
        if not isinstance(body, dict):
            return self._error(400, "We could not parse the JSON body.", "invalid_request_error")
        self.response_formats.append(body.get("response_format"))

        if self.api_key is not None and auth != f"Bearer {self.api_key}":
            b = Behaviour.unauthorized()
        elif self.queue:
            b = self.queue.popleft()
        else:
            b = self.default(body) if callable(self.default) else self.default

        if b.kind == "hang":
            await self._pause(b.delay)
            return self._error(504, "Gateway timeout (fake hang ended).", "server_error")
        await self._pause(b.delay)
        if b.kind == "drop":
            return await self._drop(request, b.mid_body)
        if b.kind == "error":
            return self._error(b.status, b.message, b.error_type, b.error_code, None, b.headers)

        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return self._error(
                400, "'messages' is a required property", "invalid_request_error", None, "messages"
            )
        if not isinstance(body.get("model"), str):
            return self._error(
                400, "'model' is a required property", "invalid_request_error", None, "model"
            )
        if body.get("stream"):
            return self._error(
                400, "Streaming is not supported by the fake server.", "invalid_request_error"
            )
        self.completed += 1
        return web.json_response(
            self._completion(body, b), headers={"x-request-id": f"req_fake_{self.calls}"}
        )

    def _completion(self, body: dict[str, Any], b: Behaviour) -> dict[str, Any]:
        n = body.get("n") or 1
        n = n if isinstance(n, int) and 1 <= n <= 8 else 1
        prompt = _prompt_tokens(body["messages"])
        completion = estimate_tokens(b.content) * n
        return {
            "id": f"chatcmpl-fake{next(self._ids):06d}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {
                    "index": i,
                    "message": {
                        "role": "assistant",
                        "content": b.content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": b.finish_reason,
                }
                for i in range(n)
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {
                    "reasoning_tokens": 0,
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_fake",
        }

    async def _drop(self, request: web.Request, mid_body: bool) -> web.StreamResponse:
        transport = request.transport
        if not mid_body:
            if transport is not None:
                transport.abort()
            return web.Response(status=500)  # never reaches the client
        resp = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
        resp.content_length = 4096
        await resp.prepare(request)
        await resp.write(b'{"id": "chatcmpl-fake-dropped", "object": "chat.completion", "choi')
        await asyncio.sleep(0)  # let the partial body leave
        if transport is not None:
            transport.abort()
        return resp

    async def _models(self, request: web.Request) -> web.Response:
        created = 1_700_000_000
        data = [
            {"id": m, "object": "model", "created": created, "owned_by": "fake"}
            for m in self.models
        ]
        return web.json_response({"object": "list", "data": data})

    async def _model(self, request: web.Request) -> web.Response:
        model = request.match_info["model"]
        if model not in self.models:
            return self._error(
                404,
                f"The model '{model}' does not exist",
                "invalid_request_error",
                "model_not_found",
            )
        return web.json_response(
            {"id": model, "object": "model", "created": 1_700_000_000, "owned_by": "fake"}
        )
