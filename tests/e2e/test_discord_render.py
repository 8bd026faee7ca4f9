"""Discord rendering and command generation, without a network (adapters/discord/render.py,
adapters/discord/commands.py)."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

from adapters.discord.commands import (
    ATTACHMENT,
    BOOLEAN,
    INTEGER,
    NUMBER,
    STRING,
    autocomplete_choices,
    build_commands,
    commands_hash,
    focused_option,
    matches_remote,
    read_invocation,
)
from adapters.discord.render import (
    MAX_CONTENT,
    button_label,
    escape,
    layout_buttons,
    render_reply,
    split_markup,
    to_markdown,
)
from core.chat import Button, FileBlock, ImageBlock, Reply, TextBlock, escape_markup
from core.commands import build_registry
from core.commands.registry import Choice, Registry, choices

# ---------------------------------------------------------------- markdown

_ESCAPED = re.compile(r"\\[^0-9A-Za-z\s]")


def unescaped(markdown: str) -> str:
    """What is left once escapes are removed: must hold no markdown marker."""
    return _ESCAPED.sub("", markdown)


def test_core_markup_becomes_discord_markdown() -> None:
    assert to_markdown("**Bold** and _soft_ and `code`") == "**Bold** and _soft_ and `code`"
    assert to_markdown("`a`b`") == "`a`b\\`"
    assert to_markdown(r"price 5\*2") == "price 5\\*2"


def test_user_text_never_turns_into_formatting() -> None:
    hostile = "*bold* __under__ ~~gone~~ ||spoiler|| `code` <@123> <#9> [x](https://evil.test) \\"
    rendered = to_markdown(escape_markup(hostile))
    left = unescaped(rendered)
    for marker in ("*", "_", "~", "|", "`", "<", "[", "\\"):
        assert marker not in left, (marker, rendered)
    assert rendered.count("\\<") == 2  # mentions and channel links are inert


def test_line_start_markdown_is_escaped_only_at_line_start() -> None:
    text = "# Heading\n- item\n1. first\n> quote\n#hashtag stays\nmid - line # ok"
    lines = to_markdown(text).split("\n")
    assert lines == [
        "\\# Heading",
        "\\- item",
        "1\\. first",
        "\\> quote",
        "#hashtag stays",
        "mid - line # ok",
    ]
    assert escape("- x", line_start=False) == "- x"


def test_links_stay_clickable() -> None:
    rendered = to_markdown("see https://example.com/a_b*c?x=1_2 now_")
    assert "https://example.com/a_b*c?x=1_2" in rendered
    assert rendered.endswith("now\\_")


# ---------------------------------------------------------------- splitting


def balanced(chunk: str) -> bool:
    left = unescaped(chunk).replace("`", "")
    return left.count("**") % 2 == 0 and left.replace("**", "").count("_") % 2 == 0


def test_long_text_is_split_on_line_boundaries() -> None:
    lines = [f"**Line {n}** — some text that is long enough to matter {n}" for n in range(200)]
    chunks = split_markup(["\n".join(lines)])
    assert len(chunks) > 1
    assert all(len(c) <= MAX_CONTENT for c in chunks)
    assert "\n".join(chunks).split("\n") == lines  # nothing lost, nothing cut
    assert all(balanced(c) for c in chunks)


def test_one_huge_line_is_split_between_words_with_spans_closed() -> None:
    text = "intro **" + " ".join(f"bold{n}" for n in range(800)) + "** outro"
    chunks = split_markup([text])
    assert len(chunks) > 1
    assert all(len(c) <= MAX_CONTENT for c in chunks)
    assert all(balanced(c) for c in chunks)
    words = " ".join(chunks).replace("**", "").split()
    assert words == ["intro", *[f"bold{n}" for n in range(800)], "outro"]


def test_a_word_longer_than_a_message_is_cut() -> None:
    word = "a_" * 2500  # escaping makes it 7,500 characters
    chunks = split_markup([escape_markup(word)])
    assert len(chunks) == 4
    assert all(len(c) <= MAX_CONTENT for c in chunks)
    assert "".join(chunks).replace("\\", "") == word


def test_blocks_are_separated_by_a_blank_line() -> None:
    assert split_markup(["one", "two"]) == ["one\n\ntwo"]
    assert split_markup(["", "  ", "x"]) == ["x"]


# ---------------------------------------------------------------- buttons


def row(prefix: str, n: int) -> list[Button]:
    return [Button(f"{prefix}{i}", f"{prefix}:{i}") for i in range(n)]


def test_a_grid_of_choices_is_reflowed_to_fit_one_message() -> None:
    choices = [Button(f"Niche {i}", f"wz:t:n{i}") for i in range(15)]
    rows = [choices[i : i + 3] for i in range(0, 15, 3)]
    nav = [Button("Next", "wz:n"), Button("Cancel", "wz:x")]
    [page] = layout_buttons([*rows, nav])
    assert [len(r) for r in page] == [5, 5, 5, 2]
    assert page[-1] == nav


def test_record_rows_keep_their_shape_and_spill_into_more_messages() -> None:
    rows = [
        [Button(f"{n}. Caption", f"idea:cap:{n}"), Button("Save", f"idea:save:{n}")]
        for n in range(1, 11)
    ]
    pages = layout_buttons(rows)
    assert [len(p) for p in pages] == [5, 5]
    assert pages[1][0][0].action == "idea:cap:6"


def test_rows_longer_than_five_are_split_and_duplicates_dropped() -> None:
    wide = row("a", 7)
    pages = layout_buttons([wide, [Button("again", "a:0"), Button("b", "b:0")]])
    assert [[b.action for b in r] for r in pages[0]] == [
        ["a:0", "a:1", "a:2", "a:3", "a:4"],
        ["a:5", "a:6"],
        ["b:0"],
    ]


def test_reply_blocks_render_in_order_with_files_and_buttons() -> None:
    reply = Reply(
        blocks=[
            TextBlock("**Stats**"),
            ImageBlock(b"\x89PNG-1", caption="_chart_"),
            TextBlock("after"),
            FileBlock("drafts/fans.csv", b"a,b\n", "text/csv"),
            ImageBlock(b"\x89PNG-2"),
        ],
        buttons=[[Button("More", "cmd:stats 90d")]],
    )
    messages = render_reply(reply)
    assert [(m.content, [f.name for f in m.files]) for m in messages] == [
        ("**Stats**", []),
        ("_chart_", ["image.png"]),
        ("after", []),
        ("", ["drafts_fans.csv"]),
        ("", ["image-2.png"]),
    ]
    assert messages[-1].rows == [[Button("More", "cmd:stats 90d")]]
    assert [m.rows for m in messages[:-1]] == [[], [], [], []]


def test_a_file_over_the_attachment_limit_becomes_a_note() -> None:
    reply = Reply(blocks=[FileBlock("big.mp4", b"x" * 2048, "video/mp4"), TextBlock("after")])
    [message] = render_reply(reply, file_limit=1024)
    assert message.files == [] and "more than Discord lets me send" in message.content
    assert message.content.endswith("after")
    assert [f.name for m in render_reply(reply) for f in m.files] == ["big.mp4"]


def test_extra_buttons_join_the_last_row_and_empty_replies_still_answer() -> None:
    reply = Reply.text("Q?", buttons=[[Button("Back", "wz:b")]])
    [message] = render_reply(reply, extra_buttons=[Button("Type", "discord:answer")])
    assert [b.action for b in message.rows[0]] == ["wz:b", "discord:answer"]
    [empty] = render_reply(Reply())
    assert empty.content


def test_long_labels_are_shortened() -> None:
    reply = Reply.text("x", buttons=[[Button("L" * 120, "a:1")]])
    [message] = render_reply(reply)
    assert message.rows[0][0].label == "L" * 120  # shortened when the Discord button is made
    assert button_label("L" * 120) == "L" * 79 + "…"


# ---------------------------------------------------------------- commands


class EveryType(BaseModel):
    text: str = Field(min_length=2, max_length=9000, description="Some text")
    when: date | None = None
    flag: bool = False
    amount: Decimal | None = Field(None, gt=0, le=100)
    level: int = Field(3, gt=0, lt=10)
    size: Literal[1, 2, 3] = 2
    mood: Literal["calm", "wild"] | None = Field(None, description="x" * 300)
    handle: str | None = None


def registry_with_every_type() -> Registry:
    reg = Registry()

    @reg.command("every", "All the types", args=EveryType, complete={"handle": _none})
    async def every(ctx: object, args: EveryType) -> Reply:
        return Reply.text("ok")

    @reg.command("hidden", "Not in menus", menu=False)
    async def hidden(ctx: object, _: None) -> Reply:
        return Reply.text("ok")

    return reg


async def _none(ctx: object, prefix: str) -> list[str]:
    return []


def test_options_follow_the_pydantic_fields() -> None:
    payloads = build_commands(registry_with_every_type())
    assert [p["name"] for p in payloads] == ["every", "upload"]  # menu commands + upload
    options = {o["name"]: o for o in payloads[0]["options"]}
    assert payloads[0]["options"][0]["name"] == "text"  # required first
    assert options["text"] == {
        "type": STRING,
        "name": "text",
        "description": "Some text",
        "min_length": 2,
        "max_length": 6000,
        "required": True,
    }
    assert options["when"]["type"] == STRING and "YYYY-MM-DD" in options["when"]["description"]
    assert options["flag"]["type"] == BOOLEAN and "required" not in options["flag"]
    assert options["amount"]["type"] == NUMBER
    assert (options["amount"]["min_value"], options["amount"]["max_value"]) == (0.0, 100.0)
    assert options["level"]["type"] == INTEGER
    assert (options["level"]["min_value"], options["level"]["max_value"]) == (1, 9)
    assert options["size"]["type"] == INTEGER
    assert [c["value"] for c in options["size"]["choices"]] == [1, 2, 3]
    assert [c["value"] for c in options["mood"]["choices"]] == ["calm", "wild"]
    assert len(options["mood"]["description"]) == 100
    assert options["handle"]["autocomplete"] is True
    assert "autocomplete" not in options["mood"]


def test_every_core_command_is_a_valid_discord_command() -> None:
    registry = build_registry()
    payloads = build_commands(registry)
    assert len(payloads) <= 100
    for payload in payloads:
        assert re.fullmatch(r"[-_'\w]{1,32}", payload["name"]) and payload["name"].islower()
        assert 1 <= len(payload["description"]) <= 100
        options = payload.get("options", [])
        assert len(options) <= 25
        required = [bool(o.get("required")) for o in options]
        assert required == sorted(required, reverse=True)
        for option in options:
            assert 1 <= len(option["description"]) <= 100
            assert not ("choices" in option and option.get("autocomplete"))
    upload = next(p for p in payloads if p["name"] == "upload")
    assert upload["options"][0]["type"] == ATTACHMENT


def test_the_hash_changes_with_the_commands_and_remote_copies_compare() -> None:
    payloads = build_commands(build_registry())
    assert commands_hash(payloads) == commands_hash(build_commands(build_registry()))
    changed = [dict(p) for p in payloads]
    changed[0]["description"] = "something else"
    assert commands_hash(changed) != commands_hash(payloads)

    # What Discord returns carries more fields; the commands still match.
    remote = [
        {**p, "id": str(n), "version": "1", "application_id": "9", "nsfw": False}
        for n, p in enumerate(payloads)
    ]
    assert matches_remote(payloads, remote)
    assert not matches_remote(changed, remote)
    assert not matches_remote(payloads, remote[:-1])
    with_options = next(n for n, p in enumerate(payloads) if p.get("options"))
    dropped = [dict(r) for r in remote]
    del dropped[with_options]["options"]
    assert not matches_remote(payloads, dropped)
    retyped = [dict(r) for r in remote]
    retyped[with_options]["options"] = [
        {**o, "required": not o.get("required", False)} for o in remote[with_options]["options"]
    ]
    assert not matches_remote(payloads, retyped)


def test_interaction_options_are_read_back() -> None:
    attachment = {"id": "77", "filename": "a.png", "size": 3, "url": "http://x/a.png"}
    data = {
        "name": "upload",
        "options": [
            {"name": "file", "type": ATTACHMENT, "value": "77"},
            {"name": "caption", "type": STRING, "value": "#beach"},
        ],
        "resolved": {"attachments": {"77": attachment}},
    }
    invocation = read_invocation(data)
    assert invocation.name == "upload"
    assert invocation.options == {"caption": "#beach"}
    assert invocation.attachments == {"file": attachment}
    assert read_invocation({"name": "help"}).options == {}

    typing_ = {
        "name": "fans",
        "options": [{"name": "handle", "type": 3, "value": "mi", "focused": True}],
    }
    assert focused_option(typing_) == ("handle", "mi", 3)
    assert focused_option({"name": "fans"}) is None


def test_autocomplete_choices_fit_the_option_type() -> None:
    assert autocomplete_choices(choices(["mia", "milo"]), STRING) == [
        {"name": "mia", "value": "mia"},
        {"name": "milo", "value": "milo"},
    ]
    assert autocomplete_choices(choices(["3", "x", "-2"]), INTEGER) == [
        {"name": "3", "value": 3},
        {"name": "-2", "value": -2},
    ]
    assert len(autocomplete_choices(choices(str(n) for n in range(40)), STRING)) == 25
    assert autocomplete_choices(choices(["y" * 150]), STRING)[0]["value"] == "y" * 100
    labelled = [Choice("12", "#12 beach.jpg · 2.1 MB"), Choice("7", "z" * 150)]
    assert autocomplete_choices(labelled, INTEGER) == [
        {"name": "#12 beach.jpg · 2.1 MB", "value": 12},
        {"name": "z" * 100, "value": 7},
    ]
