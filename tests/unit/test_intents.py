"""Plain sentences read as commands (core.intents) and answered through the command."""

from __future__ import annotations

import pytest

from core.intents import read
from tests.unit.conftest import Chat


@pytest.mark.parametrize(
    ("sentence", "line"),
    [
        ("what should I post today?", "/ideas"),
        ("give me 3 ideas for halloween please", "/ideas 3 for halloween"),
        ("can you give me some content ideas for my beach shoot", "/ideas beach shoot"),
        ("3 tiktok ideas about my gym", "/ideas 3 tiktok about my gym"),
        ("need inspiration", "/ideas"),
        ("what should I post this week?", "/week"),
        ("plan my week around halloween", "/week halloween"),
        ("make me a content calendar for tiktok", "/week tiktok"),
        ("write a caption for my beach pics for instagram", "/caption beach pics for instagram"),
        ("Caption: new gym set", "/caption new gym set"),
        ("hashtags for gym selfie", "/hashtags gym selfie"),
        ("how much did I make this week?", "/stats thisweek"),
        ("my earnings last 30 days on fansly", "/stats 30d fansly"),
        ("revenue this month from OF", "/stats thismonth onlyfans"),
        ("how am I doing", "/stats"),
        ("how did I do last month", "/stats lastmonth"),
        ("my earnings in the last month", "/stats 30d"),
        ("how much did I make this year?", "/stats thisyear"),
        ("what did I earn last year on fansly", "/stats lastyear fansly"),
        ("my revenue over the last 12 months", "/stats 365d"),
        ("earnings in the past year", "/stats 365d"),
        ("how close am I to my monthly goal?", "/goal"),
        ("how am I doing on my goal", "/goal"),
        ("set my goal to 5000", "/goal"),  # shown, never changed from a sentence
        ("show my imports", "/imports"),
        ("undo my import history", "/imports"),  # listed; nothing is taken back from a sentence
        ("who spent the most?", "/fans"),
        ("who are my new fans?", "/fans joined:7d"),
        ("show fans who joined this month", "/fans joined:31d"),
        ("who subscribed today", "/fans joined:1d"),
        ("welcome my new subscribers", "/fans joined:7d"),  # listed; drafting is /personalize's
        ("what tags should I use for my gym selfie on tiktok", "/hashtags gym selfie on tiktok"),
        ("what should I charge for PPV?", "/price ppv"),
        ("pricing for my subscription on fansly", "/price subscription fansly"),
        ("who are my top fans", "/fans"),
        ("export my fans", "/fans export"),
        ("can I get my fan list as a spreadsheet", "/fans export"),
        ("show me my vault", "/vault"),
        ("show my saved ideas", "/saved"),
        ("what can you do?", "/help"),
        ("can I download all my data?", "/export"),
        ("export my data", "/export"),
        ("show my reminders", "/reminders"),
        ("who is on my team", "/team"),
        ("switch account", "/accounts"),
        # asking to change the team shows it (and how); it never invites or removes anyone
        ("remove leo from my team", "/team"),
        ("invite my chatter to my team", "/team"),
    ],
)
def test_sentences_name_their_command(sentence: str, line: str) -> None:
    assert read(sentence).command_line == line


@pytest.mark.parametrize(
    "sentence",
    [
        "I have an idea",
        "buy the pro plan",
        "send hey to all my vip fans",
        "ok",
        "lol",
        "500",
        "delete my account",
        "delete all my data",
        "cancel my subscription",
    ],
)
def test_nothing_is_inferred_from_sentences_that_ask_for_nothing_it_knows(sentence: str) -> None:
    # a misread sentence must never spend a quota or credits, buy or message anyone
    assert read(sentence).command_line is None


def test_greetings_and_thanks_get_their_own_answer() -> None:
    assert read("Hey!").answer == "greeting" and read("good morning").answer == "greeting"
    assert read("hello there!").answer == "greeting"
    assert read("thanks a lot").answer == "thanks"
    assert read("thanks! now 3 ideas for halloween").command_line == "/ideas 3 for halloween"
    assert read("revenue of last week").command_line == "/stats lastweek"  # "of" is a word
    assert read("revenue last week on OF").command_line == "/stats lastweek onlyfans"
    assert read("hey, ideas for halloween?").command_line == "/ideas halloween"


async def test_a_sentence_runs_the_command_and_names_it(chat: Chat) -> None:
    # "give me 3 ideas for halloween" answered "I work with commands. Try /ideas…"
    await chat.say(
        "/profile set niches=fitness platforms=instagram content_types=photo "
        "equipment=phone locations=gym"
    )
    reply = await chat.say("give me 3 ideas for halloween please")
    assert reply.plain_text.startswith("Here are 3 ideas about “halloween”")
    assert {i["topic"] for i in reply.result} == {"halloween"}
    assert reply.plain_text.endswith("(That was /ideas 3 for halloween)")
    assert "ideas (“3 ideas for halloween”)" in (await chat.say("hello")).plain_text
    lost = await chat.say("the weather is nice")
    assert lost.plain_text.startswith("I didn't catch that.") and lost.result is None
