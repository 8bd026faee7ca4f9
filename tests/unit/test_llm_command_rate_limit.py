"""The per-account command rate limit at the Assistant's entrance."""

from __future__ import annotations

from core.app import Assistant
from core.llm.offline import OfflineEngine
from core.llm.policies import close_limits_storage, open_limits_storage
from core.resilience import MemoryKV, RateLimiter
from tests.fakes.clock import FakeClock
from tests.services import free_port
from tests.unit.conftest import Chat


def limited(assistant: Assistant, clock: FakeClock, limiter: RateLimiter) -> Assistant:
    return Assistant(
        store=assistant.store,
        generator=OfflineEngine(),
        kv=MemoryKV(clock=clock),
        clock=clock,
        rate_limiter=limiter,
    )


async def test_over_the_limit_gets_a_friendly_answer_per_account(
    assistant: Assistant, clock: FakeClock
) -> None:
    app = limited(assistant, clock, RateLimiter("3/minute", namespace="cmd"))
    alice, bo = Chat(app, "alice"), Chat(app, "bo")
    for _ in range(3):
        assert "What I can do" in (await alice.say("/help")).plain_text
    denied = await alice.say("/help")
    assert "going a bit fast" in denied.plain_text and "What I can do" not in denied.plain_text
    assert "wait" in denied.plain_text and " s " in denied.plain_text
    assert "What I can do" in (await bo.say("/help")).plain_text  # bo has his own budget


async def test_a_broken_limiter_store_fails_open(assistant: Assistant, clock: FakeClock) -> None:
    storage = open_limits_storage(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens
    try:
        app = limited(assistant, clock, RateLimiter("1/minute", storage=storage))
        chat = Chat(app, "alice")
        for _ in range(3):
            assert "What I can do" in (await chat.say("/help")).plain_text
    finally:
        await close_limits_storage(storage)
