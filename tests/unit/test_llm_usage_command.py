"""/usage on a real SQLite store: today's and this month's calls, tokens, cost, by feature."""

from __future__ import annotations

from decimal import Decimal

from core.app import Assistant
from core.models import Identity
from core.ports import UsageRecord
from tests.fakes.clock import FakeClock
from tests.unit.conftest import Chat


def row(feature: str, p: int, c: int, cost: str, outcome: str = "ok") -> UsageRecord:
    return UsageRecord(
        feature=feature,
        model="gpt-test",
        prompt_tokens=p,
        completion_tokens=c,
        cost=Decimal(cost),
        outcome=outcome,
        prompt_version=f"{feature}@1",
    )


async def test_usage_shows_today_and_this_month(
    chat: Chat, assistant: Assistant, clock: FakeClock
) -> None:
    empty = await chat.say("/usage")
    assert "No AI calls." in empty.plain_text
    assert empty.result["today"]["calls"] == 0 and empty.result["month"]["calls"] == 0

    account = await assistant.store.accounts.resolve(
        Identity(platform="console", external_id="alice")
    )
    usage = assistant.store.usage
    # Nov 24 (the clock's start), then Nov 25 twice, then Dec 1.
    await usage.record(account.id, row("ideas", 1000, 500, "0.000450"))
    clock.advance(24 * 3600)
    await usage.record(account.id, row("caption", 200, 100, "0.000090"))
    await usage.record(account.id, row("caption", 0, 0, "0", outcome="fallback"))
    other = await assistant.store.accounts.resolve(Identity(platform="console", external_id="bo"))
    await usage.record(other.id, row("ideas", 9999, 9999, "1.0"))  # another tenant

    reply = await chat.say("/usage")
    today, month = reply.result["today"], reply.result["month"]
    assert today == {
        "calls": 2,
        "prompt_tokens": 200,
        "completion_tokens": 100,
        "cost": "0.000090",
        "by_feature": {"caption": 2},
    }
    assert month["calls"] == 3 and month["prompt_tokens"] == 1200
    assert month["completion_tokens"] == 600 and Decimal(month["cost"]) == Decimal("0.00054")
    assert month["by_feature"] == {"caption": 2, "ideas": 1}
    text = reply.plain_text
    assert "Today" in text and "This month (November 2026)" in text
    assert "2 calls · 300 tokens (200 in, 100 out) · $0.0001" in text
    assert "3 calls · 1,800 tokens" in text and "captions 2, ideas 1" in text

    clock.advance(6 * 24 * 3600)  # Dec 1: a new day and a new month
    await usage.record(account.id, row("hashtags", 10, 10, "0.02"))
    reply = await chat.say("/usage")
    assert reply.result["today"]["calls"] == 1 and reply.result["month"]["calls"] == 1
    assert reply.result["month"]["by_feature"] == {"hashtags": 1}
    assert "This month (December 2026)" in reply.plain_text and "$0.02" in reply.plain_text


async def test_usage_is_listed_in_help(chat: Chat) -> None:
    reply = await chat.say("/help")
    assert "usage" in reply.result
