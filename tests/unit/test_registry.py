import pytest

from core.commands import build_registry
from core.commands.registry import split_args
from core.errors import UsageError


def test_positional_arguments_in_any_order() -> None:
    ideas = build_registry().get("ideas")
    assert ideas is not None
    a = ideas.parse_text("creative 3 tiktok")
    b = ideas.parse_text("3 tiktok creative")
    assert (a.count, a.creativity, a.platform) == (3, "creative", "tiktok")
    assert a == b
    assert ideas.parse_text("").count == 5
    assert ideas.parse_text("count=2").count == 2


@pytest.mark.parametrize("raw", ["500", "0", "-3"])
def test_count_out_of_range_names_the_range(raw: str) -> None:
    ideas = build_registry().get("ideas")
    assert ideas is not None
    with pytest.raises(UsageError, match="count must be a number from 1 to 10"):
        ideas.parse_text(raw)


def test_unknown_token_is_a_usage_error() -> None:
    summary = build_registry().get("summary")  # the registry's own parser
    assert summary is not None
    with pytest.raises(UsageError, match="wild"):
        summary.parse_text("daily wild")


def test_split_args_quotes() -> None:
    assert split_args('"Hey {name}, hi" for @mia') == ["Hey {name}, hi", "for", "@mia"]
    assert split_args("\u201cHey you\u201d for mia") == ["Hey you", "for", "mia"]
    with pytest.raises(UsageError, match="unclosed quote"):
        split_args('"Hey {name} for @mia')


def test_suggestions_and_aliases() -> None:
    reg = build_registry()
    assert "ideas" in reg.suggest("idea")
    assert "caption" in reg.suggest("captoin")
    assert reg.get("personalise") is reg.get("personalize")
    assert reg.get("IDEAS") is reg.get("ideas")


def test_every_command_has_help_and_usage() -> None:
    for command in build_registry().all():
        assert command.help and command.usage.startswith("/" + command.name)


@pytest.mark.parametrize(
    ("command", "raw", "message"),
    [
        ("fans", "add @d tier=gold", "tier must be one of: new, regular, vip, whale."),
        ("fans", "add @" + "h" * 150, "handle must be at most 100 characters."),
        ("fans", "add @a name=" + "x" * 90, "name must be at most 80 characters."),
        ("sold", "0", "price must be a number above 0, at most 9,999,999,999."),
        ("fans", "add @a spent=1e12", "spent must be a number from 0 to 9,999,999,999."),
    ],
)
def test_argument_errors_are_worded_for_people(command: str, raw: str, message: str) -> None:
    found = build_registry().get(command)
    assert found is not None
    with pytest.raises(UsageError) as caught:
        found.parse_text(raw)
    assert caught.value.message == message


def test_a_trailing_platform_takes_its_for_with_it() -> None:
    # "/caption beach pics for instagram" was captioned "beach pics for"
    caption = build_registry().get("caption")
    assert caption is not None
    args = caption.parse_text("beach pics for instagram")
    assert (args.text, args.platform) == ("beach pics", "instagram")
    assert caption.parse_text("made for tiktok").text == "made"
    assert caption.parse_text("dinner for two").text == "dinner for two"
