"""Teams: an agency's manager or chatter works on a creator's account from their own chat
(``/team``, ``/accounts``), on SQLite and PostgreSQL — and never on an account whose team they
are not on (any more)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.jobs import FileDeadLetters, LocalJobQueue
from core.chat import Reply
from core.jobs import JobRunner
from core.resilience.ratelimit import RateLimiter
from core.services.imports import CsvImporter
from storage.repositories import SqlStore
from storage.tables import CodeRow, MemberRow
from tests.fakes.clock import FakeClock
from tests.fakes.stripe_api import RecordingNotifier
from tests.unit.conftest import Chat, assistant_on, run_summaries


def _code(reply: Reply) -> str:
    found = re.search(r"Invite code ([A-Z0-9]{8}) ", reply.plain_text)
    assert found, reply.plain_text
    return found.group(1)


async def _fans(chat: Chat) -> list[str]:
    reply = await chat.say("/fans")
    return sorted(f["handle"] for f in reply.result or [])


async def test_a_chatter_works_on_the_creators_account_until_taken_off(
    store: SqlStore, clock: FakeClock
) -> None:
    notices = RecordingNotifier()
    app = assistant_on(store, clock, notifier=notices)
    mia = Chat(app, "mia", platform="telegram")
    leo = Chat(app, "leo", platform="discord")  # the agency's chatter, on Discord
    zoe = Chat(app, "zoe", platform="telegram")  # another creator
    await mia.say(
        "/profile set niches=fitness platforms=instagram content_types=photo "
        "equipment=phone locations=gym goals=grow tone=playful"
    )
    await mia.say("/fans add whale1 tier=vip spent=900")
    await zoe.say("/fans add zoefan spent=5")
    await leo.say("/fans add leos_own_fan")
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    leo_id = (await store.accounts.resolve(leo.user.identity())).id

    assert "No one else works on your account" in (await mia.say("/team")).plain_text
    invite = await mia.say("/team invite")
    assert invite.ephemeral and invite.result["expires_in"] == 86_400
    code = _code(invite)

    joined = await leo.say(f"/team join {code.lower()}")
    assert "You joined @mia (Telegram)'s team as a chatter" in joined.plain_text
    assert joined.result == {"account_id": mia_id, "role": "chatter"}
    # Mia hears of it at once (a code passed to the wrong person shows).
    assert notices.to(mia_id) == [
        "@leo (Discord) joined your team as a chatter with an invite code and can work on your "
        "account now. /team lists your team; /team remove takes someone off."
    ]
    # Leo now works on Mia's account: her fans, ideas saved to her history.
    assert await _fans(leo) == ["whale1"]
    ideas = await leo.say("/ideas 2")
    assert len(ideas.result) == 2, ideas.plain_text
    assert len(await store.ideas.recent_titles(mia_id, 10)) == 2
    assert await store.ideas.recent_titles(leo_id, 10) == []
    # The code was for one person.
    taken = await zoe.say(f"/team join {code}")
    assert "unknown or has expired" in taken.plain_text
    assert await _fans(zoe) == ["zoefan"]

    listed = await mia.say("/team")
    assert "1. @leo (Discord), chatter — since" in listed.plain_text
    assert "working on your account now" in listed.plain_text
    # What is the owner's stays the owner's.
    for command in ("/buy pro", "/apikey", "/link"):
        refused = await leo.say(command)
        assert "is for the account's owner" in refused.plain_text, command
    assert await store.api_keys.list(mia_id) == []
    assert "its owner manages the team" in (await leo.say("/team invite")).plain_text
    assert "its owner manages the team" in (await leo.say("/team remove 1")).plain_text

    # A chatter works with the fans and the content, not the earnings.
    earnings = b"Date,Amount,Currency\n2026-11-14 10:00,40,USD\n2026-11-20 10:00,50,USD\n"
    await CsvImporter(store, clock).import_csv(mia_id, "e.csv", earnings + b"2026-11-22,30,USD\n")
    for command in ("/stats", "/summary daily", "how much did I make this week?"):
        refused = await leo.say(command)
        assert "is for the account's owner and managers" in refused.plain_text, command
        assert "$" not in refused.plain_text
    assert await store.summaries.get(mia_id) is None
    assert "for the account's owner and managers" in (await leo.say("/fans export")).plain_text
    priced = await leo.say("/price")  # prices are a chatter's work too
    assert "for the account's" not in priced.plain_text, priced.plain_text
    # A manager sees them: /stats, and /accounts gives each account's week at a glance ($80 in
    # the last 7 days against $40 the 7 before); a chatter's line says only the role.
    ann = Chat(app, "ann", platform="telegram")
    await ann.say("/team join " + _code(await mia.say("/team invite manager")))
    assert "Revenue $80.00" in (await ann.say("/stats 7d")).plain_text
    assert (await ann.say("/fans export")).result == {"fans": 1, "matching": 1}
    assert "2. @mia (Telegram) ✓ now — $80.00 (+100%)" in (await ann.say("/accounts")).plain_text
    # With a monthly goal (a manager may set it), the month against it too: $120 of $160.
    await ann.say("/goal 160")
    assert "— $80.00 (+100%) · November goal 75%" in (await ann.say("/accounts")).plain_text
    accounts = await leo.say("/accounts")
    assert "1. Your own — no earnings imported" in accounts.plain_text
    assert "2. @mia (Telegram) ✓ now — as a chatter" in accounts.plain_text
    # Fans who joined her account lately: a chatter's work (a welcome), in his glance too.
    joined = b"Username,Join Date\nnewbie,2026-11-22\nolder,2026-10-01\n"
    await CsvImporter(store, clock).import_csv(mia_id, "subscribers.csv", joined)
    accounts = await leo.say("/accounts")
    assert "2. @mia (Telegram) ✓ now — as a chatter · 1 new fan" in accounts.plain_text
    assert "1. Your own — no earnings imported\n" in accounts.plain_text
    own = await leo.press_label("Your own")
    assert own.result == {"account_id": leo_id}
    assert await _fans(leo) == ["leos_own_fan"]
    assert (await leo.say("/accounts 2")).result == {"account_id": mia_id}
    assert await _fans(leo) == ["newbie", "older", "whale1"]
    assert len((await mia.say("/team")).result["members"]) == 2

    # Mia takes him off: from his next message he is back on his own account.
    removed = await mia.say("/team remove 1")
    assert "@leo (Discord) is off your team" in removed.plain_text
    assert notices.to(leo_id) == [
        "You're no longer on @mia (Telegram)'s team; you work on your own account."
    ]
    assert await _fans(leo) == ["leos_own_fan"]
    gone = await leo.press(f"team:use:{mia_id}")
    assert "no longer on that team" in gone.plain_text
    assert "no longer on that team" in (await leo.say("/accounts 2")).plain_text.replace(
        "There is no account 2", "no longer on that team"
    )
    assert await _fans(leo) == ["leos_own_fan"]
    # A button pressed by someone who was never on the team switches nothing.
    forged = await zoe.press(f"team:use:{mia_id}")
    assert "no longer on that team" in forged.plain_text
    assert await _fans(zoe) == ["zoefan"]
    assert await _fans(mia) == ["newbie", "older", "whale1"]


async def test_joining_leaving_and_codes(store: SqlStore, clock: FakeClock) -> None:
    notices = RecordingNotifier()
    app = assistant_on(store, clock, notifier=notices)
    mia, leo = Chat(app, "mia"), Chat(app, "leo")
    own = await mia.say("/team join " + _code(await mia.say("/team invite")))
    assert "your own account's code" in own.plain_text
    assert (await mia.say("/team")).result == {"members": []}
    # Codes last a day.
    late = _code(await mia.say("/team invite"))
    clock.advance(86_401)
    assert "expired" in (await leo.say(f"/team join {late}")).plain_text
    assert "Send /team join CODE" in (await leo.say("/team join")).plain_text
    # Twice on the same team: one membership.
    await leo.say("/team join " + _code(await mia.say("/team invite")))
    again = await leo.say("/team join " + _code(await mia.say("/team invite")))
    assert "You're on @mia (terminal)'s team as a chatter" in again.plain_text
    assert len((await mia.say("/team")).result["members"]) == 1
    assert len(notices.sent) == 1  # told once, when he joined
    # Leaving the team is done from it.
    await leo.say("/accounts 1")
    assert "switch to it with /accounts first" in (await leo.say("/team leave")).plain_text
    await leo.say("/accounts 2")
    left = await leo.say("/team leave")
    assert "You left that team" in left.plain_text
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    assert notices.to(mia_id)[-1] == "@leo (terminal) left your team."
    assert (await mia.say("/team")).result == {"members": []}
    assert "own account only" in (await leo.say("/accounts")).plain_text
    assert "There is no member 3" in (await mia.say("/team remove 3")).plain_text


async def test_codes_outlive_a_restart_are_listed_and_withdrawn(
    store: SqlStore, clock: FakeClock, db_engine: AsyncEngine
) -> None:
    """The embedded default keeps its key-value store in memory: an invite made before a
    restart still works after it, because codes live in the database (hashed)."""
    mia = Chat(assistant_on(store, clock), "mia")
    manager = _code(await mia.say("/team invite manager"))
    chatter = _code(await mia.say("/team invite"))
    async with db_engine.connect() as conn:
        kept = (await conn.execute(select(CodeRow.code_hash, CodeRow.value))).all()
    assert sorted(v for _, v in kept) == ["chatter", "manager"]
    assert not {manager, chatter} & {h for h, _ in kept}  # the codes themselves are not kept
    listed = (await mia.say("/team")).plain_text
    assert "Invite codes not used yet (UTC): a manager's until" in listed
    assert "a chatter's until" in listed and "/team invite cancel" in listed
    # A new process on the same database: the code still works, once, in any case.
    restarted = assistant_on(store, clock)
    leo, zoe = Chat(restarted, "leo"), Chat(restarted, "zoe")
    joined = await leo.say(f"/team join {manager.lower()}")
    assert joined.result is not None and joined.result["role"] == "manager"
    assert "unknown or has expired" in (await zoe.say(f"/team join {manager}")).plain_text
    mia = Chat(restarted, "mia")
    assert "a manager's" not in (await mia.say("/team")).plain_text
    # Withdrawn: the chatter's code no longer works.
    withdrawn = await mia.say("/team invite cancel")
    assert withdrawn.result == {"withdrawn": 1}
    assert "unknown or has expired" in (await zoe.say(f"/team join {chatter}")).plain_text
    assert (await mia.say("/team invite cancel")).result == {"withdrawn": 0}
    assert "Invite codes not used yet" not in (await mia.say("/team")).plain_text


async def test_each_member_has_their_own_command_rate(store: SqlStore, clock: FakeClock) -> None:
    # The limit protects the service from one person's burst: a chatter typing fast must not
    # lock the creator (or the other chatters) out of her own account.
    app = assistant_on(store, clock, rate_limiter=RateLimiter("3/minute", namespace="cmd"))
    mia, leo = Chat(app, "mia"), Chat(app, "leo")
    code = _code(await mia.say("/team invite"))
    await leo.say(f"/team join {code}")
    for _ in range(3):
        await leo.say("/usage")
    assert "going a bit fast" in (await leo.say("/usage")).plain_text
    assert "going a bit fast" not in (await mia.say("/usage")).plain_text


async def test_managers_get_the_creators_summaries_chatters_do_not(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    notices = RecordingNotifier()
    app = assistant_on(store, clock, notifier=notices)
    mia = Chat(app, "mia", platform="telegram")
    ann, leo = Chat(app, "ann", platform="discord"), Chat(app, "leo", platform="discord")
    ann_id = (await store.accounts.resolve(ann.user.identity())).id
    leo_id = (await store.accounts.resolve(leo.user.identity())).id
    await ann.say("/team join " + _code(await mia.say("/team invite manager")))
    await leo.say("/team join " + _code(await mia.say("/team invite")))
    assert "Done" in (await ann.say("/summary daily")).plain_text  # a manager may set it
    mia_id = (await store.accounts.resolve(mia.user.identity())).id
    await CsvImporter(store, clock).import_csv(mia_id, "e.csv", b"Date,Amount\n2026-11-24,42\n")
    notices.sent.clear()
    await run_summaries(app, notices, datetime(2026, 11, 25, 8, 0, tzinfo=UTC), tmp_path)
    [mine] = notices.to(mia_id)
    assert mine.startswith("**Your daily summary**") and "$42.00" in mine
    [hers] = notices.to(ann_id)
    assert hers.startswith("**@mia (Telegram): daily summary**") and "$42.00" in hers
    assert notices.to(leo_id) == []


async def test_an_unknown_stored_role_is_a_chatters(store: SqlStore, clock: FakeClock) -> None:
    # A role this version does not know (hand-edited, written by a later version) must neither
    # fail every message of the member nor give them more than a chatter has.
    app = assistant_on(store, clock)
    mia, leo = Chat(app, "mia"), Chat(app, "leo")
    await leo.say("/team join " + _code(await mia.say("/team invite manager")))
    async with store.sessions() as session, session.begin():
        await session.execute(update(MemberRow).values(role="admin"))
    assert "Your fan list is empty" in (await leo.say("/fans")).plain_text
    assert "owner and managers" in (await leo.say("/stats")).plain_text


async def test_the_owner_changes_a_members_role(store: SqlStore, clock: FakeClock) -> None:
    notices = RecordingNotifier()
    app = assistant_on(store, clock, notifier=notices)
    mia, leo, zoe = Chat(app, "mia"), Chat(app, "leo"), Chat(app, "zoe")
    await leo.say("/team join " + _code(await mia.say("/team invite")))
    leo_id = (await store.accounts.resolve(leo.user.identity())).member_id
    assert "owner and managers" in (await leo.say("/stats")).plain_text
    promoted = await mia.say("/team role 1 manager")
    assert promoted.result == {"member": leo_id, "role": "manager"}
    assert notices.to(leo_id)[-1].startswith("On @mia (terminal)'s team you're a manager now")
    assert "owner and managers" not in (await leo.say("/stats")).plain_text
    assert "1. @leo (terminal), manager" in (await mia.say("/team")).plain_text
    await mia.say("/team role 1 chatter")
    assert "owner and managers" in (await leo.say("/stats")).plain_text
    assert "There is no member 2" in (await mia.say("/team role 2 manager")).plain_text
    assert "Send /team role N manager" in (await mia.say("/team role 1")).plain_text
    # Only the owner: a member, or someone off the team, changes nothing.
    assert "its owner manages the team" in (await leo.say("/team role 1 manager")).plain_text
    assert (await zoe.say("/team role 1 manager")).plain_text.startswith("There is no member 1")
    assert "owner and managers" in (await leo.say("/stats")).plain_text


async def test_the_owner_sees_what_the_team_did(
    store: SqlStore, clock: FakeClock, tmp_path: Path
) -> None:
    app = assistant_on(store, clock)
    mia, leo, zoe = Chat(app, "mia"), Chat(app, "leo", platform="discord"), Chat(app, "zoe")
    await mia.say("/timezone Europe/Berlin")
    empty = await mia.say("/team activity")
    assert "No one on your team has done anything" in empty.plain_text
    await leo.say("/team join " + _code(await mia.say("/team invite")))
    await leo.say("/fans add whale1")
    clock.advance(60)
    await leo.say("/stats")  # refused: recorded as what it was
    await mia.say("/fans")  # the owner's own: not team activity
    await zoe.say("/fans add other")
    activity = await mia.say("/team activity")
    lines = activity.plain_text.splitlines()
    assert lines[0] == "What your team did lately (Europe/Berlin), newest first:"
    assert lines[1] == "Nov 24 13:01 · @leo (Discord) · /stats"
    assert lines[2] == "Nov 24 13:00 · @leo (Discord) · /fans"
    assert [a["command"] for a in activity.result] == ["stats", "fans"]  # joining was his own
    # A member does not read it; another account has none; 90 days later it is gone.
    assert "its owner manages the team" in (await leo.say("/team activity")).plain_text
    assert (await zoe.say("/team activity")).result == []
    queue = LocalJobQueue(
        JobRunner(app, RecordingNotifier()), FileDeadLetters(tmp_path / "d"), clock
    )
    from bot.jobs import due_hourly

    clock.advance(91 * 86_400)
    await due_hourly(queue.runner, queue, clock.now())
    assert (await mia.say("/team activity")).result == []
