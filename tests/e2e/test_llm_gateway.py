"""The LLM gateway end to end: the real openai client against the local OpenAI-compatible server
(tests/fakes/openai_server.py), a real Assistant on SQLite, the real policy stack, and Redis for
the shared rate limits.

Backoff waits are recorded instead of slept (an injected ``sleep``); breaker time is a FakeClock.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from structlog.testing import capture_logs

from core.app import Assistant
from core.commands.captions import LIMITED
from core.llm.gateway import LLMGateway, Prices
from core.llm.offline import OfflineEngine
from core.llm.policies import (
    LLMSetup,
    build_llm_generator,
    close_limits_storage,
    open_limits_storage,
)
from core.models import CaptionRequest, Fan, Identity, PersonalizeRequest, Profile
from core.ports import UsageRecord, UsageSummary
from core.resilience import BreakerState, MemoryKV, RateLimiter
from core.rules import PLATFORM_RULES, contains_restricted, x_length
from core.services.imports import CsvImporter
from storage.db import create_engine
from storage.repositories import SqlStore
from storage.tables import CaptionRow, UsageRow
from tests.fakes.clock import FakeClock
from tests.fakes.openai_server import Behaviour, FakeOpenAI, estimate_tokens
from tests.unit.conftest import Chat

MODEL = "fake-gpt-4o-mini"
PRICES = Prices(Decimal("0.15"), Decimal("0.60"))
PROFILE = (
    "/profile set niches=fitness platforms=instagram content_types=photo "
    "equipment=phone,ring_light locations=gym restricted_words=sweaty"
)
FITNESS = Profile(
    niches=["fitness"],
    platforms=["instagram"],
    content_types=["photo"],
    equipment=["phone"],
    locations=["gym"],
    restricted_words=["sweaty"],
)


# ---------------------------------------------------------------------- a scripted "model"


class Model:
    """Answers every request with valid JSON for the schema it was sent (reads the enums), and
    remembers what it answered (to check token accounting)."""

    def __init__(self) -> None:
        self.counter = itertools.count(1)
        self.answers: list[str] = []

    def __call__(self, body: dict[str, Any]) -> Behaviour:
        fmt = body.get("response_format") or {}
        name = fmt.get("json_schema", {}).get("name")
        schema = fmt.get("json_schema", {}).get("schema", {})
        task = body["messages"][1]["content"]
        n = int(m.group(1)) if (m := re.match(r"Task: (\d+)", task)) else 1
        obj: dict[str, Any]
        if name == "ideas":
            p = schema["properties"]["ideas"]["items"]["properties"]
            obj = {
                "ideas": [
                    {
                        "title": f"Model idea {next(self.counter)}",
                        "description": "Shot list from the model.",
                        "niche": p["niche"]["enum"][0],
                        "content_type": p["content_type"]["enum"][0],
                        "platform": p["platform"]["enum"][0],
                        "equipment": p["equipment"]["items"]["enum"][:1],
                        "location": p["location"]["enum"][0],
                        "difficulty": "easy",
                        "time_to_create": "20 min",
                        "best_time_to_post": "Tue 19:00",
                        "tags": ["gym", "fitness", "modeltag"],
                        "hook": "Watch this",
                    }
                    for _ in range(n)
                ]
            }
        elif name == "caption":
            obj = {"text": f"Caption from the model #{next(self.counter)}", "hashtags": ["gym"]}
        elif name == "hashtags":
            obj = {"hashtags": [f"modeltag{i}" for i in range(n)]}
        elif name == "personalize":
            handles = schema["properties"]["drafts"]["items"]["properties"]["fan_handle"]["enum"]
            obj = {
                "drafts": [{"fan_handle": h, "text": f"Hi {h}, from the model"} for h in handles]
            }
        elif name == "advice":
            question = task.split("<creator_input>", 1)[1].split("</creator_input>", 1)[0]
            obj = {"answer": f"Post sweaty teasers daily. You asked: {question}"}
        elif name == "stats":  # the plain summary's first sentence, in the model's words
            plain = task.split("Plain summary: ", 1)[1]
            obj = {"narrative": f"From the model: {plain.split('. ')[0]}."}
        else:
            obj = {}
        content = json.dumps(obj)
        self.answers.append(content)
        return Behaviour.reply(content)


def prompt_tokens(request: dict[str, Any]) -> int:
    """What the fake server bills for a request (see its ``_prompt_tokens``)."""
    return 3 + sum(4 + estimate_tokens(m["content"]) for m in request["messages"])


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(float(seconds))


# ---------------------------------------------------------------------- the rig


@dataclass
class Rig:
    server: FakeOpenAI
    model: Model
    engine: AsyncEngine
    store: SqlStore
    clock: FakeClock
    sleeps: Sleeps
    setups: list[LLMSetup] = field(default_factory=list)

    def llm(self, **kw: Any) -> LLMSetup:
        params: dict[str, Any] = {
            "api_key": "sk-test",
            "base_url": self.server.base_url,
            "model": MODEL,
            "timeout": 5.0,
            "max_retries": 2,
            "price_prompt_per_1k": PRICES.prompt_per_1k,
            "price_completion_per_1k": PRICES.completion_per_1k,
            "concurrency": 8,
            "cache_ttl": 600.0,
            "rate_limit": None,
            "usage": self.store.usage,
            "clock": self.clock,
            "offline": OfflineEngine(),
            "rng": random.Random(3),
            "sleep": self.sleeps,
            "failure_threshold": 3,
            "recovery_timeout": 30.0,
        }
        params.update(kw)
        setup = build_llm_generator(**params)
        self.setups.append(setup)
        return setup

    def app(self, setup: LLMSetup, rate_limiter: RateLimiter | None = None) -> Assistant:
        return Assistant(
            store=self.store,
            generator=setup.generator,
            kv=MemoryKV(clock=self.clock),
            clock=self.clock,
            rate_limiter=rate_limiter,
            narrator=setup.gateway,
            advisor=setup.gateway,
        )

    async def chat(self, setup: LLMSetup, user: str = "mia") -> Chat:
        chat = Chat(self.app(setup), user)
        await chat.say(PROFILE)
        await chat.say("/fans add @leo name=Leo tier=vip spent=240 last_active=2026-11-20")
        return chat

    async def account(self, user: str = "mia") -> int:
        acc = await self.store.accounts.resolve(Identity(platform="console", external_id=user))
        return acc.id

    async def usage_rows(self) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(UsageRow.__table__).order_by(UsageRow.id))
            return [dict(r._mapping) for r in rows]


@pytest.fixture
async def rig(migrated_sqlite_url: str) -> AsyncIterator[Rig]:
    model = Model()
    engine = create_engine(migrated_sqlite_url)
    clock = FakeClock()
    async with FakeOpenAI(default=model) as server:
        r = Rig(server, model, engine, SqlStore(engine, clock), clock, Sleeps())
        try:
            yield r
        finally:
            for setup in r.setups:
                await setup.aclose()
            await engine.dispose()


def gateway(setup: LLMSetup) -> LLMGateway:
    assert isinstance(setup.generator, LLMGateway)
    return setup.generator


def caption_req(topic: str = "leg day", platform: str = "instagram") -> CaptionRequest:
    return CaptionRequest(profile=FITNESS, topic=topic, platform=platform)


# ---------------------------------------------------------------------- happy path + usage


async def test_every_command_answers_from_the_model_and_writes_exact_usage(rig: Rig) -> None:
    chat = await rig.chat(rig.llm())
    ideas = await chat.say("/ideas 3")
    assert not ideas.degraded and LIMITED not in ideas.plain_text
    assert [i["title"] for i in ideas.result] == ["Model idea 1", "Model idea 2", "Model idea 3"]
    assert all(i["location"] == "gym" and i["content_type"] == "photo" for i in ideas.result)
    caption = await chat.say("/caption leg day")
    assert caption.result["text"].startswith("Caption from the model")
    tags = await chat.say("/hashtags leg day x")
    assert tags.result == ["modeltag0", "modeltag1", "modeltag2"]  # X's limit is 3
    drafts = await chat.say('/personalize "Hey {name}, miss you" for @leo')
    assert drafts.result == [{"fan_handle": "leo", "text": "Hi leo, from the model"}]
    assert not any(r.degraded for r in (caption, tags, drafts))

    assert rig.server.calls == 4
    assert all(f["type"] == "json_schema" for f in rig.server.response_formats)
    rows = await rig.usage_rows()
    assert [r["feature"] for r in rows] == ["ideas", "caption", "hashtags", "personalize"]
    for row, request, answer in zip(rows, rig.server.requests, rig.model.answers, strict=True):
        p, c = prompt_tokens(request), estimate_tokens(answer)
        assert (row["prompt_tokens"], row["completion_tokens"]) == (p, c)
        assert row["cost"] == PRICES.cost(p, c) and row["cost"] > 0
        assert row["model"] == MODEL and row["outcome"] == "ok" and not row["cached"]
        assert row["prompt_version"] == f"{row['feature']}@1"
        assert row["latency_ms"] >= 0

    usage = await chat.say("/usage")
    assert usage.result["today"]["calls"] == 4
    total = sum(r["prompt_tokens"] + r["completion_tokens"] for r in rows)
    assert usage.result["month"]["prompt_tokens"] + usage.result["month"]["completion_tokens"] == (
        total
    )


async def test_answers_that_break_the_rules_are_fixed_or_rejected(rig: Rig) -> None:
    chat = await rig.chat(rig.llm())
    good = {
        "title": "Sweaty PR attempt",
        "description": "A sweaty, honest heavy single.",
        "niche": "fitness",
        "content_type": "photo",
        "platform": "instagram",
        "equipment": ["ring light"],
        "location": "gym",
        "difficulty": "hard",
        "time_to_create": "40 min",
        "best_time_to_post": "Mon 18:00",
        "tags": ["pr", "sweatyday"],
        "hook": "One rep",
    }
    rig.server.enqueue(
        Behaviour.reply_json(
            {
                "ideas": [
                    good,
                    {**good, "title": "Beach sprint", "location": "beach"},
                    {**good, "title": "Drone flyover", "equipment": ["drone"]},
                ]
            }
        )
    )
    reply = await chat.say("/ideas 3")
    assert not reply.degraded and len(reply.result) == 3
    titles = [i["title"] for i in reply.result]
    assert titles[0] == "PR attempt"  # restricted word scrubbed, the idea kept
    assert "Beach sprint" not in titles and "Drone flyover" not in titles  # replaced offline
    for idea in reply.result:
        assert idea["location"] == "gym" and set(idea["equipment"]) <= {"phone", "ring_light"}
        text = " ".join([idea["title"], idea["description"], idea["hook"], *idea["tags"]])
        assert not contains_restricted(text, ["sweaty"])
    assert len(set(titles)) == 3

    long = "Leg day, sweaty and proud. " + "Every rep counted today and it shows. " * 20
    rig.server.enqueue(Behaviour.reply_json({"text": long, "hashtags": ["legday", "a", "b", "c"]}))
    cap = await chat.say("/caption leg day x")
    full = cap.result["text"] + " " + " ".join("#" + h for h in cap.result["hashtags"])
    assert x_length(full) <= PLATFORM_RULES["x"].max_chars
    assert len(cap.result["hashtags"]) <= 3 and "sweaty" not in full.lower()
    assert not cap.degraded


async def test_prose_is_repaired_once_then_falls_back(rig: Rig) -> None:
    setup = rig.llm()
    account = await rig.account()
    rig.server.enqueue(Behaviour.prose(), Behaviour.reply_json({"text": "Fixed", "hashtags": []}))
    out = await gateway(setup).caption(caption_req("first"), account_id=account)
    assert out.source == "llm" and not out.degraded and out.value.text == "Fixed"
    assert rig.server.calls == 2
    repair = rig.server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and repair[-2]["content"].startswith("Sure!")
    assert "not a JSON object" in repair[-1]["content"]

    rig.server.enqueue(Behaviour.prose(), Behaviour.malformed())
    out = await gateway(setup).caption(caption_req("second"), account_id=account)
    assert out.source == "offline" and out.degraded and out.value.text
    assert rig.server.calls == 4  # one try + one repair, no retries
    rows = await rig.usage_rows()
    assert [r["outcome"] for r in rows] == ["ok", "rejected"]
    billed = [prompt_tokens(r) for r in rig.server.requests]
    assert rows[0]["prompt_tokens"] == billed[0] + billed[1]
    assert rows[1]["prompt_tokens"] == billed[2] + billed[3] and rows[1]["model"] == MODEL
    assert gateway(setup).policy.breaker is not None
    assert gateway(setup).policy.breaker.failures == 0


EARNINGS = (Path(__file__).parent.parent / "fixtures" / "csv" / "earnings_week.csv").read_bytes()


async def test_stats_narrative_is_phrased_by_the_model_within_the_figures(rig: Rig) -> None:
    chat = await rig.chat(rig.llm())
    account = await rig.account()
    await CsvImporter(rig.store, rig.clock).import_csv(account, "e.csv", EARNINGS)
    stats = await chat.say("/stats 7d")
    assert stats.result["narrative_source"] == "llm"
    text = stats.plain_text
    assert "From the model: Revenue was $126.00, up 26% on the 7 days before ($100.00)." in text
    request = rig.server.requests[-1]
    assert request["response_format"]["json_schema"]["name"] == "stats"
    assert "Plain summary: Revenue was $126.00" in request["messages"][1]["content"]
    [row] = [r for r in await rig.usage_rows() if r["feature"] == "stats"]
    assert (row["outcome"], row["prompt_version"], row["model"]) == ("ok", "stats@1", MODEL)

    # A number the figures do not have gets the one repair try, then the rule-based text.
    invented = Behaviour.reply_json({"narrative": "You made $999.99, your best week ever."})
    rig.server.enqueue(invented, invented)
    calls = rig.server.calls
    stats = await chat.say("/stats 30d")
    assert stats.result["narrative_source"] == "rules"
    assert "999.99" not in stats.plain_text and "Revenue was $226.00" in stats.plain_text
    assert rig.server.calls == calls + 2
    assert "not in the figures (999.99)" in rig.server.requests[-1]["messages"][-1]["content"]
    assert [r["outcome"] for r in await rig.usage_rows() if r["feature"] == "stats"] == [
        "ok",
        "rejected",
    ]

    # The model down: /stats still answers, with the rule-based narrative.
    rig.server.enqueue(*[Behaviour.server_error()] * 3)
    stats = await chat.say("/stats all")
    assert stats.result["narrative_source"] == "rules" and "Revenue $326.00" in stats.plain_text


async def test_personalize_in_chunks_and_missing_drafts_come_from_offline(rig: Rig) -> None:
    gw = gateway(rig.llm())
    account = await rig.account()
    fans = [Fan(handle=f"fan{i:02d}", name=f"Fan {i}", tier="regular") for i in range(25)]
    req = PersonalizeRequest(
        profile=FITNESS, template="Hey {name}, new set is up!", fans=fans, today=date(2026, 11, 24)
    )
    out = await gw.personalize(req, account_id=account)
    assert rig.server.calls == 2  # 20 + 5 fans
    assert [d.fan_handle for d in out.value] == [f.handle for f in fans]
    assert all(d.text == f"Hi {d.fan_handle}, from the model" for d in out.value)
    assert out.source == "llm" and not out.degraded
    [row] = await rig.usage_rows()
    assert row["prompt_tokens"] == sum(prompt_tokens(r) for r in rig.server.requests)

    rig.server.enqueue(
        Behaviour.reply_json({"drafts": [{"fan_handle": "fan00", "text": "Only you, Fan 0"}]})
    )
    two = req.model_copy(update={"fans": fans[:2], "template": "Hi {name}!"})
    out = await gw.personalize(two, account_id=account)
    assert out.value[0].text == "Only you, Fan 0"
    assert "Fan 1" in out.value[1].text and "{" not in out.value[1].text  # offline draft
    assert not out.degraded


# ---------------------------------------------------------------------- breaker and retries


async def test_breaker_opens_fails_fast_half_opens_and_closes(rig: Rig) -> None:
    setup = rig.llm(max_retries=0)
    gw = gateway(setup)
    breaker = gw.policy.breaker
    assert breaker is not None
    account = await rig.account()
    rig.server.set_default(Behaviour.server_error(503))
    for i in range(3):
        out = await gw.caption(caption_req(f"topic {i}"), account_id=account)
        assert out.degraded and out.source == "offline"
    assert breaker.state is BreakerState.open and rig.server.calls == 3

    for i in range(5):  # open: answers at once, offline, without calling
        out = await gw.caption(caption_req(f"open {i}"), account_id=account)
        assert out.degraded and out.value.text
    assert rig.server.calls == 3

    rig.server.set_default(rig.model)
    rig.clock.advance(30)
    assert breaker.state is BreakerState.half_open
    out = await gw.caption(caption_req("trial"), account_id=account)
    assert not out.degraded and out.source == "llm" and rig.server.calls == 4
    assert breaker.state is BreakerState.closed
    rows = await rig.usage_rows()
    assert [r["outcome"] for r in rows] == ["fallback"] * 8 + ["ok"]
    assert all(r["model"] == "offline" and r["prompt_tokens"] == 0 for r in rows[:8])


async def test_a_half_open_failure_reopens(rig: Rig) -> None:
    gw = gateway(rig.llm(max_retries=0))
    account = await rig.account()
    rig.server.set_default(Behaviour.server_error())
    for i in range(3):
        await gw.caption(caption_req(f"t{i}"), account_id=account)
    rig.clock.advance(30)
    await gw.caption(caption_req("trial"), account_id=account)
    assert gw.policy.breaker is not None and gw.policy.breaker.state is BreakerState.open
    assert rig.server.calls == 4


async def test_retries_honour_retry_after_and_never_count_429(rig: Rig) -> None:
    gw = gateway(rig.llm(max_retries=2))
    account = await rig.account()
    rig.server.enqueue(
        Behaviour.rate_limited(retry_after=3),
        Behaviour.rate_limited(retry_after=None, retry_after_ms=250),
    )
    out = await gw.caption(caption_req(), account_id=account)
    assert out.source == "llm" and not out.degraded
    assert rig.sleeps.waits == [3.0, 0.25] and rig.server.calls == 3
    assert gw.policy.breaker is not None and gw.policy.breaker.failures == 0
    [row] = await rig.usage_rows()
    assert row["prompt_tokens"] == prompt_tokens(rig.server.requests[2])  # 429s bill nothing


async def test_500_then_success_uses_jittered_backoff(rig: Rig) -> None:
    gw = gateway(rig.llm(max_retries=2))
    rig.server.enqueue(Behaviour.server_error(), Behaviour.drop())
    out = await gw.caption(caption_req(), account_id=await rig.account())
    assert not out.degraded and rig.server.calls == 3
    assert len(rig.sleeps.waits) == 2
    assert 0 <= rig.sleeps.waits[0] <= 0.5 and 0 <= rig.sleeps.waits[1] <= 1.0


async def test_a_hanging_model_times_out_and_falls_back(rig: Rig) -> None:
    gw = gateway(rig.llm(max_retries=0, timeout=0.2))
    rig.server.set_default(Behaviour.hang(5))
    out = await gw.caption(caption_req(), account_id=await rig.account())
    assert out.degraded and out.source == "offline"
    assert gw.policy.breaker is not None and gw.policy.breaker.failures == 1


# ---------------------------------------------------------------------- coalescing and cache


async def test_hundred_identical_concurrent_requests_one_upstream_call_then_cache(
    rig: Rig,
) -> None:
    gw = gateway(rig.llm())
    account = await rig.account()
    model = rig.model

    def slow(body: dict[str, Any]) -> Behaviour:
        b = model(body)
        return Behaviour.reply(b.content, delay=0.05)

    rig.server.set_default(slow)
    results = await asyncio.gather(
        *(gw.caption(caption_req(), account_id=account) for _ in range(100))
    )
    assert rig.server.calls == 1
    assert {r.value.text for r in results} == {"Caption from the model #1"}
    assert all(r.source == "llm" and not r.degraded for r in results)

    rows = await rig.usage_rows()
    assert len(rows) == 100
    billed = [r for r in rows if not r["cached"]]
    assert len(billed) == 1  # the shared call's tokens are recorded once
    assert billed[0]["prompt_tokens"] == prompt_tokens(rig.server.requests[0])
    assert sum(r["completion_tokens"] for r in rows) == estimate_tokens(model.answers[0])

    again = await gw.caption(caption_req().model_copy(update={"seed": 42}), account_id=account)
    assert again.source == "cache" and again.value.text == "Caption from the model #1"
    assert rig.server.calls == 1  # a cached answer: no upstream call
    last = (await rig.usage_rows())[-1]
    assert last["cached"] and last["prompt_tokens"] == 0 and last["outcome"] == "ok"

    other_account = await rig.account("bo")  # the cache never crosses tenants
    fresh = await gw.caption(caption_req(), account_id=other_account)
    assert fresh.source == "llm" and rig.server.calls == 2


async def test_cancelling_the_first_caller_leaves_the_others_their_answer(rig: Rig) -> None:
    gw = gateway(rig.llm())
    account = await rig.account()
    model = rig.model
    rig.server.set_default(lambda body: Behaviour.reply(model(body).content, delay=0.2))
    tasks = [asyncio.create_task(gw.caption(caption_req(), account_id=account)) for _ in range(3)]
    async with asyncio.timeout(5):
        await rig.server.wait_for_calls(1)
    tasks[0].cancel()
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(outcomes[0], asyncio.CancelledError)
    for out in outcomes[1:]:
        assert not isinstance(out, BaseException) and out.source == "llm"
    assert rig.server.calls == 1
    rows = await rig.usage_rows()
    assert len(rows) == 2  # the cancelled caller wrote nothing; its tokens were not lost
    assert sum(r["prompt_tokens"] for r in rows) == prompt_tokens(rig.server.requests[0])


# ---------------------------------------------------------------------- model down / bad key


async def test_with_the_model_down_every_command_still_answers_and_nothing_is_lost(
    rig: Rig,
) -> None:
    chat = await rig.chat(rig.llm(failure_threshold=2))
    await rig.server.stop()
    commands = [
        "/ideas 3",
        "/caption leg day",
        "/hashtags leg day",
        '/personalize "Hey {name}, miss you" for @leo',
    ]
    for _ in range(2):
        for command in commands:
            reply = await chat.say(command)
            assert reply.degraded, command
            assert "Limited mode" in reply.plain_text, command
            assert reply.result, command
    account = await rig.account()
    assert len(await rig.store.ideas.recent_titles(account)) == 6  # both rounds stored
    async with rig.engine.connect() as conn:
        captions = await conn.scalar(select(func.count()).select_from(CaptionRow.__table__))
    assert captions == 2
    rows = await rig.usage_rows()
    assert len(rows) == 8 and {r["outcome"] for r in rows} == {"fallback"}
    assert len(rig.sleeps.waits) == 2  # one retried call opened the breaker; then fail fast


async def test_rejected_api_key_logs_once_and_stops_calling(rig: Rig) -> None:
    secret = "sk-wrong-0123456789abcdef"
    rig.server.api_key = "sk-right"
    chat = await rig.chat(rig.llm(api_key=secret, hold_seconds=300))
    with capture_logs() as logs:
        for command in ["/caption leg day", "/hashtags gym", "/ideas 2", "/caption other"]:
            reply = await chat.say(command)
            assert reply.degraded and "Limited mode" in reply.plain_text
    assert rig.server.calls == 1 and rig.sleeps.waits == []  # no retry storm
    failures = [e for e in logs if e["event"] == "llm_auth_failed"]
    assert len(failures) == 1
    assert failures[0]["status"] == 401 and failures[0]["log_level"] == "error"
    assert failures[0]["endpoint"] == rig.server.base_url.rstrip("/")
    assert secret not in repr(logs) and "sk-wrong" not in repr(logs)
    breaker = gateway(rig.setups[0]).policy.breaker
    assert breaker is not None and breaker.state is BreakerState.closed  # 4xx never opens it

    rig.clock.advance(301)  # after the hold, one request tries again
    with capture_logs() as logs:
        await chat.say("/caption again")
    assert rig.server.calls == 2
    assert [e["event"] for e in logs].count("llm_auth_failed") == 1


async def test_unknown_model_is_held_too(rig: Rig) -> None:
    gw = gateway(rig.llm())
    rig.server.set_default(Behaviour.error(404, "The model does not exist", code="model_not_found"))
    account = await rig.account()
    with capture_logs() as logs:
        for i in range(3):
            out = await gw.caption(caption_req(f"t{i}"), account_id=account)
            assert out.degraded
    assert rig.server.calls == 1 and gw.held == "model"
    assert [e["event"] for e in logs].count("llm_model_unavailable") == 1


# ---------------------------------------------------------------------- usage write failure


class BrokenUsage:
    async def record(self, account_id: int, record: UsageRecord) -> None:
        raise ConnectionError("database went away")

    async def summary(self, account_id: int, since: Any) -> UsageSummary:
        raise ConnectionError("database went away")


async def test_a_failing_usage_write_never_loses_the_answer(rig: Rig) -> None:
    gw = gateway(rig.llm(usage=BrokenUsage()))
    with capture_logs() as logs:
        out = await gw.caption(caption_req(), account_id=1)
    assert out.source == "llm" and out.value.text.startswith("Caption from the model")
    [failed] = [e for e in logs if e["event"] == "usage_record_failed"]
    assert failed["feature"] == "caption" and failed["prompt_tokens"] > 0


# ---------------------------------------------------------------------- shared rate limits


@pytest.mark.redis
async def test_llm_rate_limit_is_shared_by_two_instances_through_redis(
    rig: Rig, redis_url: str, redis_prefix: str
) -> None:
    storages = [open_limits_storage(redis_url, key_prefix=redis_prefix + "limits") for _ in "ab"]
    try:
        a, b = (
            gateway(rig.llm(rate_limit="3/minute", limits_storage=s, cache_ttl=0)) for s in storages
        )
        account = await rig.account()
        outs = [
            await (a if i % 2 else b).caption(caption_req(f"topic {i}"), account_id=account)
            for i in range(5)
        ]
        assert [o.source for o in outs] == ["llm", "llm", "llm", "offline", "offline"]
        assert all(o.degraded for o in outs[3:])
        assert rig.server.calls == 3
        other = await a.caption(caption_req("mine"), account_id=await rig.account("bo"))
        assert other.source == "llm"  # per account
        rows = await rig.usage_rows()
        assert [r["outcome"] for r in rows] == ["ok"] * 3 + ["fallback"] * 2 + ["ok"]
    finally:
        for s in storages:
            await close_limits_storage(s)


@pytest.mark.redis
async def test_command_rate_limit_is_shared_by_two_assistants_through_redis(
    rig: Rig, redis_url: str, redis_prefix: str
) -> None:
    storages = [open_limits_storage(redis_url, key_prefix=redis_prefix + "limits") for _ in "ab"]
    try:
        setup = rig.llm()
        apps = [
            rig.app(setup, RateLimiter("4/minute", storage=s, namespace="cmd")) for s in storages
        ]
        chats = [Chat(app, "mia") for app in apps]
        texts = [(await chats[i % 2].say("/help")).plain_text for i in range(6)]
        assert ["What I can do" in t for t in texts] == [True] * 4 + [False] * 2
        assert "going a bit fast" in texts[4] and "going a bit fast" in texts[5]
    finally:
        for s in storages:
            await close_limits_storage(s)


# ---------------------------------------------------------------------- wiring


async def test_without_key_or_base_url_the_offline_engine_is_the_generator(rig: Rig) -> None:
    setup = rig.llm(api_key=None, base_url=None)
    assert isinstance(setup.generator, OfflineEngine) and setup.gateway is None
    out = await setup.generator.caption(caption_req(), account_id=1)
    assert out.source == "offline" and not out.degraded  # the configured mode: not "limited"
    await setup.aclose()


async def test_a_local_server_without_key_works(rig: Rig) -> None:
    setup = rig.llm(api_key=None)  # Ollama / vLLM / LM Studio style
    out = await setup.generator.caption(caption_req(), account_id=await rig.account())
    assert out.source == "llm" and rig.server.authorizations == ["Bearer not-needed"]


async def test_a_question_no_command_answers_is_answered_by_the_model(rig: Rig) -> None:
    # "how do I get more subscribers?" got "I didn't catch that" even with a model configured
    chat = await rig.chat(rig.llm())
    reply = await chat.say("how do I get more subscribers on fansly?")
    assert (
        reply.plain_text
        == "Post teasers daily. You asked: how do I get more subscribers on fansly?"
    )
    assert reply.result == {"answer": reply.plain_text}  # the restricted word scrubbed
    request = rig.server.requests[-1]
    assert request["response_format"]["json_schema"]["name"] == "advice"
    assert '"niches": ["fitness"]' in request["messages"][1]["content"]
    [row] = [r for r in await rig.usage_rows() if r["feature"] == "advice"]
    assert (row["outcome"], row["prompt_version"]) == ("ok", "advice@1")
    # a sentence a command answers runs the command: no call for it
    calls = rig.server.calls
    await chat.say("what should I charge for PPV?")
    assert rig.server.calls == calls
    # the model down: the answer says what the assistant can do, and nothing breaks
    rig.server.set_default(Behaviour.server_error())
    down = await chat.say("is it better to post at night?")
    assert down.plain_text.startswith("I didn't catch that.")
