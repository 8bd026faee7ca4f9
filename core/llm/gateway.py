"""The LLM gateway: a :class:`core.ports.ContentGenerator` on any OpenAI-compatible endpoint.

``LLMGateway(client, model, policy, offline, usage, prices, clock, prompts, limiter=...)``
answers ideas, captions, hashtags and personalised drafts through ``openai.AsyncOpenAI`` and
falls back to the offline engine whenever the model can't give a usable answer. It is also the
``Narrator`` of /stats: the model phrases computed figures, and an answer with a number the
figures do not have is refused (the rule-based narrative stays). Build it with
:func:`core.llm.policies.build_llm_generator` (which also composes the policy).

One call, step by step:

1. **Entrance.** If the endpoint recently rejected our credentials (401/403) or model (404), the
   gateway is *held*: offline answer, no request (see below). Else the per-account LLM rate
   limit is hit once; when it denies, the answer comes from the offline engine, marked degraded
   ("limited mode") — the creator still gets a draft, only the spend is limited. (The per-account
   *command* limit at the Assistant's entrance is what refuses.)
2. **Prompt.** :class:`core.llm.prompts.Prompts` builds the messages and a strict JSON schema.
3. **Policy.** Identical calls are coalesced (one :class:`SingleFlight` around the whole guarded
   call, so that it covers the cache lookup too), then ``policy.call(key, fn,
   fallback=NO_ANSWER)``: response cache -> concurrency cap -> deadline -> retry (backoff +
   jitter, Retry-After honoured) -> circuit breaker -> per-attempt timeout (composed in
   ``core.llm.policies``). ``fn`` sends the request, parses and
   validates the JSON against the pydantic output model, applies the product rules
   (:mod:`core.llm.checks`: fix or drop), and on unusable output makes ONE repair request with the
   reasons. Still unusable -> :class:`InvalidOutput` -> no retry, no breaker count -> fallback.
   What is cached is the checked answer, never a failure.
4. **Answer.** Usable items are returned (``source="llm"``, or ``"cache"``); gaps (ideas dropped by
   the rules, missing hashtags or drafts) are filled from the offline engine. No usable answer
   -> the offline engine's answer with ``degraded=True`` (``source="offline"``).
5. **Usage.** Exactly one row per call (:meth:`UsageRepository.record`): feature, model, tokens,
   cost (:class:`Prices`), latency, cached, outcome (``ok`` | ``fallback`` | ``rejected`` |
   ``error``), prompt version. Tokens are counted once per upstream request: the tokens of a
   shared call ride on its result (:class:`Spend`) and exactly one of the coalesced callers
   claims them; the others, and cache hits, record 0 tokens and ``cached=True``. A failing
   write is logged (``usage_record_failed``) and never costs the user the answer.

Cache key: ``stable_key(model, account_id, feature, prompt version, output mode, request without
its seed)``. The seed is left out on purpose: commands derive it from the request id, so keeping
it would make every request unique; the model is not seeded anyway. The account is kept in so
that no answer crosses tenants. Identical concurrent requests of one account therefore share one
upstream call, and a repeat within the TTL is served from the cache. Requests that must differ
do differ: /ideas carries the recent titles (they change after every answer) and /personalize
carries the date.

401 / 403 / 404: logged ONCE as ``llm_auth_failed`` / ``llm_model_unavailable`` (status,
endpoint, model — never the key or the API's message, which quotes part of the key), then for
``hold_seconds`` every call goes straight to the offline engine without touching the endpoint.
After that one request tries again. These statuses never open the breaker and are never retried.

A bug in this path (an exception the classifier doesn't know) is logged with its traceback
(``llm_gateway_failed``) and the user still gets the offline answer (outcome ``error``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

import openai
import structlog
from pydantic import BaseModel, PrivateAttr, ValidationError

from core.llm.checks import (
    AdviceOut,
    CaptionOut,
    DraftsOut,
    HashtagsOut,
    IdeaFrame,
    IdeasOut,
    NarrativeOut,
    check_advice,
    check_caption,
    check_drafts,
    check_hashtags,
    check_ideas,
    check_narrative,
    fan_key,
    hashtag_limit,
)
from core.llm.offline.ideas import title_key
from core.llm.openai_errors import InvalidOutput, operator_problem
from core.llm.prompts import Prompts, PromptSpec
from core.models import (
    CaptionDraft,
    CaptionRequest,
    Generated,
    HashtagRequest,
    Idea,
    IdeaRequest,
    MessageDraft,
    PersonalizeRequest,
    Profile,
)
from core.ports import Clock, ContentGenerator, UsageRecord, UsageRepository
from core.resilience.cache import stable_key
from core.resilience.errors import CircuitOpen, Overloaded, UpstreamError, UpstreamTimeout
from core.resilience.policy import Policy, PolicyResult
from core.resilience.ratelimit import RateLimiter
from core.resilience.singleflight import SingleFlight

__all__ = ["NO_ANSWER", "PERSONALIZE_CHUNK", "LLMAnswer", "LLMGateway", "Prices", "Spend"]

log = structlog.get_logger("huntaze.llm")

PERSONALIZE_CHUNK = 20  # fans per request for /personalize on a segment
USAGE_WRITE_TIMEOUT = 5.0
_MILLI = Decimal("0.000001")


@dataclass(frozen=True)
class Prices:
    """Price table (settings): dollars per 1,000 prompt and completion tokens."""

    prompt_per_1k: Decimal = Decimal("0")
    completion_per_1k: Decimal = Decimal("0")

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        total = self.prompt_per_1k * prompt_tokens + self.completion_per_1k * completion_tokens
        return (total / 1000).quantize(_MILLI)


class LLMAnswer(BaseModel):
    """A checked answer (JSON-able ``data`` per feature); what the response cache stores."""

    data: dict[str, Any]
    model: str
    repaired: bool = False
    _llm_spend: Spend | None = PrivateAttr(default=None)  # not cached: a hit spent nothing


NO_ANSWER = LLMAnswer(data={}, model="")
"""The policy's fallback value: the gateway answers offline when it sees it."""


@dataclass
class Spend:
    """Upstream requests and tokens of one (coalesced, retried, repaired) upstream call.

    It travels with the call's result — the answer object all coalesced callers share, or the
    exception they share — and exactly one caller :meth:`claim` s it for its usage row, so the
    rows add up to what the endpoint billed even when the caller that started the call was
    cancelled.
    """

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    claimed: bool = False

    @staticmethod
    def claim(carrier: object) -> Spend:
        """The spend riding on ``carrier`` if nobody took it yet, else an empty one."""
        spend = getattr(carrier, _SPEND_ATTR, None)
        if not isinstance(spend, Spend) or spend.claimed:
            return Spend()
        spend.claimed = True
        return spend


_SPEND_ATTR = "_llm_spend"


Outcome = Literal["ok", "fallback", "rejected", "error"]


@dataclass
class _Result:
    data: dict[str, Any] | None
    outcome: Outcome
    spend: Spend = field(default_factory=Spend)
    source: Literal["llm", "cache"] = "llm"
    cached: bool = False
    reason: str = ""


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


_FENCE = re.compile(r"^```(?:json|JSON)?\s*(.*?)\s*```$", re.S)


def _json_text(content: str) -> str:
    """The JSON object in ``content``: code fences and chatter around it are tolerated."""
    text = content.strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1).strip()
    if text.startswith("{"):
        return text
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise InvalidOutput(["the answer is not a JSON object"])
    return text[start : end + 1]


def _validation_problems(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "answer"
        out.append(f"{loc}: {err['msg']}")
    return out


def _reason(error: BaseException | None) -> str:
    if isinstance(error, CircuitOpen):
        return "circuit_open"
    if isinstance(error, Overloaded):
        return "overloaded"
    if isinstance(error, UpstreamTimeout):
        return "timeout"
    if isinstance(error, UpstreamError):
        if isinstance(error.__cause__, InvalidOutput):
            return "refused" if error.__cause__.refused else "invalid_output"
        return f"status_{error.status}" if error.status else "unreachable"
    return type(error).__name__ if error is not None else "unknown"


def _endpoint(client: openai.AsyncOpenAI) -> str:
    """The base URL without credentials or query (for the operator's log line)."""
    url = client.base_url
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}".rstrip("/")


class LLMGateway:
    """See the module docstring. Build once at start-up and share; ``aclose()`` on shutdown."""

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        model: str,
        policy: Policy[LLMAnswer],
        offline: ContentGenerator,
        usage: UsageRepository,
        prices: Prices,
        clock: Clock,
        prompts: Prompts | None = None,
        *,
        limiter: RateLimiter | None = None,
        hold_seconds: float = 300.0,
        send_temperature: bool = True,
    ) -> None:
        self.client = client
        self.model = model
        self.policy = policy
        self.offline = offline
        self.usage = usage
        self.prices = prices
        self.clock = clock
        self.prompts = prompts if prompts is not None else Prompts()
        self.limiter = limiter
        self.hold_seconds = hold_seconds
        self.send_temperature = send_temperature
        self._hold_until: float | None = None
        self._hold_reason = ""
        self._flight: SingleFlight[PolicyResult[LLMAnswer]] = SingleFlight()

    async def aclose(self) -> None:
        await self.client.close()

    # ------------------------------------------------------------------ hold (401/403/404)

    @property
    def held(self) -> str | None:
        """``"auth"`` / ``"model"`` while calls skip the endpoint after a 401/403/404."""
        if self._hold_until is not None and self.clock.monotonic() < self._hold_until:
            return self._hold_reason
        return None

    def _hold(self, problem: str, error: BaseException | None) -> None:
        if self.held is not None:
            return  # one log line per episode
        self._hold_until = self.clock.monotonic() + self.hold_seconds
        self._hold_reason = problem
        status = error.status if isinstance(error, UpstreamError) else None
        if problem == "auth":
            log.error(
                "llm_auth_failed",
                status=status,
                endpoint=_endpoint(self.client),
                model=self.model,
                offline_for_s=self.hold_seconds,
                hint="The model endpoint rejected the API key (OPENAI_API_KEY). Fix the key or "
                "OPENAI_BASE_URL; users get offline drafts meanwhile.",
            )
        else:
            log.error(
                "llm_model_unavailable",
                status=status,
                endpoint=_endpoint(self.client),
                model=self.model,
                offline_for_s=self.hold_seconds,
                hint="The endpoint does not know this model (OPENAI_MODEL) or the base URL is "
                "wrong; users get offline drafts meanwhile.",
            )

    # ------------------------------------------------------------------ ContentGenerator

    async def ideas(self, req: IdeaRequest, *, account_id: int) -> Generated[list[Idea]]:
        started = self.clock.monotonic()
        frame = functools.cache(lambda: IdeaFrame.of(req))  # only when the model is asked
        spec = self.prompts.ideas(req, frame)

        def check(out: BaseModel) -> dict[str, Any]:
            assert isinstance(out, IdeasOut)
            ideas = check_ideas(out, req, frame())
            return {"ideas": [i.model_dump(mode="json") for i in ideas]}

        [res] = await self._run(account_id, [spec], [check])
        if res.data is None:
            offline = await self.offline.ideas(req, account_id=account_id)
            await self._record(account_id, spec, [res], started)
            return self._degraded(offline)
        ideas = [Idea.model_validate(d) for d in res.data["ideas"]][: req.count]
        missing = req.count - len(ideas)
        if missing > 0:
            titles = [i.title for i in ideas]
            more = await self.offline.ideas(
                req.model_copy(
                    update={"count": missing, "avoid_titles": [*req.avoid_titles, *titles]}
                ),
                account_id=account_id,
            )
            seen = {title_key(t) for t in titles}
            for idea in more.value:
                if title_key(idea.title) not in seen:
                    seen.add(title_key(idea.title))
                    ideas.append(idea)
            log.info("llm_ideas_filled", offline=missing, llm=len(titles))
        await self._record(account_id, spec, [res], started)
        return Generated[list[Idea]](value=ideas, source=res.source, model=self.model)

    async def caption(self, req: CaptionRequest, *, account_id: int) -> Generated[CaptionDraft]:
        started = self.clock.monotonic()
        spec = self.prompts.caption(req)

        def check(out: BaseModel) -> dict[str, Any]:
            assert isinstance(out, CaptionOut)
            return {"draft": check_caption(out, req).model_dump(mode="json")}

        [res] = await self._run(account_id, [spec], [check])
        if res.data is None:
            offline = await self.offline.caption(req, account_id=account_id)
            await self._record(account_id, spec, [res], started)
            return self._degraded(offline)
        draft = CaptionDraft.model_validate(res.data["draft"])
        await self._record(account_id, spec, [res], started)
        return Generated[CaptionDraft](value=draft, source=res.source, model=self.model)

    async def hashtags(self, req: HashtagRequest, *, account_id: int) -> Generated[list[str]]:
        started = self.clock.monotonic()
        spec = self.prompts.hashtags(req)

        def check(out: BaseModel) -> dict[str, Any]:
            assert isinstance(out, HashtagsOut)
            return {"hashtags": check_hashtags(out, req)}

        [res] = await self._run(account_id, [spec], [check])
        if res.data is None:
            offline = await self.offline.hashtags(req, account_id=account_id)
            await self._record(account_id, spec, [res], started)
            return self._degraded(offline)
        tags = list(res.data["hashtags"])
        wanted = hashtag_limit(req.platform, req.count)
        if len(tags) < wanted:
            more = await self.offline.hashtags(req, account_id=account_id)
            tags += [t for t in more.value if t not in tags][: wanted - len(tags)]
        await self._record(account_id, spec, [res], started)
        return Generated[list[str]](value=tags[:wanted], source=res.source, model=self.model)

    async def personalize(
        self, req: PersonalizeRequest, *, account_id: int
    ) -> Generated[list[MessageDraft]]:
        if not req.fans:
            return await self.offline.personalize(req, account_id=account_id)
        started = self.clock.monotonic()
        chunks = [
            req.fans[i : i + PERSONALIZE_CHUNK] for i in range(0, len(req.fans), PERSONALIZE_CHUNK)
        ]
        specs = [self.prompts.personalize(req, chunk) for chunk in chunks]
        restricted = req.profile.restricted_words

        def checker(chunk: Sequence[Any]) -> Callable[[BaseModel], dict[str, Any]]:
            def check(out: BaseModel) -> dict[str, Any]:
                assert isinstance(out, DraftsOut)
                return {"drafts": check_drafts(out, list(chunk), restricted)}

            return check

        results = await self._run(account_id, specs, [checker(c) for c in chunks])
        texts: dict[str, str] = {}
        for res in results:
            if res.data is not None:
                texts.update({fan_key(h): t for h, t in res.data["drafts"].items()})
        missing = [f for f in req.fans if fan_key(f.handle) not in texts]
        offline_texts: dict[str, str] = {}
        if missing:
            offline = await self.offline.personalize(
                req.model_copy(update={"fans": missing}), account_id=account_id
            )
            offline_texts = {fan_key(d.fan_handle): d.text for d in offline.value}
        drafts = [
            MessageDraft(
                fan_handle=f.handle,
                text=texts.get(fan_key(f.handle)) or offline_texts.get(fan_key(f.handle), ""),
            )
            for f in req.fans
        ]
        await self._record(account_id, specs[0], results, started)
        if all(r.data is None for r in results):
            return Generated[list[MessageDraft]](
                value=drafts, source="offline", degraded=True, model="offline"
            )
        degraded = any(r.data is None for r in results)
        source: Literal["llm", "cache"] = (
            "cache" if all(r.source == "cache" for r in results) else "llm"
        )
        return Generated[list[MessageDraft]](
            value=drafts, source=source, degraded=degraded, model=self.model
        )

    # ------------------------------------------------------------------ Narrator (/stats)

    async def narrate(self, facts: dict[str, object], plain: str, *, account_id: int) -> str | None:
        """The model's phrasing of computed figures, or None (the caller keeps ``plain``): an
        answer with a number the figures do not have gets the one repair try, then None."""
        started = self.clock.monotonic()
        spec = self.prompts.narrative(dict(facts), plain)
        sources = (json.dumps(facts, default=str), plain)

        def check(out: BaseModel) -> dict[str, Any]:
            assert isinstance(out, NarrativeOut)
            return {"narrative": check_narrative(out, sources)}

        [res] = await self._run(account_id, [spec], [check])
        await self._record(account_id, spec, [res], started)
        return None if res.data is None else str(res.data["narrative"])

    async def advise(self, question: str, profile: Profile, *, account_id: int) -> str | None:
        """The model's answer to a question no command answers, or None (not configured for
        it now: held, rate limited, down, or its answer unusable after the repair try)."""
        started = self.clock.monotonic()
        spec = self.prompts.advice(question, profile)

        def check(out: BaseModel) -> dict[str, Any]:
            assert isinstance(out, AdviceOut)
            return {"answer": check_advice(out, profile.restricted_words)}

        [res] = await self._run(account_id, [spec], [check])
        await self._record(account_id, spec, [res], started)
        return None if res.data is None else str(res.data["answer"])

    # ------------------------------------------------------------------ machinery

    @staticmethod
    def _degraded(out: Generated[Any]) -> Any:
        return out.model_copy(update={"source": "offline", "degraded": True, "model": "offline"})

    async def _entrance(self, account_id: int) -> str | None:
        """None when the call may go upstream, else why not."""
        held = self.held
        if held is not None:
            return f"held_{held}"
        if self.limiter is None:
            return None
        try:
            decision = await self.limiter.hit(f"acct:{account_id}")
        except Exception:  # a broken limiter store must not cost the answer: fail open
            log.warning("llm_rate_limiter_failed", exc_info=True)
            return None
        if not decision.allowed:
            log.info(
                "llm_rate_limited",
                account_id=account_id,
                retry_after=round(decision.retry_after, 1),
                limit=decision.limit,
            )
            return "rate_limited"
        return None

    async def _run(
        self,
        account_id: int,
        specs: Sequence[PromptSpec],
        checks: Sequence[Callable[[BaseModel], dict[str, Any]]],
    ) -> list[_Result]:
        refused = await self._entrance(account_id)
        if refused is not None:
            return [_Result(None, "fallback", reason=refused) for _ in specs]
        if len(specs) == 1:
            return [await self._one(account_id, specs[0], checks[0])]
        return list(
            await asyncio.gather(
                *(self._one(account_id, s, c) for s, c in zip(specs, checks, strict=True))
            )
        )

    async def _one(
        self, account_id: int, spec: PromptSpec, check: Callable[[BaseModel], dict[str, Any]]
    ) -> _Result:
        key = stable_key(self.model, account_id, spec.key)
        box = Spend()  # used only if this caller's function runs (it leads the flight)

        async def upstream() -> LLMAnswer:
            try:
                answer = await self._ask(spec, check, box)
            except BaseException as exc:
                setattr(exc, _SPEND_ATTR, box)
                raise
            answer._llm_spend = box
            return answer

        try:
            # Coalesce the whole guarded call, cache lookup included: with a remote cache the
            # lookup suspends, and a caller could otherwise miss both the cache (not yet
            # written) and the policy's in-flight call (just finished) and call again.
            result = await self._flight.do(
                key, lambda: self.policy.call(key, upstream, fallback=NO_ANSWER)
            )
        except Exception as exc:
            log.exception("llm_gateway_failed", feature=spec.feature)
            return _Result(None, "error", Spend.claim(exc), reason="bug")
        if result.degraded:
            error = result.error
            problem = operator_problem(error)
            if problem is not None:
                self._hold(problem, error)
            cause = error.__cause__ if error is not None else None
            rejected = isinstance(cause, InvalidOutput)
            outcome: Outcome = "rejected" if rejected else "fallback"
            return _Result(None, outcome, Spend.claim(cause), reason=_reason(error))
        if result.cached:
            return _Result(result.value.data, "ok", source="cache", cached=True)
        spend = Spend.claim(result.value)
        return _Result(result.value.data, "ok", spend, cached=spend.requests == 0)

    async def _ask(
        self, spec: PromptSpec, check: Callable[[BaseModel], dict[str, Any]], spend: Spend
    ) -> LLMAnswer:
        content = await self._complete(spec, spec.messages, spend)
        try:
            return LLMAnswer(data=self._parse(spec, content, check), model=self.model)
        except InvalidOutput as exc:
            if exc.refused:
                raise
            problems = exc.problems
        log.info(
            "llm_output_repair",
            feature=spec.feature,
            problems=len(problems),
            first=problems[0][:120],
        )
        repair = self.prompts.repair(spec, content, problems)
        content = await self._complete(spec, repair, spend)
        return LLMAnswer(data=self._parse(spec, content, check), model=self.model, repaired=True)

    async def _complete(
        self, spec: PromptSpec, messages: list[dict[str, str]], spend: Spend
    ) -> str:
        kwargs: dict[str, Any] = {}
        response_format = self.prompts.response_format(spec)
        if response_format is not None:
            kwargs["response_format"] = response_format
        if self.send_temperature:
            kwargs["temperature"] = spec.temperature
        resp = await self.client.chat.completions.create(
            model=self.model,
            messages=messages,  # type: ignore[arg-type]
            **kwargs,
        )
        spend.requests += 1
        choice = resp.choices[0] if resp.choices else None
        content = (choice.message.content or "") if choice is not None else ""
        if resp.usage is not None:
            spend.prompt_tokens += resp.usage.prompt_tokens
            spend.completion_tokens += resp.usage.completion_tokens
        else:  # some compatible servers omit usage: estimate rather than record zero
            spend.prompt_tokens += sum(_estimate_tokens(m["content"]) + 4 for m in messages)
            spend.completion_tokens += _estimate_tokens(content)
        if choice is None:
            raise InvalidOutput(["the answer has no choices"])
        if choice.message.refusal:
            raise InvalidOutput(["the model refused"], refused=True)
        return content

    @staticmethod
    def _parse(
        spec: PromptSpec, content: str, check: Callable[[BaseModel], dict[str, Any]]
    ) -> dict[str, Any]:
        text = _json_text(content)
        try:
            out = spec.output.model_validate_json(text)
        except ValidationError as exc:
            try:
                json.loads(text)
            except ValueError:
                raise InvalidOutput(["the answer is not valid JSON"]) from None
            raise InvalidOutput(_validation_problems(exc)) from None
        return check(out)

    async def _record(
        self, account_id: int, spec: PromptSpec, results: Sequence[_Result], started: float
    ) -> None:
        prompt_tokens = sum(r.spend.prompt_tokens for r in results)
        completion_tokens = sum(r.spend.completion_tokens for r in results)
        requests = sum(r.spend.requests for r in results)
        answered = [r for r in results if r.data is not None]
        outcome: Outcome
        if answered:
            outcome = "ok"
        elif any(r.outcome == "error" for r in results):
            outcome = "error"
        elif any(r.outcome == "rejected" for r in results):
            outcome = "rejected"
        else:
            outcome = "fallback"
        cached = bool(answered) and all(r.cached for r in results)
        latency_ms = max(0.0, (self.clock.monotonic() - started) * 1000.0)
        record = UsageRecord(
            feature=spec.feature,
            model=self.model if (answered or requests) else "offline",
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            cost=self.prices.cost(prompt_tokens, completion_tokens),
            latency_ms=round(latency_ms, 3),
            cached=cached,
            outcome=outcome,
            prompt_version=spec.version,
        )
        log.info(
            "llm_call",
            feature=spec.feature,
            outcome=outcome,
            cached=cached,
            requests=requests,
            tokens=prompt_tokens + completion_tokens,
            reason=",".join(sorted({r.reason for r in results if r.reason})) or None,
            ms=record.latency_ms,
        )
        try:
            async with asyncio.timeout(USAGE_WRITE_TIMEOUT):
                await self.usage.record(account_id, record)
        except Exception:
            log.warning(
                "usage_record_failed",
                feature=spec.feature,
                account_id=account_id,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                outcome=outcome,
                exc_info=True,
            )
