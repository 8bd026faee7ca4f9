"""The conversation layer end to end on the embedded default (SQLite, memory KV, offline)."""

from __future__ import annotations

from sqlalchemy import update

from core.app import Assistant
from core.services.imports import CsvImporter
from storage.repositories import SqlStore
from storage.tables import ProfileRow
from tests.unit.conftest import Chat

PROFILE = (
    "/profile set niches=fitness platforms=instagram content_types=photo "
    "equipment=phone locations=gym tone=playful"
)


async def test_start_opens_the_wizard_and_buttons_complete_it(chat: Chat) -> None:
    reply = await chat.say("/start")
    assert "Profile 1/8" in reply.plain_text
    await chat.press_label("Fitness")
    assert "✓ Fitness" in [b.label for row in chat.last.buttons for b in row]
    await chat.press_label("Next")
    assert "Profile 2/8" in chat.last.plain_text
    await chat.press_label("Instagram")
    await chat.press_label("Next")
    await chat.say("photo, short video")  # typed answers advance
    assert "Profile 4/8" in chat.last.plain_text
    await chat.say("ring light, phone")
    await chat.say("gym")
    await chat.press_label("Skip")  # goals
    await chat.press_label("Playful")  # single choice advances
    reply = await chat.say("skip")
    assert "Saved!" in reply.plain_text
    profile = reply.result
    assert profile["niches"] == ["fitness"]
    assert profile["content_types"] == ["photo", "short_video"]
    assert profile["equipment"] == ["ring_light", "phone"]
    assert profile["tone"] == "playful"


async def test_required_step_insists(chat: Chat) -> None:
    await chat.say("/profile")
    reply = await chat.press_label("Next")
    assert "choose at least one" in reply.plain_text
    assert "Profile 1/8" in reply.plain_text


async def test_unknown_strict_value_shows_choices(chat: Chat) -> None:
    await chat.say("/profile")
    await chat.say("fitness")
    reply = await chat.say("myspace")
    assert "don't know" in reply.plain_text and "Profile 2/8" in reply.plain_text


async def test_typos_are_corrected_and_a_stray_letter_is_refused(chat: Chat) -> None:
    # "phon" was kept as equipment of the creator's own, and "a" too, without a word.
    await chat.say("/profile")
    for answer in ["fitness", "instagran", "photo"]:  # a typo of a platform too
        await chat.say(answer)
    refused = await chat.say("a")
    assert "I don't know “a” as equipment. Try: Phone, Ring light," in refused.plain_text
    assert "Profile 4/8" in refused.plain_text
    await chat.say("phon, ring lite, drone cam")
    await chat.say("bedrom")
    await chat.say("skip")  # goals
    await chat.press_label("Bold")
    saved = await chat.say("skip")
    assert "Equipment: Phone, Ring light, Drone cam" in saved.plain_text, saved.plain_text
    assert "Locations: Bedroom" in saved.plain_text
    assert "Platforms: Instagram" in saved.plain_text


async def test_ideas_before_profile_starts_wizard_then_answers(chat: Chat) -> None:
    reply = await chat.say("/ideas 3")
    assert "set up your profile" in reply.plain_text
    for answer in ["cosplay", "tiktok", "short video", "phone", "home", "skip"]:
        await chat.say(answer)
    await chat.press_label("Bold")
    reply = await chat.say("skip")
    assert "Saved!" in reply.plain_text
    assert isinstance(reply.result, list) and len(reply.result) == 3  # the pending /ideas 3 ran
    assert {i["content_type"] for i in reply.result} == {"short_video"}


async def test_ideas_fit_the_profile_and_buttons_work(chat: Chat, assistant: Assistant) -> None:
    await chat.say(PROFILE)
    reply = await chat.say("/ideas 5")
    ideas = reply.result
    assert len(ideas) == 5
    for idea in ideas:
        assert idea["content_type"] == "photo"
        assert idea["location"] == "gym"
        assert set(idea["equipment"]) <= {"phone"}
        for key in [
            "title",
            "description",
            "platform",
            "difficulty",
            "time_to_create",
            "best_time_to_post",
            "tags",
        ]:
            assert idea[key], key
    assert len(reply.buttons) == 5 and len(reply.buttons[0]) == 3
    first = ideas[0]["id"]
    saved = await chat.press(f"idea:save:{first}")
    assert "Saved" in saved.plain_text
    assert [i.id for i in await assistant.store.ideas.saved(1)] == [first]
    caption = await chat.press(f"idea:cap:{first}")
    assert caption.result["platform"] == "instagram"
    more = await chat.press(f"idea:more:{first}")
    assert len(more.result) == 3
    titles = {i["title"].lower() for i in ideas}
    assert not titles & {i["title"].lower() for i in more.result}


async def test_ideas_as_people_ask_for_them(chat: Chat) -> None:
    # "/ideas 3 reels for instagram" answered "I don't understand “reels”".
    await chat.say(PROFILE)  # photos only
    reels = await chat.say("/ideas 3 reels for instagram please")
    assert reels.plain_text.startswith("Here are 3 short video ideas for you:")
    assert [(i["content_type"], i["platform"]) for i in reels.result] == [
        ("short_video", "instagram")
    ] * 3
    sets = (await chat.say("/ideas photo set for OF")).result
    assert {(i["content_type"], i["platform"]) for i in sets} == {("photo_set", "onlyfans")}
    assert len(sets) == 5
    tiktok = (await chat.say("/ideas 2 creative tiktok")).result  # a platform, not a kind
    assert len(tiktok) == 2 and {i["platform"] for i in tiktok} == {"tiktok"}
    assert (await chat.say("/ideas 3 cats")).plain_text.startswith("Here are 3 ideas about “cats”")
    # a mistyped creativity or platform is still one, not a topic
    typos = await chat.say("/ideas 2 creatve instagran")
    assert typos.plain_text.startswith("Here are 2 ideas for you:")
    assert {(i["platform"], i["topic"]) for i in typos.result} == {("instagram", "")}
    # the profile is unchanged: a plain /ideas is photos again
    assert {i["content_type"] for i in (await chat.say("/ideas 2")).result} == {"photo"}


async def test_ideas_about_a_topic_and_more_like_them(chat: Chat) -> None:
    # "/ideas halloween" answered "I don't understand “halloween”"
    await chat.say(PROFILE)
    reply = await chat.say("/ideas 3 about halloween for tiktok")
    assert reply.plain_text.startswith("Here are 3 ideas about “halloween”:")
    for idea in reply.result:
        assert "halloween" in f"{idea['title']} {idea['description']}".lower()
        assert (idea["topic"], idea["platform"]) == ("halloween", "tiktok")
    more = await chat.press(f"idea:more:{reply.result[0]['id']}")  # stays on the topic
    assert len(more.result) == 3
    for idea in more.result:
        assert "halloween" in f"{idea['title']} {idea['description']}".lower()
    beach = await chat.say("/ideas 2 day at the beach")
    assert {i["topic"] for i in beach.result} == {"day at the beach"}
    long = await chat.say("/ideas " + "very " * 20 + "long")
    assert "topic must be at most 80 characters" in long.plain_text
    await chat.say("/profile set restricted_words=lingerie")
    refused = await chat.say("/ideas red lingerie")
    assert "restricted words" in refused.plain_text and not refused.result


async def test_five_rounds_give_25_distinct_ideas(chat: Chat) -> None:
    await chat.say(PROFILE)
    titles: list[str] = []
    for _ in range(5):
        titles += [i["title"].lower() for i in (await chat.say("/ideas 5")).result]
    assert len(titles) == 25 and len(set(titles)) == 25


async def test_bad_input_gets_friendly_answers(chat: Chat) -> None:
    await chat.say(PROFILE)
    assert "Did you mean /ideas" in (await chat.say("/idea 5")).plain_text
    reply = await chat.say("/ideas 500")
    assert "count must be a number from 1 to 10" in reply.plain_text
    assert "Usage: /ideas" in reply.plain_text
    reply = await chat.say('/personalize "Hey {name}, missed you for @mia')
    assert "unclosed quote" in reply.plain_text and "Usage: /personalize" in reply.plain_text
    await chat.say("/fans add @mia_rose name=Mia tier=vip")
    await chat.say("/fans add @miami_vice")
    reply = await chat.say('/personalize "Hey {name}" for @mia_ros')
    assert "don't have a fan called @mia_ros" in reply.plain_text
    assert "@mia_rose" in reply.plain_text
    reply = await chat.say('/personalize "Hey {nmae}" for @mia_rose')
    assert "nmae" in reply.plain_text
    assert "Traceback" not in reply.plain_text


async def test_personalize_uses_fan_details(chat: Chat) -> None:
    await chat.say(PROFILE)
    await chat.say("/fans add @mia name=Mia tier=vip spent=240 last_active=2026-10-01")
    reply = await chat.say('/personalize "Hey {name}, it has been {days_inactive} days" for mia')
    text = reply.result[0]["text"]
    assert "Mia" in text and "54" in text and "{" not in text


async def test_caption_and_hashtags_respect_platform(chat: Chat) -> None:
    await chat.say(PROFILE)
    reply = await chat.say("/caption leg day pump at the gym x")
    assert reply.result["platform"] == "x"
    reply = await chat.say("/hashtags leg day instagram")
    assert 0 < len(reply.result) <= 30


async def test_restricted_words_never_in_drafts(chat: Chat) -> None:
    await chat.say(PROFILE + " restricted_words=sweat,pump,workout")
    replies = [await chat.say("/ideas 10")]
    replies.append(await chat.say("/caption sweat and pump workout session instagram"))
    replies.append(await chat.say("/hashtags pump workout instagram"))
    for r in replies:
        text = r.plain_text.lower()
        for word in ("sweat", "pump", "workout"):
            assert word not in text, (word, text)


async def test_tenancy_buttons_cannot_reach_another_account(assistant: Assistant) -> None:
    alice, bob = Chat(assistant, "alice"), Chat(assistant, "bob")
    await alice.say(PROFILE)
    await bob.say(PROFILE)
    idea_id = (await alice.say("/ideas 1")).result[0]["id"]
    for verb in ("save", "cap", "more"):
        reply = await bob.press(f"idea:{verb}:{idea_id}")
        assert "can't find that idea" in reply.plain_text
    assert await assistant.store.ideas.saved(2) == []


async def test_cancel_and_plain_text(chat: Chat) -> None:
    await chat.say("/profile")
    assert "Cancelled" in (await chat.say("/cancel")).plain_text
    assert "nothing to cancel" in (await chat.say("/cancel")).plain_text
    assert "/help" in (await chat.say("hello?")).plain_text
    assert "expired" in (await chat.press("wz:n")).plain_text


async def test_help_lists_registry(chat: Chat, assistant: Assistant) -> None:
    reply = await chat.say("/help")
    for command in assistant.registry.all():
        assert f"/{command.name}" in reply.plain_text
    # One Discord message (2,000 characters, markdown included): when /ideas and /sold grew,
    # /help came in two. Keep usages and descriptions short.
    from adapters.discord.render import render_reply

    messages = render_reply(reply)
    assert len(messages) == 1, [len(m.content or "") for m in messages]


async def test_an_unreadable_stored_profile_fails_only_the_commands_that_use_it(
    chat: Chat, assistant: Assistant
) -> None:
    """The profile comes with the account in one statement; a stored profile that no longer
    validates (an older version's data, a hand edit) must not take every command down with it."""
    await chat.say("/profile set niches=fitness platforms=instagram")
    account = await assistant.store.accounts.resolve(chat.user.identity())
    store = assistant.store
    assert isinstance(store, SqlStore)
    async with store.sessions() as session, session.begin():
        await session.execute(
            update(ProfileRow)
            .where(ProfileRow.account_id == account.id)
            .values(data={"niches": {"not": "a list"}})
        )
    assert await store.accounts.resolve_with_profile(chat.user.identity()) == (account, None)
    help_reply = await chat.say("/help")
    assert "/ideas" in help_reply.plain_text
    assert "Your plan: Free" in (await chat.say("/plan")).plain_text
    ideas = await chat.say("/ideas")  # reads the profile: fails as it did, with a reference
    assert "Something went wrong" in ideas.plain_text and "ref" in ideas.plain_text
    # What only needs the account's clock reads it as having no time zone (UTC).
    importer = CsvImporter(store, assistant.clock)
    report = await importer.import_csv(account.id, "e.csv", b"date,amount\n2026-11-20 21:00,5\n")
    assert "1 new transactions added" in report
    stats = (await chat.say("/stats all")).plain_text
    assert "Revenue $5.00" in stats and "best hour 21:00–22:00 UTC" in stats


async def test_saved_ideas_are_listed_and_can_be_removed(chat: Chat) -> None:
    # "Save" said "Saved to your ideas", and no command showed them again
    await chat.say(PROFILE)
    assert "No saved ideas yet" in (await chat.say("/saved")).plain_text
    ideas = (await chat.say("/ideas 3")).result
    for idea in ideas[:2]:
        assert "/saved lists your ideas" in (await chat.press(f"idea:save:{idea['id']}")).plain_text
    listed = await chat.say("/saved")
    assert sorted(i["id"] for i in listed.result) == sorted(i["id"] for i in ideas[:2])
    assert listed.plain_text.startswith("Your saved ideas:")
    assert [b.label for b in listed.buttons[0]] == ["1. Caption", "More like this", "Remove"]
    removed = await chat.press(f"idea:unsave:{ideas[0]['id']}")
    assert removed.plain_text.startswith("Removed “")
    assert [i["id"] for i in (await chat.say("/saved")).result] == [ideas[1]["id"]]
    # another account's saved ideas are not in the list, and its buttons do nothing here
    other = await Chat(chat.app, "zoe").press(f"idea:unsave:{ideas[1]['id']}")
    assert "can't find that idea" in other.plain_text
    assert [i["id"] for i in (await chat.say("/saved")).result] == [ideas[1]["id"]]


async def test_week_plans_one_idea_a_day_at_a_good_time(chat: Chat) -> None:
    # "what should I post this week" had ideas without days: nothing planned a week
    await chat.say(PROFILE)
    await chat.say("/timezone Europe/Berlin")
    reply = await chat.say("/week halloween")
    # the clock of these tests: Tuesday 24 November 2026, 13:00 in Berlin
    assert reply.plain_text.startswith("Your week about “halloween”: Wed Nov 25 – Tue Dec 1")
    days = ["Wed Nov 25", "Thu Nov 26", "Fri Nov 27", "Sat Nov 28", "Sun Nov 29", "Mon Nov 30"]
    slots = {"Wed": "11:00", "Thu": "12:00", "Fri": "10:00", "Sat": "10:00", "Sun": "19:00"}
    slots["Mon"], slots["Tue"] = "11:00", "09:00"  # Instagram's first slot of each weekday
    posts = [i["best_time_to_post"] for i in reply.result]
    assert posts == [f"{d}, {slots[d[:3]]}" for d in [*days, "Tue Dec 1"]]
    assert all("halloween" in f"{i['title']} {i['description']}".lower() for i in reply.result)
    assert "on your clock (Europe/Berlin)" in reply.plain_text
    assert len(reply.buttons) == 7 + 1  # each idea's, then Remind me at these times
    later = await chat.say("/ideas 5")  # the week's ideas are history: not offered again
    assert not {i["title"] for i in later.result} & {i["title"] for i in reply.result}
    three = await chat.say("/week 3 tiktok")  # fewer days ("/week 3" ignored the number)
    assert three.plain_text.startswith("Your next 3 days: Wed Nov 25 – Fri Nov 27")
    assert [i["platform"] for i in three.result] == ["tiktok"] * 3
    assert "count must be a number from 1 to 7" in (await chat.say("/week 9")).plain_text
