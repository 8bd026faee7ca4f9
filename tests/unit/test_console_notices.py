"""Notices (scheduled summaries, background imports) reach the terminal chat's own user."""

from __future__ import annotations

import io
from pathlib import Path

from adapters.console import ConsoleChat
from core.app import Assistant
from core.models import Identity


async def test_a_notice_is_printed_for_the_terminal_user_only(
    assistant: Assistant, tmp_path: Path
) -> None:
    # the terminal was no notifier: a summary due while `huntaze run` was open went nowhere
    out = io.StringIO()
    chat = ConsoleChat(
        assistant.handle,
        user="mia",
        out_dir=tmp_path,
        stdout=out,
        color=False,
        accounts=assistant.store.accounts,
    )
    await chat.send("/summary daily")
    accounts = assistant.store.accounts
    mia = await accounts.resolve(Identity(platform="console", external_id="mia"))
    zoe = await accounts.resolve(Identity(platform="console", external_id="zoe"))
    await chat.notify(zoe.id, "**Your daily summary**\nfor zoe")
    await chat.notify(mia.id, "**Your daily summary**\nRevenue **$5.00**")
    printed = out.getvalue()
    assert "Your daily summary\nRevenue $5.00" in printed and "for zoe" not in printed
    assert printed.rstrip().endswith(">")  # the prompt is back


def test_run_and_serve_keep_the_schedule_only_without_redis() -> None:
    # no Redis means no `huntaze worker`: the process that serves runs its schedule
    from bot.lifecycle import Adapters, configured_services
    from bot.settings import Settings

    embedded = Settings(_env_file=None)  # type: ignore[call-arg]
    assert set(configured_services(embedded, True, Adapters())) == {"terminal", "http", "schedule"}
    shared = Settings(_env_file=None, redis_url="redis://127.0.0.1:6379/0")  # type: ignore[call-arg]
    assert "schedule" not in configured_services(shared, False, Adapters())
    idle = Settings(_env_file=None, http_enabled=False)  # type: ignore[call-arg]
    assert configured_services(idle, False, Adapters()) == {}  # nothing to run: no schedule alone
