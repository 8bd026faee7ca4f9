"""The fake OpenAI-compatible server, exercised with the real openai SDK."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion

from tests.fakes.openai_server import Behaviour, FakeOpenAI

MESSAGES: list[Any] = [
    {"role": "system", "content": "You write content ideas."},
    {"role": "user", "content": "Give me 2 ideas for a fitness creator."},
]


@pytest.fixture
async def server() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as s:
        yield s


def client(server: FakeOpenAI, *, timeout: float = 5.0, key: str = "sk-test") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url, api_key=key, max_retries=0, timeout=timeout)


async def create(c: openai.AsyncOpenAI, **kw: Any) -> ChatCompletion:
    return await c.chat.completions.create(model="fake-gpt-4o-mini", messages=MESSAGES, **kw)


async def test_reply_json_parses_with_realistic_usage(server: FakeOpenAI) -> None:
    payload = {"ideas": [{"title": "Sunrise run", "hook": "Come with me"}]}
    server.enqueue(Behaviour.reply_json(payload))
    schema = {
        "type": "json_schema",
        "json_schema": {"name": "ideas", "schema": {"type": "object"}, "strict": True},
    }
    async with client(server) as c:
        resp = await create(c, response_format=schema)
    assert isinstance(resp, ChatCompletion)
    assert resp.model == "fake-gpt-4o-mini"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.choices[0].message.role == "assistant"
    assert json.loads(resp.choices[0].message.content or "") == payload
    usage = resp.usage
    assert usage is not None
    assert usage.prompt_tokens > 10  # two messages' text plus per-message overhead
    assert usage.completion_tokens == -(-len(resp.choices[0].message.content or "") // 4)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert server.calls == 1
    assert server.requests[0]["messages"] == MESSAGES
    assert server.response_formats == [schema]
    assert server.authorizations == ["Bearer sk-test"]


async def test_malformed_and_prose_replies(server: FakeOpenAI) -> None:
    server.enqueue(Behaviour.malformed(), Behaviour.prose())
    async with client(server) as c:
        broken = await create(c)
        prose = await create(c)
    with pytest.raises(json.JSONDecodeError):
        json.loads(broken.choices[0].message.content or "")
    assert broken.choices[0].finish_reason == "length"
    assert (prose.choices[0].message.content or "").startswith("Sure!")
    assert server.response_formats == [None, None]


async def test_rate_limited_with_retry_after(server: FakeOpenAI) -> None:
    server.enqueue(Behaviour.rate_limited(retry_after=2, retry_after_ms=1500))
    async with client(server) as c:
        with pytest.raises(openai.RateLimitError) as info:
            await create(c)
    err = info.value
    assert err.status_code == 429
    assert err.response.headers["retry-after"] == "2"
    assert err.response.headers["retry-after-ms"] == "1500"
    assert err.code == "rate_limit_exceeded"


@pytest.mark.parametrize(
    ("behaviour", "exc_type", "status"),
    [
        (Behaviour.server_error(), openai.InternalServerError, 500),
        (Behaviour.server_error(503), openai.InternalServerError, 503),
        (Behaviour.unauthorized(), openai.AuthenticationError, 401),
        (Behaviour.error(422, "bad schema"), openai.UnprocessableEntityError, 422),
    ],
)
async def test_error_statuses(
    server: FakeOpenAI, behaviour: Behaviour, exc_type: type[openai.APIStatusError], status: int
) -> None:
    server.enqueue(behaviour)
    async with client(server) as c:
        with pytest.raises(exc_type) as info:
            await create(c)
    assert info.value.status_code == status
    assert info.value.message  # parsed from the {"error": {...}} body


async def test_hang_past_the_client_timeout(server: FakeOpenAI) -> None:
    server.enqueue(Behaviour.hang())
    async with client(server, timeout=0.05) as c:
        with pytest.raises(openai.APITimeoutError):
            await create(c)
    assert server.calls == 1


@pytest.mark.parametrize("mid_body", [False, True])
async def test_dropped_connection(server: FakeOpenAI, mid_body: bool) -> None:
    server.enqueue(Behaviour.drop(mid_body=mid_body))
    async with client(server) as c:
        with pytest.raises(openai.APIConnectionError):
            await create(c)
        assert (await create(c)).choices[0].message.content == "ok"  # next one is fine
    assert server.calls == 2


async def test_queue_then_default_and_callable_default(server: FakeOpenAI) -> None:
    server.enqueue(Behaviour.server_error(), Behaviour.reply("second"))

    def echo(body: dict[str, Any]) -> Behaviour:
        return Behaviour.reply(body["messages"][-1]["content"].upper())

    async with client(server) as c:
        with pytest.raises(openai.InternalServerError):
            await create(c)
        assert (await create(c)).choices[0].message.content == "second"
        assert (await create(c)).choices[0].message.content == "ok"
        server.set_default(echo)
        assert (await create(c)).choices[0].message.content == MESSAGES[-1]["content"].upper()
    assert server.calls == 4
    assert server.completed == 3


async def test_api_key_enforced_and_models_listed() -> None:
    async with FakeOpenAI(api_key="sk-right", models=["m1", "m2"]) as server:
        async with client(server, key="sk-wrong") as c:
            with pytest.raises(openai.AuthenticationError):
                await create(c)
        async with client(server, key="sk-right") as c:
            assert (await create(c)).choices[0].message.content == "ok"
            models = await c.models.list()
            assert [m.id for m in models.data] == ["m1", "m2"]
            assert (await c.models.retrieve("m2")).id == "m2"
            with pytest.raises(openai.NotFoundError):
                await c.models.retrieve("nope")


async def test_validates_the_request(server: FakeOpenAI) -> None:
    async with client(server) as c:
        with pytest.raises(openai.BadRequestError):
            await c.chat.completions.create(model="fake-gpt-4o-mini", messages=[])
    assert server.calls == 1


async def test_stop_releases_a_hanging_request() -> None:
    server = FakeOpenAI(default=Behaviour.hang(seconds=30))
    await server.start()
    c = client(server, timeout=30)
    pending = asyncio.create_task(create(c))
    async with asyncio.timeout(5):
        await server.wait_for_calls(1)
        await server.stop()  # must not wait for the 30 s hang
    with pytest.raises(openai.APIError):
        await pending
    await c.close()
